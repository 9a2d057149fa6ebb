//! Audit that proves itself: the log's hash chains ([`photo_ledger_store::chain`]) tied together
//! by signed seals ([`seal`]), and the check that recomputes both ([`verify`]).
//!
//! An auditor keeps the latest seal (`photo-ledger audit digest`) outside our systems; a later
//! `photo-ledger audit verify --digest FILE` shows whether the log still holds exactly what was
//! sealed, and where it does not. See `docs/audit.md`.

pub mod export;
pub mod key;
pub mod point_in_time;
pub mod seal;
pub mod verify;

pub use key::{AuditKey, AuditSettings};
pub use seal::{Seal, Sealer};
pub use verify::{Finding, Report};

/// What can stop a seal or a verification from being made (a log that does not verify is a
/// [`Report`] with findings, not an error).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit log cannot be read or written")]
    Store(#[from] photo_ledger_store::StoreError),
    #[error("cannot write or read the export at {}", .0.display())]
    Export(std::path::PathBuf, #[source] std::io::Error),
    #[error("the export cannot be read: {0}")]
    UnreadableExport(String),
    #[error("the log does not match seal {0}: run `photo-ledger audit verify` to see where")]
    LogDoesNotMatchSeal(i64),
}

impl From<sqlx::Error> for AuditError {
    fn from(e: sqlx::Error) -> Self {
        AuditError::Store(e.into())
    }
}
