use thiserror::Error;

/// A failure of the database, or of the log it holds.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("event {aggregate_id}#{sequence} ({event_type} {event_version}) cannot be read")]
    UnreadableEvent {
        aggregate_id: String,
        sequence: i64,
        event_type: String,
        event_version: String,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Key(#[from] crate::personal::KeyError),
}
