//! Payment card numbers: 12–19 digits (Maestro starts at 12), optionally grouped with spaces or
//! dashes, a first digit of an issuing network (2–6), and a valid Luhn checksum.

use std::ops::Range;

use super::{Detector, Rule};

pub(super) fn rules() -> Vec<Rule> {
    vec![Rule {
        detector: Detector::Card,
        pattern: r"[0-9](?:[ \-]?[0-9]){11,18}",
        validate,
    }]
}

/// The Luhn checksum over the digits of `s` (other characters ignored).
pub(crate) fn luhn_valid(s: &str) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    for b in s.bytes().rev().filter(u8::is_ascii_digit) {
        let mut d = u32::from(b - b'0');
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
    }
    sum.is_multiple_of(10)
}

fn validate(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let v = &text[span.clone()];
    if !(b'2'..=b'6').contains(&v.as_bytes()[0]) {
        return None;
    }
    // One kind of separator, or none: `4111 1111-1111 1111` is not how cards are written.
    let spaces = v.contains(' ');
    let dashes = v.contains('-');
    if spaces && dashes {
        return None;
    }
    let prev = super::before(text, span.start);
    let glued_before = super::alnum(prev)
        || (matches!(prev, Some('-' | '.')) && super::digit(super::before(text, span.start - 1)));
    let glued_after = super::alnum(super::after(text, span.end))
        || super::digit(super::after_sep(text, span.end, |c| matches!(c, '-' | '.')));
    (!glued_before && !glued_after && luhn_valid(v)).then_some(span)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixture() {
        super::super::check_fixture(
            super::Detector::Card,
            include_str!("../../../fixtures/scrub/card.txt"),
        );
    }

    #[test]
    fn luhn() {
        assert!(super::luhn_valid("4111 1111 1111 1111"));
        assert!(!super::luhn_valid("4111 1111 1111 1112"));
    }
}
