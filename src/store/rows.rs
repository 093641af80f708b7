//! The store's rows as Rust values, and the scorecard summary a finished run keeps.

use std::path::PathBuf;

use rusqlite::{Connection, Row, params};
use serde::Serialize;

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunState {
    Queued,
    Started,
    Done,
    Failed,
    Cancelled,
}

impl RunState {
    /// `QUEUED`, `STARTED`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "QUEUED",
            RunState::Started => "STARTED",
            RunState::Done => "DONE",
            RunState::Failed => "FAILED",
            RunState::Cancelled => "CANCELLED",
        }
    }

    fn parse(s: &str) -> RunState {
        match s {
            "QUEUED" => RunState::Queued,
            "STARTED" => RunState::Started,
            "DONE" => RunState::Done,
            "CANCELLED" => RunState::Cancelled,
            _ => RunState::Failed,
        }
    }

    /// `DONE`, `FAILED` or `CANCELLED`: nothing will change it any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunState::Done | RunState::Failed | RunState::Cancelled
        )
    }
}

/// Who made a run: the API (`esr serve`, kept in SQLite) or a command in the same data
/// folder (`esr replay --data DIR`, read from its folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOrigin {
    Api,
    Cli,
}

impl RunOrigin {
    /// `api` or `cli`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOrigin::Api => "api",
            RunOrigin::Cli => "cli",
        }
    }
}

/// A stored scenario.
#[derive(Debug, Clone)]
pub struct ScenarioRow {
    /// `SCN-1`.
    pub id: String,
    pub name: String,
    /// The scenario as JSON (its `Serialize` form).
    pub body: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

impl ScenarioRow {
    pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<ScenarioRow> {
        Ok(ScenarioRow {
            id: format!("SCN-{}", r.get::<_, i64>(0)?),
            name: r.get(1)?,
            body: r.get(2)?,
            created_at: r.get(3)?,
        })
    }
}

/// A stored run.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// `RUN-0001` (its folder's name).
    pub id: String,
    pub scenario_id: String,
    pub state: RunState,
    /// The `{"speed"}` the run was started with.
    pub speed: Option<f64>,
    /// `DATA/runs/RUN-0001` (stored relative to the data folder).
    pub folder: PathBuf,
    /// µs since the epoch (retention counts from here).
    pub created_us: i64,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Why it failed (user-facing, no request data).
    pub error: Option<String>,
    /// Its folder is packed into `DATA/archive/`.
    pub archived: bool,
    /// The scorecard's key figures, when the run wrote one.
    pub summary: Option<Summary>,
    /// The API's run, or one a command wrote into the data folder.
    pub origin: RunOrigin,
}

impl RunRow {
    pub(super) const SELECT: &str = "SELECT r.id, r.scenario_id, r.state, r.speed, r.folder,
        r.created_us, r.created_at, r.started_at, r.finished_at, r.error, r.archived,
        s.requests, s.completed, s.errors, s.intended, s.success_rate, s.latency_p95_ms,
        s.payment_success, s.compliance_hits, s.verdict, s.notes, s.interrupted
        FROM runs r LEFT JOIN summaries s ON s.run_id = r.id";

    pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<RunRow> {
        let summary = match r.get::<_, Option<i64>>(11)? {
            None => None,
            Some(requests) => Some(Summary {
                requests: requests as u64,
                completed: r.get::<_, i64>(12)? as u64,
                errors: r.get::<_, i64>(13)? as u64,
                intended: r.get::<_, i64>(14)? as u64,
                success_rate: r.get(15)?,
                latency_p95_ms: r.get(16)?,
                payment_success: r.get(17)?,
                compliance_hits: r.get::<_, i64>(18)? as u64,
                verdict: r.get(19)?,
                notes: r.get(20)?,
                interrupted: r.get(21)?,
            }),
        };
        Ok(RunRow {
            id: r.get(0)?,
            scenario_id: r.get(1)?,
            state: RunState::parse(&r.get::<_, String>(2)?),
            speed: r.get(3)?,
            folder: PathBuf::from(r.get::<_, String>(4)?),
            created_us: r.get(5)?,
            created_at: r.get(6)?,
            started_at: r.get(7)?,
            finished_at: r.get(8)?,
            error: r.get(9)?,
            archived: r.get(10)?,
            summary,
            origin: RunOrigin::Api,
        })
    }
}

/// A scorecard's key figures, kept in SQLite so an archived run still shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub requests: u64,
    pub completed: u64,
    pub errors: u64,
    pub intended: u64,
    /// %.
    pub success_rate: f64,
    pub latency_p95_ms: f64,
    /// % of payments that succeeded, when the scenario pays.
    pub payment_success: Option<f64>,
    pub compliance_hits: u64,
    /// `PASS` or `FAIL`.
    pub verdict: String,
    pub notes: String,
    /// The run was cut short (cancelled).
    pub interrupted: bool,
}

impl Summary {
    /// Reads the figures off a `scorecard.json` (as JSON, so fields a scenario adds —
    /// `payment_success` — are picked up without the store knowing the scenario's types).
    pub fn of_scorecard(card: &serde_json::Value) -> Summary {
        let u = |k: &str| card.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        let f = |k: &str| card.get(k).and_then(|v| v.as_f64());
        let s = |k: &str| {
            card.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        Summary {
            requests: u("requests"),
            completed: u("completed"),
            errors: u("error_count"),
            intended: u("intended_requests"),
            success_rate: f("success_rate").unwrap_or(0.0),
            latency_p95_ms: f("latency_p95_ms").unwrap_or(0.0),
            payment_success: f("payment_success"),
            compliance_hits: u("compliance_hits"),
            verdict: s("verdict"),
            notes: s("notes"),
            interrupted: card
                .get("interrupted")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
        }
    }

    pub(super) fn insert(&self, c: &Connection, run_id: &str) -> rusqlite::Result<usize> {
        c.execute(
            "INSERT OR REPLACE INTO summaries (run_id, requests, completed, errors, intended,
             success_rate, latency_p95_ms, payment_success, compliance_hits, verdict, notes,
             interrupted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                run_id,
                self.requests as i64,
                self.completed as i64,
                self.errors as i64,
                self.intended as i64,
                self.success_rate,
                self.latency_p95_ms,
                self.payment_success,
                self.compliance_hits as i64,
                self.verdict,
                self.notes,
                self.interrupted
            ],
        )
    }
}
