//! A view's fold: the batch's documents (shared by every view, see [`Documents`]) turned into
//! the view's rows, and the rows each capture had before, kept between batches in an LRU cache
//! valid exactly at the checkpoint it was kept at, within a memory budget counted in bytes (a
//! capture with 20 photos weighs far more than one with a single event).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use photo_ledger_store::log::{LoggedEvent, Position};

use super::documents::{BatchDoc, Documents};
use super::weighed::Weighed;
use super::{Fold, Folded, Projection, Row, SqlValue, Table, TableRows};
use crate::error::ProjectionError;

/// What a projection keeps between batches until the projector sets its share
/// ([`Fold::keep_at_most`]).
const DEFAULT_KEPT_BYTES: usize = 16 * 1024 * 1024;

/// A [`Projection`] with the rows it keeps between batches. Beyond its budget the least
/// recently used go; a capture whose rows are not known has all its rows rewritten.
pub struct Folder<P: Projection> {
    projection: P,
    documents: Arc<Documents>,
    kept: Mutex<Kept>,
    budget: AtomicUsize,
}

struct Kept {
    at: Position,
    /// Each capture's rows.
    rows: Weighed<TableRows>,
    /// Rows of the batch being committed, kept once it is.
    pending: Vec<(String, TableRows)>,
}

/// About what a capture's rows take in memory, in bytes.
fn weight(rows: &TableRows) -> usize {
    use std::mem::size_of;
    let value = |v: &SqlValue| {
        size_of::<SqlValue>()
            + match v {
                SqlValue::Text(s) | SqlValue::Json(s) => s.len(),
                SqlValue::OptText(s) => s.as_ref().map_or(0, String::len),
                SqlValue::Time(_) | SqlValue::OptTime(_) | SqlValue::OptInt(_) => 0,
            }
    };
    rows.iter()
        .flatten()
        // The row behind its `Arc` (two counts) and the `Arc` itself.
        .map(|row| {
            2 * size_of::<usize>()
                + size_of::<Row>()
                + size_of::<Arc<Row>>()
                + row.iter().map(value).sum::<usize>()
        })
        .sum()
}

impl<P: Projection> Folder<P> {
    /// The projection, deriving its rows from `documents` (shared with the projector's other
    /// views).
    pub fn new(projection: P, documents: Arc<Documents>) -> Self {
        let folder = Self {
            projection,
            documents,
            kept: Mutex::new(Kept {
                at: Position::START,
                rows: Weighed::new(),
                pending: Vec::new(),
            }),
            budget: AtomicUsize::new(0),
        };
        folder.keep_at_most(DEFAULT_KEPT_BYTES);
        folder
    }

    fn kept(&self) -> MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
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
        self.documents.missing(at, captures)
    }

    fn fold(
        &self,
        at: Position,
        history: &[LoggedEvent],
        batch: &[LoggedEvent],
    ) -> Result<Vec<Folded>, ProjectionError> {
        let docs = self.documents.fold(at, history, batch)?;
        let mut kept = self.kept();
        kept.pending.clear();
        if kept.at != at {
            kept.rows.clear();
            kept.at = at;
        }
        let mut folded = Vec::with_capacity(docs.len() * P::TABLES.len());
        for BatchDoc {
            capture_id,
            doc,
            began,
        } in docs.iter()
        {
            // Taken out: if the batch is not committed, the capture's rows are rewritten. A
            // capture that began in the batch had none.
            let previous = kept
                .rows
                .take(capture_id)
                .or_else(|| began.then(|| vec![vec![]; P::TABLES.len()]));
            let rows: TableRows = self
                .projection
                .rows(capture_id, doc)
                .into_iter()
                .map(|rows| rows.into_iter().map(Arc::new).collect())
                .collect();
            debug_assert_eq!(rows.len(), P::TABLES.len(), "tables of {}", P::NAME);
            for (index, table) in P::TABLES.iter().enumerate() {
                let previous = previous.as_ref().map(|p| p[index].as_slice());
                folded.push(Folded::between(
                    capture_id,
                    (index, table),
                    previous,
                    &rows[index],
                    doc.capture.erased_at.is_some(),
                ));
            }
            kept.pending.push((capture_id.clone(), rows));
        }
        Ok(folded)
    }

    fn committed(&self, to: Position) {
        self.documents.committed(to);
        let budget = self.budget.load(Ordering::Relaxed);
        let mut kept = self.kept();
        for (capture_id, rows) in std::mem::take(&mut kept.pending) {
            let weight = weight(&rows);
            kept.rows.put(capture_id, rows, weight);
        }
        kept.rows.shed(budget);
        kept.at = to;
    }

    /// Half of `bytes` for this view's rows, half for the documents every view shares.
    fn keep_at_most(&self, bytes: usize) {
        let rows = bytes / 2;
        self.documents.share(P::NAME, bytes - rows);
        self.budget.store(rows, Ordering::Relaxed);
        self.kept().rows.shed(rows);
    }

    fn kept_bytes(&self) -> usize {
        self.kept().rows.bytes() + self.documents.kept_bytes(P::NAME)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use photo_ledger_domain::events::Submitted;
    use photo_ledger_domain::values::PhotoId;
    use photo_ledger_domain::CaptureEvent;

    use super::*;
    use crate::capture_doc::CaptureDoc;
    use crate::projection::Removal;

    /// A view with one row per capture: how many times it was submitted.
    struct Submissions;
    /// A second view over the same documents: the capture's newest submission time.
    struct LastSubmitted;

    const COUNTS: Table = Table {
        name: "counts",
        columns: &["capture_id", "submissions"],
        permanent_rows: false,
        unique_key: true,
    };

    impl Projection for Submissions {
        const NAME: &'static str = "submissions";
        const TABLES: &'static [Table] = &[COUNTS];
        fn rows(&self, capture_id: &str, doc: &CaptureDoc) -> Vec<Vec<Row>> {
            vec![vec![vec![
                SqlValue::Text(capture_id.into()),
                SqlValue::Text(doc.submissions.len().to_string()),
            ]]]
        }
    }

    impl Projection for LastSubmitted {
        const NAME: &'static str = "last_submitted";
        const TABLES: &'static [Table] = &[Table {
            name: "last_submitted",
            columns: &["capture_id", "at"],
            permanent_rows: false,
            unique_key: true,
        }];
        fn rows(&self, capture_id: &str, doc: &CaptureDoc) -> Vec<Vec<Row>> {
            vec![vec![vec![
                SqlValue::Text(capture_id.into()),
                SqlValue::OptTime(doc.submitted_at),
            ]]]
        }
    }

    fn position(n: i64) -> Position {
        Position {
            txid: 1,
            position: n,
        }
    }

    /// Capture `capture`'s event number `sequence`, a submission, at log position `at`.
    fn submitted(capture: &str, sequence: i64, at: i64) -> LoggedEvent {
        LoggedEvent {
            position: position(at),
            capture_id: capture.into(),
            sequence,
            event: CaptureEvent::Submitted(Submitted {
                standard_photo_id: PhotoId::new(),
                same_photos: vec![],
                submitted_at: Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap()
                    + chrono::Duration::minutes(at),
            }),
            metadata: None,
        }
    }

    /// The submission count `folded` writes for its one capture.
    fn count(folded: &[Folded]) -> &str {
        match folded {
            [Folded { insert, .. }] => insert[0][1].key(),
            _ => panic!("one capture expected: {folded:?}"),
        }
    }

    fn views() -> (Folder<Submissions>, Folder<LastSubmitted>) {
        let documents = Arc::new(Documents::default());
        (
            Folder::new(Submissions, documents.clone()),
            Folder::new(LastSubmitted, documents),
        )
    }

    #[test]
    fn given_two_views_when_a_batch_is_committed_then_its_documents_are_kept_once_for_both() {
        let (counts, last) = views();
        let batch = [submitted("c1", 1, 1), submitted("c1", 2, 2)];

        for view in [&counts as &dyn Fold, &last] {
            view.fold(Position::START, &[], &batch).unwrap();
        }
        counts.committed(position(2));
        last.committed(position(2));

        assert!(counts.missing(position(2), &["c1"]).is_empty());
        assert!(last.missing(position(2), &["c1"]).is_empty());
        let doc = CaptureDoc::default().approximate_bytes();
        let rows = counts.kept().rows.bytes() + last.kept().rows.bytes();
        assert!(rows > 0);
        assert!(
            counts.kept_bytes() + last.kept_bytes() < rows + 2 * doc,
            "the document is counted once"
        );
    }

    #[test]
    fn given_a_batch_never_committed_when_a_longer_one_is_folded_from_the_same_checkpoint_then_it_starts_from_the_kept_documents(
    ) {
        let (counts, _) = views();
        counts
            .fold(Position::START, &[], &[submitted("c1", 1, 1)])
            .unwrap();
        counts.committed(position(1));

        // Folded, then rolled back: nothing committed.
        counts
            .fold(position(1), &[], &[submitted("c1", 2, 2)])
            .unwrap();
        assert!(counts.missing(position(1), &["c1"]).is_empty());
        let folded = counts
            .fold(
                position(1),
                &[],
                &[submitted("c1", 2, 2), submitted("c1", 3, 3)],
            )
            .unwrap();

        assert_eq!(count(&folded), "3");
        assert_eq!(
            folded[0].remove,
            Removal::AllOfCapture,
            "rows taken by the batch that was rolled back are rewritten"
        );
    }

    #[test]
    fn given_views_at_one_position_when_another_is_rebuilt_alone_then_it_keeps_its_documents_apart_until_it_catches_up(
    ) {
        let (counts, last) = views();
        let log = [
            submitted("c1", 1, 1),
            submitted("c1", 2, 2),
            submitted("c1", 3, 3),
        ];
        counts.fold(Position::START, &[], &log).unwrap();
        counts.committed(position(3));

        // `last` is rebuilt from the start, a batch at a time, while `counts` stays at 3.
        assert_eq!(last.missing(Position::START, &["c1"]), ["c1"]);
        last.fold(Position::START, &[], &log[..1]).unwrap();
        last.committed(position(1));
        assert!(last.missing(position(1), &["c1"]).is_empty());
        assert!(counts.missing(position(3), &["c1"]).is_empty());
        let folded = last.fold(position(1), &[], &log[1..]).unwrap();
        last.committed(position(3));

        assert_eq!(
            folded[0].insert[0][1],
            SqlValue::OptTime(Some(Utc.with_ymd_and_hms(2026, 6, 1, 9, 3, 0).unwrap()))
        );
        let next = counts
            .fold(position(3), &[], &[submitted("c1", 4, 4)])
            .unwrap();
        assert_eq!(count(&next), "4");
        assert!(last.missing(position(3), &["c1"]).is_empty());
    }

    #[test]
    fn given_documents_moved_on_by_another_views_batch_when_a_view_folds_without_the_history_it_was_told_it_needs_not_then_it_is_told_to_read_again(
    ) {
        let (counts, last) = views();
        counts
            .fold(Position::START, &[], &[submitted("c1", 1, 1)])
            .unwrap();
        counts.committed(position(1));
        last.fold(Position::START, &[], &[submitted("c1", 1, 1)])
            .unwrap();
        last.committed(position(1));

        // `last` learns that nothing is missing at 1, then `counts` moves the documents to 2.
        assert!(last.missing(position(1), &["c1"]).is_empty());
        counts
            .fold(position(1), &[], &[submitted("c1", 2, 2)])
            .unwrap();
        counts.committed(position(2));

        assert!(matches!(
            last.fold(position(1), &[], &[submitted("c1", 2, 2)]),
            Err(ProjectionError::DocumentsMoved)
        ));
        // Told what it needs now, it folds.
        assert_eq!(last.missing(position(1), &["c1"]), ["c1"]);
        let folded = last
            .fold(
                position(1),
                &[submitted("c1", 1, 1)],
                &[submitted("c1", 2, 2)],
            )
            .unwrap();
        assert_eq!(folded.len(), 1);
    }

    #[test]
    fn given_a_small_budget_when_many_captures_are_committed_then_what_is_kept_stays_within_it() {
        let (counts, last) = views();
        counts.keep_at_most(8 * 1024);
        last.keep_at_most(8 * 1024);
        let batch: Vec<LoggedEvent> = (1..=500)
            .map(|n| submitted(&format!("c{n}"), 1, n))
            .collect();

        for view in [&counts as &dyn Fold, &last] {
            view.fold(Position::START, &[], &batch).unwrap();
            view.committed(position(500));
        }

        let kept = counts.kept_bytes() + last.kept_bytes();
        assert!(kept > 0 && kept <= 16 * 1024, "{kept} bytes kept");
        let ids: Vec<String> = batch.iter().map(|e| e.capture_id.clone()).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let missing = counts.missing(position(500), &ids).len();
        assert!(0 < missing && missing < 500, "{missing} documents let go");
    }
}
