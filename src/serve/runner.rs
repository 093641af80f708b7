//! Background runs: at most `max_runs` at once through [`crate::scenario::run`], the rest
//! `QUEUED` and started in the order they came. Each running run has a stop watch (cancel)
//! and a [`RunWatch`] (progress). When a run ends its state and scorecard summary go to the
//! store and the next queued run starts.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::AppState;
use super::problem::Problem;
use crate::replay::RunWatch;
use crate::replay::run::RunFolder;
use crate::scenario::{RunSettings, Scenario};
use crate::scorecard::SCORECARD_FILE;
use crate::store::{RunRow, RunState, Summary};

/// The runs this server is running or holding in its queue.
#[derive(Debug)]
pub struct Runner {
    max_runs: usize,
    data: PathBuf,
    st: Mutex<Slots>,
}

#[derive(Debug, Default)]
struct Slots {
    active: HashMap<String, Active>,
    queue: VecDeque<Pending>,
}

#[derive(Debug)]
struct Active {
    watch: Arc<RunWatch>,
    stop: watch::Sender<bool>,
}

#[derive(Debug)]
struct Pending {
    id: String,
    scenario_id: String,
    scenario: Scenario,
    speed: Option<f64>,
    folder: RunFolder,
}

impl Runner {
    /// A runner for the data folder, running at most `max_runs` (at least 1) at once.
    pub fn new(data: PathBuf, max_runs: usize) -> Runner {
        Runner {
            max_runs: max_runs.max(1),
            data,
            st: Mutex::new(Slots::default()),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        // A panic while holding the lock leaves plain maps behind; they are still usable.
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a run of a stored scenario: `STARTED` at once when a slot is free, else
    /// `QUEUED`.
    pub fn submit(
        app: &AppState,
        scenario_id: &str,
        scenario: Scenario,
        speed: Option<f64>,
    ) -> Result<RunRow, Problem> {
        let me = app.runner();
        let mut slots = me.slots();
        let free = slots.active.len() < me.max_runs && slots.queue.is_empty();
        let state = if free {
            RunState::Started
        } else {
            RunState::Queued
        };
        let (row, folder) = app.store().create_run(scenario_id, speed, state)?;
        let pending = Pending {
            id: row.id.clone(),
            scenario_id: scenario_id.to_string(),
            scenario,
            speed,
            folder,
        };
        if free {
            me.start(app, &mut slots, pending);
        } else {
            slots.queue.push_back(pending);
        }
        Ok(row)
    }

    fn start(&self, app: &AppState, slots: &mut Slots, p: Pending) {
        let watch = Arc::new(RunWatch::default());
        let (stop, stop_rx) = watch::channel(false);
        slots.active.insert(
            p.id.clone(),
            Active {
                watch: watch.clone(),
                stop,
            },
        );
        let settings = RunSettings {
            data: self.data.clone(),
            speed: p.speed,
            run_folder: Some(p.folder.clone()),
            watch: Some(watch),
            progress: false,
            command: vec![
                "esr".into(),
                "serve".into(),
                format!("POST /api/esr/scenarios/{}/run", p.scenario_id),
            ],
        };
        let app = app.clone();
        tokio::spawn(async move {
            let scenario = p.scenario;
            // The run itself in a task of its own, so a panic in it fails the run instead of
            // leaving it STARTED forever.
            let res = tokio::spawn(async move {
                crate::scenario::run(&scenario, settings, stop_rx)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|_| Err("the run panicked; see the server's log".into()));
            app.runner().finished(&app, &p.id, &p.folder, res);
        });
    }

    /// Records the end of a run and starts queued runs into the freed slot.
    fn finished(&self, app: &AppState, id: &str, folder: &RunFolder, res: Result<(), String>) {
        let mut slots = self.slots();
        let cancelled = slots.active.remove(id).is_some_and(|a| *a.stop.borrow());
        // The scorecard is written atomically (temp file renamed) by the engine, so reading
        // it here sees all of it or nothing.
        let summary = std::fs::read(folder.dir.join(SCORECARD_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .map(|v| Summary::of_scorecard(&v));
        let (state, error) = match (&res, cancelled) {
            (Ok(()), false) => (RunState::Done, None),
            (Ok(()), true) => (RunState::Cancelled, None),
            (Err(e), _) => (RunState::Failed, Some(e.as_str())),
        };
        if let Err(e) = app.store().finish(id, state, summary.as_ref(), error) {
            tracing::error!("cannot record the end of `{id}`: {e}");
        }
        match &res {
            Ok(()) => tracing::info!("run `{id}` ended {}", state.as_str()),
            Err(e) => tracing::warn!("run `{id}` failed: {e}"),
        }
        while slots.active.len() < self.max_runs {
            let Some(next) = slots.queue.pop_front() else {
                break;
            };
            if let Err(e) = app.store().set_started(&next.id) {
                tracing::error!("cannot start `{}`: {e}", next.id);
                continue;
            }
            self.start(app, &mut slots, next);
        }
    }

    /// Cancels a run: a queued one ends `CANCELLED` at once; a running one is told to stop
    /// and ends `CANCELLED` (with its partial metrics and scorecard) when it has. `false` when
    /// this server is not running or holding it.
    pub fn cancel(&self, app: &AppState, id: &str) -> Result<bool, Problem> {
        let mut slots = self.slots();
        if let Some(a) = slots.active.get(id) {
            let _ = a.stop.send(true);
            return Ok(true);
        }
        if let Some(i) = slots.queue.iter().position(|p| p.id == id) {
            slots.queue.remove(i);
            app.store().finish(
                id,
                RunState::Cancelled,
                None,
                Some("cancelled before it started"),
            )?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Live progress of a running run: its counters, planned requests and duration (s).
    pub fn progress(&self, id: &str) -> Option<(crate::tap::LiveSnapshot, Option<u64>, f64)> {
        self.slots().active.get(id)?.watch.snapshot()
    }

    /// Ids being run now.
    pub fn active(&self) -> usize {
        self.slots().active.len()
    }

    /// At shutdown: queued runs end `CANCELLED`, running ones are told to stop and waited
    /// for (at most `wait`), so they end `CANCELLED` with their partial scorecard.
    pub async fn shutdown(&self, app: &AppState, wait: Duration) {
        let queued: Vec<String> = {
            let mut slots = self.slots();
            for a in slots.active.values() {
                let _ = a.stop.send(true);
            }
            slots.queue.drain(..).map(|p| p.id).collect()
        };
        for id in queued {
            let _ = app.store().finish(
                &id,
                RunState::Cancelled,
                None,
                Some("cancelled: the server stopped before it started"),
            );
        }
        let deadline = tokio::time::Instant::now() + wait;
        while self.active() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
