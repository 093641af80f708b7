//! Stub: sandbox stand-ins for the services a replay talks to.
//!
//! Takes a [`StubConfig`] (TOML/JSON routes, the `hms` preset, or routes built from a trace)
//! and serves it over HTTP: each route answers with its status, headers and body after a
//! latency drawn from its model, and fault windows on the replay clock turn a route into a
//! fixed status, a reset connection or a hang. Gives a [`StubHandle`] (address, live faults,
//! metrics, shutdown) and the `/__esr/` admin routes the replayer reads.
//!
//! It must never write to disk, never listen beyond loopback unless told to, and never block a
//! request while another one sleeps its injected latency.

mod compile;
mod config;
mod fault;
mod from_trace;
mod latency;
mod metrics;
mod pattern;
mod preset;
mod server;

pub use compile::Route;
pub(crate) use config::toml_problem as config_toml_problem;
pub use config::{
    ConfigError, FaultConfig, FaultKind, LatencyConfig, RouteConfig, StatusWeight, StubConfig,
    format_duration, parse_duration,
};
pub use fault::{
    ActiveFault, Clock, FaultBoard, ManualClock, SystemClock, parse_fault_spec, parse_start_at,
};
pub use from_trace::{FALLBACK_LATENCY_MS, FromTrace, from_trace};
pub use latency::{LatencyModel, Z99, sleep_until};
pub use metrics::Metrics;
pub use pattern::{PathPattern, host_matches};
pub use preset::{PRESETS, hms, preset};
pub use server::{INJECTED_HEADER, StubHandle, StubOptions, StubServer};

use std::net::SocketAddr;

/// Why a stub could not start.
#[derive(Debug, thiserror::Error)]
pub enum StubError {
    /// The config is wrong; the message names file, field and problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A non-loopback address without `--allow-remote`.
    #[error(
        "refusing to listen on `{0}`: not a loopback address, and a stub answers anyone who \
         can reach it; listen on 127.0.0.1, or pass --allow-remote if you mean it"
    )]
    NotLoopback(SocketAddr),
    /// The address could not be bound.
    #[error("cannot listen on `{addr}`: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A bad option.
    #[error("{0}")]
    Usage(String),
    /// The trace for `--from-trace` could not be read.
    #[error(transparent)]
    Trace(#[from] crate::trace::TraceError),
}
