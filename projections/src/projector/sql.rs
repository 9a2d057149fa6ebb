//! What each store does differently when a batch claims its projections and commits.

use chrono::Utc;
use photo_ledger_store::log::Position;

use crate::error::ProjectionError;

/// Takes projection `name`'s batch lock for this transaction and reads its checkpoint. No row is
/// written until the batch's events are read: a transaction gets an id at its first write, and
/// an id in flight holds back every reader's commit horizon, so a projector that wrote first
/// would hide newer events from the other projections for as long as its batch runs.
pub(super) async fn claim_pg(
    conn: &mut sqlx::PgConnection,
    name: &str,
) -> Result<Position, ProjectionError> {
    lock_batches(&mut *conn, name).await?;
    let (txid, position): (i64, i64) =
        sqlx::query_as("SELECT txid, position FROM projection_checkpoints WHERE projection = $1")
            .bind(name)
            .fetch_one(conn)
            .await?;
    Ok(Position { txid, position })
}

/// Lets a batch's commit return before its WAL record is flushed (PostgreSQL). Safe because
/// views and checkpoints commit together and are derived from the log: a crash can only lose
/// the last batches whole, and they are applied again. Commands keep synchronous commits.
pub(super) trait SkipFlushWait {
    async fn skip_flush_wait(self) -> Result<(), ProjectionError>;
}

impl SkipFlushWait for &mut sqlx::PgConnection {
    async fn skip_flush_wait(self) -> Result<(), ProjectionError> {
        sqlx::query("SET LOCAL synchronous_commit TO OFF")
            .execute(self)
            .await?;
        Ok(())
    }
}

impl SkipFlushWait for &mut sqlx::SqliteConnection {
    /// SQLite's durability is set per connection; its commits are short local writes anyway.
    async fn skip_flush_wait(self) -> Result<(), ProjectionError> {
        Ok(())
    }
}

/// Serialises every transaction that moves projection `name`'s checkpoint, across instances
/// (on PostgreSQL; SQLite's single writer already does). Not the leader's session lock: that
/// one is held for as long as an instance leads.
pub(super) trait LockBatches {
    async fn lock_batches(&mut self, name: &str) -> Result<(), ProjectionError>;
}

impl LockBatches for sqlx::PgConnection {
    async fn lock_batches(&mut self, name: &str) -> Result<(), ProjectionError> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("photo_ledger.batch.{name}"))
            .execute(self)
            .await?;
        Ok(())
    }
}

impl LockBatches for sqlx::SqliteConnection {
    async fn lock_batches(&mut self, _name: &str) -> Result<(), ProjectionError> {
        Ok(())
    }
}

pub(super) async fn lock_batches<C: LockBatches>(
    conn: &mut C,
    name: &str,
) -> Result<(), ProjectionError> {
    conn.lock_batches(name).await
}

/// SQLite has one writer at a time: locking the checkpoint row by updating it serialises runners.
pub(super) async fn claim_sqlite(
    conn: &mut sqlx::SqliteConnection,
    name: &str,
) -> Result<Position, ProjectionError> {
    let (txid, position): (i64, i64) = sqlx::query_as(
        "UPDATE projection_checkpoints SET updated_at = $2 WHERE projection = $1 RETURNING txid, position",
    )
    .bind(name)
    .bind(Utc::now())
    .fetch_one(conn)
    .await?;
    Ok(Position { txid, position })
}
