//! The text scorecard printed at the end of a replay and by `esr scorecard --format text`.

use std::fmt::Write as _;

use super::model::{Percentiles, Scorecard};
use super::threshold::fmt_num;

fn row(out: &mut String, name: &str, p: &Percentiles) {
    let _ = writeln!(
        out,
        "  {name:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        fmt_num(p.p50),
        fmt_num(p.p90),
        fmt_num(p.p95),
        fmt_num(p.p99),
        fmt_num(p.p999),
        fmt_num(p.max)
    );
}

/// Renders `card` as plain text (no colour: it is also written to logs and CI output).
pub fn render(card: &Scorecard) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "esr scorecard {}{}",
        card.run_id,
        if card.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "  target      {}", card.target);
    let _ = writeln!(out, "  started     {}", card.started_at);
    let timing = match (card.speed, card.rate) {
        (_, Some(r)) => format!("fixed rate {} req/s", fmt_num(r)),
        (Some(s), None) => format!("speed {}x", fmt_num(s)),
        _ => "original timing".into(),
    };
    let _ = writeln!(out, "  timing      {timing}");
    let _ = writeln!(
        out,
        "  requests    {} sent of {} planned, {} answered, {} failed",
        card.requests, card.intended_requests, card.completed, card.error_count
    );
    let _ = writeln!(
        out,
        "  success     {} %   errors {} %",
        fmt_num(card.success_rate),
        fmt_num(card.error_rate)
    );
    if !card.errors.is_empty() {
        let kinds: Vec<String> = card
            .errors
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(out, "  failures    {}", kinds.join(", "));
    }
    let statuses: Vec<String> = card
        .status_counts
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let _ = writeln!(out, "  statuses    {}", statuses.join(", "));
    let _ = writeln!(
        out,
        "  rate        {} req/s achieved, {} intended",
        fmt_num(card.achieved_rate),
        fmt_num(card.intended_rate)
    );
    let _ = writeln!(
        out,
        "  schedule    {} late starts (> 10 ms), {} queued, {} throttled",
        card.late_starts, card.queued, card.throttled
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  {:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "ms", "p50", "p90", "p95", "p99", "p99.9", "max"
    );
    row(&mut out, "latency (from due)", &card.latency_ms);
    row(&mut out, "service (from send)", &card.service_ms);
    row(&mut out, "lateness (send - due)", &card.lateness_ms);
    if !card.endpoints.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  {:<34} {:>8} {:>8} {:>9} {:>9} {:>9}",
            "endpoint", "requests", "success%", "p50 ms", "p95 ms", "p99 ms"
        );
        for e in &card.endpoints {
            let _ = writeln!(
                out,
                "  {:<34} {:>8} {:>8} {:>9} {:>9} {:>9}",
                truncate(&e.endpoint, 34),
                e.requests,
                fmt_num(e.success_rate),
                fmt_num(e.latency_ms.p50),
                fmt_num(e.latency_ms.p95),
                fmt_num(e.latency_ms.p99)
            );
        }
    }
    for p in &card.phases {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  fault {} ({}s - {}s)",
            p.window,
            fmt_num(p.start_s),
            fmt_num(p.end_s)
        );
        for (name, s) in [
            ("before", &p.before),
            ("during", &p.during),
            ("after", &p.after),
        ] {
            let _ = writeln!(
                out,
                "    {name:<7} {:>7} req  success {:>6} %  p50 {:>8} ms  p99 {:>8} ms",
                s.requests,
                fmt_num(s.success_rate),
                fmt_num(s.latency_p50_ms),
                fmt_num(s.latency_p99_ms)
            );
        }
        let rec = match p.time_to_recover_s {
            Some(s) => format!("{} s", fmt_num(s)),
            None => "not within the run".into(),
        };
        let _ = writeln!(out, "    time to recover: {rec}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  compliance  {} hits, ESQ rule violations: {}",
        card.compliance_hits,
        card.esq_summary()
    );
    if let Some(o) = &card.stub_overhead_ms {
        let _ = writeln!(
            out,
            "  stub        overhead p50 {} ms, p99 {} ms, max {} ms",
            fmt_num(o.p50),
            fmt_num(o.p99),
            fmt_num(o.max)
        );
    }
    for t in &card.thresholds {
        let _ = writeln!(out, "  threshold   {}", t.describe());
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "  verdict     {}", card.verdict);
    let _ = writeln!(out, "  notes       {}", card.notes);
    out
}

/// Cuts a label to `n` characters (endpoint templates can be long).
pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
