//! `esr demo`: the pipeline on the embedded sample trace. For now: ingest with scrubbing
//! (an ephemeral key) and inspect.

use std::fmt::Write;
use std::path::PathBuf;

use esr::ingest::{IngestOptions, ingest, inspect};
use esr::scrub::{Policy, ScrubKey, Scrubber};

use super::Exit;
use super::inspect::emit;

/// The sample log shipped in `traces/`, embedded so the demo runs from any folder.
const SAMPLE_CSV: &str = include_str!("../../traces/flood_rerate.csv");

/// Run the whole job on the embedded sample (today: ingest with scrubbing, and inspect).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data folder; the demo writes into `DATA/demo/`.
    #[arg(long, env = "ESR_DATA", default_value = "esr-data")]
    pub data: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let dir = args.data.join("demo");
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create `{}`: {e}", dir.display()))?;
    let raw = dir.join("flood_rerate.csv");
    std::fs::write(&raw, SAMPLE_CSV)
        .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", raw.display()))?;
    let trace = dir.join("trace.parquet");
    let mut s = String::new();
    let _ = writeln!(
        s,
        "== esr demo: flood-zone re-rating rehearsal (synthetic sample, no real personal data)"
    );
    let _ = writeln!(
        s,
        "== 1. ingest and scrub {} -> {}",
        raw.display(),
        trace.display()
    );
    let _ = writeln!(
        s,
        "   default policy, ephemeral key (pseudonyms do not link to any other run)"
    );
    emit(&s);
    let scrubber = Scrubber::new(Policy::default(), &ScrubKey::ephemeral());
    let handle = scrubber.report_handle();
    let report = ingest(
        std::slice::from_ref(&raw),
        &trace,
        &IngestOptions::default(),
        Box::new(scrubber),
    )?;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "   rows in {} = out {} + rejected {}",
        report.rows_in, report.rows_out, report.rows_rejected
    );
    if let Some(r) = handle.lock().ok().and_then(|mut r| r.take()) {
        s.push_str(&r.summary());
    }
    let _ = writeln!(s, "== 2. inspect {}", trace.display());
    s.push_str(&super::inspect::text(&inspect(&trace, 10)?));
    emit(&s);
    Ok(Exit::Ok)
}
