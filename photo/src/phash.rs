//! A 64-bit perceptual hash (DCT pHash) of the standard photo, so the service can notice the same
//! photo handed in by two students (同版照片): re-encoding, resizing and small edits move only a
//! few bits, different photos differ in about half of them.

pub mod index;

use image::RgbImage;
use serde::{Serialize, Serializer};

use super::raster;

/// The most bits two hashes of one photo differ by, however it was handed in again.
pub const SAME_PHOTO: u32 = 8;

const SIDE: usize = 32;
const KEEP: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PerceptualHash(pub u64);

impl PerceptualHash {
    pub fn of(image: &RgbImage) -> Self {
        let (w, h) = (f64::from(image.width()), f64::from(image.height()));
        let small = raster::resize(image, [0.0, 0.0, w, h], SIDE as u32, SIDE as u32);
        let grey: Vec<f32> = small
            .pixels()
            .map(|p| raster::luma([p[0], p[1], p[2]].map(f32::from)))
            .collect();
        let coefficients = dct_low(&grey);
        // The DC term only says how bright the photo is; leave it out of the median.
        let mut sorted = coefficients[1..].to_vec();
        sorted.sort_by(f32::total_cmp);
        let median = sorted[sorted.len() / 2];
        let bits = coefficients
            .iter()
            .enumerate()
            .fold(0u64, |acc, (i, &c)| acc | (u64::from(c > median) << i));
        PerceptualHash(bits)
    }

    /// Number of differing bits: up to [`SAME_PHOTO`] means the same photo.
    pub fn distance(self, other: PerceptualHash) -> u32 {
        (self.0 ^ other.0).count_ones()
    }
}

impl std::fmt::Display for PerceptualHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Serialize for PerceptualHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The `KEEP × KEEP` lowest frequencies of the 2-D DCT-II of a `SIDE × SIDE` block.
fn dct_low(block: &[f32]) -> Vec<f32> {
    let basis: Vec<f32> = (0..KEEP * SIDE)
        .map(|i| {
            let (k, n) = (i / SIDE, i % SIDE);
            (std::f32::consts::PI / SIDE as f32 * (n as f32 + 0.5) * k as f32).cos()
        })
        .collect();
    let mut out = vec![0.0; KEEP * KEEP];
    for v in 0..KEEP {
        for u in 0..KEEP {
            let mut sum = 0.0;
            for y in 0..SIDE {
                let row: f32 = (0..SIDE)
                    .map(|x| block[y * SIDE + x] * basis[u * SIDE + x])
                    .sum();
                sum += row * basis[v * SIDE + y];
            }
            out[v * KEEP + u] = sum;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(flip: bool) -> RgbImage {
        RgbImage::from_fn(64, 64, |x, y| {
            let v = if flip { 255 - x * 4 } else { x * 4 } as u8;
            image::Rgb([v, (y * 4) as u8, 128])
        })
    }

    #[test]
    fn the_same_picture_resized_keeps_its_hash_and_another_does_not() {
        let a = gradient(false);
        let resized = raster::resize(&a, [0.0, 0.0, 64.0, 64.0], 50, 50);
        let b = gradient(true);
        let (ha, hr, hb) = (
            PerceptualHash::of(&a),
            PerceptualHash::of(&resized),
            PerceptualHash::of(&b),
        );
        assert!(ha.distance(hr) <= 4, "{ha} {hr}");
        assert!(ha.distance(hb) >= 16, "{ha} {hb}");
        assert_eq!(ha.to_string().len(), 16);
    }
}
