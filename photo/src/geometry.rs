//! Where the output frame sits on the input: level the eye line, then scale and place the face
//! so that head top, eye line and face width land inside the spec's windows, face centred.

use super::landmarks::Mesh;
use super::raster::{Affine, Point};
use super::segment::Mask;
use super::spec::{PhotoSpec, Window};

/// The plan keeps this many pixels inside each window, so small measuring differences on the
/// output do not push a value over an edge.
const MARGIN: f32 = 5.0;

/// The face, measured on the input.
#[derive(Clone, Copy, Debug)]
pub struct Subject {
    pub eye_centre: Point,
    /// Eye-line angle, radians (y down).
    pub angle: f32,
    pub face_width: f32,
    /// Eye line to the top of the hair, along the face's vertical axis.
    pub head_above_eyes: f32,
    /// Face centre minus eye centre, along the eye line (faces are rarely symmetric about the
    /// eyes when slightly turned).
    pub centre_offset: f32,
}

/// How the head top search ended.
pub enum HeadTop {
    Found(f32),
    /// The person reaches the image edge above the eyes.
    CutOff,
    /// The mask does not cover the eyes: the person is not separable from the background.
    NotFound,
}

/// Walks up from the eye line through the person mask, along the centre line and two lines a
/// fifth of the face width to either side (a parting must not hide the crown), and returns the
/// highest point still inside the person.
pub fn head_above_eyes(
    mask: &Mask,
    width: u32,
    height: u32,
    eye_centre: Point,
    angle: f32,
    face_width: f32,
) -> HeadTop {
    let (w, h) = (width as f32, height as f32);
    let (s, c) = angle.sin_cos();
    let up = Point::new(s, -c);
    // A step of about one mask cell keeps the walk cheap on large photos.
    let step = (w.max(h) / 512.0).max(0.5);
    let mut best: Option<f32> = None;
    for across in [-0.2f32, 0.0, 0.2] {
        let start = Point::new(
            eye_centre.x + across * face_width * c,
            eye_centre.y + across * face_width * s,
        );
        if mask.at(start.x / w, start.y / h) < 0.5 {
            continue;
        }
        let mut t = 0.0;
        loop {
            let p = Point::new(start.x + up.x * t, start.y + up.y * t);
            if p.x < 0.0 || p.y < 0.0 || p.x >= w || p.y >= h {
                return HeadTop::CutOff;
            }
            if mask.at(p.x / w, p.y / h) < 0.5 {
                break;
            }
            t += step;
        }
        best = Some(best.map_or(t, |b: f32| b.max(t)));
    }
    best.map_or(HeadTop::NotFound, HeadTop::Found)
}

impl Subject {
    pub fn new(mesh: &Mesh, head_above_eyes: f32) -> Self {
        let eye_centre = mesh.eye_centre();
        let angle = mesh.eye_angle();
        let face_centre = mesh.face_centre();
        let (s, c) = angle.sin_cos();
        Self {
            eye_centre,
            angle,
            face_width: mesh.face_width(),
            head_above_eyes,
            centre_offset: (face_centre.x - eye_centre.x) * c + (face_centre.y - eye_centre.y) * s,
        }
    }

    /// The same subject measured on the picture `to_full` maps onto (a uniform scale and a
    /// shift, as from a working copy to the full-size input).
    pub fn mapped(self, to_full: &Affine) -> Self {
        let k = to_full.scale();
        Self {
            eye_centre: to_full.apply(self.eye_centre),
            face_width: self.face_width * k,
            head_above_eyes: self.head_above_eyes * k,
            centre_offset: self.centre_offset * k,
            ..self
        }
    }
}

/// The chosen frame and where the spec's measures are expected to land in it.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Output pixel → input pixel.
    pub map: Affine,
    /// Output pixels per input pixel.
    pub scale: f32,
    pub head_top: f32,
    pub eye_line: f32,
    pub face_width: f32,
}

/// Picks the scale and eye-line height that put the face nearest the middle of every window,
/// never scaling up by more than `max_upscale`.
pub fn plan(subject: &Subject, spec: &PhotoSpec, max_upscale: f32) -> Plan {
    let fw = subject.face_width.max(1.0);
    let highest = (spec.face_width.max / fw * 1.1).min(max_upscale);
    let lowest = (spec.face_width.min / fw * 0.9).min(highest);
    let target_width = spec.face_width.min + 0.4 * (spec.face_width.max - spec.face_width.min);
    let mut best = (f32::MAX, lowest, spec.eye_line.mid());
    for i in 0..=100 {
        let scale = lowest + (highest - lowest) * i as f32 / 100.0;
        for eye in spec.eye_line.min as i32..=spec.eye_line.max as i32 {
            let eye = eye as f32;
            let top = eye - scale * subject.head_above_eyes;
            let width = scale * fw;
            let miss = |v: f32, w: Window, target: f32| {
                let inside_margin = v >= w.min + MARGIN && v <= w.max - MARGIN;
                ((v - target) / (w.max - w.min)).powi(2) + if inside_margin { 0.0 } else { 10.0 }
            };
            let cost = miss(width, spec.face_width, target_width)
                + miss(top, spec.head_top, spec.head_top.mid())
                + miss(eye, spec.eye_line, spec.eye_line.mid());
            if cost < best.0 {
                best = (cost, scale, eye);
            }
        }
    }
    let (_, scale, eye_line) = best;
    let eye_x = spec.width as f32 / 2.0 - scale * subject.centre_offset;
    // Output (0, 0) seen from the eye centre, in input pixels along the levelled axes.
    let (s, c) = subject.angle.sin_cos();
    let (du, dv) = (-eye_x / scale, -eye_line / scale);
    let origin = Point::new(
        subject.eye_centre.x + du * c - dv * s,
        subject.eye_centre.y + du * s + dv * c,
    );
    Plan {
        map: Affine::frame(origin, subject.angle, 1.0 / scale),
        scale,
        head_top: eye_line - scale * subject.head_above_eyes,
        eye_line,
        face_width: scale * fw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(angle_deg: f32) -> Subject {
        Subject {
            eye_centre: Point::new(300.0, 200.0),
            angle: angle_deg.to_radians(),
            face_width: 100.0,
            head_above_eyes: 90.0,
            centre_offset: 0.0,
        }
    }

    #[test]
    fn the_plan_lands_inside_every_window() {
        let spec = PhotoSpec::default();
        let plan = plan(&subject(0.0), &spec, 3.0);
        assert!(spec.face_width.contains(plan.face_width), "{plan:?}");
        assert!(spec.head_top.contains(plan.head_top), "{plan:?}");
        assert!(spec.eye_line.contains(plan.eye_line), "{plan:?}");
        // The eye centre maps to the middle of the eye line.
        let eye = plan.map.inverse().apply(Point::new(300.0, 200.0));
        assert!((eye.x - 240.0).abs() < 0.01 && (eye.y - plan.eye_line).abs() < 0.01);
    }

    #[test]
    fn a_tilted_face_is_levelled() {
        let plan = plan(&subject(8.0), &PhotoSpec::default(), 3.0);
        let s = subject(8.0);
        let (sin, cos) = s.angle.sin_cos();
        let other_eye = Point::new(300.0 + 40.0 * cos, 200.0 + 40.0 * sin);
        let inv = plan.map.inverse();
        assert!((inv.apply(other_eye).y - inv.apply(s.eye_centre).y).abs() < 0.01);
    }

    #[test]
    fn upscaling_is_capped() {
        let plan = plan(&subject(0.0), &PhotoSpec::default(), 1.5);
        assert!(plan.scale <= 1.5);
    }
}
