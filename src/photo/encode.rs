//! Baseline JPEG with the density in the JFIF header, and the quality search that brings the
//! standard photo into its file-size range (never by padding: only the quality and, for very
//! plain photos, full-resolution colour change the size).

use image::RgbImage;
use jpeg_encoder::{ColorType, Encoder, PixelDensity, SamplingFactor};

use super::error::PhotoError;
use super::spec::PhotoSpec;

pub struct Encoded {
    pub bytes: Vec<u8>,
    pub quality: u8,
}

/// Baseline (sequential) JPEG, sRGB, 24-bit.
pub fn jpeg(
    image: &RgbImage,
    quality: u8,
    dpi: u16,
    sampling: SamplingFactor,
) -> Result<Vec<u8>, PhotoError> {
    let (w, h) = (
        u16::try_from(image.width()).map_err(|_| PhotoError::Encode("too wide".into()))?,
        u16::try_from(image.height()).map_err(|_| PhotoError::Encode("too high".into()))?,
    );
    let mut bytes = Vec::new();
    let mut encoder = Encoder::new(&mut bytes, quality);
    encoder.set_progressive(false);
    encoder.set_sampling_factor(sampling);
    encoder.set_density(PixelDensity::dpi(dpi));
    encoder
        .encode(image.as_raw(), w, h, ColorType::Rgb)
        .map_err(|e| PhotoError::Encode(e.to_string()))?;
    Ok(bytes)
}

/// The highest quality (≥ the spec's minimum) whose file fits the size range. With 4:2:0
/// chroma first; a photo too plain to reach the lower bound that way keeps full-resolution
/// colour. When nothing fits, the closest attempt is returned and the size check reports it.
pub fn within_size(image: &RgbImage, spec: &PhotoSpec) -> Result<Encoded, PhotoError> {
    let mut fallback: Option<Encoded> = None;
    for sampling in [SamplingFactor::F_2_2, SamplingFactor::F_1_1] {
        let found = highest_quality_fitting(image, spec, sampling)?;
        if found.bytes.len() >= spec.min_bytes && found.bytes.len() <= spec.max_bytes {
            return Ok(found);
        }
        let better = fallback
            .as_ref()
            .is_none_or(|f| distance(f.bytes.len(), spec) > distance(found.bytes.len(), spec));
        if better {
            fallback = Some(found);
        }
    }
    fallback.ok_or_else(|| PhotoError::Encode("no attempt was made".into()))
}

fn distance(len: usize, spec: &PhotoSpec) -> usize {
    spec.min_bytes.saturating_sub(len) + len.saturating_sub(spec.max_bytes)
}

/// Binary search: file size grows with quality.
fn highest_quality_fitting(
    image: &RgbImage,
    spec: &PhotoSpec,
    sampling: SamplingFactor,
) -> Result<Encoded, PhotoError> {
    let (mut low, mut high) = (spec.min_quality, 100u8);
    let mut best = Encoded {
        bytes: jpeg(image, low, spec.dpi, sampling)?,
        quality: low,
    };
    if best.bytes.len() > spec.max_bytes {
        return Ok(best);
    }
    while low < high {
        let mid = low + (high - low).div_ceil(2);
        let bytes = jpeg(image, mid, spec.dpi, sampling)?;
        if bytes.len() <= spec.max_bytes {
            best = Encoded {
                bytes,
                quality: mid,
            };
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    Ok(best)
}
