//! Why a photo could not be read or processed at all. Each error has a stable code for the
//! mini-program and a short Chinese message for the student; problems *with* a readable photo
//! (no face, too dark, …) are checks, not errors (see [`super::checks`]).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error("the file is empty")]
    Empty,
    #[error("the file has {bytes} bytes; at most {limit} are accepted")]
    TooLarge { bytes: usize, limit: usize },
    #[error("the image is {width}×{height} pixels; at most {limit} pixels are accepted")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("the image is {width}×{height} pixels taking {bytes} bytes decoded; at most {limit} are accepted")]
    TooMuchToDecode {
        width: u32,
        height: u32,
        bytes: u64,
        limit: u64,
    },
    #[error("the file is not a JPEG, PNG or WebP image")]
    NotAnImage,
    #[error("{0} images are not accepted: send a JPEG, PNG or WebP photo")]
    UnsupportedFormat(&'static str),
    #[error("animated images are not accepted: send a still photo")]
    Animated,
    #[error("the image data is damaged or incomplete: {0}")]
    Corrupt(String),
    #[error(
        "ONNX Runtime could not be loaded from {path}: {reason}. \
         Run `bash tools/onnxruntime/fetch.sh`, or point photos.onnxruntime (PHOTO_LEDGER__PHOTOS__ONNXRUNTIME, or --onnxruntime) at libonnxruntime.so"
    )]
    RuntimeMissing { path: PathBuf, reason: String },
    #[error("model {file}: {reason}")]
    Model { file: String, reason: String },
    #[error("the {model} model failed: {reason}")]
    Inference { model: &'static str, reason: String },
    #[error("could not encode the image: {0}")]
    Encode(String),
}

impl PhotoError {
    /// Stable code, e.g. `photo.too_large`.
    pub fn code(&self) -> &'static str {
        match self {
            PhotoError::Empty => "photo.empty",
            PhotoError::TooLarge { .. } => "photo.too_large",
            PhotoError::TooManyPixels { .. } | PhotoError::TooMuchToDecode { .. } => {
                "photo.too_many_pixels"
            }
            PhotoError::NotAnImage => "photo.not_an_image",
            PhotoError::UnsupportedFormat(_) => "photo.unsupported_format",
            PhotoError::Animated => "photo.animated",
            PhotoError::Corrupt(_) => "photo.corrupt",
            PhotoError::RuntimeMissing { .. } => "photo.runtime_missing",
            PhotoError::Model { .. } => "photo.model_invalid",
            PhotoError::Inference { .. } => "photo.inference_failed",
            PhotoError::Encode(_) => "photo.encode_failed",
        }
    }

    /// What the student is told.
    pub fn message(&self) -> &'static str {
        match self {
            PhotoError::Empty => "文件是空的：请重新选择照片。",
            PhotoError::TooLarge { .. } => {
                "文件太大（超过 20 MB）：请发送原始照片，不要发送长图或视频。"
            }
            PhotoError::TooManyPixels { .. } | PhotoError::TooMuchToDecode { .. } => {
                "图片像素过多：请发送普通手机照片。"
            }
            PhotoError::NotAnImage => "无法识别的文件：请发送 JPEG、PNG 或 WebP 格式的照片。",
            PhotoError::UnsupportedFormat(_) => {
                "不支持该图片格式：请发送 JPEG、PNG 或 WebP 格式的照片。"
            }
            PhotoError::Animated => "不支持动图：请发送一张静态照片。",
            PhotoError::Corrupt(_) => "照片文件已损坏或不完整：请重新上传。",
            PhotoError::RuntimeMissing { .. }
            | PhotoError::Model { .. }
            | PhotoError::Inference { .. }
            | PhotoError::Encode(_) => "系统暂时无法处理照片，请稍后再试。",
        }
    }
}
