//! Phone numbers: NANP (`(415) 555-2671`, `415.555.2671 x12`, `+1 415 555 2671`) and E.164
//! (`+44 20 7946 0958`), with the separators people write.

use std::ops::Range;

use super::{Detector, Rule};

pub(super) fn rules() -> Vec<Rule> {
    vec![
        Rule {
            detector: Detector::Phone,
            // Area code and exchange start with 2–9: that rule lives in the pattern, and it is
            // what makes esr's phone pseudonyms (area 0xx) never match.
            pattern: r"(?:\+?1[ .\-]?)?(?:\([2-9][0-9]{2}\)[ ]?|[2-9][0-9]{2}[ .\-]?)[2-9][0-9]{2}[ .\-]?[0-9]{4}(?:[ ]?(?:x|ext\.?|extension)[ ]?[0-9]{1,6})?",
            validate,
        },
        Rule {
            detector: Detector::Phone,
            pattern: r"\+[1-9][0-9]{0,3}(?:[ .\-]?\(?[0-9]{1,5}\)?){1,6}",
            validate: validate_e164,
        },
    ]
}

fn boundary_ok(text: &str, span: &Range<usize>) -> bool {
    !super::alnum(super::before(text, span.start))
        && !super::alnum(super::after(text, span.end))
        && !super::digit(super::after_sep(text, span.end, |c| matches!(c, '-' | '.')))
}

fn validate(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    // A leading `+` belongs to the number; a leading `-` or `.` means a longer numeric token.
    let prev = super::before(text, span.start);
    // `+0 415 555 2671` (a pseudonym) and `12 415 555 2671` are not NANP numbers either.
    if matches!(prev, Some('-' | '.' | '/' | ':' | ' ')) && !text[span.clone()].starts_with('(') {
        let before_prev = super::before(text, span.start - 1);
        if super::digit(before_prev) {
            return None;
        }
    }
    boundary_ok(text, &span).then_some(span)
}

fn validate_e164(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let digits = text[span.clone()]
        .bytes()
        .filter(u8::is_ascii_digit)
        .count();
    ((8..=15).contains(&digits) && boundary_ok(text, &span)).then_some(span)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixture() {
        super::super::check_fixture(
            super::Detector::Phone,
            include_str!("../../../fixtures/scrub/phone.txt"),
        );
    }
}
