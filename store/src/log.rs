//! Reading the capture log in one global order, from any position, without ever skipping a
//! late-committing event.
//!
//! PostgreSQL: a row's `(txid, position)` is only handed out once its writing transaction is
//! older than every transaction still in flight (`pg_snapshot_xmin`). Below that horizon the set
//! of rows is final, so a reader that checkpoints the last `(txid, position)` it consumed can
//! never later find a row that sorts before it. Within one capture a later event's transaction
//! always starts after the earlier one committed, so it has a larger txid: the global order
//! respects every capture's own sequence.
//!
//! SQLite: one writer at a time, so rowid order is commit order; the position is `(0, rowid)`.

use std::sync::Arc;

use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use photo_ledger_domain::metadata::EventMetadata;
use photo_ledger_domain::upcasters::capture_upcasters;
use photo_ledger_domain::CaptureEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;

use crate::error::StoreError;
use crate::personal::{self, KeyRing};

/// A place in the global order. Compares by transaction, then position.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Position {
    pub txid: i64,
    pub position: i64,
}

impl Position {
    pub const START: Position = Position {
        txid: 0,
        position: 0,
    };
    /// After every event there will ever be.
    pub const END: Position = Position {
        txid: i64::MAX,
        position: i64::MAX,
    };
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.txid, self.position)
    }
}

/// One event as the projector sees it: upcast to the current schema and decoded.
#[derive(Clone, Debug)]
pub struct LoggedEvent {
    pub position: Position,
    pub capture_id: String,
    pub sequence: i64,
    pub event: CaptureEvent,
    pub metadata: Option<EventMetadata>,
}

impl LoggedEvent {
    /// When the event was recorded: the metadata's time, or the Unix epoch for metadata-less rows.
    pub fn recorded_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.metadata
            .as_ref()
            .map(|m| m.recorded_at)
            .unwrap_or_default()
    }
}

pub const AGGREGATE_TYPE: &str = "Capture";

// The log holds captures only (the ledger writes nothing else; PostgreSQL checks it), so the
// reader does not filter by aggregate type: with that filter the planner may intersect two
// indexes and sort, instead of walking `events_global_order` and stopping at the limit. And
// `ORDER BY events.txid`: a bare `txid` would name the output column (the bigint), which no index
// delivers in order, so every read would sort the rest of the log.
const PG_READ: &str = "
SELECT txid::text::bigint AS txid, position, aggregate_id, sequence, event_type, event_version,
       payload::text AS payload, metadata::text AS metadata
  FROM events
 WHERE (txid, position) > ($1::text::xid8, $2)
   AND txid < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY events.txid, events.position
 LIMIT $3";

// The newest committed event, found from the top of the global-order index. Asked as
// `EXISTS (… WHERE txid >= horizon)`, the planner took the condition to match most rows and
// scanned the whole table for one: 0.1 to several seconds on a million events, each time the
// projector looked, with the views held back for as long.
const PG_PENDING: &str = "
SELECT COALESCE(
         (SELECT txid FROM events ORDER BY txid DESC, position DESC LIMIT 1)
           >= pg_snapshot_xmin(pg_current_snapshot()),
         false)";

const SQLITE_READ: &str = "
SELECT 0 AS txid, rowid AS position, aggregate_id, sequence, event_type, event_version, payload, metadata
  FROM events
 WHERE rowid > $2 AND $1 >= 0
 ORDER BY rowid
 LIMIT $3";

const PG_POSITION_OF: &str = "
SELECT txid::text::bigint AS txid, position FROM events
 WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3";

const SQLITE_POSITION_OF: &str = "
SELECT 0 AS txid, rowid AS position FROM events
 WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3";

const PG_HEAD: &str = "SELECT txid::text::bigint AS txid, position FROM events ORDER BY events.txid DESC, events.position DESC LIMIT 1";
const SQLITE_HEAD: &str =
    "SELECT 0 AS txid, rowid AS position FROM events ORDER BY rowid DESC LIMIT 1";

/// Reads the events after `after`, at most `limit`, in global order; expanded once per store.
macro_rules! reader {
    ($name:ident, $conn:ty, $sql:expr, $txid:expr) => {
        pub async fn $name(
            conn: &mut $conn,
            after: Position,
            limit: i64,
            decoder: &Decoder,
        ) -> Result<Vec<LoggedEvent>, StoreError> {
            let rows = sqlx::query($sql)
                .bind($txid(after))
                .bind(after.position)
                .bind(limit)
                .fetch_all(conn)
                .await?;
            let stored = rows.iter().map(stored).collect::<Result<Vec<_>, _>>()?;
            decoder.decode(stored).await
        }
    };
}

// PostgreSQL compares transaction ids as xid8, cast from text.
reader!(read_pg, sqlx::PgConnection, PG_READ, |p: Position| p
    .txid
    .to_string());
reader!(
    read_sqlite,
    sqlx::SqliteConnection,
    SQLITE_READ,
    |p: Position| p.txid
);

const PG_HISTORY: &str = "
SELECT txid::text::bigint AS txid, position, aggregate_id, sequence, event_type, event_version,
       payload::text AS payload, metadata::text AS metadata
  FROM events
 WHERE aggregate_type = $3 AND aggregate_id = ANY($4)
   AND (txid, position) <= ($1::text::xid8, $2)
 ORDER BY aggregate_id, sequence";

/// Every event of one capture committed so far, in its own order, upcast and decoded; an event
/// that cannot be read is an error, never skipped.
pub async fn capture_history(
    decoder: &Decoder,
    capture_id: &str,
) -> Result<Vec<LoggedEvent>, StoreError> {
    let ids = [capture_id.to_string()];
    match decoder.db() {
        crate::Db::Postgres(pool) => {
            history_pg(&mut *pool.acquire().await?, Position::END, &ids, decoder).await
        }
        crate::Db::Sqlite(pool) => {
            history_sqlite(&mut *pool.acquire().await?, Position::END, &ids, decoder).await
        }
    }
}

/// Every event up to `at` of the given captures, each capture in its own order: what a
/// projection folds when it does not hold a capture's document.
pub async fn history_pg(
    conn: &mut sqlx::PgConnection,
    at: Position,
    capture_ids: &[String],
    decoder: &Decoder,
) -> Result<Vec<LoggedEvent>, StoreError> {
    if capture_ids.is_empty() {
        return Ok(vec![]);
    }
    let rows = sqlx::query(PG_HISTORY)
        .bind(at.txid.to_string())
        .bind(at.position)
        .bind(AGGREGATE_TYPE)
        .bind(capture_ids)
        .fetch_all(conn)
        .await?;
    let stored = rows.iter().map(stored).collect::<Result<Vec<_>, _>>()?;
    decoder.decode(stored).await
}

/// [`history_pg`] for SQLite.
pub async fn history_sqlite(
    conn: &mut sqlx::SqliteConnection,
    at: Position,
    capture_ids: &[String],
    decoder: &Decoder,
) -> Result<Vec<LoggedEvent>, StoreError> {
    let mut events = Vec::new();
    // Below SQLite's bound-parameter limit.
    for chunk in capture_ids.chunks(1000) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT 0 AS txid, rowid AS position, aggregate_id, sequence, event_type, event_version, payload, metadata FROM events WHERE aggregate_type = ",
        );
        q.push_bind(AGGREGATE_TYPE)
            .push(" AND rowid <= ")
            .push_bind(at.position)
            .push(" AND aggregate_id IN (");
        let mut ids = q.separated(", ");
        for id in chunk {
            ids.push_bind(id);
        }
        q.push(") ORDER BY aggregate_id, sequence");
        let rows = q.build().fetch_all(&mut *conn).await?;
        let stored = rows.iter().map(stored).collect::<Result<Vec<_>, _>>()?;
        events.extend(decoder.decode(stored).await?);
    }
    Ok(events)
}

/// Whether committed events exist that are still above the commit horizon (PostgreSQL only):
/// the reader should look again shortly rather than wait for the next notification.
pub async fn pending_above_horizon(conn: &mut sqlx::PgConnection) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(PG_PENDING).fetch_one(conn).await?)
}

/// The position of one recorded event, for read-your-writes waits.
pub async fn position_of(
    db: &crate::Db,
    capture_id: &str,
    sequence: i64,
) -> Result<Option<Position>, StoreError> {
    let sql = match db {
        crate::Db::Postgres(_) => PG_POSITION_OF,
        crate::Db::Sqlite(_) => SQLITE_POSITION_OF,
    };
    Ok(crate::on_db!(db, pool => sqlx::query(sql)
        .bind(AGGREGATE_TYPE)
        .bind(capture_id)
        .bind(sequence)
        .fetch_optional(pool)
        .await
        .map(|row| row.map(|r| position(&r))))?)
}

/// The position of the newest committed event, if any.
pub async fn head(db: &crate::Db) -> Result<Option<Position>, StoreError> {
    let sql = match db {
        crate::Db::Postgres(_) => PG_HEAD,
        crate::Db::Sqlite(_) => SQLITE_HEAD,
    };
    Ok(crate::on_db!(db, pool => sqlx::query(sql)
        .fetch_optional(pool)
        .await
        .map(|row| row.map(|r| position(&r))))?)
}

/// About how many events the log holds, for a progress bar: PostgreSQL's own estimate, kept by
/// its statistics (counting a large log reads all of it, a noticeable part of a rebuild's time),
/// or an exact count where there is no estimate yet, and on SQLite.
pub async fn estimated_count(db: &crate::Db) -> Result<i64, StoreError> {
    if let crate::Db::Postgres(pool) = db {
        let estimate: f32 =
            sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE oid = 'events'::regclass")
                .fetch_one(pool)
                .await?;
        // -1 until the table is first vacuumed or analysed.
        if estimate >= 0.0 {
            return Ok(estimate as i64);
        }
    }
    Ok(
        crate::on_db!(db, pool => sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = $1")
        .bind(AGGREGATE_TYPE)
        .fetch_one(pool)
        .await)?,
    )
}

// Every read of events selects these columns first and in this order (`txid, position`, then,
// for whole events, `aggregate_id, sequence, event_type, event_version, payload, metadata`), so
// rows are read by column number: finding a column by its name hashes the name, once per column
// of every event, a noticeable part of decoding a rebuild's millions of events.
const TXID: usize = 0;
const POSITION: usize = 1;
const AGGREGATE_ID: usize = 2;
const SEQUENCE: usize = 3;
const EVENT_TYPE: usize = 4;
const EVENT_VERSION: usize = 5;
const PAYLOAD: usize = 6;
const METADATA: usize = 7;

fn position<R: Row>(row: &R) -> Position
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    Position {
        txid: row.get(TXID),
        position: row.get(POSITION),
    }
}

/// An event as stored, not yet decoded, borrowed from the row it was read in: payload and
/// metadata are read as text (PostgreSQL casts its `json` for free), so they are parsed once, by
/// the decoder, and nothing is copied out of the row before that.
pub struct StoredRow<'r> {
    position: Position,
    aggregate_id: &'r str,
    sequence: i64,
    event_type: &'r str,
    event_version: &'r str,
    payload: &'r str,
    metadata: &'r str,
}

fn stored<'r, R: Row>(row: &'r R) -> Result<StoredRow<'r>, StoreError>
where
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    Ok(StoredRow {
        position: position(row),
        aggregate_id: row.try_get(AGGREGATE_ID)?,
        sequence: row.try_get(SEQUENCE)?,
        event_type: row.try_get(EVENT_TYPE)?,
        event_version: row.try_get(EVENT_VERSION)?,
        payload: row.try_get(PAYLOAD)?,
        metadata: row.try_get(METADATA)?,
    })
}

/// How stored events are read back: personal fields opened with their person's data key
/// ([`crate::personal`]), older schemas upcast, then decoded.
pub struct Decoder {
    upcasters: Vec<Box<dyn EventUpcaster>>,
    keys: Arc<KeyRing>,
}

impl Decoder {
    pub fn new(keys: Arc<KeyRing>) -> Self {
        Self {
            upcasters: capture_upcasters(),
            keys,
        }
    }

    pub fn db(&self) -> &crate::Db {
        self.keys.db()
    }

    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    pub fn upcasters(&self) -> &[Box<dyn EventUpcaster>] {
        &self.upcasters
    }

    /// Decodes stored events, reading the data keys their sealed fields need in one query.
    pub async fn decode(&self, rows: Vec<StoredRow<'_>>) -> Result<Vec<LoggedEvent>, StoreError> {
        let mut sealed = Vec::with_capacity(rows.len());
        for row in &rows {
            sealed.push(if personal::holds_personal_fields(row.event_type) {
                Some(serde_json::from_str::<Value>(row.payload).map_err(|e| {
                    unreadable(
                        row.aggregate_id,
                        row.sequence,
                        row.event_type,
                        row.event_version,
                        e,
                    )
                })?)
            } else {
                None
            });
        }
        self.keys.load(sealed.iter().flatten()).await?;
        // Sized once: collected through a `Result`, the vector would grow by doubling, moving
        // every event decoded so far each time.
        let mut events = Vec::with_capacity(rows.len());
        for (row, value) in rows.into_iter().zip(sealed) {
            events.push(self.decode_one(row, value)?);
        }
        Ok(events)
    }

    fn decode_one(
        &self,
        row: StoredRow<'_>,
        value: Option<Value>,
    ) -> Result<LoggedEvent, StoreError> {
        let StoredRow {
            position,
            aggregate_id,
            sequence,
            event_type,
            event_version,
            payload,
            metadata,
        } = row;
        let upcast_needed = self
            .upcasters
            .iter()
            .any(|u| u.can_upcast(event_type, event_version));
        let event: CaptureEvent = if value.is_some() || upcast_needed {
            // Sealed fields to open or an older schema to upcast: through JSON values.
            let mut value = match value {
                Some(value) => value,
                None => serde_json::from_str(payload).map_err(|e| {
                    unreadable(aggregate_id, sequence, event_type, event_version, e)
                })?,
            };
            self.keys.open_event(aggregate_id, event_type, &mut value)?;
            let serialized = upcast(
                SerializedEvent::new(
                    aggregate_id.to_string(),
                    sequence as usize,
                    AGGREGATE_TYPE.to_string(),
                    event_type.to_string(),
                    event_version.to_string(),
                    value,
                    Value::Null,
                ),
                &self.upcasters,
            );
            serde_json::from_value(serialized.payload).map_err(|e| {
                unreadable(
                    aggregate_id,
                    sequence,
                    &serialized.event_type,
                    &serialized.event_version,
                    e,
                )
            })?
        } else {
            // The current schema and nothing sealed: straight from the stored text.
            serde_json::from_str(payload)
                .map_err(|e| unreadable(aggregate_id, sequence, event_type, event_version, e))?
        };
        Ok(LoggedEvent {
            position,
            capture_id: aggregate_id.to_string(),
            sequence,
            event,
            metadata: EventMetadata::from_stored(&mut serde_json::Deserializer::from_str(metadata)),
        })
    }
}

fn unreadable(
    aggregate_id: &str,
    sequence: i64,
    event_type: &str,
    event_version: &str,
    source: serde_json::Error,
) -> StoreError {
    StoreError::UnreadableEvent {
        aggregate_id: aggregate_id.to_string(),
        sequence,
        event_type: event_type.to_string(),
        event_version: event_version.to_string(),
        source,
    }
}

/// Applies every upcaster that accepts the event, in order.
pub fn upcast(event: SerializedEvent, upcasters: &[Box<dyn EventUpcaster>]) -> SerializedEvent {
    upcasters.iter().fold(event, |event, upcaster| {
        if upcaster.can_upcast(&event.event_type, &event.event_version) {
            upcaster.upcast(event)
        } else {
            event
        }
    })
}
