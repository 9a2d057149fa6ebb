//! The three MediaPipe models, run through ONNX Runtime.
//!
//! ONNX Runtime is a shared library loaded at run time from a configured path, and only one
//! runtime environment may exist per process, so it is created once and kept. Each model file
//! is checked against `models/MANIFEST.sha256` before a session is made from it. Sessions are
//! created once and shared by concurrent requests; `Session::run` needs `&mut`, so each sits
//! behind a mutex (a run takes a few milliseconds).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::PhotoError;

/// Where `tools/onnxruntime/fetch.sh` puts ONNX Runtime, relative to the working directory.
pub const DEFAULT_ONNXRUNTIME: &str = ".onnxruntime/libonnxruntime.so";

/// Where the runtime and the models are, and how many threads one inference may use.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// `libonnxruntime.so` (1.31.1, from the PyPI wheel; see `tools/onnxruntime/fetch.sh`).
    pub onnxruntime: PathBuf,
    /// The folder holding the `.onnx` files, `MANIFEST.sha256` and `models.json`.
    pub models_dir: PathBuf,
    /// Threads inside one model run. Concurrency comes from requests, so 1 is the default.
    pub intra_threads: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    FaceDetection,
    FaceMesh,
    Segmentation,
}

impl Model {
    const ALL: [Model; 3] = [Model::FaceDetection, Model::FaceMesh, Model::Segmentation];

    fn key(self) -> &'static str {
        match self {
            Model::FaceDetection => "face_detection_short_range",
            Model::FaceMesh => "face_landmark",
            Model::Segmentation => "selfie_segmentation",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Model::FaceDetection => "face detection",
            Model::FaceMesh => "face mesh",
            Model::Segmentation => "person segmentation",
        }
    }
}

/// Which model file produced a result, for the report.
#[derive(Clone, Debug, Serialize)]
pub struct ModelVersion {
    pub name: String,
    pub file: String,
    pub sha256: String,
    /// The package and file it was converted from, e.g. `mediapipe 0.10.14: mediapipe/modules/…`.
    pub source: String,
}

pub struct Models {
    sessions: [Mutex<Session>; 3],
    versions: Vec<ModelVersion>,
}

impl Models {
    pub fn load(config: &RuntimeConfig) -> Result<Self, PhotoError> {
        let env = environment(&config.onnxruntime)?;
        let manifest = read_manifest(&config.models_dir)?;
        let described = read_descriptions(&config.models_dir)?;
        let mut sessions = Vec::with_capacity(3);
        let mut versions = Vec::with_capacity(3);
        for model in Model::ALL {
            let file = described
                .pointer(&format!("/models/{}/file", model.key()))
                .and_then(|f| f.as_str())
                .ok_or_else(|| model_error("models.json", format!("no entry for {}", model.key())))?
                .to_string();
            let bytes = std::fs::read(config.models_dir.join(&file))
                .map_err(|e| model_error(&file, e.to_string()))?;
            let sha256 = hex::encode(Sha256::digest(&bytes));
            let expected = manifest
                .iter()
                .find(|(_, name)| *name == file)
                .map(|(hash, _)| hash.as_str())
                .ok_or_else(|| model_error(&file, "not listed in MANIFEST.sha256".into()))?;
            if sha256 != expected {
                return Err(model_error(
                    &file,
                    format!("sha256 {sha256} differs from the manifest's {expected}"),
                ));
            }
            let session = Session::builder(env)
                .and_then(|b| Ok(b.with_intra_threads(config.intra_threads)?))
                .and_then(|b| Ok(b.with_inter_threads(1)?))
                .and_then(|mut b| b.commit_from_memory(&bytes))
                .map_err(|e| model_error(&file, e.to_string()))?;
            let source = |field: &str| {
                described
                    .pointer(&format!("/models/{}/source/{field}", model.key()))
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
                    .to_string()
            };
            versions.push(ModelVersion {
                name: model.key().to_string(),
                source: format!(
                    "{} {}: {}",
                    source("package"),
                    source("version"),
                    source("path")
                ),
                file,
                sha256,
            });
            sessions.push(Mutex::new(session));
        }
        let sessions: [Mutex<Session>; 3] = sessions
            .try_into()
            .map_err(|_| model_error("models", "expected three sessions".into()))?;
        Ok(Self { sessions, versions })
    }

    pub fn versions(&self) -> &[ModelVersion] {
        &self.versions
    }

    /// Runs `model` on one NHWC float tensor and returns the named outputs, flattened.
    pub fn run<const N: usize>(
        &self,
        model: Model,
        shape: [usize; 4],
        input: &[f32],
        outputs: [&str; N],
    ) -> Result<[Vec<f32>; N], PhotoError> {
        let failed = |e: ort::Error| PhotoError::Inference {
            model: model.label(),
            reason: e.to_string(),
        };
        let slot = Model::ALL.iter().position(|m| *m == model).unwrap_or(0);
        // A panic elsewhere while the lock was held leaves the session itself intact.
        let mut session = self.sessions[slot]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let tensor = TensorRef::from_array_view((shape, input)).map_err(failed)?;
        let results = session.run(ort::inputs![tensor]).map_err(failed)?;
        let mut out: [Vec<f32>; N] = std::array::from_fn(|_| Vec::new());
        for (slot, name) in out.iter_mut().zip(outputs) {
            let value = results.get(name).ok_or_else(|| PhotoError::Inference {
                model: model.label(),
                reason: format!("no output named {name}"),
            })?;
            let (_, data) = value.try_extract_tensor::<f32>().map_err(failed)?;
            *slot = data.to_vec();
        }
        Ok(out)
    }
}

fn model_error(file: &str, reason: String) -> PhotoError {
    PhotoError::Model {
        file: file.to_string(),
        reason,
    }
}

/// The process's one ONNX Runtime environment; the library path of the first call wins.
fn environment(library: &Path) -> Result<&'static Environment, PhotoError> {
    static ENV: OnceLock<Environment> = OnceLock::new();
    static INIT: Mutex<()> = Mutex::new(());
    if let Some(env) = ENV.get() {
        return Ok(env);
    }
    let _guard = INIT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(env) = ENV.get() {
        return Ok(env);
    }
    let missing = |reason: String| PhotoError::RuntimeMissing {
        path: library.to_path_buf(),
        reason,
    };
    // ort resolves relative paths against the executable's folder; ours are relative to the
    // working directory, like every other path the user gives.
    let absolute = std::path::absolute(library).map_err(|e| missing(e.to_string()))?;
    if !absolute.is_file() {
        return Err(missing("no such file".into()));
    }
    let env = ort::init_from(&absolute)
        .map_err(|e| missing(e.to_string()))?
        .with_name("photo-ledger")
        .build()
        .map_err(|e| missing(e.to_string()))?;
    Ok(ENV.get_or_init(|| env))
}

/// `(sha256, file name)` pairs, in `sha256sum` format.
fn read_manifest(dir: &Path) -> Result<Vec<(String, String)>, PhotoError> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.sha256"))
        .map_err(|e| model_error("MANIFEST.sha256", e.to_string()))?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let (hash, name) = line.split_once(char::is_whitespace)?;
            Some((
                hash.to_string(),
                name.trim().trim_start_matches('*').to_string(),
            ))
        })
        .collect())
}

fn read_descriptions(dir: &Path) -> Result<serde_json::Value, PhotoError> {
    let text = std::fs::read_to_string(dir.join("models.json"))
        .map_err(|e| model_error("models.json", e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| model_error("models.json", e.to_string()))
}
