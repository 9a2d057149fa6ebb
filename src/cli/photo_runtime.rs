use std::path::PathBuf;

use clap::Args;

use photo_ledger_photo::models::{RuntimeConfig, DEFAULT_ONNXRUNTIME};

/// Where ONNX Runtime and the face and person models are.
#[derive(Args, Debug, Clone)]
pub struct PhotoRuntimeArgs {
    /// ONNX Runtime 1.31 shared library (`bash tools/onnxruntime/fetch.sh` puts it in place).
    #[arg(long, env = "ORT_DYLIB_PATH", default_value = DEFAULT_ONNXRUNTIME)]
    pub onnxruntime: PathBuf,
    /// Folder with the .onnx models, MANIFEST.sha256 and models.json.
    #[arg(long, env = "PHOTO_LEDGER_MODELS", default_value = "models")]
    pub models: PathBuf,
    /// Threads one model run may use.
    #[arg(long, env = "PHOTO_LEDGER_MODEL_THREADS", default_value_t = 1)]
    pub model_threads: usize,
}

impl PhotoRuntimeArgs {
    pub fn config(&self) -> RuntimeConfig {
        RuntimeConfig {
            onnxruntime: self.onnxruntime.clone(),
            models_dir: self.models.clone(),
            intra_threads: self.model_threads.max(1),
        }
    }
}
