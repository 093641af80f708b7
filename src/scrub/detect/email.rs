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
    // Two dots in a row, byte by byte: `str::contains("..")` sets up a substring search for
    // every candidate address (0.6 % of a scrubbed ingest's instructions).
    let double_dot = local.as_bytes().windows(2).any(|w| w == b"..");
    if local.ends_with('.') || double_dot || super::alnum(super::after(text, span.end)) {
        return None;
    }
    // Another `@` glued to the domain (`a@b.c@d.com`) is no real address, but replacing only
    // `a@b.c` would leave `@d.com` to form a new address with the pseudonym's domain (found by
    // fuzzing): the whole run of address characters is one value.
    let mut end = span.end;
    if text[end..].starts_with('@') {
        end += text[end..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || "._%+-@".contains(c)))
            .unwrap_or(text.len() - end);
    }
    (!is_pseudonym(&text[span.start..end])).then_some(span.start..end)
}

/// esr's email pseudonyms live under the reserved `.invalid` top-level domain.
pub(super) fn is_pseudonym(v: &str) -> bool {
    // Bytes, not a str slice: `v` may end in a multi-byte character (found by fuzzing).
    v.len() >= 8 && v.as_bytes()[v.len() - 8..].eq_ignore_ascii_case(b".invalid")
}

#[cfg(test)]
mod tests {
    /// Found by the `scrub` fuzz target (`fuzz/open/scrub-residual-1`): two addresses glued
    /// by an `@` are one value, so no part of them is left to pair with a pseudonym.
    #[test]
    fn addresses_glued_by_an_at_sign_are_one_value() {
        let text = "/users/jane.doe@e.doe@example.com/cards";
        let mut hits = Vec::new();
        crate::scrub::automaton::shared().scan(text, &mut hits);
        let spans: Vec<&str> = hits.iter().map(|h| &text[h.start..h.end]).collect();
        assert_eq!(spans, ["jane.doe@e.doe@example.com"]);
    }

    /// Two dots in a row are no local part: the address starts after them.
    #[test]
    fn a_local_part_with_two_dots_in_a_row_is_cut_after_them() {
        for (text, want) in [
            ("to jane..doe@example.com now", "doe@example.com"),
            ("jane.doe@example.com", "jane.doe@example.com"),
        ] {
            let mut hits = Vec::new();
            crate::scrub::automaton::shared().scan(text, &mut hits);
            let spans: Vec<&str> = hits.iter().map(|h| &text[h.start..h.end]).collect();
            assert_eq!(spans, [want], "{text}");
        }
    }

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
