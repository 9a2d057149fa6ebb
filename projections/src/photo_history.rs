//! Projection 4: every photo ever recorded for a person (我的照片查询), newest first, across all
//! of their captures. Keyed by a keyed hash of the ID number, never the number in clear.
//!
//! Two tables: `photo_history`, a row per capture of the person (what its photos share, found by
//! the person key), and `history_photos`, a row per photo (its capture, kind and time). A photo's
//! row never changes once written, and recording a photo leaves its capture's row alone, so a
//! capture's photos are written once each, however many it takes: a document holding them all
//! would be written again, whole, with every photo. The photo routes find a photo's capture in
//! `history_photos` to check access.

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

/// A capture's row in `photo_history`: what its photos share.
#[derive(Debug, Serialize, Deserialize)]
struct CaptureItem {
    school: String,
    education_type: String,
    /// The standard photo a reviewer approved, once approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    approved: Option<PhotoId>,
}

/// A photo's row in `history_photos`, beside its id and capture.
#[derive(Debug, Serialize, Deserialize)]
struct PhotoItem {
    kind: PhotoKind,
    recorded_at: DateTime<Utc>,
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
            name: "history_photos",
            columns: &["photo_id", "capture_id", "item"],
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
        let capture = CaptureItem {
            school: q.school.name.clone(),
            education_type: q.education_type.clone(),
            approved: doc.capture.approved_photo(),
        };
        let history = vec![
            SqlValue::Text(capture_id.to_string()),
            SqlValue::Text(self.keyer.key_for(q.student.id_number.as_str())),
            SqlValue::json(&capture),
        ];
        let photos = doc
            .photos
            .iter()
            .map(|p| {
                vec![
                    SqlValue::Text(p.photo_id.to_string()),
                    SqlValue::Text(capture_id.to_string()),
                    SqlValue::json(&PhotoItem {
                        kind: p.kind.clone(),
                        recorded_at: p.recorded_at,
                    }),
                ]
            })
            .collect();
        vec![vec![history], photos]
    }
}

/// A person's photos, newest first, at most `limit` of them.
pub async fn for_person(
    db: &Db,
    person_key: &str,
    limit: usize,
) -> Result<Vec<HistoryEntry>, ProjectionError> {
    type Found = (String, Json<CaptureItem>, String, Json<PhotoItem>);
    let rows: Vec<Found> = on_db!(db, pool => sqlx::query_as(
        "SELECT p.capture_id, h.item, p.photo_id, p.item FROM photo_history h \
         JOIN history_photos p ON p.capture_id = h.capture_id WHERE h.person_key = $1")
        .bind(person_key)
        .fetch_all(pool)
        .await)?;
    let mut entries = rows
        .into_iter()
        .map(|(capture_id, capture, photo_id, photo)| {
            let photo_id: PhotoId = photo_id
                .parse()
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            let (capture, photo) = (capture.0, photo.0);
            Ok(HistoryEntry {
                photo_id,
                capture_id,
                approved: capture.approved == Some(photo_id),
                school: capture.school,
                education_type: capture.education_type,
                kind: photo.kind,
                recorded_at: photo.recorded_at,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
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
        "SELECT capture_id FROM history_photos WHERE photo_id = $1")
        .bind(photo_id)
        .fetch_optional(pool)
        .await)?;
    Ok(row.map(|(id,)| id))
}

#[cfg(test)]
mod tests {
    use photo_ledger_domain::events::CaptureEvent;

    use super::*;

    /// The first capture of the `ledger-v1` fixture, taken through the whole flow: verified,
    /// photographed and standardised more than once, rejected, approved, printed.
    fn fixture_capture() -> Vec<CaptureEvent> {
        include_str!("../../fixtures/ledger-v1/events.jsonl")
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .filter(|row| row["aggregate_id"] == "1ed9e7a0-0000-4000-8000-000000000100")
            .map(|row| serde_json::from_str(row["payload"].as_str().unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn given_a_verified_capture_when_photos_are_recorded_then_each_adds_its_own_row_and_the_captures_row_is_left_alone(
    ) {
        let projection = PhotoHistoryProjection::new(PersonKeyer::new(*b"test key"));
        let mut doc = CaptureDoc::default();
        let mut before = projection.rows("c", &doc);
        let (mut photos_recorded, mut capture_row_writes) = (0, 0);
        for (n, event) in fixture_capture().into_iter().enumerate() {
            let photo = matches!(
                event,
                CaptureEvent::PhotoUploaded(_) | CaptureEvent::Standardised(_)
            );
            let (verified, approved) = (
                matches!(event, CaptureEvent::QualificationVerified(_)),
                matches!(event, CaptureEvent::Approved(_)),
            );
            doc.apply_nth(n, event);
            let after = projection.rows("c", &doc);
            if after[0] != before[0] {
                capture_row_writes += 1;
                assert!(
                    verified || approved,
                    "the capture's row changed at event {n}"
                );
            }
            if photo {
                photos_recorded += 1;
                assert_eq!(after[1].len(), before[1].len() + 1, "event {n}");
                assert_eq!(after[1][..before[1].len()], before[1][..], "event {n}");
            } else {
                assert_eq!(after[1], before[1], "event {n}");
            }
            before = after;
        }
        assert_eq!(
            capture_row_writes, 2,
            "written when verified and when approved"
        );
        assert!(photos_recorded >= 4, "{photos_recorded} photos");
        let SqlValue::Json(item) = &before[0][0][2] else {
            panic!("the capture's item is JSON");
        };
        let approved = doc
            .capture
            .approved_photo()
            .expect("the capture was approved");
        assert!(item.contains(&approved.to_string()), "{item}");
    }
}
