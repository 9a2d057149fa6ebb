//! Executing one command: idempotent by client command id, retried on lost races, and
//! reporting the command's place in the global order.

use std::time::Duration;

use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{AggregateError, EventStore};
use photo_ledger_domain::metadata::EventMetadata;
use photo_ledger_domain::upcasters::capture_upcasters;
use photo_ledger_domain::{Capture, CaptureCommand, CaptureError};
use photo_ledger_projections::log::{self, Position};
use photo_ledger_projections::{on_db, Db, Projector};
use postgres_es::PostgresEventRepository;
use serde::{Deserialize, Serialize};
use sqlite_es::SqliteEventRepository;
use sqlx::types::Json;

use super::error::LedgerError;
use super::repository::{SnapshotRepository, SNAPSHOT_EVERY};

type Store<R> = PersistedEventStore<SnapshotRepository<R>, Capture>;

enum CaptureStore {
    Postgres(Store<PostgresEventRepository>),
    Sqlite(Store<SqliteEventRepository>),
}

#[derive(Clone, Debug)]
pub struct LedgerConfig {
    /// Attempts for a command that keeps losing optimistic-concurrency races.
    pub max_attempts: u32,
    /// How long a command waits for the projections it affects (read-your-writes).
    pub projection_wait: Duration,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            projection_wait: Duration::from_secs(5),
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

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredOutcome {
    Recorded { sequence: i64, events: Vec<String> },
    Refused { code: String, error: CaptureError },
}

pub struct Ledger {
    db: Db,
    store: CaptureStore,
    projector: Projector,
    config: LedgerConfig,
}

impl Ledger {
    pub fn new(db: Db, projector: Projector, config: LedgerConfig) -> Self {
        let store = match &db {
            Db::Postgres(pool) => CaptureStore::Postgres(
                PersistedEventStore::new_snapshot_store(
                    SnapshotRepository::new(PostgresEventRepository::new(pool.clone()), db.clone()),
                    SNAPSHOT_EVERY,
                )
                .with_upcasters(capture_upcasters()),
            ),
            Db::Sqlite(pool) => CaptureStore::Sqlite(
                PersistedEventStore::new_snapshot_store(
                    SnapshotRepository::new(SqliteEventRepository::new(pool.clone()), db.clone()),
                    SNAPSHOT_EVERY,
                )
                .with_upcasters(capture_upcasters()),
            ),
        };
        Self {
            db,
            store,
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

    /// Runs a command. A repeated command id returns the first outcome (success or refusal) and
    /// records nothing; a lost optimistic-concurrency race is decided again on fresh state.
    pub async fn execute(&self, request: CommandRequest) -> Result<CommandOutcome, LedgerError> {
        let capture_id = request.capture_id.as_str();
        let command_id = request.metadata.command_id.as_str();
        let command_name = request.command.name();
        if let Some(outcome) = self
            .first_outcome(capture_id, command_id, command_name)
            .await?
        {
            return outcome;
        }
        for attempt in 0..self.config.max_attempts {
            if attempt > 0 {
                // Jittered backoff so racing writers spread out.
                let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 5;
                tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 2 + jitter)).await;
            }
            if let Some(sequence) = self.recorded_by(capture_id, command_id).await? {
                // An earlier attempt of this command committed but its outcome was not stored
                // (a crash, or a concurrent duplicate that won the race).
                let outcome = CommandOutcome {
                    capture_id: capture_id.to_string(),
                    sequence,
                    events: vec![],
                    position: None,
                    replayed: true,
                };
                return self
                    .finish(
                        request,
                        outcome,
                        StoredOutcome::Recorded {
                            sequence,
                            events: vec![],
                        },
                    )
                    .await;
            }
            let decided = match &self.store {
                CaptureStore::Postgres(store) => decide_and_commit(store, &request).await,
                CaptureStore::Sqlite(store) => decide_and_commit(store, &request).await,
            };
            match decided {
                Ok((sequence, events)) => {
                    let stored = StoredOutcome::Recorded {
                        sequence,
                        events: events.clone(),
                    };
                    let outcome = CommandOutcome {
                        capture_id: capture_id.to_string(),
                        sequence,
                        events,
                        position: None,
                        replayed: false,
                    };
                    return self.finish(request, outcome, stored).await;
                }
                Err(AggregateError::UserError(refusal)) => {
                    self.store_outcome(
                        &request,
                        &StoredOutcome::Refused {
                            code: refusal.code().into(),
                            error: refusal.clone(),
                        },
                    )
                    .await?;
                    return Err(LedgerError::Refused(refusal));
                }
                Err(AggregateError::AggregateConflict) => {
                    tracing::debug!(
                        capture_id,
                        attempt,
                        "lost a concurrent race; deciding again"
                    );
                    continue;
                }
                Err(other) => return Err(LedgerError::Store(other.to_string())),
            }
        }
        Err(LedgerError::Contended(
            capture_id.to_string(),
            self.config.max_attempts,
        ))
    }

    async fn finish(
        &self,
        request: CommandRequest,
        mut outcome: CommandOutcome,
        stored: StoredOutcome,
    ) -> Result<CommandOutcome, LedgerError> {
        self.store_outcome(&request, &stored).await?;
        if !outcome.events.is_empty() || outcome.replayed {
            self.projector.wake();
        }
        outcome.position =
            log::position_of(&self.db, &outcome.capture_id, outcome.sequence).await?;
        Ok(outcome)
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

    async fn first_outcome(
        &self,
        capture_id: &str,
        command_id: &str,
        command: &str,
    ) -> Result<Option<Result<CommandOutcome, LedgerError>>, LedgerError> {
        let row: Option<(String, Json<StoredOutcome>)> = on_db!(&self.db, pool => sqlx::query_as(
            "SELECT command, outcome FROM command_outcomes WHERE aggregate_id = $1 AND command_id = $2")
            .bind(capture_id)
            .bind(command_id)
            .fetch_optional(pool)
            .await)
        .map_err(|e| LedgerError::Store(e.to_string()))?;
        let Some((previous, Json(stored))) = row else {
            return Ok(None);
        };
        if previous != command {
            return Ok(Some(Err(LedgerError::CommandIdReused {
                command_id: command_id.to_string(),
                previous,
            })));
        }
        Ok(Some(match stored {
            StoredOutcome::Recorded { sequence, events } => Ok(CommandOutcome {
                capture_id: capture_id.to_string(),
                sequence,
                events,
                position: log::position_of(&self.db, capture_id, sequence).await?,
                replayed: true,
            }),
            StoredOutcome::Refused { error, .. } => Err(LedgerError::Refused(error)),
        }))
    }

    /// The last sequence recorded under this command id, if any.
    async fn recorded_by(
        &self,
        capture_id: &str,
        command_id: &str,
    ) -> Result<Option<i64>, LedgerError> {
        let found: Option<i64> = match &self.db {
            Db::Postgres(pool) => sqlx::query_scalar("SELECT max(sequence) FROM events WHERE aggregate_id = $1 AND (metadata ->> 'command_id') = $2")
                .bind(capture_id).bind(command_id).fetch_one(pool).await,
            Db::Sqlite(pool) => sqlx::query_scalar("SELECT max(sequence) FROM events WHERE aggregate_id = $1 AND json_extract(metadata, '$.command_id') = $2")
                .bind(capture_id).bind(command_id).fetch_one(pool).await,
        }
        .map_err(|e| LedgerError::Store(e.to_string()))?;
        Ok(found)
    }

    async fn store_outcome(
        &self,
        request: &CommandRequest,
        outcome: &StoredOutcome,
    ) -> Result<(), LedgerError> {
        on_db!(&self.db, pool => sqlx::query(
            "INSERT INTO command_outcomes (aggregate_id, command_id, command, outcome) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
            .bind(&request.capture_id)
            .bind(&request.metadata.command_id)
            .bind(request.command.name())
            .bind(Json(outcome))
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(|e| LedgerError::Store(e.to_string()))
    }

    /// A capture's history as stored, upcast to the current schema: for auditors.
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
        .map_err(|e| LedgerError::Store(e.to_string()))?;
        let upcasters = capture_upcasters();
        Ok(events
            .into_iter()
            .map(|e| log::upcast(e, &upcasters))
            .collect())
    }

    /// Loads a capture's current state (snapshot plus the events after it).
    pub async fn load(&self, capture_id: &str) -> Result<(Capture, i64), LedgerError> {
        let context = match &self.store {
            CaptureStore::Postgres(store) => store.load_aggregate(capture_id).await,
            CaptureStore::Sqlite(store) => store.load_aggregate(capture_id).await,
        }
        .map_err(|e| LedgerError::Store(e.to_string()))?;
        Ok((context.aggregate, context.current_sequence as i64))
    }
}

/// Loads the capture, decides, and commits. Returns the last sequence and the event names.
async fn decide_and_commit<S>(
    store: &S,
    request: &CommandRequest,
) -> Result<(i64, Vec<String>), AggregateError<CaptureError>>
where
    S: EventStore<Capture, AC = cqrs_es::persist::EventStoreAggregateContext<Capture>>,
{
    let context = store.load_aggregate(&request.capture_id).await?;
    let current = context.current_sequence as i64;
    let events = context
        .aggregate
        .decide(request.command.clone())
        .map_err(AggregateError::UserError)?;
    if events.is_empty() {
        return Ok((current, vec![]));
    }
    let names = events.iter().map(|e| e.name().to_string()).collect();
    let committed = store
        .commit(events, context, request.metadata.to_map())
        .await?;
    let last = committed
        .last()
        .map(|e| e.sequence as i64)
        .unwrap_or(current);
    Ok((last, names))
}
