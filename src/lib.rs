//! # photo-ledger
//!
//! The back office of the graduation and exam photo mini-programs: a ledger of every capture's
//! events, the projections that serve the screens, and the HTTP service and CLI around them.
//!
//! The crates beside this one: `photo-ledger-domain` (the capture's rules, pure),
//! `photo-ledger-store` (the database, its migrations and the log reader),
//! `photo-ledger-projections` (the views and the projector) and `photo-ledger-photo` (photo
//! standardisation). This crate is the service, one folder per concern:
//!
//! - [`ledger`]: executes capture commands on the event log (cqrs-es over postgres-es/sqlite-es).
//! - [`captures`]: acting on a capture (access, command, views, status), for every caller.
//! - [`eligibility`]: schools, batches, rosters, collection codes and proving who may be
//!   photographed.
//! - [`payments`]: orders, WeChat Pay (prepay, notifications, the order query, refunds).
//! - [`photos`]: storing, standardising and serving a capture's photos.
//! - [`progress`]: how far a batch's students have got, for the staff who chase them.
//! - [`printing`]: print staff's runs (sheets and packing list as one PDF), shipping by hand or
//!   by a carrier's CSV, address labels.
//! - [`delivery`]: the 学信网 delivery package (the approved photos named by ID number, their
//!   manifest) and the record of who took it.
//! - [`accounts`]: staff accounts, WeChat sign-in and students' address books.
//! - [`configuration`]: every setting, from a file, `PHOTO_LEDGER__…` variables and flags.
//! - [`startup`]: builds the running service; [`http`]: the REST API under `/api/v1`;
//!   [`cli`]: the `photo-ledger` subcommands; [`telemetry`]: logs and metrics;
//!   [`work_pool`]: a few threads of their own for heavy work anyone can ask for;
//!   [`china_time`]: the clock people read; [`csv_text`]: the text of a CSV staff upload.

pub mod accounts;
pub mod audit;
pub mod captures;
pub mod china_time;
pub mod cli;
pub mod configuration;
pub mod consent;
pub mod csv_text;
pub mod delivery;
pub mod eligibility;
pub mod erasure;
pub mod guessing;
pub mod http;
pub mod ledger;
pub mod memory_budget;
pub mod payments;
pub mod photos;
pub mod printing;
pub mod progress;
pub mod startup;
pub mod telemetry;
pub mod work_pool;
