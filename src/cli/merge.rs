//! `esr merge RUN... -o DIR`: combines shard runs into one run folder.

use std::path::PathBuf;

use anyhow::Context;
use esr::merge::{self, Part};
use esr::scorecard::{self, Threshold};

use super::Exit;
use super::scorecard::resolve_run;

/// Output format of `esr merge` on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The merged scorecard, readable.
    Text,
    /// The merged `scorecard.json`.
    Json,
}

/// Merge the runs of `esr replay --shard K/N` workers into one run: HDR histograms merged
/// exactly, counts summed, thresholds judged on the whole.
///
/// Exits 2 for runs of different traces or overlapping shards; a missing shard is named and
/// the merge marked partial (exit 0 unless a threshold fails, then 1).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Shard runs: run ids (`RUN-0001`, looked up in DATA/runs/) or run folders.
    #[arg(required = true)]
    runs: Vec<String>,
    /// The merged run folder to create.
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
    /// The data folder holding `runs/`.
    #[arg(long, env = "ESR_DATA", default_value = "esr-data")]
    data: PathBuf,
    /// Judge the merged run against this threshold (repeatable), e.g. `p95<500ms`; by default
    /// the thresholds the shards were run with.
    #[arg(long = "threshold", value_name = "THRESHOLD")]
    thresholds: Vec<Threshold>,
    /// What to print.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Runs `esr merge`.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let parts = args
        .runs
        .iter()
        .map(|r| Ok(Part::read(&resolve_run(r, &args.data)?)?))
        .collect::<anyhow::Result<Vec<Part>>>()?;
    let coverage = merge::check(&parts)?;
    if coverage.partial() {
        tracing::warn!(
            "partial merge: {} of {} shards given, {}",
            coverage.present.len(),
            coverage.count,
            coverage.describe_missing()
        );
    }
    let merged = merge::merge_into(&parts, &args.output)?;
    let thresholds = if args.thresholds.is_empty() {
        &merged.part_thresholds[..]
    } else {
        &args.thresholds[..]
    };
    let mut card = scorecard::build(&merged.summary, &merged.ctx, thresholds);
    let mut notes = vec![card.notes.clone()];
    notes.extend(merge::notes(&parts, &merged.coverage));
    card.notes = notes.join("; ");
    scorecard::write_run_files(&args.output, &card)?;
    let command: Vec<String> = std::env::args().collect();
    let manifest = merge::manifest(&parts, &merged, &command);
    let path = args.output.join("run.json");
    std::fs::write(&path, serde_json::to_string_pretty(&manifest)? + "\n")
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    let text = match args.format {
        Format::Text => card.render_text(),
        Format::Json => card.to_json() + "\n",
    };
    print!("{text}");
    if !card.passed() {
        return Ok(Exit::GateFailed);
    }
    Ok(Exit::Ok)
}
