//! Executing one command: idempotent by client command id, retried on lost races, and
//! reporting the command's place in the global order.

use std::sync::Arc;
use std::time::Duration;

use photo_ledger_domain::metadata::EventMetadata;
use photo_ledger_domain::{Capture, CaptureCommand, CaptureEvent};
use photo_ledger_projections::Projector;
use photo_ledger_store::log::{self, Decoder, Position};
use photo_ledger_store::Db;
use postgres_es::PostgresEventRepository;
use serde::{Deserialize, Serialize};
use sqlite_es::SqliteEventRepository;

use super::error::LedgerError;
use super::journal::{AppendError, CommandKey, Journal, StoredOutcome, Tip};

#[derive(Clone, Debug)]
pub struct LedgerConfig {
    /// Attempts for a command that keeps losing optimistic-concurrency races.
    pub max_attempts: u32,
    /// How long a command waits for the projections it affects (read-your-writes).
    pub projection_wait: Duration,
    /// Commands in progress at once; the rest queue here. On PostgreSQL appends wait for a
    /// group commit, so more commands in flight make larger groups rather than more database
    /// sessions; the bound still leaves the projector its share of the machine under a burst.
    pub concurrent_commands: usize,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            projection_wait: Duration::from_secs(5),
            concurrent_commands: std::thread::available_parallelism().map_or(2, |n| n.get()) * 16,
        }
    }
}

/// A command, the capture it is for, and who sent it.
#[derive(Clone, Debug)]
pub struct CommandRequest {
    pub capture_id: String,
    pub command: CaptureCommand,
    pub metadata: EventMetadata,
}

/// What a command recorded. `replayed` is true when the command id had been seen before and
/// this is the first outcome again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutcome {
    pub capture_id: String,
    /// The capture's last sequence after the command.
    pub sequence: i64,
    /// Names of the events recorded (empty when the command was already satisfied).
    pub events: Vec<String>,
    #[serde(skip)]
    pub position: Option<Position>,
    #[serde(skip)]
    pub replayed: bool,
}

pub struct Ledger {
    db: Db,
    decoder: Arc<Decoder>,
    journal: Journal,
    admission: tokio::sync::Semaphore,
    projector: Projector,
    config: LedgerConfig,
}

impl Ledger {
    /// `decoder` reads the log, with the data keys its personal fields are sealed with.
    pub fn new(decoder: Arc<Decoder>, projector: Projector, config: LedgerConfig) -> Self {
        let db = decoder.db().clone();
        Self {
            journal: Journal::new(decoder.clone()),
            decoder,
            admission: tokio::sync::Semaphore::new(config.concurrent_commands.max(1)),
            db,
            projector,
            config,
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn projector(&self) -> &Projector {
        &self.projector
    }

    /// Closes the projector's connections, then the store's.
    pub async fn close(&self) {
        self.projector.close().await;
        self.db.close().await;
    }

    /// Reads the log: sealed personal fields opened, older schemas upcast.
    pub fn decoder(&self) -> &Arc<Decoder> {
        &self.decoder
    }

    /// Runs a command. A repeated command id returns the first outcome (success or refusal) and
    /// records nothing; a lost optimistic-concurrency race is decided again on fresh state.
    pub async fn execute(&self, request: CommandRequest) -> Result<CommandOutcome, LedgerError> {
        let key = CommandKey {
            capture_id: &request.capture_id,
            command_id: &request.metadata.command_id,
            command: request.command.name(),
        };
        let metadata =
            serde_json::to_string(&request.metadata.to_map()).expect("metadata serialises");
        for attempt in 0..self.config.max_attempts {
            if attempt > 0 {
                // Jittered backoff so racing writers spread out.
                let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 5;
                tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 2 + jitter)).await;
            }
            let _admitted = self
                .admission
                .acquire()
                .await
                .expect("the admission semaphore is never closed");
            // On a state held in memory, a command that records events is appended at once:
            // if other writers have moved the capture on, the append conflicts on the sequence
            // (or on the command id, for a repeat) and the next attempt loads. A refusal or a
            // no-op is final, so it is only decided on loaded state: a held state may be behind
            // another instance's writes.
            let held = self.journal.take_held(key.capture_id);
            let decided_on_held = held.as_ref().and_then(|(_, capture)| {
                capture
                    .decide(request.command.clone())
                    .ok()
                    .filter(|events| !events.is_empty())
            });
            let recorded = match (decided_on_held, held) {
                (Some(events), Some((tip, capture))) => {
                    self.record_events(&key, tip, capture, events, &metadata)
                        .await
                }
                (_, held) => {
                    let loaded = self
                        .journal
                        .load_after(key.capture_id, key.command_id, held)
                        .await?;
                    if let Some((previous, stored)) = loaded.previous {
                        return self.first_outcome(&key, previous, stored).await;
                    }
                    match loaded.capture.decide(request.command.clone()) {
                        Err(refusal) => {
                            let stored = StoredOutcome::Refused {
                                code: refusal.code().into(),
                                error: refusal.clone(),
                            };
                            match self.journal.record_outcome(&key, &stored).await {
                                Ok(()) => return Err(LedgerError::Refused(refusal)),
                                Err(e) => Err(e),
                            }
                        }
                        Ok(events) if events.is_empty() => {
                            // Already satisfied (a repeated payment notification, say): nothing
                            // to record but the outcome.
                            let stored = StoredOutcome::Recorded {
                                sequence: loaded.tip.sequence,
                                events: vec![],
                            };
                            self.journal
                                .record_outcome(&key, &stored)
                                .await
                                .map(|()| (loaded.tip.sequence, vec![], None))
                        }
                        Ok(events) => {
                            self.record_events(&key, loaded.tip, loaded.capture, events, &metadata)
                                .await
                        }
                    }
                }
            };
            match recorded {
                Ok((sequence, events, position)) => {
                    if position.is_some() {
                        self.projector.announce();
                    }
                    return Ok(CommandOutcome {
                        capture_id: request.capture_id.clone(),
                        sequence,
                        events,
                        position,
                        replayed: false,
                    });
                }
                Err(AppendError::Conflict) => {
                    tracing::debug!(
                        capture_id = key.capture_id,
                        attempt,
                        "lost a concurrent race; deciding again"
                    );
                }
                Err(AppendError::Store(e)) => return Err(e.into()),
                Err(AppendError::Key(e)) => return Err(LedgerError::Store(e)),
            }
        }
        Err(LedgerError::Contended(
            request.capture_id.clone(),
            self.config.max_attempts,
        ))
    }

    /// Appends the events a command decided on `capture` (at `tip`).
    async fn record_events(
        &self,
        key: &CommandKey<'_>,
        tip: Tip,
        capture: Capture,
        events: Vec<CaptureEvent>,
        metadata: &str,
    ) -> Result<(i64, Vec<String>, Option<Position>), AppendError> {
        let mut after = capture;
        for event in events.iter().cloned() {
            cqrs_es::Aggregate::apply(&mut after, event);
        }
        let position = self
            .journal
            .append(key, tip, &events, after, metadata)
            .await?;
        let names = events.iter().map(|e| e.name().to_string()).collect();
        Ok((tip.sequence + events.len() as i64, names, Some(position)))
    }

    /// Answers a repeated command id with what it did the first time.
    async fn first_outcome(
        &self,
        key: &CommandKey<'_>,
        previous: String,
        stored: StoredOutcome,
    ) -> Result<CommandOutcome, LedgerError> {
        if previous != key.command {
            return Err(LedgerError::CommandIdReused {
                command_id: key.command_id.to_string(),
                previous,
            });
        }
        match stored {
            StoredOutcome::Recorded { sequence, events } => Ok(CommandOutcome {
                capture_id: key.capture_id.to_string(),
                sequence,
                position: log::position_of(&self.db, key.capture_id, sequence).await?,
                events,
                replayed: true,
            }),
            StoredOutcome::Refused { error, .. } => Err(LedgerError::Refused(error)),
        }
    }

    /// Waits (bounded) until the named projections include this outcome.
    pub async fn wait_for_projections(
        &self,
        outcome: &CommandOutcome,
        names: &[&str],
    ) -> Result<(), LedgerError> {
        if let Some(position) = outcome.position {
            self.projector
                .wait_for(names, position, self.config.projection_wait)
                .await?;
        }
        Ok(())
    }

    /// A capture's history as stored, upcast to the current schema, its personal fields
    /// opened: for auditors.
    pub async fn history(
        &self,
        capture_id: &str,
    ) -> Result<Vec<cqrs_es::persist::SerializedEvent>, LedgerError> {
        use cqrs_es::persist::PersistedEventRepository;
        let events = match &self.db {
            Db::Postgres(pool) => {
                PostgresEventRepository::new(pool.clone())
                    .get_events::<Capture>(capture_id)
                    .await
            }
            Db::Sqlite(pool) => {
                SqliteEventRepository::new(pool.clone())
                    .get_events::<Capture>(capture_id)
                    .await
            }
        }
        .map_err(|e| LedgerError::Store(Box::new(e)))?;
        let mut events: Vec<_> = events
            .into_iter()
            .map(|e| log::upcast(e, self.decoder.upcasters()))
            .collect();
        // Personal fields opened with the capture's key; an erased capture's read as erased.
        let keys = self.decoder.keys();
        let opened = async {
            keys.load(events.iter().map(|e| &e.payload)).await?;
            for e in &mut events {
                keys.open_event(capture_id, &e.event_type, &mut e.payload)?;
            }
            Ok::<_, photo_ledger_store::StoreError>(())
        };
        opened.await.map_err(|e| LedgerError::Store(Box::new(e)))?;
        Ok(events)
    }

    /// Loads a capture's current state (snapshot plus the events after it) and its last
    /// sequence.
    pub async fn load(&self, capture_id: &str) -> Result<(Capture, i64), LedgerError> {
        let loaded = self.journal.load_stored(capture_id).await?;
        Ok((loaded.capture, loaded.tip.sequence))
    }
}
