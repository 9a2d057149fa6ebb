//! What a projection is: a fold of a capture's events into a document, and the query rows that
//! document produces. The projector rewrites the capture's rows in the same transaction as the
//! checkpoint. Documents live in memory between batches and are folded again from the capture's
//! events when they are not there.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::ProjectionError;
use crate::log::{LoggedEvent, Position};

/// A projection's query table. Every such table has a `capture_id` column: a capture's rows are
/// deleted and rewritten whenever its document changes.
#[derive(Clone, Copy, Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
}

/// One column value of a query row.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Text(String),
    OptText(Option<String>),
    Time(DateTime<Utc>),
    Json(Value),
}

pub type Row = Vec<SqlValue>;

pub trait Projection: Send + Sync + 'static {
    const NAME: &'static str;
    const TABLE: Table;
    type Doc: Default + Send;

    fn apply(&self, doc: &mut Self::Doc, event: &LoggedEvent);
    fn rows(&self, capture_id: &str, doc: &Self::Doc) -> Vec<Row>;
}

/// The query rows of one capture after a batch.
#[derive(Debug)]
pub struct Folded {
    pub capture_id: String,
    pub rows: Vec<Row>,
}

/// A projection with its document type erased, so the projector can hold several.
///
/// A fold may keep documents between batches. A document is a pure function of the capture's
/// events up to a checkpoint, so kept documents are valid exactly while the stored checkpoint is
/// the one they were kept at: the projector passes that checkpoint to every call, and a fold
/// drops what it kept whenever another checkpoint comes (a reset, or another instance having
/// run the projection).
pub trait Fold: Send + Sync {
    fn name(&self) -> &'static str;
    fn table(&self) -> Table;
    /// Of `captures`, those whose document at checkpoint `at` this fold does not hold.
    fn missing(&self, at: Position, captures: &[&str]) -> Vec<String>;
    /// Folds `history` (every event up to `at` of captures reported missing) and then `batch`,
    /// and returns the rows of every capture the batch touched.
    fn fold(
        &self,
        at: Position,
        history: &[LoggedEvent],
        batch: &[LoggedEvent],
    ) -> Result<Vec<Folded>, ProjectionError>;
    /// The batch folded last was committed, moving the checkpoint to `to`.
    fn committed(&self, to: Position);
}

/// Most documents a projection keeps between batches; beyond that it starts afresh, and
/// documents are folded again from the log as their captures come up.
const KEPT_DOCUMENTS: usize = 10_000;

/// A [`Projection`] with the documents it keeps between batches.
pub struct Folder<P: Projection> {
    projection: P,
    kept: Mutex<Kept<P::Doc>>,
}

struct Kept<D> {
    at: Position,
    docs: HashMap<String, D>,
    /// Documents of the batch being committed, kept once it is.
    pending: Vec<(String, D)>,
}

impl<P: Projection> Folder<P> {
    pub fn new(projection: P) -> Self {
        Self {
            projection,
            kept: Mutex::new(Kept {
                at: Position::START,
                docs: HashMap::new(),
                pending: Vec::new(),
            }),
        }
    }

    fn kept_at(&self, at: Position) -> std::sync::MutexGuard<'_, Kept<P::Doc>> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.pending.clear();
        if kept.at != at {
            kept.docs.clear();
            kept.at = at;
        }
        kept
    }
}

impl<P: Projection> Fold for Folder<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn table(&self) -> Table {
        P::TABLE
    }

    fn missing(&self, at: Position, captures: &[&str]) -> Vec<String> {
        let kept = self.kept_at(at);
        captures
            .iter()
            .filter(|id| !kept.docs.contains_key(**id))
            .map(|id| id.to_string())
            .collect()
    }

    fn fold(
        &self,
        at: Position,
        history: &[LoggedEvent],
        batch: &[LoggedEvent],
    ) -> Result<Vec<Folded>, ProjectionError> {
        let mut kept = self.kept_at(at);
        let mut touched: BTreeMap<String, P::Doc> = BTreeMap::new();
        for event in history.iter().chain(batch) {
            let doc = match touched.entry(event.capture_id.clone()) {
                Entry::Occupied(e) => e.into_mut(),
                // Taken out: if the batch is not committed, the capture is folded afresh.
                Entry::Vacant(e) => {
                    e.insert(kept.docs.remove(&event.capture_id).unwrap_or_default())
                }
            };
            self.projection.apply(doc, event);
        }
        let folded = touched
            .iter()
            .map(|(capture_id, doc)| Folded {
                capture_id: capture_id.clone(),
                rows: self.projection.rows(capture_id, doc),
            })
            .collect();
        kept.pending = touched.into_iter().collect();
        Ok(folded)
    }

    fn committed(&self, to: Position) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.docs.len() + kept.pending.len() > KEPT_DOCUMENTS {
            kept.docs.clear();
        }
        let pending = std::mem::take(&mut kept.pending);
        kept.docs.extend(pending);
        kept.at = to;
    }
}

/// Rewrites the query rows of the folded captures; expanded once per backend.
macro_rules! writer {
    ($write:ident, $db:ty) => {
        pub(crate) async fn $write(
            conn: &mut <$db as sqlx::Database>::Connection,
            table: Table,
            folded: &[Folded],
        ) -> Result<(), ProjectionError> {
            for chunk in folded.chunks(CHUNK) {
                let mut q = sqlx::QueryBuilder::<$db>::new(format!(
                    "DELETE FROM {} WHERE capture_id IN (",
                    table.name
                ));
                let mut sep = q.separated(", ");
                for f in chunk {
                    sep.push_bind(&f.capture_id);
                }
                q.push(")");
                q.build().execute(&mut *conn).await?;
            }
            let rows: Vec<&Row> = folded.iter().flat_map(|f| f.rows.iter()).collect();
            let per_statement = (MAX_PARAMS / table.columns.len()).max(1);
            for chunk in rows.chunks(per_statement) {
                let mut q = sqlx::QueryBuilder::<$db>::new(format!(
                    "INSERT INTO {} ({}) ",
                    table.name,
                    table.columns.join(", ")
                ));
                q.push_values(chunk, |mut b, row| {
                    debug_assert_eq!(
                        row.len(),
                        table.columns.len(),
                        "row shape of {}",
                        table.name
                    );
                    for value in row.iter() {
                        match value {
                            SqlValue::Text(s) => b.push_bind(s.clone()),
                            SqlValue::OptText(s) => b.push_bind(s.clone()),
                            SqlValue::Time(t) => b.push_bind(*t),
                            SqlValue::Json(v) => b.push_bind(sqlx::types::Json(v.clone())),
                        };
                    }
                });
                q.build().execute(&mut *conn).await?;
            }
            Ok(())
        }
    };
}

/// Captures per statement when deleting their rows.
const CHUNK: usize = 1000;
/// Bound parameters per statement; below both PostgreSQL's and SQLite's limits.
const MAX_PARAMS: usize = 30_000;

writer!(write_pg, sqlx::Postgres);
writer!(write_sqlite, sqlx::Sqlite);
