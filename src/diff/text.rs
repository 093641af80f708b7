//! `esr diff` for the terminal: one line per endpoint, then the reasons behind each verdict.

use std::fmt::Write as _;

use super::{DiffReport, EndpointDiff};

/// Renders the report as aligned text.
pub fn render(r: &DiffReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "esr diff {} -> {}   verdict: {}",
        r.run_a,
        r.run_b,
        r.verdict.as_str().to_uppercase()
    );
    if r.same_trace == Some(false) {
        o.push_str("warning: the runs replayed different traces (--force)\n");
    }
    let _ = writeln!(
        o,
        "bootstrap: {} resamples, seed {}; alpha {}; minimum effect {:.0}% or {} ms",
        r.options.rounds,
        r.options.seed,
        r.options.alpha,
        r.options.min_effect_rel * 100.0,
        r.options.min_effect_ms
    );
    let _ = writeln!(
        o,
        "\n{:<28} {:>7} {:>7} {:>26} {:>26} {:>9} {:>15}  verdict",
        "endpoint",
        "req A",
        "req B",
        "p50 A->B ms [95% CI]",
        "p95 A->B ms [95% CI]",
        "KS p",
        "success A->B"
    );
    for e in r.endpoints.iter().chain([&r.overall]) {
        row(&mut o, e);
    }
    let mut any = false;
    for e in r.endpoints.iter().chain([&r.overall]) {
        if e.reasons.is_empty() {
            continue;
        }
        if !any {
            o.push_str("\nwhy:\n");
            any = true;
        }
        let _ = writeln!(o, "  {} ({}):", e.endpoint, e.verdict.as_str());
        for why in &e.reasons {
            let _ = writeln!(o, "    {why}");
        }
    }
    let changed: Vec<String> = r
        .overall
        .status_mix
        .iter()
        .chain(&r.overall.errors)
        .filter(|s| s.test.p_value < r.options.alpha)
        .map(|s| {
            format!(
                "{} {:.1}% -> {:.1}% (p={:.2e})",
                s.name,
                s.test.a * 100.0,
                s.test.b * 100.0,
                s.test.p_value
            )
        })
        .collect();
    if !changed.is_empty() {
        let _ = writeln!(o, "\nstatus mix changes: {}", changed.join(", "));
    }
    o
}

fn row(o: &mut String, e: &EndpointDiff) {
    let q = |i: usize| {
        e.latency.get(i).map_or("-".to_string(), |q| {
            format!(
                "{:.1}->{:.1} [{:+.1},{:+.1}]",
                q.a_ms, q.b_ms, q.delta_ms.lo, q.delta_ms.hi
            )
        })
    };
    let _ = writeln!(
        o,
        "{:<28} {:>7} {:>7} {:>26} {:>26} {:>9} {:>15}  {}",
        crate::scorecard::truncate(&e.endpoint, 28),
        e.requests_a,
        e.requests_b,
        q(0),
        q(1),
        e.ks.map_or("-".to_string(), |k| format!("{:.2e}", k.p_value)),
        format!("{:.1}->{:.1}%", e.success.a * 100.0, e.success.b * 100.0),
        e.verdict.as_str()
    );
}
