//! `esr compare` as one self-contained HTML page: the verdict and reasons, per endpoint the
//! status mismatches, real field differences (masked examples), noise fields, compliance hits
//! and latency with the baseline's and the candidate's distributions side by side.

use std::fmt::Write as _;

use super::view::View;
use crate::diff::{RunSamples, Sample};
use crate::scorecard::{Line, escape, line_chart};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;\
color:#222;padding:0 16px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;font-size:14px}th,td{border:1px solid #ddd;padding:4px 8px;\
text-align:left}th{background:#f4f4f4}.different{color:#c62828}.identical{color:#2e7d32}\
.meta{color:#555;font-size:14px}";

/// Renders the report; `baseline` and `candidate` give the latency distributions.
pub fn render(v: &View, baseline: &RunSamples, candidate: &RunSamples) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let targets: Vec<String> = v.targets.iter().map(|(n, u)| format!("{n} {u}")).collect();
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>{STYLE}</style></head><body><h1>{title} <span class=\"{v}\">{v}{cut}</span></h1>\
         <p class=\"meta\">{targets}</p><p class=\"meta\">{totals}</p><ul>",
        title = escape(&v.title),
        v = v.verdict,
        cut = if v.interrupted { " (interrupted)" } else { "" },
        targets = escape(&targets.join(", ")),
        totals = escape(&v.totals),
    );
    for why in &v.reasons {
        let _ = write!(o, "<li>{}</li>", escape(why));
    }
    o.push_str("</ul><p>compliance hits in responses: ");
    for c in &v.compliance {
        let _ = write!(o, "{} &nbsp; ", escape(c));
    }
    o.push_str("</p>");
    let empty = Sample::default();
    for e in &v.endpoints {
        let _ = write!(
            o,
            "<h2>{}</h2><p>{}</p>",
            escape(&e.endpoint),
            escape(&e.counts)
        );
        if !e.rows.is_empty() {
            o.push_str("<table><tr><th>what</th><th>requests</th><th>detail (masked)</th></tr>");
            for r in &e.rows {
                let _ = write!(
                    o,
                    "<tr><td>{} {}</td><td>{}</td><td>{}</td></tr>",
                    r.kind,
                    escape(&r.what),
                    r.count,
                    escape(&r.note)
                );
            }
            o.push_str("</table>");
        }
        if let Some(l) = &e.latency {
            let _ = write!(o, "<p>latency {}</p>", escape(l));
        }
        let sb = baseline.endpoints.get(&e.endpoint).unwrap_or(&empty);
        let sc = candidate.endpoints.get(&e.endpoint).unwrap_or(&empty);
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
