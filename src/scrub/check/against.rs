//! The leak proof (`--against RAW`): every detected value of the raw input, and every value of
//! a column or header the default policy treats as an identifier, is searched for in every
//! text column of the trace, with ASCII case ignored ([`Needles`]: memory that grows with the
//! bytes of the values, one bit test per byte searched).

use std::net::Ipv4Addr;

use super::needles::{Needles, WINDOW};
use super::{Findings, LeakSummary, mask_excerpt, scan_value, text_fields};
use crate::scrub::detect::{self, Detector, Hit, TOKEN_PREFIX};
use crate::scrub::policy::{Action, Policy};
use crate::scrub::rewrite::percent_decode;
use crate::trace::TraceRecord;

/// Values shorter than this are not searched for: `42` or `GET` would be found everywhere.
pub const MIN_LEN: usize = WINDOW;

/// What a searched value was in the raw input.
#[derive(Debug, Clone, Copy)]
enum Label {
    Detected(Detector),
    Identifier,
}

impl Label {
    fn name(self) -> &'static str {
        match self {
            Label::Detected(d) => d.name(),
            Label::Identifier => "identifier",
        }
    }
}

/// Collects the raw input's sensitive values, then searches a trace for them.
pub struct Against {
    policy: Policy,
    extra: Vec<String>,
    /// The values searched for, and what each was (by needle id).
    needles: Needles,
    labels: Vec<Label>,
    short: std::collections::HashSet<String>,
    ipv4: std::collections::HashSet<Ipv4Addr>,
    hits: Vec<Hit>,
    found: Vec<(usize, usize, usize)>,
    /// One bit per needle: found in the trace (outside esr's keyed hex).
    seen: Vec<u64>,
    survivors: Findings,
    by_chance: Findings,
}

impl Against {
    /// Starts collecting from a raw input whose extra columns are `extra`; `policy` says which
    /// columns and headers hold identifiers.
    pub fn new(policy: Policy, extra: &[String]) -> Against {
        Against {
            policy,
            extra: extra.to_vec(),
            needles: Needles::default(),
            labels: Vec::new(),
            short: Default::default(),
            ipv4: Default::default(),
            hits: Vec::new(),
            found: Vec::new(),
            seen: Vec::new(),
            survivors: Findings::default(),
            by_chance: Findings::default(),
        }
    }

    fn keep(&mut self, v: &str, label: Label) {
        let v = v.trim();
        if v.is_empty() {
            return;
        }
        if v.len() < MIN_LEN {
            self.short.insert(v.to_string());
        } else if self.needles.insert(v).is_some() {
            self.labels.push(label);
        }
    }

    /// Collects the sensitive values of one raw record.
    pub fn add(&mut self, r: &TraceRecord) {
        let mut hits = std::mem::take(&mut self.hits);
        let extra = std::mem::take(&mut self.extra);
        for (col, v) in text_fields(r, &extra) {
            let decoded = scan_value(&v, &mut hits);
            let text = decoded.as_deref().unwrap_or(&v);
            for h in &hits {
                let s = &text[h.span()];
                if h.detector == Detector::Ipv4
                    && let Ok(ip) = s.parse()
                {
                    self.ipv4.insert(ip);
                }
                self.keep(s, Label::Detected(h.detector));
            }
            let action = if col == "session" {
                self.policy
                    .columns
                    .get("session")
                    .copied()
                    .unwrap_or(Action::Detect)
            } else if ["path", "host", "headers", "body"].contains(&col) {
                Action::Detect
            } else {
                self.policy.action_for(col)
            };
            if action == Action::Hash {
                self.keep(&v, Label::Identifier);
            }
            if col == "headers"
                && let Ok(map) =
                    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&v)
            {
                for (name, val) in map {
                    let Some(val) = val.as_str() else { continue };
                    if self.policy.header_action(&name) != Action::Hash {
                        continue;
                    }
                    self.keep(val, Label::Identifier);
                    // The parts a pseudonym replaces: a credential, each cookie value.
                    if let Some((_, cred)) = val.split_once(' ') {
                        self.keep(cred, Label::Identifier);
                    }
                    for part in val.split(';') {
                        if let Some((_, cv)) = part.split_once('=') {
                            self.keep(cv, Label::Identifier);
                        }
                    }
                }
            }
        }
        self.hits = hits;
        self.extra = extra;
    }

    /// Builds the searcher; call after the last raw record.
    pub fn prepare(&mut self) {
        self.needles.build();
        self.seen = vec![0; self.needles.len().div_ceil(64)];
    }

    /// Searches one trace value.
    pub(crate) fn search(&mut self, row: u64, col: &str, v: &str, max: usize) {
        let decoded = v.contains('%').then(|| percent_decode(v)).flatten();
        let mut found = std::mem::take(&mut self.found);
        for text in std::iter::once(v).chain(decoded.as_ref().map(|(d, _)| d.as_str())) {
            self.needles.find(text, &mut found);
            for &(start, end, id) in &found {
                let label = self.labels[id];
                let det = match label {
                    Label::Detected(d) => Some(d),
                    Label::Identifier => None,
                };
                let excerpt = mask_excerpt(det, &text[start..end]);
                let to = if in_keyed_hex(text, start, end) {
                    &mut self.by_chance
                } else {
                    self.seen[id / 64] |= 1 << (id % 64);
                    &mut self.survivors
                };
                to.add(max, row, col, label.name(), excerpt);
            }
        }
        self.found = found;
    }

    /// IPv4 addresses of the raw input, candidates for the reversal self-test.
    pub(crate) fn ipv4_candidates(&self) -> Vec<Ipv4Addr> {
        self.ipv4.iter().copied().collect()
    }

    /// The leak proof's outcome.
    pub(crate) fn summary(&mut self) -> LeakSummary {
        LeakSummary {
            values_searched: self.needles.len() as u64,
            values_found: self.seen.iter().map(|w| u64::from(w.count_ones())).sum(),
            too_short: self.short.len() as u64,
            survivors: std::mem::take(&mut self.survivors),
            by_chance: std::mem::take(&mut self.by_chance),
        }
    }
}

/// True when `text[start..end]` lies wholly inside the keyed hex of one of esr's own
/// pseudonyms: the digits of an `esr_` token, the two hex parts of an email pseudonym
/// (`u` + 10 hex + `@d` + 6 hex + `.invalid`), the signature of a marked JWT. Those characters
/// are HMAC output, which carries nothing of any input, so a raw value found there is there by
/// chance: a 10-digit account number turned up once in the hex of the 5M-row log's bearer
/// tokens. Such finds are counted apart, not as leaks. Anything else around or inside the
/// match (a raw value that includes `esr_`, a hex run of another length) is a leak as before.
fn in_keyed_hex(text: &str, start: usize, end: usize) -> bool {
    let b = text.as_bytes();
    let hex = |c: &u8| c.is_ascii_digit() || (b'a'..=b'f').contains(c);
    if !b[start..end].iter().all(hex) {
        return false;
    }
    let from = b[..start]
        .iter()
        .rposition(|c| !hex(c))
        .map_or(0, |i| i + 1);
    let to = b[end..]
        .iter()
        .position(|c| !hex(c))
        .map_or(b.len(), |i| end + i);
    let (head, run, tail) = (&b[..from], to - from, &b[to..]);
    let invalid = |t: &[u8]| t.len() >= 8 && t[..8].eq_ignore_ascii_case(b".invalid");
    // An `esr_` token: 16 hex, the first a letter.
    if head.ends_with(TOKEN_PREFIX.as_bytes()) && run == 16 && b[from].is_ascii_lowercase() {
        return true;
    }
    // An email pseudonym's local part, then its domain part (whose run starts with the `d`).
    if head.ends_with(b"u")
        && run == 10
        && tail.len() >= 16
        && tail.starts_with(b"@d")
        && tail[2..8].iter().all(hex)
        && invalid(&tail[8..])
    {
        return true;
    }
    if head.ends_with(b"@") && run == 7 && b[from] == b'd' && start > from && invalid(tail) {
        return true;
    }
    // A marked JWT's signature: the token it ends starts with esr's marker header.
    if run == 16 && head.ends_with(b".") {
        let token = head
            .iter()
            .rposition(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')))
            .map_or(0, |i| i + 1);
        return detect::is_pseudonym(Detector::Jwt, &text[token..to]);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::detect::JWT_MARKER_HEADER;

    #[test]
    fn a_raw_value_inside_keyed_hex_is_chance_and_anywhere_else_a_leak() {
        let mut a = Against::new(Policy::default(), &[]);
        for body in [
            r#"{"account":"1261588898","note":"jane.roe@example.com"}"#,
            r#"{"account":"126158"}"#,
        ] {
            a.add(&TraceRecord {
                method: "POST".into(),
                path: "/ach/transfer".into(),
                body: Some(body.as_bytes().to_vec()),
                ..Default::default()
            });
        }
        a.prepare();
        let chance = [
            r#"{"Authorization":"Bearer esr_af851261588898a5"}"#.to_string(),
            "u1261588898@d8a1b2c.invalid".to_string(),
            "u0a1b2c3d4e@d126158.invalid".to_string(),
            format!("{JWT_MARKER_HEADER}.eyJzdWIiOiIxIn0.12615888981234ab"),
        ];
        let leaks = [
            "acct=1261588898",
            // esr's tokens start with a letter; digits after the prefix are not its own.
            "esr_1261588898abcdef",
            // A hex run of another length than the pseudonym's.
            "esr_af8512615888988a5",
            "u12615888980@d8a1b2c.invalid",
            "JANE.ROE@EXAMPLE.COM",
        ];
        for (i, v) in chance.iter().map(String::as_str).chain(leaks).enumerate() {
            a.search(i as u64 + 1, "headers", v, 50);
        }
        let s = a.summary();
        // Three raw values searched (two account numbers and the email); two found outside
        // keyed hex, in five finds. The six-digit account was only ever inside keyed hex.
        assert_eq!((s.values_searched, s.values_found), (3, 2));
        let rows = |f: &Findings| f.listed.iter().map(|x| x.row).collect::<Vec<_>>();
        assert_eq!(rows(&s.by_chance), [1, 2, 3, 4], "{:?}", s.by_chance);
        assert_eq!(rows(&s.survivors), [5, 6, 7, 8, 9], "{:?}", s.survivors);
        assert_eq!(s.survivors.listed[4].excerpt, "J***@***.COM");
    }
}
