//! # photo-ledger
//!
//! The back office of the graduation and exam photo mini-programs: a ledger of every capture's
//! events, the projections that serve the screens, and the HTTP service and CLI around them.
//!
//! - [`eligibility`]: schools, batches, rosters, collection codes and proving who may be
//!   photographed.
//! - [`ledger`]: executes capture commands on the event log (cqrs-es over postgres-es/sqlite-es).
//! - [`photo`]: turns a phone photo into the standard 学信网 photo, with its checks and prints.
//! - [`startup`]: builds the running service from [`settings`].
//! - [`http`]: the REST API under `/api/v1`, with [`staff`] accounts and [`wechat`] sign-in.
//! - [`cli`]: the `photo-ledger` subcommands.

pub mod addresses;
pub mod batches;
pub mod cli;
pub mod eligibility;
pub mod http;
pub mod ledger;
pub mod payment_orders;
pub mod photo;
pub mod settings;
pub mod staff;
pub mod startup;
pub mod status_reads;
pub mod telemetry;
pub mod unpaid_orders;
pub mod uploads;
pub mod wechat;
pub mod wechat_pay;
