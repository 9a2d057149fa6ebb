//! From the segmenter's coarse mask to a clean composite on the new background.
//!
//! 1. The mask, brought to output resolution, is refined with a guided filter (He et al.) using
//!    the photo as guide, so its edge follows the hair and shoulders instead of the model's
//!    256×256 grid, and stays soft where hair is.
//! 2. Edge pixels are a mix of person and old wall. Their person colour is estimated with
//!    blur-fusion foreground estimation (Germer et al. 2020), which removes the wall's colour,
//!    so no rim of the old background shows on the new one.
//! 3. Composite: `alpha · person + (1 − alpha) · background`.

use image::RgbImage;
use photo_ledger_domain::values::Rgb;

const GUIDE_RADIUS: usize = 6;
const GUIDE_EPS: f32 = 1e-3;
/// Neighbourhood of the foreground estimate, in output pixels. One level of the method's usual
/// large-then-small pair is enough here: the refined edge band is a few pixels wide, so every
/// edge pixel has pure person and pure background within this radius.
const FUSION_RADIUS: usize = 10;

/// The refined alpha, row by row, 0–1.
pub fn refine(image: &RgbImage, mask: &[f32]) -> Vec<f32> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let guide: Vec<f32> = image
        .pixels()
        .map(|p| (f32::from(p[0]) + f32::from(p[1]) + f32::from(p[2])) / 765.0)
        .collect();
    let mean = |v: &[f32]| box_mean(v, w, h, GUIDE_RADIUS);
    let product = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).collect::<Vec<_>>();
    let mean_i = mean(&guide);
    let mean_p = mean(mask);
    let corr_ip = mean(&product(&guide, mask));
    let corr_ii = mean(&product(&guide, &guide));
    let mut a = vec![0.0; w * h];
    let mut b = vec![0.0; w * h];
    for k in 0..w * h {
        let var = corr_ii[k] - mean_i[k] * mean_i[k];
        let cov = corr_ip[k] - mean_i[k] * mean_p[k];
        a[k] = cov / (var + GUIDE_EPS);
        b[k] = mean_p[k] - a[k] * mean_i[k];
    }
    let (mean_a, mean_b) = (mean(&a), mean(&b));
    (0..w * h)
        .map(|k| (mean_a[k] * guide[k] + mean_b[k]).clamp(0.0, 1.0))
        .collect()
}

/// The photo's person on `background`, its edge colours freed of the old background.
pub fn composite(image: &RgbImage, alpha: &[f32], background: Rgb) -> RgbImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let bg = [background.0, background.1, background.2].map(|c| f32::from(c) / 255.0);
    let channels: [Vec<f32>; 3] =
        std::array::from_fn(|c| image.pixels().map(|p| f32::from(p[c]) / 255.0).collect());
    let person = foreground(&channels, alpha, w, h);
    let mut out = RgbImage::new(image.width(), image.height());
    for (k, px) in out.pixels_mut().enumerate() {
        for c in 0..3 {
            let v = alpha[k] * person[c][k] + (1.0 - alpha[k]) * bg[c];
            px[c] = (v * 255.0 + 0.5).clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// `image` laid over `background` through `alpha` as it is, edges and all: the person alone, as
/// near as a hash needs, for a fraction of [`composite`]'s work.
pub fn over(image: &RgbImage, alpha: &[f32], background: Rgb) -> RgbImage {
    let bg = [background.0, background.1, background.2].map(f32::from);
    let mut out = image.clone();
    for (px, a) in out.pixels_mut().zip(alpha) {
        for c in 0..3 {
            px[c] = (a * f32::from(px[c]) + (1.0 - a) * bg[c] + 0.5) as u8;
        }
    }
    out
}

/// Blur-fusion estimate of the person's own colour, per channel: the local means of the person
/// and of the wall around each pixel, corrected by what the pixel's own colour says is left over.
fn foreground(image: &[Vec<f32>; 3], alpha: &[f32], w: usize, h: usize) -> [Vec<f32>; 3] {
    let r = FUSION_RADIUS;
    let beta: Vec<f32> = alpha.iter().map(|a| 1.0 - a).collect();
    let (alpha_mean, beta_mean) = (box_mean(alpha, w, h, r), box_mean(&beta, w, h, r));
    let weighted_mean = |v: &[f32], weight: &[f32]| {
        let product: Vec<f32> = v.iter().zip(weight).map(|(x, a)| x * a).collect();
        box_mean(&product, w, h, r)
    };
    std::array::from_fn(|c| {
        let own = &image[c];
        let (person, wall) = (weighted_mean(own, alpha), weighted_mean(own, &beta));
        (0..w * h)
            .map(|k| {
                // Where the neighbourhood has no person (or no wall) at all, the pixel's own
                // colour is the best guess.
                let f = if alpha_mean[k] > 1e-4 {
                    person[k] / alpha_mean[k]
                } else {
                    own[k]
                };
                let b = if beta_mean[k] > 1e-4 {
                    wall[k] / beta_mean[k]
                } else {
                    own[k]
                };
                let residual = own[k] - alpha[k] * f - beta[k] * b;
                (f + alpha[k] * residual).clamp(0.0, 1.0)
            })
            .collect()
    })
}

/// Mean over the `(2r+1)²` window around each pixel (clipped at the edges): a running sum
/// along each row, then running column sums down the rows, O(1) per pixel for any radius.
fn box_mean(v: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let inverse_counts = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|i| 1.0 / ((i + r).min(n - 1) + 1 - i.saturating_sub(r)) as f32)
            .collect()
    };
    let (across, down) = (inverse_counts(w), inverse_counts(h));
    // Eight rows at a time: eight independent running sums keep the CPU busy where one
    // would wait on each addition.
    const LANES: usize = 8;
    let mut rows = vec![0f32; w * h];
    for y in (0..h).step_by(LANES) {
        let n = LANES.min(h - y);
        let mut sums = [0f32; LANES];
        for (j, sum) in sums.iter_mut().enumerate().take(n) {
            *sum = v[(y + j) * w..][..=r.min(w - 1)].iter().sum();
        }
        for x in 0..w {
            for (j, sum) in sums.iter_mut().enumerate().take(n) {
                let row = (y + j) * w;
                rows[row + x] = *sum * across[x];
                if x + r + 1 < w {
                    *sum += v[row + x + r + 1];
                }
                if x >= r {
                    *sum -= v[row + x - r];
                }
            }
        }
    }
    let mut out = vec![0f32; w * h];
    let mut sums = vec![0f32; w];
    for row in rows.chunks_exact(w).take(r.min(h - 1) + 1) {
        sums.iter_mut().zip(row).for_each(|(s, v)| *s += v);
    }
    for y in 0..h {
        for (o, s) in out[y * w..(y + 1) * w].iter_mut().zip(&sums) {
            *o = s * down[y];
        }
        if y + r + 1 < h {
            let entering = &rows[(y + r + 1) * w..(y + r + 2) * w];
            sums.iter_mut().zip(entering).for_each(|(s, v)| *s += v);
        }
        if y >= r {
            let leaving = &rows[(y - r) * w..(y - r + 1) * w];
            sums.iter_mut().zip(leaving).for_each(|(s, v)| *s -= v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_mean_averages_the_clipped_window() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let m = box_mean(&v, 3, 2, 1);
        assert!((m[0] - 3.0).abs() < 1e-6); // (1 + 2 + 4 + 5) / 4
        assert!((m[1] - 3.5).abs() < 1e-6); // all six
                                            // Against the definition, on a larger picture and radius.
        let (w, h, r) = (23, 17, 4);
        let v: Vec<f32> = (0..w * h).map(|k| ((k * 37) % 11) as f32).collect();
        let m = box_mean(&v, w, h, r);
        for y in 0..h {
            for x in 0..w {
                let (mut sum, mut n) = (0.0, 0.0);
                for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                    for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                        sum += v[yy * w + xx];
                        n += 1.0;
                    }
                }
                assert!((m[y * w + x] - sum / n).abs() < 1e-4, "({x}, {y})");
            }
        }
    }

    #[test]
    fn edge_pixels_lose_the_old_background_colour() {
        // A red person on a green wall with a soft edge column of alpha 0.5.
        let (w, h) = (40, 10);
        let alpha: Vec<f32> = (0..w * h)
            .map(|k| match k % w {
                x if x < 20 => 1.0,
                20 => 0.5,
                _ => 0.0,
            })
            .collect();
        let image = RgbImage::from_fn(w as u32, h as u32, |x, _| match x {
            x if x < 20 => image::Rgb([200, 0, 0]),
            20 => image::Rgb([100, 100, 0]),
            _ => image::Rgb([0, 200, 0]),
        });
        let out = composite(&image, &alpha, Rgb(0, 0, 255));
        let edge = out.get_pixel(20, 5);
        // Half person red, half new blue; no green from the old wall.
        assert!(edge[1] < 20, "{edge:?}");
        assert!(edge[0] > 80 && edge[2] > 100, "{edge:?}");
    }
}
