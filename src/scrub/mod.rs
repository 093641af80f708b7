//! Scrub: detects personal data and replaces it with keyed pseudonyms.
//!
//! Takes trace records (during ingest, or from an existing trace for `esr scrub`) and gives
//! them back with every detected identifier replaced by a keyed, shape-preserving pseudonym,
//! following a policy, plus a report of counts. `check` audits a written trace.
//!
//! Must never: print, log or report a raw value (only counts, column names, row numbers and
//! masked excerpts); offer unkeyed hashing; write the key anywhere but `esr keygen`'s file.

mod automaton;
pub mod detect;
pub mod key;
mod memo;
pub mod pseudonym;

pub use detect::{
    Detector, DetectorSet, Hit, RESPONSE_SCAN_LIMIT, is_pseudonym, scan, scan_response,
};
pub use key::{KeyError, ScrubKey};
pub use pseudonym::Pseudonymizer;
pub mod policy;
pub mod report;
mod rewrite;
mod ruled;
mod scrubber;

pub use policy::{Action, DEFAULT_POLICY, Policy, PolicyError};
pub use report::ScrubReport;
pub use scrubber::Scrubber;
pub mod check;
