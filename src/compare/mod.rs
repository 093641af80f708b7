//! Compare two versions: takes a trace and the base URLs of a baseline, a candidate and
//! optionally a second baseline; replays ONE schedule through the replay dispatcher with a
//! multi-target sender ([`fanout::FanOut`]), so each due request goes to every version at the
//! same due time; gives a run folder (`baseline/`, `candidate/`, `baseline2/` each with its
//! `metrics.parquet` and scorecard, plus `comparison.json` and `report.html`) and a [`CompareReport`]: per
//! endpoint status mismatches, JSON field differences by path with one masked example, noise
//! fields listed apart, personal data found in each side's responses, latency deltas with
//! `esr diff`'s statistics, and a verdict.
//!
//! It must never send to a host the sandbox guard refuses, never run a second dispatch loop,
//! and never print a response value unmasked.

mod analysis;
mod fanout;
pub mod fields;
mod html;
mod text;
mod view;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use analysis::{Analysis, Answer};
pub use analysis::{
    EndpointCompare, FieldReport, LatencyDelta, NoiseField, SIDES, SideCompliance, StatusPair,
};
use fanout::{FanOut, SideReply};
pub use fields::{Change, Thresholds};

use crate::diff::{self, DiffOptions, DiffReport, Verdict};
use crate::outcome::Outcome;
use crate::replay::{
    self, DispatchConfig, Dispatcher, HttpClient, ReplayError, SandboxGuard, ScheduleOptions,
    Targets, run,
};
use crate::scorecard::{self, RunContext};
use crate::tap::{Tap, TapSummary};
use crate::trace::TraceReader;

/// Everything `esr compare` needs.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// The trace.
    pub trace: PathBuf,
    /// Baseline base URL.
    pub baseline: String,
    /// Candidate base URL.
    pub candidate: String,
    /// Second baseline (same version as the baseline), for noise.
    pub baseline2: Option<String>,
    /// `--allow-host` patterns beyond loopback.
    pub allow_hosts: Vec<String>,
    /// Timing, loop, cut (and shard).
    pub schedule: ScheduleOptions,
    /// `--max-rps`.
    pub max_rps: Option<NonZeroU32>,
    /// `--concurrency`.
    pub concurrency: usize,
    /// `--timeout`.
    pub timeout: Duration,
    /// `--drain`.
    pub drain: Duration,
    /// Numeric noise thresholds.
    pub thresholds: Thresholds,
    /// Latency statistics settings.
    pub stats: DiffOptions,
    /// Bytes of each response body kept for the field diff.
    pub body_limit: usize,
    /// The data folder.
    pub data: PathBuf,
    /// The command line, for `run.json`.
    pub command: Vec<String>,
    /// Show progress.
    pub progress: bool,
}

/// What `esr compare` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareReport {
    /// `RUN-0007`.
    pub run_id: String,
    /// The run folder.
    pub dir: String,
    /// Base URL per side.
    pub targets: Vec<(String, String)>,
    /// Requests sent (to each side).
    pub requests: u64,
    /// The run was stopped early (Ctrl-C or --duration).
    pub interrupted: bool,
    /// Numeric thresholds used.
    pub thresholds: Thresholds,
    /// Per endpoint.
    pub endpoints: Vec<EndpointCompare>,
    /// Personal data in each side's responses.
    pub compliance: Vec<SideCompliance>,
    /// Status mismatches, all endpoints.
    pub status_mismatches: u64,
    /// Requests with a real body difference, all endpoints.
    pub body_mismatches: u64,
    /// Latency verdict, baseline vs candidate (as `esr diff`).
    pub latency_verdict: Verdict,
    /// `identical` or `different`.
    pub verdict: &'static str,
    /// Why, in words.
    pub reasons: Vec<String>,
    /// The full latency diff of baseline vs candidate.
    pub latency: DiffReport,
}

impl CompareReport {
    /// True when anything really differs.
    pub fn differs(&self) -> bool {
        self.verdict == "different"
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a compare report always serializes") + "\n"
    }

    /// Text for the terminal.
    pub fn render_text(&self) -> String {
        text::render(&view::View::of(self))
    }

    /// A self-contained HTML page (also written as `report.html` in the run folder); the
    /// side folders give the latency distributions.
    pub fn render_html(&self) -> Result<String, diff::DiffError> {
        let dir = PathBuf::from(&self.dir);
        let b = diff::load(&dir.join("baseline"))?;
        let c = diff::load(&dir.join("candidate"))?;
        Ok(html::render(&view::View::of(self), &b, &c))
    }
}

enum Msg {
    Side(SideReply),
    Done(Outcome),
}

/// Runs the comparison on the current multi-threaded runtime; `stop` turning true stops
/// sending (the run is still written, marked interrupted).
pub async fn compare(
    opts: CompareOptions,
    stop: watch::Receiver<bool>,
) -> Result<CompareReport, ReplayError> {
    let guard = SandboxGuard::new(&opts.allow_hosts);
    let mut urls = vec![
        ("baseline", opts.baseline.clone()),
        ("candidate", opts.candidate.clone()),
    ];
    if let Some(b2) = &opts.baseline2 {
        urls.push(("baseline2", b2.clone()));
    }
    let mut bases = Vec::new();
    for (name, u) in &urls {
        bases.push(guard.check(&format!("--{name}"), u)?);
    }
    let reader = TraceReader::open(&opts.trace)?;
    let key_id = reader.meta().key_id.clone();
    drop(reader);
    let (trace_path, sched_opts) = (opts.trace.clone(), opts.schedule);
    let scanned = tokio::task::spawn_blocking(move || replay::scan(&trace_path, sched_opts))
        .await
        .map_err(|e| ReplayError::Io(e.to_string()))??;
    let schedule = scanned.schedule;
    if schedule.span().rows == 0 {
        return Err(ReplayError::Usage(format!(
            "trace `{}` has no rows; nothing to compare",
            opts.trace.display()
        )));
    }
    let intended = schedule.intended(&scanned.owned_dues);
    let sha = run::sha256_file(&opts.trace)?;
    let client = HttpClient::new(opts.timeout, opts.concurrency)?;
    let folder = run::allocate(&opts.data)?;
    let start_unix_us = run::unix_now_us();
    let start = Instant::now();
    let io = |e: &dyn std::fmt::Display| ReplayError::Io(e.to_string());

    let mut taps = Vec::new();
    for (name, url) in &urls {
        let dir = folder.dir.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| io(&e))?;
        let manifest = run::RunManifest {
            run_id: format!("{}/{name}", folder.id),
            command: opts.command.clone(),
            esr_version: env!("CARGO_PKG_VERSION"),
            trace: run::TraceInfo {
                path: opts.trace.display().to_string(),
                sha256: sha.clone(),
                key_id: key_id.clone(),
                rows: schedule.span().rows,
            },
            target: url.clone(),
            host_map: Vec::new(),
            timing: run::TimingInfo {
                mode: "compare",
                speed: sched_opts.timing.speed(),
                rate: sched_opts.timing.rate(),
                max_rps: opts.max_rps.map(NonZeroU32::get),
                concurrency: opts.concurrency,
                timeout_ms: opts.timeout.as_millis() as u64,
                duration_s: sched_opts.duration_us.map(|d| d as f64 / 1e6),
                looped: sched_opts.looped,
                drain_s: opts.drain.as_secs_f64(),
            },
            shard: None,
            started_at: run::rfc3339(start_unix_us),
            started_at_unix_us: start_unix_us,
            intended_requests: intended,
            stub_config_digest: None,
        };
        run::write_manifest(&dir, &manifest)?;
        if *name == "baseline" {
            let mut top = manifest.clone();
            top.run_id = folder.id.clone();
            run::write_manifest(&folder.dir, &top)?;
        }
        taps.push(Tap::create(&dir).map_err(|e| io(&e))?);
    }
    let live = taps[0].live();

    let (mtx, mrx) = mpsc::unbounded_channel::<Msg>();
    let (stx, mut srx) = mpsc::unbounded_channel::<SideReply>();
    let (otx, mut orx) = mpsc::channel::<Vec<Outcome>>(1024);
    let sides = urls.len();
    let thresholds = opts.thresholds;
    let collector = std::thread::Builder::new()
        .name("esr-compare".into())
        .spawn(move || collect(taps, mrx, sides, thresholds))
        .map_err(|e| io(&e))?;
    // Side replies always reach the queue before their request's outcome does: the sender
    // pushes them before it answers the dispatcher, which only then makes the outcome.
    let fwd = {
        let mtx = mtx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    Some(s) = srx.recv() => { let _ = mtx.send(Msg::Side(s)); }
                    o = orx.recv() => match o {
                        Some(batch) => {
                            while let Ok(s) = srx.try_recv() { let _ = mtx.send(Msg::Side(s)); }
                            for o in batch { let _ = mtx.send(Msg::Done(o)); }
                        }
                        None => break,
                    },
                }
            }
            while let Ok(s) = srx.try_recv() {
                let _ = mtx.send(Msg::Side(s));
            }
        })
    };
    drop(mtx);

    let (jtx, jrx) = mpsc::channel(16);
    let (ktx, krx) = mpsc::channel(16);
    let feeder = {
        let targets = Targets::new(bases[0].clone(), Vec::new());
        let path = opts.trace.clone();
        std::thread::Builder::new()
            .name("esr-feed".into())
            .spawn(move || replay::feed(path, schedule, |r| targets.prepare(r), jtx))
            .map_err(|e| io(&e))?
    };
    // Tag each request with its seq, so every side's answer finds its request again.
    let tagger = tokio::spawn(async move {
        let mut jrx: mpsc::Receiver<Vec<replay::Job<reqwest::Request>>> = jrx;
        while let Some(batch) = jrx.recv().await {
            let tagged: Vec<_> = batch
                .into_iter()
                .map(|j| {
                    let seq = j.seq;
                    replay::Job {
                        seq,
                        due_us: j.due_us,
                        session: j.session,
                        method: j.method,
                        path: j.path,
                        endpoint: j.endpoint,
                        request: j.request.map(|r| (seq, r)),
                    }
                })
                .collect();
            if ktx.send(tagged).await.is_err() {
                break;
            }
        }
    });
    let (done_tx, done_rx) = watch::channel(false);
    let progress = opts.progress.then(|| {
        replay::spawn_progress(
            live.clone(),
            intended,
            schedule.intended_duration_s(),
            done_rx,
        )
    });
    let dispatcher = Dispatcher {
        transport: Arc::new(FanOut {
            client,
            bases: bases.clone(),
            start,
            keep: opts.body_limit,
            out: stx,
        }),
        config: DispatchConfig {
            concurrency: opts.concurrency,
            max_rps: opts.max_rps,
            precise: true,
            window: Duration::from_millis(1),
            drain: opts.drain,
        },
        start,
        spawner: Handle::current(),
        on_sent: Arc::new(move || live.on_sent()),
    };
    let report = replay::run_on_own_thread(dispatcher, krx, otx, stop).await?;
    tagger.abort();
    let _ = fwd.await;
    let _ = feeder.join();
    let (summaries, analysis) = tokio::task::spawn_blocking(move || collector.join())
        .await
        .map_err(|e| io(&e))?
        .map_err(|_| ReplayError::Io("the compare thread panicked".into()))??;
    let _ = done_tx.send(true);
    if let Some(p) = progress {
        let _ = p.await;
    }

    let interrupted = report.stopped;
    for ((name, url), summary) in urls.iter().zip(&summaries) {
        let ctx = RunContext {
            run_id: format!("{}/{name}", folder.id),
            started_at: run::rfc3339(start_unix_us),
            target: url.clone(),
            speed: sched_opts.timing.speed(),
            rate: sched_opts.timing.rate(),
            intended_requests: intended.unwrap_or(report.sent),
            intended_duration_s: schedule.intended_duration_s(),
            interrupted,
            queued: report.queued,
            throttled: report.throttled,
            ..RunContext::default()
        };
        let card = scorecard::build(summary, &ctx, &[]);
        scorecard::write_run_files(&folder.dir.join(name), &card).map_err(|e| io(&e))?;
    }

    let load = |name: &str| diff::load(&folder.dir.join(name)).map_err(|e| io(&e));
    let (a, b) = (load("baseline")?, load("candidate")?);
    let latency = diff::diff(&a, &b, &opts.stats);
    let (mut endpoints, compliance) = analysis.finish();
    for e in &mut endpoints {
        if let Some(l) = latency.endpoints.iter().find(|l| l.endpoint == e.endpoint)
            && l.latency.len() >= 2
        {
            e.latency = Some(LatencyDelta {
                p50_ms: [l.latency[0].a_ms, l.latency[0].b_ms],
                p95_ms: [l.latency[1].a_ms, l.latency[1].b_ms],
                p95_delta_ms: l.latency[1].delta_ms,
                verdict: l.verdict,
            });
        }
    }
    let status_mismatches = endpoints.iter().map(|e| e.status_mismatches).sum();
    let body_mismatches = endpoints.iter().map(|e| e.body_mismatches).sum();
    let mut reasons = Vec::new();
    if status_mismatches > 0 {
        reasons.push(format!("{status_mismatches} status mismatches"));
    }
    if body_mismatches > 0 {
        reasons.push(format!("{body_mismatches} responses differ in real fields"));
    }
    // A leak is new personal data: detector by detector, more hits than the baseline has.
    let new_leaks: Vec<String> = compliance[1]
        .by_detector
        .iter()
        .filter_map(|(d, &n)| {
            let before = compliance[0].by_detector.get(d).copied().unwrap_or(0);
            (n > before).then(|| format!("{d} +{}", n - before))
        })
        .collect();
    if !new_leaks.is_empty() {
        reasons.push(format!(
            "the candidate's responses carry personal data the baseline's do not ({})",
            new_leaks.join(", ")
        ));
    }
    if latency.verdict == Verdict::Regressed {
        reasons.push("latency regressed".into());
    }
    let report_out = CompareReport {
        run_id: folder.id.clone(),
        dir: folder.dir.display().to_string(),
        targets: urls
            .iter()
            .map(|(n, u)| (n.to_string(), u.clone()))
            .collect(),
        requests: report.sent,
        interrupted,
        thresholds: opts.thresholds,
        endpoints,
        compliance,
        status_mismatches,
        body_mismatches,
        latency_verdict: latency.verdict,
        verdict: if reasons.is_empty() {
            "identical"
        } else {
            "different"
        },
        reasons,
        latency,
    };
    std::fs::write(folder.dir.join("comparison.json"), report_out.to_json())
        .and_then(|()| {
            std::fs::write(
                folder.dir.join("report.html"),
                html::render(&view::View::of(&report_out), &a, &b),
            )
        })
        .map_err(|e| io(&e))?;
    Ok(report_out)
}

/// The one owner of the taps and the analysis: joins every side's answer with the
/// dispatcher's outcome for the same request, records one outcome per side, and compares.
fn collect(
    mut taps: Vec<Tap>,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    sides: usize,
    thresholds: Thresholds,
) -> Result<(Vec<TapSummary>, Analysis), ReplayError> {
    let mut pending: std::collections::HashMap<u64, Vec<SideReply>> = Default::default();
    let mut analysis = Analysis::new(sides, thresholds);
    let mut failed = None;
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Side(s) => pending.entry(s.seq).or_default().push(s),
            Msg::Done(o) => {
                let mut parts = pending.remove(&o.seq).unwrap_or_default();
                parts.sort_by_key(|p| p.side);
                for (i, tap) in taps.iter_mut().enumerate() {
                    let mut side = o.clone();
                    if let Some(p) = parts.iter().find(|p| p.side == i) {
                        side.done_us = p.done_us.max(side.sent_us);
                        side.status = p.reply.status;
                        side.error = p.reply.error;
                        side.bytes = p.reply.bytes;
                        side.body_sha256 = p.reply.body_sha256;
                    }
                    if failed.is_none()
                        && let Err(e) = tap.record(&side)
                    {
                        failed = Some(e);
                    }
                }
                if parts.len() == sides {
                    let key = parts[0].request_key;
                    let ans: Vec<Answer<'_>> = parts
                        .iter()
                        .map(|p| Answer {
                            status: p.reply.status,
                            body: &p.body,
                        })
                        .collect();
                    analysis.record(&diff::endpoint_key(&o), key, &ans);
                }
            }
        }
    }
    if let Some(e) = failed {
        return Err(ReplayError::Io(format!("the metrics tap failed: {e}")));
    }
    let mut summaries = Vec::new();
    for tap in taps {
        summaries.push(
            tap.finish()
                .map_err(|e| ReplayError::Io(format!("the metrics tap failed: {e}")))?,
        );
    }
    Ok((summaries, analysis))
}
