//! Turning uploaded bytes into an upright 8-bit RGB image, or a typed refusal.
//!
//! The format is recognised from the bytes, never the file name. Byte and pixel limits are
//! checked from the header before anything is decoded, so a decompression bomb costs nothing.
//! EXIF orientation is applied; greyscale, 16-bit and CMYK inputs come out as RGB, and
//! transparent areas are flattened onto white (the background is replaced anyway).

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbImage};

use super::error::PhotoError;
use super::spec::InputLimits;

pub fn decode(bytes: &[u8], limits: &InputLimits) -> Result<RgbImage, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(PhotoError::TooLarge {
            bytes: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let format = sniff(bytes)?;
    // The decoders are not supposed to panic on hostile input; if one does, the student still
    // gets a refusal rather than a dropped connection.
    catch_unwind(AssertUnwindSafe(|| decode_format(bytes, format, limits)))
        .unwrap_or_else(|_| Err(PhotoError::Corrupt("the decoder gave up".into())))
}

fn sniff(bytes: &[u8]) -> Result<ImageFormat, PhotoError> {
    let format = image::guess_format(bytes).map_err(|_| PhotoError::NotAnImage)?;
    match format {
        ImageFormat::Jpeg | ImageFormat::Png => Ok(format),
        ImageFormat::WebP if is_animated_webp(bytes) => Err(PhotoError::Animated),
        ImageFormat::WebP => Ok(format),
        ImageFormat::Gif => Err(PhotoError::UnsupportedFormat("GIF")),
        other => Err(PhotoError::UnsupportedFormat(
            other.extensions_str().first().copied().unwrap_or("this"),
        )),
    }
}

/// An extended WebP (`VP8X` chunk first) carries an animation flag in its first flag byte.
fn is_animated_webp(bytes: &[u8]) -> bool {
    const ANIMATION: u8 = 0x02;
    bytes.len() > 20 && &bytes[12..16] == b"VP8X" && bytes[20] & ANIMATION != 0
}

fn decode_format(
    bytes: &[u8],
    format: ImageFormat,
    limits: &InputLimits,
) -> Result<RgbImage, PhotoError> {
    let reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(PhotoError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    if width == 0 || height == 0 {
        return Err(PhotoError::Corrupt("the image has no pixels".into()));
    }
    if format == ImageFormat::Jpeg && !has_end_of_image(bytes) {
        // zune-jpeg fills a cut-off scan with grey instead of failing; a photo missing its
        // bottom must not be standardised as if it were whole.
        return Err(PhotoError::Corrupt("the JPEG data ends early".into()));
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    image.apply_orientation(orientation);
    Ok(to_rgb8(image))
}

/// A complete JPEG ends with the EOI marker; phones sometimes append a little data after it.
fn has_end_of_image(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(64 * 1024)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

fn decode_error(e: ImageError) -> PhotoError {
    match e {
        ImageError::Unsupported(u) => PhotoError::Corrupt(u.to_string()),
        ImageError::Limits(l) => PhotoError::Corrupt(format!("decoder limit: {l}")),
        other => PhotoError::Corrupt(other.to_string()),
    }
}

fn to_rgb8(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (dst, src) in rgb.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(src[3]);
        for c in 0..3 {
            dst[c] = ((u16::from(src[c]) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    rgb
}
