//! Face detection: MediaPipe's BlazeFace (short range) on the whole picture, letterboxed to
//! 128×128, decoded from its 896 SSD anchors and merged with weighted non-maximum suppression.

use image::RgbImage;

use super::error::PhotoError;
use super::models::{Model, Models};
use super::raster::{self, Point};

const SIZE: usize = 128;
const MIN_SCORE: f32 = 0.5;
const MERGE_IOU: f32 = 0.3;

/// One face, in pixels of the image it was found in.
#[derive(Clone, Debug, PartialEq)]
pub struct Face {
    pub score: f32,
    pub left: f32,
    pub top: f32,
    pub right: f32,
    pub bottom: f32,
    /// The subject's right eye (the image's left), left eye, nose tip, mouth centre, right ear
    /// tragion, left ear tragion.
    pub keypoints: [Point; 6],
}

impl Face {
    pub fn width(&self) -> f32 {
        self.right - self.left
    }

    pub fn height(&self) -> f32 {
        self.bottom - self.top
    }

    pub fn centre(&self) -> Point {
        Point::new(
            (self.left + self.right) / 2.0,
            (self.top + self.bottom) / 2.0,
        )
    }

    fn iou(&self, other: &Face) -> f32 {
        let w = (self.right.min(other.right) - self.left.max(other.left)).max(0.0);
        let h = (self.bottom.min(other.bottom) - self.top.max(other.top)).max(0.0);
        let overlap = w * h;
        overlap / (self.width() * self.height() + other.width() * other.height() - overlap)
    }
}

/// Every face found, largest first.
pub fn detect(models: &Models, image: &RgbImage) -> Result<Vec<Face>, PhotoError> {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let scale = SIZE as f32 / w.max(h);
    let (fit_w, fit_h) = (
        ((w * scale).round() as u32).clamp(1, SIZE as u32),
        ((h * scale).round() as u32).clamp(1, SIZE as u32),
    );
    let fitted = raster::resize(image, [0.0, 0.0, w.into(), h.into()], fit_w, fit_h);
    let pad_x = (SIZE as u32 - fit_w) / 2;
    let pad_y = (SIZE as u32 - fit_h) / 2;
    // Letterbox padding is black, i.e. -1 after normalisation, as MediaPipe does it.
    let mut input = vec![-1.0f32; SIZE * SIZE * 3];
    for (x, y, p) in fitted.enumerate_pixels() {
        let i = (((y + pad_y) as usize) * SIZE + (x + pad_x) as usize) * 3;
        for c in 0..3 {
            input[i + c] = f32::from(p[c]) / 127.5 - 1.0;
        }
    }
    let [regressors, logits] = models.run(
        Model::FaceDetection,
        [1, SIZE, SIZE, 3],
        &input,
        ["regressors", "classificators"],
    )?;
    // Back from normalised letterbox coordinates to image pixels.
    let to_image = |x: f32, y: f32| {
        Point::new(
            (x * SIZE as f32 - pad_x as f32) / scale,
            (y * SIZE as f32 - pad_y as f32) / scale,
        )
    };
    let mut candidates = Vec::new();
    for (i, anchor) in anchors().into_iter().enumerate() {
        let logit = logits
            .get(i)
            .copied()
            .unwrap_or(-100.0)
            .clamp(-100.0, 100.0);
        let score = 1.0 / (1.0 + (-logit).exp());
        let Some(r) = regressors.get(i * 16..i * 16 + 16) else {
            break;
        };
        if score < MIN_SCORE {
            continue;
        }
        let at =
            |dx: f32, dy: f32| to_image(dx / SIZE as f32 + anchor.x, dy / SIZE as f32 + anchor.y);
        let centre = at(r[0], r[1]);
        // Width and height are in letterbox pixels.
        let (bw, bh) = (r[2] / scale, r[3] / scale);
        candidates.push(Face {
            score,
            left: centre.x - bw / 2.0,
            top: centre.y - bh / 2.0,
            right: centre.x + bw / 2.0,
            bottom: centre.y + bh / 2.0,
            keypoints: std::array::from_fn(|k| at(r[4 + 2 * k], r[5 + 2 * k])),
        });
    }
    let mut faces = weighted_nms(candidates);
    faces.sort_by(|a, b| b.width().total_cmp(&a.width()));
    Ok(faces)
}

/// MediaPipe's SSD anchors for this model: a 16×16 grid with 2 anchors per cell, then an 8×8
/// grid with 6, row by row; centres in normalised coordinates.
fn anchors() -> Vec<Point> {
    let mut anchors = Vec::with_capacity(896);
    for (grid, per_cell) in [(16u32, 2), (8, 6)] {
        for y in 0..grid {
            for x in 0..grid {
                let centre = Point::new(
                    (x as f32 + 0.5) / grid as f32,
                    (y as f32 + 0.5) / grid as f32,
                );
                anchors.extend(std::iter::repeat_n(centre, per_cell));
            }
        }
    }
    anchors
}

/// Overlapping detections of one face are averaged, weighted by score, rather than dropped:
/// the averaged box and keypoints are steadier than the single best anchor's.
fn weighted_nms(mut candidates: Vec<Face>) -> Vec<Face> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut faces = Vec::new();
    while let Some(best) = candidates.first().cloned() {
        let (cluster, rest): (Vec<Face>, Vec<Face>) = candidates
            .into_iter()
            .partition(|f| f.iou(&best) > MERGE_IOU);
        candidates = rest;
        let total: f32 = cluster.iter().map(|f| f.score).sum();
        let avg = |get: &dyn Fn(&Face) -> f32| {
            cluster.iter().map(|f| get(f) * f.score).sum::<f32>() / total
        };
        faces.push(Face {
            score: best.score,
            left: avg(&|f| f.left),
            top: avg(&|f| f.top),
            right: avg(&|f| f.right),
            bottom: avg(&|f| f.bottom),
            keypoints: std::array::from_fn(|k| {
                Point::new(avg(&|f| f.keypoints[k].x), avg(&|f| f.keypoints[k].y))
            }),
        });
    }
    faces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_follow_the_model_layout() {
        let a = anchors();
        assert_eq!(a.len(), 896);
        assert_eq!(a[0], Point::new(0.5 / 16.0, 0.5 / 16.0));
        assert_eq!(a[1], a[0]);
        assert_eq!(a[2], Point::new(1.5 / 16.0, 0.5 / 16.0));
        assert_eq!(a[512], Point::new(0.5 / 8.0, 0.5 / 8.0));
        assert_eq!(a[895], Point::new(7.5 / 8.0, 7.5 / 8.0));
    }

    #[test]
    fn overlapping_detections_merge_and_distant_ones_stay() {
        let face = |x: f32, score: f32| Face {
            score,
            left: x,
            top: 0.0,
            right: x + 10.0,
            bottom: 10.0,
            keypoints: [Point::new(x, 0.0); 6],
        };
        let merged = weighted_nms(vec![face(0.0, 0.9), face(1.0, 0.6), face(50.0, 0.7)]);
        assert_eq!(merged.len(), 2);
        assert!((merged[0].left - 0.4).abs() < 1e-5);
        assert_eq!(merged[1].left, 50.0);
    }
}
