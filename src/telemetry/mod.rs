//! Logging: human-readable on a terminal, JSON lines in production (`--log-json`); the id of
//! the request being served, which log lines, error answers and recorded events carry; and the
//! service's [`metrics`].

pub mod metrics;

use tracing_subscriber::EnvFilter;

use crate::configuration::{LogSettings, SettingError};

/// Starts logging to standard error as the `[log]` settings say.
pub fn init(settings: &LogSettings) -> Result<(), SettingError> {
    let json = settings.json;
    let filter = EnvFilter::try_new(&settings.filter).map_err(|_| {
        SettingError::invalid(
            "log.filter",
            format!(
                "{:?} is not a filter such as \"info,sqlx=warn\"",
                settings.filter
            ),
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A subscriber set already (in tests) is kept.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    Ok(())
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

/// An error and every cause beneath it, `outer: inner: innermost`, for one log field: causes
/// are kept as sources, never flattened into strings, and logged whole.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("the capture cannot be loaded")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_chain_prints_every_cause() {
        let error = Outer(std::io::Error::other("disk full"));
        assert_eq!(
            ErrorChain(&error).to_string(),
            "the capture cannot be loaded: disk full"
        );
    }
}
