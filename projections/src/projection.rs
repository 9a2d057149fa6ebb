//! What a projection is: a fold of a capture's events into a document, and the query rows that
//! document produces. The projector rewrites the capture's rows in the same transaction as the
//! checkpoint. Documents live in memory between batches and are folded again from the capture's
//! events when they are not there.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use chrono::{DateTime, Utc};

use crate::capture_doc::CaptureDoc;
use crate::error::ProjectionError;
use photo_ledger_store::log::{LoggedEvent, Position};

/// A projection's query table. Its first column is its key, and every such table has a
/// `capture_id` column: when a capture's document changes, the rows that changed are rewritten
/// (or all the capture's rows, when its previous rows are not known).
#[derive(Clone, Copy, Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    /// A capture's rows here never change or go once written (a photo stays in its capture), so
    /// its current rows name every row it ever had: when its previous rows are not known, those
    /// keys are the ones replaced, and the table needs no index on `capture_id`.
    pub permanent_rows: bool,
}

/// One column value of a query row.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Text(String),
    OptText(Option<String>),
    Time(DateTime<Utc>),
    /// A document, serialised once when the row is made: comparing two rows is then a string
    /// comparison, and the writer sends it as is.
    Json(String),
}

impl SqlValue {
    /// A view document as a column value.
    pub fn json(document: &impl serde::Serialize) -> Self {
        SqlValue::Json(serde_json::to_string(document).expect("views serialise"))
    }

    /// The value as a row key. Keys (first columns) are text.
    fn key(&self) -> &str {
        match self {
            SqlValue::Text(s) | SqlValue::Json(s) => s,
            SqlValue::OptText(s) => s.as_deref().unwrap_or_default(),
            SqlValue::Time(_) => unreachable!("row keys are text"),
        }
    }
}

pub type Row = Vec<SqlValue>;

/// A view: the query rows of one capture, derived from its [`CaptureDoc`] (the fold of its
/// events every view shares).
pub trait Projection: Send + Sync + 'static {
    const NAME: &'static str;
    /// Its query tables, most often one.
    const TABLES: &'static [Table];

    /// The capture's rows in each of [`Self::TABLES`], in that order.
    fn rows(&self, capture_id: &str, doc: &CaptureDoc) -> Vec<Vec<Row>>;
}

/// A capture's rows in each table of a projection.
type TableRows = Vec<Vec<Arc<Row>>>;

/// How one capture's rows in one table change after a batch.
#[derive(Debug, PartialEq)]
pub struct Folded {
    pub capture_id: String,
    /// The table's index in [`Projection::TABLES`].
    pub table: usize,
    pub remove: Removal,
    /// Rows to insert once `remove` is done (shared with the rows the fold keeps).
    pub insert: Vec<Arc<Row>>,
}

#[derive(Debug, PartialEq)]
pub enum Removal {
    /// Every row of the capture (its previous rows are not known).
    AllOfCapture,
    /// The rows with these keys (first column values) only.
    Keys(Vec<SqlValue>),
}

impl Folded {
    /// The change from `previous` rows (when known) to `rows` in table number `index`:
    /// unchanged rows are left alone.
    pub fn between(
        capture_id: &str,
        (index, table): (usize, &Table),
        previous: Option<&[Arc<Row>]>,
        rows: &[Arc<Row>],
    ) -> Folded {
        let Some(previous) = previous else {
            return Folded {
                capture_id: capture_id.to_string(),
                table: index,
                remove: if table.permanent_rows {
                    Removal::Keys(rows.iter().map(|row| row[0].clone()).collect())
                } else {
                    Removal::AllOfCapture
                },
                insert: rows.to_vec(),
            };
        };
        let kept = |row: &Row, among: &[Arc<Row>]| among.iter().any(|r| **r == *row);
        Folded {
            capture_id: capture_id.to_string(),
            table: index,
            remove: Removal::Keys(
                previous
                    .iter()
                    .filter(|row| !kept(row, rows))
                    .map(|row| row[0].clone())
                    .collect(),
            ),
            insert: rows
                .iter()
                .filter(|row| !kept(row, previous))
                .cloned()
                .collect(),
        }
    }
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
    fn tables(&self) -> &'static [Table];
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

/// Most documents a projection keeps between batches; beyond that the least recently used go,
/// and are folded again from the log when their captures come up.
const KEPT_DOCUMENTS: NonZeroUsize = NonZeroUsize::new(20_000).expect("non-zero");

/// A [`Projection`] with the documents it keeps between batches.
pub struct Folder<P: Projection> {
    projection: P,
    kept: Mutex<Kept>,
}

/// A capture's document and the rows it produced.
type DocRows = (CaptureDoc, TableRows);
/// A capture's document during a batch, and its previous rows when they are known.
type Touched = (CaptureDoc, Option<TableRows>);

struct Kept {
    at: Position,
    docs: LruCache<String, DocRows>,
    /// Documents of the batch being committed, kept once it is.
    pending: Vec<(String, DocRows)>,
}

impl<P: Projection> Folder<P> {
    pub fn new(projection: P) -> Self {
        Self {
            projection,
            kept: Mutex::new(Kept {
                at: Position::START,
                docs: LruCache::new(KEPT_DOCUMENTS),
                pending: Vec::new(),
            }),
        }
    }

    fn kept_at(&self, at: Position) -> std::sync::MutexGuard<'_, Kept> {
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

    fn tables(&self) -> &'static [Table] {
        P::TABLES
    }

    fn missing(&self, at: Position, captures: &[&str]) -> Vec<String> {
        let kept = self.kept_at(at);
        captures
            .iter()
            .filter(|id| !kept.docs.contains(**id))
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
        let mut touched: BTreeMap<String, Touched> = BTreeMap::new();
        let events = (history.iter().map(|e| (e, false))).chain(batch.iter().map(|e| (e, true)));
        for (event, in_batch) in events {
            let (doc, _) = match touched.entry(event.capture_id.clone()) {
                Entry::Occupied(e) => e.into_mut(),
                // Taken out: if the batch is not committed, the capture is folded afresh.
                Entry::Vacant(e) => e.insert(match kept.docs.pop(&event.capture_id) {
                    Some((doc, rows)) => (doc, Some(rows)),
                    // A capture that begins in this batch has no rows yet.
                    None => (
                        CaptureDoc::default(),
                        (in_batch && event.sequence == 1).then(|| vec![vec![]; P::TABLES.len()]),
                    ),
                }),
            };
            doc.apply(event);
        }
        let mut folded = Vec::with_capacity(touched.len() * P::TABLES.len());
        for (capture_id, (doc, previous)) in touched {
            let rows: TableRows = self
                .projection
                .rows(&capture_id, &doc)
                .into_iter()
                .map(|rows| rows.into_iter().map(Arc::new).collect())
                .collect();
            debug_assert_eq!(rows.len(), P::TABLES.len(), "tables of {}", P::NAME);
            for (index, table) in P::TABLES.iter().enumerate() {
                let previous = previous.as_ref().map(|p| p[index].as_slice());
                folded.push(Folded::between(
                    &capture_id,
                    (index, table),
                    previous,
                    &rows[index],
                ));
            }
            kept.pending.push((capture_id, (doc, rows)));
        }
        Ok(folded)
    }

    fn committed(&self, to: Position) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        for (capture_id, doc) in std::mem::take(&mut kept.pending) {
            kept.docs.put(capture_id, doc);
        }
        kept.at = to;
    }
}

/// The rows a write removes and inserts in one table, gathered from every folded capture.
pub(crate) struct Changes<'a> {
    /// Captures whose every row goes.
    whole: Vec<&'a str>,
    /// Keys (first column values) of single rows that go.
    keys: Vec<&'a str>,
    insert: Vec<&'a Row>,
}

impl<'a> Changes<'a> {
    /// The changes to table number `table`.
    fn of(folded: &'a [Folded], table: usize) -> Self {
        let mut changes = Changes {
            whole: Vec::new(),
            keys: Vec::new(),
            insert: Vec::new(),
        };
        for f in folded.iter().filter(|f| f.table == table) {
            match &f.remove {
                Removal::AllOfCapture => changes.whole.push(f.capture_id.as_str()),
                Removal::Keys(keys) => changes.keys.extend(keys.iter().map(SqlValue::key)),
            }
            changes.insert.extend(f.insert.iter().map(|row| &**row));
        }
        changes
    }

    /// What goes, as (column, values of that column).
    fn removals(&self, table: Table) -> [(&'static str, &Vec<&'a str>); 2] {
        [("capture_id", &self.whole), (table.columns[0], &self.keys)]
    }
}

/// One column of the rows being inserted, as the array PostgreSQL unnests.
enum Column<'a> {
    Text(Vec<Option<&'a str>>),
    Time(Vec<DateTime<Utc>>),
    /// Serialised documents, stored as `json` by PostgreSQL.
    Json(Vec<&'a str>),
}

impl<'a> Column<'a> {
    fn of(rows: &[&'a Row], index: usize) -> Self {
        let mut column = match rows.first().map(|row| &row[index]) {
            Some(SqlValue::Time(_)) => Column::Time(Vec::with_capacity(rows.len())),
            Some(SqlValue::Json(_)) => Column::Json(Vec::with_capacity(rows.len())),
            _ => Column::Text(Vec::with_capacity(rows.len())),
        };
        for row in rows {
            match (&mut column, &row[index]) {
                (Column::Text(v), SqlValue::Text(s)) => v.push(Some(s)),
                (Column::Text(v), SqlValue::OptText(s)) => v.push(s.as_deref()),
                (Column::Time(v), SqlValue::Time(t)) => v.push(*t),
                (Column::Json(v), SqlValue::Json(s)) => v.push(s),
                (_, value) => unreachable!("column {index} mixes value kinds: {value:?}"),
            }
        }
        column
    }

    fn array_type(&self) -> &'static str {
        match self {
            Column::Text(_) => "text[]",
            Column::Time(_) => "timestamptz[]",
            Column::Json(_) => "text[]::json[]",
        }
    }
}

/// Rewrites the query rows of the folded captures, table by table.
pub(crate) async fn write<C: WriteTable>(
    conn: &mut C,
    tables: &[Table],
    folded: &[Folded],
) -> Result<(), ProjectionError> {
    for (index, table) in tables.iter().enumerate() {
        conn.write_table(*table, Changes::of(folded, index)).await?;
    }
    Ok(())
}

/// How a store writes one table's changes: each has its own way of binding many rows.
pub(crate) trait WriteTable {
    async fn write_table(
        &mut self,
        table: Table,
        changes: Changes<'_>,
    ) -> Result<(), ProjectionError>;
}

/// PostgreSQL: one statement per kind of change, each binding whole arrays, so a batch costs at
/// most three statements per table however many rows move.
impl WriteTable for sqlx::PgConnection {
    async fn write_table(
        &mut self,
        table: Table,
        changes: Changes<'_>,
    ) -> Result<(), ProjectionError> {
        for (column, values) in changes.removals(table) {
            if !values.is_empty() {
                sqlx::query(&format!(
                    "DELETE FROM {} WHERE {column} = ANY($1)",
                    table.name
                ))
                .bind(values)
                .execute(&mut *self)
                .await?;
            }
        }
        if changes.insert.is_empty() {
            return Ok(());
        }
        let columns: Vec<Column> = (0..table.columns.len())
            .map(|i| Column::of(&changes.insert, i))
            .collect();
        let arrays: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("${}::{}", i + 1, c.array_type()))
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}) SELECT * FROM unnest({})",
            table.name,
            table.columns.join(", "),
            arrays.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for column in &columns {
            query = match column {
                Column::Text(v) => query.bind(v),
                Column::Time(v) => query.bind(v),
                Column::Json(v) => query.bind(v),
            };
        }
        query.execute(&mut *self).await?;
        Ok(())
    }
}

/// SQLite, which has no arrays: lists of bound values, in chunks below its parameter limit.
impl WriteTable for sqlx::SqliteConnection {
    async fn write_table(
        &mut self,
        table: Table,
        changes: Changes<'_>,
    ) -> Result<(), ProjectionError> {
        for (column, values) in changes.removals(table) {
            for chunk in values.chunks(CHUNK) {
                let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
                    "DELETE FROM {} WHERE {column} IN (",
                    table.name
                ));
                let mut sep = q.separated(", ");
                for value in chunk {
                    sep.push_bind(*value);
                }
                q.push(")");
                q.build().execute(&mut *self).await?;
            }
        }
        let per_statement = (MAX_PARAMS / table.columns.len()).max(1);
        for chunk in changes.insert.chunks(per_statement) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
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
                        SqlValue::Text(s) | SqlValue::Json(s) => b.push_bind(s.as_str()),
                        SqlValue::OptText(s) => b.push_bind(s.as_deref()),
                        SqlValue::Time(t) => b.push_bind(*t),
                    };
                }
            });
            q.build().execute(&mut *self).await?;
        }
        Ok(())
    }
}

/// Values per statement when deleting rows on SQLite.
const CHUNK: usize = 1000;
/// Bound parameters per statement; below SQLite's limit.
const MAX_PARAMS: usize = 30_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, value: &str) -> Arc<Row> {
        Arc::new(vec![
            SqlValue::Text(key.into()),
            SqlValue::Text(value.into()),
        ])
    }

    const TABLE: Table = Table {
        name: "t",
        columns: &["key", "value"],
        permanent_rows: false,
    };
    const PERMANENT: Table = Table {
        permanent_rows: true,
        ..TABLE
    };

    #[test]
    fn unknown_previous_rows_replace_all_of_the_capture() {
        let folded = Folded::between("c1", (0, &TABLE), None, &[row("p1", "a")]);
        assert_eq!(folded.remove, Removal::AllOfCapture);
        assert_eq!(folded.insert, vec![row("p1", "a")]);
    }

    #[test]
    fn unknown_previous_permanent_rows_are_replaced_by_their_keys() {
        let rows = [row("p1", "a"), row("p2", "b")];
        let folded = Folded::between("c1", (1, &PERMANENT), None, &rows);
        assert_eq!(folded.table, 1);
        assert_eq!(
            folded.remove,
            Removal::Keys(vec![
                SqlValue::Text("p1".into()),
                SqlValue::Text("p2".into())
            ])
        );
        assert_eq!(folded.insert, rows);
    }

    #[test]
    fn only_changed_added_and_removed_rows_are_written() {
        let before = [row("p1", "a"), row("p2", "b"), row("p3", "c")];
        let after = [row("p1", "a"), row("p2", "B"), row("p4", "d")];
        let folded = Folded::between("c1", (0, &TABLE), Some(&before), &after);
        assert_eq!(
            folded.remove,
            Removal::Keys(vec![
                SqlValue::Text("p2".into()),
                SqlValue::Text("p3".into())
            ])
        );
        assert_eq!(folded.insert, vec![row("p2", "B"), row("p4", "d")]);
    }

    #[test]
    fn unchanged_rows_write_nothing() {
        let rows = [row("p1", "a")];
        let folded = Folded::between("c1", (0, &TABLE), Some(&rows), &rows);
        assert_eq!(folded.remove, Removal::Keys(vec![]));
        assert!(folded.insert.is_empty());
    }
}
