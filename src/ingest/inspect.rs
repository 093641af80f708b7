//! `esr inspect`: a trace's schema, size, time span, request rate, top endpoints, and the
//! columns that look like they hold personal data.
//!
//! The personal-data hints come from column names and from the scrubber's detectors run over
//! the first rows (esr's own pseudonyms do not count). Only counts and column names are
//! reported, never a value.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use arrow::array::{Array, BinaryArray, StringArray, TimestampMicrosecondArray};
use serde::Serialize;

use super::timestamp::format_rfc3339;
use crate::scrub::{Detector, scan};
use crate::trace::{COLUMNS, TraceError, TraceReader, fold_path};

/// Rows sniffed for personal data.
const SNIFF_ROWS: usize = 10_000;
/// Number of equal time slices in the rate timeline.
const SLICES: usize = 20;

/// The summary of a trace.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The trace file.
    pub path: String,
    /// Rows in the trace.
    pub rows: u64,
    /// Columns and their Arrow types, in file order.
    pub schema: Vec<(String, String)>,
    /// True when the trace went through the scrubber.
    pub scrubbed: bool,
    /// The `esr.*` metadata (key id, policy digest, ingest figures).
    pub metadata: BTreeMap<String, String>,
    /// First and last `ts`, RFC 3339 UTC.
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    /// Seconds between the first and the last request.
    pub span_s: f64,
    /// Rows per second over the span (the span counts at least one second).
    pub mean_rps: f64,
    /// The busiest whole second's request count, and when it was.
    pub peak_rps: u64,
    pub peak_at: Option<String>,
    /// Requests per second in equal slices of the span.
    pub timeline_rps: Vec<f64>,
    /// Most frequent endpoints (method and folded path), busiest first.
    pub top_endpoints: Vec<EndpointCount>,
    /// Columns that look like they hold personal data.
    pub personal_data: Vec<PiiHint>,
}

/// Requests to one endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointCount {
    pub method: String,
    pub endpoint: String,
    pub requests: u64,
    pub share_pct: f64,
}

/// Why a column looks like it holds personal data.
#[derive(Debug, Clone, Serialize)]
pub struct PiiHint {
    pub column: String,
    /// The column's name suggests personal data (or it is the session key).
    pub by_name: bool,
    /// Kinds seen in the sniffed rows, with the number of rows where each was seen.
    pub seen: BTreeMap<String, u64>,
    /// Rows sniffed.
    pub sniffed_rows: u64,
}

const PII_NAMES: [&str; 22] = [
    "email", "mail", "user", "ip", "addr", "name", "phone", "mobile", "ssn", "card", "pan",
    "session", "token", "auth", "cookie", "account", "dob", "birth", "zip", "postcode", "iban",
    "passport",
];

fn name_hint(col: &str) -> bool {
    let c = col.to_ascii_lowercase();
    c.split(|ch: char| !ch.is_ascii_alphanumeric()).any(|part| {
        PII_NAMES
            .iter()
            .any(|n| part == *n || (n.len() > 3 && part.contains(n)))
    })
}

/// Counts, once per value, each kind of personal data the scrubber's detectors find in it
/// (esr's own pseudonyms are not hits).
fn sniff(text: &str, seen: &mut BTreeMap<String, u64>) {
    let mut kinds: Vec<Detector> = scan(text).into_iter().map(|h| h.detector).collect();
    kinds.sort();
    kinds.dedup();
    for k in kinds {
        *seen.entry(k.name().to_string()).or_insert(0) += 1;
    }
}

/// Reads the whole trace (streaming) and summarizes it.
pub fn inspect(path: &Path, top: usize) -> Result<Inspection, TraceError> {
    let reader = TraceReader::open(path)?;
    let rows = reader.rows();
    let meta = reader.meta().clone();
    let schema: Vec<(String, String)> = reader
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .collect();
    let names: Vec<String> = schema.iter().map(|(n, _)| n.clone()).collect();
    let mut per_second: HashMap<i64, u64> = HashMap::new();
    let mut endpoints: HashMap<(String, String), u64> = HashMap::new();
    let mut seen: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); names.len()];
    let mut sniffed = 0u64;
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for batch in reader.batches(8192)? {
        let batch = batch?;
        let ts = batch
            .column(0)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .expect("checked on open");
        let method = batch
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("utf8");
        let path_col = batch
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("utf8");
        for i in 0..batch.num_rows() {
            let t = ts.value(i);
            first = first.min(t);
            last = last.max(t);
            *per_second.entry(t.div_euclid(1_000_000)).or_insert(0) += 1;
            let key = (method.value(i).to_string(), fold_path(path_col.value(i)));
            *endpoints.entry(key).or_insert(0) += 1;
        }
        // Sniff the text columns (and the body) of the first rows.
        let take = (SNIFF_ROWS as u64).saturating_sub(sniffed) as usize;
        let take = take.min(batch.num_rows());
        if take > 0 {
            for (c, col) in batch.columns().iter().enumerate().skip(1) {
                let any = col.as_any();
                for i in 0..take {
                    if let Some(a) = any.downcast_ref::<StringArray>() {
                        if !a.is_null(i) {
                            sniff(a.value(i), &mut seen[c]);
                        }
                    } else if let Some(a) = any.downcast_ref::<BinaryArray>()
                        && !a.is_null(i)
                    {
                        sniff(&String::from_utf8_lossy(a.value(i)), &mut seen[c]);
                    }
                }
            }
            sniffed += take as u64;
        }
    }
    let span_us = if rows > 0 { last - first } else { 0 };
    let span_s = span_us as f64 / 1e6;
    let mean_rps = rows as f64 / span_s.max(1.0);
    let (peak_sec, peak_rps) = per_second
        .iter()
        .max_by_key(|(s, c)| (**c, std::cmp::Reverse(**s)))
        .map(|(s, c)| (Some(*s), *c))
        .unwrap_or((None, 0));
    let mut timeline = [0u64; SLICES];
    if rows > 0 {
        for (s, c) in &per_second {
            let off = (s * 1_000_000 - first.div_euclid(1_000_000) * 1_000_000) as f64;
            let idx = ((off / (span_us.max(1) as f64)) * SLICES as f64) as usize;
            timeline[idx.min(SLICES - 1)] += c;
        }
    }
    let slice_s = (span_s / SLICES as f64).max(1.0);
    let mut top_endpoints: Vec<EndpointCount> = endpoints
        .into_iter()
        .map(|((method, endpoint), n)| EndpointCount {
            method,
            endpoint,
            requests: n,
            share_pct: 100.0 * n as f64 / rows.max(1) as f64,
        })
        .collect();
    top_endpoints.sort_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then_with(|| a.endpoint.cmp(&b.endpoint))
            .then_with(|| a.method.cmp(&b.method))
    });
    top_endpoints.truncate(top);
    let personal_data = names
        .iter()
        .enumerate()
        .filter(|(i, _)| *i > 0)
        .filter_map(|(i, n)| {
            let by_name = n == "session" || (i >= COLUMNS.len() && name_hint(n));
            (by_name || !seen[i].is_empty()).then(|| PiiHint {
                column: n.clone(),
                by_name,
                seen: seen[i].clone(),
                sniffed_rows: sniffed,
            })
        })
        .collect();
    let mut metadata = BTreeMap::new();
    metadata.insert("esr.rows".to_string(), meta.rows.to_string());
    if let Some(k) = &meta.key_id {
        metadata.insert("esr.scrub.key_id".into(), k.clone());
    }
    if let Some(p) = &meta.policy_digest {
        metadata.insert("esr.scrub.policy_digest".into(), p.clone());
    }
    metadata.extend(meta.other.clone());
    Ok(Inspection {
        path: path.display().to_string(),
        rows,
        schema,
        scrubbed: meta.is_scrubbed(),
        metadata,
        first_ts: (rows > 0).then(|| format_rfc3339(first)),
        last_ts: (rows > 0).then(|| format_rfc3339(last)),
        span_s,
        mean_rps,
        peak_rps,
        peak_at: peak_sec.map(|s| format_rfc3339(s * 1_000_000)),
        timeline_rps: timeline.iter().map(|c| *c as f64 / slice_s).collect(),
        top_endpoints,
        personal_data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name_hint("client_ip"));
        assert!(name_hint("Email"));
        assert!(name_hint("user_name"));
        assert!(!name_hint("zone"));
        assert!(!name_hint("status_text"));
    }

    #[test]
    fn sniff_counts_kinds_once_per_value() {
        let mut seen = BTreeMap::new();
        sniff(
            r#"{"to":"a@example.com","cc":"b@example.com","card":"4111-1111-1111-1111"}"#,
            &mut seen,
        );
        sniff("from 192.0.2.10", &mut seen);
        assert_eq!(seen.get("email"), Some(&1));
        assert_eq!(seen.get("card"), Some(&1));
        assert_eq!(seen.get("ipv4"), Some(&1));
    }
}
