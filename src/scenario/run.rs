//! One scenario run end to end, the same for the CLI and the API: allocate the run folder,
//! write the scenario and its synthetic trace into it (streaming), start the in-process stubs
//! with the scenario's faults on the scenario's clock, replay through the one engine, then add
//! the scenario's figures to the scorecard and write it again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use super::generate::{GenerateSummary, generate_to};
use super::model::Scenario;
use super::{RunSettings, ScenarioRunError, validate};
use crate::replay::{self, ReplayError, ReplayOptions, ReplayResult, ScheduleOptions, Timing};
use crate::scorecard::{
    self, ActionCard, FunnelBranch, FunnelCheck, ScenarioCard, ScenarioFault, Threshold,
};
use crate::stub::{StubConfig, StubHandle, StubOptions, StubServer};

/// Thresholds of a scenario that sets none: a p95 under one second and at least 95 %
/// success, the rules of `esr demo` (the `hms` stubs answer within 300 ms and fail 0.5 % of
/// payments, so a healthy run passes and a fault that breaks the flow fails).
pub const DEFAULT_THRESHOLDS: &[&str] = &["p95<1s", "success>=95%"];

/// The synthetic trace's file name in the run folder.
pub const TRACE_FILE: &str = "trace.parquet";
/// The scenario's file name in the run folder.
pub const SCENARIO_FILE: &str = "scenario.json";

/// The replay clock starts this long after the trace is ready: time for the replay's scan of
/// the trace, so the first requests are not late.
const LEAD: Duration = Duration::from_millis(1000);

fn input(e: impl std::fmt::Display) -> ScenarioRunError {
    ScenarioRunError::Input(e.to_string())
}

fn failed(e: impl std::fmt::Display) -> ScenarioRunError {
    ScenarioRunError::Failed(e.to_string())
}

impl From<ReplayError> for ScenarioRunError {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::Io(m) => ScenarioRunError::Failed(m),
            other => ScenarioRunError::Input(other.to_string()),
        }
    }
}

/// Runs one scenario end to end through the replay engine: generate the synthetic trace
/// streaming into the run folder, start the in-process `hms` stubs (or the scenario's) on
/// `127.0.0.1:0` when there is no `target`, schedule the faults, `replay::replay`, add the
/// scenario's figures to the scorecard and write it. `stop` turning true cancels: the run is
/// still written, marked interrupted. Runs on the current multi-threaded tokio runtime.
pub async fn run(
    scenario: &Scenario,
    settings: RunSettings,
    stop: watch::Receiver<bool>,
) -> Result<ReplayResult, ScenarioRunError> {
    // A scenario built by hand (not through `parse`) gets the same checks.
    let problems = validate::validate(scenario);
    if !problems.is_empty() {
        return Err(super::ScenarioError {
            file: scenario.name.clone(),
            errors: problems,
        }
        .into());
    }
    let speed = settings.speed.or(scenario.speed).unwrap_or(1.0);
    if !(speed.is_finite() && speed > 0.0) {
        return Err(input(format!(
            "speed `{speed}` must be a number above 0 (1 is real time)"
        )));
    }
    let thresholds = thresholds(scenario)?;
    let stub_config = match &scenario.target {
        Some(_) => None,
        None => Some(stub_config(scenario)?),
    };
    if let Some(t) = &scenario.trace
        && !Path::new(t).is_file()
    {
        return Err(input(format!(
            "scenario field `trace`: no trace file at `{t}`; give the path of a trace written by `esr ingest`"
        )));
    }

    let folder = match settings.run_folder.clone() {
        Some(f) => f,
        None => replay::run::allocate(&settings.data)?,
    };
    let text = serde_json::to_string_pretty(scenario).map_err(failed)?;
    std::fs::write(folder.dir.join(SCENARIO_FILE), text + "\n").map_err(|e| {
        failed(format!(
            "cannot write `{}`: {e}",
            folder.dir.join(SCENARIO_FILE).display()
        ))
    })?;

    let (trace, generated) = match &scenario.trace {
        Some(t) => (PathBuf::from(t), None),
        None => {
            let out = folder.dir.join(TRACE_FILE);
            let (s, o) = (scenario.clone(), out.clone());
            let summary = tokio::task::spawn_blocking(move || generate_to(&s, &o))
                .await
                .map_err(failed)??;
            if summary.requests == 0 {
                return Err(input(
                    "the scenario generates no requests: every step of its script sends nothing",
                ));
            }
            (out, Some(summary))
        }
    };

    // The scenario's clock starts before its first request (the first actor arrives a moment
    // after zero); the replay's starts at the first request. The stubs' fault clock is set
    // back by that much so a fault "at 15m" lands 15 scenario minutes after zero.
    let first_offset_us = generated.as_ref().map_or(0, |g| g.first_offset_us);
    let start_us = replay::run::unix_now_us() + LEAD.as_micros() as i64;
    let stub = match stub_config {
        Some(cfg) => Some(
            StubServer::spawn_with(
                cfg,
                StubOptions {
                    speed,
                    start_unix_us: Some(start_us - (first_offset_us as f64 / speed) as i64),
                    source: "<scenario stubs>".into(),
                    ..Default::default()
                },
            )
            .await
            .map_err(input)?,
        ),
        None => None,
    };
    let target = match (&stub, &scenario.target) {
        (Some(s), _) => s.url(),
        (None, Some(t)) => t.clone(),
        (None, None) => unreachable!("no target means in-process stubs"),
    };
    let opts = ReplayOptions {
        trace,
        target,
        host_map: vec![],
        allow_hosts: vec![],
        schedule: ScheduleOptions {
            timing: Timing::from_options(Some(speed), None)?,
            looped: false,
            duration_us: scenario
                .trace
                .as_ref()
                .and(scenario.duration.as_ref())
                .map(|d| (d.get().as_micros() as f64 / speed) as i64),
            shard: None,
        },
        start_at_us: Some(start_us),
        max_rps: None,
        concurrency: 1024,
        timeout: Duration::from_secs(30),
        drain: Duration::from_secs(5),
        thresholds: thresholds.clone(),
        data: settings.data.clone(),
        metrics_listen: None,
        command: settings.command.clone(),
        progress: settings.progress,
        compliance_hits: 0,
        run_folder: Some(folder),
        watch: settings.watch.clone(),
    };
    let result = replay::replay(opts, stop).await;
    if let Some(s) = stub {
        shutdown(s).await;
    }
    let mut result = result?;

    let sc = plan_card(scenario, speed, generated.as_ref());
    scorecard::attach_scenario(&mut result.scorecard, sc, &thresholds);
    scorecard::write_run_files(&result.run.dir, &result.scorecard).map_err(failed)?;
    Ok(result)
}

async fn shutdown(s: StubHandle) {
    s.shutdown().await;
}

/// The scenario's thresholds, or [`DEFAULT_THRESHOLDS`] when it sets none.
pub fn thresholds(s: &Scenario) -> Result<Vec<Threshold>, ScenarioRunError> {
    let rules: Vec<&str> = if s.thresholds.is_empty() {
        DEFAULT_THRESHOLDS.to_vec()
    } else {
        s.thresholds.iter().map(String::as_str).collect()
    };
    rules
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Threshold::parse(t).map_err(|e| input(format!("scenario field `thresholds[{i}]`: {e}")))
        })
        .collect()
}

/// The stub config a scenario runs against, its faults scheduled.
pub fn stub_config(s: &Scenario) -> Result<StubConfig, ScenarioRunError> {
    let mut cfg = match validate::stub_config(s) {
        Ok(Some(c)) => c,
        Ok(None) => {
            let path = s
                .stubs
                .as_ref()
                .and_then(|st| st.config.as_ref())
                .and_then(|c| c.as_str())
                .unwrap_or_default();
            StubConfig::load(Path::new(path))
                .map_err(|e| input(format!("scenario field `stubs.config`: {e}")))?
        }
        Err(e) => {
            return Err(input(format!(
                "scenario field `{}`: {}",
                e.field, e.message
            )));
        }
    };
    for (i, f) in s.faults.iter().enumerate() {
        cfg.schedule_fault(&f.action, f.at.get(), f.for_.get())
            .map_err(|e| {
                input(format!(
                    "scenario field `faults[{i}].action`: {}",
                    e.problem
                ))
            })?;
    }
    Ok(cfg)
}

/// What the scenario planned, for the scorecard (the actual figures are filled in from the
/// run).
fn plan_card(s: &Scenario, speed: f64, g: Option<&GenerateSummary>) -> ScenarioCard {
    ScenarioCard {
        name: s.name.clone(),
        kind: if s.is_trace_based() {
            "trace"
        } else {
            "synthetic"
        }
        .into(),
        actors: g.map_or(0, |g| g.actors),
        seed: (!s.is_trace_based()).then(|| s.seed()),
        arrival: (!s.is_trace_based()).then(|| s.arrival().as_str().to_string()),
        speed,
        actions: g
            .map(|g| {
                g.actions
                    .iter()
                    .map(|a| ActionCard {
                        action: a.action.clone(),
                        endpoint: a.endpoint.clone(),
                        intended: a.taken,
                        ..Default::default()
                    })
                    .collect()
            })
            .unwrap_or_default(),
        funnel: g
            .map(|g| {
                g.splits
                    .iter()
                    .map(|sp| FunnelCheck {
                        field: sp.field.clone(),
                        reached: sp.reached,
                        branches: sp
                            .branches
                            .iter()
                            .map(|(action, declared, n)| FunnelBranch {
                                action: action.clone(),
                                declared: *declared,
                                count: *n,
                                ..Default::default()
                            })
                            .collect(),
                        flagged: false,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        faults: s
            .faults
            .iter()
            .map(|f| ScenarioFault {
                action: f.action.clone(),
                at_s: f.at.get().as_secs_f64(),
                for_s: f.for_.get().as_secs_f64(),
            })
            .collect(),
    }
}
