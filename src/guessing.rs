//! Limits on guessing a secret: a student's last four (10,000 possibilities), a staff password.
//!
//! Each thing guessed at or guessing — a student record, a student's account, a staff account, a
//! client address — is a key, and a key may take at most `max_wrong` wrong guesses within a
//! window; the one that reaches it locks the key for a fixed time. Attempts refused because of a
//! lock are never counted and never extend it, so the real owner is not locked out for ever by
//! someone who keeps trying.
//!
//! The limit holds exactly under concurrency. A guess is *reserved* under each of its keys
//! before it is evaluated, in one statement that checks the key's lock and counts its wrong and
//! reserved guesses (SQLite runs a writing statement under its one write lock; PostgreSQL first
//! takes a transaction lock on the key). A burst of 64 wrong guesses therefore has only as many
//! evaluated as the limit allows; the rest wait until those are settled and then find the key
//! locked. A right guess releases its reservation, so concurrent right guesses only wait for one
//! another, never refuse one another. A reservation left by a process that died mid-evaluation
//! stops counting after [`RESERVATION_LIFETIME`].

use chrono::{DateTime, Duration, Utc};
use photo_ledger_store::{on_db, Db};
use serde::Serialize;
use uuid::Uuid;

/// How many wrong guesses a key may take, and what happens then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Wrong guesses within `window` that lock the key.
    pub max_wrong: u32,
    pub window: Duration,
    /// How long a lock lasts from the guess that set it.
    pub lock_for: Duration,
}

/// How long an unsettled reservation counts: far longer than any evaluation takes.
pub const RESERVATION_LIFETIME: Duration = Duration::seconds(60);

/// How long a guess waits, at most, before looking again when the key's room is taken by
/// guesses being evaluated: it is woken sooner when a guess of this process is settled.
const WAIT_FOR_PENDING: std::time::Duration = std::time::Duration::from_millis(50);

/// Wakes the guesses waiting for room whenever a guess of this process is settled.
static SETTLED: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[derive(Debug, thiserror::Error)]
pub enum GuessError {
    #[error("too many wrong guesses; locked until {until}")]
    Locked { until: DateTime<Utc> },
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
}

/// One guess in flight: its reservations under each key it has named so far. Settle it with
/// [`Guess::wrong`] or [`Guess::release`]; dropped unsettled (the request was abandoned), its
/// reservations are released in the background.
pub struct Guess {
    db: Db,
    at: DateTime<Utc>,
    reserved: Vec<Reserved>,
}

struct Reserved {
    guess_id: String,
    key: String,
    limit: Limit,
}

const RESERVE: &str = "INSERT INTO guesses (guess_id, lock_key, at, wrong)
     SELECT $1, $2, $3, false
     WHERE NOT EXISTS (SELECT 1 FROM guess_locks WHERE lock_key = $2 AND locked_until > $3)
       AND (SELECT count(*) FROM guesses
            WHERE lock_key = $2 AND ((wrong AND at > $4) OR (NOT wrong AND at > $5))) < $6";

impl Guess {
    /// A guess made at `at`, not yet reserved under any key.
    pub fn new(db: &Db, at: DateTime<Utc>) -> Self {
        Self {
            db: db.clone(),
            at,
            reserved: Vec::new(),
        }
    }

    /// Reserves the guess under `key`, waiting while guesses being evaluated fill the key's
    /// room; refuses when the key is locked or its wrong guesses have reached the limit.
    pub async fn reserve(&mut self, key: &str, limit: Limit) -> Result<(), GuessError> {
        let guess_id = Uuid::new_v4().to_string();
        loop {
            let settled = SETTLED.notified();
            if self.try_reserve(&guess_id, key, limit).await? {
                self.reserved.push(Reserved {
                    guess_id,
                    key: key.to_string(),
                    limit,
                });
                return Ok(());
            }
            if let Some(until) = locked_until(&self.db, key, limit, self.at).await? {
                return Err(GuessError::Locked { until });
            }
            let _ = tokio::time::timeout(WAIT_FOR_PENDING, settled).await;
        }
    }

    async fn try_reserve(
        &self,
        guess_id: &str,
        key: &str,
        limit: Limit,
    ) -> Result<bool, sqlx::Error> {
        let (since, stale) = (self.at - limit.window, self.at - RESERVATION_LIFETIME);
        let max = i64::from(limit.max_wrong);
        // The same statement and values for either driver.
        macro_rules! reserve {
            () => {
                sqlx::query(RESERVE)
                    .bind(guess_id)
                    .bind(key)
                    .bind(self.at)
                    .bind(since)
                    .bind(stale)
                    .bind(max)
            };
        }
        let inserted = match &self.db {
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('guesses:' || $1, 0))")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
                let inserted = reserve!().execute(&mut *tx).await?.rows_affected();
                tx.commit().await?;
                inserted
            }
            Db::Sqlite(pool) => reserve!().execute(pool).await?.rows_affected(),
        };
        Ok(inserted == 1)
    }

    /// The guess was wrong: it counts under every key it was reserved under, and locks each key
    /// whose wrong guesses have reached its limit.
    pub async fn wrong(mut self) -> Result<(), sqlx::Error> {
        for reserved in std::mem::take(&mut self.reserved) {
            on_db!(&self.db, pool => sqlx::query("UPDATE guesses SET wrong = true WHERE guess_id = $1")
                .bind(&reserved.guess_id)
                .execute(pool)
                .await
                .map(|_| ()))?;
            let since = self.at - reserved.limit.window;
            let wrong: i64 = on_db!(&self.db, pool => sqlx::query_scalar(
                "SELECT count(*) FROM guesses WHERE lock_key = $1 AND wrong AND at > $2 AND at <= $3")
                .bind(&reserved.key)
                .bind(since)
                .bind(self.at)
                .fetch_one(pool)
                .await)?;
            if wrong >= i64::from(reserved.limit.max_wrong) {
                lock(&self.db, &reserved.key, self.at + reserved.limit.lock_for).await?;
            }
            // What has left the window no longer counts for anything.
            on_db!(&self.db, pool => sqlx::query(
                "DELETE FROM guesses WHERE lock_key = $1 AND at <= $2")
                .bind(&reserved.key)
                .bind(since)
                .execute(pool)
                .await
                .map(|_| ()))?;
        }
        SETTLED.notify_waiters();
        Ok(())
    }

    /// The guess was right, or was no guess at all: its reservations are released. This never
    /// fails the request it belongs to: a reservation that cannot be deleted now stops counting
    /// after [`RESERVATION_LIFETIME`].
    pub async fn release(mut self) {
        if let Err(e) = release(&self.db, std::mem::take(&mut self.reserved)).await {
            tracing::warn!(error = %e, "releasing a guess; it lapses by itself");
        }
    }
}

impl Drop for Guess {
    fn drop(&mut self) {
        if self.reserved.is_empty() {
            return;
        }
        let (db, reserved) = (self.db.clone(), std::mem::take(&mut self.reserved));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = release(&db, reserved).await {
                    tracing::warn!(error = %e, "releasing an abandoned guess; it lapses by itself");
                }
            });
        }
    }
}

async fn release(db: &Db, reserved: Vec<Reserved>) -> Result<(), sqlx::Error> {
    for reserved in reserved {
        on_db!(db, pool => sqlx::query("DELETE FROM guesses WHERE guess_id = $1")
            .bind(&reserved.guess_id)
            .execute(pool)
            .await
            .map(|_| ()))?;
    }
    SETTLED.notify_waiters();
    Ok(())
}

/// When `key` stops refusing guesses, if it refuses them now: its lock, or, when its wrong
/// guesses in the window have reached the limit without one, when the oldest leaves the window.
async fn locked_until(
    db: &Db,
    key: &str,
    limit: Limit,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let until: Option<DateTime<Utc>> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT locked_until FROM guess_locks WHERE lock_key = $1 AND locked_until > $2")
        .bind(key)
        .bind(now)
        .fetch_optional(pool)
        .await)?;
    if until.is_some() {
        return Ok(until);
    }
    let (wrong, oldest): (i64, Option<DateTime<Utc>>) = on_db!(db, pool => sqlx::query_as(
        "SELECT count(*), min(at) FROM guesses WHERE lock_key = $1 AND wrong AND at > $2")
        .bind(key)
        .bind(now - limit.window)
        .fetch_one(pool)
        .await)?;
    Ok(oldest
        .filter(|_| wrong >= i64::from(limit.max_wrong))
        .map(|at| at + limit.window))
}

async fn lock(db: &Db, key: &str, until: DateTime<Utc>) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "INSERT INTO guess_locks (lock_key, locked_until) VALUES ($1, $2)
         ON CONFLICT (lock_key) DO UPDATE SET locked_until = excluded.locked_until")
        .bind(key)
        .bind(until)
        .execute(pool)
        .await
        .map(|_| ()))
}

/// A lock in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Lock {
    /// `student:<school_id>/<student_number>`, `caller:<account>`, `staff:<username>` or
    /// `address:<client address>`.
    pub key: String,
    pub locked_until: DateTime<Utc>,
}

/// The locks in force at `now`, the longest first.
pub async fn locks(db: &Db, now: DateTime<Utc>) -> Result<Vec<Lock>, sqlx::Error> {
    let rows: Vec<(String, DateTime<Utc>)> = on_db!(db, pool => sqlx::query_as(
        "SELECT lock_key, locked_until FROM guess_locks WHERE locked_until > $1
         ORDER BY locked_until DESC, lock_key")
        .bind(now)
        .fetch_all(pool)
        .await)?;
    Ok(rows
        .into_iter()
        .map(|(key, locked_until)| Lock { key, locked_until })
        .collect())
}

/// Lifts the lock on `key` before its time and forgets the key's wrong guesses, recording who
/// lifted it and why. Returns the lock lifted; `None` when the key was not locked, so lifting
/// twice is harmless.
pub async fn lift(
    db: &Db,
    key: &str,
    lifted_by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Option<Lock>, sqlx::Error> {
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let until: Option<DateTime<Utc>> = sqlx::query_scalar(
            "DELETE FROM guess_locks WHERE lock_key = $1 AND locked_until > $2
             RETURNING locked_until")
            .bind(key)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(until) = until {
            sqlx::query("DELETE FROM guesses WHERE lock_key = $1 AND wrong")
                .bind(key)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO guess_lock_lifts (lock_key, locked_until, lifted_by, reason, at)
                 VALUES ($1, $2, $3, $4, $5)")
                .bind(key)
                .bind(until)
                .bind(lifted_by)
                .bind(reason)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(until.map(|locked_until| Lock { key: key.to_string(), locked_until }))
    })
}
