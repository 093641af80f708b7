//! `esr scorecard RUN`: re-renders a stored run's scorecard without replaying.

use std::path::{Path, PathBuf};

use anyhow::Context;
use esr::scorecard::{self, REPORT_FILE, SCORECARD_FILE, Scorecard, Threshold};

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
    let path = dir.join(SCORECARD_FILE);
    if !path.exists() {
        anyhow::bail!(
            "`{}` has no `{SCORECARD_FILE}`: the run did not finish writing its scorecard; \
             replay it again",
            dir.display()
        );
    }
    let mut card = Scorecard::read(&path)?;
    if !args.thresholds.is_empty() {
        scorecard::judge(&mut card, &args.thresholds);
    }
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
    if args.format == Format::Html && args.output.is_none() && !dir.join(REPORT_FILE).exists() {
        tracing::info!("the run folder has no {REPORT_FILE}; write one with -o");
    }
    if !args.thresholds.is_empty() && !card.passed() {
        return Ok(Exit::GateFailed);
    }
    Ok(Exit::Ok)
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
