//! The projector: reads the log in global order and, for each batch, has every projection apply
//! the events after its own checkpoint and advance that checkpoint, all in one transaction.
//!
//! - **Exactly once.** A batch's views and checkpoints are written together, and only if the
//!   checkpoints are still those the batch was folded from. On PostgreSQL the one statement that
//!   writes a batch locks the checkpoint rows and checks them, so two runners of a projection,
//!   even in different processes, cannot both apply the same events: the second writes nothing
//!   and goes again from the first one's checkpoint. A batch that claims (after such a miss, or
//!   to find checkpoints another process moved back) first takes each projection's batch lock,
//!   a transaction advisory lock, as a reset does. On SQLite a batch claims its checkpoints by
//!   updating their rows, which makes it the file's one writer until it commits. A crash before
//!   commit loses the whole batch.
//! - **One runner** on PostgreSQL: a session advisory lock held on a dedicated connection; when
//!   its holder dies the connection closes and another instance takes over.
//! - **Wakes on new events:** the command path calls [`Projector::announce`] after each commit,
//!   which wakes this process's runners at once and, on PostgreSQL, has other instances woken by
//!   a NOTIFY on `photo_ledger_events` (LISTENed by every instance). The NOTIFY is sent from its
//!   own transaction and coalesced, at most one in flight: a NOTIFY inside the command's
//!   transaction would hold PostgreSQL's database-wide notify lock across its commit and make
//!   writers commit one at a time. A slow poll is the safety net.
//! - **Read-your-writes:** [`Projector::wait_for`] waits, bounded, until projections have passed
//!   a command's position. A batch moves this process's progress to the checkpoints it finds even
//!   when another process applied the events first, as on SQLite, where every process that opens
//!   the ledger runs the projections.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{watch, Notify};

use crate::error::ProjectionError;
use crate::projection::Fold;
use photo_ledger_store::log::{Decoder, Position};
use photo_ledger_store::{on_db, Db};

mod catch_up;
mod leader;
mod sql;
mod step;

use sql::lock_batches;

/// The channel instances announce new events on.
pub const EVENTS_CHANNEL: &str = "photo_ledger_events";

#[derive(Clone, Debug)]
pub struct ProjectorConfig {
    /// Most events applied in one transaction.
    pub batch_size: i64,
    /// How long an idle projector sleeps without a notification before looking anyway.
    pub idle_poll: Duration,
    /// How often a standby instance tries to take over a projection.
    pub standby_retry: Duration,
    /// Memory for what the projections keep between batches, shared equally among them, in
    /// bytes (an estimate from each document's and row's parts and text): half of each share
    /// for the capture documents they all fold from, half for the view's own rows. Documents
    /// beyond it are folded again from the log when their captures come up.
    pub kept_bytes: usize,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            idle_poll: Duration::from_millis(500),
            standby_retry: Duration::from_secs(1),
            kept_bytes: 96 * 1024 * 1024,
        }
    }
}

struct Runner {
    fold: Arc<dyn Fold>,
    progress: watch::Sender<Position>,
}

struct Inner {
    db: Db,
    /// The connections batches are read, folded and written on ([`sql::batches_pool`]).
    batches: Db,
    runners: Vec<Runner>,
    decoder: Arc<Decoder>,
    config: ProjectorConfig,
    /// Ticks whenever any projection commits, for waiters.
    tick: watch::Sender<u64>,
    /// Set by [`Projector::announce`]; the notifier task turns bursts into one NOTIFY.
    announced: Notify,
    /// Wakes the running projections.
    wake: Notify,
    /// Whether this instance runs the projections (else another instance does).
    leading: AtomicBool,
    /// Held while this process folds batches: the documents and rows the folds keep between
    /// batches are one state, moved on by one batch at a time.
    folding: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
pub struct Projector {
    inner: Arc<Inner>,
}

impl Projector {
    pub fn new(decoder: Arc<Decoder>, folds: Vec<Arc<dyn Fold>>, config: ProjectorConfig) -> Self {
        let db = decoder.db().clone();
        let batches = sql::batches_pool(&db);
        let share = config.kept_bytes / folds.len().max(1);
        let runners = folds
            .into_iter()
            .inspect(|fold| fold.keep_at_most(share))
            .map(|fold| Runner {
                fold,
                progress: watch::channel(Position::START).0,
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                db,
                batches,
                runners,
                decoder,
                config,
                tick: watch::channel(0).0,
                announced: Notify::new(),
                wake: Notify::new(),
                leading: AtomicBool::new(false),
                folding: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.inner.runners.iter().map(|r| r.fold.name()).collect()
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Closes the connections batches run on.
    pub async fn close(&self) {
        self.inner.batches.close().await;
    }

    fn runner(&self, name: &str) -> Result<&Runner, ProjectionError> {
        self.inner
            .runners
            .iter()
            .find(|r| r.fold.name() == name)
            .ok_or_else(|| ProjectionError::UnknownProjection(name.to_string()))
    }

    /// Creates missing checkpoint rows and loads the stored checkpoints.
    pub async fn init(&self) -> Result<(), ProjectionError> {
        for runner in &self.inner.runners {
            on_db!(&self.inner.db, pool => sqlx::query("INSERT INTO projection_checkpoints (projection) VALUES ($1) ON CONFLICT (projection) DO NOTHING")
                .bind(runner.fold.name())
                .execute(pool)
                .await
                .map(|_| ()))?;
        }
        self.refresh_progress().await
    }

    /// Signals this process's projections that new events may be there.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Tells every instance that events were committed: this process's runners now, other
    /// instances through a coalesced NOTIFY (sent while [`Projector::spawn`]'s tasks run).
    pub fn announce(&self) {
        self.wake();
        self.inner.announced.notify_one();
    }

    /// Stored checkpoints, by projection.
    pub async fn checkpoints(&self) -> Result<HashMap<String, Position>, ProjectionError> {
        let rows: Vec<(String, i64, i64)> = on_db!(&self.inner.db, pool => sqlx::query_as("SELECT projection, txid, position FROM projection_checkpoints").fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(name, txid, position)| (name, Position { txid, position }))
            .collect())
    }

    async fn refresh_progress(&self) -> Result<(), ProjectionError> {
        let stored = self.checkpoints().await?;
        for runner in &self.inner.runners {
            if let Some(position) = stored.get(runner.fold.name()) {
                runner.progress.send_if_modified(|p| raise(p, *position));
            }
        }
        Ok(())
    }

    /// What the documents the projections keep between batches weigh now, in bytes.
    pub fn kept_bytes(&self) -> usize {
        self.inner.runners.iter().map(|r| r.fold.kept_bytes()).sum()
    }

    /// Empties projection `name` and sets its checkpoint back to the start, in one transaction.
    pub async fn reset(&self, name: &str) -> Result<(), ProjectionError> {
        let runner = self.runner(name)?;
        let tables: Vec<&str> = runner.fold.tables().iter().map(|t| t.name).collect();
        // PostgreSQL truncates, so the rebuild writes into fresh tables and indexes rather than
        // beside every dead row of the old ones until a vacuum comes.
        let empty: Vec<String> = match &self.inner.db {
            Db::Postgres(_) => vec![format!("TRUNCATE {}", tables.join(", "))],
            Db::Sqlite(_) => tables.iter().map(|t| format!("DELETE FROM {t}")).collect(),
        };
        // The tables are emptied before the checkpoint row is written: a batch's statement
        // takes its tables' locks before the checkpoint rows', so the other order could
        // deadlock with it.
        on_db!(&self.inner.db, pool => async {
            let mut tx = pool.begin().await?;
            lock_batches(&mut *tx, name).await?;
            for statement in &empty {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE projection_checkpoints SET txid = 0, position = 0, updated_at = $2 WHERE projection = $1")
                .bind(name).bind(Utc::now()).execute(&mut *tx).await?;
            tx.commit().await.map_err(ProjectionError::from)
        }.await)?;
        runner.progress.send_replace(Position::START);
        Ok(())
    }

    /// Waits until every projection in `names` has applied the event at `target`, or `timeout`.
    pub async fn wait_for(
        &self,
        names: &[&str],
        target: Position,
        timeout: Duration,
    ) -> Result<(), ProjectionError> {
        let deadline = Instant::now() + timeout;
        let mut tick = self.inner.tick.subscribe();
        loop {
            let mut behind_elsewhere = false;
            let mut all_reached = true;
            for name in names {
                let runner = self.runner(name)?;
                if *runner.progress.borrow() < target {
                    all_reached = false;
                    behind_elsewhere |= !self.inner.leading.load(Ordering::Relaxed);
                }
            }
            if all_reached {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ProjectionError::WaitTimedOut(timeout));
            }
            let slice = if behind_elsewhere {
                Duration::from_millis(10)
            } else {
                Duration::from_millis(50)
            };
            let _ = tokio::time::timeout(slice.min(deadline - now), tick.changed()).await;
            if behind_elsewhere {
                // Another instance runs that projection: its progress is only in the database.
                self.refresh_progress().await?;
            }
        }
    }

    /// How far the slowest projection is behind the newest event, in events.
    pub async fn lag(&self) -> Result<i64, ProjectionError> {
        let slowest = self
            .checkpoints()
            .await?
            .into_values()
            .min()
            .unwrap_or(Position::START);
        Ok(match &self.inner.db {
            Db::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT count(*) FROM events WHERE (txid, position) > ($1::text::xid8, $2)",
                )
                .bind(slowest.txid.to_string())
                .bind(slowest.position)
                .fetch_one(pool)
                .await?
            }
            Db::Sqlite(pool) => {
                sqlx::query_scalar("SELECT count(*) FROM events WHERE rowid > $1")
                    .bind(slowest.position)
                    .fetch_one(pool)
                    .await?
            }
        })
    }
}

/// Moves `current` forward to `to`; whether it moved.
fn raise(current: &mut Position, to: Position) -> bool {
    if to > *current {
        *current = to;
        true
    } else {
        false
    }
}
