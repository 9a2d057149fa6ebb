//! `GET /captures/{id}` reads, batched ([`crate::ledger::coalesce`]): the statuses asked for while others
//! are being read are fetched together, in one statement. Under load this is most of what the
//! database does for students polling their status, so one round trip for many saves much of it.
//!
//! A read is only ever served by a statement that starts after it was asked, so it sees every
//! view committed before it was asked: read-your-writes holds as for a direct read.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use photo_ledger_projections::{capture_status, ProjectionError};
use photo_ledger_store::Db;

use crate::ledger::coalesce::{first, Batches, Server, Waiting};

/// Most statuses read in one statement.
const MAX_BATCH: usize = 64;

/// A capture's owner and its status view, as stored (JSON).
pub type StoredStatus = (String, String);

/// Reads capture statuses, batched with other reads waiting at the same moment.
#[derive(Clone)]
pub struct StatusReads {
    reader: Batches<StatusReader>,
}

impl StatusReads {
    /// Starts the reading task; must be called inside a Tokio runtime.
    pub fn start(db: Db) -> Self {
        Self {
            reader: Batches::start(StatusReader { db }),
        }
    }

    /// The capture's owner and status view, when it has one.
    pub async fn get(&self, capture_id: String) -> Result<Option<StoredStatus>, ProjectionError> {
        self.reader
            .ask(capture_id)
            .await
            .unwrap_or(Err(ProjectionError::Database(sqlx::Error::PoolClosed)))
    }
}

struct StatusReader {
    db: Db,
}

impl Server for StatusReader {
    type Request = String;
    type Answer = Result<Option<StoredStatus>, ProjectionError>;
    const IN_FLIGHT: usize = 4;

    fn take(waiting: &mut VecDeque<Waiting<Self>>) -> Vec<Waiting<Self>> {
        first(waiting, MAX_BATCH)
    }

    async fn serve(self: Arc<Self>, batch: Vec<Waiting<Self>>) {
        let ids: Vec<&str> = batch.iter().map(|w| w.request.as_str()).collect();
        let read = capture_status::json_by_captures(&self.db, &ids).await;
        match read {
            Ok(found) => {
                let found: HashMap<String, StoredStatus> = found
                    .into_iter()
                    .map(|(id, owner, view)| (id, (owner, view)))
                    .collect();
                for waiting in batch {
                    let status = found.get(&waiting.request).cloned();
                    waiting.answer(Ok(status));
                }
            }
            // Each read is tried alone, so each gets its own error.
            Err(_) => {
                for waiting in batch {
                    let status = capture_status::json_by_capture(&self.db, &waiting.request).await;
                    waiting.answer(status);
                }
            }
        }
    }
}
