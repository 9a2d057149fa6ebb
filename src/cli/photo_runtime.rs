use std::path::{Path, PathBuf};

use clap::Args;
use photo_ledger_photo::models::{RuntimeConfig, DEFAULT_ONNXRUNTIME};

use crate::configuration::{PhotoSettings, DEFAULT_MODELS_DIR};

/// ONNX Runtime when `photos.onnxruntime` is set nowhere: `.onnxruntime/` in the working
/// directory (where `bash tools/onnxruntime/fetch.sh` puts it), else the copy the build fetched
/// (see `build.rs`).
pub fn default_onnxruntime() -> Option<PathBuf> {
    [DEFAULT_ONNXRUNTIME, env!("PHOTO_LEDGER_BUILT_ONNXRUNTIME")]
        .into_iter()
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .find(|path| path.exists())
}

/// The models when `photos.models_dir` is left at `models` and there is no such folder in the
/// working directory: the checkout's, so the binary finds them wherever it is started from.
pub fn default_models_dir(configured: &Path) -> PathBuf {
    if configured == Path::new(DEFAULT_MODELS_DIR) && !configured.exists() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_MODELS_DIR)
    } else {
        configured.to_path_buf()
    }
}

/// The `[photos]` settings with what is set nowhere filled in as above.
pub fn with_defaults(mut photos: PhotoSettings) -> PhotoSettings {
    if photos.onnxruntime.is_none() {
        photos.onnxruntime = default_onnxruntime();
    }
    photos.models_dir = default_models_dir(&photos.models_dir);
    photos
}

/// Where ONNX Runtime and the face and person models are: the `[photos]` settings, overridden
/// by these flags.
#[derive(Args, Debug, Clone)]
pub struct PhotoRuntimeArgs {
    /// `photos.onnxruntime`: the ONNX Runtime 1.31 shared library; `.onnxruntime/` (where
    /// `bash tools/onnxruntime/fetch.sh` puts it), else the copy the build fetched, when set
    /// nowhere.
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
        let photos = with_defaults(photos.clone());
        RuntimeConfig {
            onnxruntime: self
                .onnxruntime
                .clone()
                .or(photos.onnxruntime)
                .unwrap_or_else(|| DEFAULT_ONNXRUNTIME.into()),
            models_dir: self.models.clone().unwrap_or(photos.models_dir),
            intra_threads: self.model_threads.unwrap_or(photos.model_threads).max(1),
        }
    }
}
