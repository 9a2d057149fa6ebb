//! The ledger: executes capture commands against the event log and tells the caller where in
//! the global order its events landed.
//!
//! cqrs-es loads and commits through [`repository::SnapshotRepository`] over postgres-es or
//! sqlite-es. The framework's own query dispatch is not used: views are maintained by the
//! checkpointed projector instead, so a crash can never lose an event for a view.

pub mod error;
pub mod executor;
pub mod repository;

pub use error::LedgerError;
pub use executor::{CommandOutcome, CommandRequest, Ledger, LedgerConfig};
