//! US social security numbers, written `123-45-6789` or `123 45 6789`, with the validity rules:
//! area not 000, 666 or 900–999; group not 00; serial not 0000.

use std::ops::Range;

use super::{Detector, Rule};

pub(super) fn rules() -> Vec<Rule> {
    vec![Rule {
        detector: Detector::Ssn,
        pattern: r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}",
        validate,
    }]
}

/// True when area, group and serial are ones the SSA issues.
pub(crate) fn valid_parts(area: &str, group: &str, serial: &str) -> bool {
    let area: u16 = area.parse().unwrap_or(0);
    area != 0 && area != 666 && area < 900 && group != "00" && serial != "0000"
}

fn validate(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let v = &text[span.clone()];
    let (area, group, serial) = (&v[0..3], &v[4..6], &v[7..11]);
    let prev = super::before(text, span.start);
    let glued_before = super::alnum(prev)
        || (matches!(prev, Some('-' | '.')) && super::alnum(super::before(text, span.start - 1)));
    let glued_after = super::alnum(super::after(text, span.end))
        || super::alnum(super::after_sep(text, span.end, |c| matches!(c, '-' | '.')));
    (valid_parts(area, group, serial) && !glued_before && !glued_after).then_some(span)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixture() {
        super::super::check_fixture(
            super::Detector::Ssn,
            include_str!("../../../fixtures/scrub/ssn.txt"),
        );
    }
}
