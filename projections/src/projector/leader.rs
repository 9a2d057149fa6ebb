//! The runner's lifecycle: one instance leads (a session advisory lock on PostgreSQL), runs
//! batches whenever it is woken or the poll comes round, and on PostgreSQL tells the other
//! instances about new events and listens for theirs.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use photo_ledger_store::{log, Db};
use sqlx::postgres::PgListener;
use tokio::task::JoinSet;

use super::step::Start;
use super::{Projector, EVENTS_CHANNEL};
use crate::error::ProjectionError;

/// The session advisory lock held by the instance that runs the projections.
const LEADER_LOCK: &str = "photo_ledger.projector";

impl Projector {
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
                tracing::error!(
                    error = &err as &dyn std::error::Error,
                    "projections stopped; retrying"
                );
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
        let mut between = Between::default();
        // Batches start where this process saw the checkpoints, except after a quiet poll:
        // then they are read from the database, which another process's reset may have moved
        // back while there was nothing new to apply.
        let mut start = Start::Stored;
        loop {
            let mark = Instant::now();
            let applied = self.step_from(&names, start).await?;
            start = Start::Seen;
            if applied > 0 {
                between.log_and_reset();
                continue;
            }
            between.empty_steps += 1;
            between.stepping += mark.elapsed();
            if let Some(conn) = lock_conn.as_mut() {
                // Asked on the leader's own connection: under load the pool's connections are
                // the commands'.
                let mark = Instant::now();
                let pending = log::pending_above_horizon(conn).await?;
                if pending {
                    // Committed events wait behind an older transaction; look again shortly.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                between.horizon += mark.elapsed();
                if pending {
                    continue;
                }
            }
            let mark = Instant::now();
            let woken =
                tokio::time::timeout(self.inner.config.idle_poll, self.inner.wake.notified())
                    .await
                    .is_ok();
            if !woken {
                start = Start::Stored;
            }
            if let Some(conn) = lock_conn.as_mut() {
                // Losing the lock connection means losing leadership.
                sqlx::query("SELECT 1").execute(conn).await?;
            }
            between.waiting += mark.elapsed();
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
                tracing::warn!(
                    error = &err as &dyn std::error::Error,
                    "could not notify other instances; they will poll"
                );
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
                tracing::warn!(
                    error = &err as &dyn std::error::Error,
                    "event listener lost its connection; reconnecting"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Where the runner's time went between two batches that applied events, logged at debug level
/// with the second (`photo_ledger_projections=debug`): a command committed in that time waits
/// for it as well as for its batch.
#[derive(Default)]
struct Between {
    /// Batches that found nothing to apply, and the time they took.
    empty_steps: u32,
    stepping: Duration,
    /// Asking whether committed events wait behind an older transaction, and waiting for it.
    horizon: Duration,
    /// Waiting to be woken (or for the idle poll) and checking leadership.
    waiting: Duration,
}

impl Between {
    fn log_and_reset(&mut self) {
        if self.empty_steps > 0 {
            tracing::debug!(
                empty_steps = self.empty_steps,
                stepping = ?self.stepping,
                horizon = ?self.horizon,
                waiting = ?self.waiting,
                "between batches"
            );
        }
        *self = Self::default();
    }
}
