//! Group commit on PostgreSQL: appends of different captures that are waiting at the same moment
//! go to the database as one statement, hence one transaction and one WAL flush.
//!
//! Appends queue for a writer task ([`crate::ledger::coalesce`]) that takes everything waiting (one
//! append per capture: a second append of the same capture waits for the next group, so a
//! capture's events keep their order) and runs it as one statement, with a few groups in flight
//! at once. A group that fails is run again append by append, so a conflict on one capture (a
//! lost race, a repeated command id) is reported to that command only and the others still
//! commit.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use photo_ledger_store::log::{Position, AGGREGATE_TYPE};
use photo_ledger_store::personal::NewKey;
use sqlx::PgPool;

use super::journal::AppendError;
use crate::ledger::coalesce::{Batches, Server, Waiting};

/// Most appends in one statement.
const MAX_GROUP: usize = 64;
/// Groups being written at once. One would serialise every writer behind one round trip and
/// flush; with two, one is written while the next gathers. More make smaller groups, each with
/// a WAL flush of its own: three went through fewer commands than two, with a longer lag, and
/// six and twelve fewer still (BENCHMARKS.md, run AC).
const GROUPS_IN_FLIGHT: usize = 2;

/// Everything one command records, as the group statement's columns take it.
pub struct AppendRows {
    pub capture_id: String,
    pub sequences: Vec<i64>,
    pub types: Vec<String>,
    pub versions: Vec<String>,
    pub payloads: Vec<String>,
    /// Each event's chain hash and the hash it follows, as hex.
    pub hashes: Vec<String>,
    pub prev_hashes: Vec<String>,
    pub metadata: String,
    pub command_id: String,
    pub command: String,
    pub outcome: String,
    /// The snapshot to store with the events, when one is due: its sequence and payload.
    pub snapshot: Option<(i64, String)>,
    /// The capture's data key, when the events are the first sealed under it.
    pub new_key: Option<NewKey>,
}

/// Events, outcomes, snapshots and new data keys of several captures in one statement. PostgreSQL runs every
/// data-modifying `WITH` part whether or not the final `SELECT` reads it, all in the statement's
/// transaction; a unique violation in any part records nothing of the group.
const GROUP_APPEND: &str = "
WITH appended AS (
    INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, hash, prev_hash)
    SELECT $1, e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload::json, e.metadata::json, e.hash, e.prev_hash
      FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $15::text[], $16::text[])
           WITH ORDINALITY AS e(aggregate_id, sequence, event_type, event_version, payload, metadata, hash, prev_hash, n)
     ORDER BY e.n
    RETURNING aggregate_id, txid, position
), outcome AS (
    INSERT INTO command_outcomes (aggregate_id, command_id, command, outcome)
    SELECT * FROM unnest($8::text[], $9::text[], $10::text[], $11::text[]::jsonb[])
), snapshot AS (
    INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, payload)
    SELECT $1, s.aggregate_id, s.last_sequence, s.payload::json
      FROM unnest($12::text[], $13::bigint[], $14::text[]) AS s(aggregate_id, last_sequence, payload)
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
       SET last_sequence = excluded.last_sequence, payload = excluded.payload, taken_at = excluded.taken_at
     WHERE snapshots.last_sequence < excluded.last_sequence
), data_key AS (
    INSERT INTO data_keys (key_id, capture_id, wrapped, master, created_at)
    SELECT * FROM unnest($17::text[], $18::text[], $19::text[], $20::text[], $21::timestamptz[])
    ON CONFLICT (key_id) DO NOTHING
)
SELECT aggregate_id, max(txid)::text::bigint AS txid, max(position) AS position
  FROM appended GROUP BY aggregate_id";

/// Sends appends to the writer task, which runs until every handle is dropped.
#[derive(Clone)]
pub struct GroupCommit {
    writer: Batches<GroupWriter>,
}

impl GroupCommit {
    /// Starts the writer task; must be called inside a Tokio runtime.
    pub fn start(pool: PgPool) -> Self {
        Self {
            writer: Batches::start(GroupWriter { pool }),
        }
    }

    /// Records one command's rows, in a group with whatever else is waiting. Returns the global
    /// position of its last event.
    pub async fn append(&self, rows: AppendRows) -> Result<Position, AppendError> {
        self.writer
            .ask(rows)
            .await
            .unwrap_or(Err(AppendError::Store(sqlx::Error::PoolClosed)))
    }
}

struct GroupWriter {
    pool: PgPool,
}

type Pending = Waiting<GroupWriter>;

impl Server for GroupWriter {
    type Request = AppendRows;
    type Answer = Result<Position, AppendError>;
    const IN_FLIGHT: usize = GROUPS_IN_FLIGHT;

    /// Up to [`MAX_GROUP`] appends of distinct captures, oldest first.
    fn take(waiting: &mut VecDeque<Pending>) -> Vec<Pending> {
        let mut captures = HashSet::new();
        let mut group = Vec::new();
        let mut kept = VecDeque::new();
        while let Some(pending) = waiting.pop_front() {
            if group.len() < MAX_GROUP && captures.insert(pending.request.capture_id.clone()) {
                group.push(pending);
            } else {
                kept.push_back(pending);
            }
        }
        *waiting = kept;
        group
    }

    async fn serve(self: Arc<Self>, group: Vec<Pending>) {
        write_group(&self.pool, group).await;
    }
}

async fn write_group(pool: &PgPool, group: Vec<Pending>) {
    if group.len() > 1 {
        // On failure (someone in the group conflicted), each runs on its own below.
        if let Ok(positions) = run(pool, group.iter().map(|p| &p.request)).await {
            for pending in group {
                let position = positions
                    .iter()
                    .find(|(id, _)| *id == pending.request.capture_id)
                    .map(|(_, position)| *position)
                    .ok_or(AppendError::Store(sqlx::Error::RowNotFound));
                pending.answer(position);
            }
            return;
        }
    }
    for pending in group {
        let result = run(pool, std::iter::once(&pending.request))
            .await
            .and_then(|positions| {
                positions
                    .into_iter()
                    .next()
                    .map(|(_, position)| position)
                    .ok_or(AppendError::Store(sqlx::Error::RowNotFound))
            });
        pending.answer(result);
    }
}

/// Runs the group statement for `appends`; returns each capture's last position.
async fn run<'a>(
    pool: &PgPool,
    appends: impl Iterator<Item = &'a AppendRows>,
) -> Result<Vec<(String, Position)>, AppendError> {
    let mut events = EventColumns::default();
    let mut outcomes: [Vec<&str>; 4] = Default::default();
    let mut snapshots: (Vec<&str>, Vec<i64>, Vec<&str>) = Default::default();
    let mut keys = KeyColumns::default();
    for a in appends {
        for i in 0..a.sequences.len() {
            events.capture_ids.push(&a.capture_id);
            events.sequences.push(a.sequences[i]);
            events.types.push(&a.types[i]);
            events.versions.push(&a.versions[i]);
            events.payloads.push(&a.payloads[i]);
            events.metadata.push(&a.metadata);
            events.hashes.push(&a.hashes[i]);
            events.prev_hashes.push(&a.prev_hashes[i]);
        }
        for (column, value) in
            outcomes
                .iter_mut()
                .zip([&a.capture_id, &a.command_id, &a.command, &a.outcome])
        {
            column.push(value);
        }
        if let Some((sequence, payload)) = &a.snapshot {
            snapshots.0.push(&a.capture_id);
            snapshots.1.push(*sequence);
            snapshots.2.push(payload);
        }
        if let Some(key) = &a.new_key {
            keys.key_ids.push(&key.key_id);
            keys.capture_ids.push(&key.capture_id);
            keys.wrapped.push(&key.wrapped);
            keys.masters.push(&key.master);
            keys.created_at.push(key.created_at);
        }
    }
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(GROUP_APPEND)
        .bind(AGGREGATE_TYPE)
        .bind(&events.capture_ids)
        .bind(&events.sequences)
        .bind(&events.types)
        .bind(&events.versions)
        .bind(&events.payloads)
        .bind(&events.metadata)
        .bind(&outcomes[0])
        .bind(&outcomes[1])
        .bind(&outcomes[2])
        .bind(&outcomes[3])
        .bind(&snapshots.0)
        .bind(&snapshots.1)
        .bind(&snapshots.2)
        .bind(&events.hashes)
        .bind(&events.prev_hashes)
        .bind(&keys.key_ids)
        .bind(&keys.capture_ids)
        .bind(&keys.wrapped)
        .bind(&keys.masters)
        .bind(&keys.created_at)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, txid, position)| (id, Position { txid, position }))
        .collect())
}

#[derive(Default)]
struct EventColumns<'a> {
    capture_ids: Vec<&'a str>,
    sequences: Vec<i64>,
    types: Vec<&'a str>,
    versions: Vec<&'a str>,
    payloads: Vec<&'a str>,
    metadata: Vec<&'a str>,
    hashes: Vec<&'a str>,
    prev_hashes: Vec<&'a str>,
}

#[derive(Default)]
struct KeyColumns<'a> {
    key_ids: Vec<&'a str>,
    capture_ids: Vec<&'a str>,
    wrapped: Vec<&'a str>,
    masters: Vec<&'a str>,
    created_at: Vec<DateTime<Utc>>,
}
