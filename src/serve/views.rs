//! What the API answers, in camelCase as DESIGN.md shows (`runId`, `state`).

use serde::Serialize;

use crate::store::{RunOrigin, RunRow, RunState, ScenarioRow, Summary};

/// A stored scenario in `GET /api/esr/scenarios` and `.../{id}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioView {
    pub id: String,
    pub name: String,
    /// Always `READY`: only valid scenarios are stored.
    pub status: &'static str,
    pub created_at: String,
    /// The scenario itself (only for a single scenario).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<serde_json::Value>,
}

impl ScenarioView {
    /// The view of a row, with the scenario's body when `full`.
    pub fn of(row: &ScenarioRow, full: bool) -> ScenarioView {
        ScenarioView {
            id: row.id.clone(),
            name: row.name.clone(),
            status: "READY",
            created_at: row.created_at.clone(),
            scenario: full.then(|| serde_json::from_str(&row.body).ok()).flatten(),
        }
    }
}

/// How far a run has come.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub sent: u64,
    pub completed: u64,
    pub errors: u64,
    /// Requests the schedule plans (`null` until the run has started sending).
    pub intended: Option<u64>,
    /// `completed / intended`, 0 to 1.
    pub fraction: f64,
    /// Requests sent per second so far (running runs only).
    pub rate_per_s: Option<f64>,
    /// Schedule lateness p99 so far (running runs only).
    pub lateness_p99_ms: Option<f64>,
}

impl Progress {
    /// Live counters of a running run.
    pub fn live(s: &crate::tap::LiveSnapshot, intended: Option<u64>) -> Progress {
        Progress {
            sent: s.sent,
            completed: s.completed,
            errors: s.errors,
            intended,
            fraction: fraction(s.completed, intended),
            rate_per_s: Some(round3(s.rate)),
            lateness_p99_ms: Some(round3(s.lateness_p99_ms)),
        }
    }

    /// The final counts of a run that wrote a scorecard.
    pub fn of_summary(s: &Summary, state: RunState) -> Progress {
        Progress {
            sent: s.requests,
            completed: s.completed,
            errors: s.errors,
            intended: Some(s.intended),
            fraction: if state == RunState::Done && !s.interrupted {
                1.0
            } else {
                fraction(s.completed, Some(s.intended))
            },
            rate_per_s: None,
            lateness_p99_ms: None,
        }
    }
}

fn fraction(done: u64, of: Option<u64>) -> f64 {
    match of {
        Some(n) if n > 0 => round3((done as f64 / n as f64).min(1.0)),
        _ => 0.0,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A run in `GET /api/esr/runs` and `.../{id}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    pub run_id: String,
    pub scenario_id: String,
    pub state: RunState,
    /// The folder is packed into `archive/`: `POST .../restore` brings it back.
    pub archived: bool,
    pub speed: Option<f64>,
    pub progress: Progress,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Why the run failed or was cancelled early.
    pub error: Option<String>,
    /// The scorecard's key figures, once it has one.
    pub summary: Option<Summary>,
    /// `api` (run through this API) or `cli` (written by `esr replay --data` into the same
    /// data folder, read from its folder).
    pub origin: RunOrigin,
}

impl RunView {
    /// The view of a stored run; `live` is its progress when it is running on this server.
    pub fn of(row: RunRow, live: Option<(crate::tap::LiveSnapshot, Option<u64>, f64)>) -> RunView {
        let progress = match (&live, &row.summary) {
            (Some((s, intended, _)), _) => Progress::live(s, *intended),
            (None, Some(sum)) => Progress::of_summary(sum, row.state),
            (None, None) => Progress::default(),
        };
        RunView {
            run_id: row.id,
            scenario_id: row.scenario_id,
            state: row.state,
            archived: row.archived,
            speed: row.speed,
            progress,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            error: row.error,
            summary: row.summary,
            origin: row.origin,
        }
    }
}

/// `POST .../run` → 202.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunCreated {
    pub run_id: String,
    pub state: RunState,
}
