//! Projection 7: how far a batch's (or a school's) students have got, for the school staff who
//! chase them before the deadline. One row per capture: its school, batch, education type and
//! student number, its status, when its fee was paid (when it was verified, for a free batch),
//! when its first standard photo was made, when it was last submitted and decided, and how long
//! that decision took. A batch's counts are one statement over these rows; the students behind
//! any count are listed from them, and those on the roster who have not started from the roster
//! (`roster_students`) without a row here.

use chrono::{DateTime, Utc};
use photo_ledger_domain::orders::OrderPurpose;
use photo_ledger_domain::status::CaptureStatus;
use serde::{Deserialize, Serialize};

use crate::capture_doc::{CaptureDoc, PhotoKind, SubmissionOutcome};
use crate::error::ProjectionError;
use crate::projection::{Projection, Row, SqlValue, Table};
use photo_ledger_store::{on_db, Db};

pub struct CollectionProgressProjection;

impl Projection for CollectionProgressProjection {
    const NAME: &'static str = "collection_progress";
    const TABLES: &'static [Table] = &[Table {
        name: "collection_progress",
        columns: &[
            "capture_id",
            "school_id",
            "batch_id",
            "education_type",
            "student_number",
            "status",
            "paid_at",
            "photographed_at",
            "submitted_at",
            "decided_at",
            "review_wait_secs",
        ],
        permanent_rows: false,
        unique_key: true,
    }];

    fn rows(&self, capture_id: &str, doc: &CaptureDoc) -> Vec<Vec<Row>> {
        vec![Progress::of(doc)
            .map(|p| p.row(capture_id))
            .into_iter()
            .collect()]
    }
}

/// One capture's progress, as its row holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    pub school_id: String,
    pub batch_id: Option<String>,
    pub education_type: String,
    pub student_number: Option<String>,
    pub status: CaptureStatus,
    pub paid_at: Option<DateTime<Utc>>,
    pub photographed_at: Option<DateTime<Utc>>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    /// From the last decided submission to its decision.
    pub review_wait_secs: Option<i64>,
}

impl Progress {
    /// The capture's progress; `None` before it is verified.
    pub fn of(doc: &CaptureDoc) -> Option<Progress> {
        let capture = &doc.capture;
        let q = capture.qualification.as_ref()?;
        let paid_at = if q.policy.requires_fee() {
            capture
                .orders
                .values()
                .filter(|o| o.purpose == OrderPurpose::Collection && o.is_paid())
                .filter_map(|o| o.paid_at)
                .min()
        } else {
            Some(q.verified_at)
        };
        let photographed_at = doc
            .photos
            .iter()
            .filter(|p| matches!(p.kind, PhotoKind::Standard { .. }))
            .map(|p| p.recorded_at)
            .min();
        let review_wait_secs = doc.submissions.iter().rev().find_map(|s| {
            let decided_at = match s.outcome.as_ref()? {
                SubmissionOutcome::Approved { at, .. } | SubmissionOutcome::Rejected { at, .. } => {
                    *at
                }
                SubmissionOutcome::Withdrawn { .. } => return None,
            };
            Some((decided_at - s.submitted_at).num_seconds().max(0))
        });
        Some(Progress {
            school_id: q.school.school_id.clone(),
            batch_id: q.batch.as_ref().map(|b| b.batch_id.clone()),
            education_type: q.education_type.clone(),
            student_number: q.student.student_number.clone(),
            status: capture.status()?,
            paid_at,
            photographed_at,
            submitted_at: doc.submitted_at,
            decided_at: doc.decided_at,
            review_wait_secs,
        })
    }

    fn row(self, capture_id: &str) -> Row {
        vec![
            SqlValue::Text(capture_id.to_string()),
            SqlValue::Text(self.school_id),
            SqlValue::OptText(self.batch_id),
            SqlValue::Text(self.education_type),
            SqlValue::OptText(self.student_number),
            SqlValue::Text(self.status.code().to_string()),
            SqlValue::OptTime(self.paid_at),
            SqlValue::OptTime(self.photographed_at),
            SqlValue::OptTime(self.submitted_at),
            SqlValue::OptTime(self.decided_at),
            SqlValue::OptInt(self.review_wait_secs),
        ]
    }
}

/// Whose progress: a batch (with the roster rows it covers), or a whole school.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    Batch {
        batch_id: &'a str,
        school_id: &'a str,
        education_type: &'a str,
    },
    School {
        school_id: &'a str,
    },
}

impl Scope<'_> {
    /// `$1` (the school), `$2` (the education type, empty for all) and `$3` (the batch, empty
    /// for all), as [`CAPTURES`] and [`ROSTER`] read them.
    fn binds(&self) -> [&str; 3] {
        match *self {
            Scope::Batch {
                batch_id,
                school_id,
                education_type,
            } => [school_id, education_type, batch_id],
            Scope::School { school_id } => [school_id, "", ""],
        }
    }
}

/// The captures in scope, as a condition on `collection_progress p`.
const CAPTURES: &str = "p.school_id = $1 AND ($2 = '' OR p.education_type = $2) \
     AND ($3 = '' OR p.batch_id = $3)";

/// The roster rows in scope, as a condition on `roster_students r`: a batch's are its school's
/// of its education type that are not tied to another batch.
const ROSTER: &str = "r.school_id = $1 AND ($2 = '' OR r.education_type = $2) \
     AND ($3 = '' OR r.batch_id IS NULL OR r.batch_id = $3)";

/// How far the students in scope have got. Every count but `roster` and `not_started` counts
/// captures (one per student and education record).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Students on the roster.
    pub roster: i64,
    /// On the roster and no capture yet.
    pub not_started: i64,
    /// Captures (each a student who proved who they are).
    pub verified: i64,
    /// Fee paid (or nothing to pay).
    pub paid: i64,
    /// A standard photo made.
    pub photographed: i64,
    /// Waiting for a reviewer.
    pub in_review: i64,
    /// Rejected and not submitted again.
    pub rejected: i64,
    /// Approved, delivered or not.
    pub approved: i64,
    /// Delivered to 学信网.
    pub delivered: i64,
    /// The median time from the last decided submission to its decision, in seconds, over the
    /// decided captures.
    pub median_review_wait_secs: Option<i64>,
}

/// What a count is of, to list the students behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    NotStarted,
    Verified,
    NotPaid,
    Paid,
    NotPhotographed,
    Photographed,
    InReview,
    Rejected,
    Approved,
    Delivered,
}

impl Stage {
    pub const ALL: [Stage; 10] = [
        Stage::NotStarted,
        Stage::Verified,
        Stage::NotPaid,
        Stage::Paid,
        Stage::NotPhotographed,
        Stage::Photographed,
        Stage::InReview,
        Stage::Rejected,
        Stage::Approved,
        Stage::Delivered,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Stage::NotStarted => "not_started",
            Stage::Verified => "verified",
            Stage::NotPaid => "not_paid",
            Stage::Paid => "paid",
            Stage::NotPhotographed => "not_photographed",
            Stage::Photographed => "photographed",
            Stage::InReview => "in_review",
            Stage::Rejected => "rejected",
            Stage::Approved => "approved",
            Stage::Delivered => "delivered",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Stage::NotStarted => "未开始",
            Stage::Verified => "已验证",
            Stage::NotPaid => "未缴费",
            Stage::Paid => "已缴费",
            Stage::NotPhotographed => "未拍照",
            Stage::Photographed => "已拍照",
            Stage::InReview => "审核中",
            Stage::Rejected => "未通过且未重交",
            Stage::Approved => "审核通过",
            Stage::Delivered => "已上传学信网",
        }
    }

    /// The condition on `collection_progress p` that picks the stage's captures.
    fn condition(self) -> &'static str {
        match self {
            Stage::NotStarted => unreachable!("not started is the roster's"),
            Stage::Verified => "TRUE",
            Stage::NotPaid => "p.paid_at IS NULL",
            Stage::Paid => "p.paid_at IS NOT NULL",
            Stage::NotPhotographed => "p.photographed_at IS NULL",
            Stage::Photographed => "p.photographed_at IS NOT NULL",
            Stage::InReview => "p.status = 'in_review'",
            Stage::Rejected => "p.status = 'rejected'",
            Stage::Approved => "p.status IN ('approved', 'delivered')",
            Stage::Delivered => "p.status = 'delivered'",
        }
    }
}

/// The roster row `r` has no capture: its (education type, student number) is not among the
/// school's captures'. A list the database builds once and hashes (PostgreSQL's hashed subplan),
/// rather than a probe per roster row, whatever its statistics say about the table.
const NO_CAPTURE: &str = "(r.education_type, r.student_number) NOT IN \
     (SELECT c.education_type, c.student_number FROM collection_progress c \
      WHERE c.school_id = $1 AND c.student_number IS NOT NULL)";

/// The counts of everyone in scope, in three statements.
pub async fn counts(db: &Db, scope: Scope<'_>) -> Result<Counts, ProjectionError> {
    let [school, education_type, batch] = scope.binds();
    let counts_sql = format!(
        "SELECT COUNT(*),
                COUNT(p.paid_at),
                COUNT(p.photographed_at),
                COALESCE(SUM(CASE WHEN p.status = 'in_review' THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN p.status = 'rejected' THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN p.status IN ('approved', 'delivered') THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN p.status = 'delivered' THEN 1 ELSE 0 END), 0),
                COUNT(p.review_wait_secs)
         FROM collection_progress p WHERE {CAPTURES}"
    );
    let roster_sql = format!(
        "SELECT (SELECT COUNT(*) FROM roster_students r WHERE {ROSTER}),
                (SELECT COUNT(*) FROM roster_students r WHERE {ROSTER} AND {NO_CAPTURE})"
    );
    let median_sql = format!(
        "SELECT p.review_wait_secs FROM collection_progress p
         WHERE {CAPTURES} AND p.review_wait_secs IS NOT NULL
         ORDER BY p.review_wait_secs LIMIT 1 OFFSET $4"
    );
    type CountRow = (i64, i64, i64, i64, i64, i64, i64, i64);
    let (verified, paid, photographed, in_review, rejected, approved, delivered, decided): CountRow =
        on_db!(db, pool => sqlx::query_as(&counts_sql)
            .bind(school).bind(education_type).bind(batch).fetch_one(pool).await)?;
    let (roster, not_started): (i64, i64) = on_db!(db, pool => sqlx::query_as(&roster_sql)
        .bind(school).bind(education_type).bind(batch).fetch_one(pool).await)?;
    let median_review_wait_secs = if decided == 0 {
        None
    } else {
        on_db!(db, pool => sqlx::query_scalar(&median_sql)
            .bind(school)
            .bind(education_type)
            .bind(batch)
            .bind((decided - 1) / 2)
            .fetch_optional(pool)
            .await)?
    };
    Ok(Counts {
        roster,
        not_started,
        verified,
        paid,
        photographed,
        in_review,
        rejected,
        approved,
        delivered,
        median_review_wait_secs,
    })
}

/// A student behind a count, with what the roster says of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudentProgress {
    pub student_number: Option<String>,
    /// As on the roster (school staff chase their own students by name).
    pub name: Option<String>,
    pub education_type: String,
    /// `None` for a student who has not started.
    pub capture_id: Option<String>,
    /// The capture's status code (`not_started` before there is one).
    pub status: String,
    /// What the status page calls it (未开始 before there is a capture).
    pub status_label: String,
    pub paid_at: Option<DateTime<Utc>>,
    pub photographed_at: Option<DateTime<Utc>>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
}

type StudentRow = (
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    String,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// The students behind one count, by student number; at most `limit`.
pub async fn students(
    db: &Db,
    scope: Scope<'_>,
    stage: Stage,
    limit: i64,
) -> Result<Vec<StudentProgress>, ProjectionError> {
    let [school, education_type, batch] = scope.binds();
    let sql = if stage == Stage::NotStarted {
        // Typed NULLs, so both drivers decode the empty columns as the row type says.
        format!(
            "SELECT r.student_number, r.name, r.education_type, CAST(NULL AS text), 'not_started',
                    CAST(NULL AS timestamptz), CAST(NULL AS timestamptz),
                    CAST(NULL AS timestamptz), CAST(NULL AS timestamptz)
             FROM roster_students r WHERE {ROSTER} AND {NO_CAPTURE}
             ORDER BY r.student_number, r.education_type LIMIT $4"
        )
    } else {
        format!(
            "SELECT p.student_number, r.name, p.education_type, p.capture_id, p.status,
                    p.paid_at, p.photographed_at, p.submitted_at, p.decided_at
             FROM collection_progress p
             LEFT JOIN roster_students r ON r.school_id = p.school_id
                   AND r.education_type = p.education_type AND r.student_number = p.student_number
             WHERE {CAPTURES} AND {}
             ORDER BY p.student_number, p.capture_id LIMIT $4",
            stage.condition()
        )
    };
    let rows: Vec<StudentRow> = on_db!(db, pool => sqlx::query_as(&sql)
        .bind(school).bind(education_type).bind(batch).bind(limit)
        .fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(
            |(student_number, name, education_type, capture_id, status, paid, photo, sub, dec)| {
                StudentProgress {
                    status_label: status_label(&status).to_string(),
                    student_number,
                    name,
                    education_type,
                    capture_id,
                    status,
                    paid_at: paid,
                    photographed_at: photo,
                    submitted_at: sub,
                    decided_at: dec,
                }
            },
        )
        .collect())
}

/// The label of a status code as the rows hold it.
fn status_label(code: &str) -> &'static str {
    serde_json::from_value::<CaptureStatus>(serde_json::Value::String(code.to_string()))
        .map_or(Stage::NotStarted.label(), CaptureStatus::label)
}
