//! Reading a capture before a command and appending what the command decided, in as few round
//! trips as the store allows.
//!
//! - **Load** is one statement on both stores: the snapshot (or the state held in memory), the
//!   events after it, and the first outcome of this command id, if any. A command on a capture
//!   held in memory that records events skips it and appends at once.
//! - **Append** records the events, the command's outcome and (every [`SNAPSHOT_EVERY`] events) a
//!   snapshot atomically: on PostgreSQL in one statement, hence one implicit transaction; on
//!   SQLite in one transaction. Events land in the crates' own table under their primary key,
//!   so a concurrent writer of the same sequence, or of the same command id, is a conflict and
//!   nothing of the loser is recorded.
//!
//! Each appended event is chained to the capture's previous one ([`photo_ledger_store::chain`]):
//! loading reads the last event's hash along with the state, and a state held in memory keeps
//! it, so chaining costs no extra read.
//!
//! Snapshots are a cache that only moves forward: loading always applies the events after the
//! snapshot, so a stale or deleted snapshot costs a few more events to read, never a wrong state.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use cqrs_es::persist::SerializedEvent;
use cqrs_es::{Aggregate, DomainEvent};
use photo_ledger_domain::{Capture, CaptureEvent};
use photo_ledger_store::chain::{EventBytes, EventHash};
use photo_ledger_store::log::{self, Decoder, Position, AGGREGATE_TYPE};
use photo_ledger_store::personal::{self, NewKey};
use photo_ledger_store::{on_db, Db, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::SqlitePool;

use super::error::LedgerError;
use super::group_commit::{AppendRows, GroupCommit};
use photo_ledger_domain::CaptureError;

/// A snapshot is taken whenever a command's events reach or cross a multiple of this.
pub const SNAPSHOT_EVERY: i64 = 8;

/// The first outcome of a client command id, stored with the events it produced (or alone for a
/// refusal or a command that changed nothing).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredOutcome {
    Recorded { sequence: i64, events: Vec<String> },
    Refused { code: String, error: CaptureError },
}

/// A capture's last recorded event: what its next event follows and chains to. A capture that
/// does not exist yet is at sequence 0 with the genesis hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tip {
    pub sequence: i64,
    pub hash: EventHash,
}

impl Tip {
    /// The tip at `sequence` whose event stored `hash`. An event without a hash (written around
    /// the ledger) is chained past from the genesis hash; `audit verify` reports it.
    fn at(sequence: i64, hash: Option<&str>) -> Self {
        Self {
            sequence,
            hash: hash.and_then(EventHash::parse).unwrap_or_default(),
        }
    }
}

/// What a command needs before deciding.
pub struct Loaded {
    pub capture: Capture,
    /// The capture's last event.
    pub tip: Tip,
    /// The command this id was first used for, and what it did.
    pub previous: Option<(String, StoredOutcome)>,
}

/// One command's identity, for its stored outcome.
pub struct CommandKey<'a> {
    pub capture_id: &'a str,
    pub command_id: &'a str,
    pub command: &'a str,
}

#[derive(Debug)]
pub enum AppendError {
    /// Another writer recorded this sequence or this command id first.
    Conflict,
    Store(sqlx::Error),
    /// The data key to seal personal fields with could not be read or made.
    Key(Box<StoreError>),
}

impl From<sqlx::Error> for AppendError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => AppendError::Conflict,
            _ => AppendError::Store(e),
        }
    }
}

/// One command's rows in one SQLite transaction; returns the last event's position.
async fn append_to_sqlite(pool: &SqlitePool, rows: &AppendRows) -> Result<Position, AppendError> {
    let mut tx = pool.begin().await?;
    if let Some(new_key) = &rows.new_key {
        sqlx::query(NewKey::INSERT)
            .bind(&new_key.key_id)
            .bind(&new_key.capture_id)
            .bind(&new_key.wrapped)
            .bind(&new_key.master)
            .bind(new_key.created_at)
            .execute(&mut *tx)
            .await?;
    }
    let mut position = 0;
    for i in 0..rows.sequences.len() {
        position = sqlx::query(INSERT_EVENT)
            .bind(AGGREGATE_TYPE)
            .bind(&rows.capture_id)
            .bind(rows.sequences[i])
            .bind(&rows.types[i])
            .bind(&rows.versions[i])
            .bind(&rows.payloads[i])
            .bind(&rows.metadata)
            .bind(&rows.hashes[i])
            .bind(&rows.prev_hashes[i])
            .execute(&mut *tx)
            .await?
            .last_insert_rowid();
    }
    sqlx::query(INSERT_OUTCOME)
        .bind(&rows.capture_id)
        .bind(&rows.command_id)
        .bind(&rows.command)
        .bind(&rows.outcome)
        .execute(&mut *tx)
        .await?;
    if let Some((sequence, payload)) = &rows.snapshot {
        sqlx::query(UPSERT_SNAPSHOT)
            .bind(AGGREGATE_TYPE)
            .bind(&rows.capture_id)
            .bind(sequence)
            .bind(payload)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Position { txid: 0, position })
}

fn store_error(e: impl std::error::Error + Send + Sync + 'static) -> LedgerError {
    LedgerError::Store(Box::new(e))
}

/// Both stores read this: `CAST(… AS TEXT)` is valid in each, and PostgreSQL types the
/// `NULL`s of later branches from the first. `$4` is the sequence of a state held in memory:
/// given, only newer events are read; absent, the snapshot and the events after it.
const LOAD: &str = "
SELECT 'event' AS part, sequence, event_type, event_version, CAST(payload AS TEXT) AS payload, CAST(metadata AS TEXT) AS metadata, hash
  FROM events
 WHERE aggregate_type = $1 AND aggregate_id = $2
   AND sequence > coalesce($4, (SELECT last_sequence FROM snapshots WHERE aggregate_type = $1 AND aggregate_id = $2), 0)
UNION ALL
SELECT 'snapshot', last_sequence, NULL, NULL, CAST(payload AS TEXT), NULL,
       (SELECT hash FROM events e WHERE e.aggregate_type = $1 AND e.aggregate_id = $2 AND e.sequence = s.last_sequence)
  FROM snapshots s WHERE aggregate_type = $1 AND aggregate_id = $2 AND $4 IS NULL
UNION ALL
SELECT 'outcome', NULL, command, NULL, CAST(outcome AS TEXT), NULL, NULL
  FROM command_outcomes WHERE aggregate_id = $2 AND command_id = $3";

type LoadRow = (
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

const INSERT_EVENT: &str = "
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, hash, prev_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

const INSERT_OUTCOME: &str =
    "INSERT INTO command_outcomes (aggregate_id, command_id, command, outcome) VALUES ($1, $2, $3, $4)";

const UPSERT_SNAPSHOT: &str = "
INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, payload) VALUES ($1, $2, $3, $4)
ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
   SET last_sequence = excluded.last_sequence, payload = excluded.payload, taken_at = excluded.taken_at
 WHERE snapshots.last_sequence < excluded.last_sequence";

/// Most capture states held in memory; beyond that the least recently used go.
const HELD_CAPTURES: NonZeroUsize = NonZeroUsize::new(10_000).expect("non-zero");

pub struct Journal {
    db: Db,
    /// Opens sealed personal fields and upcasts what is read; holds the data keys new personal
    /// fields are sealed with.
    decoder: Arc<Decoder>,
    /// Recently used captures' states and their sequences. Always safe to use: appending goes
    /// through the primary key, so events decided on a state that other writers have moved past
    /// conflict and are decided again on loaded state, and loading after a held state still
    /// reads every newer event.
    held: Mutex<LruCache<String, (Tip, Capture)>>,
    /// PostgreSQL's appends, grouped.
    group_commit: Option<GroupCommit>,
}

impl Journal {
    /// On PostgreSQL this starts the group commit's writer task, so it must run inside a Tokio
    /// runtime that outlives the journal (the service's main runtime).
    pub fn new(decoder: Arc<Decoder>) -> Self {
        let db = decoder.db().clone();
        let group_commit = match &db {
            Db::Postgres(pool) => Some(GroupCommit::start(pool.clone())),
            Db::Sqlite(_) => None,
        };
        Self {
            db,
            decoder,
            held: Mutex::new(LruCache::new(HELD_CAPTURES)),
            group_commit,
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, LruCache<String, (Tip, Capture)>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hold(&self, capture_id: &str, tip: Tip, capture: Capture) {
        let mut held = self.held();
        // A concurrent command may have held a newer state meanwhile.
        if held
            .peek(capture_id)
            .is_none_or(|(newer, _)| newer.sequence < tip.sequence)
        {
            held.put(capture_id.to_string(), (tip, capture));
        }
    }

    /// The state held in memory for a capture and its tip, taken out while a command decides;
    /// appending puts back the state its events lead to.
    pub fn take_held(&self, capture_id: &str) -> Option<(Tip, Capture)> {
        self.held().pop(capture_id)
    }

    /// The capture's state from the database alone: its snapshot and the events after it.
    pub async fn load_stored(&self, capture_id: &str) -> Result<Loaded, LedgerError> {
        self.load_after(capture_id, "", None).await
    }

    /// The capture's state and the first outcome of `command_id`, in one round trip, reading
    /// only what is newer than `held` (a state taken from memory) when given.
    pub async fn load_after(
        &self,
        capture_id: &str,
        command_id: &str,
        held: Option<(Tip, Capture)>,
    ) -> Result<Loaded, LedgerError> {
        let rows: Vec<LoadRow> = on_db!(&self.db, pool => sqlx::query_as(LOAD)
            .bind(AGGREGATE_TYPE)
            .bind(capture_id)
            .bind(command_id)
            .bind(held.as_ref().map(|(tip, _)| tip.sequence))
            .fetch_all(pool)
            .await)
        .map_err(store_error)?;
        let keys = self.decoder.keys();
        // What may hold sealed fields is parsed once: to find the keys it needs, then to open.
        let mut parsed: Vec<Option<Value>> = Vec::with_capacity(rows.len());
        for (part, _, name, _, payload, ..) in &rows {
            let personal = match part.as_str() {
                "snapshot" => true,
                "event" => name.as_deref().is_some_and(personal::holds_personal_fields),
                _ => false,
            };
            parsed.push(if personal {
                Some(serde_json::from_str(payload).map_err(store_error)?)
            } else {
                None
            });
        }
        keys.load(parsed.iter().flatten())
            .await
            .map_err(store_error)?;
        let (mut start, mut capture) = held.unwrap_or_default();
        let mut previous = None;
        let mut events = Vec::new();
        for ((part, sequence, name, version, payload, metadata, hash), parsed) in
            rows.into_iter().zip(parsed)
        {
            let sequence = sequence.unwrap_or_default();
            let value = |parsed: Option<Value>| match parsed {
                Some(value) => Ok(value),
                None => serde_json::from_str::<Value>(&payload).map_err(store_error),
            };
            match part.as_str() {
                "snapshot" => {
                    let stored = value(parsed)?;
                    let Some(state) = keys
                        .open_snapshot(capture_id, stored)
                        .map_err(store_error)?
                    else {
                        // Sealed under an erased person's key: read every event instead.
                        return Box::pin(self.load_after(
                            capture_id,
                            command_id,
                            Some((Tip::default(), Capture::default())),
                        ))
                        .await;
                    };
                    capture = serde_json::from_value(state).map_err(store_error)?;
                    start = Tip::at(sequence, hash.as_deref());
                }
                "outcome" => {
                    let outcome = serde_json::from_str(&payload).map_err(store_error)?;
                    previous = Some((name.unwrap_or_default(), outcome));
                }
                _ => {
                    let name = name.unwrap_or_default();
                    let mut payload = value(parsed)?;
                    keys.open_event(capture_id, &name, &mut payload)
                        .map_err(store_error)?;
                    events.push((
                        hash,
                        SerializedEvent::new(
                            capture_id.to_string(),
                            sequence as usize,
                            AGGREGATE_TYPE.to_string(),
                            name,
                            version.unwrap_or_default(),
                            payload,
                            metadata
                                .map(|m| serde_json::from_str(&m))
                                .transpose()
                                .map_err(store_error)?
                                .unwrap_or(Value::Null),
                        ),
                    ));
                }
            }
        }
        events.sort_by_key(|(_, e)| e.sequence);
        let mut tip = start;
        for (hash, event) in events {
            let event = log::upcast(event, self.decoder.upcasters());
            tip = Tip::at(event.sequence as i64, hash.as_deref());
            let sequence = tip.sequence;
            let event: CaptureEvent = serde_json::from_value(event.payload).map_err(|source| {
                store_error(StoreError::UnreadableEvent {
                    aggregate_id: capture_id.to_string(),
                    sequence,
                    event_type: event.event_type.clone(),
                    event_version: event.event_version.clone(),
                    source,
                })
            })?;
            capture.apply(event);
        }
        Ok(Loaded {
            capture,
            tip,
            previous,
        })
    }

    /// Records `events` after the capture's tip `from`, each chained to the one before, with
    /// the command's outcome and, when due, a snapshot of `after` (the state the events lead
    /// to), which is then held in memory. Returns the last event's global position.
    pub async fn append(
        &self,
        key: &CommandKey<'_>,
        from: Tip,
        events: &[CaptureEvent],
        after: Capture,
        metadata: &str,
    ) -> Result<Position, AppendError> {
        let tip = from;
        let from = tip.sequence;
        let last = from + events.len() as i64;
        let outcome = serde_json::to_string(&StoredOutcome::Recorded {
            sequence: last,
            events: events.iter().map(|e| e.event_type()).collect(),
        })
        .expect("outcomes serialise");
        let snapshot_due = last / SNAPSHOT_EVERY > from / SNAPSHOT_EVERY;
        let personal = events
            .iter()
            .any(|e| personal::holds_personal_fields(&e.event_type()))
            || (snapshot_due && after.erased_at.is_none());
        let (sealing, new_key) = if personal && after.erased_at.is_none() {
            let key = self
                .decoder
                .keys()
                .for_capture(key.capture_id, from > 0)
                .await
                .map_err(|e| AppendError::Key(Box::new(e)))?;
            (Some(key.sealing), key.unstored)
        } else {
            (None, None)
        };
        let snapshot = snapshot_due.then(|| {
            let state = match &sealing {
                Some(sealing) => {
                    let mut state = serde_json::to_value(&after).expect("captures serialise");
                    self.decoder
                        .keys()
                        .seal_snapshot(sealing, key.capture_id, &mut state);
                    state.to_string()
                }
                None => serde_json::to_string(&after).expect("captures serialise"),
            };
            (last, state)
        });
        let mut rows = AppendRows {
            capture_id: key.capture_id.to_string(),
            sequences: (from + 1..=last).collect(),
            types: events.iter().map(|e| e.event_type()).collect(),
            versions: events.iter().map(|e| e.event_version()).collect(),
            payloads: events
                .iter()
                .map(|e| {
                    let event_type = e.event_type();
                    match &sealing {
                        Some(sealing) if personal::holds_personal_fields(&event_type) => {
                            let mut payload = serde_json::to_value(e).expect("events serialise");
                            self.decoder.keys().seal_event(
                                sealing,
                                key.capture_id,
                                &event_type,
                                &mut payload,
                            );
                            payload.to_string()
                        }
                        _ => serde_json::to_string(e).expect("events serialise"),
                    }
                })
                .collect(),
            hashes: Vec::with_capacity(events.len()),
            prev_hashes: Vec::with_capacity(events.len()),
            metadata: metadata.to_string(),
            command_id: key.command_id.to_string(),
            command: key.command.to_string(),
            outcome,
            snapshot,
            new_key,
        };
        let mut previous = tip.hash;
        for i in 0..events.len() {
            let hash = EventBytes {
                aggregate_type: AGGREGATE_TYPE,
                aggregate_id: key.capture_id,
                sequence: rows.sequences[i],
                event_type: &rows.types[i],
                event_version: &rows.versions[i],
                payload: &rows.payloads[i],
                metadata,
            }
            .hash(&previous);
            rows.prev_hashes.push(previous.to_hex());
            rows.hashes.push(hash.to_hex());
            previous = hash;
        }
        let new_key = rows.new_key.as_ref().map(|k| k.key_id.clone());
        let written = match &self.db {
            Db::Postgres(_) => {
                let group_commit = self.group_commit.as_ref().expect("started for PostgreSQL");
                group_commit.append(rows).await
            }
            Db::Sqlite(pool) => append_to_sqlite(pool, &rows).await,
        };
        if let Some(key_id) = new_key {
            let keys = self.decoder.keys();
            match &written {
                Ok(_) => keys.stored(key.capture_id, &key_id),
                Err(_) => keys.not_stored(key.capture_id, &key_id),
            }
        }
        let position = written?;
        self.hold(
            key.capture_id,
            Tip {
                sequence: last,
                hash: previous,
            },
            after,
        );
        Ok(position)
    }

    /// Stores the outcome of a command that recorded no events: a refusal, or a command that was
    /// already satisfied.
    pub async fn record_outcome(
        &self,
        key: &CommandKey<'_>,
        outcome: &StoredOutcome,
    ) -> Result<(), AppendError> {
        // `Json` binds as jsonb on PostgreSQL and as text on SQLite.
        on_db!(&self.db, pool => sqlx::query(INSERT_OUTCOME)
            .bind(key.capture_id)
            .bind(key.command_id)
            .bind(key.command)
            .bind(sqlx::types::Json(outcome))
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}
