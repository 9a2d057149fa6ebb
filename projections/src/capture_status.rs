//! Projection 1: the mini-program's status page, one row per capture, queried by capture and by
//! the owning student.

use chrono::{DateTime, Utc};
use photo_ledger_domain::checks::CheckResult;
use photo_ledger_domain::identity::IdType;
use photo_ledger_domain::orders::{OrderPurpose, OrderState, PrintRequest};
use photo_ledger_domain::refunds::{RefundReason, RefundState};
use photo_ledger_domain::status::{CaptureStatus, NextAction};
use photo_ledger_domain::values::{Background, Fen, OrderId, PhotoId, RefundId};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::capture_doc::{CaptureDoc, PhotoKind};
use crate::error::ProjectionError;
use crate::projection::{Projection, Row, SqlValue, Table};
use photo_ledger_store::{on_db, Db};

pub struct CaptureStatusProjection;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudentSummary {
    pub name_masked: String,
    pub id_masked: String,
    pub id_type: IdType,
    pub student_number: Option<String>,
    pub major: Option<String>,
    pub level: Option<String>,
    pub graduation_year: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RejectReason {
    pub code: String,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderView {
    pub order_id: OrderId,
    pub purpose: OrderPurpose,
    pub amount_fen: Fen,
    pub state: OrderState,
    pub prints: Option<PrintRequest>,
    pub paid_at: Option<DateTime<Utc>>,
    pub carrier: Option<String>,
    pub tracking_no: Option<String>,
}

/// A payment being given back, as the student sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefundView {
    pub refund_id: RefundId,
    pub order_id: OrderId,
    pub amount_fen: Fen,
    /// `fee_already_paid`, `order_already_paid`, `order_closed`, `amount_mismatch` or
    /// `by_staff`.
    pub reason: RefundReason,
    pub reason_label: String,
    /// `requested`, `refunded` or `failed`.
    pub state: RefundState,
    pub requested_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaptureStatusView {
    pub capture_id: String,
    pub status: String,
    pub status_label: String,
    pub school_id: String,
    pub school: String,
    pub education_type: String,
    pub batch_id: Option<String>,
    pub feature_code: Option<String>,
    pub student: StudentSummary,
    pub price_fen: Fen,
    pub fee_paid: bool,
    pub current_photo_id: Option<PhotoId>,
    pub standard_photo_id: Option<PhotoId>,
    pub background: Option<Background>,
    pub checks: Vec<CheckResult>,
    pub blocking: bool,
    pub reject_reasons: Vec<RejectReason>,
    pub reject_note: Option<String>,
    pub next_actions: Vec<NextAction>,
    pub orders: Vec<OrderView>,
    /// Payments given back, oldest first; absent when there are none (as in views written
    /// before refunds existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunds: Vec<RefundView>,
    pub chsi_stage: Option<String>,
    pub created_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl CaptureStatusView {
    pub fn from_doc(capture_id: &str, doc: &CaptureDoc) -> Option<Self> {
        let c = &doc.capture;
        let q = c.qualification.as_ref()?;
        let status = c.status()?;
        let standard = c.latest_standard.and_then(|id| doc.photo(id));
        let (background, checks) = match standard.map(|p| &p.kind) {
            Some(PhotoKind::Standard {
                background, checks, ..
            }) => (Some(*background), checks.clone()),
            _ => (None, vec![]),
        };
        let (reject_reasons, reject_note) = match &c.review {
            photo_ledger_domain::aggregate::Review::Rejected { reasons, note } => (
                reasons
                    .iter()
                    .map(|reason| RejectReason {
                        code: reason.code().to_string(),
                        label: reason.label().to_string(),
                    })
                    .collect(),
                Some(note.clone()),
            ),
            _ => (vec![], None),
        };
        Some(Self {
            capture_id: capture_id.to_string(),
            status: status.code().to_string(),
            status_label: status.label().to_string(),
            school_id: q.school.school_id.clone(),
            school: q.school.name.clone(),
            education_type: q.education_type.clone(),
            batch_id: q.batch.as_ref().map(|b| b.batch_id.clone()),
            feature_code: q.batch.as_ref().map(|b| b.feature_code.to_string()),
            student: StudentSummary {
                name_masked: q.student.masked_name(),
                id_masked: q.student.masked_id(),
                id_type: q.student.id_type,
                student_number: q.student.student_number.clone(),
                major: q.student.major.clone(),
                level: q.student.level.clone(),
                graduation_year: q.student.graduation_year,
            },
            price_fen: q.policy.price_fen,
            fee_paid: c.fee_paid(),
            current_photo_id: doc.latest_upload,
            standard_photo_id: c.latest_standard,
            background,
            blocking: checks.iter().any(CheckResult::blocks_submission),
            checks,
            reject_reasons,
            reject_note,
            next_actions: c.next_actions(),
            orders: c
                .orders
                .values()
                .map(|o| {
                    let shipment = doc.shipments.get(&o.order_id);
                    OrderView {
                        order_id: o.order_id,
                        purpose: o.purpose,
                        amount_fen: o.amount_fen,
                        state: o.state,
                        prints: o.prints.clone(),
                        paid_at: o.paid_at,
                        carrier: shipment.map(|s| s.carrier.clone()),
                        tracking_no: shipment.map(|s| s.tracking_no.clone()),
                    }
                })
                .collect(),
            refunds: refund_views(c),
            chsi_stage: doc.chsi_stage().map(|s| s.label().to_string()),
            created_at: doc.created_at,
            submitted_at: doc.submitted_at,
            decided_at: doc.decided_at,
            updated_at: doc.updated_at,
        })
    }
}

fn refund_views(capture: &photo_ledger_domain::Capture) -> Vec<RefundView> {
    let mut refunds: Vec<RefundView> = capture
        .refunds
        .values()
        .map(|r| RefundView {
            refund_id: r.refund_id,
            order_id: r.order_id,
            amount_fen: r.amount_fen,
            reason: r.reason,
            reason_label: r.reason.label().to_string(),
            state: r.state,
            requested_at: r.requested_at,
            settled_at: r.settled_at,
        })
        .collect();
    refunds.sort_by_key(|r| (r.requested_at, r.refund_id));
    refunds
}

impl Projection for CaptureStatusProjection {
    const NAME: &'static str = "capture_status";
    const TABLES: &'static [Table] = &[Table {
        name: "capture_status",
        columns: &[
            "capture_id",
            "owner",
            "school_id",
            "status",
            "updated_at",
            "view",
        ],
        permanent_rows: false,
        unique_key: true,
    }];
    fn rows(&self, capture_id: &str, doc: &CaptureDoc) -> Vec<Vec<Row>> {
        vec![status_row(capture_id, doc).into_iter().collect()]
    }
}

fn status_row(capture_id: &str, doc: &CaptureDoc) -> Option<Row> {
    let view = CaptureStatusView::from_doc(capture_id, doc)?;
    let q = doc.capture.qualification.as_ref()?;
    Some(vec![
        SqlValue::Text(capture_id.to_string()),
        SqlValue::Text(q.owner.clone()),
        SqlValue::Text(view.school_id.clone()),
        SqlValue::Text(view.status.clone()),
        SqlValue::Time(view.updated_at),
        SqlValue::json(&view),
    ])
}

/// One capture's status as the JSON text it is kept as, with its owner: what `GET
/// /captures/{id}` answers, without decoding and encoding the view again.
pub async fn json_by_capture(
    db: &Db,
    capture_id: &str,
) -> Result<Option<(String, String)>, ProjectionError> {
    Ok(on_db!(db, pool =>
        sqlx::query_as("SELECT owner, CAST(view AS text) FROM capture_status WHERE capture_id = $1").bind(capture_id).fetch_optional(pool).await)?)
}

/// Several captures' statuses as [`json_by_capture`] reads one, in one statement: `(capture id,
/// owner, view)` for each capture that has a status.
pub async fn json_by_captures(
    db: &Db,
    capture_ids: &[&str],
) -> Result<Vec<(String, String, String)>, ProjectionError> {
    const COLUMNS: &str = "SELECT capture_id, owner, CAST(view AS text) FROM capture_status";
    Ok(match db {
        Db::Postgres(pool) => {
            sqlx::query_as(&format!("{COLUMNS} WHERE capture_id = ANY($1)"))
                .bind(capture_ids)
                .fetch_all(pool)
                .await?
        }
        // SQLite has no arrays: the ids go as one JSON array.
        Db::Sqlite(pool) => {
            sqlx::query_as(&format!(
                "{COLUMNS} WHERE capture_id IN (SELECT value FROM json_each($1))"
            ))
            .bind(serde_json::to_string(capture_ids).expect("strings serialise"))
            .fetch_all(pool)
            .await?
        }
    })
}

/// One capture's status, with its owner.
pub async fn by_capture(
    db: &Db,
    capture_id: &str,
) -> Result<Option<(String, CaptureStatusView)>, ProjectionError> {
    json_by_capture(db, capture_id)
        .await?
        .map(|(owner, json)| {
            let view = serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(e.into()))?;
            Ok((owner, view))
        })
        .transpose()
}

/// Every capture of a school in one status (`approved`, say), oldest change first.
pub async fn by_school_in_status(
    db: &Db,
    school_id: &str,
    status: CaptureStatus,
) -> Result<Vec<CaptureStatusView>, ProjectionError> {
    let rows: Vec<(Json<CaptureStatusView>,)> = on_db!(db, pool =>
        sqlx::query_as("SELECT view FROM capture_status WHERE school_id = $1 AND status = $2 ORDER BY updated_at, capture_id").bind(school_id).bind(status.code()).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(|(v,)| v.0).collect())
}

/// Every capture a student owns, most recently changed first.
pub async fn by_owner(db: &Db, owner: &str) -> Result<Vec<CaptureStatusView>, ProjectionError> {
    let rows: Vec<(Json<CaptureStatusView>,)> = on_db!(db, pool =>
        sqlx::query_as("SELECT view FROM capture_status WHERE owner = $1 ORDER BY updated_at DESC, capture_id").bind(owner).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(|(v,)| v.0).collect())
}
