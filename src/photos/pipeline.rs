//! Standardisation for the service: the standardiser runs on `concurrent` threads of its own, so
//! a burst of uploads queues here instead of occupying the HTTP workers, and each first takes
//! what its picture will need from the decoding budget. Threads of its own rather than tokio's
//! blocking pool: each thread's allocator keeps what one photo freed for the next, so what the
//! pipeline holds is bounded by its threads, not by how many blocking threads a burst started.

use std::sync::Arc;

use photo_ledger_domain::values::Background;
use photo_ledger_photo::error::PhotoError;
use photo_ledger_photo::input::{self, Header};
use photo_ledger_photo::{Standardised, Standardiser};
use tokio::sync::Semaphore;

use crate::memory_budget::MemoryBudget;
use crate::work_pool::WorkPool;

pub struct PhotoPipeline {
    standardiser: Arc<Standardiser>,
    /// As many as `threads` has: a standardisation holding one has a thread free for it. The
    /// permit and the memory go with the work onto its thread and are given back when it is
    /// done, even if the request that asked for it was dropped meanwhile.
    permits: Arc<Semaphore>,
    threads: WorkPool,
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
        let concurrent = concurrent.max(1);
        Self {
            standardiser: Arc::new(standardiser),
            permits: Arc::new(Semaphore::new(concurrent)),
            threads: WorkPool::new("standardise", concurrent),
            budget,
        }
    }

    /// Standardises on one of the pipeline's threads once a permit and the picture's memory are
    /// free. A picture the input limits refuse is refused from its header, before it waits.
    pub async fn standardise(
        &self,
        bytes: Arc<Vec<u8>>,
        background: Background,
    ) -> Result<Standardised, PhotoError> {
        let header = input::peek(&bytes, self.standardiser.input_limits())?;
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the pipeline's semaphore is never closed");
        let memory = self
            .budget
            .spend(decoding_cost(&header) + STANDARDISING_OVERHEAD)
            .await;
        let standardiser = self.standardiser.clone();
        self.threads
            .run("standardise", move || {
                let _held = (permit, memory);
                // Crash tests hold an upload here, mid-standardisation, to kill the service
                // under it; compiled in only with the `failpoints` feature.
                fail::fail_point!("photos.standardise");
                standardiser.standardise(&bytes, background)
            })
            .await
            .map_err(|e| PhotoError::Inference {
                model: "pipeline",
                reason: e.to_string(),
            })?
    }
}
