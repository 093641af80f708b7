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
    (!super::is_token_pseudonym(token)).then_some(span.start + token_at..span.end)
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
