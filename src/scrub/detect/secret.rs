//! Values of secret-named parameters: `?password=...`, `&api_key=...`, `"token": "..."` in a
//! JSON text, and of fields that name an account (`account`, `routing`, `iban`, `ssn`, `cvv`):
//! bank account numbers have no checksum a detector could use, their name is the evidence.
//! The hit is the value only; the name stays so the request still replays. JSON numbers are
//! not covered (quoted strings only).

use std::ops::Range;

use super::{Detector, Rule};

/// Parameter names whose value is a secret, with an optional `prefix_` (`csrf_token`,
/// `x-api-key`).
const NAMES: &str = r"(?:[A-Za-z0-9]+[_\-])?(?i:password|passwd|pwd|passcode|secret|token|api[_\-]?key|access[_\-]?key|private[_\-]?key|session[_\-]?id|sessionid|signature|otp|pin|cvv|cvc|ssn|iban|acct|account|account[_\-]?(?:number|no|id)|routing[_\-]?(?:number|no)?|card[_\-]?number)";

pub(super) fn rules() -> Vec<Rule> {
    vec![
        Rule {
            detector: Detector::Secret,
            pattern: const_format_query(),
            validate: validate_query,
        },
        Rule {
            detector: Detector::Secret,
            pattern: const_format_json(),
            validate: validate_json,
        },
    ]
}

// Patterns are built once (the automaton is built once per process), so leaking the two
// strings is bounded.
fn const_format_query() -> &'static str {
    Box::leak(format!(r"{NAMES}=[^&\s#;,/?]+").into_boxed_str())
}

fn const_format_json() -> &'static str {
    Box::leak(format!(r#""{NAMES}"[ ]*:[ ]*"[^"\\]+""#).into_boxed_str())
}

fn name_starts_clean(text: &str, start: usize) -> bool {
    let prev = super::before(text, start);
    !prev.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn validate_query(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    if !name_starts_clean(text, span.start) {
        return None;
    }
    let v = &text[span.clone()];
    let eq = v.find('=')?;
    let value = v[eq + 1..].trim_end_matches(['"', '\'', ')', '}', ']']);
    let start = span.start + eq + 1;
    (!super::is_token_pseudonym(value)).then_some(start..start + value.len())
}

fn validate_json(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let v = &text[span.clone()];
    let colon = v.find(':')?;
    let open = colon + v[colon..].find('"')?;
    let value = &v[open + 1..v.len() - 1];
    let start = span.start + open + 1;
    (!super::is_token_pseudonym(value)).then_some(start..start + value.len())
}

/// True when a JSON key or parameter name names a secret (`password`, `csrf_token`, ...).
pub(crate) fn is_secret_name(name: &str) -> bool {
    static RE: std::sync::OnceLock<regex_automata::meta::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex_automata::meta::Regex::new(&format!("^{NAMES}$")).expect("secret names compile")
    })
    .is_match(name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixture() {
        super::super::check_fixture(
            super::Detector::Secret,
            include_str!("../../../fixtures/scrub/secret.txt"),
        );
    }
}
