//! `esr demo`: the whole job on the embedded sample, with no set-up: ingest the raw log with
//! scrubbing under an ephemeral key, inspect it, check the trace for residual personal data, start the
//! `hms` stubs in-process on `127.0.0.1:0` (with the `ACH_DOWN` fault scheduled), replay at
//! 10x, and print the scorecard and the path of `report.html`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use esr::ingest::{IngestOptions, ingest, inspect};
use esr::replay::{self, ReplayOptions, ScheduleOptions, Timing};
use esr::scorecard::Threshold;
use esr::scrub::check::{CheckOptions, check_trace};
use esr::scrub::{Policy, ScrubKey, Scrubber};
use esr::stub::{StubOptions, StubServer, hms};

use super::Exit;
use super::inspect::emit;

/// The sample log shipped in `traces/`, embedded so the demo runs from any folder.
const SAMPLE_CSV: &str = include_str!("../../traces/flood_rerate.csv");

/// The demo's speed-up: the sample's ~9.5 minutes replay in under a minute.
const SPEED: f64 = 10.0;

/// The demo's pass/fail rules.
const THRESHOLDS: [&str; 2] = ["p95<1s", "success>=95%"];

/// Run the whole job on the embedded sample: ingest + scrub, check, stubs, replay, scorecard.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data folder; the demo writes its trace into `DATA/demo/` and its run into `DATA/runs/`.
    #[arg(long, env = "ESR_DATA", default_value = "esr-data")]
    pub data: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let dir = args.data.join("demo");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let raw = dir.join("flood_rerate.csv");
    std::fs::write(&raw, SAMPLE_CSV)
        .with_context(|| format!("cannot write `{}`", raw.display()))?;
    let trace = dir.join("trace.parquet");
    emit("== esr demo: flood-zone re-rating rehearsal (synthetic sample, no real personal data)\n");

    // 1. Ingest with scrubbing under a key that lives only for this run.
    emit(&format!(
        "== 1. ingest + scrub {} -> {} (ephemeral key)\n",
        raw.display(),
        trace.display()
    ));
    let key = ScrubKey::ephemeral();
    let scrubber = Scrubber::new(Policy::default(), &key);
    let published = scrubber.report_handle();
    let report = ingest(
        std::slice::from_ref(&raw),
        &trace,
        &IngestOptions::default(),
        Box::new(scrubber),
    )?;
    emit(&format!(
        "   rows in {} = out {} + rejected {}\n",
        report.rows_in, report.rows_out, report.rows_rejected
    ));
    if let Some(r) = published.lock().ok().and_then(|mut r| r.take()) {
        super::scrub::write_report(&r, &trace)?;
    }

    emit(&format!("== 2. inspect {}\n", trace.display()));
    emit(&super::inspect::text(&inspect(&trace, 10)?));

    // 3. The ESQ check: residual personal data in the scrubbed trace.
    emit(&format!("== 3. check {}\n", trace.display()));
    let check = check_trace(&trace, &CheckOptions::default(), None)?;
    emit(&check.to_text(&trace));

    // 4 + 5. Stubs and replay share one clock start, so the fault lands where scheduled.
    let thresholds = THRESHOLDS
        .iter()
        .map(|t| Threshold::parse(t).map_err(anyhow::Error::from))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let rt = super::runtime(None)?;
    let result = rt.block_on(async {
        let start = replay::run::unix_now_us() + 500_000;
        let mut config = hms();
        // ACH_DOWN from minute 5 to 6 of the original timeline (30 s to 36 s at 10x).
        config.schedule_fault(
            "ACH_DOWN",
            Duration::from_secs(300),
            Duration::from_secs(60),
        )?;
        let stub = StubServer::spawn_with(
            config,
            StubOptions {
                speed: SPEED,
                start_unix_us: Some(start),
                source: "<preset hms>".into(),
                ..Default::default()
            },
        )
        .await?;
        emit(&format!(
            "== 4. stubs: preset hms on {} (ACH_DOWN scheduled at 5m for 1m, scaled by {SPEED}x)\n",
            stub.url()
        ));
        emit(&format!(
            "== 5. replay at {SPEED}x against {} (about a minute)\n",
            stub.url()
        ));
        let opts = ReplayOptions {
            trace: trace.clone(),
            target: stub.url(),
            host_map: vec![],
            allow_hosts: vec![],
            schedule: ScheduleOptions {
                timing: Timing::Scaled { speed: SPEED },
                looped: false,
                duration_us: None,
                shard: None,
            },
            start_at_us: Some(start),
            max_rps: None,
            concurrency: 256,
            timeout: Duration::from_secs(10),
            drain: Duration::from_secs(5),
            thresholds,
            data: args.data.clone(),
            metrics_listen: None,
            command: std::env::args().collect(),
            progress: true,
            compliance_hits: check.residual.total,
            run_folder: None,
            watch: None,
        };
        let stop = super::replay::stop_on_signals(opts.drain);
        let result = replay::replay(opts, stop).await;
        stub.shutdown().await;
        anyhow::Ok(result?)
    })?;
    emit("== 6. scorecard\n");
    Ok(super::replay::report(&result))
}
