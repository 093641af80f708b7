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
//! pattern can start with therefore gives exactly the hits the unanchored search gave. For
//! the same reason a candidate that fails at the first byte of a word lets the scan skip the
//! rest of that word: only an email could start inside it, and an email one byte further in
//! ends where the failed one ended and fails the same checks (its local part is one letter
//! shorter, nothing else changes). Rewritten values are scanned again, and esr's own email
//! pseudonyms fail there: this skip saves walking each one once per letter of its word.
//!
//! Most tries end before a walk: a table over three bytes' DFA classes says whether a match
//! can start with them at all, and most words die within three bytes ("Content", `":"`).
//!
//! Three patterns run through whole words or start at every quote before they fail: the
//! email's local part, the `prefix_` of a `name=value` secret and the quoted key of a
//! `"name": "value"` secret. Each can start only in a zone of the text found beforehand: an
//! email in a run of local-part bytes that ends at `@`, a `name=value` secret in a run of name
//! bytes that ends at `=` (neither class holds its end byte, so the run from a start byte is
//! the one that must end there), a JSON secret at the opening quote of a key that holds one
//! of the names' literals and is followed by `:`. Each byte is tried with the DFA built
//! without the patterns that cannot start there: a pattern that cannot match at a byte
//! changes no leftmost-first result at it. Most header objects have no zone at all, and in a
//! JSON body with an email only the email's own word walks the email pattern (before the
//! zones, every word of a text with an `@` did, and every quote of a body with a secret key).

use std::sync::OnceLock;

use regex_automata::dfa::{Automaton as _, StartKind, dense};
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};

use super::detect::{Detector, Hit, Rule, holds_literal, is_json_form, rules};

/// Byte-oriented, ASCII-only compilation: every pattern starts and stops on ASCII bytes, so
/// spans stay on character boundaries and the DFAs stay small.
fn syntax() -> regex_automata::util::syntax::Config {
    regex_automata::util::syntax::Config::new()
        .unicode(false)
        .utf8(false)
}

/// Variant bit: the email pattern is in.
const EMAIL: usize = 1;
/// Variant bit: the secret pattern's query form (`name=value`) is in.
const SECRET_QUERY: usize = 2;
/// Variant bit: the secret pattern's JSON form (`"name": "value"`) is in.
const SECRET_JSON: usize = 4;
/// How many variants there are.
const VARIANTS: usize = 8;

/// An anchored, leftmost-first DFA over some of the rules' patterns.
struct Anchor {
    dfa: dense::DFA<Vec<u32>>,
    /// The start state (the patterns have no look-around, so there is one).
    start: StateID,
    /// Bytes some of its patterns can start with.
    starts: [bool; 256],
    /// The DFA's byte classes (bytes no pattern tells apart share one).
    class: [u8; 256],
    /// How many classes there are.
    classes: usize,
    /// One bit per three classes in a row: set when three bytes of those classes, read from
    /// the start, can still lead to a match (a match seen or the DFA not dead after them).
    /// Most words die within three bytes ("Content", "json", `":"`), so most tries end
    /// here, without a walk.
    live3: Vec<u64>,
    /// Its pattern ids -> rule indexes.
    rule: Vec<usize>,
}

impl Anchor {
    fn build(rules: &[Rule], keep: impl Fn(&Rule) -> bool) -> Anchor {
        let rule: Vec<usize> = (0..rules.len()).filter(|&i| keep(&rules[i])).collect();
        let patterns: Vec<&str> = rule.iter().map(|&i| rules[i].pattern).collect();
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
        let mut class = [0u8; 256];
        for (b, c) in class.iter_mut().enumerate() {
            *c = dfa.byte_classes().get(b as u8);
        }
        let classes = usize::from(class.iter().copied().max().unwrap_or(0)) + 1;
        // One byte of each class stands for all of them: the DFA cannot tell them apart.
        let mut rep = vec![0u8; classes];
        for b in (0..=255u8).rev() {
            rep[usize::from(class[usize::from(b)])] = b;
        }
        let mut live3 = vec![0u64; (classes * classes * classes).div_ceil(64)];
        for (c0, &x) in rep.iter().enumerate() {
            let s1 = dfa.next_state(start, x);
            for (c1, &y) in rep.iter().enumerate() {
                let s2 = dfa.next_state(s1, y);
                for (c2, &z) in rep.iter().enumerate() {
                    let s3 = dfa.next_state(s2, z);
                    let live = [s1, s2, s3].iter().any(|&s| dfa.is_match_state(s))
                        || !dfa.is_dead_state(s3);
                    if live {
                        let i = (c0 * classes + c1) * classes + c2;
                        live3[i / 64] |= 1 << (i % 64);
                    }
                }
            }
        }
        Anchor {
            dfa,
            start,
            starts,
            class,
            classes,
            live3,
            rule,
        }
    }

    /// False when no match can start at `p`: three bytes ahead looked up in [`Anchor::live3`]
    /// (the first byte alone near the end of the text).
    #[inline]
    fn may_start(&self, b: &[u8], p: usize) -> bool {
        match b.get(p..p + 3) {
            Some(&[x, y, z]) => {
                let c = |v: u8| usize::from(self.class[usize::from(v)]);
                let i = (c(x) * self.classes + c(y)) * self.classes + c(z);
                self.live3[i / 64] >> (i % 64) & 1 == 1
            }
            _ => b.get(p).is_some_and(|&x| self.starts[usize::from(x)]),
        }
    }

    /// The leftmost-first match anchored at `p`: (end, rule index).
    #[inline]
    fn at(&self, b: &[u8], p: usize) -> Option<(usize, usize)> {
        if !self.may_start(b, p) {
            return None;
        }
        self.walk(b, p)
    }

    /// [`Anchor::at`] past its look-up: runs the DFA from `p`.
    #[inline(never)]
    fn walk(&self, b: &[u8], p: usize) -> Option<(usize, usize)> {
        let dfa = &self.dfa;
        let mut sid = self.start;
        let mut last = None;
        for (i, &c) in b.iter().enumerate().skip(p) {
            sid = dfa.next_state(sid, c);
            if dfa.is_special_state(sid) {
                if dfa.is_match_state(sid) {
                    // Matches are reported one byte late: this one ends before `c`.
                    last = Some((i, dfa.match_pattern(sid, 0).as_usize()));
                } else if dfa.is_dead_state(sid) {
                    break;
                }
            }
        }
        if !dfa.is_dead_state(sid) {
            sid = dfa.next_eoi_state(sid);
            if dfa.is_match_state(sid) {
                last = Some((b.len(), dfa.match_pattern(sid, 0).as_usize()));
            }
        }
        last.map(|(end, pid)| (end, self.rule[pid]))
    }
}

/// Bytes an email's local part may hold (`[A-Za-z0-9._%+\-]`).
static LOCAL: [bool; 256] = byte_set(b"._%+-");
/// Bytes a `name=value` secret's name may hold (`[A-Za-z0-9_\-]`).
static NAME: [bool; 256] = byte_set(b"_-");

/// Letters, digits and `extra`, by byte.
const fn byte_set(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

/// Zones kept per text; past that, the patterns' bits apply at every byte, as if no zones
/// were drawn (slower, same hits).
const MAX_ZONES: usize = 8;

/// Where, in one text, the three patterns that need a terminator or a key can start (see the
/// module notes): an email only in a run of local-part bytes that ends at `@`, a `name=value`
/// secret only in a run of name bytes that ends at `=`, a `"name": "value"` secret only at
/// the opening quote of a key that holds a name's literal and is followed by `:`.
struct Zones {
    /// (start, end, variant bit), in order; zones never share a byte (a name run that ends at
    /// `=` does not end at `@`, and neither run holds a quote).
    at: [(u32, u32, u8); MAX_ZONES],
    len: usize,
    /// Bits that apply at every byte (when the zones did not fit).
    everywhere: usize,
    /// The first zone that may still hold a later position.
    next: usize,
}

impl Zones {
    fn of(b: &[u8]) -> Zones {
        let mut z = Zones {
            at: [(0, 0, 0); MAX_ZONES],
            len: 0,
            everywhere: 0,
            next: 0,
        };
        // One pass for the three bytes that end a zone: `@`, `=` and the `:` after a key. A
        // key is found from its colon (its closing quote, then spaces, then `:`) rather than
        // by pairing every two quotes: a header object has four quotes per member and one
        // colon, and a pass that stopped at every quote cost 8 % of a scrubbed ingest's
        // instructions. The key's opening quote is the quote before its closing one, as when
        // consecutive quotes were paired, so the zones are the same.
        let zones = memchr::memchr3_iter(b'@', b'=', b':', b).filter_map(|i| {
            let run = |class: &[bool; 256]| {
                let n = b[..i].iter().rev().take_while(|&&c| class[usize::from(c)]);
                i - n.count()
            };
            match b[i] {
                b'@' => Some((run(&LOCAL), i, EMAIL)),
                b'=' => Some((run(&NAME), i, SECRET_QUERY)),
                _ => {
                    let spaces = b[..i].iter().rev().take_while(|&&c| c == b' ').count();
                    let close = (i - spaces).checked_sub(1).filter(|&k| b[k] == b'"')?;
                    let open = memchr::memrchr(b'"', &b[..close])?;
                    // The colon is already found: only the key's literal is left to check.
                    holds_literal(&b[open + 1..close]).then_some((open, open + 1, SECRET_JSON))
                }
            }
        });
        for (start, end, bit) in zones.filter(|&(start, end, _)| start < end) {
            if z.len == MAX_ZONES || end > u32::MAX as usize {
                z.everywhere = EMAIL | SECRET_QUERY | SECRET_JSON;
                z.len = 0;
                return z;
            }
            z.at[z.len] = (start as u32, end as u32, bit as u8);
            z.len += 1;
        }
        z.at[..z.len].sort_unstable();
        z
    }

    /// The zone bits at `p`; `p` never decreases from one call to the next.
    #[inline]
    fn bits(&mut self, p: usize) -> usize {
        while self.next < self.len && self.at[self.next].1 as usize <= p {
            self.next += 1;
        }
        match self.at[..self.len].get(self.next) {
            Some(&(start, _, bit)) if start as usize <= p => self.everywhere | usize::from(bit),
            _ => self.everywhere,
        }
    }
}

/// ASCII letters and digits, by byte: one load where `is_ascii_alphanumeric` is three ranges.
static WORD: [bool; 256] = byte_set(b"");

/// True for an ASCII letter or digit.
#[inline]
fn is_word(c: u8) -> bool {
    WORD[usize::from(c)]
}

/// The end of the run of letters and digits at or after `p`.
#[inline]
fn word_end(b: &[u8], p: usize) -> usize {
    p + b[p..]
        .iter()
        .position(|&c| !is_word(c))
        .unwrap_or(b.len() - p)
}

/// The compiled rules.
pub(crate) struct Automaton {
    /// All the rules, by variant bits ([`EMAIL`], [`SECRET_QUERY`], [`SECRET_JSON`]), each
    /// built when a text first needs it: index 7 has every pattern.
    variants: [OnceLock<Anchor>; VARIANTS],
    /// Each rule alone: the other rules that match where a candidate failed.
    each: Vec<Anchor>,
    rules: Vec<Rule>,
}

/// The process-wide automaton, built on first use.
pub(crate) fn shared() -> &'static Automaton {
    static SHARED: OnceLock<Automaton> = OnceLock::new();
    SHARED.get_or_init(Automaton::build)
}

impl Automaton {
    fn build() -> Automaton {
        let rules = rules();
        let each = (0..rules.len())
            .map(|i| Anchor::build(&rules, |r| std::ptr::eq(r, &rules[i])))
            .collect();
        let automaton = Automaton {
            variants: Default::default(),
            each,
            rules,
        };
        // Every scan tries most bytes with the DFA of no zone: built here, with the
        // automaton, so a caller that builds it before its clock starts (replay does, to scan
        // answers) is not charged for it by the first answer of a run.
        automaton.variant(0);
        automaton
    }

    /// The DFA over the rules a text with these variant bits can match.
    fn variant(&self, bits: usize) -> &Anchor {
        self.variants[bits].get_or_init(|| {
            Anchor::build(&self.rules, |r| match r.detector {
                Detector::Email => bits & EMAIL != 0,
                Detector::Secret if is_json_form(r) => bits & SECRET_JSON != 0,
                Detector::Secret => bits & SECRET_QUERY != 0,
                _ => true,
            })
        })
    }

    /// Appends every validated hit in `text` to `hits`, in order, never overlapping.
    pub(crate) fn scan(&self, text: &str, hits: &mut Vec<Hit>) {
        let b = text.as_bytes();
        let mut zones = Zones::of(b);
        let mut at = 0;
        while at < text.len() {
            let Some((start, end, first)) = self.leftmost(b, at, &mut zones) else {
                break;
            };
            let mut found =
                (self.rules[first].validate)(text, start..end).map(|span| (first, span));
            if found.is_none() {
                found = self.try_others(text, start, first);
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
                    at = if is_word(b[start]) || (start > 0 && is_word(b[start - 1])) {
                        // A failed candidate at or inside a word (base64, hex, a long id, an
                        // address's local part): nothing can start before the word ends (see
                        // the module notes). Skipping it keeps long tokens linear.
                        word_end(b, start).max(start + 1)
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

    /// The leftmost match at or after `at`: (start, end, rule index). Tries `at` itself, then
    /// only the bytes where a hit can start (see the module notes), each with the DFA of the
    /// patterns that can start there (by the zone it lies in).
    fn leftmost(&self, b: &[u8], at: usize, zones: &mut Zones) -> Option<(usize, usize, usize)> {
        // Most texts have no zone: one DFA for the whole text.
        let plain = self.variant(zones.everywhere);
        let mut anchor = |p: usize| match zones.bits(p) {
            bits if bits == zones.everywhere => plain,
            bits => self.variant(bits),
        };
        if let Some((end, rule)) = anchor(at).at(b, at) {
            return Some((at, end, rule));
        }
        // Past the rest of a word the scan position is in.
        let mut p = if is_word(*b.get(at)?) {
            word_end(b, at + 1)
        } else {
            at + 1
        };
        while let Some(&c) = b.get(p) {
            if is_word(c) {
                // A word start: tried, then the rest of the word is not.
                if let Some((end, rule)) = anchor(p).at(b, p) {
                    return Some((p, end, rule));
                }
                p = word_end(b, p + 1);
            } else {
                let a = anchor(p);
                if a.starts[usize::from(c)]
                    && let Some((end, rule)) = a.at(b, p)
                {
                    return Some((p, end, rule));
                }
                p += 1;
            }
        }
        None
    }

    /// The first rule in rule order, other than `skip`, that matches at `start` and
    /// validates: a failed candidate may still be another kind of value (a Luhn-invalid card
    /// is maybe a phone number).
    fn try_others(
        &self,
        text: &str,
        start: usize,
        skip: usize,
    ) -> Option<(usize, std::ops::Range<usize>)> {
        let b = text.as_bytes();
        self.each.iter().enumerate().find_map(|(i, one)| {
            if i == skip {
                return None;
            }
            let (end, _) = one.at(b, start)?;
            (self.rules[i].validate)(text, start..end).map(|span| (i, span))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::detect::{Detector, Hit, scan};
    use super::{shared, syntax};

    /// The plain way to scan: from the scan position, one unanchored leftmost-first search
    /// over every pattern (`re`); a failed candidate's other rules tried in rule order, each
    /// by its own regex anchored at the candidate (`each`); on failure, move on one character,
    /// or past the rest of the word when the candidate started inside one.
    fn reference_scan(
        re: &regex_automata::meta::Regex,
        each: &[regex_automata::meta::Regex],
        text: &str,
    ) -> Vec<Hit> {
        use regex_automata::{Anchored, Input};
        let rules = &shared().rules;
        let b = text.as_bytes();
        let mut hits = Vec::new();
        let mut at = 0;
        while at < text.len() {
            let Some(m) = re.search(&Input::new(text).range(at..)) else {
                break;
            };
            let (start, first) = (m.start(), m.pattern().as_usize());
            let found = (rules[first].validate)(text, m.range())
                .map(|span| (first, span))
                .or_else(|| {
                    (0..rules.len()).filter(|&i| i != first).find_map(|i| {
                        let input = Input::new(text).range(start..).anchored(Anchored::Yes);
                        let m = each[i].search(&input)?;
                        (rules[i].validate)(text, m.range()).map(|span| (i, span))
                    })
                });
            match found {
                Some((rule, span)) => {
                    hits.push(Hit {
                        detector: rules[rule].detector,
                        start: span.start,
                        end: span.end,
                    });
                    at = span.end.max(start + 1);
                }
                None if start > 0 && b[start - 1].is_ascii_alphanumeric() => {
                    at = start
                        + b[start..]
                            .iter()
                            .take_while(|c| c.is_ascii_alphanumeric())
                            .count()
                            .max(1);
                }
                None => at = start + text[start..].chars().next().map_or(1, char::len_utf8),
            }
            while !text.is_char_boundary(at) {
                at += 1;
            }
        }
        hits
    }

    /// The module's claim: trying only the scan position, word starts and the punctuation a
    /// pattern starts with, with the patterns that cannot start there left out, finds exactly the
    /// hits of the plain unanchored search. Random texts are built from pieces of every kind
    /// of value, glued without and with separators, so candidates start inside words, overlap,
    /// fail validation and sit next to each other.
    #[test]
    fn the_anchored_scan_finds_what_an_unanchored_search_finds() {
        const PIECES: [&str; 53] = [
            "\"password\":\"",
            "\"X-Api-Key\" : \"",
            "\"note\":\"",
            "\":",
            "?csrf_token=",
            "\"Card_Number\"",
            "a",
            "Z",
            "x",
            "e",
            "0",
            "1",
            "4",
            "9",
            "12",
            "555",
            "2671",
            "@",
            ".",
            "-",
            "_",
            " ",
            ":",
            "::",
            "=",
            "\"",
            "+",
            "(",
            ")",
            "/",
            "?",
            "&",
            ",",
            "%40",
            "é",
            "eyJhbGci",
            "eyJzdWIi",
            "Bearer ",
            "basic ",
            "password",
            "x-api-key",
            "token",
            "GB82WEST",
            "12345698765432",
            "4111 1111 1111 1111",
            "jane.doe",
            "example.com",
            "10.1.2.3",
            "fe80::1",
            "078-05-1120",
            // esr's own pseudonyms: rewritten values are scanned again.
            "u7253f8f852@dabfc56.invalid",
            ".invalid",
            "esr_d823212a7810c354",
        ];
        let patterns: Vec<&str> = shared().rules.iter().map(|r| r.pattern).collect();
        let build = |p: &[&str]| {
            regex_automata::meta::Regex::builder()
                .syntax(syntax())
                .build_many(p)
                .unwrap()
        };
        let re = build(&patterns);
        let each: Vec<_> = patterns.iter().map(|p| build(&[p])).collect();
        let mut hits = Vec::new();
        // Short texts, then long ones that hold more zones than are kept.
        let short = crate::testing::random_texts(0x9e37_79b9_7f4a_7c15, 20_000, 1..25, &PIECES);
        let long = crate::testing::random_texts(0x2545_f491_4f6c_dd1d, 2_000, 60..160, &PIECES);
        for pieces in short.chain(long) {
            let text = pieces.concat();
            hits.clear();
            shared().scan(&text, &mut hits);
            assert_eq!(hits, reference_scan(&re, &each, &text), "text: {text:?}");
        }
    }

    #[test]
    fn the_dfa_of_no_zone_is_built_with_the_automaton() {
        // `scan("")` tries no byte; replay's warm-up relies on the build making this DFA.
        let fresh = super::Automaton::build();
        assert!(fresh.variants[0].get().is_some());
        assert!(fresh.variants[1..].iter().all(|v| v.get().is_none()));
    }

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
