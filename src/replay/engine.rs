//! One replay from start to finish: guard, scan, run folder, feed → dispatcher → aggregator
//! (which owns the tap), then the stub's fault windows and the scorecard. The one place in
//! the replay stage that uses the tap and the scorecard together.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::client::Targets;
use super::dispatcher::{DispatchConfig, DispatchReport, Dispatcher};
use super::feed::{feed, scan};
use super::guard::SandboxGuard;
use super::lanes::{lanes_for, run_lanes};
use super::run::{self, RunFolder, RunManifest, TimingInfo, TraceInfo};
use super::schedule::{Schedule, ScheduleOptions, Timing};
use super::wire::WireClient;
use super::{ReplayError, progress, stubinfo};
use crate::outcome::Outcome;
use crate::scorecard::{self, RunContext, Scorecard, Threshold};
use crate::tap::{LiveMetrics, Tap, TapSummary};
use crate::trace::TraceReader;

/// Everything a replay needs, resolved from the command line (or a scenario, or the demo).
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The trace to replay.
    pub trace: PathBuf,
    /// Base URL of the sandbox.
    pub target: String,
    /// Recorded host → base URL.
    pub host_map: Vec<(String, String)>,
    /// `--allow-host` patterns beyond loopback.
    pub allow_hosts: Vec<String>,
    /// Timing, loop, cut and shard.
    pub schedule: ScheduleOptions,
    /// The run clock's zero, µs since the epoch (`--start-at`); now when `None`.
    pub start_at_us: Option<i64>,
    /// `--max-rps`.
    pub max_rps: Option<NonZeroU32>,
    /// `--concurrency`.
    pub concurrency: usize,
    /// `--timeout`.
    pub timeout: Duration,
    /// `--drain`.
    pub drain: Duration,
    /// `--threshold`s.
    pub thresholds: Vec<Threshold>,
    /// The data folder (`--data`).
    pub data: PathBuf,
    /// Serve live Prometheus text on `GET /metrics` here.
    pub metrics_listen: Option<SocketAddr>,
    /// The command line, for `run.json`.
    pub command: Vec<String>,
    /// Show progress (bar or log lines).
    pub progress: bool,
    /// Residual personal data found in the trace by a check run before the replay (the
    /// demo's `esr check`); 0 when none was run.
    pub compliance_hits: u64,
    /// A run folder allocated beforehand (the API server gives a queued run its id before it
    /// starts); a new one is allocated under `data` when `None`.
    pub run_folder: Option<RunFolder>,
    /// A window onto the running replay for a caller other than the progress bar.
    pub watch: Option<Arc<RunWatch>>,
}

/// A window onto a running replay: the tap's live counters once the run has started, and
/// what the schedule intends. Cheap to read from another thread (the API's progress).
#[derive(Default)]
pub struct RunWatch {
    started: std::sync::OnceLock<(Arc<LiveMetrics>, Option<u64>, f64)>,
}

impl std::fmt::Debug for RunWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunWatch")
            .field("started", &self.started.get().is_some())
            .finish()
    }
}

impl RunWatch {
    /// Live counters and the intended request count and duration (s); `None` until the
    /// replay has started sending.
    pub fn snapshot(&self) -> Option<(crate::tap::LiveSnapshot, Option<u64>, f64)> {
        self.started
            .get()
            .map(|(live, intended, secs)| (live.snapshot(), *intended, *secs))
    }
}

/// A finished (or interrupted) replay.
#[derive(Debug)]
pub struct ReplayResult {
    /// The run folder.
    pub run: RunFolder,
    /// The scorecard written into it.
    pub scorecard: Scorecard,
    /// What the dispatcher did.
    pub dispatch: DispatchReport,
}

/// Batches of outcomes waiting for the aggregator (up to 64 each); large enough to ride out
/// a parquet flush.
const OUTCOME_QUEUE: usize = 1024;
/// Batches of jobs the feed may run ahead of the dispatcher.
const JOB_QUEUE: usize = 16;
/// The tap thread's nap when no outcomes wait (the queue holds far more than a nap's worth).
const TAP_NAP: Duration = Duration::from_millis(5);
/// The dispatch loop's wake-up window (see [`DispatchConfig::window`]): at 5,000 req/s a
/// wake-up per request cost twice oha's CPU; one per ms costs less than oha's, and a request
/// leaves at most 1 ms after its due time (plus the OS's wake-up delay).
const WAKE_WINDOW: Duration = Duration::from_millis(1);
/// How far ahead of set-up's end the run clock starts (without `--start-at`).
const START_LEAD: Duration = Duration::from_millis(50);
/// Longest wait for the feed's first batch before the run clock starts anyway.
const FEED_READY: Duration = Duration::from_secs(10);

/// Runs one replay on the current (multi-threaded) tokio runtime. `stop` turning true
/// (Ctrl-C) stops sending; the run is still written, marked interrupted.
pub async fn replay(
    opts: ReplayOptions,
    stop: watch::Receiver<bool>,
) -> Result<ReplayResult, ReplayError> {
    // The guard runs before anything else: a refused host must not even get a run folder.
    let guard = SandboxGuard::new(&opts.allow_hosts);
    let target = guard.check("--target", &opts.target)?;
    let mut map = Vec::new();
    for (host, url) in &opts.host_map {
        map.push((host.clone(), guard.check("--host-map", url)?));
    }
    let targets = Targets::new(target, map);
    if let Some(addr) = opts.metrics_listen
        && !addr.ip().is_loopback()
    {
        return Err(ReplayError::Usage(format!(
            "`--metrics-listen {addr}` must be a loopback address, for example 127.0.0.1:9898"
        )));
    }

    let reader = TraceReader::open(&opts.trace)?;
    let key_id = reader.meta().key_id.clone();
    drop(reader);
    let trace_path = opts.trace.clone();
    let sched_opts = opts.schedule;
    let scanned = tokio::task::spawn_blocking(move || scan(&trace_path, sched_opts))
        .await
        .map_err(|e| ReplayError::Io(format!("trace scan failed: {e}")))??;
    let schedule = scanned.schedule;
    if schedule.span().rows == 0 {
        return Err(ReplayError::Usage(format!(
            "trace `{}` has no rows; nothing to replay",
            opts.trace.display()
        )));
    }
    let intended = schedule.intended(&scanned.owned_dues);
    let uncut = Schedule::new(
        ScheduleOptions {
            duration_us: None,
            ..sched_opts
        },
        *schedule.span(),
    )
    .intended(&scanned.owned_dues);
    let cut_short = !sched_opts.looped && intended != uncut;
    drop(scanned);

    let metrics_listener = match opts.metrics_listen {
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            ReplayError::Usage(format!("cannot listen on `--metrics-listen {addr}`: {e}"))
        })?),
        None => None,
    };
    let sha = {
        let p = opts.trace.clone();
        tokio::task::spawn_blocking(move || run::sha256_file(&p))
            .await
            .map_err(|e| ReplayError::Io(e.to_string()))??
    };
    let client = WireClient::new(targets.clone(), opts.timeout, true);

    let folder = match opts.run_folder.clone() {
        Some(f) => f,
        None => run::allocate(&opts.data)?,
    };
    // From here on a failure leaves a folder behind: mark it failed, so nothing in it passes
    // for a finished run (the disk filling up while metrics are written, say).
    let dir = folder.dir.clone();
    let result: Result<ReplayResult, ReplayError> = async move {
        let tap = Tap::create(&folder.dir).map_err(|e| ReplayError::Io(e.to_string()))?;
        let live = tap.live();
        if let Some(w) = &opts.watch {
            let _ = w
                .started
                .set((live.clone(), intended, schedule.intended_duration_s()));
        }
        let (otx, orx) = mpsc::channel::<Vec<Outcome>>(OUTCOME_QUEUE);
        let (halt, halt_rx) = halt_on(stop);
        let tap_halt = halt.clone();
        let aggregator = std::thread::Builder::new()
            .name("esr-tap".into())
            .spawn(move || aggregate(tap, orx, &tap_halt))
            .map_err(|e| ReplayError::Io(format!("cannot start the tap thread: {e}")))?;

        let (jtx, jrx) = mpsc::channel(JOB_QUEUE);
        let feeder = {
            let (path, client) = (opts.trace.clone(), client.clone());
            std::thread::Builder::new()
                .name("esr-feed".into())
                .spawn(move || feed(path, schedule, |r| client.prepare(r), jtx))
                .map_err(|e| ReplayError::Io(format!("cannot start the feed thread: {e}")))?
        };

        // The run clock starts once the feed has the first requests ready: opening and
        // decoding the trace, the tap's files and the threads take tens of ms on a busy
        // machine, and counted from before they would make the first requests late, a
        // backlog the run then spends its first second catching up on.
        let ready_by = Instant::now() + FEED_READY;
        while jrx.is_empty() && !jrx.is_closed() && Instant::now() < ready_by {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let now_us = run::unix_now_us();
        // Without --start-at the clock starts a moment from now, once the dispatch threads
        // are up: on a busy machine a new thread can wait tens of ms for its first turn on a
        // core, and every request due meanwhile would leave late.
        let start_unix_us = opts
            .start_at_us
            .unwrap_or(now_us + START_LEAD.as_micros() as i64);
        let lead = start_unix_us - now_us;
        if lead < -1_000_000 {
            tracing::warn!(
                "--start-at is {:.1} s in the past: requests due before now start late",
                -lead as f64 / 1e6
            );
        } else if lead > 0 && opts.start_at_us.is_some() {
            tracing::info!("waiting {:.1} s for --start-at", lead as f64 / 1e6);
        }
        let start = if lead >= 0 {
            Instant::now() + Duration::from_micros(lead as u64)
        } else {
            Instant::now()
                .checked_sub(Duration::from_micros((-lead) as u64))
                .unwrap_or_else(Instant::now)
        };
        let mut manifest = RunManifest {
            run_id: folder.id.clone(),
            command: opts.command.clone(),
            esr_version: env!("CARGO_PKG_VERSION"),
            trace: TraceInfo {
                path: opts.trace.display().to_string(),
                sha256: sha,
                key_id,
                rows: schedule.span().rows,
            },
            target: opts.target.clone(),
            host_map: opts.host_map.clone(),
            timing: timing_info(&opts),
            shard: sched_opts.shard.map(|s| s.to_string()),
            started_at: run::rfc3339(start_unix_us),
            started_at_unix_us: start_unix_us,
            intended_requests: intended,
            stub_config_digest: None,
        };
        run::write_manifest(&folder.dir, &manifest)?;

        let (done_tx, done_rx) = watch::channel(false);
        let progress = opts.progress.then(|| {
            progress::spawn(
                live.clone(),
                intended,
                schedule.intended_duration_s(),
                done_rx.clone(),
            )
        });
        if let Some(addr) = metrics_listener.as_ref().and_then(|l| l.local_addr().ok()) {
            tracing::info!("live metrics on http://{addr}/metrics");
        }
        let metrics_server = metrics_listener.map(|l| spawn_metrics(l, live.clone(), done_rx));

        let sent_live = live.clone();
        let dispatcher = Dispatcher {
            transport: Arc::new(client.clone()),
            config: DispatchConfig {
                concurrency: opts.concurrency,
                max_rps: opts.max_rps,
                precise: true,
                window: WAKE_WINDOW,
                drain: opts.drain,
            },
            start,
            spawner: Handle::current(),
            on_sent: Arc::new(move || sent_live.on_sent()),
        };
        let rate = intended.unwrap_or(schedule.span().rows) as f64
            / schedule.intended_duration_s().max(1e-3);
        let lanes = lanes_for(rate, opts.max_rps.is_some());
        let report = run_lanes(dispatcher, lanes, jrx, otx, halt_rx).await?;
        drop(halt);

        let fed = feeder
            .join()
            .map_err(|_| ReplayError::Io("the feed thread panicked".into()))?;
        let summary = tokio::task::spawn_blocking(move || aggregator.join())
            .await
            .map_err(|e| ReplayError::Io(e.to_string()))?
            .map_err(|_| ReplayError::Io("the tap thread panicked".into()))??;
        let _ = done_tx.send(true);
        if let Some(p) = progress {
            let _ = p.await;
        }
        if let Some(m) = metrics_server {
            let _ = m.await;
        }
        fed?;
        if report.abandoned > 0 {
            tracing::warn!(
                "{} requests were still in flight after the drain time; recorded as timeouts",
                report.abandoned
            );
        }

        // The stub's view of the run: fault windows for the phases, its own overhead.
        let stub_end = stubinfo::StubInfo::fetch(&opts.target).await;
        if let Some(d) = stub_end.as_ref().and_then(|s| s.config_digest.clone()) {
            manifest.stub_config_digest = Some(d);
            run::write_manifest(&folder.dir, &manifest)?;
        }
        let ctx = RunContext {
            run_id: folder.id.clone(),
            started_at: manifest.started_at.clone(),
            target: opts.target.clone(),
            speed: sched_opts.timing.speed(),
            rate: sched_opts.timing.rate(),
            intended_requests: intended.unwrap_or(report.sent),
            intended_duration_s: schedule.intended_duration_s(),
            interrupted: report.stopped || cut_short,
            fault_windows: stub_end
                .as_ref()
                .map(|s| s.fault_windows(start_unix_us))
                .unwrap_or_default(),
            compliance_hits: opts.compliance_hits + report.response_pii_hits,
            esq_rule_violations: Vec::new(),
            stub_overhead_ms: stub_end.and_then(|s| s.overhead),
            queued: report.queued,
            throttled: report.throttled,
        };
        let card = scorecard::build(&summary, &ctx, &opts.thresholds);
        scorecard::write_run_files(&folder.dir, &card)
            .map_err(|e| ReplayError::Io(e.to_string()))?;
        Ok(ReplayResult {
            run: folder,
            scorecard: card,
            dispatch: report,
        })
    }
    .await;
    result.map_err(|e| {
        run::mark_failed(&dir, &e.to_string());
        let marker = dir.join(run::FAILED_FILE);
        ReplayError::Io(format!(
            "{e}; the run is marked failed (`{}`)",
            marker.display()
        ))
    })
}

/// The aggregator: the one owner of the tap, fed by every request task.
fn aggregate(
    mut tap: Tap,
    mut rx: mpsc::Receiver<Vec<Outcome>>,
    halt: &watch::Sender<bool>,
) -> Result<TapSummary, ReplayError> {
    let mut failed = None;
    loop {
        // Polled, not woken per batch: a wake-up per message would cost a context switch
        // each; a nap costs at most its length in delay of the live counters.
        let batch = match rx.try_recv() {
            Ok(b) => b,
            Err(mpsc::error::TryRecvError::Empty) => {
                std::thread::sleep(TAP_NAP);
                continue;
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        // Keep draining after a write error so the workers never block on a full queue.
        for o in &batch {
            if failed.is_none()
                && let Err(e) = tap.record(o)
            {
                // The run cannot be recorded any more: stop loading the target for nothing.
                tracing::error!("the metrics tap failed, stopping the replay: {e}");
                let _ = halt.send(true);
                failed = Some(e);
            }
        }
    }
    if let Some(e) = failed {
        return Err(ReplayError::Io(format!("the metrics tap failed: {e}")));
    }
    tap.finish()
        .map_err(|e| ReplayError::Io(format!("the metrics tap failed: {e}")))
}

/// The dispatcher's stop flag: true when `stop` turns true (Ctrl-C) or when the returned
/// sender is told to halt (the tap failed). The forwarding task ends when the receiver (the
/// dispatcher's) is dropped.
fn halt_on(mut stop: watch::Receiver<bool>) -> (watch::Sender<bool>, watch::Receiver<bool>) {
    let (tx, rx) = watch::channel(false);
    let fwd = tx.clone();
    tokio::spawn(async move {
        tokio::select! {
            r = stop.wait_for(|s| *s) => {
                if r.is_ok() {
                    let _ = fwd.send(true);
                }
            }
            _ = fwd.closed() => {}
        }
    });
    (tx, rx)
}

/// Serves `GET /metrics` (the tap's live Prometheus text) until the run is done.
fn spawn_metrics(
    listener: tokio::net::TcpListener,
    live: Arc<LiveMetrics>,
    mut done: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let live = live.clone();
            async move {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    live.prometheus_text(),
                )
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = done.wait_for(|d| *d).await;
            })
            .await;
    })
}

fn timing_info(opts: &ReplayOptions) -> TimingInfo {
    let t = opts.schedule.timing;
    TimingInfo {
        mode: match t {
            Timing::Original => "original",
            Timing::Scaled { .. } => "scaled",
            Timing::FixedRate { .. } => "fixed_rate",
        },
        speed: t.speed(),
        rate: t.rate(),
        max_rps: opts.max_rps.map(NonZeroU32::get),
        concurrency: opts.concurrency,
        timeout_ms: opts.timeout.as_millis() as u64,
        duration_s: opts.schedule.duration_us.map(|d| d as f64 / 1e6),
        looped: opts.schedule.looped,
        drain_s: opts.drain.as_secs_f64(),
    }
}
