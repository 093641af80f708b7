//! `esr compare` as one self-contained HTML page: the verdict and reasons, per endpoint the
//! status mismatches, real field differences (masked examples), noise fields, compliance hits
//! and latency with the baseline's and the candidate's distributions side by side.

use std::fmt::Write as _;

use super::CompareReport;
use crate::diff::{RunSamples, Sample};
use crate::scorecard::{Line, escape, line_chart};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;\
color:#222;padding:0 16px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;font-size:14px}th,td{border:1px solid #ddd;padding:4px 8px;\
text-align:left}th{background:#f4f4f4}.different{color:#c62828}.identical{color:#2e7d32}\
.meta{color:#555;font-size:14px}";

/// Renders the report; `baseline` and `candidate` give the latency distributions.
pub fn render(r: &CompareReport, baseline: &RunSamples, candidate: &RunSamples) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>esr compare \
         {id}</title><style>{STYLE}</style></head><body><h1>esr compare {id} \
         <span class=\"{v}\">{v}</span></h1><p class=\"meta\">{targets}; {n} requests to each \
         side</p><ul>",
        id = escape(&r.run_id),
        v = r.verdict,
        targets = escape(
            &r.targets
                .iter()
                .map(|(n, u)| format!("{n} {u}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        n = r.requests,
    );
    for why in &r.reasons {
        let _ = write!(o, "<li>{}</li>", escape(why));
    }
    o.push_str("</ul><p>compliance hits in responses: ");
    for c in &r.compliance {
        let _ = write!(o, "{} <b>{}</b> ", c.side, c.hits);
    }
    o.push_str("</p>");
    let empty = Sample::default();
    for e in &r.endpoints {
        let _ = write!(
            o,
            "<h2>{}</h2><p>{} requests · {} status mismatches · {} body mismatches</p>",
            escape(&e.endpoint),
            e.requests,
            e.status_mismatches,
            e.body_mismatches
        );
        if !e.fields.is_empty() || !e.noise.is_empty() || !e.status_pairs.is_empty() {
            o.push_str("<table><tr><th>what</th><th>requests</th><th>example (masked)</th></tr>");
            for p in &e.status_pairs {
                let _ = write!(
                    o,
                    "<tr><td>status {} &rarr; {}</td><td>{}</td><td></td></tr>",
                    p.baseline, p.candidate, p.count
                );
            }
            for f in &e.fields {
                let _ = write!(
                    o,
                    "<tr><td>{} ({:?})</td><td>{}</td><td>{}</td></tr>",
                    escape(&f.path),
                    f.change,
                    f.count,
                    escape(&f.example)
                );
            }
            for n in &e.noise {
                let _ = write!(
                    o,
                    "<tr><td>{} (noise)</td><td>{}</td><td>differs between baseline answers \
                     {} times; not a regression</td></tr>",
                    escape(&n.path),
                    n.candidate_diffs,
                    n.noise_diffs
                );
            }
            o.push_str("</table>");
        }
        let sb = baseline.endpoints.get(&e.endpoint).unwrap_or(&empty);
        let sc = candidate.endpoints.get(&e.endpoint).unwrap_or(&empty);
        if let Some(l) = &e.latency {
            let _ = write!(
                o,
                "<p>latency p50 {:.1} &rarr; {:.1} ms, p95 {:.1} &rarr; {:.1} ms (&Delta;p95 \
                 {:+.1} [{:+.1}, {:+.1}]): <b>{}</b></p>",
                l.p50_ms[0],
                l.p50_ms[1],
                l.p95_ms[0],
                l.p95_ms[1],
                l.p95_delta_ms.delta,
                l.p95_delta_ms.lo,
                l.p95_delta_ms.hi,
                l.verdict.as_str()
            );
        }
        let lines = [
            line("baseline", "#1565c0", &sb.latencies_ms),
            line("candidate", "#c62828", &sc.latencies_ms),
        ];
        o.push_str(&line_chart(
            "latency CDF, baseline vs candidate",
            "latency (ms)",
            "share of requests (%)",
            &lines,
            &[],
        ));
    }
    o.push_str("</body></html>\n");
    o
}

fn line<'a>(name: &'a str, color: &'a str, sorted: &[f64]) -> Line<'a> {
    Line {
        name,
        color,
        points: crate::diff::cdf_points(sorted),
        dashed: false,
    }
}
