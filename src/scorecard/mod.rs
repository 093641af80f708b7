//! Scorecards: takes a finished tap's [`TapSummary`] and the run's [`RunContext`], gives a
//! [`Scorecard`] (`scorecard.json`), a text rendering for the terminal and a self-contained
//! `report.html` with inline SVG charts, and judges the `--threshold`s.
//!
//! It must never reach the network (the HTML loads nothing from outside) and never print a
//! request's data: only counts, times, statuses and endpoint templates.

mod build;
mod charts;
mod html;
mod model;
mod scenario;
mod text;
mod threshold;

pub use build::{READY, build, fault_phases, histogram_bars, judge, percentiles};
/// Inline SVG charts and HTML escaping, shared with `esr diff`'s report.
pub use charts::{Line, bar_chart, line_chart};
pub use html::escape;
pub use model::{
    EndpointCard, EsqViolation, FaultPhases, HistogramBar, OverheadSummary, Percentiles,
    PhaseStats, SCORECARD_SCHEMA, Scorecard, merge_violations,
};
pub use scenario::{
    ActionCard, FUNNEL_Z, FunnelBranch, FunnelCheck, PAYMENT_ACTION, ScenarioCard, ScenarioFault,
    attach as attach_scenario, binomial_z,
};
pub use text::truncate;
pub use threshold::{Metric, Op, Threshold, ThresholdError, ThresholdResult, fmt_num};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[cfg(doc)]
use crate::tap::TapSummary;

/// Name of the scorecard file in a run folder.
pub const SCORECARD_FILE: &str = "scorecard.json";
/// Name of the HTML report in a run folder.
pub const REPORT_FILE: &str = "report.html";

/// What the replay knows about a run beyond its outcomes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunContext {
    /// `RUN-0001`.
    pub run_id: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub target: String,
    pub speed: Option<f64>,
    pub rate: Option<f64>,
    /// What the schedule planned to send.
    pub intended_requests: u64,
    /// The schedule's span on the replay clock (s).
    pub intended_duration_s: f64,
    /// Ctrl-C or `--duration` cut the run.
    pub interrupted: bool,
    /// Run-relative fault windows, from the stub's `GET /__esr/faults`.
    pub fault_windows: Vec<FaultWindow>,
    /// Residual PII in the trace (`esr check`) plus PII seen in responses.
    pub compliance_hits: u64,
    /// ESQ rules broken, each named.
    pub esq_rule_violations: Vec<EsqViolation>,
    /// From the stub's `GET /__esr/stats`.
    pub stub_overhead_ms: Option<OverheadSummary>,
    pub queued: u64,
    pub throttled: u64,
}

impl RunContext {
    /// The context a stored scorecard was built with (to rebuild it from `metrics.parquet`).
    pub fn of(card: &Scorecard) -> RunContext {
        RunContext {
            run_id: card.run_id.clone(),
            started_at: card.started_at.clone(),
            target: card.target.clone(),
            speed: card.speed,
            rate: card.rate,
            intended_requests: card.intended_requests,
            intended_duration_s: card.intended_duration_s,
            interrupted: card.interrupted,
            fault_windows: card
                .phases
                .iter()
                .map(|p| FaultWindow {
                    name: p.window.clone(),
                    start_us: (p.start_s * 1e6).round() as i64,
                    end_us: (p.end_s * 1e6).round() as i64,
                })
                .collect(),
            compliance_hits: card.compliance_hits,
            esq_rule_violations: card.esq_rule_violations.clone(),
            stub_overhead_ms: card.stub_overhead_ms.clone(),
            queued: card.queued,
            throttled: card.throttled,
        }
    }
}

/// A fault window on the run clock (µs since the run's start).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultWindow {
    pub name: String,
    pub start_us: i64,
    pub end_us: i64,
}

/// Errors of writing or reading scorecard files.
#[derive(Debug, thiserror::Error)]
pub enum ScorecardError {
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}` is not a valid esr scorecard: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

impl Scorecard {
    /// False when a threshold failed or there were compliance hits (the CLI then exits 1).
    pub fn passed(&self) -> bool {
        self.thresholds.iter().all(|t| t.passed) && self.compliance_hits == 0
    }

    /// The ESQ rule violations in a line: `none`, or `rule (count), ...`.
    pub fn esq_summary(&self) -> String {
        if self.esq_rule_violations.is_empty() {
            return "none".into();
        }
        self.esq_rule_violations
            .iter()
            .map(|v| format!("{} ({})", v.rule, v.count))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A readable text scorecard for the terminal.
    pub fn render_text(&self) -> String {
        text::render(self)
    }

    /// A self-contained HTML report with inline SVG charts; loads nothing from the network.
    pub fn render_html(&self) -> String {
        html::render(self)
    }

    /// Pretty JSON, as written to `scorecard.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a scorecard always serializes")
    }

    /// Reads `scorecard.json`.
    pub fn read(path: &Path) -> Result<Scorecard, ScorecardError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScorecardError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| ScorecardError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }
}

/// Writes `scorecard.json` and `report.html` into `run_dir` (each via a temp file and a
/// rename, so a reader never sees half a file).
pub fn write_run_files(run_dir: &Path, card: &Scorecard) -> Result<(), ScorecardError> {
    // Ends in a newline, as `esr scorecard --format json` prints it: the two are the same bytes.
    let json = card.to_json() + "\n";
    write_atomic(&run_dir.join(SCORECARD_FILE), json.as_bytes())?;
    write_atomic(&run_dir.join(REPORT_FILE), card.render_html().as_bytes())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ScorecardError> {
    let err = |source| ScorecardError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".esr-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(err)?;
    crate::tap::persist_readable(tmp, path).map_err(err)?;
    Ok(())
}
