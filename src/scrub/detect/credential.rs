//! Credentials of `Bearer` and `Basic` authorizations, wherever they are written (a header, a
//! log line, a note). The hit is the credential only; the scheme word stays.

use std::ops::Range;

use super::{Detector, Rule};

pub(super) fn rules() -> Vec<Rule> {
    vec![Rule {
        detector: Detector::Credential,
        pattern: r"(?i:bearer|basic)[ ]+[A-Za-z0-9._~+/\-]{8,}=*",
        validate,
    }]
}

fn validate(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    if super::alnum(super::before(text, span.start)) {
        return None;
    }
    let v = &text[span.clone()];
    let scheme = v.find(' ')?;
    let token_at = scheme + v[scheme..].bytes().take_while(|&b| b == b' ').count();
    let token = &v[token_at..];
    let plausible = if v[..scheme].eq_ignore_ascii_case("basic") {
        // `Basic` carries base64 of `user:password`.
        base64_decode(token).is_some_and(|d| d.contains(&b':'))
    } else {
        // Bearer tokens are random: digits, mixed case, or length. `Bearer authentication`
        // is prose.
        let digits = token.bytes().any(|b| b.is_ascii_digit());
        let mixed = token.bytes().any(|b| b.is_ascii_uppercase())
            && token.bytes().any(|b| b.is_ascii_lowercase());
        digits || mixed || token.len() >= 24
    };
    (plausible && !super::is_token_pseudonym(token)).then_some(span.start + token_at..span.end)
}

/// Decodes standard or URL-safe base64, padded or not; `None` when it is not base64.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixture() {
        super::super::check_fixture(
            super::Detector::Credential,
            include_str!("../../../fixtures/scrub/credential.txt"),
        );
    }
}
