//! Every number of the 学信网 photo standard and of our checks, in one place. The standard is
//! quoted from university notices, not from an official page, so it must stay configurable.

use serde::Serialize;

/// An inclusive range of output pixels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Window {
    pub min: f32,
    pub max: f32,
}

impl Window {
    pub const fn new(min: f32, max: f32) -> Self {
        Self { min, max }
    }

    pub fn contains(self, v: f32) -> bool {
        v >= self.min && v <= self.max
    }

    pub fn mid(self) -> f32 {
        (self.min + self.max) / 2.0
    }

    /// The bound a value is compared with: the one nearer to it.
    pub fn nearest_bound(self, v: f32) -> f32 {
        if v < self.mid() {
            self.min
        } else {
            self.max
        }
    }
}

/// The digital file and its composition.
#[derive(Clone, Debug, Serialize)]
pub struct PhotoSpec {
    pub width: u32,
    pub height: u32,
    pub dpi: u16,
    pub min_quality: u8,
    pub min_bytes: usize,
    pub max_bytes: usize,
    /// Top of the head (crown, with hair), pixels from the top edge.
    pub head_top: Window,
    /// The line through both eyes, pixels from the top edge.
    pub eye_line: Window,
    /// Cheek to cheek.
    pub face_width: Window,
    /// How far the face centre may sit from the vertical centre line.
    pub max_off_centre: f32,
}

impl Default for PhotoSpec {
    fn default() -> Self {
        Self {
            width: 480,
            height: 640,
            dpi: 300,
            min_quality: 60,
            min_bytes: 20 * 1024,
            max_bytes: 40 * 1024,
            head_top: Window::new(50.0, 110.0),
            eye_line: Window::new(200.0, 300.0),
            face_width: Window::new(180.0, 300.0),
            max_off_centre: 12.0,
        }
    }
}

/// Limits of the automatic checks, each compared as documented on its field. Calibrated on the
/// astronaut fixture and the variants `tests/photo.rs` derives from it; for example sharpness is
/// 0.19 on the original and 0.04 blurred with σ = 3, light imbalance 0.10 against 0.58 half-lit,
/// face luma 177 against 45 darkened, clothing ΔE 69 against 8 dyed blue.
#[derive(Clone, Debug, Serialize)]
pub struct CheckLimits {
    /// Eye-line tilt in degrees that levelling may still correct.
    pub max_tilt_deg: f32,
    /// Largest upscaling from input to output before the face is refused as too small.
    pub max_upscale: f32,
    /// Upscaling above which the student is warned that prints will look soft.
    pub soft_upscale: f32,
    /// Nose offset from the cheeks' midpoint, as a share of half the face width.
    pub max_head_turn: f32,
    /// Eye opening (lid gap / eye width), averaged over both eyes.
    pub min_eye_opening: f32,
    /// Lip gap / mouth width.
    pub max_mouth_opening: f32,
    /// Mean luma (0–255) of the face.
    pub min_face_luma: f32,
    /// Share of face pixels blown out to white (luma 250 or more), their detail lost. Fair skin
    /// in bright light, with one channel at its top, is not blown out.
    pub max_clipped_share: f32,
    /// |left − right| / brighter half of the face: above this a warning for the reviewer (side
    /// light that a standardised photo still shows the face in)…
    pub soft_light_imbalance: f32,
    /// …and above this a half-shadowed face (阴阳脸) that must be retaken.
    pub max_light_imbalance: f32,
    /// Laplacian energy of the face at a fixed scale, relative to its contrast.
    pub min_sharpness: f32,
    /// CIE76 ΔE between the clothing's mean colour and the background.
    pub min_clothing_contrast: f32,
    /// Share of the frame where the person mask is undecided (between 0.2 and 0.8).
    pub max_undecided_share: f32,
    /// 99th percentile of the border's colour distance (RGB) from the background.
    pub max_border_deviation: f32,
    /// A second face counts when its width is at least this share of the largest face's.
    pub other_face_share: f32,
}

impl Default for CheckLimits {
    fn default() -> Self {
        Self {
            max_tilt_deg: 12.0,
            max_upscale: 2.6,
            soft_upscale: 1.6,
            max_head_turn: 0.3,
            min_eye_opening: 0.12,
            max_mouth_opening: 0.12,
            min_face_luma: 70.0,
            max_clipped_share: 0.10,
            soft_light_imbalance: 0.30,
            max_light_imbalance: 0.50,
            min_sharpness: 0.08,
            min_clothing_contrast: 20.0,
            max_undecided_share: 0.08,
            max_border_deviation: 12.0,
            other_face_share: 0.4,
        }
    }
}

/// What an upload may cost before it is decoded.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct InputLimits {
    pub max_bytes: usize,
    pub max_pixels: u64,
    /// The most memory its pixels may take as the decoder gives them (16-bit channels and
    /// alpha take more than 8-bit RGB): a 50-megapixel phone photo takes 150 MB, a 7000 × 7000
    /// 16-bit PNG 294 MB.
    pub max_decoded_bytes: u64,
}

impl InputLimits {
    pub const DEFAULT: Self = Self {
        max_bytes: 20 * 1024 * 1024,
        max_pixels: 50_000_000,
        max_decoded_bytes: 160 * 1024 * 1024,
    };
}

impl Default for InputLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
