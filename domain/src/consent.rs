//! The student's consent to the privacy policy, recorded with the capture before any identity
//! is shown (PIPL Art. 13–14), with the separate consent to processing face images that Art. 29
//! requires of sensitive personal information.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How the consent was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentChannel {
    /// Ticked by the student in the mini-program.
    MiniProgram,
    /// Given by the student to staff (on paper, at a collection desk), recorded by them.
    RecordedByStaff,
}

/// Consent to one version of a policy text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Which policy (`privacy`).
    pub policy: String,
    /// Its version, as the service publishes it.
    pub version: String,
    /// SHA-256 of the exact text consented to, hex.
    pub sha256: String,
    /// The separate consent to processing face images.
    pub face_images: bool,
    pub given_at: DateTime<Utc>,
    pub channel: ConsentChannel,
}
