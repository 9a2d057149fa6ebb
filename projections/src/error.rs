use thiserror::Error;

#[derive(Debug, Error)]
pub enum ProjectionError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error(
        "event {aggregate_id}#{sequence} ({event_type} {event_version}) cannot be read: {source}"
    )]
    UnreadableEvent {
        aggregate_id: String,
        sequence: i64,
        event_type: String,
        event_version: String,
        source: serde_json::Error,
    },
    #[error("unknown projection {0:?}; known: capture_status, review_queue, courier_orders, photo_history")]
    UnknownProjection(String),
    #[error("reading the log ahead was cancelled: the service is shutting down")]
    ReadAheadCancelled,
    #[error("timed out after {0:?} waiting for projections to catch up")]
    WaitTimedOut(std::time::Duration),
}
