//! The retention policy (PIPL Art. 19, 47): a school keeps its students' information for its
//! `retention_days` after their photo was delivered to 学信网, then each capture is erased. A
//! school without a period keeps them until erased by hand.
//!
//! The period runs from the capture's last change once delivered (a reprint ordered later
//! restarts it: the order is still being served).

use std::time::Duration;

use chrono::{DateTime, Utc};
use photo_ledger_domain::erasure::ErasureReason;
use photo_ledger_domain::metadata::Actor;
use photo_ledger_domain::status::CaptureStatus;
use photo_ledger_domain::values::CaptureId;
use photo_ledger_store::{on_db, Db, StoreError};

use super::{Erasure, ErasureError, Scope};

/// Who the erasure events of the retention policy name.
pub const RETENTION_ACTOR: &str = "retention";

/// Sets (or, with `None`, clears) a school's retention period; `false` when there is no such
/// school.
pub async fn set_period(db: &Db, school_id: &str, days: Option<u32>) -> Result<bool, StoreError> {
    let updated = on_db!(db, pool => sqlx::query(
        "UPDATE schools SET retention_days = $2 WHERE school_id = $1")
        .bind(school_id)
        .bind(days.map(i64::from))
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(updated == 1)
}

/// The captures whose school's retention period has passed at `now`.
pub async fn expired(db: &Db, now: DateTime<Utc>) -> Result<Vec<CaptureId>, StoreError> {
    let schools: Vec<(String, i64)> = on_db!(db, pool => sqlx::query_as(
        "SELECT school_id, CAST(retention_days AS BIGINT) FROM schools WHERE retention_days IS NOT NULL ORDER BY school_id")
        .fetch_all(pool)
        .await)?;
    let mut captures = Vec::new();
    for (school_id, days) in schools {
        let cutoff = now - chrono::Duration::days(days);
        let rows: Vec<(String,)> = on_db!(db, pool => sqlx::query_as(
            "SELECT capture_id FROM capture_status
              WHERE school_id = $1 AND status = $2 AND updated_at < $3
              ORDER BY capture_id")
            .bind(&school_id)
            .bind(CaptureStatus::Delivered.code())
            .bind(cutoff)
            .fetch_all(pool)
            .await)?;
        captures.extend(
            rows.into_iter()
                .filter_map(|(id,)| id.parse::<CaptureId>().ok()),
        );
    }
    Ok(captures)
}

/// Erases every capture past its school's period at `now`; returns them.
pub async fn erase_expired(
    erasure: &Erasure,
    now: DateTime<Utc>,
) -> Result<Vec<CaptureId>, ErasureError> {
    let db = erasure.captures.ledger().db();
    let expired = expired(db, now).await?;
    let actor = Actor::system(RETENTION_ACTOR);
    for capture_id in &expired {
        erasure
            .erase(
                *capture_id,
                Scope::Capture,
                ErasureReason::RetentionExpired,
                &actor,
            )
            .await?;
    }
    Ok(expired)
}

/// Runs the policy every `every`, for as long as the service runs.
pub async fn erase_continually(erasure: Erasure, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match erase_expired(&erasure, Utc::now()).await {
            Ok(erased) if !erased.is_empty() => {
                tracing::info!(
                    erased = erased.len(),
                    "captures past their retention period erased"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = ?e, code = e.code(), "the retention policy did not complete; it runs again")
            }
        }
    }
}
