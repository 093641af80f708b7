//! Replay: re-issues a trace's requests against a sandbox on an open-model schedule.
//!
//! Takes a canonical trace and a target; gives one [`crate::outcome::Outcome`] per request
//! to the metrics tap, and a run folder (`run.json`, the tap's files, the scorecard).
//! Original, scaled and fixed-rate timing are values of one [`Schedule`] feeding one
//! dispatch loop, which sends each request when it is due whether or not earlier ones have
//! answered (latency is measured from the due time, free of coordinated omission).
//!
//! It must never send a request to a host that is not loopback or allow-listed (the
//! [`SandboxGuard`] runs before the first request), and never log a field value of the trace.

mod client;
mod dispatcher;
mod engine;
mod feed;
mod guard;
mod lanes;
mod progress;
pub mod run;
mod schedule;
mod stubinfo;
mod timer;
mod wire;

pub use client::{HttpClient, Reply, Resolved, Targets, Transport};
pub use dispatcher::{DispatchConfig, DispatchReport, Dispatcher, Job};
pub use engine::{ReplayOptions, ReplayResult, RunWatch, replay};
pub use feed::{Scan, feed, scan};
pub use guard::SandboxGuard;
pub use lanes::{LANE_RATE, lanes_for, run_lanes, run_on_own_thread};
pub use progress::spawn as spawn_progress;
pub use schedule::{
    Planned, RowKey, Schedule, ScheduleOptions, Shard, Timing, TraceSpan, parse_start_at,
    session_hash,
};
pub use stubinfo::{StubFault, StubInfo};
pub use wire::{Links, WireClient, WireRequest};

/// Errors of a replay that stop it before or while it runs (per-request failures are
/// [`crate::outcome::ErrorKind`] values, not errors).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Bad options.
    #[error("{0}")]
    Usage(String),
    /// The sandbox guard refused a host.
    #[error(
        "refusing to replay against `{host}`: not a loopback address; if it is a sandbox, allow it with `--allow-host {host}`"
    )]
    Refused {
        /// The refused host.
        host: String,
    },
    /// The trace could not be read (the message names the file and row). Kept as text: the
    /// trace error already prints its cause, and a source chain would print it twice.
    #[error("{0}")]
    Trace(String),
    /// A file of the run folder could not be written.
    #[error("{0}")]
    Io(String),
}

impl From<crate::trace::TraceError> for ReplayError {
    fn from(e: crate::trace::TraceError) -> Self {
        ReplayError::Trace(e.to_string())
    }
}
