use photo_ledger_store::StoreError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("unknown projection {0:?}; known: capture_status, review_queue, courier_orders, photo_history, refunds, same_photos, collection_progress")]
    UnknownProjection(String),
    #[error("a batch read or written ahead was cancelled: the service is shutting down")]
    BatchCancelled,
    #[error("timed out after {0:?} waiting for projections to catch up")]
    WaitTimedOut(std::time::Duration),
    /// The documents the views share moved on between a batch asking what history it needs and
    /// folding; the projector applies the batch again.
    #[error("the views' documents moved on while a batch was folded; it is applied again")]
    DocumentsMoved,
}
