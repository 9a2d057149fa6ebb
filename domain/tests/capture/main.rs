//! Given/when/then for every capture command: each accepted case and each refusal, by code.

mod fixtures;

mod delivery;
mod erasure;
mod orders;
mod payment;
mod photos;
mod refunds;
mod review;
mod status;
mod upcaster;
mod verification;
