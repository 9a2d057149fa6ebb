//! What a projection is: a fold of a capture's events into a document, and the query rows that
//! document produces. The projector rewrites the capture's rows in the same transaction as the
//! checkpoint. Documents are folded once per batch for every view and live in memory between
//! batches, as does each view's last rows of a capture; both are folded again from the
//! capture's events when they are not there.

mod documents;
mod folder;
mod weighed;
mod write;

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use documents::Documents;
pub use folder::Folder;
pub(crate) use write::{write, Advance, WriteTables};

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
    /// Its key is the table's primary key (or otherwise unique), so a changed row can be
    /// updated in place rather than deleted and inserted again.
    pub unique_key: bool,
}

/// One column value of a query row.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Text(String),
    OptText(Option<String>),
    Time(DateTime<Utc>),
    OptTime(Option<DateTime<Utc>>),
    OptInt(Option<i64>),
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
    pub(crate) fn key(&self) -> &str {
        match self {
            SqlValue::Text(s) | SqlValue::Json(s) => s,
            SqlValue::OptText(s) => s.as_deref().unwrap_or_default(),
            SqlValue::Time(_) | SqlValue::OptTime(_) | SqlValue::OptInt(_) => {
                unreachable!("row keys are text")
            }
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
pub(crate) type TableRows = Vec<Vec<Arc<Row>>>;

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
    /// unchanged rows are left alone. An `erased` capture's rows all go, even from a table whose
    /// rows are otherwise permanent.
    pub fn between(
        capture_id: &str,
        (index, table): (usize, &Table),
        previous: Option<&[Arc<Row>]>,
        rows: &[Arc<Row>],
        erased: bool,
    ) -> Folded {
        let Some(previous) = previous else {
            return Folded {
                capture_id: capture_id.to_string(),
                table: index,
                remove: if table.permanent_rows && !erased {
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
    /// Keep documents between batches weighing at most about `bytes` (a fold that keeps
    /// nothing has nothing to do).
    fn keep_at_most(&self, _bytes: usize) {}
    /// What the documents kept now weigh, in bytes.
    fn kept_bytes(&self) -> usize {
        0
    }
}

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
        unique_key: true,
    };
    const PERMANENT: Table = Table {
        permanent_rows: true,
        ..TABLE
    };

    #[test]
    fn unknown_previous_rows_replace_all_of_the_capture() {
        let folded = Folded::between("c1", (0, &TABLE), None, &[row("p1", "a")], false);
        assert_eq!(folded.remove, Removal::AllOfCapture);
        assert_eq!(folded.insert, vec![row("p1", "a")]);
    }

    #[test]
    fn unknown_previous_permanent_rows_are_replaced_by_their_keys() {
        let rows = [row("p1", "a"), row("p2", "b")];
        let folded = Folded::between("c1", (1, &PERMANENT), None, &rows, false);
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
    fn an_erased_capture_loses_every_row_even_of_a_permanent_table() {
        let folded = Folded::between("c1", (1, &PERMANENT), None, &[], true);
        assert_eq!(folded.remove, Removal::AllOfCapture);
        assert!(folded.insert.is_empty());
    }

    #[test]
    fn only_changed_added_and_removed_rows_are_written() {
        let before = [row("p1", "a"), row("p2", "b"), row("p3", "c")];
        let after = [row("p1", "a"), row("p2", "B"), row("p4", "d")];
        let folded = Folded::between("c1", (0, &TABLE), Some(&before), &after, false);
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
        let folded = Folded::between("c1", (0, &TABLE), Some(&rows), &rows, false);
        assert_eq!(folded.remove, Removal::Keys(vec![]));
        assert!(folded.insert.is_empty());
    }
}
