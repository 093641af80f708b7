//! `esr diff RUN_A RUN_B`: compare two runs with bootstrap confidence intervals, a KS test and
//! tests of proportions, and give a verdict.

use std::path::PathBuf;

use anyhow::Context;

use super::Exit;
use esr::diff::{self, DiffOptions, DiffReport, Verdict};

/// Output format of `esr diff` and `esr compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text.
    Text,
    /// Pretty JSON.
    Json,
    /// A self-contained HTML page (written with --output, or printed).
    Html,
}

/// When `esr diff` exits 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Never: the verdict is printed, the exit is 0.
    Never,
    /// When the overall verdict is "regressed".
    Regressed,
    /// When anything changed (regressed or improved).
    Changed,
}

/// Compare two runs: per-endpoint p50/p95/p99 deltas with bootstrap confidence intervals, a
/// two-sample KS test, success-rate and status-mix changes, and a verdict.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run A (the baseline): a run id in --data (RUN-0001, or 1) or a run folder.
    pub run_a: String,
    /// Run B (the candidate), the same way.
    pub run_b: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to this file instead of printing it.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 1 when the overall verdict is this.
    #[arg(long, value_enum, default_value_t = FailOn::Never)]
    pub fail_on: FailOn,
    /// Diff runs of different traces anyway.
    #[arg(long)]
    pub force: bool,
    /// Seed of the bootstrap: the same seed gives the same intervals.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub resamples: usize,
    /// Significance level of the tests.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Smallest latency change that counts, as a share of A's value, e.g. 5%.
    #[arg(long, default_value = "5%", value_parser = parse_percent)]
    pub min_effect: f64,
    /// Smallest latency change that counts, in ms.
    #[arg(long, default_value_t = 1.0, value_name = "MS")]
    pub min_effect_ms: f64,
    /// Fewer answered requests than this on a side gives "too little data".
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub min_samples: usize,
    /// The data folder for runs.
    #[arg(long, env = "ESR_DATA", default_value = "./esr-data")]
    pub data: PathBuf,
}

/// Parses `5%` or `0.05` as a share.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("`{s}` is not a share; write 5% or 0.05"))?;
    if !(0.0..=10.0).contains(&v) {
        return Err(format!("`{s}` is out of range; write 5% or 0.05"));
    }
    Ok(v)
}

impl Args {
    fn options(&self) -> anyhow::Result<DiffOptions> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            anyhow::bail!(
                "`--alpha {}` must be between 0 and 1, e.g. 0.05",
                self.alpha
            );
        }
        if self.resamples == 0 {
            anyhow::bail!("`--resamples 0` gives no interval; use 1000");
        }
        Ok(DiffOptions {
            seed: self.seed,
            rounds: self.resamples,
            alpha: self.alpha,
            min_effect_rel: self.min_effect,
            min_effect_ms: self.min_effect_ms,
            min_samples: self.min_samples,
        })
    }
}

/// Runs `esr diff`.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let opts = args.options()?;
    let a = diff::load(&diff::locate(&args.run_a, &args.data)?)?;
    let b = diff::load(&diff::locate(&args.run_b, &args.data)?)?;
    if !args.force {
        diff::check_same_trace(&a, &b)?;
    }
    let report = diff::diff(&a, &b, &opts);
    let text = match args.format {
        Format::Text => report.render_text(),
        Format::Json => report.to_json(),
        Format::Html => report.render_html(&a, &b),
    };
    emit(&text, args.output.as_deref())?;
    Ok(exit_for(&report, args.fail_on))
}

/// Prints `text`, or writes it to `output` and says where.
pub fn emit(text: &str, output: Option<&std::path::Path>) -> anyhow::Result<()> {
    match output {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("cannot write `{}`", p.display()))?;
            println!("wrote {}", p.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn exit_for(r: &DiffReport, fail_on: FailOn) -> Exit {
    let failed = match fail_on {
        FailOn::Never => false,
        FailOn::Regressed => r.verdict == Verdict::Regressed,
        FailOn::Changed => matches!(r.verdict, Verdict::Regressed | Verdict::Improved),
    };
    if failed { Exit::GateFailed } else { Exit::Ok }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percents_parse() {
        assert_eq!(parse_percent("5%").unwrap(), 0.05);
        assert_eq!(parse_percent("0.1").unwrap(), 0.1);
        assert!(parse_percent("five").is_err());
        assert!(parse_percent("-5%").is_err());
    }
}
