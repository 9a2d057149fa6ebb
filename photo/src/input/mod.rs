//! Turning uploaded bytes into an upright 8-bit RGB image, or a typed refusal.
//!
//! The format is recognised from the bytes, never the file name. Byte and pixel limits are
//! checked from the header before anything is decoded, so a decompression bomb costs nothing.
//! EXIF orientation is applied; greyscale, 16-bit and CMYK inputs come out as RGB, and
//! transparent areas are flattened onto white (the background is replaced anyway).
//!
//! A JPEG can be decoded reduced to 1/2, 1/4 or 1/8 of its size in the DCT domain, for a
//! fraction of a full decode ([`Upload::decode`]): the standardiser needs only as many pixels
//! as its 480×640 output takes from the picture.

mod jpeg;
mod orientation;

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbImage};

use super::error::PhotoError;
use super::raster::Affine;
use super::spec::InputLimits;

/// The reductions a JPEG decodes at, largest first.
const REDUCTIONS: [u32; 4] = [8, 4, 2, 1];

/// What an upload's header says it will cost to decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub width: u32,
    pub height: u32,
    /// The memory its pixels take as the decoder gives them.
    pub decoded_bytes: u64,
}

/// Reads an upload's header and refuses what the limits refuse, decoding nothing: what to know
/// before deciding to decode. Whether a JPEG is whole is left to [`open`], which whatever
/// decodes it calls: walking the file to its end once per upload is enough.
pub fn peek(bytes: &[u8], limits: &InputLimits) -> Result<Header, PhotoError> {
    Ok(read(bytes, limits)?.header)
}

/// The whole picture at full size, upright.
pub fn decode(bytes: &[u8], limits: &InputLimits) -> Result<RgbImage, PhotoError> {
    Ok(open(bytes, limits)?.decode(1)?.image)
}

/// Reads an upload's header, refusing what the limits refuse and a JPEG cut off before its
/// end; nothing is decoded yet.
pub fn open<'a>(bytes: &'a [u8], limits: &InputLimits) -> Result<Upload<'a>, PhotoError> {
    let upload = read(bytes, limits)?;
    if upload.format == ImageFormat::Jpeg && !jpeg::reaches_end_of_image(bytes) {
        // A photo missing its bottom must not be standardised as if it were whole.
        return Err(PhotoError::Corrupt("the JPEG data ends early".into()));
    }
    Ok(upload)
}

/// The upload's header, within the limits.
fn read<'a>(bytes: &'a [u8], limits: &InputLimits) -> Result<Upload<'a>, PhotoError> {
    let format = check_file(bytes, limits)?;
    guarded(|| {
        let mut decoder = ImageReader::with_format(Cursor::new(bytes), format)
            .into_decoder()
            .map_err(decode_error)?;
        let header = header(&decoder, limits)?;
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        Ok(Upload {
            bytes,
            format,
            header,
            orientation,
        })
    })
}

/// An upload whose header passed the limits: what it is and which way up it goes.
pub struct Upload<'a> {
    bytes: &'a [u8],
    format: ImageFormat,
    header: Header,
    orientation: Orientation,
}

/// Pixels of an upload, upright, possibly reduced.
pub struct Decoded {
    pub image: RgbImage,
    /// The picture's full size is this many times the decoded one (1, 2, 4 or 8).
    pub reduction: u32,
    /// Decoded pixel coordinates → full-size upright pixel coordinates.
    pub to_full: Affine,
}

impl Upload<'_> {
    /// Width and height at full size, the right way up.
    pub fn size(&self) -> (u32, u32) {
        orientation::upright_size(self.orientation, (self.header.width, self.header.height))
    }

    /// The largest reduction that still gives `needed` decoded pixels per full-size pixel:
    /// 1, 2, 4 or 8 for a JPEG, always 1 for other formats.
    pub fn reduction_for(&self, needed: f32) -> u32 {
        if self.format != ImageFormat::Jpeg {
            return 1;
        }
        REDUCTIONS
            .into_iter()
            .find(|&r| needed * r as f32 <= 1.0)
            .unwrap_or(1)
    }

    /// The picture reduced by `1 / reduction` (a JPEG, reduced in the DCT domain) or at full
    /// size, upright. A JPEG libjpeg-turbo cannot decode (CMYK, 12-bit) is decoded at full size
    /// by the `image` crate's decoder instead.
    pub fn decode(&self, reduction: u32) -> Result<Decoded, PhotoError> {
        let stored = (self.header.width, self.header.height);
        let (mut image, reduction) = guarded(|| match self.format {
            ImageFormat::Jpeg => match jpeg::decode(self.bytes, reduction) {
                Some(image) => Ok((DynamicImage::ImageRgb8(image), reduction)),
                None => Ok((self.decode_whole()?, 1)),
            },
            _ => Ok((self.decode_whole()?, 1)),
        })?;
        let decoded_size = (image.width(), image.height());
        image.apply_orientation(self.orientation);
        Ok(Decoded {
            image: to_rgb8(image),
            reduction,
            to_full: orientation::reduced_to_full(
                self.orientation,
                stored,
                decoded_size,
                reduction,
            ),
        })
    }

    /// The stored picture at full size with the `image` crate's decoders.
    fn decode_whole(&self) -> Result<DynamicImage, PhotoError> {
        let reader = ImageReader::with_format(Cursor::new(self.bytes), self.format);
        let decoder = reader.into_decoder().map_err(decode_error)?;
        DynamicImage::from_decoder(decoder).map_err(decode_error)
    }
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
    use image::{imageops, Rgb};
    use jpeg_encoder::{ColorType, Encoder};

    use super::*;
    use crate::raster::Point;

    /// EXIF with orientation 6: the stored picture is shown turned 90° clockwise.
    const EXIF_ROTATE_90: &[u8] =
        b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";

    /// The astronaut fixture with a gradient around it, stored `width × height`.
    fn picture(width: u32, height: u32) -> RgbImage {
        let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/astronaut.png");
        let astronaut = image::open(fixture).expect("fixture").into_rgb8();
        let side = width.min(height);
        let face = imageops::resize(&astronaut, side, side, imageops::FilterType::Triangle);
        let mut canvas = RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 128])
        });
        imageops::replace(&mut canvas, &face, 0, i64::from((height - side) / 2));
        canvas
    }

    fn jpeg(picture: &RgbImage, progressive: bool, exif: Option<&[u8]>) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut encoder = Encoder::new(&mut bytes, 92);
        encoder.set_progressive(progressive);
        if let Some(exif) = exif {
            encoder
                .add_app_segment(1, exif.to_vec())
                .expect("EXIF fits");
        }
        let (w, h) = (picture.width() as u16, picture.height() as u16);
        encoder
            .encode(picture.as_raw(), w, h, ColorType::Rgb)
            .expect("encodes");
        bytes
    }

    /// Mean absolute difference between a reduced decode and the full decode averaged over the
    /// block each reduced pixel stands for, found through the reduced decode's map.
    fn difference_from_full(reduced: &Decoded, full: &RgbImage) -> f32 {
        let k = reduced.reduction;
        let (mut sum, mut n) = (0.0, 0.0);
        for (x, y, p) in reduced.image.enumerate_pixels().step_by(7) {
            let corner = reduced.to_full.apply(Point::new(x as f32, y as f32));
            let (fx, fy) = (corner.x.round() as i64, corner.y.round() as i64);
            let mut block = [0.0f32; 3];
            let mut count = 0.0;
            for (dx, dy) in (0..k).flat_map(|dx| (0..k).map(move |dy| (dx, dy))) {
                let (sx, sy) = (fx + i64::from(dx), fy + i64::from(dy));
                if sx < 0
                    || sy < 0
                    || sx >= i64::from(full.width())
                    || sy >= i64::from(full.height())
                {
                    continue;
                }
                let q = full.get_pixel(sx as u32, sy as u32);
                for c in 0..3 {
                    block[c] += f32::from(q[c]);
                }
                count += 1.0;
            }
            for c in 0..3 {
                sum += (block[c] / count - f32::from(p[c])).abs();
                n += 1.0;
            }
        }
        sum / n
    }

    #[test]
    fn reduced_decodes_of_odd_sized_progressive_and_rotated_jpegs_match_the_full_decode() {
        let limits = InputLimits::default();
        // Neither size is a multiple of 2, 4 or 8.
        for (width, height) in [(1001, 1333), (999, 757)] {
            let stored = picture(width, height);
            for progressive in [false, true] {
                for exif in [None, Some(EXIF_ROTATE_90)] {
                    let case = format!(
                        "{width}×{height}, progressive {progressive}, EXIF {}",
                        exif.is_some()
                    );
                    let bytes = jpeg(&stored, progressive, exif);
                    let upload = open(&bytes, &limits).expect("opens");
                    let upright = if exif.is_some() {
                        (height, width)
                    } else {
                        (width, height)
                    };
                    assert_eq!(upload.size(), upright, "{case}");
                    let full = upload.decode(1).expect("decodes");
                    assert_eq!(full.image.dimensions(), upright, "{case}");
                    for reduction in [2, 4, 8] {
                        let reduced = upload.decode(reduction).expect("decodes reduced");
                        assert_eq!(
                            reduced.reduction, reduction,
                            "{case}: libjpeg-turbo reduced it"
                        );
                        assert_eq!(
                            reduced.image.dimensions(),
                            (upright.0.div_ceil(reduction), upright.1.div_ceil(reduction)),
                            "{case}"
                        );
                        let difference = difference_from_full(&reduced, &full.image);
                        assert!(
                            difference < 4.0,
                            "{case} at 1/{reduction}: {difference:.2} levels off"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_jpeg_is_whole_whatever_follows_its_end_and_cut_short_anywhere_before_it() {
        // EXIF holding a thumbnail, with an end-of-image marker of its own.
        let exif = [
            &b"Exif\0\0"[..],
            &[0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x02, 0xFF, 0xD9],
        ]
        .concat();
        let limits = InputLimits::default();
        for progressive in [false, true] {
            let whole = jpeg(&picture(301, 401), progressive, Some(&exif));
            assert!(jpeg::reaches_end_of_image(&whole));
            // A motion photo: a video after the image, with no end marker in it anywhere.
            let mut motion = whole.clone();
            motion.extend((0..300_000u32).map(|i| (i % 127) as u8));
            let upright = decode(&motion, &limits).expect("a motion photo decodes");
            assert_eq!(upright.dimensions(), (301, 401));
            for cut in [
                40,
                whole.len() / 3,
                whole.len() / 2,
                whole.len() - 3,
                whole.len() - 1,
            ] {
                assert!(
                    !jpeg::reaches_end_of_image(&whole[..cut]),
                    "cut at {cut} of {}",
                    whole.len()
                );
                assert!(matches!(
                    open(&whole[..cut], &limits),
                    Err(PhotoError::Corrupt(_))
                ));
            }
        }
    }

    #[test]
    fn a_reduction_gives_at_least_the_pixels_asked_for_and_only_jpegs_are_reduced() {
        let bytes = jpeg(&picture(800, 600), false, None);
        let upload = open(&bytes, &InputLimits::default()).unwrap();
        assert_eq!(upload.reduction_for(0.1), 8);
        assert_eq!(upload.reduction_for(0.125), 8);
        assert_eq!(upload.reduction_for(0.2), 4);
        assert_eq!(upload.reduction_for(0.5), 2);
        assert_eq!(upload.reduction_for(0.6), 1);
        assert_eq!(upload.reduction_for(2.0), 1);
        let mut png = Vec::new();
        DynamicImage::ImageRgb8(picture(80, 60))
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let upload = open(&png, &InputLimits::default()).unwrap();
        assert_eq!(upload.reduction_for(0.1), 1);
        assert_eq!(upload.decode(8).unwrap().reduction, 1);
    }

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
