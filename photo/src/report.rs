//! What the standardiser tells the service and the student about one photo, as JSON.

use std::time::Instant;

use photo_ledger_domain::values::Background;
use serde::Serialize;

use super::checks::Check;
use super::measure::Positions;
use super::models::ModelVersion;
use super::phash::PerceptualHash;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every blocking check passed: the photo can be submitted.
    Accepted,
    /// A standard photo was made, but a blocking check failed: the student should retake it.
    Retake,
    /// No standard photo could be made from this picture.
    Refused,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub verdict: Verdict,
    pub background: Background,
    /// The uploaded picture, upright.
    pub input: Size,
    /// Measured on the finished photo; absent when refused.
    pub positions: Option<Positions>,
    pub checks: Vec<Check>,
    pub output: Option<OutputFile>,
    /// Of the finished photo, to spot one photo reused by several students.
    pub perceptual_hash: Option<PerceptualHash>,
    pub models: Vec<ModelVersion>,
    pub timings_ms: Vec<StageTime>,
}

impl Report {
    pub fn check(&self, code: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.code() == code)
    }

    /// The checks that failed, blocking or not.
    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.result.passed)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct OutputFile {
    pub width: u32,
    pub height: u32,
    pub bytes: usize,
    pub jpeg_quality: u8,
    pub dpi: u16,
}

#[derive(Clone, Debug, Serialize)]
pub struct StageTime {
    pub stage: &'static str,
    pub ms: f64,
}

/// Times consecutive stages.
pub struct Stopwatch {
    last: Instant,
    stages: Vec<StageTime>,
}

impl Stopwatch {
    pub fn start() -> Self {
        Self {
            last: Instant::now(),
            stages: Vec::new(),
        }
    }

    pub fn lap(&mut self, stage: &'static str) {
        let now = Instant::now();
        let ms = (now - self.last).as_secs_f64() * 1000.0;
        self.stages.push(StageTime {
            stage,
            ms: (ms * 100.0).round() / 100.0,
        });
        self.last = now;
    }

    pub fn stages(&self) -> Vec<StageTime> {
        self.stages.clone()
    }
}
