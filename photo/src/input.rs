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

/// What an upload's header says it will cost to decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub width: u32,
    pub height: u32,
    /// The memory its pixels take as the decoder gives them.
    pub decoded_bytes: u64,
}

/// Reads an upload's header and refuses what the limits refuse, decoding nothing: what to know
/// before deciding to decode.
pub fn peek(bytes: &[u8], limits: &InputLimits) -> Result<Header, PhotoError> {
    let format = check_file(bytes, limits)?;
    guarded(|| {
        let decoder = ImageReader::with_format(Cursor::new(bytes), format)
            .into_decoder()
            .map_err(decode_error)?;
        header(&decoder, limits)
    })
}

pub fn decode(bytes: &[u8], limits: &InputLimits) -> Result<RgbImage, PhotoError> {
    let format = check_file(bytes, limits)?;
    guarded(|| decode_format(bytes, format, limits))
}

/// The file's own limits and its format.
fn check_file(bytes: &[u8], limits: &InputLimits) -> Result<ImageFormat, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(PhotoError::TooLarge {
            bytes: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    sniff(bytes)
}

/// The decoders are not supposed to panic on hostile input; if one does, the student still gets
/// a refusal rather than a dropped connection.
fn guarded<T>(work: impl FnOnce() -> Result<T, PhotoError>) -> Result<T, PhotoError> {
    catch_unwind(AssertUnwindSafe(work))
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

/// The decoder's header, within the pixel and decoded-size limits.
fn header(decoder: &impl ImageDecoder, limits: &InputLimits) -> Result<Header, PhotoError> {
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(PhotoError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    let decoded_bytes = decoder.total_bytes();
    if decoded_bytes > limits.max_decoded_bytes {
        return Err(PhotoError::TooMuchToDecode {
            width,
            height,
            bytes: decoded_bytes,
            limit: limits.max_decoded_bytes,
        });
    }
    if width == 0 || height == 0 {
        return Err(PhotoError::Corrupt("the image has no pixels".into()));
    }
    Ok(Header {
        width,
        height,
        decoded_bytes,
    })
}

fn decode_format(
    bytes: &[u8],
    format: ImageFormat,
    limits: &InputLimits,
) -> Result<RgbImage, PhotoError> {
    let reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    header(&decoder, limits)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG signature, header chunk and an empty data chunk: what `peek` reads.
    fn png_header(width: u32, height: u32, bit_depth: u8, colour_type: u8) -> Vec<u8> {
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend(width.to_be_bytes());
        ihdr.extend(height.to_be_bytes());
        ihdr.extend([bit_depth, colour_type, 0, 0, 0]);
        let crc = crc32(&ihdr);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(13u32.to_be_bytes());
        png.extend(ihdr);
        png.extend(crc.to_be_bytes());
        png.extend(0u32.to_be_bytes());
        png.extend(b"IDAT");
        png.extend(crc32(b"IDAT").to_be_bytes());
        png
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_phone_photo_passes_the_header_check_and_a_16_bit_giant_does_not() {
        const RGB8: u8 = 2;
        let limits = InputLimits::default();
        // 8160 × 6120 (a 50-megapixel phone's photo) in 8-bit RGB: 150 MB decoded.
        let phone = peek(&png_header(8160, 6120, 8, RGB8), &limits).unwrap();
        assert_eq!(phone.decoded_bytes, 8160 * 6120 * 3);
        // 7000 × 7000 at 16 bits per channel: fewer pixels than the limit, but 294 MB decoded.
        match peek(&png_header(7000, 7000, 16, RGB8), &limits) {
            Err(e @ PhotoError::TooMuchToDecode { bytes, .. }) => {
                assert_eq!(bytes, 7000 * 7000 * 6);
                assert_eq!(e.code(), "photo.too_many_pixels");
            }
            other => panic!("expected a refusal from the header, got {other:?}"),
        }
        assert!(matches!(
            peek(&png_header(10_000, 10_000, 8, RGB8), &limits),
            Err(PhotoError::TooManyPixels { .. })
        ));
    }
}
