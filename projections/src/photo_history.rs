//! Projection 4: every photo ever recorded for a person (我的照片查询), newest first, across all
//! of their captures. Keyed by a keyed hash of the ID number, never the number in clear.
//!
//! A capture's photos are kept together, one row per capture: a photo costs no row or index
//! entry of its own, which is what makes rebuilding this view from the log cheap. The capture a
//! photo belongs to, which the photo routes need to check access, is kept beside it in
//! `photo_captures`, a row per photo that never changes once written.

use chrono::{DateTime, Utc};
use photo_ledger_domain::values::PhotoId;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::capture_doc::{CaptureDoc, PhotoKind};
use crate::error::ProjectionError;
use crate::person_key::PersonKeyer;
use crate::projection::{Projection, Row, SqlValue, Table};
use photo_ledger_store::{on_db, Db};

pub struct PhotoHistoryProjection {
    keyer: PersonKeyer,
}

impl PhotoHistoryProjection {
    pub fn new(keyer: PersonKeyer) -> Self {
        Self { keyer }
    }
}

/// One photo in a person's history.
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

/// A capture's photos as `photo_history` keeps them: what they share is said once.
#[derive(Debug, Serialize, Deserialize)]
struct CapturePhotos {
    school: String,
    education_type: String,
    photos: Vec<CapturePhoto>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CapturePhoto {
    photo_id: PhotoId,
    kind: PhotoKind,
    approved: bool,
    recorded_at: DateTime<Utc>,
}

impl CapturePhotos {
    fn into_entries(self, capture_id: String) -> impl Iterator<Item = HistoryEntry> {
        let (school, education_type) = (self.school, self.education_type);
        self.photos.into_iter().map(move |p| HistoryEntry {
            photo_id: p.photo_id,
            capture_id: capture_id.to_string(),
            school: school.clone(),
            education_type: education_type.clone(),
            kind: p.kind,
            approved: p.approved,
            recorded_at: p.recorded_at,
        })
    }
}

impl Projection for PhotoHistoryProjection {
    const NAME: &'static str = "photo_history";
    const TABLES: &'static [Table] = &[
        Table {
            name: "photo_history",
            columns: &["capture_id", "person_key", "item"],
            permanent_rows: false,
            unique_key: true,
        },
        Table {
            name: "photo_captures",
            columns: &["photo_id", "capture_id"],
            // A photo never leaves the capture that recorded it.
            permanent_rows: true,
            // Unique by construction (fresh ids), without an index that says so.
            unique_key: false,
        },
    ];
    fn rows(&self, capture_id: &str, doc: &CaptureDoc) -> Vec<Vec<Row>> {
        // Every capture of the person has a row, photos or not: erasure finds a person's
        // captures here. An erased capture has none.
        let Some(q) = doc.capture.identified() else {
            return vec![vec![], vec![]];
        };
        let approved = doc.capture.approved_photo();
        let photos = CapturePhotos {
            school: q.school.name.clone(),
            education_type: q.education_type.clone(),
            photos: doc
                .photos
                .iter()
                .map(|p| CapturePhoto {
                    photo_id: p.photo_id,
                    kind: p.kind.clone(),
                    approved: approved == Some(p.photo_id),
                    recorded_at: p.recorded_at,
                })
                .collect(),
        };
        let history = vec![
            SqlValue::Text(capture_id.to_string()),
            SqlValue::Text(self.keyer.key_for(q.student.id_number.as_str())),
            SqlValue::json(&photos),
        ];
        let captures = doc
            .photos
            .iter()
            .map(|p| {
                vec![
                    SqlValue::Text(p.photo_id.to_string()),
                    SqlValue::Text(capture_id.to_string()),
                ]
            })
            .collect();
        vec![vec![history], captures]
    }
}

/// A person's photos, newest first, at most `limit` of them.
pub async fn for_person(
    db: &Db,
    person_key: &str,
    limit: usize,
) -> Result<Vec<HistoryEntry>, ProjectionError> {
    let rows: Vec<(String, Json<CapturePhotos>)> = on_db!(db, pool => sqlx::query_as(
        "SELECT capture_id, item FROM photo_history WHERE person_key = $1")
        .bind(person_key)
        .fetch_all(pool)
        .await)?;
    let mut entries: Vec<HistoryEntry> = rows
        .into_iter()
        .flat_map(|(capture_id, photos)| photos.0.into_entries(capture_id))
        .collect();
    newest_first(&mut entries, limit);
    Ok(entries)
}

/// Sorts history entries newest first (the photo id breaks ties) and keeps the first `limit`.
pub fn newest_first(entries: &mut Vec<HistoryEntry>, limit: usize) {
    entries.sort_by_key(|e| std::cmp::Reverse((e.recorded_at, e.photo_id)));
    entries.truncate(limit);
}

/// Every capture of a person (erased ones no longer are).
pub async fn captures_of_person(db: &Db, person_key: &str) -> Result<Vec<String>, ProjectionError> {
    let rows: Vec<(String,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT capture_id FROM photo_history WHERE person_key = $1 ORDER BY capture_id")
        .bind(person_key)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The capture a photo belongs to.
pub async fn capture_of(db: &Db, photo_id: &str) -> Result<Option<String>, ProjectionError> {
    let row: Option<(String,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT capture_id FROM photo_captures WHERE photo_id = $1")
        .bind(photo_id)
        .fetch_optional(pool)
        .await)?;
    Ok(row.map(|(id,)| id))
}
