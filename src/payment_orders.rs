//! Which capture an order belongs to, so a payment notification that names only the order can
//! be recorded on its capture. The row is written before the order is placed.

use chrono::{DateTime, Utc};
use photo_ledger_domain::values::{CaptureId, OrderId};
use photo_ledger_projections::{on_db, Db};

pub async fn record(
    db: &Db,
    order_id: OrderId,
    capture_id: CaptureId,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "INSERT INTO payment_orders (order_id, capture_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (order_id) DO NOTHING")
        .bind(order_id.to_string())
        .bind(capture_id.to_string())
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))
}

pub async fn capture_of(db: &Db, order_id: OrderId) -> Result<Option<CaptureId>, sqlx::Error> {
    let row: Option<(String,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT capture_id FROM payment_orders WHERE order_id = $1")
        .bind(order_id.to_string())
        .fetch_optional(pool)
        .await)?;
    row.map(|(id,)| {
        id.parse()
            .map_err(|e: uuid::Error| sqlx::Error::Decode(e.into()))
    })
    .transpose()
}

/// The `out_trade_no` WeChat Pay knows an order by: its id without hyphens (32 characters, the
/// most WeChat accepts).
pub fn out_trade_no(order_id: OrderId) -> String {
    order_id.0.simple().to_string()
}
