//! Who may be photographed.
//!
//! Schools collect for some education categories ([`schools`]) in batches with a feature code,
//! a price and a policy ([`batches`]). Each school uploads its roster ([`roster`], read by
//! [`roster_file`]). Students prove they are on it in one of three ways ([`verify`]): with a
//! signed collection code ([`codes`], printed and read back as a QR picture by [`qr`], a
//! roster's codes handed out as pictures and an index by [`code_sheets`]) plus the last four of
//! their ID number, or with their student number. A proof that holds records the
//! capture's first event; one that fails is logged, and repeated wrong guesses lock
//! ([`attempts`]). Staff name a batch or a whole school as a [`cohort`]. Every refusal has a
//! stable code ([`error`]).
//!
//! Everything that depends on the time takes it as an argument.

pub mod attempts;
pub mod batches;
pub mod code_sheets;
pub mod codes;
pub mod cohort;
pub mod error;
pub mod qr;
pub mod roster;
pub mod roster_file;
pub mod schools;
pub mod verify;

pub use error::EligibilityError;
pub use verify::{CodeInput, Proof, Verified, Verifier, VerifyRequest};
