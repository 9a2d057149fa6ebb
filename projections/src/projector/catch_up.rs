//! Catching up with the log, as `photo-ledger replay` does from its start when it rebuilds. A
//! step reads, folds, writes and commits one batch after the other, each waiting for the one
//! before. Catching up overlaps them instead: while a batch is folded, the next is
//! read and the one before is written and committed, so the service's CPU and PostgreSQL's work
//! at the same time.
//!
//! A batch is folded before it is written, from the checkpoints the batch before it reached.
//! Its write then checks that the checkpoints are still those (another runner may have moved
//! them, or a reset): on PostgreSQL the statement that writes it checks them, on SQLite its
//! transaction claims them first. If they moved, it writes nothing and steps take over. The
//! folds keep the batch's documents and rows as soon as it is folded, so the next batch can be
//! folded from them while it is written. Should it never commit, the next batch finds another
//! checkpoint than the one they were kept at, and the folds drop them (see
//! [`crate::projection::Fold`]).

use std::time::Duration;

use photo_ledger_store::log::{self, LoggedEvent, Position};
use photo_ledger_store::Db;
use tokio::task::JoinHandle;

use super::sql::claim_sqlite;
use super::step::{fold_batch, write_alone, write_and_commit, Start, Timings};
use super::{Projector, Runner};
use crate::error::ProjectionError;
use crate::projection::{Advance, Fold, Folded, Table};

impl Projector {
    /// Applies batches until the named projections have consumed every event committed before
    /// this call (on PostgreSQL, waiting for the commit horizon to pass them). Returns the number
    /// of events read; `on_batch` sees each batch's size.
    pub async fn catch_up(
        &self,
        names: &[&str],
        mut on_batch: impl FnMut(usize),
    ) -> Result<u64, ProjectionError> {
        let target = log::head(&self.inner.db).await?;
        let mut total = self.apply_ahead(names, &mut on_batch).await?;
        // What is left (events behind the commit horizon, or checkpoints another runner moved)
        // goes a step at a time, each from the stored checkpoints: a rebuild must not take a
        // reset for progress this process saw before it.
        loop {
            let n = self.step_from(names, Start::Stored).await?;
            total += n as u64;
            if n > 0 {
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

    /// Applies the batches there are to read now, each folded while the next is read and the
    /// one before is written. Stops at the first empty read, or when another runner moved a
    /// batch's checkpoints or the documents it was folding from. Returns the number of events
    /// applied.
    async fn apply_ahead(
        &self,
        names: &[&str],
        on_batch: &mut impl FnMut(usize),
    ) -> Result<u64, ProjectionError> {
        let _folding = self.inner.folding.lock().await;
        let runners = self.runners_of(names)?;
        let stored = self.checkpoints().await?;
        let mut at = runners
            .iter()
            .map(|r| {
                let name = r.fold.name();
                stored
                    .get(name)
                    .copied()
                    .ok_or_else(|| ProjectionError::UnknownProjection(name.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let Some(from) = at.iter().min().copied() else {
            return Ok(0);
        };
        let mut reading = Some(self.read_ahead(from));
        let mut writing = None;
        let mut total = 0u64;
        let stopped = loop {
            let Some(read) = reading.take() else {
                break Ok(());
            };
            let batch = match joined(read).await {
                Ok(batch) => batch,
                Err(e) => break Err(e),
            };
            let Some(last) = batch.last() else {
                break Ok(());
            };
            reading = Some(self.read_ahead(last));
            let ahead = match self.fold_ahead(&runners, &at, batch).await {
                Ok(ahead) => ahead,
                // Steps take over, and read the histories they need afresh.
                Err(ProjectionError::DocumentsMoved) => break Ok(()),
                Err(e) => break Err(e),
            };
            if let Some(previous) = writing.take() {
                match self.written(&runners, previous).await {
                    Ok(Some(n)) => {
                        total += n as u64;
                        on_batch(n);
                    }
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            }
            at = ahead.reach.reached();
            writing = Some(self.write_ahead(ahead));
        };
        if let Some(read) = reading {
            read.abort();
        }
        // However the loop ended, the batch being written is waited for.
        if let Some(last) = writing {
            if let Some(n) = self.written(&runners, last).await? {
                total += n as u64;
                on_batch(n);
            }
        }
        stopped.map(|()| total)
    }

    /// Reads the batch after `after` in the background, on its own connection. Events below
    /// the commit horizon are final, so a batch read outside the applying transaction is the
    /// batch that transaction would read.
    fn read_ahead(&self, after: Position) -> JoinHandle<Result<ReadAhead, ProjectionError>> {
        let this = self.clone();
        tokio::spawn(async move {
            let (inner, limit) = (&this.inner, this.inner.config.batch_size);
            let mut timings = Timings::start();
            let events = match &inner.batches {
                Db::Postgres(pool) => {
                    log::read_pg(&mut *pool.acquire().await?, after, limit, &inner.decoder).await?
                }
                Db::Sqlite(pool) => {
                    log::read_sqlite(&mut *pool.acquire().await?, after, limit, &inner.decoder)
                        .await?
                }
            };
            timings.mark(|t| &mut t.read);
            Ok(ReadAhead {
                after,
                events,
                timings,
            })
        })
    }

    /// Folds a batch read ahead from the checkpoints `at` (of `runners`, in their order), and
    /// keeps what it folded as if it were committed.
    async fn fold_ahead(
        &self,
        runners: &[&Runner],
        at: &[Position],
        batch: ReadAhead,
    ) -> Result<Ahead, ProjectionError> {
        let folds: Vec<&dyn Fold> = runners.iter().map(|r| r.fold.as_ref()).collect();
        let decoder = &*self.inner.decoder;
        let ReadAhead {
            after,
            events,
            mut timings,
        } = batch;
        timings.resume();
        let folded = match &self.inner.batches {
            Db::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                fold_batch(&mut *conn, &folds, at, &events, decoder, &mut timings).await?
            }
            Db::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                fold_batch(&mut *conn, &folds, at, &events, decoder, &mut timings).await?
            }
        };
        let last = events.last().map_or(after, |e| e.position);
        // The next batch is folded from here while this one is written.
        folded.committed(last);
        Ok(Ahead {
            names: folds.iter().map(|f| f.name()).collect(),
            moved: folded.moved_names(),
            writes: folded.writes,
            reach: Reach {
                from: at.to_vec(),
                last,
                events: events.len(),
            },
            timings,
        })
    }

    /// Writes and commits a folded batch in the background, if its checkpoints are still the
    /// ones it was folded from; `None` when they were not, and nothing was written.
    fn write_ahead(&self, ahead: Ahead) -> JoinHandle<Result<Option<Reach>, ProjectionError>> {
        let db = self.inner.batches.clone();
        tokio::spawn(async move {
            let Ahead {
                names,
                moved,
                writes,
                reach,
                mut timings,
            } = ahead;
            timings.resume();
            let advance = Advance {
                names: &moved,
                to: reach.last,
                folded: &names,
                from: &reach.from,
            };
            let written = match &db {
                // One statement checks the checkpoints, writes and commits.
                Db::Postgres(pool) => {
                    let mut conn = pool.acquire().await?;
                    timings.mark(|t| &mut t.claim);
                    write_alone(&mut conn, &writes, advance, &mut timings).await?
                }
                Db::Sqlite(pool) => {
                    let mut tx = pool.begin().await?;
                    let claimed = claim_sqlite(&mut tx, &names).await?;
                    timings.mark(|t| &mut t.claim);
                    claimed == reach.from
                        && write_and_commit(tx, &writes, advance, &mut timings).await?
                }
            };
            if !written {
                return Ok(None);
            }
            timings.log(reach.events, moved.len());
            Ok(Some(reach))
        })
    }

    /// Waits for a batch written ahead and records the progress it made: the number of events
    /// it applied, or `None` when its checkpoints had moved.
    async fn written(
        &self,
        runners: &[&Runner],
        writing: JoinHandle<Result<Option<Reach>, ProjectionError>>,
    ) -> Result<Option<usize>, ProjectionError> {
        let Some(reach) = joined(writing).await? else {
            return Ok(None);
        };
        self.record(runners, &reach.from, Some(reach.last));
        Ok(Some(reach.events))
    }
}

/// A batch read ahead of the write that applies it.
struct ReadAhead {
    after: Position,
    events: Vec<LoggedEvent>,
    /// Where the batch's time went, carried through its folding and writing.
    timings: Timings,
}

impl ReadAhead {
    fn last(&self) -> Option<Position> {
        self.events.last().map(|e| e.position)
    }
}

/// What a task reading or writing a batch ahead returned; its panic goes on in the caller.
async fn joined<T>(task: JoinHandle<Result<T, ProjectionError>>) -> Result<T, ProjectionError> {
    match task.await {
        Ok(result) => result,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(_) => Err(ProjectionError::BatchCancelled),
    }
}

/// A batch folded ahead of the transaction that writes it.
struct Ahead {
    /// Every projection caught up, in name order.
    names: Vec<&'static str>,
    /// The projections the batch moves (those not already past its end), and their changes.
    moved: Vec<&'static str>,
    writes: Vec<(&'static [Table], Vec<Folded>)>,
    reach: Reach,
    timings: Timings,
}

/// Where a batch takes the projections it catches up.
struct Reach {
    /// The checkpoint of each projection (in name order) the batch was folded from.
    from: Vec<Position>,
    /// The batch's last event, and how many it has.
    last: Position,
    events: usize,
}

impl Reach {
    /// The checkpoints once the batch is committed, in name order.
    fn reached(&self) -> Vec<Position> {
        self.from.iter().map(|at| (*at).max(self.last)).collect()
    }
}
