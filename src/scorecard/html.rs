//! The self-contained HTML report: one file, inline CSS and SVG, no script, nothing loaded
//! from the network, so it opens from a run folder on a machine with no connection.

use std::fmt::Write as _;

use super::charts::{Band, Line, bar_chart, line_chart};
use super::model::{Percentiles, Scorecard};
use super::threshold::fmt_num;

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;\
margin:24px auto;max-width:1100px;color:#222;padding:0 16px}\
h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}\
.meta{color:#555;font-size:14px}.verdict{display:inline-block;padding:4px 12px;border-radius:4px;\
font-weight:bold;color:#fff}.PASS{background:#2e7d32}.FAIL{background:#c62828}\
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}.tile{border:1px solid #ddd;\
border-radius:6px;padding:10px 14px;min-width:140px}.tile b{display:block;font-size:22px}\
.tile span{color:#666;font-size:12px}table{border-collapse:collapse;font-size:14px;margin:8px 0}\
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}th:first-child,td:first-child\
{text-align:left}th{background:#f4f4f4}.fail{color:#c62828;font-weight:bold}\
.pass{color:#2e7d32}svg.chart{border:1px solid #eee;margin:8px 0}";

/// Renders `card` as one HTML page.
pub fn render(card: &Scorecard) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>esr scorecard {id}</title><style>{STYLE}</style></head><body>\
         <h1>esr scorecard {id} <span class=\"verdict {v}\">{v}</span></h1>\
         <p class=\"meta\">target {target} · started {started} · {timing}{interrupted}</p>\
         <p><b>{notes}</b></p>",
        id = escape(&card.run_id),
        v = if card.verdict == "PASS" {
            "PASS"
        } else {
            "FAIL"
        },
        target = escape(&card.target),
        started = escape(&card.started_at),
        timing = escape(&timing(card)),
        interrupted = if card.interrupted {
            " · <b>interrupted</b>"
        } else {
            ""
        },
        notes = escape(&card.notes),
    );
    tiles(&mut o, card);
    charts(&mut o, card);
    tables(&mut o, card);
    o.push_str(
        "<p class=\"meta\">Latency is measured from each request's due time (free of \
         coordinated omission); service time from the actual send. Percentiles come from HDR \
         histograms (3 significant digits); per-second and phase figures from per-second \
         buckets (±6 %).</p></body></html>\n",
    );
    o
}

fn timing(card: &Scorecard) -> String {
    match (card.speed, card.rate) {
        (_, Some(r)) => format!("fixed rate {} req/s", fmt_num(r)),
        (Some(s), None) => format!("speed {}x", fmt_num(s)),
        _ => "original timing".into(),
    }
}

fn tiles(o: &mut String, card: &Scorecard) {
    o.push_str("<div class=\"tiles\">");
    let mut tile = |value: String, label: &str| {
        let _ = write!(
            o,
            "<div class=\"tile\"><b>{}</b><span>{}</span></div>",
            escape(&value),
            escape(label)
        );
    };
    tile(
        format!("{} / {}", card.requests, card.intended_requests),
        "requests sent / planned",
    );
    tile(format!("{} %", fmt_num(card.success_rate)), "success");
    tile(
        format!("{} ms", fmt_num(card.latency_ms.p50)),
        "p50 latency (from due)",
    );
    tile(
        format!("{} ms", fmt_num(card.latency_p95_ms)),
        "p95 latency (from due)",
    );
    tile(
        format!("{} ms", fmt_num(card.latency_ms.p99)),
        "p99 latency (from due)",
    );
    tile(
        format!(
            "{} / {}",
            fmt_num(card.achieved_rate.round()),
            fmt_num(card.intended_rate.round())
        ),
        "req/s achieved / intended",
    );
    tile(card.late_starts.to_string(), "late starts (> 10 ms)");
    tile(card.compliance_hits.to_string(), "compliance hits");
    o.push_str("</div>");
}

fn charts(o: &mut String, card: &Scorecard) {
    let bands: Vec<Band> = card
        .phases
        .iter()
        .map(|p| Band {
            from: p.start_s,
            to: p.end_s,
            label: &p.window,
        })
        .collect();
    let mid = |p: &crate::tap::SeriesPoint| p.t_s + p.width_s / 2.0;
    let busy: Vec<_> = card.series.iter().filter(|p| p.intended > 0).collect();
    o.push_str("<h2>Latency over the run</h2>");
    o.push_str(&line_chart(
        "Latency from due, p50 and p99 per second",
        "seconds since the start (by due time)",
        "latency (ms)",
        &[
            Line {
                name: "p50",
                color: "#3b6fb6",
                points: busy.iter().map(|p| (mid(p), p.p50_ms)).collect(),
                dashed: false,
            },
            Line {
                name: "p99",
                color: "#d9822b",
                points: busy.iter().map(|p| (mid(p), p.p99_ms)).collect(),
                dashed: false,
            },
        ],
        &bands,
    ));
    o.push_str("<h2>Throughput</h2>");
    // Buckets after the last send hold only completions: drawing them would show the rate
    // falling to zero at the end of every run.
    let sending = card
        .series
        .iter()
        .rposition(|p| p.intended > 0 || p.sent > 0)
        .map_or(0, |i| i + 1);
    let rate = |f: fn(&crate::tap::SeriesPoint) -> u64| -> Vec<(f64, f64)> {
        card.series[..sending]
            .iter()
            .map(|p| (mid(p), f(p) as f64 / p.width_s.max(1e-9)))
            .collect()
    };
    o.push_str(&line_chart(
        "Intended vs achieved throughput",
        "seconds since the start",
        "requests per second",
        &[
            Line {
                name: "achieved (sent)",
                color: "#2e7d32",
                points: rate(|p| p.sent),
                dashed: false,
            },
            Line {
                name: "intended (due)",
                color: "#888888",
                points: rate(|p| p.intended),
                dashed: true,
            },
            Line {
                name: "errors",
                color: "#c62828",
                points: rate(|p| p.errors),
                dashed: false,
            },
        ],
        &bands,
    ));
    o.push_str("<h2>Latency histogram</h2>");
    let bars: Vec<(String, u64)> = card
        .latency_histogram
        .iter()
        .map(|b| (fmt_num(sig3(b.from_ms)), b.count))
        .collect();
    o.push_str(&bar_chart(
        "Latency from due: requests per bucket",
        "latency from (ms), buckets √2 wide",
        "requests",
        &bars,
    ));
}

/// Rounds to 3 significant digits, for axis labels.
fn sig3(v: f64) -> f64 {
    if v <= 0.0 {
        return 0.0;
    }
    let mag = 10f64.powf(v.log10().floor() - 2.0);
    (v / mag).round() * mag
}

fn pct_row(o: &mut String, name: &str, p: &Percentiles) {
    let _ = write!(o, "<tr><td>{}</td>", escape(name));
    for v in [p.p50, p.p90, p.p95, p.p99, p.p999, p.max, p.mean] {
        let _ = write!(o, "<td>{}</td>", fmt_num(v));
    }
    o.push_str("</tr>");
}

fn tables(o: &mut String, card: &Scorecard) {
    o.push_str(
        "<h2>Latency (ms)</h2><table><tr><th></th><th>p50</th><th>p90</th><th>p95</th>\
         <th>p99</th><th>p99.9</th><th>max</th><th>mean</th></tr>",
    );
    pct_row(o, "latency from due (corrected)", &card.latency_ms);
    pct_row(o, "service time from send (uncorrected)", &card.service_ms);
    pct_row(o, "lateness (send − due)", &card.lateness_ms);
    o.push_str("</table>");

    o.push_str(
        "<h2>Endpoints</h2><table><tr><th>endpoint</th><th>requests</th><th>success %</th>\
         <th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>service p95 ms</th>\
         <th>late starts</th><th>statuses</th></tr>",
    );
    for e in &card.endpoints {
        let statuses: Vec<String> = e
            .status_counts
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&e.endpoint),
            e.requests,
            fmt_num(e.success_rate),
            fmt_num(e.latency_ms.p50),
            fmt_num(e.latency_ms.p95),
            fmt_num(e.latency_ms.p99),
            fmt_num(e.latency_ms.max),
            fmt_num(e.service_ms.p95),
            e.late_starts,
            escape(&statuses.join(", "))
        );
    }
    o.push_str("</table>");

    if !card.phases.is_empty() {
        o.push_str(
            "<h2>Fault windows</h2><table><tr><th>window</th><th>phase</th><th>from s</th>\
             <th>to s</th><th>requests</th><th>success %</th><th>p50 ms</th><th>p99 ms</th>\
             <th>time to recover</th></tr>",
        );
        for p in &card.phases {
            for (name, s) in [
                ("before", &p.before),
                ("during", &p.during),
                ("after", &p.after),
            ] {
                let rec = if name == "after" {
                    match p.time_to_recover_s {
                        Some(t) => format!("{} s", fmt_num(t)),
                        None => "not recovered".into(),
                    }
                } else {
                    String::new()
                };
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                     <td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&p.window),
                    fmt_num(s.start_s),
                    fmt_num(s.end_s),
                    s.requests,
                    fmt_num(s.success_rate),
                    fmt_num(s.latency_p50_ms),
                    fmt_num(s.latency_p99_ms),
                    rec
                );
            }
        }
        o.push_str("</table>");
    }

    o.push_str("<h2>Thresholds</h2>");
    if card.thresholds.is_empty() {
        o.push_str("<p>No thresholds were set.</p>");
    } else {
        o.push_str(
            "<table><tr><th>threshold</th><th>measured</th><th>unit</th><th>result</th></tr>",
        );
        for t in &card.thresholds {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                escape(&t.threshold),
                fmt_num(t.measured),
                escape(&t.unit),
                if t.passed { "pass" } else { "fail" },
                if t.passed { "pass" } else { "FAIL" }
            );
        }
        o.push_str("</table>");
    }

    o.push_str("<h2>Run</h2><table>");
    let mut kv = |k: &str, v: String| {
        let _ = write!(o, "<tr><td>{}</td><td>{}</td></tr>", escape(k), escape(&v));
    };
    kv(
        "requests / completed",
        format!("{} / {}", card.requests, card.completed),
    );
    kv(
        "failures",
        format!("{} ({} %)", card.error_count, fmt_num(card.error_rate)),
    );
    for (k, v) in &card.errors {
        kv(&format!("  {k}"), v.to_string());
    }
    let statuses: Vec<String> = card
        .status_counts
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    kv("statuses", statuses.join(", "));
    kv(
        "queued / throttled",
        format!("{} / {}", card.queued, card.throttled),
    );
    kv("duration", format!("{} s", fmt_num(card.duration_s)));
    kv(
        "intended span",
        format!("{} s", fmt_num(card.intended_duration_s)),
    );
    kv("ESQ rule violations", card.esq_summary());
    if let Some(s) = &card.stub_overhead_ms {
        kv(
            "stub overhead (ms)",
            format!(
                "p50 {} · p99 {} · max {}",
                fmt_num(s.p50),
                fmt_num(s.p99),
                fmt_num(s.max)
            ),
        );
    }
    o.push_str("</table>");
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
