//! The REST API over real HTTP, on SQLite and PostgreSQL: signing in, the one error shape,
//! the student, reviewer, print-staff and admin flows, idempotent retries and who may call what.
//!
//! One test binary, one module per route group: each binary links the whole service, so one
//! link serves them all. Each test runs twice, as `<group>::sqlite::<name>` and
//! `<group>::postgres::<name>`.

#[path = "../api_support/mod.rs"]
mod api_support;
#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod access;
mod admin;
mod auth;
mod browser;
mod captures;
mod chaos;
mod console;
mod contract;
mod deliveries;
mod demo;
mod erasure;
mod errors;
mod floods;
mod idempotency;
mod payments;
mod photos;
mod print_console;
mod prints;
mod progress;
mod refunds;
mod review;
mod same_photos;
mod schools_console;
