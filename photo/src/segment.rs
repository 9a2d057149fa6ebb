//! Person segmentation: MediaPipe's selfie segmenter on the picture stretched to 256×256.

use image::RgbImage;

use super::error::PhotoError;
use super::models::{Model, Models};
use super::raster;

const SIZE: usize = 256;

/// Person probability over the whole picture, at the model's resolution.
pub struct Mask {
    data: Vec<f32>,
}

impl Mask {
    /// Bilinear probability at a position given as a share (0–1) of width and height.
    pub fn at(&self, u: f32, v: f32) -> f32 {
        let x = (u * SIZE as f32 - 0.5).clamp(0.0, (SIZE - 1) as f32);
        let y = (v * SIZE as f32 - 0.5).clamp(0.0, (SIZE - 1) as f32);
        let (x0, y0) = (x as usize, y as usize);
        let (x1, y1) = ((x0 + 1).min(SIZE - 1), (y0 + 1).min(SIZE - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let p = |x: usize, y: usize| self.data[y * SIZE + x];
        let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
        let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// The mask at `width × height`, row by row: bilinear, as [`Mask::at`], done separably
    /// (each output row blends two model rows, then columns are picked from that blend).
    pub fn resized(&self, width: u32, height: u32) -> Vec<f32> {
        let taps = |n: u32| -> Vec<(usize, usize, f32)> {
            (0..n)
                .map(|i| {
                    let t = ((i as f32 + 0.5) / n as f32 * SIZE as f32 - 0.5)
                        .clamp(0.0, (SIZE - 1) as f32);
                    let i0 = t as usize;
                    (i0, (i0 + 1).min(SIZE - 1), t - i0 as f32)
                })
                .collect()
        };
        let (across, down) = (taps(width), taps(height));
        let mut out = Vec::with_capacity(width as usize * height as usize);
        let mut row = [0f32; SIZE];
        for &(y0, y1, fy) in &down {
            let (r0, r1) = (
                &self.data[y0 * SIZE..][..SIZE],
                &self.data[y1 * SIZE..][..SIZE],
            );
            for ((v, a), b) in row.iter_mut().zip(r0).zip(r1) {
                *v = a + (b - a) * fy;
            }
            out.extend(
                across
                    .iter()
                    .map(|&(x0, x1, fx)| row[x0] + (row[x1] - row[x0]) * fx),
            );
        }
        out
    }
}

pub fn segment(models: &Models, image: &RgbImage) -> Result<Mask, PhotoError> {
    let (w, h) = (f64::from(image.width()), f64::from(image.height()));
    let stretched = raster::resize(image, [0.0, 0.0, w, h], SIZE as u32, SIZE as u32);
    let input: Vec<f32> = stretched
        .as_raw()
        .iter()
        .map(|&v| f32::from(v) / 255.0)
        .collect();
    let [data] = models.run(
        Model::Segmentation,
        [1, SIZE, SIZE, 3],
        &input,
        ["activation_10"],
    )?;
    if data.len() != SIZE * SIZE {
        return Err(PhotoError::Inference {
            model: "person segmentation",
            reason: format!("{} mask values instead of {}", data.len(), SIZE * SIZE),
        });
    }
    Ok(Mask { data })
}
