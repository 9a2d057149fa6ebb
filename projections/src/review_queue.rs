//! Projection 2: the reviewers' queue. Captures in review, oldest submission first, filterable
//! by school, batch and education type, keyset-paginated on (submitted_at, capture_id).

use chrono::{DateTime, Utc};
use photo_ledger_domain::aggregate::Review;
use photo_ledger_domain::checks::CheckResult;
use photo_ledger_domain::events::SamePhoto;
use photo_ledger_domain::values::PhotoId;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::capture_doc::CaptureDoc;
use crate::error::ProjectionError;
use crate::projection::{Projection, Row, SqlValue, Table};
use photo_ledger_store::{on_db, Db};

pub struct ReviewQueueProjection;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    pub capture_id: String,
    pub school_id: String,
    pub school: String,
    pub batch_id: Option<String>,
    pub education_type: String,
    pub name_masked: String,
    pub id_masked: String,
    pub standard_photo_id: PhotoId,
    pub checks: Vec<CheckResult>,
    /// Other captures' photos found to be this same photo (同版) when it was submitted; absent
    /// when none were, as in every item before the search existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub same_photos: Vec<SamePhoto>,
    pub submitted_at: DateTime<Utc>,
    pub claim_holder: Option<String>,
    pub claim_expires_at: Option<DateTime<Utc>>,
}

impl Projection for ReviewQueueProjection {
    const NAME: &'static str = "review_queue";
    const TABLES: &'static [Table] = &[Table {
        name: "review_queue",
        columns: &[
            "capture_id",
            "school_id",
            "batch_id",
            "education_type",
            "submitted_at",
            "item",
        ],
        permanent_rows: false,
        unique_key: true,
    }];
    fn rows(&self, capture_id: &str, doc: &CaptureDoc) -> Vec<Vec<Row>> {
        vec![queue_row(capture_id, doc).into_iter().collect()]
    }
}

/// The capture's place in the queue while it is in review.
fn queue_row(capture_id: &str, doc: &CaptureDoc) -> Option<Row> {
    let (
        Some(q),
        Review::InReview {
            standard_photo_id,
            submitted_at,
            claim,
        },
    ) = (doc.capture.identified(), &doc.capture.review)
    else {
        // Not in review, or erased while waiting: nothing left to review.
        return None;
    };
    let item = QueueItem {
        capture_id: capture_id.to_string(),
        school_id: q.school.school_id.clone(),
        school: q.school.name.clone(),
        batch_id: q.batch.as_ref().map(|b| b.batch_id.clone()),
        education_type: q.education_type.clone(),
        name_masked: q.student.masked_name(),
        id_masked: q.student.masked_id(),
        standard_photo_id: *standard_photo_id,
        checks: doc.checks_of(*standard_photo_id),
        same_photos: doc.same_photos.clone(),
        submitted_at: *submitted_at,
        claim_holder: claim.as_ref().map(|c| c.reviewer_id.clone()),
        claim_expires_at: claim.as_ref().map(|c| c.expires_at),
    };
    Some(vec![
        SqlValue::Text(capture_id.to_string()),
        SqlValue::Text(item.school_id.clone()),
        SqlValue::OptText(item.batch_id.clone()),
        SqlValue::Text(item.education_type.clone()),
        SqlValue::Time(*submitted_at),
        SqlValue::json(&item),
    ])
}

#[derive(Clone, Debug, Default)]
pub struct QueueFilter {
    pub school_id: Option<String>,
    pub batch_id: Option<String>,
    pub education_type: Option<String>,
}

/// Where the next page starts: the last item of the previous page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCursor {
    pub submitted_at: DateTime<Utc>,
    pub capture_id: String,
}

const PAGE_SQL: &str = "
SELECT item FROM review_queue
 WHERE ($1 IS NULL OR school_id = $1)
   AND ($2 IS NULL OR batch_id = $2)
   AND ($3 IS NULL OR education_type = $3)
   AND ($4 IS NULL OR submitted_at > $4 OR (submitted_at = $4 AND capture_id > $5))
 ORDER BY submitted_at, capture_id
 LIMIT $6";

/// One page of the queue, oldest submission first.
pub async fn page(
    db: &Db,
    filter: &QueueFilter,
    after: Option<&QueueCursor>,
    limit: i64,
) -> Result<Vec<QueueItem>, ProjectionError> {
    let at = after.map(|c| c.submitted_at);
    let id = after.map(|c| c.capture_id.clone()).unwrap_or_default();
    let rows: Vec<(Json<QueueItem>,)> = on_db!(db, pool => sqlx::query_as(PAGE_SQL)
        .bind(&filter.school_id)
        .bind(&filter.batch_id)
        .bind(&filter.education_type)
        .bind(at)
        .bind(&id)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(|(i,)| i.0).collect())
}

/// The capture's queue item, while it is in review.
pub async fn item(db: &Db, capture_id: &str) -> Result<Option<QueueItem>, ProjectionError> {
    let row: Option<(Json<QueueItem>,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT item FROM review_queue WHERE capture_id = $1")
        .bind(capture_id)
        .fetch_optional(pool)
        .await)?;
    Ok(row.map(|(item,)| item.0))
}
