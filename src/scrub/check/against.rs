//! The leak proof (`--against RAW`): every detected value of the raw input, and every value of
//! a column or header the default policy treats as an identifier, is searched for in every
//! text column of the trace. One Aho-Corasick automaton over all of them scans each value
//! once.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::{Findings, LeakSummary, mask_excerpt, scan_value, text_fields};
use crate::scrub::detect::{Detector, Hit};
use crate::scrub::policy::{Action, Policy};
use crate::scrub::rewrite::percent_decode;
use crate::trace::TraceRecord;

/// Values shorter than this are not searched for: `42` or `GET` would be found everywhere.
pub const MIN_LEN: usize = 6;

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
    values: HashMap<String, Label>,
    short: std::collections::HashSet<String>,
    ipv4: std::collections::HashSet<Ipv4Addr>,
    hits: Vec<Hit>,
    searcher: Option<(AhoCorasick, Vec<Label>)>,
    values_searched: u64,
    survivors: Findings,
}

impl Against {
    /// Starts collecting from a raw input whose extra columns are `extra`; `policy` says which
    /// columns and headers hold identifiers.
    pub fn new(policy: Policy, extra: &[String]) -> Against {
        Against {
            policy,
            extra: extra.to_vec(),
            values: HashMap::new(),
            short: Default::default(),
            ipv4: Default::default(),
            hits: Vec::new(),
            searcher: None,
            values_searched: 0,
            survivors: Findings::default(),
        }
    }

    fn keep(&mut self, v: &str, label: Label) {
        let v = v.trim();
        if v.is_empty() {
            return;
        }
        if v.len() < MIN_LEN {
            self.short.insert(v.to_string());
        } else if !self.values.contains_key(v) {
            self.values.insert(v.to_string(), label);
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
        let (pats, labels): (Vec<String>, Vec<Label>) = self.values.drain().unzip();
        self.values.shrink_to_fit();
        if pats.is_empty() {
            return;
        }
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&pats)
            .expect("literal patterns build");
        self.searcher = Some((ac, labels));
        self.values_searched = pats.len() as u64;
    }

    /// Searches one trace value.
    pub(crate) fn search(&mut self, row: u64, col: &str, v: &str, max: usize) {
        let Some((ac, labels)) = &self.searcher else {
            return;
        };
        let decoded = v.contains('%').then(|| percent_decode(v)).flatten();
        for text in std::iter::once(v).chain(decoded.as_ref().map(|(d, _)| d.as_str())) {
            for m in ac.find_iter(text) {
                let label = labels[m.pattern().as_usize()];
                let det = match label {
                    Label::Detected(d) => Some(d),
                    Label::Identifier => None,
                };
                let excerpt = mask_excerpt(det, &text[m.range()]);
                self.survivors.add(max, row, col, label.name(), excerpt);
            }
        }
    }

    /// IPv4 addresses of the raw input, candidates for the reversal self-test.
    pub(crate) fn ipv4_candidates(&self) -> Vec<Ipv4Addr> {
        self.ipv4.iter().copied().collect()
    }

    /// The leak proof's outcome.
    pub(crate) fn summary(&mut self) -> LeakSummary {
        LeakSummary {
            values_searched: self.values_searched,
            too_short: self.short.len() as u64,
            survivors: std::mem::take(&mut self.survivors),
        }
    }
}
