//! Projection 5: every refund, for staff (which refunds failed and need a look) and for the
//! service's refund worker (which refunds WeChat Pay has not confirmed yet). Derived from the
//! log like every view, so a refund recorded just before a crash is still found afterwards.

use chrono::{DateTime, Utc};
use photo_ledger_domain::refunds::{RefundReason, RefundState};
use photo_ledger_domain::values::{Fen, OrderId, RefundId};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::capture_doc::CaptureDoc;
use crate::error::ProjectionError;
use crate::projection::{Projection, Row, SqlValue, Table};
use photo_ledger_store::{on_db, Db};

pub struct RefundsProjection;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefundItem {
    pub refund_id: RefundId,
    pub capture_id: String,
    pub order_id: OrderId,
    /// The payment given back.
    pub transaction_id: String,
    pub amount_fen: Fen,
    pub reason: RefundReason,
    pub reason_label: String,
    /// Staff's reason for a refund by hand.
    pub note: String,
    pub state: RefundState,
    /// What the provider said when the refund failed.
    pub failure: Option<String>,
    pub provider_refund_id: Option<String>,
    pub school: String,
    pub name_masked: String,
    pub requested_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

impl Projection for RefundsProjection {
    const NAME: &'static str = "refunds";
    const TABLES: &'static [Table] = &[Table {
        name: "refunds",
        columns: &["refund_id", "capture_id", "state", "requested_at", "item"],
        permanent_rows: false,
        unique_key: true,
    }];
    fn rows(&self, capture_id: &str, doc: &CaptureDoc) -> Vec<Vec<Row>> {
        vec![refund_rows(capture_id, doc)]
    }
}

fn refund_rows(capture_id: &str, doc: &CaptureDoc) -> Vec<Row> {
    let Some(q) = &doc.capture.qualification else {
        return vec![];
    };
    doc.capture
        .refunds
        .values()
        .map(|r| {
            let item = RefundItem {
                refund_id: r.refund_id,
                capture_id: capture_id.to_string(),
                order_id: r.order_id,
                transaction_id: r.transaction_id.clone(),
                amount_fen: r.amount_fen,
                reason: r.reason,
                reason_label: r.reason.label().to_string(),
                note: r.note.clone(),
                state: r.state,
                failure: r.failure.clone(),
                provider_refund_id: r.provider_refund_id.clone(),
                school: q.school.name.clone(),
                name_masked: q.student.masked_name(),
                requested_at: r.requested_at,
                settled_at: r.settled_at,
            };
            vec![
                SqlValue::Text(r.refund_id.to_string()),
                SqlValue::Text(capture_id.to_string()),
                SqlValue::Text(r.state.code().to_string()),
                SqlValue::Time(r.requested_at),
                SqlValue::json(&item),
            ]
        })
        .collect()
}

/// Refunds in one state, oldest request first.
pub async fn list(
    db: &Db,
    state: RefundState,
    limit: i64,
) -> Result<Vec<RefundItem>, ProjectionError> {
    let rows: Vec<(Json<RefundItem>,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT item FROM refunds WHERE state = $1 ORDER BY requested_at, refund_id LIMIT $2")
        .bind(state.code())
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(|(i,)| i.0).collect())
}

/// One refund, by its id.
pub async fn by_refund(db: &Db, refund_id: &str) -> Result<Option<RefundItem>, ProjectionError> {
    let row: Option<(Json<RefundItem>,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT item FROM refunds WHERE refund_id = $1").bind(refund_id).fetch_optional(pool).await)?;
    Ok(row.map(|(i,)| i.0))
}
