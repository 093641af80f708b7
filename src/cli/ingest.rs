//! `esr ingest INPUT... -o TRACE`.

use std::path::PathBuf;

use anyhow::Context;
use esr::ingest::{
    Format, IngestOptions, IngestReport, OnError, ReadOptions, TsUnit, ingest, parse_map,
};
use esr::scrub::{ScrubReport, Scrubber};
use esr::trace::{NoTransform, RecordTransform};
use std::sync::{Arc, Mutex};

use super::Exit;

/// Read request logs, map and validate them, sort by time and write one canonical trace.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input files (CSV, TSV, Parquet, JSON lines, Apache/nginx logs, HAR; `.gz` for text).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// The trace to write (Parquet).
    #[arg(short, long, value_name = "TRACE")]
    pub output: PathBuf,
    /// Input format: auto, csv, parquet, jsonl, clf or har.
    #[arg(long, default_value = "auto")]
    pub format: Format,
    /// Column mapping `trace_column=input_column,...` (ts, method, path, host, headers, body,
    /// status, latency_ms, session); common names are recognized without it.
    #[arg(long, value_name = "MAP")]
    pub map: Vec<String>,
    /// CSV field delimiter (one character; `\t` for tab).
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
    /// Unit of epoch timestamps: s, ms, us or ns (detected from the magnitude when absent).
    #[arg(long, value_name = "UNIT")]
    pub ts_unit: Option<TsUnit>,
    /// What to do with a bad row: fail (stop, exit 2) or quarantine (write
    /// TRACE.rejects.csv and go on).
    #[arg(long, default_value = "fail", value_name = "POLICY")]
    pub on_error: OnError,
    /// Write the trace without scrubbing personal data. The output is NOT anonymized.
    #[arg(long)]
    pub no_scrub: bool,
    /// Scrub policy (TOML); without it the safe default policy applies
    /// (`esr scrub --print-default-policy` prints it).
    #[arg(long, conflicts_with = "no_scrub")]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub key: super::scrub::KeyArgs,
    /// Memory for sorting, in MiB, before sorted runs spill to disk.
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    pub sort_memory_mb: usize,
    /// Sort memory in bytes (overrides `--sort-memory-mb`; lets tests force spilling).
    #[arg(long, hide = true)]
    pub sort_memory_bytes: Option<usize>,
    /// Threads that scrub. 0 (the default): one per core, at most 2. Two lanes shorten the
    /// wall time when a second core is free and stay under the 256 MB memory bound (measured);
    /// each lane holds caches of its own, so more than 2 run only when asked for. 1 scrubs on
    /// one thread. The output is the same for any count.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub scrub_threads: usize,
}

/// Where the scrubber publishes its report once the trace is written.
type ReportHandle = Arc<Mutex<Option<ScrubReport>>>;

/// The per-record transform for this run. The only place that decides about scrubbing:
/// scrubbing is the default, and needs a key.
fn transform(args: &Args) -> anyhow::Result<(Box<dyn RecordTransform>, Option<ReportHandle>)> {
    if args.no_scrub {
        return Ok((Box::new(NoTransform), None));
    }
    let policy = super::scrub::load_policy(args.policy.as_deref())?;
    let key = args.key.key()?;
    let scrubber = Scrubber::new(policy, &key);
    let handle = scrubber.report_handle();
    Ok((Box::new(scrubber), Some(handle)))
}

fn delimiter(d: &Option<String>) -> anyhow::Result<Option<u8>> {
    Ok(match d.as_deref() {
        None => None,
        Some("\\t") | Some("tab") => Some(b'\t'),
        Some(s) if s.len() == 1 => Some(s.as_bytes()[0]),
        Some(s) => anyhow::bail!("`--delimiter {s}`: give one ASCII character, or `\\t`"),
    })
}

/// Resolves the arguments into library options.
pub fn options(args: &Args) -> anyhow::Result<IngestOptions> {
    let mb = args.sort_memory_mb.max(1) * 1024 * 1024;
    Ok(IngestOptions {
        read: ReadOptions {
            format: args.format,
            map: parse_map(&args.map)?,
            delimiter: delimiter(&args.delimiter)?,
            ts_unit: args.ts_unit,
        },
        on_error: args.on_error,
        sort_budget: args.sort_memory_bytes.unwrap_or(mb),
        spill_dir: None,
        stream: true,
        transform_threads: args.scrub_threads,
    })
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let (transform, scrub_report) = transform(&args)?;
    let opts = options(&args)?;
    let report = ingest(&args.inputs, &args.output, &opts, transform)
        .with_context(|| format!("ingest into `{}` failed", args.output.display()))?;
    super::inspect::emit(&report_text(&report, &args));
    if let Some(handle) = scrub_report {
        let scrubbed = handle.lock().ok().and_then(|mut r| r.take());
        if let Some(r) = scrubbed {
            super::scrub::write_report(&r, &args.output)?;
        }
    }
    Ok(Exit::Ok)
}

/// The summary printed after an ingest.
fn report_text(r: &IngestReport, args: &Args) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for c in &r.inputs {
        let _ = writeln!(
            s,
            "  {} ({}): {} rows, {} rejected",
            c.path.display(),
            c.format,
            c.rows_in,
            c.rejected
        );
    }
    let _ = writeln!(s, "wrote {} ({} rows)", args.output.display(), r.rows_out);
    let _ = writeln!(
        s,
        "rows in {} = out {} + rejected {}",
        r.rows_in, r.rows_out, r.rows_rejected
    );
    let unit = match (r.ts_unit, args.ts_unit) {
        (Some(u), None) => {
            format!("epoch {u} (detected from the values; set --ts-unit to override)")
        }
        (_, Some(u)) => format!("epoch {u} (given)"),
        _ => String::new(),
    };
    if !unit.is_empty() {
        let _ = writeln!(s, "timestamps: {unit}");
    }
    if r.spilled_runs > 0 {
        let _ = writeln!(s, "sorted with {} runs spilled to disk", r.spilled_runs);
    }
    if let Some(p) = &r.rejects {
        let _ = writeln!(s, "rejected rows listed in {}", p.display());
    }
    if args.no_scrub {
        let _ = writeln!(
            s,
            "WARNING: --no-scrub: this trace is NOT anonymized; it holds the personal data of \
             the input. Do not share or replay it outside the place the raw logs may live."
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        args: Args,
    }

    fn lanes(argv: &[&str], cores: usize) -> usize {
        let cmd =
            Cmd::try_parse_from([&["esr", "in.csv", "-o", "out.parquet"], argv].concat()).unwrap();
        let opts = options(&cmd.args).unwrap();
        esr::ingest::lanes_for(opts.transform_threads, cores)
    }

    #[test]
    fn scrubbing_takes_two_lanes_by_default_on_two_cores_and_one_when_asked() {
        assert_eq!(lanes(&[], 2), 2);
        assert_eq!(lanes(&[], 1), 1);
        assert_eq!(lanes(&[], 16), 2);
        assert_eq!(lanes(&["--scrub-threads", "1"], 2), 1);
        assert_eq!(lanes(&["--scrub-threads", "4"], 2), 4);
    }
}
