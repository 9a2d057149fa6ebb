//! The one-time migration that seals the personal fields of events stored before sealing
//! existed ([`crate::personal`]).
//!
//! Sealing rewrites a stored payload, and every event's hash covers its payload as stored, so
//! each capture it touches is chained again from its first event. That is only honest before
//! the log's first seal: once a seal exists, an auditor may hold a digest of those very bytes,
//! and a changed payload must show in `audit verify` as the modification it is. So the migration
//! runs whenever the store is opened until the first seal is made (before anything can be
//! sealed: the service and `audit seal` open the store first), and does nothing once one exists.
//! Finding its work means reading every payload in the log, so once a pass finds nothing left it
//! records itself in `data_migrations` and later openings skip the scan: everything recorded
//! since is sealed as it is written.
//!
//! A capture already erased gets an envelope no key opens: its fields read as erased, as they
//! would had they been sealed from the start.

use chrono::Utc;
use serde_json::Value;

use crate::chain::{EventHash, StoredEvent, CAPTURE_STORED};
use crate::error::StoreError;
use crate::log::AGGREGATE_TYPE;
use crate::personal::KeyRing;
use crate::{on_db, Db};

/// What the migration did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SealedExisting {
    /// Captures sealed and chained again.
    pub captures: u64,
    /// Events whose personal fields were sealed.
    pub events: u64,
}

/// Captures with an event that may hold personal fields in clear: a verification, or an order
/// naming a recipient, whose stored text holds no envelope.
const CANDIDATES: &str = "
SELECT DISTINCT aggregate_id FROM events
 WHERE aggregate_type = $1
   AND (event_type = 'QualificationVerified'
        OR (event_type IN ('OrderPlaced', 'ReprintOrdered') AND CAST(payload AS TEXT) LIKE '%\"recipient\"%'))
   AND CAST(payload AS TEXT) NOT LIKE '%\"sealed\"%'
 ORDER BY aggregate_id";

const PG_REWRITE: &str = "
UPDATE events SET payload = CAST($1 AS json), hash = $2, prev_hash = $3
 WHERE aggregate_type = $4 AND aggregate_id = $5 AND sequence = $6";

const SQLITE_REWRITE: &str = "
UPDATE events SET payload = $1, hash = $2, prev_hash = $3
 WHERE aggregate_type = $4 AND aggregate_id = $5 AND sequence = $6";

/// Its name in `data_migrations`.
const NAME: &str = "seal_existing";

const FINISHED: &str = "
SELECT EXISTS (SELECT 1 FROM audit_seals)
    OR EXISTS (SELECT 1 FROM data_migrations WHERE name = $1)";

const RECORD_FINISHED: &str = "
INSERT INTO data_migrations (name, completed_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";

/// Seals every personal field still stored in clear, capture by capture (each in one
/// transaction, so a crash leaves a capture migrated or untouched), unless the log is already
/// sealed or an earlier pass finished. Safe to run again: a migrated capture is no longer a
/// candidate, and the pass is recorded as finished only after its last capture.
pub async fn seal_existing(db: &Db, keys: &KeyRing) -> Result<SealedExisting, StoreError> {
    let mut done = SealedExisting::default();
    let finished: bool = on_db!(db, pool => sqlx::query_scalar(FINISHED)
        .bind(NAME)
        .fetch_one(pool)
        .await)?;
    if finished {
        return Ok(done);
    }
    let candidates: Vec<String> = on_db!(db, pool => sqlx::query_scalar(CANDIDATES)
        .bind(AGGREGATE_TYPE)
        .fetch_all(pool)
        .await)?;
    for capture_id in candidates {
        let sealed_events = seal_capture(db, keys, &capture_id).await?;
        if sealed_events > 0 {
            done.captures += 1;
            done.events += sealed_events;
        }
    }
    on_db!(db, pool => sqlx::query(RECORD_FINISHED)
        .bind(NAME)
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(done)
}

/// Seals one capture's events and chains them again; returns how many events were sealed.
async fn seal_capture(db: &Db, keys: &KeyRing, capture_id: &str) -> Result<u64, StoreError> {
    let mut events: Vec<StoredEvent> = on_db!(db, pool => sqlx::query_as(CAPTURE_STORED)
        .bind(AGGREGATE_TYPE)
        .bind(capture_id)
        .fetch_all(pool)
        .await)?;
    let erased = events.iter().any(|e| e.event_type == "Erased");
    let key = keys.for_migration(capture_id, erased).await?;
    let mut sealed = 0;
    for event in &mut events {
        let mut payload: Value =
            serde_json::from_str(&event.payload).map_err(|source| StoreError::UnreadableEvent {
                aggregate_id: capture_id.to_string(),
                sequence: event.sequence,
                event_type: event.event_type.clone(),
                event_version: event.event_version.clone(),
                source,
            })?;
        if keys.seal_event(&key, capture_id, &event.event_type, &mut payload) {
            event.payload = payload.to_string();
            sealed += 1;
        }
    }
    if sealed == 0 {
        return Ok(0);
    }
    let mut previous = EventHash::GENESIS;
    let mut rows = Vec::with_capacity(events.len());
    for event in &events {
        let hash = event.bytes().hash(&previous);
        rows.push((event, hash, previous));
        previous = hash;
    }
    macro_rules! rewrite {
        ($pool:expr, $sql:expr) => {{
            let mut tx = $pool.begin().await?;
            for (event, hash, link) in &rows {
                sqlx::query($sql)
                    .bind(&event.payload)
                    .bind(hash.to_hex())
                    .bind(link.to_hex())
                    .bind(AGGREGATE_TYPE)
                    .bind(capture_id)
                    .bind(event.sequence)
                    .execute(&mut *tx)
                    .await?;
            }
            // A snapshot holds the state in clear: the next load reads the sealed events.
            sqlx::query("DELETE FROM snapshots WHERE aggregate_type = $1 AND aggregate_id = $2")
                .bind(AGGREGATE_TYPE)
                .bind(capture_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }};
    }
    match db {
        Db::Postgres(pool) => rewrite!(pool, PG_REWRITE),
        Db::Sqlite(pool) => rewrite!(pool, SQLITE_REWRITE),
    }
    if erased {
        keys.destroy(capture_id).await?;
    }
    tracing::info!(capture_id, sealed, at = %Utc::now(), "personal fields stored in clear sealed");
    Ok(sealed)
}
