//! `esr scorecard RUN`: re-renders a stored run's scorecard without replaying.

use std::path::{Path, PathBuf};

use anyhow::Context;
use esr::scorecard::{self, RunContext, SCORECARD_FILE, Scorecard, Threshold};
use esr::tap::{self, METRICS_FILE};

use super::Exit;

/// Output format of `esr scorecard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A readable summary for the terminal.
    Text,
    /// The stored `scorecard.json`.
    Json,
    /// The self-contained HTML report.
    Html,
}

/// Print or write a stored run's scorecard (text, JSON or HTML), without replaying.
///
/// Exits 0 when the scorecard was rendered, whatever the run's verdict (the replay's exit code
/// was the gate). With `--threshold`, the stored run is judged again against the given
/// thresholds and a failure exits 1.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run id (`RUN-0001`, looked up in DATA/runs/) or the path of a run folder.
    run: String,
    /// The data folder holding `runs/`.
    #[arg(long, env = "ESR_DATA", default_value = "esr-data")]
    data: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Judge the stored run again against this threshold (repeatable), e.g. `p95<500ms`,
    /// `success>=97.5%`, `errors<1%`; replaces the thresholds it was run with.
    #[arg(long = "threshold", value_name = "THRESHOLD")]
    thresholds: Vec<Threshold>,
    /// Aggregate `metrics.parquet` again instead of reading `scorecard.json` (done anyway when
    /// the run has no `scorecard.json`, e.g. after a crash). Writes nothing into the run.
    #[arg(long)]
    rebuild: bool,
}

/// Finds the run folder: a path to a folder, or a run id under `data/runs/` (`RUN-7` and `7`
/// are read as `RUN-0007`).
pub fn resolve_run(run: &str, data: &Path) -> anyhow::Result<PathBuf> {
    let as_path = Path::new(run);
    if as_path.is_dir() {
        return Ok(as_path.to_path_buf());
    }
    let runs = data.join("runs");
    let mut candidates = vec![runs.join(run)];
    let digits = run.strip_prefix("RUN-").unwrap_or(run);
    if let Ok(n) = digits.parse::<u64>() {
        candidates.push(runs.join(format!("RUN-{n:04}")));
    }
    candidates
        .into_iter()
        .find(|c| c.is_dir())
        .with_context(|| {
            format!(
                "run `{run}` not found: it is neither a folder nor a run in `{}`; \
             pass a run id from `{}` or the path of a run folder (or set --data)",
                runs.display(),
                runs.display()
            )
        })
}

/// Runs `esr scorecard`.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let dir = resolve_run(&args.run, &args.data)?;
    if let Some(why) = esr::replay::run::failure(&dir) {
        anyhow::bail!(
            "run `{}` failed ({why}); a failed run has no scorecard: replay the trace again",
            dir.display()
        );
    }
    let path = dir.join(SCORECARD_FILE);
    let stored = if path.exists() {
        Some(Scorecard::read(&path)?)
    } else {
        None
    };
    let card = match stored {
        Some(mut card) if !args.rebuild => {
            if !args.thresholds.is_empty() {
                scorecard::judge(&mut card, &args.thresholds);
            }
            card
        }
        stored => rebuild(&dir, stored.as_ref(), &args.thresholds)?,
    };
    let text = match args.format {
        Format::Text => card.render_text(),
        Format::Json => card.to_json() + "\n",
        Format::Html => card.render_html(),
    };
    match &args.output {
        Some(out) => std::fs::write(out, text)
            .with_context(|| format!("cannot write `{}`", out.display()))?,
        None => write_stdout(&text)?,
    }
    if !args.thresholds.is_empty() && !card.passed() {
        return Ok(Exit::GateFailed);
    }
    Ok(Exit::Ok)
}

/// Builds the scorecard again from `metrics.parquet`, with the stored scorecard's context
/// (or what `run.json` tells) and its thresholds unless new ones are given.
fn rebuild(
    dir: &Path,
    stored: Option<&Scorecard>,
    thresholds: &[Threshold],
) -> anyhow::Result<Scorecard> {
    if !dir.join(METRICS_FILE).exists() {
        anyhow::bail!(
            "`{}` has neither a `{SCORECARD_FILE}` nor a `{METRICS_FILE}` to rebuild it from; \
             is it a run folder? Replay the trace again to get one",
            dir.display()
        );
    }
    let summary = tap::summarize_run(dir)?;
    let mut ctx = match stored {
        Some(card) => RunContext::of(card),
        None => context_from_manifest(dir),
    };
    if ctx.intended_requests == 0 {
        // Without the schedule's plan, the requests recorded are the best estimate.
        ctx.intended_requests = summary.counts.requests;
        if let (Some(a), Some(b)) = (summary.counts.first_due_us, summary.counts.last_due_us) {
            ctx.intended_duration_s = (b - a) as f64 / 1e6;
        }
    }
    let stored_thresholds: Vec<Threshold> = match (thresholds.is_empty(), stored) {
        (true, Some(card)) => card
            .thresholds
            .iter()
            .filter_map(|t| Threshold::parse(&t.threshold).ok())
            .collect(),
        _ => Vec::new(),
    };
    let use_thresholds = if thresholds.is_empty() {
        &stored_thresholds[..]
    } else {
        thresholds
    };
    let mut card = scorecard::build(&summary, &ctx, use_thresholds);
    // A scenario run keeps its plan; its actual figures are counted again from the rebuild.
    if let Some(sc) = stored.and_then(|c| c.scenario.clone()) {
        scorecard::attach_scenario(&mut card, sc, use_thresholds);
    }
    Ok(card)
}

/// What `run.json` (written by `esr replay`) says about the run; empty fields when absent.
fn context_from_manifest(dir: &Path) -> RunContext {
    let run_id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let manifest: serde_json::Value = std::fs::read_to_string(dir.join("run.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    RunContext {
        run_id: text(&manifest["run_id"]).unwrap_or(run_id),
        started_at: text(&manifest["started_at"]).unwrap_or_default(),
        target: text(&manifest["target"]).unwrap_or_default(),
        speed: manifest["timing"]["speed"].as_f64(),
        rate: manifest["timing"]["rate"].as_f64(),
        ..Default::default()
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("cannot write to stdout"),
    }
}
