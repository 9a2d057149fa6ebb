//! What each store does differently when a batch claims its projections. The checkpoints'
//! advance is written with the views' rows (`projection/write.rs`).

use chrono::Utc;
use photo_ledger_store::log::Position;

use crate::error::ProjectionError;

/// Begins a batch's transaction and takes the batch locks of the projections `names` (sorted,
/// so concurrent steps cannot deadlock) in one round trip, then reads their checkpoints in a
/// second, however many there are: a batch's round trips are time every command waits for its
/// views. The checkpoints are read by a statement of their own, after the locks are held, so its
/// snapshot sees what the previous holder committed. No row is written until the batch's events
/// are read: a transaction gets an id at its first write, and an id in flight holds back every
/// reader's commit horizon, so a projector that wrote first would hide newer events from the
/// other projections for as long as its batch runs.
///
/// The transaction's commit returns before its WAL record is flushed. Safe because views and
/// checkpoints commit together and are derived from the log: a crash can only lose the last
/// batches whole, and they are applied again. Commands keep synchronous commits.
pub(super) async fn claim_pg(
    pool: &sqlx::PgPool,
    names: &[&str],
) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, Vec<Position>), ProjectionError> {
    debug_assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    // `BEGIN` can only share its round trip as simple-query text, which binds nothing: the
    // keys are written as literals.
    let keys: Vec<String> = names
        .iter()
        .map(|name| quote_literal(&batch_lock_key(name)))
        .collect();
    // Taken in the array's order: the function scan yields its rows in that order, and output
    // expressions are evaluated after ORDER BY's sort anyway.
    let mut tx = pool
        .begin_with(format!(
            "BEGIN; SET LOCAL synchronous_commit TO OFF; \
             SELECT pg_advisory_xact_lock(hashtextextended(key, 0)) \
               FROM unnest(ARRAY[{}]::text[]) WITH ORDINALITY AS k(key, n) ORDER BY n",
            keys.join(", ")
        ))
        .await?;
    let stored: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT projection, txid, position FROM projection_checkpoints WHERE projection = ANY($1)",
    )
    .bind(names)
    .fetch_all(&mut *tx)
    .await?;
    let checkpoints = names
        .iter()
        .map(|name| {
            stored
                .iter()
                .find(|(projection, ..)| projection == name)
                .map(|&(_, txid, position)| Position { txid, position })
                .ok_or_else(|| ProjectionError::UnknownProjection(name.to_string()))
        })
        .collect::<Result<_, _>>()?;
    Ok((tx, checkpoints))
}

/// `text` as a PostgreSQL string literal (standard-conforming strings, the default since 9.1).
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

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

/// Begins a batch's transaction on SQLite and claims the projections `names`. SQLite has one
/// writer at a time: locking the checkpoint rows by updating them serialises runners. Its
/// statements are calls into the same process, not round trips, and its durability is set per
/// connection (its commits are short local writes anyway).
pub(super) async fn claim_sqlite(
    pool: &sqlx::SqlitePool,
    names: &[&str],
) -> Result<(sqlx::Transaction<'static, sqlx::Sqlite>, Vec<Position>), ProjectionError> {
    let mut tx = pool.begin().await?;
    let mut checkpoints = Vec::with_capacity(names.len());
    for name in names {
        let (txid, position): (i64, i64) = sqlx::query_as(
            "UPDATE projection_checkpoints SET updated_at = $2 WHERE projection = $1 RETURNING txid, position",
        )
        .bind(name)
        .bind(Utc::now())
        .fetch_one(&mut *tx)
        .await?;
        checkpoints.push(Position { txid, position });
    }
    Ok((tx, checkpoints))
}
