//! # photo-ledger-store
//!
//! Where the ledger lives: one [`Db`] handle for either store (PostgreSQL in production, an
//! embedded SQLite file by default), every migration of the schema (events, views, eligibility,
//! accounts, idempotency keys, payments), and the reader of the capture log in its one global
//! order ([`log`]) with the hash chains that make it tamper-evident ([`chain`]).
//!
//! Most SQL in the service is written once with `$N` placeholders, which both drivers accept,
//! and run through [`on_db!`], which expands the same code for each pool type.
//!
//! On PostgreSQL the global order is `(txid, position)` read only below the commit horizon (see
//! `migrations/postgres/0001_event_log.sql`); on SQLite it is the rowid.

pub mod chain;
pub mod db;
pub mod error;
pub mod log;
pub mod personal;
pub mod seal_existing;

pub use db::Db;
pub use error::StoreError;
pub use log::{Decoder, LoggedEvent, Position};
