//! JSON Web Tokens: three base64url segments, the first two JSON objects (`eyJ` is `{"`).

use std::ops::Range;

use super::{Detector, Rule};

/// Header segment of esr's JWT pseudonyms: base64url of `{"alg":"none","esr":1}`.
pub(crate) const MARKER_HEADER: &str = "eyJhbGciOiJub25lIiwiZXNyIjoxfQ";

pub(super) fn rules() -> Vec<Rule> {
    vec![Rule {
        detector: Detector::Jwt,
        pattern: r"eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*",
        validate,
    }]
}

fn validate(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let prev = super::before(text, span.start);
    if prev.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return None;
    }
    (!is_pseudonym(&text[span.clone()])).then_some(span)
}

pub(super) fn is_pseudonym(v: &str) -> bool {
    v.strip_prefix(MARKER_HEADER)
        .is_some_and(|rest| rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixture() {
        super::super::check_fixture(
            super::Detector::Jwt,
            include_str!("../../../fixtures/scrub/jwt.txt"),
        );
    }
}
