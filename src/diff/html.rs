//! `esr diff` as one self-contained HTML page: the verdict, a table per endpoint, and for
//! each endpoint the two latency distributions side by side (A and B as two lines of one
//! inline SVG chart of the empirical CDF), so a shift is visible at a glance. No script,
//! nothing loaded from the network.

use std::fmt::Write as _;

use super::{DiffReport, EndpointDiff, RunSamples, Sample};
use crate::scorecard::{Line, escape, line_chart};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;\
color:#222;padding:0 16px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}\
.v{display:inline-block;padding:3px 10px;border-radius:4px;color:#fff;font-weight:bold}\
.regressed{background:#c62828}.improved{background:#2e7d32}.unchanged{background:#607d8b}\
.too_little_data{background:#9e9e9e}table{border-collapse:collapse;font-size:14px}\
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}th:first-child,td:first-child\
{text-align:left}th{background:#f4f4f4}.meta{color:#555;font-size:14px}\
.pair{display:flex;gap:12px}.pair>div{flex:1}";

/// Renders the report; `a` and `b` give the latency distributions for the charts.
pub fn render(r: &DiffReport, a: &RunSamples, b: &RunSamples) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>esr diff {ra} vs {rb}</title><style>{STYLE}</style></head><body>\
         <h1>esr diff {ra} &rarr; {rb} {v}</h1><p class=\"meta\">bootstrap {n} resamples, \
         seed {seed}; alpha {alpha}; minimum effect {rel:.0}% or {ms} ms</p>",
        ra = escape(&r.run_a),
        rb = escape(&r.run_b),
        v = badge(r.verdict.as_str(), r.verdict.key()),
        n = r.options.rounds,
        seed = r.options.seed,
        alpha = r.options.alpha,
        rel = r.options.min_effect_rel * 100.0,
        ms = r.options.min_effect_ms,
    );
    o.push_str(
        "<table><tr><th>endpoint</th><th>req A</th><th>req B</th><th>p50 A</th><th>p50 B</th>\
         <th>&Delta;p50 [95% CI]</th><th>p95 A</th><th>p95 B</th><th>&Delta;p95 [95% CI]</th>\
         <th>&Delta;p99 [95% CI]</th><th>KS p</th><th>success A</th><th>success B</th>\
         <th>verdict</th></tr>",
    );
    for e in r.endpoints.iter().chain([&r.overall]) {
        table_row(&mut o, e);
    }
    o.push_str("</table>");
    let empty = Sample::default();
    for e in r.endpoints.iter().chain([&r.overall]) {
        let (sa, sb) = if e.endpoint == "*" {
            (&a.overall, &b.overall)
        } else {
            (
                a.endpoints.get(&e.endpoint).unwrap_or(&empty),
                b.endpoints.get(&e.endpoint).unwrap_or(&empty),
            )
        };
        let _ = write!(
            o,
            "<h2>{} {}</h2>",
            escape(if e.endpoint == "*" {
                "all endpoints"
            } else {
                &e.endpoint
            }),
            badge(e.verdict.as_str(), e.verdict.key())
        );
        for why in &e.reasons {
            let _ = write!(o, "<p>{}</p>", escape(why));
        }
        let _ = write!(
            o,
            "<div class=\"pair\"><div>{}</div><div>{}</div></div>",
            cdf_chart(
                &format!("{} latency CDF", r.run_a),
                &sa.latencies_ms,
                "#1565c0"
            ),
            cdf_chart(
                &format!("{} latency CDF", r.run_b),
                &sb.latencies_ms,
                "#c62828"
            ),
        );
        let lines = [
            cdf_line(&r.run_a, "#1565c0", &sa.latencies_ms),
            cdf_line(&r.run_b, "#c62828", &sb.latencies_ms),
        ];
        o.push_str(&line_chart(
            "A and B overlaid",
            "latency (ms)",
            "share of requests (%)",
            &lines,
            &[],
        ));
    }
    o.push_str(
        "<p class=\"meta\">Latency is measured from each request's due time. A verdict needs \
         a 95% bootstrap interval that excludes 0 beyond the minimum effect and a KS p below \
         alpha, or a significant change of the success rate.</p></body></html>\n",
    );
    o
}

fn badge(text: &str, class: &str) -> String {
    format!("<span class=\"v {class}\">{}</span>", escape(text))
}

fn table_row(o: &mut String, e: &EndpointDiff) {
    let q = |i: usize, f: &dyn Fn(&super::QuantileDiff) -> String| {
        e.latency.get(i).map_or("-".to_string(), f)
    };
    let ci = |q: &super::QuantileDiff| {
        format!(
            "{:+.1} [{:+.1}, {:+.1}]",
            q.delta_ms.delta, q.delta_ms.lo, q.delta_ms.hi
        )
    };
    let _ = write!(
        o,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{:.1}%</td>\
         <td>{}</td></tr>",
        escape(&e.endpoint),
        e.requests_a,
        e.requests_b,
        q(0, &|q| format!("{:.1}", q.a_ms)),
        q(0, &|q| format!("{:.1}", q.b_ms)),
        q(0, &ci),
        q(1, &|q| format!("{:.1}", q.a_ms)),
        q(1, &|q| format!("{:.1}", q.b_ms)),
        q(1, &ci),
        q(2, &ci),
        e.ks.map_or("-".to_string(), |k| format!("{:.2e}", k.p_value)),
        e.success.a * 100.0,
        e.success.b * 100.0,
        e.verdict.as_str()
    );
}

/// The empirical CDF as at most 200 points (latency ms, share %).
pub fn cdf_points(sorted: &[f64]) -> Vec<(f64, f64)> {
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let step = n.div_ceil(200).max(1);
    let mut pts: Vec<(f64, f64)> = (0..n)
        .step_by(step)
        .map(|i| (sorted[i], (i + 1) as f64 * 100.0 / n as f64))
        .collect();
    pts.push((sorted[n - 1], 100.0));
    pts
}

fn cdf_line<'a>(name: &'a str, color: &'a str, sorted: &[f64]) -> Line<'a> {
    Line {
        name,
        color,
        points: cdf_points(sorted),
        dashed: false,
    }
}

fn cdf_chart(title: &str, sorted: &[f64], color: &str) -> String {
    line_chart(
        title,
        "latency (ms)",
        "share (%)",
        &[cdf_line(title, color, sorted)],
        &[],
    )
}
