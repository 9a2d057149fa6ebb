//! The 468-point face mesh, run on a square crop around a detected face, turned so the eyes are
//! level (as MediaPipe prepares it). From the mesh come the eye line, the face width and the
//! measures of the reviewers' checks: eyes open, mouth closed, head not turned.

use image::RgbImage;

use super::detect::Face;
use super::error::PhotoError;
use super::models::{Model, Models};
use super::raster::{self, Affine, Point};

const SIZE: usize = 192;
/// MediaPipe enlarges the detection box 1.5× so the whole face and some margin are in view.
const ROI_SCALE: f32 = 1.5;

/// Indices into MediaPipe's canonical face mesh. "Right" is the subject's right (image left).
mod index {
    pub const RIGHT_EYE_OUTER: usize = 33;
    pub const RIGHT_EYE_INNER: usize = 133;
    pub const RIGHT_EYE_UPPER: usize = 159;
    pub const RIGHT_EYE_LOWER: usize = 145;
    pub const LEFT_EYE_OUTER: usize = 263;
    pub const LEFT_EYE_INNER: usize = 362;
    pub const LEFT_EYE_UPPER: usize = 386;
    pub const LEFT_EYE_LOWER: usize = 374;
    pub const RIGHT_CHEEK: usize = 234;
    pub const LEFT_CHEEK: usize = 454;
    pub const NOSE_TIP: usize = 1;
    pub const UPPER_LIP_INNER: usize = 13;
    pub const LOWER_LIP_INNER: usize = 14;
    pub const MOUTH_RIGHT: usize = 78;
    pub const MOUTH_LEFT: usize = 308;
    pub const FOREHEAD: usize = 10;
    pub const CHIN: usize = 152;
}

pub struct Mesh {
    /// The landmarks in pixels of the image the face was found in.
    pub points: Vec<Point>,
    /// Probability that the crop holds a face.
    pub presence: f32,
    /// The levelled 192×192 face crop the mesh was computed on, for light and focus measures.
    pub crop: RgbImage,
    /// The landmarks in crop pixels.
    pub crop_points: Vec<Point>,
}

impl Mesh {
    fn at(&self, i: usize) -> Point {
        self.points[i]
    }

    pub fn right_eye(&self) -> Point {
        self.at(index::RIGHT_EYE_OUTER)
            .mid(self.at(index::RIGHT_EYE_INNER))
    }

    pub fn left_eye(&self) -> Point {
        self.at(index::LEFT_EYE_OUTER)
            .mid(self.at(index::LEFT_EYE_INNER))
    }

    pub fn eye_centre(&self) -> Point {
        self.right_eye().mid(self.left_eye())
    }

    /// Angle of the eye line in radians, positive when the image-right eye is lower.
    pub fn eye_angle(&self) -> f32 {
        let (r, l) = (self.right_eye(), self.left_eye());
        (l.y - r.y).atan2(l.x - r.x)
    }

    /// Cheek to cheek, measured along the eye line.
    pub fn face_width(&self) -> f32 {
        let (r, l) = (self.at(index::RIGHT_CHEEK), self.at(index::LEFT_CHEEK));
        let (s, c) = self.eye_angle().sin_cos();
        ((l.x - r.x) * c + (l.y - r.y) * s).abs()
    }

    /// The face centre across: the cheeks' midpoint.
    pub fn face_centre(&self) -> Point {
        self.at(index::RIGHT_CHEEK).mid(self.at(index::LEFT_CHEEK))
    }

    pub fn forehead(&self) -> Point {
        self.at(index::FOREHEAD)
    }

    pub fn chin(&self) -> Point {
        self.at(index::CHIN)
    }

    /// Lid gap over eye width, both eyes averaged: about 0.25–0.35 open, under 0.1 closed.
    pub fn eye_opening(&self) -> f32 {
        use index::*;
        let eye = |outer, inner, upper, lower| {
            self.at(upper).distance(self.at(lower)) / self.at(outer).distance(self.at(inner))
        };
        (eye(
            RIGHT_EYE_OUTER,
            RIGHT_EYE_INNER,
            RIGHT_EYE_UPPER,
            RIGHT_EYE_LOWER,
        ) + eye(
            LEFT_EYE_OUTER,
            LEFT_EYE_INNER,
            LEFT_EYE_UPPER,
            LEFT_EYE_LOWER,
        )) / 2.0
    }

    /// Inner lip gap over mouth width.
    pub fn mouth_opening(&self) -> f32 {
        use index::*;
        self.at(UPPER_LIP_INNER).distance(self.at(LOWER_LIP_INNER))
            / self.at(MOUTH_RIGHT).distance(self.at(MOUTH_LEFT))
    }

    /// How far the nose tip sits from the cheeks' midpoint, as a share of half the face width:
    /// 0 facing the camera, towards 1 in profile.
    pub fn head_turn(&self) -> f32 {
        use index::*;
        let p = &self.crop_points;
        let half = (p[LEFT_CHEEK].x - p[RIGHT_CHEEK].x).abs() / 2.0;
        let middle = (p[LEFT_CHEEK].x + p[RIGHT_CHEEK].x) / 2.0;
        ((p[NOSE_TIP].x - middle) / half.max(1.0)).abs()
    }

    /// Cheek-to-cheek span in crop pixels and the nose's x there, for splitting the face in two.
    pub fn crop_face_span(&self) -> (f32, f32, f32) {
        use index::*;
        let p = &self.crop_points;
        (p[RIGHT_CHEEK].x, p[NOSE_TIP].x, p[LEFT_CHEEK].x)
    }

    /// Eye line and mouth in crop pixels (y), for the skin band between them.
    pub fn crop_eye_to_mouth(&self) -> (f32, f32) {
        use index::*;
        let p = &self.crop_points;
        let eyes = (p[RIGHT_EYE_OUTER].y + p[LEFT_EYE_OUTER].y) / 2.0;
        let mouth = (p[UPPER_LIP_INNER].y + p[LOWER_LIP_INNER].y) / 2.0;
        (eyes, mouth)
    }
}

pub fn landmarks(models: &Models, image: &RgbImage, face: &Face) -> Result<Mesh, PhotoError> {
    let (r, l) = (face.keypoints[0], face.keypoints[1]);
    let angle = (l.y - r.y).atan2(l.x - r.x);
    let side = face.width().max(face.height()) * ROI_SCALE;
    let step = side / SIZE as f32;
    // Crop pixel (0, 0) sits at the ROI's top-left corner, turned with the eye line.
    let (s, c) = angle.sin_cos();
    let half = side / 2.0;
    let centre = face.centre();
    let corner = Point::new(
        centre.x - half * c + half * s,
        centre.y - half * s - half * c,
    );
    let crop_to_image = Affine::frame(corner, angle, step);
    let crop = raster::warp(image, &crop_to_image, SIZE as u32, SIZE as u32);
    let input: Vec<f32> = crop
        .as_raw()
        .iter()
        .map(|&v| f32::from(v) / 255.0)
        .collect();
    let [coords, presence] = models.run(
        Model::FaceMesh,
        [1, SIZE, SIZE, 3],
        &input,
        ["conv2d_21", "conv2d_31"],
    )?;
    if coords.len() < 468 * 3 {
        return Err(PhotoError::Inference {
            model: "face mesh",
            reason: format!("{} coordinates instead of 1404", coords.len()),
        });
    }
    let crop_points: Vec<Point> = coords
        .chunks_exact(3)
        .take(468)
        .map(|p| Point::new(p[0], p[1]))
        .collect();
    let points = crop_points
        .iter()
        .map(|&p| crop_to_image.apply(p))
        .collect();
    let logit = presence.first().copied().unwrap_or(-100.0);
    Ok(Mesh {
        points,
        presence: 1.0 / (1.0 + (-logit).exp()),
        crop,
        crop_points,
    })
}
