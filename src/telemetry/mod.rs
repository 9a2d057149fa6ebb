//! Logging: human-readable on a terminal, JSON lines in production (`--log-json`); the id of
//! the request being served, which log lines, error answers and recorded events carry; and the
//! service's [`metrics`].

pub mod metrics;

use tracing_subscriber::EnvFilter;

pub fn init(json: bool) {
    let filter = EnvFilter::try_from_env("PHOTO_LEDGER_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

tokio::task_local! {
    /// The id of the request being served, set by the HTTP layer for the request's whole work.
    pub static REQUEST_ID: String;
}

/// The id of the request being served (a fresh one outside any request, as for the service's
/// own background work).
pub fn request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| uuid::Uuid::new_v4().to_string())
}
