//! Projection 3: paid print orders (prints bought with the collection fee, on their own, or as
//! reprints) for print staff and couriers, moving to_print → to_ship → shipped.

use chrono::{DateTime, Utc};
use photo_ledger_domain::orders::{OrderPurpose, OrderState};
use photo_ledger_domain::values::{Fen, OrderId, PhotoId, PrintLayout};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::capture_doc::CaptureDoc;
use crate::error::ProjectionError;
use crate::projection::{Projection, Row, SqlValue, Table};
use photo_ledger_store::{on_db, Db};

pub struct CourierOrdersProjection;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CourierStatus {
    ToPrint,
    ToShip,
    Shipped,
}

impl CourierStatus {
    pub fn code(self) -> &'static str {
        match self {
            CourierStatus::ToPrint => "to_print",
            CourierStatus::ToShip => "to_ship",
            CourierStatus::Shipped => "shipped",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CourierOrder {
    pub order_id: OrderId,
    pub capture_id: String,
    pub purpose: OrderPurpose,
    pub status: CourierStatus,
    /// The approved photo to print; `None` until a reviewer approves the capture.
    pub approved_photo_id: Option<PhotoId>,
    pub school: String,
    pub name_masked: String,
    pub layout: PrintLayout,
    pub sheets: u32,
    pub recipient: String,
    pub phone: String,
    pub address: String,
    pub amount_fen: Fen,
    pub paid_at: DateTime<Utc>,
    pub printed_at: Option<DateTime<Utc>>,
    pub carrier: Option<String>,
    pub tracking_no: Option<String>,
    pub shipped_at: Option<DateTime<Utc>>,
}

impl Projection for CourierOrdersProjection {
    const NAME: &'static str = "courier_orders";
    const TABLES: &'static [Table] = &[Table {
        name: "courier_orders",
        columns: &[
            "order_id",
            "capture_id",
            "status",
            "paid_at",
            "item",
            "batch_id",
            "layout",
            "tracking_no",
            "student_name",
        ],
        permanent_rows: false,
        unique_key: true,
    }];
    fn rows(&self, capture_id: &str, doc: &CaptureDoc) -> Vec<Vec<Row>> {
        vec![order_rows(capture_id, doc)]
    }
}

/// One row per paid print order.
fn order_rows(capture_id: &str, doc: &CaptureDoc) -> Vec<Row> {
    // An erased capture has no one to print for or send to.
    let Some(q) = doc.capture.identified() else {
        return vec![];
    };
    let approved_photo_id = doc.capture.approved_photo();
    doc.capture
        .orders
        .values()
        .filter_map(|o| {
            let prints = o.prints.as_ref()?;
            let paid_at = o.paid_at?;
            let status = match o.state {
                // Nothing to print for an order unpaid, closed or given back.
                OrderState::AwaitingPayment | OrderState::Closed | OrderState::Refunded => {
                    return None
                }
                OrderState::Paid => CourierStatus::ToPrint,
                OrderState::Printed => CourierStatus::ToShip,
                OrderState::Shipped => CourierStatus::Shipped,
            };
            let shipment = doc.shipments.get(&o.order_id);
            let item = CourierOrder {
                order_id: o.order_id,
                capture_id: capture_id.to_string(),
                purpose: o.purpose,
                status,
                approved_photo_id,
                school: q.school.name.clone(),
                name_masked: q.student.masked_name(),
                layout: prints.layout,
                sheets: prints.sheets,
                recipient: prints.recipient.clone(),
                phone: prints.phone.clone(),
                address: prints.address.clone(),
                amount_fen: o.amount_fen,
                paid_at,
                printed_at: doc.printed_at.get(&o.order_id).copied(),
                carrier: shipment.map(|s| s.carrier.clone()),
                tracking_no: shipment.map(|s| s.tracking_no.clone()),
                shipped_at: shipment.map(|s| s.shipped_at),
            };
            Some(vec![
                SqlValue::Text(o.order_id.to_string()),
                SqlValue::Text(capture_id.to_string()),
                SqlValue::Text(status.code().to_string()),
                SqlValue::Time(paid_at),
                SqlValue::json(&item),
                SqlValue::OptText(q.batch.as_ref().map(|b| b.batch_id.clone())),
                SqlValue::Text(prints.layout.code().to_string()),
                SqlValue::OptText(item.tracking_no.clone()),
                SqlValue::Text(q.student.name.clone()),
            ])
        })
        .collect()
}

/// Orders in one state, oldest payment first.
pub async fn list(
    db: &Db,
    status: CourierStatus,
    limit: i64,
) -> Result<Vec<CourierOrder>, ProjectionError> {
    let rows: Vec<(Json<CourierOrder>,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT item FROM courier_orders WHERE status = $1 ORDER BY paid_at, order_id LIMIT $2")
        .bind(status.code())
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(|(i,)| i.0).collect())
}

pub async fn by_order(db: &Db, order_id: &str) -> Result<Option<CourierOrder>, ProjectionError> {
    let row: Option<(Json<CourierOrder>,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT item FROM courier_orders WHERE order_id = $1").bind(order_id).fetch_optional(pool).await)?;
    Ok(row.map(|(i,)| i.0))
}

/// Which paid, unprinted orders print staff want to see.
#[derive(Clone, Debug, Default)]
pub struct ToPrintFilter {
    pub batch_id: Option<String>,
    pub layout: Option<PrintLayout>,
    /// Paid at or after.
    pub paid_since: Option<DateTime<Utc>>,
}

/// Orders to print matching `filter`, oldest payment first.
pub async fn to_print(
    db: &Db,
    filter: &ToPrintFilter,
    limit: i64,
) -> Result<Vec<CourierOrder>, ProjectionError> {
    let rows: Vec<(Json<CourierOrder>,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT item FROM courier_orders
          WHERE status = 'to_print'
            AND ($1 IS NULL OR batch_id = $1)
            AND ($2 IS NULL OR layout = $2)
            AND ($3 IS NULL OR paid_at >= $3)
          ORDER BY paid_at, order_id LIMIT $4")
        .bind(filter.batch_id.as_deref())
        .bind(filter.layout.map(PrintLayout::code))
        .bind(filter.paid_since)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(|(i,)| i.0).collect())
}

/// The batches that have orders to print.
pub async fn batches_to_print(db: &Db) -> Result<Vec<String>, ProjectionError> {
    let rows: Vec<(String,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT DISTINCT batch_id FROM courier_orders
          WHERE status = 'to_print' AND batch_id IS NOT NULL ORDER BY batch_id")
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(|(b,)| b).collect())
}

/// Shipped orders whose id is `order_id` or whose tracking number or student's full name is
/// `term`, newest payment first.
pub async fn shipped_matching(
    db: &Db,
    order_id: &str,
    term: &str,
    limit: i64,
) -> Result<Vec<CourierOrder>, ProjectionError> {
    let rows: Vec<(Json<CourierOrder>,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT item FROM courier_orders
          WHERE status = 'shipped' AND (order_id = $1 OR tracking_no = $2 OR student_name = $2)
          ORDER BY paid_at DESC, order_id LIMIT $3")
        .bind(order_id)
        .bind(term)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(|(i,)| i.0).collect())
}
