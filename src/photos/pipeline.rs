//! Standardisation for the service: the standardiser runs on tokio's blocking threads, at most
//! `concurrent` at a time, so a burst of uploads queues here instead of occupying the HTTP
//! workers, and each first takes what its picture will need from the decoding budget.

use std::sync::Arc;

use photo_ledger_domain::values::Background;
use photo_ledger_photo::error::PhotoError;
use photo_ledger_photo::input::{self, Header};
use photo_ledger_photo::{Standardised, Standardiser};
use tokio::sync::Semaphore;

use crate::memory_budget::MemoryBudget;

pub struct PhotoPipeline {
    standardiser: Arc<Standardiser>,
    permits: Semaphore,
    budget: Arc<MemoryBudget>,
}

/// What standardising holds besides the picture's own pixels, whatever their number: the
/// working copies at detection size, the models' buffers, the output.
const STANDARDISING_OVERHEAD: u64 = 64 * 1024 * 1024;

/// What a picture holds at its peak while it is decoded and used: its pixels as the decoder
/// gives them, and the upright 8-bit RGB image made of them.
pub fn decoding_cost(header: &Header) -> u64 {
    header.decoded_bytes + u64::from(header.width) * u64::from(header.height) * 3
}

impl PhotoPipeline {
    pub fn new(standardiser: Standardiser, concurrent: usize, budget: Arc<MemoryBudget>) -> Self {
        Self {
            standardiser: Arc::new(standardiser),
            permits: Semaphore::new(concurrent.max(1)),
            budget,
        }
    }

    /// Standardises on a blocking thread once a permit and the picture's memory are free. A
    /// picture the input limits refuse is refused from its header, before it waits.
    pub async fn standardise(
        &self,
        bytes: Arc<Vec<u8>>,
        background: Background,
    ) -> Result<Standardised, PhotoError> {
        let header = input::peek(&bytes, self.standardiser.input_limits())?;
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the pipeline's semaphore is never closed");
        let _memory = self
            .budget
            .spend(decoding_cost(&header) + STANDARDISING_OVERHEAD)
            .await;
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
