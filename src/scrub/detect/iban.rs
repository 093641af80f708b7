//! IBANs, in either case, compact or in groups of four, checked with mod-97 and the country's
//! IBAN length. The candidate may run on into a following word (`DE89 3704 ... 00 thanks`), so
//! shorter groupings are tried, longest first.

use std::ops::Range;

use super::{Detector, Rule};

pub(super) fn rules() -> Vec<Rule> {
    vec![Rule {
        detector: Detector::Iban,
        pattern: r"[A-Za-z]{2}[0-9]{2}(?:[ ]?[A-Za-z0-9]){11,30}",
        validate,
    }]
}

/// IBAN lengths by country (ISO 13616 registry).
fn country_length(cc: &[u8; 2]) -> Option<usize> {
    Some(match cc {
        b"AD" => 24,
        b"AE" => 23,
        b"AT" => 20,
        b"BE" => 16,
        b"BG" => 22,
        b"BH" => 22,
        b"BR" => 29,
        b"CH" => 21,
        b"CY" => 28,
        b"CZ" => 24,
        b"DE" => 22,
        b"DK" => 18,
        b"EE" => 20,
        b"ES" => 24,
        b"FI" => 18,
        b"FR" => 27,
        b"GB" => 22,
        b"GR" => 27,
        b"HR" => 21,
        b"HU" => 28,
        b"IE" => 22,
        b"IL" => 23,
        b"IS" => 26,
        b"IT" => 27,
        b"LI" => 21,
        b"LT" => 20,
        b"LU" => 20,
        b"LV" => 21,
        b"MC" => 27,
        b"MT" => 31,
        b"NL" => 18,
        b"NO" => 15,
        b"PL" => 28,
        b"PT" => 25,
        b"QA" => 29,
        b"RO" => 24,
        b"SA" => 24,
        b"SE" => 24,
        b"SI" => 19,
        b"SK" => 24,
        b"SM" => 27,
        b"TR" => 26,
        b"AL" => 28,
        b"AZ" => 28,
        b"BA" => 20,
        b"BI" => 27,
        b"BY" => 28,
        b"CR" => 22,
        b"DJ" => 27,
        b"DO" => 28,
        b"EG" => 29,
        b"FK" => 18,
        b"FO" => 18,
        b"GE" => 22,
        b"GI" => 23,
        b"GL" => 18,
        b"GT" => 28,
        b"IQ" => 23,
        b"JO" => 30,
        b"KW" => 30,
        b"KZ" => 20,
        b"LB" => 28,
        b"LC" => 32,
        b"LY" => 25,
        b"MD" => 24,
        b"ME" => 22,
        b"MK" => 19,
        b"MN" => 20,
        b"MR" => 27,
        b"MU" => 30,
        b"NI" => 28,
        b"OM" => 23,
        b"PK" => 24,
        b"PS" => 29,
        b"RS" => 22,
        b"RU" => 33,
        b"SC" => 31,
        b"SD" => 18,
        b"SO" => 23,
        b"ST" => 25,
        b"SV" => 28,
        b"TL" => 23,
        b"TN" => 24,
        b"UA" => 29,
        b"VA" => 22,
        b"VG" => 24,
        b"XK" => 20,
        b"YE" => 30,
        _ => return None,
    })
}

/// True when the compact, upper-case `iban` passes mod-97.
pub(crate) fn mod97_valid(iban: &[u8]) -> bool {
    if iban.len() < 5 {
        return false;
    }
    let mut rem = 0u32;
    for &b in iban[4..].iter().chain(&iban[..4]) {
        match b {
            b'0'..=b'9' => rem = (rem * 10 + u32::from(b - b'0')) % 97,
            b'A'..=b'Z' => rem = (rem * 100 + u32::from(b - b'A' + 10)) % 97,
            _ => return false,
        }
    }
    rem == 1
}

fn validate(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let prev = super::before(text, span.start);
    if super::alnum(prev) || prev == Some('_') {
        return None;
    }
    let v = &text.as_bytes()[span.clone()];
    let cc = [v[0].to_ascii_uppercase(), v[1].to_ascii_uppercase()];
    // Only countries whose length is known: one in 97 random tokens passes mod-97, and an
    // exact length is what keeps hex ids and order numbers out.
    let want = country_length(&cc)?;
    // Candidate ends: after each alphanumeric byte, longest first.
    let mut compact: Vec<u8> = Vec::with_capacity(v.len());
    let mut ends = Vec::with_capacity(v.len());
    for (i, &b) in v.iter().enumerate() {
        if b != b' ' {
            compact.push(b.to_ascii_uppercase());
            ends.push((i + 1, compact.len()));
        }
    }
    for &(end, n) in ends.iter().rev() {
        if n < 15 {
            break;
        }
        if n != want || super::alnum(super::after(text, span.start + end)) {
            continue;
        }
        if mod97_valid(&compact[..n]) {
            return Some(span.start..span.start + end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixture() {
        super::super::check_fixture(
            super::Detector::Iban,
            include_str!("../../../fixtures/scrub/iban.txt"),
        );
    }
}
