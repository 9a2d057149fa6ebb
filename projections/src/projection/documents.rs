//! The capture documents every view is derived from, folded once per batch for all the views
//! of a projector and kept between batches once: seven views used to fold and keep seven copies
//! of each document.
//!
//! Documents are kept at a log position: a document is a pure function of its capture's events
//! up to that position, so the ones kept at a position serve every view whose checkpoint is that
//! position. Views at different checkpoints (one being rebuilt while the others run) keep theirs
//! in lanes of their own, one per position, which become one when they reach the same position.
//! A batch's documents are kept apart until a view commits the batch, and its lane moves to the
//! batch's end then.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use photo_ledger_store::log::{LoggedEvent, Position};

use super::weighed::Weighed;
use crate::capture_doc::CaptureDoc;
use crate::error::ProjectionError;

/// Shared by the [`super::Folder`]s of one projector (see [`crate::all_projections`]).
pub struct Documents {
    state: Mutex<State>,
}

/// The documents of the captures a batch touched, after it, in capture order.
pub(crate) type BatchDocs = Arc<Vec<BatchDoc>>;

#[derive(Clone)]
pub(crate) struct BatchDoc {
    pub(crate) capture_id: String,
    pub(crate) doc: CaptureDoc,
    /// The capture's first event ever is in the batch: it had no rows before.
    pub(crate) began: bool,
}

#[derive(Default)]
struct State {
    /// At most one per position.
    lanes: Vec<Lane>,
    /// What each view sharing the documents gives them of its memory; the budget is the sum.
    shares: BTreeMap<&'static str, usize>,
    /// Counts folds and commits, to tell which lane was used last.
    clock: u64,
}

/// The documents kept at one position.
struct Lane {
    at: Position,
    /// Each document at `at`.
    docs: Weighed<CaptureDoc>,
    /// The last batch folded from `at`, for the other views applying the same batch.
    batch: Option<Batch>,
    /// When the lane was last folded from or moved.
    used: u64,
}

struct Batch {
    to: Position,
    events: usize,
    docs: BatchDocs,
}

impl Default for Documents {
    fn default() -> Self {
        Self {
            state: Mutex::new(State::default()),
        }
    }
}

impl Documents {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Of `captures`, those whose document at `at` is not kept.
    pub(crate) fn missing(&self, at: Position, captures: &[&str]) -> Vec<String> {
        let state = self.state();
        let lane = state.lanes.iter().find(|lane| lane.at == at);
        captures
            .iter()
            .filter(|id| !lane.is_some_and(|lane| lane.docs.contains(id)))
            .map(|id| id.to_string())
            .collect()
    }

    /// The documents of the captures `batch` touches, after it: folded from `history` (every
    /// event up to `at` of the captures reported missing) or from the ones kept at `at`, with
    /// the batch applied. A batch already folded from `at` is not folded again. A capture
    /// neither in `history` nor kept (the documents moved on since [`Documents::missing`] was
    /// asked) is [`ProjectionError::DocumentsMoved`]: ask again and read its history.
    pub(crate) fn fold(
        &self,
        at: Position,
        history: &[LoggedEvent],
        batch: &[LoggedEvent],
    ) -> Result<BatchDocs, ProjectionError> {
        let Some(to) = batch.last().map(|e| e.position) else {
            return Ok(BatchDocs::default());
        };
        let mut state = self.state();
        state.clock += 1;
        let clock = state.clock;
        let lane = match state.lanes.iter().position(|lane| lane.at == at) {
            Some(index) => &mut state.lanes[index],
            None => {
                state.lanes.push(Lane::new(at));
                state.lanes.last_mut().expect("just pushed")
            }
        };
        lane.used = clock;
        if let Some(done) = &lane.batch {
            if (done.to, done.events) == (to, batch.len()) {
                return Ok(done.docs.clone());
            }
        }
        // Each capture's document, and whether the capture began in the batch.
        let mut touched: BTreeMap<String, (CaptureDoc, bool)> = BTreeMap::new();
        for event in history {
            touched
                .entry(event.capture_id.clone())
                .or_default()
                .0
                .apply(event);
        }
        for event in batch {
            let (doc, _) = match touched.entry(event.capture_id.clone()) {
                Entry::Occupied(e) => e.into_mut(),
                // A capture that begins in this batch has no document yet.
                Entry::Vacant(e) if event.sequence == 1 => e.insert((CaptureDoc::default(), true)),
                // Copied, so the kept one stays valid at `at` if the batch is never committed.
                Entry::Vacant(e) => match lane.docs.get(&event.capture_id) {
                    Some(doc) => e.insert((doc.clone(), false)),
                    None => return Err(ProjectionError::DocumentsMoved),
                },
            };
            doc.apply(event);
        }
        let docs: BatchDocs = Arc::new(
            touched
                .into_iter()
                .map(|(capture_id, (doc, began))| BatchDoc {
                    capture_id,
                    doc,
                    began,
                })
                .collect(),
        );
        lane.batch = Some(Batch {
            to,
            events: batch.len(),
            docs: docs.clone(),
        });
        Ok(docs)
    }

    /// A view committed the batch ending at `to`: the lane that folded it moves to its end (and
    /// becomes one with a lane already there).
    pub(crate) fn committed(&self, to: Position) {
        let mut state = self.state();
        state.clock += 1;
        let clock = state.clock;
        let Some(index) = state
            .lanes
            .iter()
            .position(|lane| lane.batch.as_ref().is_some_and(|b| b.to == to))
        else {
            return;
        };
        let mut lane = state.lanes.swap_remove(index);
        let batch = lane.batch.take().expect("found by its batch");
        let docs = Arc::try_unwrap(batch.docs).unwrap_or_else(|shared| (*shared).clone());
        for BatchDoc {
            capture_id, doc, ..
        } in docs
        {
            lane.keep(capture_id, doc);
        }
        lane.at = to;
        lane.used = clock;
        if let Some(there) = state.lanes.iter_mut().find(|other| other.at == to) {
            // Both hold documents at `to`: the one just used keeps its own where both have one.
            while let Some((capture_id, doc)) = there.docs.pop_lru() {
                if !lane.docs.contains(&capture_id) {
                    lane.keep(capture_id, doc);
                }
            }
        }
        state.lanes.retain(|other| other.at != to);
        state.lanes.push(lane);
        state.shed();
    }

    /// The view `name` gives the documents `bytes` of its memory.
    pub(crate) fn share(&self, name: &'static str, bytes: usize) {
        let mut state = self.state();
        state.shares.insert(name, bytes);
        state.shed();
    }

    /// The part of the kept documents' weight, in bytes, that `name` answers for (its share of
    /// the budget).
    pub(crate) fn kept_bytes(&self, name: &str) -> usize {
        let state = self.state();
        let total: usize = state.shares.values().sum();
        let bytes: usize = state.lanes.iter().map(|lane| lane.docs.bytes()).sum();
        match state.shares.get(name) {
            Some(&share) if total > 0 => (bytes as u128 * share as u128 / total as u128) as usize,
            _ => 0,
        }
    }
}

impl Lane {
    fn new(at: Position) -> Self {
        Self {
            at,
            docs: Weighed::new(),
            batch: None,
            used: 0,
        }
    }

    /// Keeps `doc` as the most recently used, weighed by its parts and text.
    fn keep(&mut self, capture_id: String, doc: CaptureDoc) {
        let weight = doc.approximate_bytes();
        self.docs.put(capture_id, doc, weight);
    }
}

impl State {
    /// Lets documents go until the rest fit the budget: the least recently used lanes' first,
    /// and in a lane the least recently used. A lane left empty goes too, unless a batch is
    /// being folded from it.
    fn shed(&mut self) {
        let budget: usize = self.shares.values().sum();
        let mut bytes: usize = self.lanes.iter().map(|lane| lane.docs.bytes()).sum();
        self.lanes.sort_by_key(|lane| lane.used);
        for lane in &mut self.lanes {
            let others = bytes - lane.docs.bytes();
            lane.docs.shed(budget.saturating_sub(others));
            bytes = others + lane.docs.bytes();
        }
        self.lanes
            .retain(|lane| !lane.docs.is_empty() || lane.batch.is_some());
    }
}
