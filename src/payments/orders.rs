//! Which capture an order belongs to, so a payment notification that names only the order can
//! be recorded on its capture. The row is written before the order is placed. It also remembers
//! when WeChat Pay was last asked about the order and when the order was seen paid, for the
//! order queries of [`crate::payments::order_query`].

use chrono::{DateTime, Utc};
use photo_ledger_domain::values::{CaptureId, OrderId};
use photo_ledger_store::{on_db, Db};

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

/// Forgets an order that was never placed (the capture refused it, or answered with the one
/// already unpaid): no notification will name it, and the order query must not ask about it.
pub async fn forget(db: &Db, order_id: OrderId) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query("DELETE FROM payment_orders WHERE order_id = $1")
        .bind(order_id.to_string())
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

/// Claims up to `limit` orders to ask WeChat Pay about: not seen paid, placed between `oldest`
/// and `due`, and not asked about since `due`. Claiming marks them asked at `now`, so other
/// instances running the same query pass them over (the second claim of a row finds it asked).
pub async fn claim_unpaid(
    db: &Db,
    now: DateTime<Utc>,
    due: DateTime<Utc>,
    oldest: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(OrderId, CaptureId)>, sqlx::Error> {
    let rows: Vec<(String, String)> = on_db!(db, pool => sqlx::query_as(
        "UPDATE payment_orders SET queried_at = $1
         WHERE order_id IN (
             SELECT order_id FROM payment_orders
             WHERE settled_at IS NULL AND created_at <= $2 AND created_at > $3
               AND (queried_at IS NULL OR queried_at <= $2)
             ORDER BY created_at LIMIT $4)
           AND settled_at IS NULL AND (queried_at IS NULL OR queried_at <= $2)
         RETURNING order_id, capture_id")
        .bind(now)
        .bind(due)
        .bind(oldest)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    rows.into_iter()
        .map(|(order_id, capture_id)| {
            let decode = |e: uuid::Error| sqlx::Error::Decode(e.into());
            Ok((
                order_id.parse().map_err(decode)?,
                capture_id.parse().map_err(decode)?,
            ))
        })
        .collect()
}

/// The order is paid (or otherwise past paying): WeChat Pay is not asked about it again.
pub async fn settle(db: &Db, order_id: OrderId, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "UPDATE payment_orders SET settled_at = $2 WHERE order_id = $1")
        .bind(order_id.to_string())
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))
}

/// The `out_trade_no` WeChat Pay knows an order by: its id without hyphens (32 characters, the
/// most WeChat accepts).
pub fn out_trade_no(order_id: OrderId) -> String {
    order_id.as_uuid().simple().to_string()
}
