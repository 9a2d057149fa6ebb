//! Projection 6: every standardised photo's perceptual hash, for the same-photo (同版) search.
//!
//! One row per standard photo, never changed once written, with what a reviewer is told about
//! a match: whose capture it is (a keyed hash of the ID number, never the number), the school
//! and the education type. The search itself is in memory (a multi-index over the hashes, in
//! the service): it catches up from this table by `added`, a number the database gives each row
//! in the order rows are written, and reads the rows of the hashes it finds.

use photo_ledger_domain::values::{CaptureId, PhotoId};

use crate::capture_doc::{CaptureDoc, PhotoKind};
use crate::error::ProjectionError;
use crate::person_key::PersonKeyer;
use crate::projection::{Projection, Row, SqlValue, Table};
use photo_ledger_store::{on_db, Db};

pub struct SamePhotoIndexProjection {
    keyer: PersonKeyer,
}

impl SamePhotoIndexProjection {
    pub fn new(keyer: PersonKeyer) -> Self {
        Self { keyer }
    }
}

impl Projection for SamePhotoIndexProjection {
    const NAME: &'static str = "same_photos";
    const TABLES: &'static [Table] = &[Table {
        name: "same_photo_index",
        columns: &[
            "photo_id",
            "capture_id",
            "person_key",
            "hash",
            "school",
            "education_type",
        ],
        // A standard photo and its hash never change.
        permanent_rows: true,
        unique_key: true,
    }];

    fn rows(&self, capture_id: &str, doc: &CaptureDoc) -> Vec<Vec<Row>> {
        let Some(q) = &doc.capture.qualification else {
            return vec![vec![]];
        };
        let person_key = self.keyer.key_for(q.student.id_number.as_str());
        let rows = doc
            .photos
            .iter()
            .filter(|p| matches!(p.kind, PhotoKind::Standard { .. }))
            .filter_map(|p| {
                let hash = p.perceptual_hash.as_ref()?;
                Some(vec![
                    SqlValue::Text(p.photo_id.to_string()),
                    SqlValue::Text(capture_id.to_string()),
                    SqlValue::Text(person_key.clone()),
                    SqlValue::Text(hash.clone()),
                    SqlValue::Text(q.school.name.clone()),
                    SqlValue::Text(q.education_type.clone()),
                ])
            })
            .collect();
        vec![rows]
    }
}

/// One indexed standard photo.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct IndexedPhoto {
    pub photo_id: String,
    pub capture_id: String,
    pub person_key: String,
    /// The perceptual hash, 16 hexadecimal digits.
    pub hash: String,
    pub school: String,
    pub education_type: String,
}

impl IndexedPhoto {
    pub fn capture(&self) -> Option<CaptureId> {
        self.capture_id.parse().ok()
    }

    pub fn photo(&self) -> Option<PhotoId> {
        self.photo_id.parse().ok()
    }
}

const COLUMNS: &str = "photo_id, capture_id, person_key, hash, school, education_type";

/// The indexed photo with this id, if it is a standard photo with a hash.
pub async fn photo(db: &Db, photo_id: &str) -> Result<Option<IndexedPhoto>, ProjectionError> {
    let sql = format!("SELECT {COLUMNS} FROM same_photo_index WHERE photo_id = $1");
    Ok(on_db!(db, pool => sqlx::query_as(&sql)
        .bind(photo_id)
        .fetch_optional(pool)
        .await)?)
}

/// The indexed photos with this hash (16 hexadecimal digits).
pub async fn with_hash(db: &Db, hash: &str) -> Result<Vec<IndexedPhoto>, ProjectionError> {
    let sql = format!("SELECT {COLUMNS} FROM same_photo_index WHERE hash = $1");
    Ok(on_db!(db, pool => sqlx::query_as(&sql)
        .bind(hash)
        .fetch_all(pool)
        .await)?)
}

/// Up to `limit` hashes written after row number `after`, in the order they were written, as
/// (row number, hash). A row the projector rewrote comes again under a new number.
pub async fn hashes_added_after(
    db: &Db,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, String)>, ProjectionError> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT added, hash FROM same_photo_index WHERE added > $1 ORDER BY added LIMIT $2")
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await)?)
}
