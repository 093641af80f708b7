//! Values of secret-named parameters: `?password=...`, `&api_key=...`, `"token": "..."` in a
//! JSON text, and of fields that name an account (`account`, `routing`, `iban`, `ssn`, `cvv`):
//! bank account numbers have no checksum a detector could use, their name is the evidence.
//! The hit is the value only; the name stays so the request still replays. JSON numbers are
//! not covered (quoted strings only).

use std::ops::Range;
use std::sync::OnceLock;

use super::{Detector, Rule};

/// The secret names, each with the literal it starts with (matched without case): a text
/// whose quoted keys hold none of the literals cannot hold a JSON secret-named value, so the
/// scan leaves the JSON pattern out for it (see `automaton`). A test keeps every literal a
/// plain prefix.
const NAME_FORMS: [(&str, &str); 23] = [
    ("password", "pass"),
    ("passwd", "pass"),
    ("pwd", "pwd"),
    ("passcode", "pass"),
    ("secret", "secret"),
    ("token", "token"),
    (r"api[_\-]?key", "api"),
    (r"access[_\-]?key", "access"),
    (r"private[_\-]?key", "private"),
    (r"session[_\-]?id", "session"),
    ("sessionid", "session"),
    ("signature", "signature"),
    ("otp", "otp"),
    ("pin", "pin"),
    ("cvv", "cvv"),
    ("cvc", "cvc"),
    ("ssn", "ssn"),
    ("iban", "iban"),
    ("acct", "acct"),
    ("account", "account"),
    (r"account[_\-]?(?:number|no|id)", "account"),
    (r"routing[_\-]?(?:number|no)?", "routing"),
    (r"card[_\-]?number", "card"),
];

/// Parameter names whose value is a secret, with an optional `prefix_` (`csrf_token`,
/// `x-api-key`).
fn names() -> String {
    let forms: Vec<&str> = NAME_FORMS.iter().map(|(f, _)| *f).collect();
    format!(r"(?:[A-Za-z0-9]+[_\-])?(?i:{})", forms.join("|"))
}

/// Which of the two secret patterns can match somewhere in a text (see [`secret_forms`]).
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SecretForms {
    /// `name=value`: needs a `=`.
    pub query: bool,
    /// `"name": "value"`: needs a quoted key followed by `:` that holds one of the names'
    /// literals (every name starts with its literal, and a key holds no `"`).
    pub json: bool,
}

/// The secret patterns that may match somewhere in `b`.
#[cfg(test)]
pub(crate) fn secret_forms(b: &[u8]) -> SecretForms {
    let quotes: Vec<usize> = memchr::memchr_iter(b'"', b).collect();
    SecretForms {
        query: memchr::memchr(b'=', b).is_some(),
        json: quotes.windows(2).any(|q| is_json_key(b, q[0], q[1])),
    }
}

/// True when the quotes at `open` and `close` (consecutive ones: a key holds no `"`) enclose
/// a key where the `"name": "value"` form may start: one followed by `:` that holds one of
/// the names' literals.
#[cfg(test)]
fn is_json_key(b: &[u8], open: usize, close: usize) -> bool {
    b[close + 1..].iter().find(|&&c| c != b' ') == Some(&b':') && holds_literal(&b[open + 1..close])
}

/// True for the JSON form's rule (it starts at the key's opening quote), false for the query
/// form's and every other detector's.
pub(crate) fn is_json_form(rule: &Rule) -> bool {
    rule.detector == Detector::Secret && rule.pattern.starts_with('"')
}

/// True when `key` holds one of the names' literals, compared without case.
pub(crate) fn holds_literal(key: &[u8]) -> bool {
    /// The distinct literals by their first letter (`a` to `z`), and per first letter a bit
    /// for each second letter some literal has: most places in a key fail on that one look-up.
    struct Literals {
        by_first: Vec<Vec<&'static [u8]>>,
        second: [u32; 26],
    }
    static LITERALS: OnceLock<Literals> = OnceLock::new();
    let lits = LITERALS.get_or_init(|| {
        let mut t = Literals {
            by_first: vec![Vec::new(); 26],
            second: [0; 26],
        };
        for (_, lit) in NAME_FORMS {
            let (a, b) = (lit.as_bytes()[0] - b'a', lit.as_bytes()[1] - b'a');
            let slot: &mut Vec<&[u8]> = &mut t.by_first[usize::from(a)];
            if !slot.contains(&lit.as_bytes()) {
                slot.push(lit.as_bytes());
            }
            t.second[usize::from(a)] |= 1 << b;
        }
        t
    });
    key.windows(2).enumerate().any(|(j, pair)| {
        let (a, b) = (pair[0].to_ascii_lowercase(), pair[1].to_ascii_lowercase());
        a.is_ascii_lowercase()
            && b.is_ascii_lowercase()
            && lits.second[usize::from(a - b'a')] & (1 << (b - b'a')) != 0
            && lits.by_first[usize::from(a - b'a')].iter().any(|lit| {
                key.len() - j >= lit.len() && key[j..j + lit.len()].eq_ignore_ascii_case(lit)
            })
    })
}

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
    Box::leak(format!(r"{}=[^&\s#;,/?]+", names()).into_boxed_str())
}

fn const_format_json() -> &'static str {
    Box::leak(format!(r#""{}"[ ]*:[ ]*"[^"\\]+""#, names()).into_boxed_str())
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
    // A key is a few bytes long: a plain loop finds its colon and the value's quote sooner
    // than `str::find` sets up its search.
    let b = v.as_bytes();
    let colon = b.iter().position(|&c| c == b':')?;
    let open = colon + b[colon..].iter().position(|&c| c == b'"')?;
    let value = &v[open + 1..v.len() - 1];
    let start = span.start + open + 1;
    (!super::is_token_pseudonym(value)).then_some(start..start + value.len())
}

/// True when a JSON key or parameter name names a secret (`password`, `csrf_token`, ...).
pub(crate) fn is_secret_name(name: &str) -> bool {
    static RE: std::sync::OnceLock<regex_automata::meta::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex_automata::meta::Regex::new(&format!("^{}$", names())).expect("secret names compile")
    })
    .is_match(name)
}

#[cfg(test)]
mod tests {
    /// Every name form starts with its literal, outside any group or repetition, so every
    /// match of the names holds one of the literals.
    #[test]
    fn only_texts_that_may_hold_a_secret_pass_the_precheck() {
        use super::{SecretForms, secret_forms as forms};
        let f = |query, json| SecretForms { query, json };
        assert_eq!(forms(b"/login?next=/home"), f(true, false));
        assert_eq!(forms(br#"{"X-Api-Key" : "v"}"#), f(false, true));
        assert_eq!(forms(br#"{"note":"a=b","CSRF_TOKEN":"v"}"#), f(true, true));
        // Secret words as values, not keys, cannot make a secret-named value.
        assert_eq!(
            forms(br#"{"Content-Type":"application/json","note":"my password"}"#),
            f(false, false)
        );
        assert_eq!(forms(b"plain text with a token in it"), f(false, false));
        assert_eq!(forms(b""), f(false, false));
    }

    #[test]
    fn one_secret_rule_is_the_json_form() {
        let rules = super::rules();
        let json: Vec<bool> = rules.iter().map(super::is_json_form).collect();
        assert_eq!(json, [false, true]);
        assert!(rules[1].pattern.starts_with('"') && rules[0].pattern.contains('='));
    }

    #[test]
    fn every_name_starts_with_its_literal() {
        for (form, lit) in super::NAME_FORMS {
            assert!(form.starts_with(lit), "{form} / {lit}");
            let rest = &form[lit.len()..];
            assert!(
                !rest.starts_with(['?', '*', '{', '|', '+']),
                "{form}: the literal must not be optional"
            );
            assert!(lit.bytes().all(|b| b.is_ascii_lowercase()), "{lit}");
            assert!(lit.len() >= 2, "{lit}: the pair filter needs two letters");
        }
    }

    /// The pair filter only skips places where no literal starts.
    #[test]
    fn holds_literal_finds_every_literal_anywhere() {
        let mut pieces: Vec<&str> = super::NAME_FORMS.iter().map(|(_, l)| *l).collect();
        pieces.extend([
            "PASS", "Api", "x-", "_", "é", "ss", "o", "ac", "count", "-Key", "9",
        ]);
        for text in crate::testing::random_texts(0x5ec2e7, 20_000, 1..5, &pieces) {
            let key = text.concat();
            let plain = super::NAME_FORMS
                .iter()
                .any(|(_, lit)| key.to_ascii_lowercase().contains(lit));
            assert_eq!(super::holds_literal(key.as_bytes()), plain, "{key}");
        }
    }

    #[test]
    fn fixture() {
        super::super::check_fixture(
            super::Detector::Secret,
            include_str!("../../../fixtures/scrub/secret.txt"),
        );
    }
}
