//! `esr check TRACE`: the ESQ check. Exit 1 on any residual hit, leaked raw value, recovered
//! pseudonym or (with `--quasi`) rows in groups smaller than k.

use std::path::PathBuf;

use esr::ingest::{Format as InputFormat, ReadOptions, parse_map, read_input};
use esr::scrub::check::{Against, CheckOptions, check_trace, parse_range};

use super::Exit;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Audit a trace for residual personal data (exit 1 on any hit).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The trace to check.
    trace: PathBuf,
    /// The raw input the trace was made from: prove that none of its sensitive values (detected
    /// values, identifier columns, credentials) survives anywhere in the trace.
    #[arg(long, value_name = "RAW")]
    against: Option<PathBuf>,
    /// Quasi-identifier columns for a k-anonymity figure, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "COLS")]
    quasi: Vec<String>,
    /// Smallest acceptable group size over the `--quasi` columns.
    #[arg(long, default_value_t = 5)]
    k: u64,
    /// Extra IPv4 range for the reversal self-test to enumerate (CIDR, repeatable).
    #[arg(long = "reversal-range", value_name = "CIDR")]
    reversal_range: Vec<String>,
    /// Format of the raw input: auto, csv, parquet, jsonl, clf or har.
    #[arg(long, default_value = "auto", value_name = "FORMAT")]
    against_format: InputFormat,
    /// Column mapping of the raw input, as for `esr ingest --map`.
    #[arg(long, value_name = "MAP")]
    map: Vec<String>,
    /// Policy that says which raw columns and headers hold identifiers (for `--against`).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// How many findings of each kind to list (all are counted).
    #[arg(long, default_value_t = 50)]
    max_listed: usize,
}

pub fn run(a: Args) -> anyhow::Result<Exit> {
    let mut opts = CheckOptions {
        quasi: a.quasi.clone(),
        k: a.k,
        max_listed: a.max_listed,
        ..Default::default()
    };
    for r in &a.reversal_range {
        opts.reversal_ranges
            .push(parse_range(r).map_err(|m| anyhow::anyhow!("--reversal-range {m}"))?);
    }
    let mut against = match &a.against {
        Some(raw) => {
            let read = ReadOptions {
                format: a.against_format,
                map: parse_map(&a.map)?,
                ..Default::default()
            };
            Some(load_raw(raw, &read, a.policy.as_deref())?)
        }
        None => None,
    };
    let report = check_trace(&a.trace, &opts, against.as_mut())?;
    match a.format {
        Format::Text => print!("{}", report.to_text(&a.trace)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(if report.passed {
        Exit::Ok
    } else {
        Exit::GateFailed
    })
}

/// Reads the raw input (any format `esr ingest` reads) and collects its sensitive values. Bad
/// rows are skipped and counted: they never reach a trace.
fn load_raw(
    raw: &std::path::Path,
    read: &ReadOptions,
    policy: Option<&std::path::Path>,
) -> anyhow::Result<Against> {
    let policy = super::scrub::load_policy(policy)?;
    let reader = read_input(raw, read)?;
    let mut against = Against::new(policy, reader.extra_columns());
    let mut skipped = 0u64;
    for row in reader {
        match row {
            Ok(rec) => against.add(&rec),
            Err(e) if e.fatal => return Err(e.into()),
            Err(_) => skipped += 1,
        }
    }
    if skipped > 0 {
        eprintln!(
            "note: {skipped} rows of `{}` could not be read and were not searched for",
            raw.display()
        );
    }
    against.prepare();
    Ok(against)
}
