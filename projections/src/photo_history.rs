//! Projection 4: every photo ever recorded for a person (我的照片查询), newest first, across all
//! of their captures. Keyed by a keyed hash of the ID number, never the number in clear.

use chrono::{DateTime, Utc};
use photo_ledger_domain::values::PhotoId;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::capture_doc::{CaptureDoc, PhotoKind};
use crate::error::ProjectionError;
use crate::person_key::PersonKeyer;
use crate::projection::{Projection, Row, SqlValue, Table};
use crate::{on_db, Db};

pub struct PhotoHistoryProjection {
    keyer: PersonKeyer,
}

impl PhotoHistoryProjection {
    pub fn new(keyer: PersonKeyer) -> Self {
        Self { keyer }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub photo_id: PhotoId,
    pub capture_id: String,
    pub school: String,
    pub education_type: String,
    pub kind: PhotoKind,
    pub approved: bool,
    pub recorded_at: DateTime<Utc>,
}

impl Projection for PhotoHistoryProjection {
    const NAME: &'static str = "photo_history";
    const TABLE: Table = Table {
        name: "photo_history",
        columns: &[
            "photo_id",
            "capture_id",
            "person_key",
            "recorded_at",
            "item",
        ],
    };
    fn rows(&self, capture_id: &str, doc: &CaptureDoc) -> Vec<Row> {
        let Some(q) = &doc.capture.qualification else {
            return vec![];
        };
        let person_key = self.keyer.key_for(&q.student.id_number);
        let approved = doc.capture.approved_photo();
        doc.photos
            .iter()
            .map(|p| {
                let entry = HistoryEntry {
                    photo_id: p.photo_id,
                    capture_id: capture_id.to_string(),
                    school: q.school.name.clone(),
                    education_type: q.education_type.clone(),
                    kind: p.kind.clone(),
                    approved: approved == Some(p.photo_id),
                    recorded_at: p.recorded_at,
                };
                vec![
                    SqlValue::Text(p.photo_id.to_string()),
                    SqlValue::Text(capture_id.to_string()),
                    SqlValue::Text(person_key.clone()),
                    SqlValue::Time(p.recorded_at),
                    SqlValue::json(&entry),
                ]
            })
            .collect()
    }
}

/// A person's photos, newest first.
pub async fn for_person(
    db: &Db,
    person_key: &str,
    limit: i64,
) -> Result<Vec<HistoryEntry>, ProjectionError> {
    let rows: Vec<(Json<HistoryEntry>,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT item FROM photo_history WHERE person_key = $1 ORDER BY recorded_at DESC, photo_id DESC LIMIT $2")
        .bind(person_key)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(|(i,)| i.0).collect())
}

/// The capture a photo belongs to.
pub async fn capture_of(db: &Db, photo_id: &str) -> Result<Option<String>, ProjectionError> {
    let row: Option<(String,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT capture_id FROM photo_history WHERE photo_id = $1 LIMIT 1")
        .bind(photo_id)
        .fetch_optional(pool)
        .await)?;
    Ok(row.map(|(id,)| id))
}
