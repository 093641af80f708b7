//! `esr inspect TRACE`.

use std::path::PathBuf;

use esr::ingest::{Inspection, inspect};

use super::Exit;

/// Show a trace's schema, size, time span, rate and top endpoints.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The trace to inspect.
    pub trace: PathBuf,
    /// Output format: text or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
    /// How many endpoints to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let i = inspect(&args.trace, args.top)?;
    if args.format == "json" {
        emit(&format!("{}\n", serde_json::to_string_pretty(&i)?));
    } else {
        emit(&text(&i));
    }
    Ok(Exit::Ok)
}

/// Writes to stdout; a closed pipe (`esr inspect T | head`) is not an error.
pub(super) fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The human-readable summary.
pub fn text(i: &Inspection) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "trace      {}", i.path);
    let _ = writeln!(s, "rows       {}", i.rows);
    let _ = writeln!(
        s,
        "scrubbed   {}",
        if i.scrubbed {
            "yes"
        } else {
            "NO (personal data may be present)"
        }
    );
    if let (Some(a), Some(b)) = (&i.first_ts, &i.last_ts) {
        let _ = writeln!(s, "time span  {a} .. {b} ({:.1} s)", i.span_s);
    }
    let _ = writeln!(
        s,
        "rate       mean {:.1} req/s, peak {} req/s{}",
        i.mean_rps,
        i.peak_rps,
        i.peak_at
            .as_ref()
            .map(|t| format!(" at {t}"))
            .unwrap_or_default()
    );
    let max = i.timeline_rps.iter().cloned().fold(0.0, f64::max);
    if max > 0.0 {
        let bars: String = i
            .timeline_rps
            .iter()
            .map(|v| {
                let levels = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
                levels[((v / max) * 7.0).round() as usize]
            })
            .collect();
        let _ = writeln!(s, "over time  {bars}  (max {max:.1} req/s)");
    }
    let _ = writeln!(s, "schema");
    for (n, t) in &i.schema {
        let _ = writeln!(s, "  {n:<14} {t}");
    }
    let _ = writeln!(s, "top endpoints");
    for e in &i.top_endpoints {
        let _ = writeln!(
            s,
            "  {:>8}  {:>5.1}%  {} {}",
            e.requests, e.share_pct, e.method, e.endpoint
        );
    }
    if i.personal_data.is_empty() {
        let _ = writeln!(s, "personal data: no column looks personal");
    } else {
        let _ = writeln!(s, "columns that look like personal data");
        for p in &i.personal_data {
            let mut why: Vec<String> = Vec::new();
            if p.by_name {
                why.push("by name".into());
            }
            for (k, n) in &p.seen {
                why.push(format!("{k} in {n}/{} rows", p.sniffed_rows));
            }
            let _ = writeln!(s, "  {:<14} {}", p.column, why.join(", "));
        }
    }
    let _ = writeln!(s, "metadata");
    for (k, v) in &i.metadata {
        let _ = writeln!(s, "  {k} = {v}");
    }
    s
}
