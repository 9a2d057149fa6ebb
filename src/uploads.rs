//! Where uploaded and standardised photos go, and how they are standardised for the service.
//!
//! [`PhotoStore`] keeps files in an [`object_store`] (a local directory by default), each under
//! its SHA-256, so the same picture is stored once. [`PhotoPipeline`] runs the standardiser on
//! tokio's blocking threads, at most `concurrent` at a time: a burst of uploads queues here
//! instead of occupying the HTTP workers.

use std::path::Path;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use photo_ledger_domain::values::Background;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::photo::error::PhotoError;
use crate::photo::{Standardised, Standardiser};

#[derive(Clone)]
pub struct PhotoStore {
    store: Arc<dyn ObjectStore>,
}

fn key(sha256: &str) -> ObjectPath {
    ObjectPath::from(format!("sha256/{}/{sha256}", &sha256[..2]))
}

impl PhotoStore {
    /// A store in a local directory (created if missing).
    pub fn local(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            store: Arc::new(LocalFileSystem::new_with_prefix(dir)?),
        })
    }

    /// Stores the bytes under their SHA-256 (hex), which is returned.
    pub async fn put(&self, bytes: Vec<u8>) -> Result<String, object_store::Error> {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        self.store
            .put(&key(&sha256), PutPayload::from(bytes))
            .await?;
        Ok(sha256)
    }

    pub async fn get(&self, sha256: &str) -> Result<Vec<u8>, object_store::Error> {
        Ok(self.store.get(&key(sha256)).await?.bytes().await?.to_vec())
    }
}

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
            span.in_scope(|| standardiser.standardise(&bytes, background))
        })
        .await
        .map_err(|e| PhotoError::Inference {
            model: "pipeline",
            reason: e.to_string(),
        })?
    }
}
