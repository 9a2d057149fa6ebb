//! Standardisation for the service: the standardiser runs on tokio's blocking threads, at most
//! `concurrent` at a time, so a burst of uploads queues here instead of occupying the HTTP
//! workers.

use std::sync::Arc;

use photo_ledger_domain::values::Background;
use photo_ledger_photo::error::PhotoError;
use photo_ledger_photo::{Standardised, Standardiser};
use tokio::sync::Semaphore;

pub struct PhotoPipeline {
    standardiser: Arc<Standardiser>,
    permits: Semaphore,
}

impl PhotoPipeline {
    pub fn new(standardiser: Standardiser, concurrent: usize) -> Self {
        Self {
            standardiser: Arc::new(standardiser),
            permits: Semaphore::new(concurrent.max(1)),
        }
    }

    /// Standardises on a blocking thread once a permit is free.
    pub async fn standardise(
        &self,
        bytes: Arc<Vec<u8>>,
        background: Background,
    ) -> Result<Standardised, PhotoError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the pipeline's semaphore is never closed");
        let standardiser = self.standardiser.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            // Crash tests hold an upload here, mid-standardisation, to kill the service under
            // it; compiled in only with the `failpoints` feature.
            fail::fail_point!("photos.standardise");
            span.in_scope(|| standardiser.standardise(&bytes, background))
        })
        .await
        .map_err(|e| PhotoError::Inference {
            model: "pipeline",
            reason: e.to_string(),
        })?
    }
}
