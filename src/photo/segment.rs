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

    /// The mask at `width × height`, row by row.
    pub fn resized(&self, width: u32, height: u32) -> Vec<f32> {
        let mut out = Vec::with_capacity(width as usize * height as usize);
        for y in 0..height {
            let v = (y as f32 + 0.5) / height as f32;
            out.extend((0..width).map(|x| self.at((x as f32 + 0.5) / width as f32, v)));
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
