//! What each store does differently when a batch begins and claims its projections. The
//! checkpoints' advance is written with the views' rows (`projection/write.rs`).

use std::time::Duration;

use chrono::Utc;
use photo_ledger_store::log::{self, Decoder, LoggedEvent, Position};
use photo_ledger_store::Db;
use sqlx::postgres::PgPoolOptions;

use crate::error::ProjectionError;

/// Takes the batch locks of the projections `names` (sorted, so concurrent steps cannot
/// deadlock) for this transaction and reads their checkpoints, in two statements however many
/// there are: a batch's round trips are time every command waits for its views. The
/// checkpoints are read by a statement of their own, after the locks are held, so its snapshot
/// sees what the previous holder committed. No row is written until the batch's events are
/// read: a transaction gets an id at its first write, and an id in flight holds back every
/// reader's commit horizon, so a projector that wrote first would hide newer events from the
/// other projections for as long as its batch runs.
pub(super) async fn claim_pg(
    conn: &mut sqlx::PgConnection,
    names: &[&str],
) -> Result<Vec<Position>, ProjectionError> {
    debug_assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    let keys: Vec<String> = names.iter().map(|name| batch_lock_key(name)).collect();
    // Taken in the array's order: the function scan yields its rows in that order, and output
    // expressions are evaluated after ORDER BY's sort anyway.
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended(key, 0)) \
           FROM unnest($1::text[]) WITH ORDINALITY AS k(key, n) ORDER BY n",
    )
    .bind(&keys)
    .execute(&mut *conn)
    .await?;
    let stored: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT projection, txid, position FROM projection_checkpoints WHERE projection = ANY($1)",
    )
    .bind(names)
    .fetch_all(conn)
    .await?;
    names
        .iter()
        .map(|name| {
            stored
                .iter()
                .find(|(projection, ..)| projection == name)
                .map(|&(_, txid, position)| Position { txid, position })
                .ok_or_else(|| ProjectionError::UnknownProjection(name.to_string()))
        })
        .collect()
}

/// The connections batches are read, folded and written on: a pool of their own beside the
/// commands', so that a batch, which every command waits for, does not queue behind them for
/// one. On PostgreSQL their commits return before the WAL record is flushed. That is safe
/// because views and checkpoints commit together and are derived from the log: a crash can only
/// lose the last batches whole, and they are applied again. Commands keep synchronous commits.
/// SQLite keeps its one pool: its writers take turns in the file whichever pool they come
/// from.
pub(super) fn batches_pool(db: &Db) -> Db {
    match db {
        Db::Postgres(pool) => {
            let options = (*pool.connect_options())
                .clone()
                .options([("synchronous_commit", "off")]);
            Db::Postgres(
                PgPoolOptions::new()
                    .max_connections(BATCH_CONNECTIONS)
                    .acquire_timeout(Duration::from_secs(10))
                    // Not pinged before each batch, a round trip in every command's wait: a
                    // connection that died fails its batch, and the runner starts again.
                    .test_before_acquire(false)
                    .connect_lazy_with(options),
            )
        }
        Db::Sqlite(_) => db.clone(),
    }
}

/// Connections for batches: catching up reads a batch, reads histories for the one it folds and
/// writes a third, all at once.
const BATCH_CONNECTIONS: u32 = 3;

/// Serialises every transaction that moves projection `name`'s checkpoint, across instances
/// (on PostgreSQL; SQLite's single writer already does). Not the leader's session lock: that
/// one is held for as long as an instance leads.
pub(super) trait LockBatches {
    async fn lock_batches(&mut self, name: &str) -> Result<(), ProjectionError>;
}

/// The advisory lock serialising projection `name`'s batches.
fn batch_lock_key(name: &str) -> String {
    format!("photo_ledger.batch.{name}")
}

impl LockBatches for sqlx::PgConnection {
    async fn lock_batches(&mut self, name: &str) -> Result<(), ProjectionError> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(batch_lock_key(name))
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

/// SQLite has one writer at a time: locking the checkpoint rows by updating them serialises
/// runners. Its statements are calls into the same process, not round trips.
pub(super) async fn claim_sqlite(
    conn: &mut sqlx::SqliteConnection,
    names: &[&str],
) -> Result<Vec<Position>, ProjectionError> {
    let mut checkpoints = Vec::with_capacity(names.len());
    for name in names {
        let (txid, position): (i64, i64) = sqlx::query_as(
            "UPDATE projection_checkpoints SET updated_at = $2 WHERE projection = $1 RETURNING txid, position",
        )
        .bind(name)
        .bind(Utc::now())
        .fetch_one(&mut *conn)
        .await?;
        checkpoints.push(Position { txid, position });
    }
    Ok(checkpoints)
}

/// Reads the events up to `at` of captures whose documents a batch needs and does not hold.
pub(super) trait ReadHistory {
    async fn history(
        &mut self,
        at: Position,
        captures: &[String],
        decoder: &Decoder,
    ) -> Result<Vec<LoggedEvent>, ProjectionError>;
}

impl ReadHistory for sqlx::PgConnection {
    async fn history(
        &mut self,
        at: Position,
        captures: &[String],
        decoder: &Decoder,
    ) -> Result<Vec<LoggedEvent>, ProjectionError> {
        Ok(log::history_pg(self, at, captures, decoder).await?)
    }
}

impl ReadHistory for sqlx::SqliteConnection {
    async fn history(
        &mut self,
        at: Position,
        captures: &[String],
        decoder: &Decoder,
    ) -> Result<Vec<LoggedEvent>, ProjectionError> {
        Ok(log::history_sqlite(self, at, captures, decoder).await?)
    }
}
