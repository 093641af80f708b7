//! A cheap proof that a value holds no detector candidate, so the automaton need not run.
//!
//! Most values a log repeats (content types, user agents, request ids, short paths) hold no
//! personal data, yet the automaton's lazy DFA spends most of its time on them: its many
//! counted patterns at once make states it must build and rebuild. Each rule's pattern needs
//! something rare to match at all, and one pass over the bytes looks for exactly that:
//!
//! - email: an `@`; E.164 phone: `+` and a digit 1–9; JWT: `eyJ`;
//! - card (12+ digits), NANP phone (10): at least 10 digits in one run whose digits are at
//!   most two characters of ` .-()` apart; SSN: 9 digits and two ` `/`-` gaps in such a run;
//!   IPv4: three `.` gaps in such a run;
//! - IPv6: two `:` with at most four hex digits between them;
//! - IBAN: two letters, two digits, then 11 letters or digits (single spaces allowed);
//! - credential and secret: one of the words their patterns start with (`bearer`, `basic`,
//!   `passw`, `token`, `key`, `card`, ...), in any case.
//!
//! Each is a necessary condition of its pattern, so "no" is exact: the automaton would find no
//! candidate either (a unit test checks that on random text). "Yes" only means: scan.

use regex_automata::meta::{Cache, Regex};
use regex_automata::{Input, MatchKind};

/// The words every credential and secret-name pattern contains (ASCII, any case).
const WORDS: &str = r"(?i:bearer|basic|passw|pwd|passcode|secret|token|key|session|signature|otp|pin|cvv|cvc|ssn|iban|acct|account|routing|card)";

/// The word search for [`may_hold_candidate`].
pub(crate) struct Words(Regex);

impl Words {
    pub(crate) fn new() -> Words {
        let re = Regex::builder()
            .syntax(
                regex_automata::util::syntax::Config::new()
                    .unicode(false)
                    .utf8(false),
            )
            .configure(Regex::config().match_kind(MatchKind::LeftmostFirst))
            .build(WORDS)
            .expect("the word pattern compiles");
        Words(re)
    }

    pub(crate) fn create_cache(&self) -> Cache {
        self.0.create_cache()
    }
}

/// False only when no detector pattern can match anywhere in `text`.
pub(crate) fn may_hold_candidate(words: &Words, cache: &mut Cache, text: &str) -> bool {
    structural(text.as_bytes()) || words.0.search_half_with(cache, &Input::new(text)).is_some()
}

/// The conditions on characters and digits (all but the words).
fn structural(b: &[u8]) -> bool {
    // Values with an email (bodies, email columns) are the ones scanned anyway: a memchr
    // lets them skip the byte loop.
    if b.contains(&b'@') {
        return true;
    }
    // The current digit run: its digits, its `.` gaps, its ` `/`-` gaps, the gap since its
    // last digit and what that gap holds.
    let (mut digits, mut dots, mut seps, mut gap) = (0u32, 0u32, 0u32, 0usize);
    let (mut gap_dot, mut gap_sep) = (false, false);
    let mut in_run = false;
    // Hex digits since the last `:`, while nothing else came between.
    let mut hex_since_colon: Option<usize> = None;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'+' if matches!(b.get(i + 1), Some(b'1'..=b'9')) => return true,
            b'J' if i >= 2 && &b[i - 2..i] == b"ey" => return true,
            b':' => {
                if hex_since_colon.is_some_and(|n| n <= 4) {
                    return true;
                }
                hex_since_colon = Some(0);
                in_run = false;
                continue;
            }
            _ => {}
        }
        if c.is_ascii_hexdigit() {
            hex_since_colon = hex_since_colon.map(|n| n + 1);
        } else {
            hex_since_colon = None;
        }
        match c {
            b'0'..=b'9' => {
                if in_run {
                    dots += u32::from(gap_dot);
                    seps += u32::from(gap_sep);
                    digits += 1;
                } else {
                    (digits, dots, seps) = (1, 0, 0);
                    in_run = true;
                }
                (gap, gap_dot, gap_sep) = (0, false, false);
                if digits >= 10 || (digits >= 9 && seps >= 2) || dots >= 3 {
                    return true;
                }
                if i >= 3
                    && b[i - 1].is_ascii_digit()
                    && b[i - 2].is_ascii_alphabetic()
                    && b[i - 3].is_ascii_alphabetic()
                    && iban_tail(&b[i + 1..])
                {
                    return true;
                }
            }
            b' ' | b'.' | b'-' | b'(' | b')' if in_run => {
                gap += 1;
                gap_dot |= c == b'.';
                gap_sep |= c == b' ' || c == b'-';
                in_run = gap <= 2;
            }
            _ => in_run = false,
        }
    }
    false
}

/// True when `b` starts with 11 letters or digits, each after at most one space.
fn iban_tail(b: &[u8]) -> bool {
    let mut n = 0;
    let mut i = 0;
    while n < 11 {
        if b.get(i) == Some(&b' ') {
            i += 1;
        }
        match b.get(i) {
            Some(c) if c.is_ascii_alphanumeric() => {
                n += 1;
                i += 1;
            }
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::detect::rules;

    fn may(text: &str) -> bool {
        let w = Words::new();
        let mut c = w.create_cache();
        may_hold_candidate(&w, &mut c, text)
    }

    #[test]
    fn ordinary_values_are_ruled_out() {
        for v in [
            "application/json",
            "hms-portal/3.2 (Android 14)",
            r#"{"Content-Type":"application/json","X-Request-Id":"d09956db4d40ced5"}"#,
            "/fetch_premium?zone=AE&page=2",
            "2026-11-20",
            "at 12:3 or 7.5.1",
            "id 764657633 or 123-456789",
            "",
        ] {
            assert!(!may(v), "`{v}` should be ruled out");
        }
        for v in [
            "a@b.co",
            "+44 20",
            "eyJhbGc",
            "4111 1111 11",
            "123 45 6789",
            "1.2.3.4",
            "fe80::1",
            "GB82WEST12345698765432",
            "Authorization: BEARER x",
            "?Password=x",
        ] {
            assert!(may(v), "`{v}` must be scanned");
        }
    }

    /// The prefilter's "no" is exact: on random text built from the characters the patterns
    /// care about, whenever it says no, no pattern matches anywhere.
    #[test]
    fn a_ruled_out_value_matches_no_pattern() {
        let patterns: Vec<Regex> = rules()
            .iter()
            .map(|r| {
                Regex::builder()
                    .syntax(
                        regex_automata::util::syntax::Config::new()
                            .unicode(false)
                            .utf8(false),
                    )
                    .build(r.pattern)
                    .unwrap()
            })
            .collect();
        let pieces: &[&str] = &[
            "0", "1", "2", "5", "9", "12", "345", ".", " ", "-", "(", ")", ":", "::", "+", "@",
            "a", "F", "e", "y", "J", "eyJ", "x", "Q", "GB", "de", "_", "=", "\"", "/", "é", "PASS",
            "word", "Tok", "en", "ke", "y", "Bear", "er ", "cArD", "6789", "555", "(415) ", "4111",
            "ab:",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut ruled_out, mut scanned) = (0, 0);
        let w = Words::new();
        let mut cache = w.create_cache();
        for _ in 0..20_000 {
            let len = 1 + next() % 32;
            let text: String = (0..len)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            if may_hold_candidate(&w, &mut cache, &text) {
                scanned += 1;
                continue;
            }
            ruled_out += 1;
            for (re, rule) in patterns.iter().zip(rules()) {
                assert!(
                    re.find(&text).is_none(),
                    "ruled out `{text}`, but the {} pattern matches",
                    rule.detector
                );
            }
        }
        // Both answers were exercised.
        assert!(
            ruled_out > 1_000 && scanned > 1_000,
            "{ruled_out} {scanned}"
        );
    }
}
