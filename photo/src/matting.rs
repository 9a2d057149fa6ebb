//! From the segmenter's coarse mask to a clean composite on the new background.
//!
//! 1. The mask, brought to output resolution, is refined with a guided filter (He et al.) using
//!    the photo as guide, so its edge follows the hair and shoulders instead of the model's
//!    256×256 grid, and stays soft where hair is.
//! 2. Edge pixels are a mix of person and old wall. Their person colour is estimated with
//!    blur-fusion foreground estimation (Germer et al. 2020), which removes the wall's colour,
//!    so no rim of the old background shows on the new one.
//! 3. Composite: `alpha · person + (1 − alpha) · background`.
//!
//! Both filters work from local means over windows of 13 and 21 pixels. Those means are smooth
//! at the scale of a pixel, so they are taken on a grid of every second pixel each way and
//! interpolated back (the "fast guided filter" of He and Sun, 2015, applied to both steps):
//! a quarter of the work, while the guide and the per-pixel corrections stay at full
//! resolution. The blend in step 2 only runs where the matte is neither 0 nor 1.

use image::RgbImage;
use photo_ledger_domain::values::Rgb;

const GUIDE_RADIUS: usize = 6;
const GUIDE_EPS: f32 = 1e-3;
/// Neighbourhood of the foreground estimate, in output pixels. One level of the method's usual
/// large-then-small pair is enough here: the refined edge band is a few pixels wide, so every
/// edge pixel has pure person and pure background within this radius.
const FUSION_RADIUS: usize = 10;
/// A matte within this of 0 or 1 is taken as exactly 0 or 1: the difference is under half a
/// grey level in the composite, and it spares the edge blend the whole picture.
const SNAP: f32 = 1.0 / 512.0;

/// The refined alpha, row by row, 0–1.
pub fn refine(image: &RgbImage, mask: &[f32]) -> Vec<f32> {
    let full = Grid::of(image);
    let coarse = full.coarse();
    let raw = image.as_raw();
    let guide = |k: usize| {
        (u16::from(raw[3 * k]) + u16::from(raw[3 * k + 1]) + u16::from(raw[3 * k + 2])) as f32
            / 765.0
    };
    let (i, p) = (full.halve(guide), full.halve(|k| mask[k]));
    let mean = |v: &[f32]| coarse.box_mean(v, GUIDE_RADIUS / 2);
    let product = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).collect::<Vec<_>>();
    let mean_i = mean(&i);
    let mean_p = mean(&p);
    let corr_ip = mean(&product(&i, &p));
    let corr_ii = mean(&product(&i, &i));
    let mut a = vec![0.0; coarse.len()];
    let mut b = vec![0.0; coarse.len()];
    for k in 0..coarse.len() {
        let var = corr_ii[k] - mean_i[k] * mean_i[k];
        let cov = corr_ip[k] - mean_i[k] * mean_p[k];
        a[k] = cov / (var + GUIDE_EPS);
        b[k] = mean_p[k] - a[k] * mean_i[k];
    }
    let mut alpha = Vec::with_capacity(full.len());
    full.double([&mean(&a), &mean(&b)], |y, [a, b]| {
        alpha.extend(
            (0..full.w).map(|x| match a[x] * guide(y * full.w + x) + b[x] {
                q if q <= SNAP => 0.0,
                q if q >= 1.0 - SNAP => 1.0,
                q => q,
            }),
        );
    });
    alpha
}

/// The photo's person on `background`, its edge colours freed of the old background.
pub fn composite(image: &RgbImage, alpha: &[f32], background: Rgb) -> RgbImage {
    let full = Grid::of(image);
    let bg = [background.0, background.1, background.2].map(f32::from);
    let fusion = Fusion::new(image, alpha, full);
    let mut out = image.clone();
    let paint = bg.map(|c| c as u8);
    // Where each column and row falls on the coarse grid, worked out once each.
    let across = full.taps_across();
    let rows = out
        .chunks_exact_mut(3 * full.w)
        .zip(alpha.chunks_exact(full.w));
    for (y, (row, alpha_row)) in rows.enumerate() {
        let down = full.tap_down(y);
        for ((px, &a), &across) in row.chunks_exact_mut(3).zip(alpha_row).zip(&across) {
            if a >= 1.0 {
                continue;
            }
            if a <= 0.0 {
                px.copy_from_slice(&paint);
                continue;
            }
            let own = [px[0], px[1], px[2]].map(|c| f32::from(c) / 255.0);
            let person = fusion.person(Taps::new(across, down, fusion.coarse), own, a);
            for c in 0..3 {
                let v = a * person[c] * 255.0 + (1.0 - a) * bg[c];
                px[c] = (v + 0.5).clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// `image` laid over `background` through `alpha` as it is, edges and all: the person alone, as
/// near as a hash needs, for a fraction of [`composite`]'s work.
pub fn over(image: &RgbImage, alpha: &[f32], background: Rgb) -> RgbImage {
    let bg = [background.0, background.1, background.2].map(f32::from);
    let mut out = image.clone();
    for (px, &a) in out.pixels_mut().zip(alpha) {
        if a < 1.0 {
            for c in 0..3 {
                px[c] = (a * f32::from(px[c]) + (1.0 - a) * bg[c] + 0.5) as u8;
            }
        }
    }
    out
}

/// Blur-fusion estimate of the person's own colour: the local means of the person and of the
/// wall around each pixel, corrected by what the pixel's own colour says is left over. The
/// means are kept on the coarse grid, as sums weighted by alpha (and by `1 − alpha`) with the
/// weights' own means, and interpolated only at the pixels that ask.
struct Fusion {
    coarse: Grid,
    alpha_mean: Vec<f32>,
    /// Per channel, the local mean of `alpha · colour` and of `(1 − alpha) · colour`.
    person: [Vec<f32>; 3],
    wall: [Vec<f32>; 3],
}

impl Fusion {
    fn new(image: &RgbImage, alpha: &[f32], full: Grid) -> Self {
        let coarse = full.coarse();
        let r = FUSION_RADIUS / 2;
        // One pass over the 2×2 blocks: the mean alpha, and per channel the mean colour and the
        // mean of alpha · colour. The wall's share is their difference: `1 − alpha` weighs what
        // alpha does not.
        let raw = image.as_raw();
        let mut weight = Vec::with_capacity(coarse.len());
        let mut colour: [Vec<f32>; 3] = std::array::from_fn(|_| Vec::with_capacity(coarse.len()));
        let mut person = colour.clone();
        full.for_each_block(|block| {
            let (mut a, mut c, mut p) = (0.0, [0f32; 3], [0f32; 3]);
            for k in block {
                a += alpha[k];
                for ch in 0..3 {
                    let v = f32::from(raw[3 * k + ch]);
                    c[ch] += v;
                    p[ch] += alpha[k] * v;
                }
            }
            weight.push(a / 4.0);
            for ch in 0..3 {
                colour[ch].push(c[ch] / (4.0 * 255.0));
                person[ch].push(p[ch] / (4.0 * 255.0));
            }
        });
        let person = person.map(|p| coarse.box_mean(&p, r));
        let wall = std::array::from_fn(|ch| {
            let mut wall = coarse.box_mean(&colour[ch], r);
            wall.iter_mut().zip(&person[ch]).for_each(|(w, p)| *w -= p);
            wall
        });
        Self {
            coarse,
            alpha_mean: coarse.box_mean(&weight, r),
            person,
            wall,
        }
    }

    /// The person's colour at the pixel that falls `at` the coarse grid, whose own colour is
    /// `own` and matte `alpha`.
    fn person(&self, at: Taps, own: [f32; 3], alpha: f32) -> [f32; 3] {
        let alpha_mean = at.read(&self.alpha_mean);
        let beta_mean = 1.0 - alpha_mean;
        std::array::from_fn(|c| {
            // Where the neighbourhood has no person (or no wall) at all, the pixel's own
            // colour is the best guess.
            let f = if alpha_mean > 1e-4 {
                at.read(&self.person[c]) / alpha_mean
            } else {
                own[c]
            };
            let b = if beta_mean > 1e-4 {
                at.read(&self.wall[c]) / beta_mean
            } else {
                own[c]
            };
            let residual = own[c] - alpha * f - (1.0 - alpha) * b;
            (f + alpha * residual).clamp(0.0, 1.0)
        })
    }
}

/// The size of a picture, or of its coarse grid, row by row.
#[derive(Clone, Copy)]
struct Grid {
    w: usize,
    h: usize,
}

/// A position on the coarse grid, as its four neighbours and their weights.
struct Taps {
    corners: [usize; 4],
    weights: [f32; 4],
}

impl Taps {
    /// The four coarse pixels around a position given as its [`coarse_tap`] across and down.
    fn new(
        (x0, x1, fx): (usize, usize, f32),
        (y0, y1, fy): (usize, usize, f32),
        coarse: Grid,
    ) -> Self {
        Self {
            corners: [
                y0 * coarse.w + x0,
                y0 * coarse.w + x1,
                y1 * coarse.w + x0,
                y1 * coarse.w + x1,
            ],
            weights: [
                (1.0 - fx) * (1.0 - fy),
                fx * (1.0 - fy),
                (1.0 - fx) * fy,
                fx * fy,
            ],
        }
    }

    fn read(&self, v: &[f32]) -> f32 {
        (0..4).map(|i| v[self.corners[i]] * self.weights[i]).sum()
    }
}

impl Grid {
    fn of(image: &RgbImage) -> Self {
        Self {
            w: image.width() as usize,
            h: image.height() as usize,
        }
    }

    fn len(self) -> usize {
        self.w * self.h
    }

    /// Every second pixel each way, the last row and column kept when the size is odd.
    fn coarse(self) -> Grid {
        Grid {
            w: self.w.div_ceil(2),
            h: self.h.div_ceil(2),
        }
    }

    /// Calls `f` with each coarse pixel's 2×2 block of this grid's pixels, row by row; at an odd
    /// size the last row or column stands in for the missing one.
    fn for_each_block(self, mut f: impl FnMut([usize; 4])) {
        let coarse = self.coarse();
        for cy in 0..coarse.h {
            let (top, bottom) = (2 * cy * self.w, (2 * cy + 1).min(self.h - 1) * self.w);
            for cx in 0..coarse.w {
                let (left, right) = (2 * cx, (2 * cx + 1).min(self.w - 1));
                f([top + left, top + right, bottom + left, bottom + right]);
            }
        }
    }

    /// `value` (of this grid's pixel index) on the coarse grid: the mean of each 2×2 block.
    fn halve(self, value: impl Fn(usize) -> f32) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.coarse().len());
        self.for_each_block(|block| out.push(0.25 * block.map(&value).iter().sum::<f32>()));
        out
    }

    /// Where each column of this grid falls on its coarse grid, as [`coarse_tap`]s.
    fn taps_across(self) -> Vec<(usize, usize, f32)> {
        let coarse = self.coarse();
        (0..self.w).map(|x| coarse_tap(x, coarse.w)).collect()
    }

    /// Where row `y` of this grid falls on its coarse grid.
    fn tap_down(self, y: usize) -> (usize, usize, f32) {
        coarse_tap(y, self.coarse().h)
    }

    /// Coarse `maps` back at this grid's size, bilinear, handed to `f` a row at a time with the
    /// row's index; separable, each row blending two coarse rows, then picking columns from the
    /// blend.
    fn double<const N: usize>(self, maps: [&[f32]; N], mut f: impl FnMut(usize, [&[f32]; N])) {
        let coarse = self.coarse();
        let across = self.taps_across();
        let mut blended = vec![0f32; coarse.w];
        let mut rows = [(); N].map(|_| vec![0f32; self.w]);
        for (y, (y0, y1, fy)) in (0..self.h).map(|y| (y, self.tap_down(y))) {
            for (map, row) in maps.iter().zip(rows.iter_mut()) {
                let (r0, r1) = (
                    &map[y0 * coarse.w..][..coarse.w],
                    &map[y1 * coarse.w..][..coarse.w],
                );
                for ((b, p), q) in blended.iter_mut().zip(r0).zip(r1) {
                    *b = p + (q - p) * fy;
                }
                for (out, &(x0, x1, fx)) in row.iter_mut().zip(&across) {
                    *out = blended[x0] + (blended[x1] - blended[x0]) * fx;
                }
            }
            f(y, std::array::from_fn(|n| rows[n].as_slice()));
        }
    }

    fn box_mean(self, v: &[f32], r: usize) -> Vec<f32> {
        box_mean(v, self.w, self.h, r)
    }
}

/// For pixel `i` along an axis, the two coarse pixels (of `coarse` along that axis) either side
/// of its centre and the weight of the second: bilinear, with the edges repeated.
fn coarse_tap(i: usize, coarse: usize) -> (usize, usize, f32) {
    let t = ((i as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, (coarse - 1) as f32);
    let i0 = t as usize;
    (i0, (i0 + 1).min(coarse - 1), t - i0 as f32)
}

/// Mean over the `(2r+1)²` window around each pixel (clipped at the edges), O(1) per pixel for
/// any radius: along each row from the row's running (prefix) sums, then down the columns with
/// running column sums, a whole row at a time.
fn box_mean(v: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let inverse_counts = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|i| 1.0 / ((i + r).min(n - 1) + 1 - i.saturating_sub(r)) as f32)
            .collect()
    };
    let (across, down) = (inverse_counts(w), inverse_counts(h));
    // Pixels whose window lies wholly inside the row: there the sum is a difference of two
    // prefix sums a fixed distance apart, a loop the compiler turns into vector code.
    let inner_start = r.min(w);
    let inner_end = w.saturating_sub(r).max(inner_start);
    let mut rows = vec![0f32; w * h];
    let mut prefix = vec![0f32; w + 1];
    for (row, out) in v.chunks_exact(w).zip(rows.chunks_exact_mut(w)) {
        let mut sum = 0.0;
        for (p, x) in prefix[1..].iter_mut().zip(row) {
            sum += x;
            *p = sum;
        }
        let clipped =
            |x: usize| (prefix[(x + r + 1).min(w)] - prefix[x.saturating_sub(r)]) * across[x];
        for x in (0..inner_start).chain(inner_end..w) {
            out[x] = clipped(x);
        }
        if inner_start == inner_end {
            continue;
        }
        let (entering, leaving) = (&prefix[inner_start + r + 1..], &prefix[inner_start - r..]);
        for (((o, e), l), inverse) in out[inner_start..inner_end]
            .iter_mut()
            .zip(entering)
            .zip(leaving)
            .zip(&across[inner_start..inner_end])
        {
            *o = (e - l) * inverse;
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
                                            // Against the definition, on larger pictures and radii, windows wider than the
                                            // picture included.
        for (w, h, r) in [(23, 17, 4), (5, 4, 3), (9, 30, 4), (1, 6, 2)] {
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
                    assert!(
                        (m[y * w + x] - sum / n).abs() < 1e-4,
                        "{w}×{h} r {r}: ({x}, {y})"
                    );
                }
            }
        }
    }

    /// A dark person against a bright wall, their edge at `edge`, and the segmenter's mask a
    /// soft ramp 16 pixels wide around it.
    fn soft_mask_on_a_sharp_edge(w: usize, h: usize, edge: usize) -> (RgbImage, Vec<f32>) {
        let image = RgbImage::from_fn(w as u32, h as u32, |x, _| {
            if (x as usize) < edge {
                image::Rgb([40, 30, 30])
            } else {
                image::Rgb([220, 220, 210])
            }
        });
        let mask = (0..w * h)
            .map(|k| (0.5 - ((k % w) as f32 + 0.5 - edge as f32) / 16.0).clamp(0.0, 1.0))
            .collect();
        (image, mask)
    }

    #[test]
    fn the_refined_edge_follows_the_photo_not_the_mask() {
        // An odd size and an edge off the coarse grid.
        let (w, h, edge) = (61, 37, 29);
        let (image, mask) = soft_mask_on_a_sharp_edge(w, h, edge);
        let alpha = refine(&image, &mask);
        let row = &alpha[18 * w..19 * w];
        let mask_row = &mask[18 * w..19 * w];
        // Where the mask changes by a sixteenth from one pixel to the next, the matte steps
        // with the photo, and either side it leans further the photo's way than the mask.
        assert!(row[edge - 1] - row[edge] > 0.5, "{row:?}");
        assert!(row[edge - 3] > mask_row[edge - 3] + 0.1, "{row:?}");
        assert!(row[edge + 3] < mask_row[edge + 3] - 0.05, "{row:?}");
        // Beyond the ramp and the filter's reach, the matte is exactly person or exactly wall.
        assert!(row[..edge - 20].iter().all(|&a| a == 1.0), "{row:?}");
        assert!(row[edge + 20..].iter().all(|&a| a == 0.0), "{row:?}");
        assert!(
            row.windows(2).all(|p| p[0] >= p[1]),
            "monotone across the edge {row:?}"
        );
    }

    #[test]
    fn a_matte_within_half_a_grey_level_of_certain_is_certain() {
        let image = RgbImage::from_pixel(20, 10, image::Rgb([90, 90, 90]));
        assert!(refine(&image, &[0.999; 200]).iter().all(|&a| a == 1.0));
        assert!(refine(&image, &[0.001; 200]).iter().all(|&a| a == 0.0));
        let unsure = refine(&image, &[0.6; 200]);
        assert!(unsure.iter().all(|&a| (a - 0.6).abs() < 1e-3), "{unsure:?}");
    }

    #[test]
    fn person_and_background_pixels_are_copied_and_painted_exactly() {
        let (w, h, edge) = (40, 10, 20);
        let (image, mask) = soft_mask_on_a_sharp_edge(w, h, edge);
        let alpha = refine(&image, &mask);
        let out = composite(&image, &alpha, Rgb(0, 0, 255));
        for (k, (o, i)) in out.pixels().zip(image.pixels()).enumerate() {
            match alpha[k] {
                1.0 => assert_eq!(o, i, "person pixel {k}"),
                0.0 => assert_eq!(o.0, [0, 0, 255], "background pixel {k}"),
                _ => {}
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
