//! esr: a trace-replay engine.
//!
//! The pipeline's stages are the modules below, in the order data flows through them:
//! [`ingest`] turns exported request logs into the canonical [`trace`], [`scrub`] removes the
//! personal data in it, [`stub`] stands in for the services a replay talks to, [`replay`]
//! re-issues the traffic on an open-model schedule, [`tap`] records one row per request and
//! [`scorecard`] turns a run into a verdict; [`merge`] combines the runs of shard workers.
//!
//! Stages speak through a few shared types: [`trace::TraceRecord`] (one request of a trace),
//! [`outcome::Outcome`] (what happened to one replayed request) and [`sensitive::Sensitive`]
//! (a value that must never be printed).

pub mod compare;
pub mod console;
pub mod diff;
#[doc(hidden)]
pub mod fuzzing;
pub mod ingest;
pub mod merge;
pub mod outcome;
pub mod replay;
pub mod scenario;
pub mod scorecard;
pub mod scrub;
pub mod sensitive;
pub mod serve;
pub mod store;
pub mod stub;
pub mod tap;
pub mod trace;

#[cfg(test)]
mod testing;
