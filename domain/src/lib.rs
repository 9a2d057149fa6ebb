//! # photo-ledger-domain
//!
//! The rules of one student's *capture*: the record of getting one education record's photo
//! collected, from proving eligibility to delivery to 学信网 and mailed prints.
//!
//! A capture is an event-sourced aggregate ([`Capture`]). Every decision lives in
//! [`Capture::handle`](cqrs_es::Aggregate::handle): it either refuses a command with a typed
//! [`CaptureError`] (stable code + short Chinese message for the mini-program) or records
//! past-tense facts ([`CaptureEvent`]). `apply` never fails, so replaying the log always
//! reproduces the same state. The status a student sees ([`CaptureStatus`]) is derived from
//! that state, never stored.
//!
//! This crate has no database, HTTP or filesystem dependencies; time is passed in with the
//! commands that need it so every rule can be tested with given/when/then.

pub mod aggregate;
pub mod checks;
pub mod commands;
pub mod consent;
pub mod erasure;
pub mod error;
pub mod events;
pub mod feature_code;
pub mod id_number;
pub mod identity;
pub mod last_four;
pub mod metadata;
pub mod orders;
pub mod policy;
pub mod reasons;
pub mod refunds;
pub mod status;
pub mod text;
pub mod tracking_no;
pub mod upcasters;
pub mod values;

pub use aggregate::Capture;
pub use commands::CaptureCommand;
pub use error::CaptureError;
pub use events::CaptureEvent;
pub use status::CaptureStatus;
