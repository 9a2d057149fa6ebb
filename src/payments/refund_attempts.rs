//! The refund worker's bookkeeping for each refund it is making: how often it has asked WeChat
//! Pay, how often WeChat Pay refused, whether WeChat Pay has accepted the refund (then it is
//! asked about, not asked again), and when to ask next. The refund itself lives in the log; a
//! lost row costs one more question, never a second refund (the `out_refund_no` is derived from
//! the payment).

use chrono::{DateTime, Utc};
use photo_ledger_domain::refunds::RefundState;
use photo_ledger_domain::values::RefundId;
use photo_ledger_projections::refunds::RefundItem;
use photo_ledger_store::{on_db, Db};
use sqlx::types::Json;

/// Up to `limit` refunds requested and not settled whose next question is due at `now` (or
/// that were never asked about), oldest request first: the `refunds` view joined with this
/// table, so refunds waiting out a backoff never hold back the ones that are due.
pub async fn due(db: &Db, now: DateTime<Utc>, limit: i64) -> Result<Vec<RefundItem>, sqlx::Error> {
    let rows: Vec<(Json<RefundItem>,)> = on_db!(db, pool => sqlx::query_as(
        "SELECT r.item FROM refunds r LEFT JOIN refund_attempts a ON a.refund_id = r.refund_id
         WHERE r.state = $1 AND (a.next_at IS NULL OR a.next_at <= $2)
         ORDER BY r.requested_at, r.refund_id LIMIT $3")
        .bind(RefundState::Requested.code())
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(|(item,)| item.0).collect())
}

/// A refund claimed for one question to WeChat Pay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Questions asked about it so far, this one included.
    pub attempts: u32,
    /// Refusals so far.
    pub refused: u32,
    /// WeChat Pay accepted the refund: ask about it rather than ask for it.
    pub accepted: bool,
}

/// Claims the refund for one question at `now` if none is due later, and sets the next one
/// `backoff(attempts)` later: another instance's claim of the same refund before then finds
/// nothing to do.
pub async fn claim(
    db: &Db,
    refund_id: RefundId,
    now: DateTime<Utc>,
    backoff: impl Fn(u32) -> chrono::Duration,
) -> Result<Option<Claim>, sqlx::Error> {
    let id = refund_id.to_string();
    let current: Option<(i64, i64, i64, DateTime<Utc>)> = on_db!(db, pool => sqlx::query_as(
        "SELECT attempts, refused, accepted, next_at FROM refund_attempts WHERE refund_id = $1")
        .bind(&id)
        .fetch_optional(pool)
        .await)?;
    let (attempts, refused, accepted) = match current {
        Some((_, _, _, next_at)) if next_at > now => return Ok(None),
        Some((attempts, refused, accepted, _)) => (attempts as u32, refused as u32, accepted != 0),
        None => (0, 0, false),
    };
    let attempts = attempts + 1;
    let next_at = now + backoff(attempts);
    // Only one of several claims made at once moves `next_at` on from what was read.
    let claimed = on_db!(db, pool => sqlx::query(
        "INSERT INTO refund_attempts (refund_id, attempts, refused, accepted, next_at)
         VALUES ($1, 1, 0, 0, $2)
         ON CONFLICT (refund_id) DO UPDATE SET attempts = refund_attempts.attempts + 1, next_at = $2
         WHERE refund_attempts.next_at <= $3")
        .bind(&id)
        .bind(next_at)
        .bind(now)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
    Ok((claimed == 1).then_some(Claim {
        attempts,
        refused,
        accepted,
    }))
}

/// WeChat Pay accepted the refund (or, `false`, no longer knows it and must be asked again).
pub async fn set_accepted(db: &Db, refund_id: RefundId, accepted: bool) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "UPDATE refund_attempts SET accepted = $2, last_error = NULL WHERE refund_id = $1")
        .bind(refund_id.to_string())
        .bind(i64::from(accepted))
        .execute(pool)
        .await
        .map(|_| ()))
}

/// A question that went unanswered or was refused; answers the refusals so far.
pub async fn failed(
    db: &Db,
    refund_id: RefundId,
    refused: bool,
    error: &str,
) -> Result<u32, sqlx::Error> {
    let (count,): (i64,) = on_db!(db, pool => sqlx::query_as(
        "UPDATE refund_attempts SET refused = refused + $2, last_error = $3 WHERE refund_id = $1
         RETURNING refused")
        .bind(refund_id.to_string())
        .bind(i64::from(refused))
        .bind(error)
        .fetch_one(pool)
        .await)?;
    Ok(count as u32)
}
