//! The event repository cqrs-es commits through: postgres-es or sqlite-es for the events
//! themselves, with snapshots kept here as a cache.
//!
//! The crates' own snapshot path commits the events and only then checks that its snapshot row
//! was updated, so a lost race reports a conflict for events that are already recorded, and a
//! retry would record them twice. Here events go through the crates' plain `persist` (one
//! transaction; the primary key turns a lost race into a conflict before anything commits), and
//! the snapshot is written afterwards with an upsert that only ever moves it forward. Loading
//! always applies the events after the snapshot, so a snapshot missed in a crash costs a few more
//! events to read, never a wrong state.

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use photo_ledger_projections::{on_db, Db};
use serde_json::Value;
use sqlx::types::Json;

/// A snapshot is taken every this many events of a capture.
pub const SNAPSHOT_EVERY: usize = 8;

pub struct SnapshotRepository<R> {
    events: R,
    db: Db,
}

impl<R> SnapshotRepository<R> {
    pub fn new(events: R, db: Db) -> Self {
        Self { events, db }
    }
}

fn store_error(e: sqlx::Error) -> PersistenceError {
    PersistenceError::ConnectionError(Box::new(e))
}

const UPSERT_SNAPSHOT: &str = "
INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, payload) VALUES ($1, $2, $3, $4)
ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
   SET last_sequence = excluded.last_sequence, payload = excluded.payload, taken_at = excluded.taken_at
 WHERE snapshots.last_sequence < excluded.last_sequence";

impl<R: PersistedEventRepository> PersistedEventRepository for SnapshotRepository<R> {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.events.get_events::<A>(aggregate_id).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.events
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        let row: Option<(i64, Json<Value>)> = on_db!(&self.db, pool => sqlx::query_as(
            "SELECT last_sequence, payload FROM snapshots WHERE aggregate_type = $1 AND aggregate_id = $2")
            .bind(A::TYPE)
            .bind(aggregate_id)
            .fetch_optional(pool)
            .await)
        .map_err(store_error)?;
        Ok(row.map(|(last_sequence, payload)| SerializedSnapshot {
            aggregate_id: aggregate_id.to_string(),
            aggregate: payload.0,
            current_sequence: last_sequence as usize,
            current_snapshot: last_sequence as usize / SNAPSHOT_EVERY,
        }))
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        self.events.persist::<A>(events, None).await?;
        let (Some((aggregate_id, payload, _)), Some(last)) = (snapshot_update, events.last())
        else {
            return Ok(());
        };
        // cqrs-es folds the snapshot up to the last multiple of the snapshot size these events
        // reached.
        let last_sequence = (last.sequence / SNAPSHOT_EVERY * SNAPSHOT_EVERY) as i64;
        let written = on_db!(&self.db, pool => sqlx::query(UPSERT_SNAPSHOT)
            .bind(A::TYPE)
            .bind(&aggregate_id)
            .bind(last_sequence)
            .bind(Json(&payload))
            .execute(pool)
            .await
            .map(|_| ()));
        if let Err(err) = written {
            // The events are committed; a missing snapshot only makes the next load read more.
            tracing::warn!(aggregate_id, error = %err, "snapshot not written");
        }
        Ok(())
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        let events = self.get_events::<A>(aggregate_id).await?;
        let (mut feed, stream) = ReplayStream::new(events.len() + 1);
        for event in events {
            feed.push(Ok(event)).await?;
        }
        Ok(stream)
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        Err(PersistenceError::UnknownError(
            "replaying the whole log goes through the projector's ordered reader: run `photo-ledger replay`".into(),
        ))
    }
}
