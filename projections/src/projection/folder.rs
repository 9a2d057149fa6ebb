//! The documents a projection keeps between batches: an LRU cache of each capture's document and
//! the rows it produced, valid exactly at the checkpoint it was kept at, within a memory budget
//! counted in bytes (a capture with 20 photos weighs far more than one with a single event).

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lru::LruCache;
use photo_ledger_store::log::{LoggedEvent, Position};

use super::{Fold, Folded, Projection, Row, SqlValue, Table, TableRows};
use crate::capture_doc::CaptureDoc;
use crate::error::ProjectionError;

/// What a projection keeps between batches until the projector sets its share
/// ([`Fold::keep_at_most`]).
const DEFAULT_KEPT_BYTES: usize = 16 * 1024 * 1024;

/// A [`Projection`] with the documents it keeps between batches. Beyond its budget the least
/// recently used go, and are folded again from the log when their captures come up.
pub struct Folder<P: Projection> {
    projection: P,
    kept: Mutex<Kept>,
    budget: AtomicUsize,
}

/// A capture's document and the rows it produced.
type DocRows = (CaptureDoc, TableRows);
/// A capture's document during a batch, and its previous rows when they are known.
type Touched = (CaptureDoc, Option<TableRows>);

struct Kept {
    at: Position,
    /// Each document with its rows and their weight in bytes.
    docs: LruCache<String, (DocRows, usize)>,
    /// The weights of `docs` added up.
    bytes: usize,
    /// Documents of the batch being committed, kept once it is.
    pending: Vec<(String, DocRows)>,
}

impl Kept {
    fn take(&mut self, capture_id: &str) -> Option<DocRows> {
        let (doc, weight) = self.docs.pop(capture_id)?;
        self.bytes -= weight;
        Some(doc)
    }

    fn put(&mut self, capture_id: String, doc: DocRows, budget: usize) {
        let weight = weight(&doc);
        self.bytes += weight;
        if let Some((_, (_, replaced))) = self.docs.push(capture_id, (doc, weight)) {
            self.bytes -= replaced;
        }
        self.shed(budget);
    }

    /// Lets the least recently used documents go until the rest weigh at most `budget`.
    fn shed(&mut self, budget: usize) {
        while self.bytes > budget {
            let Some((_, (_, weight))) = self.docs.pop_lru() else {
                break;
            };
            self.bytes -= weight;
        }
    }

    fn clear(&mut self) {
        self.docs.clear();
        self.bytes = 0;
    }
}

/// About what a kept document and its rows take in memory, in bytes.
fn weight((doc, rows): &DocRows) -> usize {
    use std::mem::size_of;
    let value = |v: &SqlValue| {
        size_of::<SqlValue>()
            + match v {
                SqlValue::Text(s) | SqlValue::Json(s) => s.len(),
                SqlValue::OptText(s) => s.as_ref().map_or(0, String::len),
                SqlValue::Time(_) | SqlValue::OptTime(_) | SqlValue::OptInt(_) => 0,
            }
    };
    let rows: usize = rows
        .iter()
        .flatten()
        // The row behind its `Arc` (two counts) and the `Arc` itself.
        .map(|row| {
            2 * size_of::<usize>()
                + size_of::<Row>()
                + size_of::<Arc<Row>>()
                + row.iter().map(value).sum::<usize>()
        })
        .sum();
    doc.approximate_bytes() + rows
}

impl<P: Projection> Folder<P> {
    pub fn new(projection: P) -> Self {
        Self {
            projection,
            kept: Mutex::new(Kept {
                at: Position::START,
                docs: LruCache::unbounded(),
                bytes: 0,
                pending: Vec::new(),
            }),
            budget: AtomicUsize::new(DEFAULT_KEPT_BYTES),
        }
    }

    fn kept_at(&self, at: Position) -> std::sync::MutexGuard<'_, Kept> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.pending.clear();
        if kept.at != at {
            kept.clear();
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
                Entry::Vacant(e) => e.insert(match kept.take(&event.capture_id) {
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
                    doc.capture.erased_at.is_some(),
                ));
            }
            kept.pending.push((capture_id, (doc, rows)));
        }
        Ok(folded)
    }

    fn committed(&self, to: Position) {
        let budget = self.budget.load(Ordering::Relaxed);
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        for (capture_id, doc) in std::mem::take(&mut kept.pending) {
            kept.put(capture_id, doc, budget);
        }
        kept.at = to;
    }

    fn keep_at_most(&self, bytes: usize) {
        self.budget.store(bytes, Ordering::Relaxed);
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.shed(bytes);
    }

    fn kept_bytes(&self) -> usize {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }
}
