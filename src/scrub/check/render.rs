//! `esr check`'s text output.

use std::fmt::Write as _;
use std::path::Path;

use super::{CheckReport, Findings};

fn findings(s: &mut String, f: &Findings) {
    for (col, m) in &f.per_column {
        let list: Vec<String> = m.iter().map(|(d, n)| format!("{d} {n}")).collect();
        let _ = writeln!(s, "    {col}: {}", list.join(", "));
    }
    for x in &f.listed {
        let _ = writeln!(
            s,
            "    row {}, column {}, {}: {}",
            x.row, x.column, x.detector, x.excerpt
        );
    }
    let more = f.total.saturating_sub(f.listed.len() as u64);
    if more > 0 {
        let _ = writeln!(s, "    ... and {more} more");
    }
}

pub(super) fn text(r: &CheckReport, trace: &Path) -> String {
    let mut s = String::new();
    let scrub = match (&r.key_id, r.scrubbed) {
        (Some(k), true) => format!("scrubbed with key {k}"),
        _ => "NOT scrubbed (no scrub metadata)".to_string(),
    };
    let _ = writeln!(s, "esr check {}: {} rows, {scrub}", trace.display(), r.rows);
    let _ = writeln!(s, "residual PII: {} hits", r.residual.total);
    findings(&mut s, &r.residual);
    if let Some(l) = &r.leaks {
        let finds = match l.survivors.total {
            0 => String::new(),
            1 => "1 find; ".to_string(),
            n => format!("{n} finds; "),
        };
        let _ = writeln!(
            s,
            "leak proof: {} of {} sensitive raw values found in the trace ({finds}{} shorter than {} bytes not searched)",
            l.values_found,
            l.values_searched,
            l.too_short,
            super::against::MIN_LEN
        );
        findings(&mut s, &l.survivors);
        if l.by_chance.total > 0 {
            let _ = writeln!(
                s,
                "    not counted: {} found only inside the keyed hex of esr's own pseudonyms (HMAC output, which matches a raw value by chance)",
                l.by_chance.total
            );
            findings(&mut s, &l.by_chance);
        }
    }
    let v = &r.reversal;
    if v.targets == 0 {
        let _ = writeln!(
            s,
            "reversal self-test: no pseudonymized IPv4 values to attack"
        );
    } else {
        let _ = writeln!(
            s,
            "reversal self-test: recovered {} of {} pseudonymized IPv4 values without the key ({} candidates; {})",
            v.recovered,
            v.targets,
            v.candidates,
            v.constructions.join(", ")
        );
        for (col, (t, n)) in &v.per_column {
            let _ = writeln!(s, "    {col}: {n} of {t} recovered");
        }
    }
    if let Some(k) = &r.k_anonymity {
        let _ = writeln!(
            s,
            "k-anonymity over {}: {} groups, smallest {}; {} rows in groups smaller than {}",
            k.columns.join(", "),
            k.groups,
            k.smallest_group,
            k.rows_below_k,
            k.k
        );
    }
    let _ = writeln!(s, "verdict: {}", if r.passed { "CLEAN" } else { "FAILED" });
    s
}
