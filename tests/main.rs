//! esr's one integration-test binary. Each module below drives the real `esr` binary or the
//! library end to end; servers bind `127.0.0.1:0`.
//!
//! - `cli`: the command-line contract (help, exit codes).
//! - `diff`: `esr diff` of runs against stubs that differ in known ways (unchanged, regressed,
//!   reproducible bootstrap, different traces) and `esr compare` (field diff, noise, PII).
//! - `drills`: failure drills: the target dies, the target hangs, the disk fills, SIGTERM.
//! - `golden`: ingest and scrub output digests, recorded before the speed work, still match.
//! - `lanes`: scrubbing on several transform threads (library and `--scrub-threads`) gives the
//!   one-thread trace and report.
//! - `ingest`: every input format, error paths, merge, spill sort, quarantine, inspect, demo.
//! - `serve`: `esr serve` routes and errors through `Router::oneshot`, background runs (queue,
//!   cancel, archive/restore), the bearer token, a real socket, `esr runs`, the seed walkthrough.
//! - `stub`: sandbox stubs: latency models, faults on the replay clock, reset/hang, hosts,
//!   routes from a trace, metrics, `esr stub`.
//! - `scorecard`: the metrics tap (Parquet rows, HDR histograms) and `esr scorecard`.
//! - `merge`: three shard replays merged equal one unsharded replay; refusals, partial merges.
//! - `replay`: `esr replay` against a recording server on port 0 (arrival, scorecard, exit
//!   codes, sandbox guard, interrupted runs, shards, loop and host map, live metrics, rate
//!   cap, stub phases).
//! - `runfolders`: a FAILED run is named failed by scorecard, diff, runs and the API; runs
//!   `esr replay --data` wrote are listed by `esr runs` and the API (origin `cli`).
//! - `scenario`: the seed accepted verbatim, validation errors naming their field, deterministic
//!   and streaming generation, the synthetic card caught by check, `esr scenario run` with a
//!   fault read back from scorecard.json, trace-based scenarios.
//! - `scrub`: detector evaluation, ingest -> check, leak proof, reversal self-test, key linkage,
//!   no raw value in any output of any command.

mod cli;
mod diff;
mod drills;
mod golden;
mod ingest;
mod lanes;
mod merge;
mod replay;
mod runfolders;
mod scenario;
mod scorecard;
mod scrub;
mod serve;
mod stub;
mod util;
