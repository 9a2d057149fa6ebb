//! Catching up with the log, as `photo-ledger replay` does from its start when it rebuilds. A
//! step reads, folds, writes and commits one batch after the other, each waiting for the one
//! before. Catching up overlaps them instead, as a pipeline: a reader reads the batches ahead,
//! the folding takes them in turn, and a writer writes and commits the folded ones in order, so
//! the service's CPU and PostgreSQL's work at the same time. Each stage may run a batch or two
//! ahead of the next, so a stage's slow batch holds the others up only once the queue before it
//! is full.
//!
//! A batch is folded before it is written, from the checkpoints the batch before it reached.
//! Its write then checks that the checkpoints are still those (another runner may have moved
//! them, or a reset): on PostgreSQL the statement that writes it checks them, on SQLite its
//! transaction claims them first. If they moved, it writes nothing and steps take over. The
//! folds keep the batch's documents and rows as soon as it is folded, so the next batch can be
//! folded from them while it is written. Should it never commit, the next batch finds another
//! checkpoint than the one the rows were kept at, and the folds drop them; the documents stay,
//! since what a document holds depends only on the log (see [`crate::projection::Fold`]).

use std::time::Duration;

use photo_ledger_store::log::{self, LoggedEvent, Position};
use photo_ledger_store::Db;
use tokio::sync::mpsc;
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

    /// Applies the batches there are to read now, each folded while the next ones are read and
    /// the ones before are written. Stops at the first empty read, or when another runner moved a
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
        let (mut batches, reader) = self.read_ahead(from);
        let (to_write, mut written, writer) = self.write_ahead();
        let mut total = 0u64;
        // Records a written batch's progress; for one that wrote nothing or failed, why the
        // catching up stops (the writer sends nothing after it).
        let mut take = |done: Written| match done {
            Ok(Some(reach)) => {
                self.record(&runners, &reach.from, Some(reach.last));
                on_batch(reach.events);
                total += reach.events as u64;
                None
            }
            Ok(None) => Some(Ok(())),
            Err(e) => Some(Err(e)),
        };
        let stopped = loop {
            let batch = match batches.recv().await {
                Some(Ok(batch)) if !batch.events.is_empty() => batch,
                Some(Err(e)) => break Err(e),
                // The log is read to its end, or the reader panicked (the panic goes on below).
                Some(Ok(_)) | None => break Ok(()),
            };
            let ahead = match self.fold_ahead(&runners, &at, batch).await {
                Ok(ahead) => ahead,
                // Steps take over, and read the histories they need afresh.
                Err(ProjectionError::DocumentsMoved) => break Ok(()),
                Err(e) => break Err(e),
            };
            at = ahead.reach.reached();
            // The progress of the batches written meanwhile is recorded as the loop goes.
            let mut written_meanwhile = std::iter::from_fn(|| written.try_recv().ok());
            if let Some(stop) = written_meanwhile.find_map(&mut take) {
                break stop;
            }
            // Waits while the writer has a batch queued besides the one it writes. It stops
            // at a batch it could not write, and then drops the rest.
            if to_write.send(ahead).await.is_err() {
                break Ok(());
            }
        };
        stop_reading(reader).await;
        // However the loop ended, the batches queued for writing are written (or dropped after
        // one that could not be), and their progress recorded.
        drop(to_write);
        let mut rest = Ok(());
        while let Some(done) = written.recv().await {
            if let Some(stop) = take(done) {
                rest = stop;
            }
        }
        let writer = ended(writer).await;
        stopped.and(rest).and(writer).map(|()| total)
    }

    /// Reads the batches from `after` on in the background, each on a connection of the
    /// batches' pool, until one comes back empty or fails (sent like the others). [`READ_AHEAD`]
    /// batches wait for the folding, and one more waits to join them. Events below the commit
    /// horizon are final, so a batch read outside the applying transaction is the batch that
    /// transaction would read.
    fn read_ahead(
        &self,
        mut after: Position,
    ) -> (
        mpsc::Receiver<Result<ReadAhead, ProjectionError>>,
        JoinHandle<()>,
    ) {
        let this = self.clone();
        let (send, batches) = mpsc::channel(READ_AHEAD);
        let reader = tokio::spawn(async move {
            loop {
                let read = this.read_batch(after).await;
                let next = read.as_ref().ok().and_then(ReadAhead::last);
                if send.send(read).await.is_err() {
                    return;
                }
                match next {
                    Some(last) => after = last,
                    None => return,
                }
            }
        });
        (batches, reader)
    }

    /// Reads the batch after `after`.
    async fn read_batch(&self, after: Position) -> Result<ReadAhead, ProjectionError> {
        let (inner, limit) = (&self.inner, self.inner.config.batch_size);
        let mut timings = Timings::start();
        let events = match &inner.batches {
            Db::Postgres(pool) => {
                log::read_pg(&mut *pool.acquire().await?, after, limit, &inner.decoder).await?
            }
            Db::Sqlite(pool) => {
                log::read_sqlite(&mut *pool.acquire().await?, after, limit, &inner.decoder).await?
            }
        };
        timings.mark(|t| &mut t.read);
        Ok(ReadAhead {
            after,
            events,
            timings,
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

    /// Writes folded batches in the background, one after the other in the order they are
    /// sent, each if its checkpoints are still the ones it was folded from. One more batch waits
    /// while one is written: the folding goes on meanwhile. Sends back what each batch reached,
    /// or `None` for one whose checkpoints had moved and which wrote nothing; it stops there, or
    /// at an error, and drops the batches after it.
    fn write_ahead(
        &self,
    ) -> (
        mpsc::Sender<Ahead>,
        mpsc::UnboundedReceiver<Written>,
        JoinHandle<()>,
    ) {
        let db = self.inner.batches.clone();
        let (to_write, mut queued) = mpsc::channel::<Ahead>(1);
        let (send, written) = mpsc::unbounded_channel();
        let writer = tokio::spawn(async move {
            while let Some(ahead) = queued.recv().await {
                let result = write_batch(&db, ahead).await;
                let wrote = matches!(result, Ok(Some(_)));
                if send.send(result).is_err() || !wrote {
                    break;
                }
            }
        });
        (to_write, written, writer)
    }
}

/// Writes and commits a folded batch, if its checkpoints are still the ones it was folded from;
/// `None` when they were not, and nothing was written.
async fn write_batch(db: &Db, ahead: Ahead) -> Written {
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
    let written = match db {
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
            claimed == reach.from && write_and_commit(tx, &writes, advance, &mut timings).await?
        }
    };
    if !written {
        return Ok(None);
    }
    timings.log(reach.events, moved.len());
    Ok(Some(reach))
}

/// Batches read ahead and waiting for the folding, besides the one being read.
const READ_AHEAD: usize = 2;

/// What the writer sends back for each batch: what it reached, or `None` when its checkpoints
/// had moved and it wrote nothing.
type Written = Result<Option<Reach>, ProjectionError>;

/// Stops the reader; a panic in it goes on in the caller.
async fn stop_reading(reader: JoinHandle<()>) {
    reader.abort();
    // Cancelled is how an aborted reader ends.
    let _ = ended(reader).await;
}

/// Waits for the reader or the writer to end; a panic in it goes on in the caller.
async fn ended(task: JoinHandle<()>) -> Result<(), ProjectionError> {
    match task.await {
        Ok(()) => Ok(()),
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(_) => Err(ProjectionError::BatchCancelled),
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
