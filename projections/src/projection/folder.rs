//! The documents a projection keeps between batches: an LRU cache of each capture's document and
//! the rows it produced, valid exactly at the checkpoint it was kept at.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use photo_ledger_store::log::{LoggedEvent, Position};

use super::{Fold, Folded, Projection, Table, TableRows};
use crate::capture_doc::CaptureDoc;
use crate::error::ProjectionError;

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
                    doc.capture.erased_at.is_some(),
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
