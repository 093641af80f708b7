//! The one model of an `esr compare` report that both renderings draw: what is said, in which
//! order, with which numbers. `text` lays it out for a terminal, `html` as a page; neither
//! decides content of its own (beyond the HTML's latency charts).

use super::CompareReport;

/// The report as plain-text pieces (the HTML escapes them).
pub(super) struct View {
    /// `esr compare RUN-0004`.
    pub title: String,
    /// `different` or `identical`.
    pub verdict: &'static str,
    pub interrupted: bool,
    /// `(side, base URL)`.
    pub targets: Vec<(String, String)>,
    /// `requests: N to each side; status mismatches: ...`.
    pub totals: String,
    pub endpoints: Vec<EndpointView>,
    /// `baseline 509 (secret 509)` per side.
    pub compliance: Vec<String>,
    /// Why it is different.
    pub reasons: Vec<String>,
    /// The run folder.
    pub dir: String,
}

/// One endpoint's findings.
pub(super) struct EndpointView {
    pub endpoint: String,
    /// `requests 500  status mismatches 0  body mismatches 500`.
    pub counts: String,
    pub rows: Vec<Row>,
    /// `p50 77.3 -> 83.4 ms, p95 ... (delta ...): unchanged`.
    pub latency: Option<String>,
}

/// A status pair, a field difference or a noise field.
pub(super) struct Row {
    /// `status`, `field` or `noise`.
    pub kind: &'static str,
    /// `200 -> 500` or the field's path.
    pub what: String,
    /// Requests it was seen in.
    pub count: u64,
    /// The change and a masked example, or why it is noise.
    pub note: String,
}

impl View {
    pub fn of(r: &CompareReport) -> View {
        View {
            title: format!("esr compare {}", r.run_id),
            verdict: r.verdict,
            interrupted: r.interrupted,
            targets: r.targets.clone(),
            totals: format!(
                "requests: {} to each side; status mismatches: {}; responses with real field \
                 differences: {}",
                r.requests, r.status_mismatches, r.body_mismatches
            ),
            endpoints: r.endpoints.iter().map(endpoint).collect(),
            compliance: r
                .compliance
                .iter()
                .map(|c| {
                    let detail: Vec<String> = c
                        .by_detector
                        .iter()
                        .map(|(d, n)| format!("{d} {n}"))
                        .collect();
                    if detail.is_empty() {
                        format!("{} {}", c.side, c.hits)
                    } else {
                        format!("{} {} ({})", c.side, c.hits, detail.join(", "))
                    }
                })
                .collect(),
            reasons: r.reasons.clone(),
            dir: r.dir.clone(),
        }
    }
}

fn endpoint(e: &super::EndpointCompare) -> EndpointView {
    let mut rows = Vec::new();
    for p in &e.status_pairs {
        rows.push(Row {
            kind: "status",
            what: format!("{} -> {}", p.baseline, p.candidate),
            count: p.count,
            note: "status changed".into(),
        });
    }
    for f in &e.fields {
        rows.push(Row {
            kind: "field",
            what: f.path.clone(),
            count: f.count,
            note: format!("{:?}  e.g. {}", f.change, f.example),
        });
    }
    for n in &e.noise {
        rows.push(Row {
            kind: "noise",
            what: n.path.clone(),
            count: n.candidate_diffs,
            note: format!(
                "(differs between baseline answers {} times; not a regression)",
                n.noise_diffs
            ),
        });
    }
    EndpointView {
        endpoint: e.endpoint.clone(),
        counts: format!(
            "requests {}  status mismatches {}  body mismatches {}",
            e.requests, e.status_mismatches, e.body_mismatches
        ),
        rows,
        latency: e.latency.as_ref().map(|l| {
            format!(
                "p50 {:.1} -> {:.1} ms, p95 {:.1} -> {:.1} ms (delta {:+.1} [{:+.1}, {:+.1}]): {}",
                l.p50_ms[0],
                l.p50_ms[1],
                l.p95_ms[0],
                l.p95_ms[1],
                l.p95_delta_ms.delta,
                l.p95_delta_ms.lo,
                l.p95_delta_ms.hi,
                l.verdict.as_str()
            )
        }),
    }
}
