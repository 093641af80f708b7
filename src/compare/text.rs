//! `esr compare` for the terminal.

use std::fmt::Write as _;

use super::CompareReport;

/// Renders the report as text.
pub fn render(r: &CompareReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "esr compare {}   verdict: {}{}",
        r.run_id,
        r.verdict.to_uppercase(),
        if r.interrupted { " (interrupted)" } else { "" }
    );
    for (name, url) in &r.targets {
        let _ = writeln!(o, "  {name:<10} {url}");
    }
    let _ = writeln!(
        o,
        "requests: {} to each side; status mismatches: {}; responses with real field differences: {}",
        r.requests, r.status_mismatches, r.body_mismatches
    );
    for e in &r.endpoints {
        let _ = writeln!(
            o,
            "\n{}  requests {}  status mismatches {}  body mismatches {}",
            e.endpoint, e.requests, e.status_mismatches, e.body_mismatches
        );
        for p in &e.status_pairs {
            let _ = writeln!(
                o,
                "  status {} -> {}: {} requests",
                p.baseline, p.candidate, p.count
            );
        }
        for f in &e.fields {
            let _ = writeln!(
                o,
                "  field {:<24} {:>6} x {:?}  e.g. {}",
                f.path, f.count, f.change, f.example
            );
        }
        for n in &e.noise {
            let _ = writeln!(
                o,
                "  noise {:<24} {:>6} x (differs between baseline answers {} times; not a regression)",
                n.path, n.candidate_diffs, n.noise_diffs
            );
        }
        if let Some(l) = &e.latency {
            let _ = writeln!(
                o,
                "  latency p50 {:.1} -> {:.1} ms, p95 {:.1} -> {:.1} ms (delta {:+.1} [{:+.1}, {:+.1}]): {}",
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
    }
    o.push_str("\ncompliance hits in responses:");
    for c in &r.compliance {
        let detail: Vec<String> = c
            .by_detector
            .iter()
            .map(|(d, n)| format!("{d} {n}"))
            .collect();
        let _ = write!(o, "  {} {}", c.side, c.hits);
        if !detail.is_empty() {
            let _ = write!(o, " ({})", detail.join(", "));
        }
    }
    o.push('\n');
    if !r.reasons.is_empty() {
        let _ = writeln!(o, "different: {}", r.reasons.join("; "));
    }
    let _ = writeln!(o, "run: {}", r.dir);
    o
}
