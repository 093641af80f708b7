//! One multi-pattern automaton over every detector's candidate pattern.
//!
//! A value is scanned once, left to right: the automaton reports the leftmost candidate and
//! which pattern matched; the rule's validator confirms it (and may narrow it). When it does
//! not, the other patterns are tried anchored at the same byte (a Luhn-invalid card may still
//! be a phone number), and failing that the scan moves on by one character.
//!
//! The leftmost candidate is found by trying one anchored DFA at the bytes where a hit can
//! start, not by one unanchored search. An unanchored DFA over these patterns tracks every
//! partial candidate at once (each counted repetition of the IBAN, card and IPv6 patterns
//! restarting at every alphanumeric byte), so text full of hex or base64 kept building new
//! states: that was most of the scrubber's time. The anchored DFA is small (well under a
//! megabyte), is built whole up front, and a step is one table lookup.
//!
//! Which bytes are tried: every rule but the email rejects a value glued to a letter or digit
//! before it, and an email that starts inside a word also matches from one byte earlier. So a
//! candidate starting inside a word (an alphanumeric byte after an alphanumeric byte) is never
//! a hit, and the unanchored search would skip the rest of that word after it failed. Trying
//! only the scan position itself, the first byte of each word and the non-alphanumeric bytes a
//! pattern can start with therefore gives exactly the hits the unanchored search gave.

use std::cell::RefCell;
use std::sync::OnceLock;

use regex_automata::dfa::{Automaton as _, StartKind, dense};
use regex_automata::meta::{Cache, Regex};
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, Input, MatchKind, PatternSet};

use super::detect::{Hit, Rule, rules};

/// Byte-oriented, ASCII-only compilation: every pattern starts and stops on ASCII bytes, so
/// spans stay on character boundaries and the DFAs stay small.
fn syntax() -> regex_automata::util::syntax::Config {
    regex_automata::util::syntax::Config::new()
        .unicode(false)
        .utf8(false)
}

/// The compiled rules.
pub(crate) struct Automaton {
    /// Every pattern, anchored, leftmost-first: which rule matches at a byte, and how far.
    dfa: dense::DFA<Vec<u32>>,
    /// The anchored start state (the patterns have no look-around, so there is one).
    start: StateID,
    /// Bytes some pattern can start with.
    starts: [bool; 256],
    /// The same patterns with every match reported: one anchored pass tells which rules can
    /// match at a failed candidate's start, so only those are searched one by one.
    any: Regex,
    each: Vec<Regex>,
    rules: Vec<Rule>,
}

/// The search caches of one thread's fallbacks with the [`Automaton`].
struct Caches {
    any: Cache,
    each: Vec<Cache>,
}

/// The process-wide automaton, built on first use.
pub(crate) fn shared() -> &'static Automaton {
    static SHARED: OnceLock<Automaton> = OnceLock::new();
    SHARED.get_or_init(Automaton::build)
}

impl Automaton {
    fn build() -> Automaton {
        let rules = rules();
        let patterns: Vec<&str> = rules.iter().map(|r| r.pattern).collect();
        // The patterns are constants of this crate: failing to compile them is a bug.
        let dfa = dense::Builder::new()
            .syntax(syntax())
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Anchored)
                    .match_kind(MatchKind::LeftmostFirst),
            )
            .build_many(&patterns)
            .expect("detector patterns compile");
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .expect("an anchored start state exists");
        let mut starts = [false; 256];
        for (b, s) in starts.iter_mut().enumerate() {
            *s = !dfa.is_dead_state(dfa.next_state(start, b as u8));
        }
        let any = Regex::builder()
            .syntax(syntax())
            .configure(Regex::config().match_kind(MatchKind::All))
            .build_many(&patterns)
            .expect("detector patterns compile");
        let each = patterns
            .iter()
            .map(|p| {
                Regex::builder()
                    .syntax(syntax())
                    .build(p)
                    .expect("detector pattern compiles")
            })
            .collect();
        Automaton {
            dfa,
            start,
            starts,
            any,
            each,
            rules,
        }
    }

    fn caches(&self) -> Caches {
        Caches {
            any: self.any.create_cache(),
            each: self.each.iter().map(Regex::create_cache).collect(),
        }
    }

    /// Appends every validated hit in `text` to `hits`, in order, never overlapping.
    pub(crate) fn scan(&self, text: &str, hits: &mut Vec<Hit>) {
        // One set of fallback caches per thread, taken without a lock (the regexes' own pools
        // lock for every thread but the first): scrubbing lanes never contend.
        thread_local! {
            static CACHES: RefCell<Option<Caches>> = const { RefCell::new(None) };
        }
        CACHES.with(|c| {
            let mut c = c.borrow_mut();
            let caches = c.get_or_insert_with(|| self.caches());
            self.scan_with(caches, text, hits);
        });
    }

    fn scan_with(&self, caches: &mut Caches, text: &str, hits: &mut Vec<Hit>) {
        let mut at = 0;
        while at < text.len() {
            let Some((start, end, first)) = self.leftmost(text.as_bytes(), at) else {
                break;
            };
            let mut found =
                (self.rules[first].validate)(text, start..end).map(|span| (first, span));
            if found.is_none() {
                found = self.try_others(caches, text, start, first);
            }
            match found {
                Some((rule, span)) => {
                    hits.push(Hit {
                        detector: self.rules[rule].detector,
                        start: span.start,
                        end: span.end,
                    });
                    at = span.end.max(start + 1);
                }
                None => {
                    let b = text.as_bytes();
                    at = if start > 0 && b[start - 1].is_ascii_alphanumeric() {
                        // Inside a word (base64, hex, a long id): nothing can start before the
                        // word ends (see the module notes). Skipping it keeps long tokens linear.
                        start
                            + b[start..]
                                .iter()
                                .take_while(|c| c.is_ascii_alphanumeric())
                                .count()
                                .max(1)
                    } else {
                        start + text[start..].chars().next().map_or(1, char::len_utf8)
                    };
                }
            }
            while !text.is_char_boundary(at) {
                at += 1;
            }
        }
    }

    /// The leftmost candidate at or after `at`: (start, end, rule). Tries `at` itself, then
    /// only the bytes where a hit can start (see the module notes).
    fn leftmost(&self, b: &[u8], at: usize) -> Option<(usize, usize, usize)> {
        if let Some(m) = self.anchored(b, at) {
            return Some(m);
        }
        let mut prev_word = b[at].is_ascii_alphanumeric();
        for (p, &c) in b.iter().enumerate().skip(at + 1) {
            let word = c.is_ascii_alphanumeric();
            let tried = self.starts[usize::from(c)] && !(word && prev_word);
            prev_word = word;
            if tried && let Some(m) = self.anchored(b, p) {
                return Some(m);
            }
        }
        None
    }

    /// The leftmost-first match of the patterns anchored at `p`: (start, end, rule).
    fn anchored(&self, b: &[u8], p: usize) -> Option<(usize, usize, usize)> {
        let dfa = &self.dfa;
        if !self.starts[usize::from(*b.get(p)?)] {
            return None;
        }
        let mut sid = self.start;
        let mut last = None;
        for (i, &c) in b.iter().enumerate().skip(p) {
            sid = dfa.next_state(sid, c);
            if dfa.is_special_state(sid) {
                if dfa.is_match_state(sid) {
                    // Matches are reported one byte late: this one ends before `c`.
                    last = Some((p, i, dfa.match_pattern(sid, 0).as_usize()));
                } else if dfa.is_dead_state(sid) {
                    return last;
                }
            }
        }
        sid = dfa.next_eoi_state(sid);
        if dfa.is_match_state(sid) {
            last = Some((p, b.len(), dfa.match_pattern(sid, 0).as_usize()));
        }
        last
    }

    fn try_others(
        &self,
        caches: &mut Caches,
        text: &str,
        start: usize,
        skip: usize,
    ) -> Option<(usize, std::ops::Range<usize>)> {
        let at = Input::new(text).range(start..).anchored(Anchored::Yes);
        // Most failed candidates (a timestamp, an order number) start no other rule: one
        // anchored pass over all the patterns rules them out instead of one search per rule.
        let mut set = PatternSet::new(self.each.len());
        self.any
            .which_overlapping_matches_with(&mut caches.any, &at, &mut set);
        set.iter().find_map(|pid| {
            let i = pid.as_usize();
            if i == skip {
                return None;
            }
            let m = self.each[i].search_with(&mut caches.each[i], &at)?;
            (self.rules[i].validate)(text, m.range()).map(|span| (i, span))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::detect::{Detector, scan};

    #[test]
    fn finds_several_kinds_in_one_value() {
        let text =
            "jane@example.com paid with 4111 1111 1111 1111 from 10.1.2.3, call 415-555-2671";
        let kinds: Vec<_> = scan(text).into_iter().map(|h| h.detector).collect();
        assert_eq!(
            kinds,
            [
                Detector::Email,
                Detector::Card,
                Detector::Ipv4,
                Detector::Phone
            ]
        );
    }

    #[test]
    fn a_failed_candidate_falls_back_to_another_rule() {
        // 12 digits with a bad Luhn are not a card, but `+1 415 555 2671` is still a phone.
        let hits = scan("tel +1 415 555 2671");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].detector, Detector::Phone);
    }

    #[test]
    fn plain_text_has_no_hits() {
        assert!(scan("/fetch_premium?zone=AE&page=2").is_empty());
        assert!(scan("").is_empty());
        assert!(scan("héllo wörld ✓ 12:30").is_empty());
    }
}
