//! esr's one integration-test binary. Each module below drives the real `esr` binary or the
//! library end to end; servers bind `127.0.0.1:0`.
//!
//! - `cli`: the command-line contract (help, exit codes, commands not built yet).
//! - `ingest`: every input format, error paths, merge, spill sort, quarantine, inspect, demo.
//! - `stub`: sandbox stubs: latency models, faults on the replay clock, reset/hang, hosts, routes from a trace, metrics, `esr stub`.

mod cli;
mod ingest;
mod stub;
mod util;
