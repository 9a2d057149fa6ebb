//! The outcome of one automatic check on a standardised photo, as recorded in the ledger.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Stable code, e.g. `photo.too_dark`.
    pub code: String,
    /// What was measured.
    pub value: f64,
    /// The limit the value was compared with.
    pub limit: f64,
    pub passed: bool,
    /// A failed blocking check prevents submission; an advisory one only warns.
    pub blocking: bool,
}

impl CheckResult {
    pub fn blocks_submission(&self) -> bool {
        self.blocking && !self.passed
    }
}

impl Eq for CheckResult {}
