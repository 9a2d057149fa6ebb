//! One batch: read the events after the projections' checkpoints, fold them, rewrite the views'
//! rows and advance the checkpoints, committed together: on PostgreSQL by one statement that
//! checks the checkpoints did not move, or, after such a miss and always on SQLite, in a
//! transaction that claims them first. Catching up (`catch_up.rs`) does the same parts in
//! another order.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use photo_ledger_store::log::{self, Decoder, LoggedEvent, Position};
use photo_ledger_store::Db;

use super::sql::{claim_pg, claim_sqlite, ReadHistory};
use super::{raise, Projector, Runner};
use crate::error::ProjectionError;
use crate::projection::{self, Advance, Fold, Folded, Table, WriteTables};

impl Projector {
    /// Applies at most one batch of events to the named projections together: the events are
    /// read once, from the earliest of their checkpoints, and each projection applies those
    /// after its own checkpoint, all at once. Returns how many events it read.
    ///
    /// On PostgreSQL the batch starts from the checkpoints this process last saw and is written
    /// by one statement that checks they are still there; only if another runner moved them is
    /// the batch claimed and applied again from the stored checkpoints.
    pub async fn step(&self, names: &[&str]) -> Result<usize, ProjectionError> {
        self.step_from(names, Start::Seen).await
    }

    /// [`Projector::step`] from where `start` says the projections are.
    pub(super) async fn step_from(
        &self,
        names: &[&str],
        start: Start,
    ) -> Result<usize, ProjectionError> {
        let _folding = self.inner.folding.lock().await;
        let runners = self.runners_of(names)?;
        let folds: Vec<&dyn Fold> = runners.iter().map(|r| r.fold.as_ref()).collect();
        let (config, decoder) = (&self.inner.config, &*self.inner.decoder);
        let Stepped {
            checkpoints,
            applied,
        } = loop {
            let attempt = match (&self.inner.batches, start) {
                (Db::Postgres(pool), Start::Seen) => {
                    let seen: Vec<Position> =
                        runners.iter().map(|r| *r.progress.borrow()).collect();
                    match step_seen_pg(pool, &folds, &seen, config.batch_size, decoder).await {
                        Ok(None) => step_pg(pool, &folds, config.batch_size, decoder).await,
                        attempt => attempt,
                    }
                }
                (Db::Postgres(pool), Start::Stored) => {
                    step_pg(pool, &folds, config.batch_size, decoder).await
                }
                (Db::Sqlite(pool), _) => {
                    step_sqlite(pool, &folds, config.batch_size, decoder).await
                }
            };
            match attempt {
                Ok(Some(stepped)) => break stepped,
                // Another runner moved the checkpoints, or the documents the views share,
                // between this batch reading and writing: nothing was written, and the batch
                // is applied again from where they are now.
                Ok(None) | Err(ProjectionError::DocumentsMoved) => continue,
                Err(e) => return Err(e),
            }
        };
        self.record(&runners, &checkpoints, applied.map(|(last, _)| last));
        Ok(applied.map_or(0, |(_, n)| n))
    }

    /// The runners of the named projections, in name order (the order their batch locks are
    /// always taken in, so concurrent steps cannot deadlock), each once.
    pub(super) fn runners_of(&self, names: &[&str]) -> Result<Vec<&Runner>, ProjectionError> {
        let mut runners = names
            .iter()
            .map(|name| self.runner(name))
            .collect::<Result<Vec<_>, _>>()?;
        runners.sort_by_key(|r| r.fold.name());
        runners.dedup_by_key(|r| r.fold.name());
        Ok(runners)
    }

    /// Each projection has reached what a batch applied (up to `applied`) or, if that is less,
    /// the checkpoint it was found at: another process may have applied the events first (on
    /// SQLite every process runs the projections), and its commands wait on this progress.
    pub(super) fn record(
        &self,
        runners: &[&Runner],
        checkpoints: &[Position],
        applied: Option<Position>,
    ) {
        let mut advanced = false;
        for (runner, at) in runners.iter().zip(checkpoints) {
            let reached = applied.map_or(*at, |last| last.max(*at));
            advanced |= runner.progress.send_if_modified(|p| raise(p, reached));
        }
        if advanced {
            self.inner.tick.send_modify(|t| *t += 1);
        }
    }
}

/// Where a batch takes the projections' checkpoints from.
#[derive(Clone, Copy, Debug)]
pub(super) enum Start {
    /// Where this process last saw them: right unless another process moved them, which the
    /// batch's write finds out (on SQLite, where batches always claim, the same as `Stored`).
    Seen,
    /// Claimed from the database, which also finds them moved back by another process's reset
    /// while there is nothing new to read.
    Stored,
}

/// What one batch found and did.
struct Stepped {
    /// The checkpoints of the projections, in name order, the batch started from: claimed, or
    /// as this process saw them.
    checkpoints: Vec<Position>,
    /// The position of the last event applied and how many events were read, if any were.
    applied: Option<(Position, usize)>,
}

/// The captures of `events` that had events before them, each once: a capture whose first event
/// here is its first event ever has no history to read.
fn continuing(events: &[LoggedEvent]) -> Vec<&str> {
    let mut seen = HashSet::new();
    events
        .iter()
        .filter(|e| seen.insert(e.capture_id.as_str()) && e.sequence != 1)
        .map(|e| e.capture_id.as_str())
        .collect()
}

/// Where a batch's time went, logged at debug level (`photo_ledger_projections=debug`): the
/// commit-to-view lag every command waits for is made of these.
pub(super) struct Timings {
    last: Instant,
    pub(super) claim: Duration,
    pub(super) read: Duration,
    history: Duration,
    fold: Duration,
    write: Duration,
    commit: Duration,
}

impl Timings {
    pub(super) fn start() -> Self {
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

    /// Goes on from now: the time since the last mark (a batch waiting for its turn between
    /// tasks) counts in no phase.
    pub(super) fn resume(&mut self) {
        self.last = Instant::now();
    }

    /// Adds the time since the last mark to `phase`.
    pub(super) fn mark(&mut self, phase: fn(&mut Self) -> &mut Duration) {
        let now = Instant::now();
        let since = now - std::mem::replace(&mut self.last, now);
        *phase(self) += since;
    }

    pub(super) fn log(&self, events: usize, projections: usize) {
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

/// The views' changes of a batch, folded from its events.
pub(super) struct FoldedBatch<'a> {
    /// Each moved projection's tables and its changes to them.
    pub(super) writes: Vec<(&'static [Table], Vec<Folded>)>,
    /// The projections the batch moves: those not already past its end.
    pub(super) moved: Vec<&'a dyn Fold>,
}

impl FoldedBatch<'_> {
    pub(super) fn moved_names(&self) -> Vec<&'static str> {
        self.moved.iter().map(|f| f.name()).collect()
    }

    /// Tells the moved projections the batch ending at `last` was committed.
    pub(super) fn committed(&self, last: Position) {
        for fold in &self.moved {
            fold.committed(last);
        }
    }
}

/// Folds `events` into each projection's changes from its checkpoint (`checkpoints`, in the
/// order of `folds`), reading on `conn` the history of captures whose documents are not kept.
pub(super) async fn fold_batch<'a, C: ReadHistory>(
    conn: &mut C,
    folds: &[&'a dyn Fold],
    checkpoints: &[Position],
    events: &[LoggedEvent],
    decoder: &Decoder,
    timings: &mut Timings,
) -> Result<FoldedBatch<'a>, ProjectionError> {
    let mut folded = FoldedBatch {
        writes: Vec::with_capacity(folds.len()),
        moved: Vec::with_capacity(folds.len()),
    };
    // Views sharing their documents ask for the same history: it is read once. The captures
    // continuing from before the batch depend only on where it starts: found once per start.
    let mut read: Option<(Position, Vec<String>, Vec<LoggedEvent>)> = None;
    let mut continued: Option<(Position, Vec<&str>)> = None;
    for (fold, at) in folds.iter().zip(checkpoints) {
        let after = &events[events.partition_point(|e| e.position <= *at)..];
        if after.is_empty() {
            continue; // this projection is already past the batch
        }
        let captures = match &mut continued {
            Some((from, captures)) if from == at => captures,
            slot => &mut slot.insert((*at, continuing(after))).1,
        };
        // Of those, the captures whose documents the fold does not hold.
        let missing = fold.missing(*at, captures);
        if !matches!(&read, Some((p, m, _)) if p == at && *m == missing) {
            let history = conn.history(*at, &missing, decoder).await?;
            read = Some((*at, missing, history));
        }
        let history = read.as_ref().map_or(&[][..], |(_, _, h)| h.as_slice());
        timings.mark(|t| &mut t.history);
        folded
            .writes
            .push((fold.tables(), fold.fold(*at, history, after)?));
        timings.mark(|t| &mut t.fold);
        folded.moved.push(*fold);
    }
    Ok(folded)
}

/// Writes a batch's changes and the checkpoints' advance in `tx`, and commits. Returns whether
/// it did: nothing is written when the checkpoints are no longer those in `advance`.
pub(super) async fn write_and_commit<DB>(
    mut tx: sqlx::Transaction<'_, DB>,
    writes: &[(&'static [Table], Vec<Folded>)],
    advance: Advance<'_>,
    timings: &mut Timings,
) -> Result<bool, ProjectionError>
where
    DB: sqlx::Database,
    DB::Connection: WriteTables,
{
    if !projection::write(&mut *tx, writes, advance).await? {
        return Ok(false);
    }
    timings.mark(|t| &mut t.write);
    before_commit();
    tx.commit().await?;
    timings.mark(|t| &mut t.commit);
    Ok(true)
}

/// Crash tests kill the projector here, between applying a batch and committing it
/// (`FAILPOINTS=projector.before_commit=return`); compiled in only with the `failpoints`
/// feature.
fn before_commit() {
    fail::fail_point!("projector.before_commit", |_| {
        eprintln!("failpoint projector.before_commit reached: aborting");
        std::process::abort()
    });
}

/// Writes a batch's changes and the checkpoints' advance on PostgreSQL by one statement outside
/// any transaction, which commits itself (see `WriteTables`). Returns whether it did: nothing
/// is written when the checkpoints are no longer those in `advance`.
pub(super) async fn write_alone(
    conn: &mut sqlx::PgConnection,
    writes: &[(&'static [Table], Vec<Folded>)],
    advance: Advance<'_>,
    timings: &mut Timings,
) -> Result<bool, ProjectionError> {
    // The statement is its own commit: a crash before it is a crash before the commit.
    before_commit();
    let written = projection::write(conn, writes, advance).await?;
    timings.mark(|t| &mut t.write);
    Ok(written)
}

/// A batch on PostgreSQL from the checkpoints this process last saw (`seen`, in the order of
/// `folds`), in two round trips with no transaction around them: the events are read (they are
/// below the commit horizon, so final), folded, and written with the checkpoints' advance by one
/// statement that commits itself, and only if the checkpoints are still `seen`. `None` when
/// they were not, and nothing was written.
async fn step_seen_pg(
    pool: &sqlx::PgPool,
    folds: &[&dyn Fold],
    seen: &[Position],
    batch_size: i64,
    decoder: &Decoder,
) -> Result<Option<Stepped>, ProjectionError> {
    let mut timings = Timings::start();
    let nothing = || Stepped {
        checkpoints: seen.to_vec(),
        applied: None,
    };
    let mut conn = pool.acquire().await?;
    timings.mark(|t| &mut t.claim);
    let Some(from) = seen.iter().min().copied() else {
        return Ok(Some(nothing()));
    };
    let events = log::read_pg(&mut conn, from, batch_size, decoder).await?;
    timings.mark(|t| &mut t.read);
    let Some(last) = events.last().map(|e| e.position) else {
        return Ok(Some(nothing()));
    };
    let folded = fold_batch(&mut *conn, folds, seen, &events, decoder, &mut timings).await?;
    let names: Vec<&str> = folds.iter().map(|f| f.name()).collect();
    let advance = Advance {
        names: &folded.moved_names(),
        to: last,
        folded: &names,
        from: seen,
    };
    if !write_alone(&mut conn, &folded.writes, advance, &mut timings).await? {
        return Ok(None);
    }
    timings.log(events.len(), folded.moved.len());
    folded.committed(last);
    Ok(Some(Stepped {
        checkpoints: seen.to_vec(),
        applied: Some((last, events.len())),
    }))
}

macro_rules! step_impl {
    ($name:ident, $db:ty, $claim:path, $read:path) => {
        /// A batch claimed: its transaction takes the batch locks and reads the checkpoints
        /// before it reads the events. `None` when another runner that does not claim moved
        /// the checkpoints meanwhile, and nothing was written.
        async fn $name(
            pool: &sqlx::Pool<$db>,
            folds: &[&dyn Fold],
            batch_size: i64,
            decoder: &Decoder,
        ) -> Result<Option<Stepped>, ProjectionError> {
            let mut timings = Timings::start();
            let mut tx = pool.begin().await?;
            let names: Vec<&str> = folds.iter().map(|f| f.name()).collect();
            let checkpoints = $claim(&mut *tx, &names).await?;
            timings.mark(|t| &mut t.claim);
            let Some(from) = checkpoints.iter().min().copied() else {
                return Ok(Some(Stepped {
                    checkpoints,
                    applied: None,
                }));
            };
            let events = $read(&mut *tx, from, batch_size, decoder).await?;
            timings.mark(|t| &mut t.read);
            let Some(last) = events.last().map(|e| e.position) else {
                tx.rollback().await?;
                return Ok(Some(Stepped {
                    checkpoints,
                    applied: None,
                }));
            };
            let folded = fold_batch(
                &mut *tx,
                folds,
                &checkpoints,
                &events,
                decoder,
                &mut timings,
            )
            .await?;
            let advance = Advance {
                names: &folded.moved_names(),
                to: last,
                folded: &names,
                from: &checkpoints,
            };
            if !write_and_commit(tx, &folded.writes, advance, &mut timings).await? {
                return Ok(None);
            }
            timings.log(events.len(), folded.moved.len());
            folded.committed(last);
            Ok(Some(Stepped {
                checkpoints,
                applied: Some((last, events.len())),
            }))
        }
    };
}

step_impl!(step_pg, sqlx::Postgres, claim_pg, log::read_pg);
step_impl!(step_sqlite, sqlx::Sqlite, claim_sqlite, log::read_sqlite);
