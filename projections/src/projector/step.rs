//! One batch: read the events after the projections' checkpoints (ahead of time, while the
//! previous batch commits), fold them, rewrite the views' rows and advance the checkpoints, all
//! in one transaction per store.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use photo_ledger_store::log::{self, Decoder, LoggedEvent, Position};
use photo_ledger_store::Db;

use super::sql::{begin_pg, begin_sqlite, claim_pg, claim_sqlite};
use super::{raise, Projector};
use crate::error::ProjectionError;
use crate::projection::{self, Advance, Fold};

impl Projector {
    /// Applies at most one batch of events to the named projections together: the events are
    /// read once, from the earliest of their checkpoints, and each projection applies those
    /// after its own checkpoint, all in one transaction. Returns how many events it read.
    pub async fn step(&self, names: &[&str]) -> Result<usize, ProjectionError> {
        Ok(self.step_with(names, None).await?.0)
    }

    /// [`Projector::step`], given the batch after some position when it was read ahead: it is
    /// used if that position is where the batch starts, and read afresh otherwise. Returns the
    /// number of events read and the position of the last.
    pub(super) async fn step_with(
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
        let (config, decoder) = (&self.inner.config, &*self.inner.decoder);
        let mut read_ahead = read_ahead;
        let Stepped {
            checkpoints,
            applied,
        } = loop {
            let attempt = match &self.inner.db {
                Db::Postgres(pool) => {
                    step_pg(pool, &folds, config.batch_size, decoder, read_ahead.take()).await
                }
                Db::Sqlite(pool) => {
                    step_sqlite(pool, &folds, config.batch_size, decoder, read_ahead.take()).await
                }
            };
            match attempt {
                // Another step moved the documents the views share between this one asking
                // what history it needs and folding: its transaction is rolled back, and the
                // batch applied again with the history it needs now.
                Err(ProjectionError::DocumentsMoved) => continue,
                attempt => break attempt?,
            }
        };
        // Each projection has reached what this batch applied or, if that is less, the
        // checkpoint it found: another process may have applied the events first (on SQLite
        // every process runs the projections), and its commands wait on this progress.
        let mut advanced = false;
        for (runner, at) in runners.iter().zip(&checkpoints) {
            let reached = applied.map_or(*at, |(last, _)| last.max(*at));
            advanced |= runner.progress.send_if_modified(|p| raise(p, reached));
        }
        if advanced {
            self.inner.tick.send_modify(|t| *t += 1);
        }
        Ok(applied.map_or((0, None), |(last, n)| (n, Some(last))))
    }

    /// Reads the batch after `after` in the background, on its own connection. Events below
    /// the commit horizon are final, so a batch read outside the applying transaction is the
    /// batch that transaction would read.
    pub(super) fn read_ahead(
        &self,
        after: Position,
    ) -> tokio::task::JoinHandle<Result<ReadAhead, ProjectionError>> {
        let this = self.clone();
        tokio::spawn(async move {
            let (inner, limit) = (&this.inner, this.inner.config.batch_size);
            let events = match &inner.db {
                Db::Postgres(pool) => {
                    log::read_pg(&mut *pool.acquire().await?, after, limit, &inner.decoder).await?
                }
                Db::Sqlite(pool) => {
                    log::read_sqlite(&mut *pool.acquire().await?, after, limit, &inner.decoder)
                        .await?
                }
            };
            Ok(ReadAhead { after, events })
        })
    }
}

/// What one batch found and did.
struct Stepped {
    /// The checkpoints of the projections, in name order, when the batch claimed them.
    checkpoints: Vec<Position>,
    /// The position of the last event applied and how many events were read, if any were.
    applied: Option<(Position, usize)>,
}

/// A batch read ahead of the transaction that applies it.
pub(super) struct ReadAhead {
    pub(super) after: Position,
    events: Vec<LoggedEvent>,
}

impl ReadAhead {
    pub(super) fn last(&self) -> Option<Position> {
        self.events.last().map(|e| e.position)
    }
}

pub(super) async fn reading_result(
    reading: tokio::task::JoinHandle<Result<ReadAhead, ProjectionError>>,
) -> Result<ReadAhead, ProjectionError> {
    match reading.await {
        Ok(result) => result,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(_) => Err(ProjectionError::ReadAheadCancelled),
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

/// Where a batch's time went, logged at debug level (`photo_ledger_projections=debug`): the
/// commit-to-view lag every command waits for is made of these.
struct Timings {
    last: Instant,
    claim: Duration,
    read: Duration,
    history: Duration,
    fold: Duration,
    write: Duration,
    commit: Duration,
}

impl Timings {
    fn start() -> Self {
        Self {
            last: Instant::now(),
            claim: Duration::ZERO,
            read: Duration::ZERO,
            history: Duration::ZERO,
            fold: Duration::ZERO,
            write: Duration::ZERO,
            commit: Duration::ZERO,
        }
    }

    /// Adds the time since the last mark to `phase`.
    fn mark(&mut self, phase: fn(&mut Self) -> &mut Duration) {
        let now = Instant::now();
        let since = now - std::mem::replace(&mut self.last, now);
        *phase(self) += since;
    }

    fn log(&self, events: usize, projections: usize) {
        tracing::debug!(
            events,
            projections,
            claim = ?self.claim,
            read = ?self.read,
            history = ?self.history,
            fold = ?self.fold,
            write = ?self.write,
            commit = ?self.commit,
            "batch applied"
        );
    }
}

macro_rules! step_impl {
    ($name:ident, $db:ty, $begin:path, $claim:path, $read:path, $history:path) => {
        async fn $name(
            pool: &sqlx::Pool<$db>,
            folds: &[&dyn Fold],
            batch_size: i64,
            decoder: &Decoder,
            read_ahead: Option<ReadAhead>,
        ) -> Result<Stepped, ProjectionError> {
            let mut timings = Timings::start();
            let mut tx = $begin(pool).await?;
            let names: Vec<&str> = folds.iter().map(|f| f.name()).collect();
            let checkpoints = $claim(&mut *tx, &names).await?;
            timings.mark(|t| &mut t.claim);
            let Some(from) = checkpoints.iter().min().copied() else {
                return Ok(Stepped {
                    checkpoints,
                    applied: None,
                });
            };
            let events = match read_ahead {
                Some(batch) if batch.after == from => batch.events,
                _ => $read(&mut *tx, from, batch_size, decoder).await?,
            };
            timings.mark(|t| &mut t.read);
            let Some(last) = events.last().map(|e| e.position) else {
                tx.rollback().await?;
                return Ok(Stepped {
                    checkpoints,
                    applied: None,
                });
            };
            let mut moved = Vec::with_capacity(folds.len());
            let mut writes = Vec::with_capacity(folds.len());
            // Views sharing their documents ask for the same history: it is read once.
            let mut read: Option<(Position, Vec<String>, Vec<LoggedEvent>)> = None;
            for (fold, at) in folds.iter().zip(&checkpoints) {
                let after = &events[events.partition_point(|e| e.position <= *at)..];
                if after.is_empty() {
                    continue; // this projection is already past the batch
                }
                let missing = needing_history(*fold, *at, after);
                if !matches!(&read, Some((p, m, _)) if p == at && *m == missing) {
                    let history = $history(&mut *tx, *at, &missing, decoder).await?;
                    read = Some((*at, missing, history));
                }
                let history = read.as_ref().map_or(&[][..], |(_, _, h)| h.as_slice());
                timings.mark(|t| &mut t.history);
                writes.push((fold.tables(), fold.fold(*at, history, after)?));
                timings.mark(|t| &mut t.fold);
                moved.push(*fold);
            }
            let moved_names: Vec<&str> = moved.iter().map(|f| f.name()).collect();
            let advance = Advance {
                names: &moved_names,
                to: last,
            };
            projection::write(&mut *tx, &writes, advance).await?;
            timings.mark(|t| &mut t.write);
            // Crash tests kill the projector here, between applying a batch and committing it
            // (`FAILPOINTS=projector.before_commit=return`); compiled in only with the
            // `failpoints` feature.
            fail::fail_point!("projector.before_commit", |_| {
                eprintln!("failpoint projector.before_commit reached: aborting");
                std::process::abort()
            });
            tx.commit().await?;
            timings.mark(|t| &mut t.commit);
            timings.log(events.len(), moved.len());
            for fold in moved {
                fold.committed(last);
            }
            Ok(Stepped {
                checkpoints,
                applied: Some((last, events.len())),
            })
        }
    };
}

step_impl!(
    step_pg,
    sqlx::Postgres,
    begin_pg,
    claim_pg,
    log::read_pg,
    log::history_pg
);
step_impl!(
    step_sqlite,
    sqlx::Sqlite,
    begin_sqlite,
    claim_sqlite,
    log::read_sqlite,
    log::history_sqlite
);
