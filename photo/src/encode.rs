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

/// Binary search (file size grows with quality), starting from a quality that usually fits and
/// stopping early once the file is within the top fifth of the range: a few more quality steps
/// would not be visible, and every attempt is a full encode.
fn highest_quality_fitting(
    image: &RgbImage,
    spec: &PhotoSpec,
    sampling: SamplingFactor,
) -> Result<Encoded, PhotoError> {
    let good_enough = spec.max_bytes - (spec.max_bytes - spec.min_bytes) / 5;
    let (mut low, mut high) = (spec.min_quality, 100u8);
    let mut best: Option<Encoded> = None;
    let mut quality = 85u8.clamp(low, high);
    loop {
        let bytes = jpeg(image, quality, spec.dpi, sampling)?;
        let fits = bytes.len() <= spec.max_bytes;
        let done = fits && bytes.len() >= good_enough;
        if fits {
            low = quality;
            best = Some(Encoded { bytes, quality });
        } else if quality == spec.min_quality {
            // Even the lowest quality allowed is too large: report it as it is.
            return Ok(Encoded { bytes, quality });
        } else {
            high = quality - 1;
        }
        if done || low >= high {
            break;
        }
        quality = low + (high - low).div_ceil(2);
        if best.is_none() {
            // Nothing fits yet: keep halving down towards the minimum.
            quality = low + (high - low) / 2;
        }
    }
    match best {
        Some(found) => Ok(found),
        None => Ok(Encoded {
            bytes: jpeg(image, spec.min_quality, spec.dpi, sampling)?,
            quality: spec.min_quality,
        }),
    }
}
