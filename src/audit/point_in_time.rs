//! What a capture or a view looked like at a moment in the past, replayed from the log into
//! memory: the live views are never touched.
//!
//! "At time T" is the longest prefix of the global order whose events were all recorded at or
//! before T (an event's time is the one its command recorded in the metadata, moments before
//! it committed). A view at T is the projection's own fold run over that prefix, batch by batch
//! as the projector runs it, with its rows kept in memory instead of written; a capture at T is
//! its own events recorded by T, folded by the aggregate and by the status view.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use photo_ledger_domain::Capture;
use photo_ledger_projections::projection::{Fold, Removal, Row, SqlValue};
use photo_ledger_projections::ProjectionError;
use photo_ledger_store::log::{self, Decoder, LoggedEvent};
use photo_ledger_store::{Db, Position, StoreError};
use serde::Serialize;
use serde_json::Value;

/// Events read per batch, as the projector reads them.
const BATCH: i64 = 2_000;

/// How long a replay waits for transactions older than the newest event to finish.
const SETTLE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum PointInTimeError {
    #[error("no projection is called {0:?}")]
    UnknownView(String),
    #[error("the log cannot be read")]
    Store(#[from] StoreError),
    #[error("the log cannot be folded")]
    Projection(#[from] ProjectionError),
}

impl PointInTimeError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            PointInTimeError::UnknownView(_) => "audit.unknown_view",
            PointInTimeError::Store(_) | PointInTimeError::Projection(_) => {
                "audit.store_unavailable"
            }
        }
    }
}

impl From<sqlx::Error> for PointInTimeError {
    fn from(e: sqlx::Error) -> Self {
        PointInTimeError::Store(e.into())
    }
}

/// A projection's tables as they were at `at`.
#[derive(Debug, Serialize)]
pub struct ViewAt {
    pub view: &'static str,
    pub at: DateTime<Utc>,
    /// Events replayed, and the last of them.
    pub events: u64,
    pub position: Position,
    /// Each table's rows in key order, each row an object of its columns.
    pub tables: BTreeMap<&'static str, Vec<Value>>,
}

/// A capture as it was at `at`.
#[derive(Debug, Serialize)]
pub struct CaptureAt {
    pub capture_id: String,
    pub at: DateTime<Utc>,
    /// Its last event recorded by then (0: the capture did not exist yet).
    pub sequence: i64,
    /// The status screen's view (`capture_status`) as it was, if the capture existed.
    pub status: Option<Value>,
    /// The aggregate's state, as commands were decided on it.
    pub state: Capture,
}

/// The rows a fold produced so far: table, capture, then each row by its key.
type Rows = Vec<BTreeMap<String, BTreeMap<String, Arc<Row>>>>;

fn apply(rows: &mut Rows, folded: Vec<photo_ledger_projections::projection::Folded>) {
    for change in folded {
        let captures = &mut rows[change.table];
        let capture = captures.entry(change.capture_id).or_default();
        match change.remove {
            Removal::AllOfCapture => capture.clear(),
            Removal::Keys(keys) => {
                for key in keys {
                    capture.remove(&key_of(&key));
                }
            }
        }
        for row in change.insert {
            capture.insert(key_of(&row[0]), row);
        }
    }
}

fn key_of(value: &SqlValue) -> String {
    match value {
        SqlValue::Text(s) | SqlValue::Json(s) => s.clone(),
        SqlValue::OptText(s) => s.clone().unwrap_or_default(),
        other => format!("{other:?}"),
    }
}

fn json_of(value: &SqlValue) -> Value {
    let time = |t: &DateTime<Utc>| Value::String(t.to_rfc3339_opts(SecondsFormat::Micros, true));
    match value {
        SqlValue::Text(s) => Value::String(s.clone()),
        SqlValue::OptText(s) => s.clone().map_or(Value::Null, Value::String),
        SqlValue::Time(t) => time(t),
        SqlValue::OptTime(t) => t.as_ref().map_or(Value::Null, time),
        SqlValue::OptInt(i) => i.map_or(Value::Null, Value::from),
        SqlValue::Json(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
    }
}

/// Events of the global order after `after`, at most `limit`.
async fn read(
    decoder: &Decoder,
    after: Position,
    limit: i64,
) -> Result<Vec<LoggedEvent>, StoreError> {
    match decoder.db() {
        Db::Postgres(pool) => {
            log::read_pg(&mut *pool.acquire().await?, after, limit, decoder).await
        }
        Db::Sqlite(pool) => {
            log::read_sqlite(&mut *pool.acquire().await?, after, limit, decoder).await
        }
    }
}

async fn history(
    decoder: &Decoder,
    at: Position,
    captures: &[String],
) -> Result<Vec<LoggedEvent>, StoreError> {
    match decoder.db() {
        Db::Postgres(pool) => {
            log::history_pg(&mut *pool.acquire().await?, at, captures, decoder).await
        }
        Db::Sqlite(pool) => {
            log::history_sqlite(&mut *pool.acquire().await?, at, captures, decoder).await
        }
    }
}

/// The projection `fold` (a fresh one, of [`photo_ledger_projections::all_projections`]) as it
/// stood at `at`.
pub async fn view_at(
    decoder: &Decoder,
    fold: &dyn Fold,
    at: DateTime<Utc>,
) -> Result<ViewAt, PointInTimeError> {
    let db = decoder.db();
    // Every event committed so far readable first: the log is read below the commit horizon.
    photo_ledger_store::chain::settled_head(db, SETTLE_PATIENCE).await?;
    let mut rows: Rows = vec![BTreeMap::new(); fold.tables().len()];
    let mut position = Position::START;
    let mut events = 0;
    loop {
        let mut batch = read(decoder, position, BATCH).await?;
        let read = batch.len();
        if let Some(later) = batch.iter().position(|e| e.recorded_at() > at) {
            batch.truncate(later);
        }
        let Some(last) = batch.last().map(|e| e.position) else {
            break;
        };
        let mut captures: Vec<&str> = batch.iter().map(|e| e.capture_id.as_str()).collect();
        captures.sort_unstable();
        captures.dedup();
        let missing = fold.missing(position, &captures);
        let earlier = history(decoder, position, &missing).await?;
        apply(&mut rows, fold.fold(position, &earlier, &batch)?);
        fold.committed(last);
        events += batch.len() as u64;
        position = last;
        if batch.len() < read || (read as i64) < BATCH {
            break;
        }
    }
    let tables = fold
        .tables()
        .iter()
        .zip(rows)
        .map(|(table, captures)| {
            let mut all: Vec<(String, Arc<Row>)> = captures.into_values().flatten().collect();
            all.sort_by(|a, b| a.0.cmp(&b.0));
            let objects = all
                .iter()
                .map(|(_, row)| {
                    Value::Object(
                        table
                            .columns
                            .iter()
                            .zip(row.iter())
                            .map(|(column, value)| (column.to_string(), json_of(value)))
                            .collect(),
                    )
                })
                .collect();
            (table.name, objects)
        })
        .collect();
    Ok(ViewAt {
        view: fold.name(),
        at,
        events,
        position,
        tables,
    })
}

/// The capture as it stood at `at`; `status_fold` is a fresh `capture_status` fold.
pub async fn capture_at(
    decoder: &Decoder,
    status_fold: &dyn Fold,
    capture_id: &str,
    at: DateTime<Utc>,
) -> Result<CaptureAt, PointInTimeError> {
    let mut events = log::capture_history(decoder, capture_id).await?;
    if let Some(later) = events.iter().position(|e| e.recorded_at() > at) {
        events.truncate(later);
    }
    let mut state = Capture::default();
    for event in &events {
        cqrs_es::Aggregate::apply(&mut state, event.event.clone());
    }
    let status = match events.last() {
        None => None,
        Some(_) => {
            let mut rows: Rows = vec![BTreeMap::new(); status_fold.tables().len()];
            apply(&mut rows, status_fold.fold(Position::START, &[], &events)?);
            rows.first()
                .and_then(|captures| captures.get(capture_id))
                .and_then(|rows| rows.values().next().cloned())
                .and_then(|row| {
                    status_fold.tables()[0]
                        .columns
                        .iter()
                        .position(|c| *c == "view")
                        .map(|i| json_of(&row[i]))
                })
        }
    };
    Ok(CaptureAt {
        capture_id: capture_id.to_string(),
        at,
        sequence: events.last().map_or(0, |e| e.sequence),
        status,
        state,
    })
}

/// A fresh fold of the projection called `name`.
pub fn fold_named(
    name: &str,
    person_keyer: photo_ledger_projections::person_key::PersonKeyer,
) -> Result<Arc<dyn Fold>, PointInTimeError> {
    photo_ledger_projections::all_projections(person_keyer)
        .into_iter()
        .find(|fold| fold.name() == name)
        .ok_or_else(|| PointInTimeError::UnknownView(name.to_string()))
}
