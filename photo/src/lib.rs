//! # Photo standardisation
//!
//! From a phone photo to the 480×640 JPEG 学信网 accepts, with the checks a reviewer makes.
//!
//! [`Standardiser::standardise`] runs named stages, each in its own module:
//! [`input`] (decode within limits, upright, RGB) → [`detect`] (exactly one face) →
//! [`landmarks`] (eye line, face width, eyes, mouth, pose) → [`segment`] + [`geometry`] (head top,
//! the levelled crop that puts the face inside the spec's windows) → [`matting`] (refined edge,
//! old background's colour removed, composite) → [`measure`] (the finished photo re-measured) →
//! [`encode`] (baseline JPEG, 300 dpi, quality searched for 20–40 KB) and a [`phash`].
//! Every number of the standard is in [`spec`]; every check and its advice in [`checks`].
//!
//! A JPEG is decoded at the largest DCT reduction that keeps at least 1600 px on its long side.
//! The models run on a working copy of at most 1024 px on the long side made from that decode;
//! the photo itself is resampled once, straight into the output frame, from a decode with at
//! least as many pixels as the frame takes: the first decode when it has them (the usual case
//! for a phone photo), else a second decode at the reduction the face needs.

pub mod checks;
pub mod detect;
pub mod encode;
pub mod error;
pub mod geometry;
pub mod input;
pub mod landmarks;
pub mod matting;
pub mod measure;
pub mod models;
pub mod phash;
pub mod prints;
pub mod raster;
pub mod report;
pub mod segment;
pub mod spec;

use std::borrow::Cow;

use image::RgbImage;
use photo_ledger_domain::values::Background;

use checks::{Check, CheckCode};
use error::PhotoError;
use geometry::{HeadTop, Plan, Subject};
use input::{Decoded, Upload};
use landmarks::Mesh;
use measure::Positions;
use models::{Models, RuntimeConfig};
use phash::PerceptualHash;
use raster::{Affine, Point};
use report::{OutputFile, Report, Size, Stopwatch, Verdict};
use spec::{CheckLimits, InputLimits, PhotoSpec, Window};

const WORKING_SIDE: u32 = 1024;
/// A JPEG is first decoded at the largest reduction that keeps this many pixels on its long
/// side. The frame's 640 rows then come from that decode without a second one whenever they span
/// at least 40 % of the photo's height, as a head and shoulders do in a phone photo taken for an
/// ID; a second decode (an entropy decoding of the whole file again) only serves smaller faces.
const FIRST_DECODE_SIDE: u32 = 1600;

/// The background the person is put on to be hashed, whatever the photo's own.
const HASHED_ON: photo_ledger_domain::values::Rgb = photo_ledger_domain::values::Rgb(128, 128, 128);

#[derive(Clone, Debug)]
pub struct StandardiserConfig {
    pub runtime: RuntimeConfig,
    pub spec: PhotoSpec,
    pub limits: CheckLimits,
    pub input: InputLimits,
    pub decoding: Decoding,
}

/// How much of a JPEG's resolution is decoded (`photos.decoding`: `as_needed` or `full_size`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum Decoding {
    /// Only as many pixels as the stages need: the working copy's, and the frame's.
    #[default]
    AsNeeded,
    /// Every pixel, whatever the stages need: slower and about four times the memory for a
    /// 12 MP photo; for comparing with the reduced decode.
    FullSize,
}

impl TryFrom<String> for Decoding {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        match name.as_str() {
            "as_needed" => Ok(Self::AsNeeded),
            "full_size" => Ok(Self::FullSize),
            _ => Err(format!(
                "{name:?} is not a decoding: use \"as_needed\" or \"full_size\""
            )),
        }
    }
}

impl StandardiserConfig {
    pub fn new(runtime: RuntimeConfig) -> Self {
        Self {
            runtime,
            spec: PhotoSpec::default(),
            limits: CheckLimits::default(),
            input: InputLimits::default(),
            decoding: Decoding::default(),
        }
    }
}

/// Loads the models once; share one per process (it is `Send + Sync`).
pub struct Standardiser {
    models: Models,
    spec: PhotoSpec,
    limits: CheckLimits,
    input: InputLimits,
    decoding: Decoding,
}

/// The finished photo (absent when refused) and its report.
pub struct Standardised {
    pub jpeg: Option<Vec<u8>>,
    pub report: Report,
}

impl Standardiser {
    pub fn new(config: StandardiserConfig) -> Result<Self, PhotoError> {
        Ok(Self {
            models: Models::load(&config.runtime)?,
            spec: config.spec,
            limits: config.limits,
            input: config.input,
            decoding: config.decoding,
        })
    }

    pub fn models(&self) -> &Models {
        &self.models
    }

    pub fn spec(&self) -> &PhotoSpec {
        &self.spec
    }

    pub fn input_limits(&self) -> &InputLimits {
        &self.input
    }

    /// Errors are for pictures that cannot be read and for a broken installation; everything
    /// wrong with a readable picture is in the report's checks.
    pub fn standardise(
        &self,
        bytes: &[u8],
        background: Background,
    ) -> Result<Standardised, PhotoError> {
        let mut clock = Stopwatch::start();
        let upload = input::open(bytes, &self.input)?;
        let (width, height) = upload.size();
        let reduction = match self.decoding {
            Decoding::AsNeeded => {
                upload.reduction_for(FIRST_DECODE_SIDE as f32 / width.max(height) as f32)
            }
            Decoding::FullSize => 1,
        };
        let decoded = upload.decode(reduction)?;
        clock.lap("decode");
        let mut checks = Vec::new();
        let mut report = Report {
            verdict: Verdict::Refused,
            background,
            input: Size { width, height },
            positions: None,
            checks: Vec::new(),
            output: None,
            perceptual_hash: None,
            models: self.models.versions().to_vec(),
            timings_ms: Vec::new(),
        };
        let run = self.run(
            &upload,
            decoded,
            background,
            &mut checks,
            &mut clock,
            &mut report,
        );
        let jpeg = match run {
            Ok(jpeg) => Some(jpeg),
            Err(Stage::Refused(check)) => {
                checks.push(check);
                None
            }
            Err(Stage::Failed(e)) => return Err(e),
        };
        report.verdict = match (&jpeg, checks.iter().any(Check::blocks)) {
            (None, _) => Verdict::Refused,
            (Some(_), true) => Verdict::Retake,
            (Some(_), false) => Verdict::Accepted,
        };
        report.checks = checks;
        report.timings_ms = clock.stages();
        Ok(Standardised { jpeg, report })
    }

    /// The stages in order; each refusal ends the run with the check that failed.
    fn run(
        &self,
        upload: &Upload,
        decoded: Decoded,
        background: Background,
        checks: &mut Vec<Check>,
        clock: &mut Stopwatch,
        report: &mut Report,
    ) -> Result<Vec<u8>, Stage> {
        let subject = {
            let (working, to_full) = working_copy(&decoded);
            clock.lap("working_copy");
            let mesh = self.one_face(&working, to_full.scale(), checks, clock)?;
            let head_above_eyes = self.head_top(&working, &mesh, &to_full, checks)?;
            clock.lap("segment_input");
            checks.extend(self.face_checks(&mesh));
            Subject::new(&mesh, head_above_eyes).mapped(&to_full)
        };
        let plan = geometry::plan(&subject, &self.spec, self.limits.max_upscale);
        checks.push(Check::at_most(
            CheckCode::LowResolution,
            plan.scale,
            self.limits.soft_upscale,
        ));
        // The frame needs `plan.scale` pixels per input pixel; a decode as fine serves.
        let reduction = upload.reduction_for(plan.scale);
        let source = if decoded.reduction <= reduction {
            decoded
        } else {
            drop(decoded);
            upload.decode(reduction)?
        };
        clock.lap("decode_frame");
        let map = source.to_full.inverse().after(&plan.map);
        let framed = raster::warp(&source.image, &map, self.spec.width, self.spec.height);
        drop(source);
        clock.lap("frame");
        let (photo, alpha) = self.replace_background(&framed, background, checks)?;
        // The same photo must hash the same on whichever background it was given, here or
        // elsewhere: the hash is of the person alone, on one neutral grey.
        let person = matting::over(&framed, &alpha, HASHED_ON);
        clock.lap("background");
        report.positions = self.check_positions(&photo, &alpha, &plan, background, checks)?;
        clock.lap("measure");

        let spec = &self.spec;
        let encoded = encode::within_size(&photo, spec)?;
        clock.lap("encode");
        let kb = Window::new(
            spec.min_bytes as f32 / 1024.0,
            spec.max_bytes as f32 / 1024.0,
        );
        let size_kb = encoded.bytes.len() as f32 / 1024.0;
        checks.push(Check::within(CheckCode::FileSize, size_kb, kb));
        report.perceptual_hash = Some(PerceptualHash::of(&person));
        report.output = Some(OutputFile {
            width: spec.width,
            height: spec.height,
            bytes: encoded.bytes.len(),
            jpeg_quality: encoded.quality,
            dpi: spec.dpi,
        });
        clock.lap("hash");
        Ok(encoded.bytes)
    }

    /// Exactly one face, level enough to fix and large enough not to invent resolution.
    fn one_face(
        &self,
        working: &RgbImage,
        k: f32,
        checks: &mut Vec<Check>,
        clock: &mut Stopwatch,
    ) -> Result<Mesh, Stage> {
        let limits = &self.limits;
        let faces = detect::detect(&self.models, working)?;
        clock.lap("detect");
        let Some(face) = faces.first() else {
            return refuse(CheckCode::NoFace, 0.0, 1.0);
        };
        checks.push(Check::at_least(CheckCode::NoFace, 1.0, 1.0));
        // Faces much smaller than the subject's (a poster far behind) do not count.
        let counted = faces
            .iter()
            .filter(|f| f.width() >= limits.other_face_share * face.width())
            .count() as f32;
        if counted > 1.0 {
            return refuse(CheckCode::SeveralFaces, counted, 1.0);
        }
        checks.push(Check::at_most(CheckCode::SeveralFaces, counted, 1.0));

        let mesh = landmarks::landmarks(&self.models, working, face)?;
        clock.lap("landmarks");
        if mesh.presence < 0.5 {
            return refuse(CheckCode::NoFace, mesh.presence, 0.5);
        }
        let tilt = mesh.eye_angle().to_degrees().abs();
        if tilt > limits.max_tilt_deg {
            return refuse(CheckCode::TiltTooLarge, tilt, limits.max_tilt_deg);
        }
        checks.push(Check::at_most(
            CheckCode::TiltTooLarge,
            tilt,
            limits.max_tilt_deg,
        ));
        let face_width = mesh.face_width() * k;
        let smallest = self.spec.face_width.min / limits.max_upscale;
        if face_width < smallest {
            return refuse(CheckCode::FaceTooSmall, face_width, smallest);
        }
        checks.push(Check::at_least(
            CheckCode::FaceTooSmall,
            face_width,
            smallest,
        ));
        Ok(mesh)
    }

    /// Eye line to the top of the hair, in working-copy pixels, from the person mask.
    fn head_top(
        &self,
        working: &RgbImage,
        mesh: &Mesh,
        to_full: &Affine,
        checks: &mut Vec<Check>,
    ) -> Result<f32, Stage> {
        let mask = segment::segment(&self.models, working)?;
        let (eye, angle) = (mesh.eye_centre(), mesh.eye_angle());
        let (w, h) = (working.width(), working.height());
        match geometry::head_above_eyes(&mask, w, h, eye, angle, mesh.face_width()) {
            HeadTop::Found(above) => {
                let crown_y = to_full
                    .apply(Point::new(eye.x, eye.y - above * angle.cos()))
                    .y;
                checks.push(Check::at_least(CheckCode::HeadCutOff, crown_y, 1.0));
                Ok(above)
            }
            HeadTop::CutOff => refuse(CheckCode::HeadCutOff, 0.0, 1.0),
            // The value is the person probability at the eyes, which should be near 1.
            HeadTop::NotFound => {
                let at_eyes = mask.at(eye.x / w as f32, eye.y / h as f32);
                refuse(CheckCode::NotSeparable, at_eyes, 0.5)
            }
        }
    }

    /// What a reviewer sees in the face itself: pose, eyes, mouth, light and focus.
    fn face_checks(&self, mesh: &Mesh) -> [Check; 7] {
        let limits = &self.limits;
        let light = measure::face_light(mesh);
        [
            Check::at_most(
                CheckCode::HeadTurned,
                mesh.head_turn(),
                limits.max_head_turn,
            ),
            Check::at_least(
                CheckCode::EyesClosed,
                mesh.eye_opening(),
                limits.min_eye_opening,
            ),
            Check::at_most(
                CheckCode::MouthOpen,
                mesh.mouth_opening(),
                limits.max_mouth_opening,
            ),
            Check::at_least(CheckCode::TooDark, light.mean_luma, limits.min_face_luma),
            Check::at_most(
                CheckCode::Overexposed,
                light.clipped_share,
                limits.max_clipped_share,
            ),
            Check::graded_at_most(
                CheckCode::UnevenLight,
                light.imbalance,
                limits.soft_light_imbalance,
                limits.max_light_imbalance,
            ),
            Check::at_least(
                CheckCode::Blurred,
                measure::sharpness(mesh),
                limits.min_sharpness,
            ),
        ]
    }

    /// The framed photo on the new background, and the person matte.
    fn replace_background(
        &self,
        framed: &RgbImage,
        background: Background,
        checks: &mut Vec<Check>,
    ) -> Result<(RgbImage, Vec<f32>), Stage> {
        let (w, h) = (self.spec.width, self.spec.height);
        let raw = segment::segment(&self.models, framed)?.resized(w, h);
        let alpha = matting::refine(framed, &raw);
        let photo = matting::composite(framed, &alpha, background.rgb());
        checks.push(Check::at_most(
            CheckCode::NotSeparable,
            measure::undecided_share(&raw),
            self.limits.max_undecided_share,
        ));
        checks.push(Check::at_least(
            CheckCode::ClothingLikeBackground,
            measure::clothing_contrast(&photo, &alpha, background.rgb()),
            self.limits.min_clothing_contrast,
        ));
        Ok((photo, alpha))
    }

    /// Measures the finished photo's composition and its border with the face models.
    fn check_positions(
        &self,
        photo: &RgbImage,
        alpha: &[f32],
        plan: &Plan,
        background: Background,
        checks: &mut Vec<Check>,
    ) -> Result<Option<Positions>, Stage> {
        let spec = &self.spec;
        let positions = measure::positions(&self.models, photo, alpha)?;
        let eye_line = positions.map_or(plan.eye_line, |p| p.eye_line);
        checks.push(Check::at_most(
            CheckCode::BackgroundNotUniform,
            measure::border_deviation(photo, background.rgb(), eye_line),
            self.limits.max_border_deviation,
        ));
        match positions {
            Some(p) => checks.extend([
                Check::within(CheckCode::HeadTopPosition, p.head_top, spec.head_top),
                Check::within(CheckCode::EyeLinePosition, p.eye_line, spec.eye_line),
                Check::within(CheckCode::FaceWidth, p.face_width, spec.face_width),
                Check::at_most(
                    CheckCode::FaceOffCentre,
                    p.face_offset.abs(),
                    spec.max_off_centre,
                ),
            ]),
            None => checks.push(Check::failed(CheckCode::NoFace, 0.0, 1.0)),
        }
        Ok(positions)
    }
}

/// How a stage ended early: refused (the picture cannot become a standard photo, and this
/// failed check says why) or failed.
enum Stage {
    Refused(Check),
    Failed(PhotoError),
}

impl From<PhotoError> for Stage {
    fn from(e: PhotoError) -> Self {
        Stage::Failed(e)
    }
}

fn refuse<T>(code: CheckCode, value: f32, limit: f32) -> Result<T, Stage> {
    Err(Stage::Refused(Check::failed(code, value, limit)))
}

/// The decoded input itself when small enough, else a copy at most `WORKING_SIDE` on its long
/// side; and the map from its pixels to the full-size input's.
fn working_copy(decoded: &Decoded) -> (Cow<'_, RgbImage>, Affine) {
    let image = &decoded.image;
    let (w, h) = (image.width(), image.height());
    let long = w.max(h);
    if long <= WORKING_SIDE {
        return (Cow::Borrowed(image), decoded.to_full);
    }
    let scale = WORKING_SIDE as f32 / long as f32;
    let (ww, wh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let working = raster::resize_fast(image, [0.0, 0.0, f64::from(w), f64::from(h)], ww, wh);
    let to_decoded = Affine {
        a: w as f32 / ww as f32,
        b: 0.0,
        c: 0.0,
        d: 0.0,
        e: h as f32 / wh as f32,
        f: 0.0,
    };
    (Cow::Owned(working), decoded.to_full.after(&to_decoded))
}
