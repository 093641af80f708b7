//! esr's one integration-test binary. Each module below drives the real `esr` binary or the
//! library end to end; servers bind `127.0.0.1:0`.
//!
//! - `cli`: the command-line contract (help, exit codes, commands not built yet).
//! - `ingest`: every input format, error paths, merge, spill sort, quarantine, inspect, demo.
//! - `scrub`: detector evaluation, ingest -> check, leak proof, reversal self-test, key linkage,
//!   no raw value in any output of any command.

mod cli;
mod ingest;
mod scrub;
mod util;
