//! JPEG decoding through libjpeg-turbo (the `turbojpeg` crate, which builds the library from the
//! source it bundles), optionally reduced to 1/2, 1/4 or 1/8 in the DCT domain: a reduced decode
//! skips most of the inverse DCT, upsampling and colour conversion of a full one.

use image::RgbImage;
use turbojpeg::{Colorspace, Decompressor, Image, PixelFormat, ScalingFactor};

/// Whether the JPEG's data reaches its end-of-image marker: its segments are walked by their
/// lengths and its scans to the marker after them, so the EOI of an EXIF thumbnail (inside a
/// segment) does not count, and what a phone appends after the image (a motion photo's video,
/// megabytes of it) is never looked at. A decoder may fill a cut-off scan with grey instead of
/// failing: an upload cut short on a bad network ends before the marker.
pub(super) fn reaches_end_of_image(bytes: &[u8]) -> bool {
    end_of_image(bytes).is_some()
}

/// Where the EOI marker ends, or `None` when the data stops first.
fn end_of_image(bytes: &[u8]) -> Option<usize> {
    // Past SOI, which sniffing the format checked.
    let mut at = 2;
    loop {
        // Bytes before a marker are skipped, as libjpeg skips them (with a warning), and so
        // are the fill bytes (0xFF) a marker may have before it.
        at += memchr::memchr(0xFF, bytes.get(at..)?)?;
        while *bytes.get(at + 1)? == 0xFF {
            at += 1;
        }
        let marker = bytes[at + 1];
        at += 2;
        match marker {
            EOI => return Some(at),
            // Markers without a segment: restarts and TEM.
            0xD0..=0xD7 | 0x01 => {}
            _ => {
                let length = u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]);
                at += usize::from(length);
                if marker == SOS {
                    at = after_scan(bytes, at)?;
                }
            }
        }
    }
}

/// The start of the marker that ends the entropy-coded data from `at`: within it, 0xFF is
/// followed only by a stuffed 0x00 or a restart marker.
fn after_scan(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        at += memchr::memchr(0xFF, bytes.get(at..)?)?;
        match *bytes.get(at + 1)? {
            0x00 | 0xD0..=0xD7 => at += 2,
            // A fill byte: the marker is after it.
            0xFF => at += 1,
            _ => return Some(at),
        }
    }
}

const SOS: u8 = 0xDA;
const EOI: u8 = 0xD9;

/// The picture reduced by `1 / reduction` (1, 2, 4 or 8) as RGB, or `None` when libjpeg-turbo
/// cannot give it: CMYK and lossless JPEGs, 12-bit samples, and any file it reports a problem
/// with, even one it could read past. The caller then decodes the file whole with the `image`
/// crate's decoder, which refuses what is really broken.
pub(super) fn decode(bytes: &[u8], reduction: u32) -> Option<RgbImage> {
    let mut decompressor = Decompressor::new().ok()?;
    let header = decompressor.read_header(bytes).ok()?;
    if header.is_lossless || matches!(header.colorspace, Colorspace::CMYK | Colorspace::YCCK) {
        return None;
    }
    let scaling = ScalingFactor::new(1, reduction as usize);
    decompressor.set_scaling_factor(scaling).ok()?;
    let size = header.scaled(scaling);
    let (width, height) = (size.width, size.height);
    let mut pixels = vec![0; 3 * width * height];
    let image = Image {
        pixels: pixels.as_mut_slice(),
        width,
        pitch: 3 * width,
        height,
        format: PixelFormat::RGB,
    };
    decompressor.decompress(bytes, image).ok()?;
    RgbImage::from_raw(width.try_into().ok()?, height.try_into().ok()?, pixels)
}
