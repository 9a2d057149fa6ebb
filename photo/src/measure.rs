//! The numbers behind the checks: light and focus on the face, clothing against the background,
//! how decided the person mask is, and the composition measured on the finished photo.

use image::RgbImage;
use photo_ledger_domain::values::Rgb;
use serde::Serialize;

use super::detect;
use super::error::PhotoError;
use super::landmarks::{self, Mesh};
use super::models::Models;
use super::raster::{self, luma};

/// Light on the face, from the skin band between the eyes and the mouth of the levelled crop.
pub struct FaceLight {
    pub mean_luma: f32,
    pub clipped_share: f32,
    /// |left − right| / brighter side.
    pub imbalance: f32,
}

pub fn face_light(mesh: &Mesh) -> FaceLight {
    let (right, nose, left) = mesh.crop_face_span();
    let (eyes, mouth) = mesh.crop_eye_to_mouth();
    let inset = (left - right).abs() * 0.1;
    let (x0, x1) = (right.min(left) + inset, right.max(left) - inset);
    let (mut sums, mut counts, mut clipped) = ([0f32; 2], [0u32; 2], 0u32);
    for (x, _, p) in pixels_in(&mesh.crop, x0, x1, eyes, mouth) {
        let side = usize::from(x as f32 >= nose);
        sums[side] += luma([p[0], p[1], p[2]].map(f32::from));
        counts[side] += 1;
        clipped += u32::from(luma([p[0], p[1], p[2]].map(f32::from)) >= 250.0);
    }
    let total = (counts[0] + counts[1]).max(1) as f32;
    let means = [0, 1].map(|s| sums[s] / counts[s].max(1) as f32);
    let brighter = means[0].max(means[1]).max(1.0);
    FaceLight {
        mean_luma: (sums[0] + sums[1]) / total,
        clipped_share: clipped as f32 / total,
        imbalance: (means[0] - means[1]).abs() / brighter,
    }
}

/// Focus: mean absolute Laplacian of the face's luma, relative to its standard deviation, so a
/// dim face is not mistaken for a soft one. Measured on the fixed-scale crop, eyes included.
pub fn sharpness(mesh: &Mesh) -> f32 {
    let (right, _, left) = mesh.crop_face_span();
    let (eyes, mouth) = mesh.crop_eye_to_mouth();
    let (x0, x1) = (right.min(left), right.max(left));
    let (y0, y1) = (eyes - 0.4 * (mouth - eyes), mouth);
    let crop = &mesh.crop;
    let at = |x: u32, y: u32| {
        let p = crop.get_pixel(x, y);
        luma([p[0], p[1], p[2]].map(f32::from))
    };
    let (mut lap_sum, mut sum, mut sq, mut n) = (0f32, 0f32, 0f32, 0f32);
    for (x, y, _) in pixels_in(crop, x0, x1, y0, y1) {
        if x == 0 || y == 0 || x + 1 >= crop.width() || y + 1 >= crop.height() {
            continue;
        }
        let c = at(x, y);
        let lap = at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4.0 * c;
        lap_sum += lap.abs();
        sum += c;
        sq += c * c;
        n += 1.0;
    }
    if n < 1.0 {
        return 0.0;
    }
    let std = (sq / n - (sum / n).powi(2)).max(0.0).sqrt();
    lap_sum / n / (std + 1.0)
}

/// The crop's pixels inside a rectangle given in (fractional) crop coordinates.
fn pixels_in(
    image: &RgbImage,
    x0: f32,
    x1: f32,
    y0: f32,
    y1: f32,
) -> impl Iterator<Item = (u32, u32, &image::Rgb<u8>)> {
    let clamp = |v: f32, max: u32| (v.max(0.0) as u32).min(max);
    let (x0, x1) = (clamp(x0, image.width()), clamp(x1, image.width()));
    let (y0, y1) = (clamp(y0, image.height()), clamp(y1, image.height()));
    (y0..y1).flat_map(move |y| (x0..x1).map(move |x| (x, y, image.get_pixel(x, y))))
}

/// CIE76 ΔE between the clothing's mean colour (the person in the bottom eighth of the photo)
/// and the background. Where no person reaches the bottom, the whole band is compared.
pub fn clothing_contrast(photo: &RgbImage, alpha: &[f32], background: Rgb) -> f32 {
    let (w, h) = (photo.width(), photo.height());
    let band = (h - h / 8)..h;
    let mut sum = [0f32; 3];
    let mut weight = 0f32;
    let mut all = [0f32; 3];
    let mut count = 0f32;
    for y in band {
        for x in 0..w {
            let p = photo.get_pixel(x, y);
            let a = alpha[(y * w + x) as usize];
            for c in 0..3 {
                let v = f32::from(p[c]);
                all[c] += v;
                if a > 0.5 {
                    sum[c] += v * a;
                }
            }
            if a > 0.5 {
                weight += a;
            }
            count += 1.0;
        }
    }
    let clothing = if weight > 0.05 * count {
        sum.map(|s| s / weight)
    } else {
        all.map(|s| s / count.max(1.0))
    };
    let bg = [background.0, background.1, background.2].map(f32::from);
    delta_e(lab(clothing), lab(bg))
}

fn lab(rgb: [f32; 3]) -> [f32; 3] {
    let linear = rgb.map(|c| {
        let c = c / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    });
    let [r, g, b] = linear;
    // sRGB → XYZ (D65), normalised by the white point.
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    let f = |t: f32| {
        if t > 0.008856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

fn delta_e(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// Share of the frame where the segmenter could not decide between person and background.
pub fn undecided_share(mask: &[f32]) -> f32 {
    let undecided = mask.iter().filter(|&&p| p > 0.2 && p < 0.8).count();
    undecided as f32 / mask.len().max(1) as f32
}

/// 99th percentile of the RGB distance from the background along the top edge and the sides
/// down to the eye line (below it the shoulders may reach the sides).
pub fn border_deviation(photo: &RgbImage, background: Rgb, eye_line: f32) -> f32 {
    const STRIP: u32 = 6;
    let (w, h) = (photo.width(), photo.height());
    let bg = [background.0, background.1, background.2].map(f32::from);
    let side_end = (eye_line.max(STRIP as f32) as u32).min(h);
    let mut distances: Vec<f32> = Vec::new();
    for y in 0..side_end {
        for x in 0..w {
            if y < STRIP || x < STRIP || x >= w - STRIP {
                let p = photo.get_pixel(x, y);
                distances.push(raster::rgb_distance([p[0], p[1], p[2]].map(f32::from), bg));
            }
        }
    }
    if distances.is_empty() {
        return 0.0;
    }
    distances.sort_by(f32::total_cmp);
    distances[(distances.len() - 1) * 99 / 100]
}

/// The composition of a finished photo, measured on its pixels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Positions {
    /// Top of the hair, pixels from the top edge.
    pub head_top: f32,
    /// The line through both eye centres, pixels from the top edge.
    pub eye_line: f32,
    /// Cheek to cheek.
    pub face_width: f32,
    /// Degrees; positive when the image-right eye is lower.
    pub eye_tilt_deg: f32,
    /// Face centre minus the image's vertical centre line.
    pub face_offset: f32,
}

/// Runs face detection and the face mesh on a finished photo; the head top comes from the
/// person matte (`alpha`, same size as `photo`) above the face. `None` when no face is found.
pub fn positions(
    models: &Models,
    photo: &RgbImage,
    alpha: &[f32],
) -> Result<Option<Positions>, PhotoError> {
    let faces = detect::detect(models, photo)?;
    let Some(face) = faces.first() else {
        return Ok(None);
    };
    let mesh = landmarks::landmarks(models, photo, face)?;
    let eye = mesh.eye_centre();
    let face_width = mesh.face_width();
    let centre = mesh.face_centre();
    let w = photo.width();
    let x0 = (centre.x - 0.2 * face_width).max(0.0) as u32;
    let x1 = ((centre.x + 0.2 * face_width).max(0.0) as u32).min(w);
    let head_top = (0..photo.height())
        .find(|&y| (x0..x1).any(|x| alpha[(y * w + x) as usize] > 0.5))
        .unwrap_or(photo.height()) as f32;
    Ok(Some(Positions {
        head_top,
        eye_line: eye.y,
        face_width,
        eye_tilt_deg: mesh.eye_angle().to_degrees(),
        face_offset: centre.x - w as f32 / 2.0,
    }))
}
