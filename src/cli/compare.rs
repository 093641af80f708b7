//! `esr compare TRACE --baseline URL --candidate URL [--baseline2 URL]`: one schedule sent to
//! both versions; statuses, JSON fields (noise filtered), responses' personal data, latency.

use std::path::PathBuf;

use super::Exit;
use super::diff::{Format, emit, parse_percent};
use super::replay::{TimingArgs, stop_on_signals};
use esr::compare::{self, CompareOptions, Thresholds};
use esr::diff::DiffOptions;
use esr::replay::ScheduleOptions;

/// Replay one schedule against a baseline and a candidate and diff their answers.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The trace to replay (written by `esr ingest`).
    pub trace: PathBuf,
    /// Base URL of the current version.
    #[arg(long)]
    pub baseline: String,
    /// Base URL of the new version.
    #[arg(long)]
    pub candidate: String,
    /// A second instance of the current version: fields that differ between the two
    /// baselines are noise, not regressions.
    #[arg(long)]
    pub baseline2: Option<String>,
    /// Numeric changes up to this share of the larger value are ignored, e.g. 1%.
    #[arg(long, default_value = "0", value_parser = parse_percent)]
    pub noise_relative: f64,
    /// Numeric changes up to this amount are ignored.
    #[arg(long, default_value_t = 0.0)]
    pub noise_absolute: f64,
    /// Exit 1 when the versions really differ.
    #[arg(long)]
    pub fail_on_diff: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to this file instead of printing it.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Timing and bounds (the same flags as `esr replay`).
    #[command(flatten)]
    pub timing: TimingArgs,
    /// Bytes of each response body kept for the field diff.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub body_limit: usize,
    /// Seed of the latency bootstrap.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also allow this non-loopback host as a target (repeatable).
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,
    /// The data folder for runs.
    #[arg(long, env = "ESR_DATA", default_value = "./esr-data")]
    pub data: PathBuf,
}

/// Runs `esr compare`.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let t = &args.timing;
    let opts = CompareOptions {
        trace: args.trace.clone(),
        baseline: args.baseline.clone(),
        candidate: args.candidate.clone(),
        baseline2: args.baseline2.clone(),
        allow_hosts: args.allow_hosts.clone(),
        schedule: ScheduleOptions {
            timing: t.timing()?,
            looped: false,
            duration_us: t.duration_us(),
            shard: None,
        },
        max_rps: t.max_rps,
        concurrency: t.concurrency()?,
        timeout: t.timeout,
        drain: t.drain,
        thresholds: Thresholds {
            relative: args.noise_relative,
            absolute: args.noise_absolute,
        },
        stats: DiffOptions {
            seed: args.seed,
            ..DiffOptions::default()
        },
        body_limit: args.body_limit,
        data: args.data.clone(),
        command: std::env::args().collect(),
        progress: true,
    };
    let rt = super::runtime(Some("esr-compare"))?;
    let drain = opts.drain;
    let report = rt.block_on(async {
        let stop = stop_on_signals(drain);
        compare::compare(opts, stop).await
    })?;
    let text = match args.format {
        Format::Text => report.render_text(),
        Format::Json => report.to_json(),
        Format::Html => report.render_html()?,
    };
    emit(&text, args.output.as_deref())?;
    Ok(if args.fail_on_diff && report.differs() {
        Exit::GateFailed
    } else {
        Exit::Ok
    })
}
