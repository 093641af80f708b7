//! The PII detectors: one file per detector, each a candidate pattern for the shared
//! automaton and a validator in code (checksums, validity rules, word boundaries — Rust's regex
//! has no look-around).
//!
//! [`scan`] finds every detector hit in a text in one automaton pass. Hits on esr's own
//! pseudonyms are never reported: pseudonyms are built to fail the validators (a card pseudonym
//! fails Luhn, an SSN pseudonym has area 9xx, a phone pseudonym has area 0xx, an IBAN pseudonym
//! has check digits 00) or to sit in ranges no real value uses (`.invalid` emails, 240.0.0.0/4,
//! 2001:db8::/32, `esr_` tokens, a marked JWT header); [`is_pseudonym`] tells them apart.

mod card;
mod credential;
mod email;
mod iban;
mod ipv4;
mod ipv6;
mod jwt;
mod phone;
mod secret;
mod ssn;

use std::ops::Range;

pub(crate) use card::luhn_valid;
pub(crate) use jwt::MARKER_HEADER as JWT_MARKER_HEADER;
pub(crate) use secret::{holds_literal, is_json_form, is_secret_name};

/// A kind of personal data or secret esr detects in free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Detector {
    /// An email address.
    Email,
    /// A phone number: NANP or E.164, with the separators people write.
    Phone,
    /// A US social security number with a valid area, group and serial.
    Ssn,
    /// A payment card number (12–19 digits, Luhn).
    Card,
    /// An IBAN (mod-97).
    Iban,
    /// An IPv4 address (loopback and unspecified excepted).
    Ipv4,
    /// An IPv6 address (loopback and unspecified excepted).
    Ipv6,
    /// A JSON Web Token.
    Jwt,
    /// The credential of a `Bearer` or `Basic` authorization.
    Credential,
    /// The value of a secret-named query parameter or JSON field (`password`, `token`, ...).
    Secret,
}

impl Detector {
    /// Every detector, in report order.
    pub const ALL: [Detector; 10] = [
        Detector::Email,
        Detector::Phone,
        Detector::Ssn,
        Detector::Card,
        Detector::Iban,
        Detector::Ipv4,
        Detector::Ipv6,
        Detector::Jwt,
        Detector::Credential,
        Detector::Secret,
    ];

    /// The detector's name in policies and reports.
    pub fn name(self) -> &'static str {
        match self {
            Detector::Email => "email",
            Detector::Phone => "phone",
            Detector::Ssn => "ssn",
            Detector::Card => "card",
            Detector::Iban => "iban",
            Detector::Ipv4 => "ipv4",
            Detector::Ipv6 => "ipv6",
            Detector::Jwt => "jwt",
            Detector::Credential => "credential",
            Detector::Secret => "secret",
        }
    }

    /// The detector named `name`, if any.
    pub fn from_name(name: &str) -> Option<Detector> {
        Detector::ALL.into_iter().find(|d| d.name() == name)
    }

    /// A bit for [`DetectorSet`].
    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl std::fmt::Display for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of detectors (which ones apply to a column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectorSet(u16);

impl DetectorSet {
    /// Every detector.
    pub const ALL: DetectorSet = DetectorSet(0x3ff);
    /// No detector.
    pub const NONE: DetectorSet = DetectorSet(0);

    /// True when `d` is in the set.
    pub fn contains(self, d: Detector) -> bool {
        self.0 & d.bit() != 0
    }

    /// The set without `d`.
    pub fn without(self, d: Detector) -> DetectorSet {
        DetectorSet(self.0 & !d.bit())
    }

    /// True when the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// One detected value: which detector, and its byte span in the scanned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// What was found.
    pub detector: Detector,
    /// Byte offset of the first byte of the value.
    pub start: usize,
    /// Byte offset just past the value.
    pub end: usize,
}

impl Hit {
    /// The byte span.
    pub fn span(&self) -> Range<usize> {
        self.start..self.end
    }
}

/// One detector's contribution to the automaton: its candidate patterns and its validator.
pub(crate) struct Rule {
    pub detector: Detector,
    /// Candidate pattern (regex syntax, no look-around).
    pub pattern: &'static str,
    /// Given the whole text and the candidate's span, the span of the value (possibly
    /// narrowed), or `None` when the candidate is not a real value of this kind.
    pub validate: fn(&str, Range<usize>) -> Option<Range<usize>>,
}

/// The rules in automaton order: where two candidates start at the same byte, the earlier rule
/// is tried first (a JWT before a secret, a card before a phone, IPv6 before IPv4).
pub(crate) fn rules() -> Vec<Rule> {
    let mut v = Vec::new();
    v.extend(jwt::rules());
    v.extend(credential::rules());
    v.extend(secret::rules());
    v.extend(email::rules());
    v.extend(iban::rules());
    v.extend(card::rules());
    v.extend(ssn::rules());
    v.extend(ipv6::rules());
    v.extend(ipv4::rules());
    v.extend(phone::rules());
    v
}

/// Every hit in `text`, in order, never overlapping, esr's own pseudonyms left out.
pub fn scan(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    super::automaton::shared().scan(text, &mut hits);
    hits
}

/// Bytes of a response body scanned for personal data: enough for any JSON record a
/// sandbox answers with, small enough that scanning costs one short automaton pass.
pub const RESPONSE_SCAN_LIMIT: usize = 64 * 1024;

/// Personal data in a response body (`esr replay` and `esr compare` both count it): the
/// detectors' one automaton pass over the first [`RESPONSE_SCAN_LIMIT`] bytes, read as UTF-8
/// with invalid bytes replaced (no copy when the body is valid UTF-8).
pub fn scan_response(body: &[u8]) -> Vec<Hit> {
    let head = &body[..body.len().min(RESPONSE_SCAN_LIMIT)];
    if head.is_empty() {
        return Vec::new();
    }
    scan(&String::from_utf8_lossy(head))
}

/// True when `value` (the text of a hit of detector `d`) is one of esr's pseudonyms.
pub fn is_pseudonym(d: Detector, value: &str) -> bool {
    match d {
        Detector::Email => email::is_pseudonym(value),
        Detector::Ipv4 => ipv4::is_pseudonym(value),
        Detector::Ipv6 => ipv6::is_pseudonym(value),
        Detector::Jwt => jwt::is_pseudonym(value),
        Detector::Credential | Detector::Secret => is_token_pseudonym(value),
        // These pseudonyms fail their own validators, so they are never hits at all.
        Detector::Phone | Detector::Ssn | Detector::Card | Detector::Iban => false,
    }
}

/// Prefix of esr's opaque token pseudonyms (`esr_` and lower-case hex).
pub const TOKEN_PREFIX: &str = "esr_";

/// True for `esr_` followed by at least 8 lower-case hex digits.
pub fn is_token_pseudonym(value: &str) -> bool {
    value.strip_prefix(TOKEN_PREFIX).is_some_and(|h| {
        h.len() >= 8
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The character before byte `i`, if any.
pub(crate) fn before(text: &str, i: usize) -> Option<char> {
    text[..i].chars().next_back()
}

/// The character at byte `i`, if any.
pub(crate) fn after(text: &str, i: usize) -> Option<char> {
    text[i..].chars().next()
}

/// The character two places after byte `i` when the one at `i` is `sep` (for "not followed by
/// `.5`" style checks).
pub(crate) fn after_sep(text: &str, i: usize, sep: fn(char) -> bool) -> Option<char> {
    let mut it = text[i..].chars();
    match it.next() {
        Some(c) if sep(c) => it.next(),
        _ => None,
    }
}

/// True when `c` is an ASCII letter or digit.
pub(crate) fn alnum(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric())
}

/// True when `c` is an ASCII digit.
pub(crate) fn digit(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_digit())
}

/// Shared helper for the per-detector fixture tests: on every `+` line of `fixture`, detector
/// `d` must find the value whole (the part in `[[...]]` when the line marks one); every `-`
/// line must give no hit of `d`.
#[cfg(test)]
pub(crate) fn check_fixture(d: Detector, fixture: &str) {
    let mut checked = 0;
    for line in fixture.lines() {
        let (sign, value) = match line.split_at_checked(2) {
            Some((s, v)) if s == "+ " || s == "- " => (s, v),
            _ => continue,
        };
        let (text, want) = match (value.find("[["), value.find("]]")) {
            (Some(a), Some(b)) => (
                format!(
                    "see {}{}{} here",
                    &value[..a],
                    &value[a + 2..b],
                    &value[b + 2..]
                ),
                value[a + 2..b].to_string(),
            ),
            _ => (format!("see {value} here"), value.to_string()),
        };
        let hits: Vec<_> = scan(&text)
            .into_iter()
            .filter(|h| h.detector == d)
            .collect();
        if sign == "+ " {
            let whole = hits.iter().any(|h| text[h.span()] == want);
            assert!(whole, "{d}: missed `{want}` (hits {hits:?})");
        } else {
            assert!(hits.is_empty(), "{d}: false positive on `{value}`");
        }
        checked += 1;
    }
    assert!(checked >= 6, "fixture for {d} has too few lines");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_scanned_up_to_the_limit_whatever_their_bytes() {
        let mut body = b"{\"to\":\"jane.doe@example.com\",\"raw\":\"\xff\xfe\"}".to_vec();
        let hits = scan_response(&body);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].detector, Detector::Email);
        // An email past the scanned head is not looked at (the scan stays cheap).
        body = vec![b' '; RESPONSE_SCAN_LIMIT];
        body.extend_from_slice(b"jane.doe@example.com");
        assert!(scan_response(&body).is_empty());
        assert!(scan_response(b"").is_empty());
        assert!(scan_response(br#"{"token":"esr_5a4db0c5e55a7d0c"}"#).is_empty());
    }
}
