//! QR pictures of collection codes: drawn for printing, read back from photos and screenshots.
//!
//! Students send a screenshot of the notice the school gave them, so the code may sit among
//! text, be scaled and be a few degrees off. rqrr copes with rotation on its own; what defeats it
//! is size (a phone screenshot is large and its code small, or a crop is tiny) and grey
//! antialiasing. So reading tries a short list of versions of the image: as sent, scaled to a
//! size rqrr handles well, enlarged, and binarised. CPU-bound: call it from a blocking thread.

use std::io::Cursor;

use image::imageops::{self, FilterType};
use image::{GrayImage, ImageFormat, Luma};
use qrcode::{Color, EcLevel, QrCode};

/// Pixels per QR module in printed codes, and the quiet zone the QR standard asks for.
const MODULE_PX: u32 = 8;
const QUIET_MODULES: u32 = 4;
/// Larger images are refused from their header, before decoding (a decompression bomb, not a
/// screenshot: phones' screens are under 3,500 pixels on their longer side).
pub const MAX_SIDE: u32 = 4096;
/// The most a picture's decoder may allocate, compressed chunks such as a colour profile
/// included: a 4096 × 4096 RGBA picture, and no bomb past it.
pub const MAX_DECODE_BYTES: u64 = 64 * 1024 * 1024;

/// Why a QR picture could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the text does not fit in a QR code")]
    TooLong(#[from] qrcode::types::QrError),
    #[error("the picture cannot be encoded as PNG")]
    Png(#[from] image::ImageError),
}

/// A PNG of `text` as a QR code (error correction level M: survives a crease or a smudge).
pub fn render_png(text: &str) -> Result<Vec<u8>, RenderError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
    // A QR code is at most 177 modules wide.
    let modules = code.width() as u32;
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_MODULES) * MODULE_PX;
    let image = GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = (x / MODULE_PX, y / MODULE_PX);
        let inside = QUIET_MODULES..QUIET_MODULES + modules;
        let dark = inside.contains(&mx)
            && inside.contains(&my)
            && colors[((my - QUIET_MODULES) * modules + (mx - QUIET_MODULES)) as usize]
                == Color::Dark;
        Luma([if dark { 0 } else { 255 }])
    });
    let mut png = Vec::new();
    image.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)?;
    Ok(png)
}

/// The text of the first QR code found in an image file's bytes, if any.
pub fn read(bytes: &[u8]) -> Option<String> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let gray = reader.decode().ok()?.to_luma8();
    let text = candidates(&gray).find_map(|image| decode(&image));
    text
}

/// The versions of an image worth trying, cheapest and likeliest first.
fn candidates(gray: &GrayImage) -> impl Iterator<Item = GrayImage> + '_ {
    let longest = gray.width().max(gray.height());
    let resized = move |target: u32| {
        let scale = f64::from(target) / f64::from(longest);
        let w = ((f64::from(gray.width()) * scale).round() as u32).max(1);
        let h = ((f64::from(gray.height()) * scale).round() as u32).max(1);
        imageops::resize(gray, w, h, FilterType::Triangle)
    };
    let sizes: Vec<u32> = [1000, 1600, 2 * longest]
        .into_iter()
        .filter(|&target| target != longest && target <= MAX_SIDE)
        .collect();
    std::iter::once(gray.clone())
        .chain(sizes.clone().into_iter().map(resized))
        .chain(std::iter::once_with(|| binarise(gray)))
        .chain(
            sizes
                .into_iter()
                .map(move |target| binarise(&resized(target))),
        )
}

fn decode(image: &GrayImage) -> Option<String> {
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        image.width() as usize,
        image.height() as usize,
        |x, y| image.get_pixel(x as u32, y as u32).0[0],
    );
    prepared
        .detect_grids()
        .into_iter()
        .find_map(|grid| grid.decode().ok().map(|(_, text)| text))
}

/// Black and white at Otsu's threshold: removes the grey fringe scaling leaves on modules.
fn binarise(gray: &GrayImage) -> GrayImage {
    let mut histogram = [0u64; 256];
    for p in gray.pixels() {
        histogram[usize::from(p.0[0])] += 1;
    }
    let total: u64 = histogram.iter().sum();
    let weighted: f64 = histogram
        .iter()
        .enumerate()
        .map(|(v, &n)| v as f64 * n as f64)
        .sum();
    let (mut below, mut below_weighted) = (0u64, 0f64);
    let (mut best, mut threshold) = (0f64, 128u8);
    for (value, &count) in histogram.iter().enumerate() {
        below += count;
        below_weighted += value as f64 * count as f64;
        let above = total - below;
        if below == 0 || above == 0 {
            continue;
        }
        let mean_below = below_weighted / below as f64;
        let mean_above = (weighted - below_weighted) / above as f64;
        let between = below as f64 * above as f64 * (mean_below - mean_above).powi(2);
        if between > best {
            best = between;
            threshold = value as u8;
        }
    }
    GrayImage::from_fn(gray.width(), gray.height(), |x, y| {
        Luma([if gray.get_pixel(x, y).0[0] <= threshold {
            0
        } else {
            255
        }])
    })
}
