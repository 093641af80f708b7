//! The ESQ check: proves a written trace clean, or lists what is left.
//!
//! Takes a trace (and optionally the raw input it came from) and gives a [`CheckReport`]:
//! residual detector hits per column, values of the raw input that survive anywhere in the
//! trace (`--against`), how many IPv4 pseudonyms an attacker without the key recovers by
//! enumeration, and a k-anonymity figure over named quasi-identifier columns. Streams the trace
//! once; memory grows with the distinct values it must remember, not with rows.
//!
//! Must never: quote a value. Findings carry row, column, detector and a masked excerpt.

mod against;
mod kanon;
mod needles;
mod render;
mod reversal;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

pub use against::Against;
pub use kanon::KAnonymity;
pub use reversal::{DEFAULT_RANGES, Reversal, parse_range};

use super::detect::{Detector, Hit};
use super::rewrite::percent_decode;
use crate::trace::{TraceError, TraceReader, TraceRecord};

/// What to check besides the residual scan.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Quasi-identifier columns for the k-anonymity figure (none: skipped).
    pub quasi: Vec<String>,
    /// Smallest acceptable group size.
    pub k: u64,
    /// IPv4 ranges the reversal self-test enumerates, as (network, prefix length).
    pub reversal_ranges: Vec<(std::net::Ipv4Addr, u8)>,
    /// How many findings of each kind are listed (all are counted).
    pub max_listed: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            quasi: Vec::new(),
            k: 5,
            reversal_ranges: DEFAULT_RANGES.to_vec(),
            max_listed: 50,
        }
    }
}

/// One finding: where, what, and a masked excerpt (never the value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Row, counting from 1.
    pub row: u64,
    /// Column name.
    pub column: String,
    /// Detector name, or what the leaked value was in the raw input.
    pub detector: String,
    /// The value masked: `j***@***.com`, `4***11`.
    pub excerpt: String,
}

/// Counts and the first findings of one kind of problem.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Findings {
    /// All findings.
    pub total: u64,
    /// Findings per column and detector.
    pub per_column: BTreeMap<String, BTreeMap<String, u64>>,
    /// The first findings, in row order.
    pub listed: Vec<Finding>,
}

impl Findings {
    fn add(&mut self, max: usize, row: u64, column: &str, detector: &str, excerpt: String) {
        self.total += 1;
        *self
            .per_column
            .entry(column.to_string())
            .or_default()
            .entry(detector.to_string())
            .or_default() += 1;
        if self.listed.len() < max {
            self.listed.push(Finding {
                row,
                column: column.to_string(),
                detector: detector.to_string(),
                excerpt,
            });
        }
    }
}

/// The result of `esr check`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Rows checked.
    pub rows: u64,
    /// True when the trace records a scrub (policy digest and key id in its metadata).
    pub scrubbed: bool,
    /// The scrub key's id from the trace's metadata.
    pub key_id: Option<String>,
    /// Residual detector hits.
    pub residual: Findings,
    /// Values of the raw input found in the trace (with `--against`).
    pub leaks: Option<LeakSummary>,
    /// The reversal self-test.
    pub reversal: Reversal,
    /// k-anonymity over the quasi-identifier columns (with `--quasi`).
    pub k_anonymity: Option<KAnonymity>,
    /// True when nothing failed.
    pub passed: bool,
}

/// The leak proof's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct LeakSummary {
    /// Distinct sensitive values of the raw input searched for (ASCII case ignored).
    pub values_searched: u64,
    /// Distinct values of those found in the trace (`survivors` counts every find).
    pub values_found: u64,
    /// Distinct sensitive values too short to search for without noise (under 6 bytes).
    pub too_short: u64,
    /// Values found in the trace.
    pub survivors: Findings,
    /// Values found only inside the keyed hex of esr's own pseudonyms, by chance; not leaks,
    /// and not counted as survivors.
    pub by_chance: Findings,
}

impl CheckReport {
    /// The report as text for a terminal.
    pub fn to_text(&self, trace: &Path) -> String {
        render::text(self, trace)
    }
}

/// The text columns of a record, by name, with the body as (lossy) text.
pub(crate) fn text_fields<'a>(
    r: &'a TraceRecord,
    extra: &'a [String],
) -> impl Iterator<Item = (&'a str, Cow<'a, str>)> + 'a {
    let fixed = [
        ("path", Some(Cow::Borrowed(r.path.as_str()))),
        ("host", r.host.as_deref().map(Cow::Borrowed)),
        ("headers", r.headers.as_deref().map(Cow::Borrowed)),
        ("body", r.body.as_deref().map(String::from_utf8_lossy)),
        ("session", r.session.as_deref().map(Cow::Borrowed)),
    ];
    fixed
        .into_iter()
        .chain(
            extra
                .iter()
                .zip(&r.extra)
                .map(|(n, v)| (n.as_str(), v.as_deref().map(Cow::Borrowed))),
        )
        .filter_map(|(n, v)| v.map(|v| (n, v)))
}

/// Detector hits in a value, percent-decoded first when it has escapes. Returns the text the
/// hits index into.
pub(crate) fn scan_value(v: &str, hits: &mut Vec<Hit>) -> Option<String> {
    hits.clear();
    if v.contains('%')
        && let Some((d, _)) = percent_decode(v)
    {
        super::automaton::shared().scan(&d, hits);
        return Some(d);
    }
    super::automaton::shared().scan(v, hits);
    None
}

/// A masked excerpt of a value: enough to find it again in the source, never enough to read.
pub fn mask_excerpt(d: Option<Detector>, v: &str) -> String {
    let first: String = v.chars().take(1).collect();
    if d == Some(Detector::Email)
        && let Some((_, domain)) = v.rsplit_once('@')
    {
        let tld = domain.rsplit_once('.').map_or("", |(_, t)| t);
        return format!("{first}***@***.{tld}");
    }
    let n = v.chars().count();
    if n >= 8 {
        let last: String = v.chars().skip(n - 2).collect();
        format!("{first}***{last}")
    } else {
        format!("{first}***")
    }
}

/// Runs the check on the trace at `path`; `against` is the prepared leak proof, if any.
pub fn check_trace(
    path: &Path,
    opts: &CheckOptions,
    mut against: Option<&mut Against>,
) -> Result<CheckReport, CheckError> {
    let reader = TraceReader::open(path)?;
    let meta = reader.meta().clone();
    let extra = reader.extra_columns().to_vec();
    let mut kanon = if opts.quasi.is_empty() {
        None
    } else {
        Some(KAnonymity::new(&opts.quasi, &extra, opts.k).map_err(CheckError::Usage)?)
    };
    let mut residual = Findings::default();
    let mut rev = reversal::Collector::default();
    let mut hits = Vec::new();
    let mut rows = 0u64;
    for rec in reader.records()? {
        let rec = rec?;
        rows += 1;
        for (col, v) in text_fields(&rec, &extra) {
            let decoded = scan_value(&v, &mut hits);
            let text = decoded.as_deref().unwrap_or(&v);
            for h in &hits {
                let excerpt = mask_excerpt(Some(h.detector), &text[h.span()]);
                residual.add(opts.max_listed, rows, col, h.detector.name(), excerpt);
            }
            rev.observe(col, &v);
            if let Some(a) = against.as_deref_mut() {
                a.search(rows, col, &v, opts.max_listed);
            }
        }
        if let Some(k) = kanon.as_mut() {
            k.observe(&rec);
        }
    }
    let mut extra_ips = Vec::new();
    if let Some(a) = against.as_deref() {
        extra_ips = a.ipv4_candidates();
    }
    let reversal = rev.run(&opts.reversal_ranges, &extra_ips);
    let leaks = against.map(|a| a.summary());
    let k_anonymity = kanon.map(KAnonymity::finish);
    let passed = residual.total == 0
        && leaks.as_ref().is_none_or(|l| l.survivors.total == 0)
        && reversal.recovered == 0
        && k_anonymity.as_ref().is_none_or(|k| k.rows_below_k == 0);
    Ok(CheckReport {
        rows,
        scrubbed: meta.is_scrubbed(),
        key_id: meta.key_id.clone(),
        residual,
        leaks,
        reversal,
        k_anonymity,
        passed,
    })
}

/// Errors of the check (the trace cannot be read, or the options name unknown columns).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error("{0}")]
    Usage(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_masked() {
        assert_eq!(
            mask_excerpt(Some(Detector::Email), "jane@example.com"),
            "j***@***.com"
        );
        assert_eq!(
            mask_excerpt(Some(Detector::Card), "4111111111111111"),
            "4***11"
        );
        assert_eq!(mask_excerpt(None, "abc"), "a***");
    }
}
