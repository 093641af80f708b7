//! One multi-pattern automaton over every detector's candidate pattern.
//!
//! A value is scanned once, left to right: the automaton reports the leftmost candidate and
//! which pattern matched; the rule's validator confirms it (and may narrow it). When it does
//! not, the other patterns are tried anchored at the same byte (a Luhn-invalid card may still
//! be a phone number), and failing that the scan moves on by one character. Candidates are rare
//! in ordinary text, so the common case is one DFA pass and no allocation.

use std::cell::RefCell;
use std::sync::OnceLock;

use regex_automata::meta::{Cache, Regex};
use regex_automata::{Anchored, Input, Match, MatchKind, PatternSet, hybrid};

use super::detect::{Hit, Rule, rules};

/// Byte-oriented, ASCII-only compilation: every pattern starts and stops on ASCII bytes, so
/// spans stay on character boundaries, and the DFA stays small enough to stay lazy-DFA fast
/// (Unicode classes make the lazy DFA's cache thrash and fall back to a slow engine). The
/// larger cache is for the many patterns at once.
fn builder() -> regex_automata::meta::Builder {
    let mut b = Regex::builder();
    b.syntax(syntax())
        .configure(Regex::config().hybrid_cache_capacity(8 << 20));
    b
}

fn syntax() -> regex_automata::util::syntax::Config {
    regex_automata::util::syntax::Config::new()
        .unicode(false)
        .utf8(false)
}

/// The same patterns as a bare lazy DFA that never gives up. The meta regex's lazy DFA quits
/// after a few cache clears when it makes few bytes of progress per state, and the meta regex
/// then falls back to a far slower engine: text full of hex (esr's own pseudonyms, request
/// ids) starts many candidates and made every re-scan pay for that fallback.
fn lazy(patterns: &[&str]) -> Option<hybrid::regex::Regex> {
    hybrid::regex::Regex::builder()
        .syntax(syntax())
        .dfa(
            hybrid::dfa::Config::new()
                .cache_capacity(8 << 20)
                .minimum_cache_clear_count(None),
        )
        .build_many(patterns)
        .ok()
}

/// The compiled rules.
pub(crate) struct Automaton {
    all: Regex,
    /// `all` as a lazy DFA that never quits; `all` answers only if it errs.
    fast: Option<hybrid::regex::Regex>,
    /// The same patterns with every match reported: one anchored pass tells which rules can
    /// match at a failed candidate's start, so only those are searched one by one.
    any: Regex,
    each: Vec<Regex>,
    rules: Vec<Rule>,
}

/// The lazy-DFA caches of one thread's searches with the [`Automaton`].
struct Caches {
    all: Cache,
    fast: Option<hybrid::regex::Cache>,
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
        let all = builder()
            .build_many(&patterns)
            .expect("detector patterns compile");
        let any = builder()
            .configure(
                Regex::config()
                    .hybrid_cache_capacity(8 << 20)
                    .match_kind(MatchKind::All),
            )
            .build_many(&patterns)
            .expect("detector patterns compile");
        // One pattern, searched anchored at one byte: a few states, so the default cache
        // capacity holds them (eight megabytes each would be RSS for nothing, per thread).
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
            fast: lazy(&patterns),
            all,
            any,
            each,
            rules,
        }
    }

    fn caches(&self) -> Caches {
        Caches {
            all: self.all.create_cache(),
            fast: self.fast.as_ref().map(hybrid::regex::Regex::create_cache),
            any: self.any.create_cache(),
            each: self.each.iter().map(Regex::create_cache).collect(),
        }
    }

    /// Appends every validated hit in `text` to `hits`, in order, never overlapping.
    pub(crate) fn scan(&self, text: &str, hits: &mut Vec<Hit>) {
        // One set of search caches per thread, taken without a lock (the regexes' own pools
        // lock for every thread but the first): scrubbing lanes never contend, and the
        // scrubber and its pseudonym self-checks share one set instead of holding two.
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
            let Some(m) = self.leftmost(caches, &Input::new(text).range(at..)) else {
                break;
            };
            let start = m.start();
            let first = m.pattern().as_usize();
            let mut found = (self.rules[first].validate)(text, m.range()).map(|span| (first, span));
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
                        // Inside a word (base64, hex, a long id): every rule wants a value to
                        // start on a word boundary, and an email would have matched from the
                        // word's start, so nothing can start before the word ends. Skipping it
                        // keeps long tokens linear.
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

    /// The leftmost candidate: the lazy DFA, or the meta regex where that errs.
    fn leftmost(&self, caches: &mut Caches, input: &Input<'_>) -> Option<Match> {
        if let (Some(re), Some(cache)) = (&self.fast, caches.fast.as_mut())
            && let Ok(m) = re.try_search(cache, input)
        {
            return m;
        }
        self.all.search_with(&mut caches.all, input)
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
