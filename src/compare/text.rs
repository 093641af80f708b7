//! `esr compare` for the terminal: lays out the [`View`](super::view::View).

use std::fmt::Write as _;

use super::view::View;

/// Renders the report as text.
pub fn render(v: &View) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{}   verdict: {}{}",
        v.title,
        v.verdict.to_uppercase(),
        if v.interrupted { " (interrupted)" } else { "" }
    );
    for (name, url) in &v.targets {
        let _ = writeln!(o, "  {name:<10} {url}");
    }
    let _ = writeln!(o, "{}", v.totals);
    for e in &v.endpoints {
        let _ = writeln!(o, "\n{}  {}", e.endpoint, e.counts);
        for r in &e.rows {
            let _ = writeln!(o, "  {} {:<24} {:>6} x {}", r.kind, r.what, r.count, r.note);
        }
        if let Some(l) = &e.latency {
            let _ = writeln!(o, "  latency {l}");
        }
    }
    o.push_str("\ncompliance hits in responses:");
    for c in &v.compliance {
        let _ = write!(o, "  {c}");
    }
    o.push('\n');
    if !v.reasons.is_empty() {
        let _ = writeln!(o, "different: {}", v.reasons.join("; "));
    }
    let _ = writeln!(o, "run: {}", v.dir);
    o
}
