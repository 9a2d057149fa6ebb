//! The projector: reads the log in global order and, for each batch, has every projection apply
//! the events after its own checkpoint and advance that checkpoint, all in one transaction.
//!
//! - **Exactly once.** A batch first takes each projection's batch lock (a transaction advisory
//!   lock on PostgreSQL, the checkpoint row's update on SQLite), so two runners of a projection,
//!   even in different processes, serialise and the second sees the first one's checkpoint. A
//!   crash before commit rolls the whole batch back.
//! - **One runner** on PostgreSQL: a session advisory lock held on a dedicated connection; when
//!   its holder dies the connection closes and another instance takes over.
//! - **Wakes on new events:** the command path calls [`Projector::announce`] after each commit,
//!   which wakes this process's runners at once and, on PostgreSQL, has other instances woken by
//!   a NOTIFY on `photo_ledger_events` (LISTENed by every instance). The NOTIFY is sent from its
//!   own transaction and coalesced, at most one in flight: a NOTIFY inside the command's
//!   transaction would hold PostgreSQL's database-wide notify lock across its commit and make
//!   writers commit one at a time. A slow poll is the safety net.
//! - **Read-your-writes:** [`Projector::wait_for`] waits, bounded, until projections have passed
//!   a command's position.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use cqrs_es::persist::EventUpcaster;
use photo_ledger_domain::upcasters::capture_upcasters;
use sqlx::postgres::PgListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::error::ProjectionError;
use crate::projection::{self, Fold};
use photo_ledger_store::log::{self, LoggedEvent, Position};
use photo_ledger_store::{on_db, Db};

/// The session advisory lock held by the instance that runs the projections.
const LEADER_LOCK: &str = "photo_ledger.projector";
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
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            idle_poll: Duration::from_millis(500),
            standby_retry: Duration::from_secs(1),
        }
    }
}

struct Runner {
    fold: Arc<dyn Fold>,
    progress: watch::Sender<Position>,
}

struct Inner {
    db: Db,
    runners: Vec<Runner>,
    upcasters: Vec<Box<dyn EventUpcaster>>,
    config: ProjectorConfig,
    /// Ticks whenever any projection commits, for waiters.
    tick: watch::Sender<u64>,
    /// Set by [`Projector::announce`]; the notifier task turns bursts into one NOTIFY.
    announced: Notify,
    /// Wakes the running projections.
    wake: Notify,
    /// Whether this instance runs the projections (else another instance does).
    leading: AtomicBool,
}

#[derive(Clone)]
pub struct Projector {
    inner: Arc<Inner>,
}

impl Projector {
    pub fn new(db: Db, folds: Vec<Arc<dyn Fold>>, config: ProjectorConfig) -> Self {
        let runners = folds
            .into_iter()
            .map(|fold| Runner {
                fold,
                progress: watch::channel(Position::START).0,
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                db,
                runners,
                upcasters: capture_upcasters(),
                config,
                tick: watch::channel(0).0,
                announced: Notify::new(),
                wake: Notify::new(),
                leading: AtomicBool::new(false),
            }),
        }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.inner.runners.iter().map(|r| r.fold.name()).collect()
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
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

    /// Applies at most one batch of events to the named projections together: the events are
    /// read once, from the earliest of their checkpoints, and each projection applies those
    /// after its own checkpoint, all in one transaction. Returns how many events it read.
    pub async fn step(&self, names: &[&str]) -> Result<usize, ProjectionError> {
        Ok(self.step_with(names, None).await?.0)
    }

    /// [`Projector::step`], given the batch after some position when it was read ahead: it is
    /// used if that position is where the batch starts, and read afresh otherwise. Returns the
    /// number of events read and the position of the last.
    async fn step_with(
        &self,
        names: &[&str],
        read_ahead: Option<ReadAhead>,
    ) -> Result<(usize, Option<Position>), ProjectionError> {
        let mut runners = names
            .iter()
            .map(|name| self.runner(name))
            .collect::<Result<Vec<_>, _>>()?;
        // Batch locks are always taken in name order, so concurrent steps cannot deadlock.
        runners.sort_by_key(|r| r.fold.name());
        runners.dedup_by_key(|r| r.fold.name());
        let folds: Vec<&dyn Fold> = runners.iter().map(|r| r.fold.as_ref()).collect();
        let (config, upcasters) = (&self.inner.config, &self.inner.upcasters);
        let applied = match &self.inner.db {
            Db::Postgres(pool) => {
                step_pg(pool, &folds, config.batch_size, upcasters, read_ahead).await?
            }
            Db::Sqlite(pool) => {
                step_sqlite(pool, &folds, config.batch_size, upcasters, read_ahead).await?
            }
        };
        Ok(match applied {
            Some((position, n)) => {
                for runner in &runners {
                    runner.progress.send_if_modified(|p| raise(p, position));
                }
                self.inner.tick.send_modify(|t| *t += 1);
                (n, Some(position))
            }
            None => (0, None),
        })
    }

    /// Reads the batch after `after` in the background, on its own connection. Events below
    /// the commit horizon are final, so a batch read outside the applying transaction is the
    /// batch that transaction would read.
    fn read_ahead(
        &self,
        after: Position,
    ) -> tokio::task::JoinHandle<Result<ReadAhead, ProjectionError>> {
        let this = self.clone();
        tokio::spawn(async move {
            let (inner, limit) = (&this.inner, this.inner.config.batch_size);
            let events = match &inner.db {
                Db::Postgres(pool) => {
                    log::read_pg(&mut *pool.acquire().await?, after, limit, &inner.upcasters)
                        .await?
                }
                Db::Sqlite(pool) => {
                    log::read_sqlite(&mut *pool.acquire().await?, after, limit, &inner.upcasters)
                        .await?
                }
            };
            Ok(ReadAhead { after, events })
        })
    }

    /// Applies batches until the named projections have consumed every event committed before
    /// this call (on PostgreSQL, waiting for the commit horizon to pass them). Returns the number
    /// of events read; `on_batch` sees each batch's size.
    pub async fn catch_up(
        &self,
        names: &[&str],
        mut on_batch: impl FnMut(usize),
    ) -> Result<u64, ProjectionError> {
        let target = log::head(&self.inner.db).await?;
        let mut total = 0u64;
        // The next batch is read while this one is folded and written.
        let mut next = None;
        loop {
            let read_ahead = match next.take() {
                Some(reading) => Some(reading_result(reading).await?),
                None => None,
            };
            if let Some(last) = read_ahead.as_ref().and_then(ReadAhead::last) {
                next = Some(self.read_ahead(last));
            }
            let (n, last) = self.step_with(names, read_ahead).await?;
            total += n as u64;
            if n > 0 {
                if let (None, Some(last)) = (&next, last) {
                    next = Some(self.read_ahead(last));
                }
                on_batch(n);
                continue;
            }
            let mut reached = true;
            if let Some(target) = target {
                for name in names {
                    reached &= *self.runner(name)?.progress.borrow() >= target;
                }
            }
            if reached {
                return Ok(total);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
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
        on_db!(&self.inner.db, pool => async {
            let mut tx = pool.begin().await?;
            lock_batches(&mut *tx, name).await?;
            sqlx::query("UPDATE projection_checkpoints SET txid = 0, position = 0, updated_at = $2 WHERE projection = $1")
                .bind(name).bind(Utc::now()).execute(&mut *tx).await?;
            for statement in &empty {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
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

    /// Runs every projection in the background until the returned set is aborted or dropped.
    pub fn spawn(&self) -> JoinSet<()> {
        let mut tasks = JoinSet::new();
        let this = self.clone();
        tasks.spawn(async move { this.run().await });
        if let Db::Postgres(pool) = &self.inner.db {
            let (this, listener_pool) = (self.clone(), pool.clone());
            tasks.spawn(async move { this.listen(listener_pool).await });
            let (this, notifier_pool) = (self.clone(), pool.clone());
            tasks.spawn(async move { this.notify_others(notifier_pool).await });
        }
        tasks
    }

    async fn run(&self) {
        loop {
            if let Err(err) = self.lead().await {
                tracing::error!(error = %err, "projections stopped; retrying");
            }
            self.inner.leading.store(false, Ordering::Relaxed);
            tokio::time::sleep(self.inner.config.standby_retry).await;
        }
    }

    /// Runs every projection for as long as this instance is the leader.
    async fn lead(&self) -> Result<(), ProjectionError> {
        let mut lock_conn = match &self.inner.db {
            Db::Postgres(pool) => {
                let mut conn = pool.acquire().await?.detach();
                let got: bool =
                    sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                        .bind(LEADER_LOCK)
                        .fetch_one(&mut conn)
                        .await?;
                if !got {
                    return Ok(()); // another instance runs them; try again later
                }
                Some(conn)
            }
            Db::Sqlite(_) => None,
        };
        tracing::info!("running projections");
        self.inner.leading.store(true, Ordering::Relaxed);
        self.refresh_progress().await?;
        let names = self.names();
        loop {
            if self.step(&names).await? > 0 {
                continue;
            }
            if let Db::Postgres(pool) = &self.inner.db {
                let mut conn = pool.acquire().await?;
                if log::pending_above_horizon(&mut conn).await? {
                    // Committed events wait behind an older transaction; look again shortly.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                }
            }
            let _ =
                tokio::time::timeout(self.inner.config.idle_poll, self.inner.wake.notified()).await;
            if let Some(conn) = lock_conn.as_mut() {
                // Losing the lock connection means losing leadership.
                sqlx::query("SELECT 1").execute(conn).await?;
            }
        }
    }

    /// Sends one NOTIFY per burst of announcements: announcements made while one is being sent
    /// leave a single permit, answered by the next.
    async fn notify_others(&self, pool: sqlx::PgPool) {
        loop {
            self.inner.announced.notified().await;
            if let Err(err) = sqlx::query("SELECT pg_notify($1, '')")
                .bind(EVENTS_CHANNEL)
                .execute(&pool)
                .await
            {
                tracing::warn!(error = %err, "could not notify other instances; they will poll");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    async fn listen(&self, pool: sqlx::PgPool) {
        loop {
            let result: Result<(), sqlx::Error> = async {
                let mut listener = PgListener::connect_with(&pool).await?;
                listener.listen(EVENTS_CHANNEL).await?;
                loop {
                    listener.recv().await?;
                    self.wake();
                }
            }
            .await;
            if let Err(err) = result {
                tracing::warn!(error = %err, "event listener lost its connection; reconnecting");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// A batch read ahead of the transaction that applies it.
struct ReadAhead {
    after: Position,
    events: Vec<LoggedEvent>,
}

impl ReadAhead {
    fn last(&self) -> Option<Position> {
        self.events.last().map(|e| e.position)
    }
}

async fn reading_result(
    reading: tokio::task::JoinHandle<Result<ReadAhead, ProjectionError>>,
) -> Result<ReadAhead, ProjectionError> {
    match reading.await {
        Ok(result) => result,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(_) => Err(ProjectionError::ReadAheadCancelled),
    }
}

fn raise(current: &mut Position, to: Position) -> bool {
    if to > *current {
        *current = to;
        true
    } else {
        false
    }
}

/// Of the captures whose documents `fold` does not hold, those with events before this batch: a
/// capture whose first event in the batch is its first event ever has no history to read.
fn needing_history(fold: &dyn Fold, at: Position, events: &[LoggedEvent]) -> Vec<String> {
    let mut seen = HashSet::new();
    let continuing: Vec<&str> = events
        .iter()
        .filter(|e| seen.insert(e.capture_id.as_str()) && e.sequence != 1)
        .map(|e| e.capture_id.as_str())
        .collect();
    fold.missing(at, &continuing)
}

macro_rules! step_impl {
    ($name:ident, $db:ty, $claim:path, $read:path, $history:path) => {
        async fn $name(
            pool: &sqlx::Pool<$db>,
            folds: &[&dyn Fold],
            batch_size: i64,
            upcasters: &[Box<dyn EventUpcaster>],
            read_ahead: Option<ReadAhead>,
        ) -> Result<Option<(Position, usize)>, ProjectionError> {
            let mut tx = pool.begin().await?;
            (&mut *tx).skip_flush_wait().await?;
            let mut checkpoints = Vec::with_capacity(folds.len());
            for fold in folds {
                checkpoints.push($claim(&mut *tx, fold.name()).await?);
            }
            let Some(from) = checkpoints.iter().min().copied() else {
                return Ok(None);
            };
            let events = match read_ahead {
                Some(batch) if batch.after == from => batch.events,
                _ => $read(&mut *tx, from, batch_size, upcasters).await?,
            };
            let Some(last) = events.last().map(|e| e.position) else {
                tx.rollback().await?;
                return Ok(None);
            };
            let mut moved = Vec::with_capacity(folds.len());
            for (fold, at) in folds.iter().zip(&checkpoints) {
                let after = &events[events.partition_point(|e| e.position <= *at)..];
                if after.is_empty() {
                    continue; // this projection is already past the batch
                }
                let history =
                    $history(&mut *tx, *at, &needing_history(*fold, *at, after), upcasters).await?;
                let folded = fold.fold(*at, &history, after)?;
                projection::write(&mut *tx, fold.tables(), &folded).await?;
                sqlx::query("UPDATE projection_checkpoints SET txid = $2, position = $3, updated_at = $4 WHERE projection = $1")
                    .bind(fold.name())
                    .bind(last.txid)
                    .bind(last.position)
                    .bind(Utc::now())
                    .execute(&mut *tx)
                    .await?;
                moved.push(*fold);
            }
            // Crash tests kill the projector here, between applying a batch and committing it
            // (`FAILPOINTS=projector.before_commit=return`); compiled in only with the
            // `failpoints` feature.
            fail::fail_point!("projector.before_commit", |_| {
                eprintln!("failpoint projector.before_commit reached: aborting");
                std::process::abort()
            });
            tx.commit().await?;
            for fold in moved {
                fold.committed(last);
            }
            Ok(Some((last, events.len())))
        }
    };
}

/// Takes projection `name`'s batch lock for this transaction and reads its checkpoint. No row is
/// written until the batch's events are read: a transaction gets an id at its first write, and
/// an id in flight holds back every reader's commit horizon, so a projector that wrote first
/// would hide newer events from the other projections for as long as its batch runs.
async fn claim_pg(conn: &mut sqlx::PgConnection, name: &str) -> Result<Position, ProjectionError> {
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
trait SkipFlushWait {
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
trait LockBatches {
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

async fn lock_batches<C: LockBatches>(conn: &mut C, name: &str) -> Result<(), ProjectionError> {
    conn.lock_batches(name).await
}

/// SQLite has one writer at a time: locking the checkpoint row by updating it serialises runners.
async fn claim_sqlite(
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

step_impl!(
    step_pg,
    sqlx::Postgres,
    claim_pg,
    log::read_pg,
    log::history_pg
);
step_impl!(
    step_sqlite,
    sqlx::Sqlite,
    claim_sqlite,
    log::read_sqlite,
    log::history_sqlite
);
