use std::path::PathBuf;

use clap::Args;
use photo_ledger_photo::models::{RuntimeConfig, DEFAULT_ONNXRUNTIME};

use crate::configuration::PhotoSettings;

/// Where ONNX Runtime and the face and person models are: the `[photos]` settings, overridden
/// by these flags.
#[derive(Args, Debug, Clone)]
pub struct PhotoRuntimeArgs {
    /// `photos.onnxruntime`: the ONNX Runtime 1.31 shared library; `.onnxruntime/` (where
    /// `bash tools/onnxruntime/fetch.sh` puts it) when set nowhere.
    #[arg(long)]
    pub onnxruntime: Option<PathBuf>,
    /// `photos.models_dir`: the folder with the .onnx models, MANIFEST.sha256 and models.json.
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// `photos.model_threads`: threads one model run may use.
    #[arg(long)]
    pub model_threads: Option<usize>,
}

impl PhotoRuntimeArgs {
    pub fn config(&self, photos: &PhotoSettings) -> RuntimeConfig {
        RuntimeConfig {
            onnxruntime: self
                .onnxruntime
                .clone()
                .or_else(|| photos.onnxruntime.clone())
                .unwrap_or_else(|| DEFAULT_ONNXRUNTIME.into()),
            models_dir: self
                .models
                .clone()
                .unwrap_or_else(|| photos.models_dir.clone()),
            intra_threads: self.model_threads.unwrap_or(photos.model_threads).max(1),
        }
    }
}
