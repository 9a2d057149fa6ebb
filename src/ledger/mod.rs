//! The ledger: executes capture commands against the event log and tells the caller where in
//! the global order its events landed.
//!
//! The capture is a cqrs-es [`Aggregate`](cqrs_es::Aggregate) and its events live in the tables
//! of postgres-es and sqlite-es, which read histories for auditors. Commands go through
//! [`journal::Journal`]: one statement to load a capture with its snapshot and the command id's
//! first outcome, one to append events, outcome and snapshot atomically (on PostgreSQL, grouped
//! with other captures' appends by [`group_commit`]). The crates' own persist
//! path takes a round trip per event and commits snapshots separately, and their query dispatch
//! runs after commit with errors swallowed; views are maintained by the checkpointed projector
//! instead, so a crash can never lose an event for a view.

pub mod coalesce;
pub mod error;
pub mod executor;
pub mod group_commit;
pub mod journal;

pub use error::LedgerError;
pub use executor::{CommandOutcome, CommandRequest, Ledger, LedgerConfig};
