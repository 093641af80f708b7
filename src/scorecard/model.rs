//! The scorecard as stored in `scorecard.json`: every field of DESIGN.md "Scorecard".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::scenario::ScenarioCard;
use super::threshold::ThresholdResult;
use crate::tap::SeriesPoint;

/// Version of the `scorecard.json` layout.
pub const SCORECARD_SCHEMA: u32 = 1;

/// Percentiles of one measure, in milliseconds (HDR: 3 significant digits).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// The stub's own overhead (time spent beyond the injected latency), from `GET /__esr/stats`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OverheadSummary {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// The same figures as the run's, for one endpoint (`METHOD template`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointCard {
    pub endpoint: String,
    pub requests: u64,
    pub completed: u64,
    pub error_count: u64,
    pub errors: BTreeMap<String, u64>,
    pub success_rate: f64,
    pub latency_ms: Percentiles,
    pub service_ms: Percentiles,
    pub lateness_ms: Percentiles,
    pub late_starts: u64,
    pub status_counts: BTreeMap<String, u64>,
}

/// One phase around a fault window. Percentiles come from the per-second series (±6 %).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseStats {
    /// Start of the phase, seconds on the run clock.
    pub start_s: f64,
    /// End of the phase (exclusive).
    pub end_s: f64,
    pub requests: u64,
    pub errors: u64,
    pub success_rate: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
}

/// Before / during / after one fault window, with the time to recover.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPhases {
    /// The fault's name (e.g. `ACH_DOWN`).
    pub window: String,
    pub start_s: f64,
    pub end_s: f64,
    pub before: PhaseStats,
    pub during: PhaseStats,
    pub after: PhaseStats,
    /// Seconds from the window's end until the per-second success rate is back within one
    /// percentage point of the before phase; `None` when it never came back in the run.
    pub time_to_recover_s: Option<f64>,
}

/// One bar of the latency histogram chart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HistogramBar {
    /// Lower edge (ms, inclusive).
    pub from_ms: f64,
    /// Upper edge (ms, exclusive).
    pub to_ms: f64,
    pub count: u64,
}

/// A run's scorecard. `latency_ms` is measured from the due time (corrected for coordinated
/// omission); `service_ms` from the actual send (uncorrected), side by side.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    /// Layout version ([`SCORECARD_SCHEMA`]).
    pub schema: u32,
    pub run_id: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub target: String,
    pub speed: Option<f64>,
    pub rate: Option<f64>,
    /// Requests sent and recorded.
    pub requests: u64,
    /// Requests that got an HTTP response (any status).
    pub completed: u64,
    /// Requests that did not succeed (transport error or status >= 400).
    pub error_count: u64,
    /// Failures by kind: transport kinds (`connect`, `timeout`, ...) and `http_4xx`,
    /// `http_5xx`.
    pub errors: BTreeMap<String, u64>,
    /// `error_count` as % of `requests`.
    pub error_rate: f64,
    /// Successful requests (status < 400) as % of `requests`.
    pub success_rate: f64,
    /// The seed's flat field, for a scenario with a `PAY` step: % of the actors who reached
    /// the payment step whose PAY succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_success: Option<f64>,
    /// Latency from the due time (corrected).
    pub latency_ms: Percentiles,
    /// The seed's flat field: `latency_ms.p95`.
    pub latency_p95_ms: f64,
    /// Latency from the actual send (uncorrected service time).
    pub service_ms: Percentiles,
    /// Schedule lateness (send − due).
    pub lateness_ms: Percentiles,
    /// Requests sent more than 10 ms after their due time.
    pub late_starts: u64,
    /// Requests the schedule planned.
    pub intended_requests: u64,
    /// The schedule's span (s).
    pub intended_duration_s: f64,
    /// Planned requests per second.
    pub intended_rate: f64,
    /// Requests actually sent per second (first to last send).
    pub achieved_rate: f64,
    /// Seconds from the run's start to the last completion.
    pub duration_s: f64,
    /// Responses by status (`"0"` = transport error).
    pub status_counts: BTreeMap<String, u64>,
    pub endpoints: Vec<EndpointCard>,
    pub phases: Vec<FaultPhases>,
    /// A scenario run's per-action figures and funnel check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ScenarioCard>,
    /// Residual PII in the trace plus PII seen in the target's responses.
    pub compliance_hits: u64,
    /// ESQ rules broken, each named (`[]` when clean). Older scorecards stored a count here;
    /// they still read (0 as `[]`).
    #[serde(default, deserialize_with = "esq_list")]
    pub esq_rule_violations: Vec<EsqViolation>,
    pub stub_overhead_ms: Option<OverheadSummary>,
    /// Requests that waited for a `--concurrency` slot.
    pub queued: u64,
    /// Requests that waited for the `--max-rps` governor.
    pub throttled: u64,
    /// Ctrl-C or `--duration` cut the run short.
    pub interrupted: bool,
    pub thresholds: Vec<ThresholdResult>,
    /// `PASS` or `FAIL`.
    pub verdict: String,
    /// "Ready for production!" or what failed.
    pub notes: String,
    /// Per-second buckets for the charts (by due time).
    pub series: Vec<SeriesPoint>,
    /// Latency-from-due histogram for the chart.
    pub latency_histogram: Vec<HistogramBar>,
}

/// One ESQ rule a run broke, and how often.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EsqViolation {
    /// The rule's name.
    pub rule: String,
    pub count: u64,
}

/// Merges violations by rule (summing counts), sorted by rule.
pub fn merge_violations<'a>(all: impl IntoIterator<Item = &'a EsqViolation>) -> Vec<EsqViolation> {
    let mut m: BTreeMap<&str, u64> = BTreeMap::new();
    for v in all {
        *m.entry(v.rule.as_str()).or_default() += v.count;
    }
    m.into_iter()
        .map(|(rule, count)| EsqViolation {
            rule: rule.to_string(),
            count,
        })
        .collect()
}

/// Reads `esq_rule_violations` as a list, or as the count older scorecards stored (0 → `[]`,
/// n → one entry of an unnamed rule).
fn esq_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<EsqViolation>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Count(u64),
        List(Vec<EsqViolation>),
    }
    Ok(match Either::deserialize(d)? {
        Either::Count(0) => Vec::new(),
        Either::Count(n) => vec![EsqViolation {
            rule: "unnamed (from an older scorecard)".into(),
            count: n,
        }],
        Either::List(v) => v,
    })
}
