//! Runs the store did not make: `esr replay --data DIR` (and `esr compare`, `esr scenario
//! run`) write run folders into the same `DATA/runs/` without touching SQLite. They are read
//! from their folders — `run.json`, `scorecard.json`, the `FAILED` marker — each time the runs
//! are listed, so no schema change is needed and nothing is copied that could go stale.

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;

use super::rows::{RunOrigin, RunRow, RunState, Summary};
use crate::replay::run;
use crate::scorecard::SCORECARD_FILE;

/// The run folders under `data/runs/` whose ids are not in `known`, oldest first. A folder
/// without a readable `run.json` is not a run (yet) and is passed over.
pub fn folder_runs(data: &Path, known: &HashSet<String>) -> Vec<RunRow> {
    let Ok(entries) = std::fs::read_dir(data.join("runs")) else {
        return Vec::new();
    };
    let mut rows: Vec<RunRow> = entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            (!known.contains(&name)).then(|| folder_run(data, &name))?
        })
        .collect();
    rows.sort_by_key(|r| run_seq(&r.id));
    rows
}

/// The run folder `data/runs/{id}` read as a run, when it is one.
pub fn folder_run(data: &Path, id: &str) -> Option<RunRow> {
    if !id.starts_with("RUN-") || id.contains(['/', '\\']) {
        return None;
    }
    let dir = data.join("runs").join(id);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).ok()?).ok()?;
    let card = std::fs::read_to_string(dir.join(SCORECARD_FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok());
    let failure = run::failure(&dir);
    // A compare run keeps its scorecards in its side folders and says it ended with
    // `comparison.json`.
    let ended = card.is_some() || dir.join("comparison.json").is_file();
    let state = match (&failure, ended) {
        (Some(_), _) => RunState::Failed,
        (None, true) => RunState::Done,
        // Still running, or cut off before it wrote a scorecard: the folder cannot tell.
        (None, false) => RunState::Started,
    };
    let started_at = manifest["started_at"].as_str().map(str::to_string);
    Some(RunRow {
        id: id.to_string(),
        scenario_id: "-".into(),
        state,
        speed: manifest["timing"]["speed"].as_f64(),
        folder: dir,
        created_us: manifest["started_at_unix_us"].as_i64().unwrap_or(0),
        created_at: started_at.clone().unwrap_or_default(),
        started_at,
        finished_at: None,
        error: failure,
        archived: false,
        summary: card.as_ref().map(Summary::of_scorecard),
        origin: RunOrigin::Cli,
    })
}

/// A run the store made whose folder says it failed (the engine's `FAILED` marker) is shown
/// failed, with the marker's reason.
pub fn overlay_failure(mut r: RunRow) -> RunRow {
    if r.state != RunState::Failed
        && !r.archived
        && let Some(why) = run::failure(&r.folder)
    {
        r.state = RunState::Failed;
        r.error = Some(why);
    }
    r
}

/// `RUN-0042` → 42, for ordering (ids past 9999 have more digits).
pub fn run_seq(id: &str) -> u64 {
    id.strip_prefix("RUN-")
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}
