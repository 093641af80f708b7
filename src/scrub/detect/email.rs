//! Email addresses.

use std::ops::Range;

use super::{Detector, Rule};

pub(super) fn rules() -> Vec<Rule> {
    vec![Rule {
        detector: Detector::Email,
        pattern: r"[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}",
        validate,
    }]
}

fn validate(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let v = &text[span.clone()];
    let (local, _) = v.split_once('@')?;
    // A trailing letter glued to the TLD means the pattern stopped inside a word.
    if local.ends_with('.') || local.contains("..") || super::alnum(super::after(text, span.end)) {
        return None;
    }
    (!is_pseudonym(v)).then_some(span)
}

/// esr's email pseudonyms live under the reserved `.invalid` top-level domain.
pub(super) fn is_pseudonym(v: &str) -> bool {
    // Bytes, not a str slice: `v` may end in a multi-byte character (found by fuzzing).
    v.len() >= 8 && v.as_bytes()[v.len() - 8..].eq_ignore_ascii_case(b".invalid")
}

#[cfg(test)]
mod tests {
    /// Found by the `scrub` fuzz target: a value ending in a multi-byte character panicked.
    #[test]
    fn a_value_ending_in_a_multibyte_character_is_no_pseudonym() {
        assert!(!super::is_pseudonym("a@b.co\u{FFFD}\u{FFFD}x"));
        assert!(!super::is_pseudonym("ab\u{FFFD}1234567"));
        assert!(super::is_pseudonym("u1@x.INVALID"));
    }

    #[test]
    fn fixture() {
        super::super::check_fixture(
            super::Detector::Email,
            include_str!("../../../fixtures/scrub/email.txt"),
        );
    }
}
