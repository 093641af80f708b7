//! Finds the quoted names (`"name"`) of the headers a policy has a rule of its own for, in a
//! header object's JSON text, so those values are rewritten in place rather than parsed.

use std::ops::Range;

use regex_automata::meta::{FindMatches, Regex};

/// The names of the headers with a rule of their own, matched case-insensitively.
#[derive(Debug, Clone)]
pub(crate) struct RuledHeaders {
    /// Lower-cased, ASCII.
    names: Vec<String>,
    /// `(?i)"(?:name|...)"`, for text or names that are not ASCII (or names with a quote):
    /// Unicode case folding
    /// matches more than ASCII's (`K`, the Kelvin sign, is a `k`), and the answer must not
    /// depend on which search ran.
    re: Regex,
    ascii_names: bool,
    /// Bit `n` set when some name is `n` bytes long (bit 63: 63 or longer): most quoted
    /// spans are skipped on their length alone.
    lengths: u64,
}

impl RuledHeaders {
    /// `None` when there are no names.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<RuledHeaders> {
        let names: Vec<String> = names.into_iter().map(str::to_ascii_lowercase).collect();
        if names.is_empty() {
            return None;
        }
        let escaped: Vec<String> = names.iter().map(|n| regex_syntax_escape(n)).collect();
        let re = Regex::new(&format!(r#"(?i)"(?:{})""#, escaped.join("|")))
            .expect("escaped header names compile");
        Some(RuledHeaders {
            ascii_names: names.iter().all(|n| n.is_ascii() && !n.contains('"')),
            lengths: names.iter().fold(0, |bits, n| bits | length_bit(n.len())),
            names,
            re,
        })
    }

    /// Every `"name"` in `text`, leftmost first, never overlapping (the regex's matches), with
    /// the lower-cased name when the byte search found it. A byte search on ASCII text: the
    /// regex search cost 2 % of scrubbed ingest.
    pub fn find_iter<'r, 'h>(&'r self, text: &'h str) -> NameMatches<'r, 'h> {
        if self.ascii_names && text.is_ascii() {
            NameMatches::Ascii {
                names: &self.names,
                lengths: self.lengths,
                text,
                quotes: memchr::memchr_iter(b'"', text.as_bytes()),
            }
        } else {
            NameMatches::Regex(self.re.find_iter(text))
        }
    }
}

/// The spans of the quoted names found by [`RuledHeaders::find_iter`].
pub(crate) enum NameMatches<'r, 'h> {
    Regex(FindMatches<'r, 'h>),
    Ascii {
        names: &'r [String],
        lengths: u64,
        text: &'h str,
        /// The quotes of `text` not yet looked at, found a vector at a time: a header
        /// object has a quote every few bytes, and one search per quote (`str::find`) cost
        /// 3 % of a scrubbed ingest's instructions.
        quotes: memchr::Memchr<'h>,
    },
}

/// The bit of [`RuledHeaders::lengths`] for a name of `len` bytes.
fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

impl<'r> Iterator for NameMatches<'r, '_> {
    type Item = (Range<usize>, Option<&'r str>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            NameMatches::Regex(m) => m.next().map(|m| (m.range(), None)),
            NameMatches::Ascii {
                names,
                lengths,
                text,
                quotes,
            } => {
                // No name holds a quote: `"name"` starts at a quote and ends at the next one;
                // after a match the search goes on from the quote after its closing one.
                let mut i = quotes.next()?;
                for j in quotes.by_ref() {
                    let between = &text.as_bytes()[i + 1..j];
                    if *lengths & length_bit(between.len()) != 0
                        && let Some(n) = names
                            .iter()
                            .find(|n| between.eq_ignore_ascii_case(n.as_bytes()))
                    {
                        return Some((i..j + 1, Some(n.as_str())));
                    }
                    i = j;
                }
                None
            }
        }
    }
}

/// Escapes regex metacharacters of a header name.
fn regex_syntax_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(r: &RuledHeaders, text: &str) -> Vec<Range<usize>> {
        let bytes: Vec<_> = r.find_iter(text).map(|(m, _)| m).collect();
        let re: Vec<_> = r.re.find_iter(text).map(|m| m.range()).collect();
        assert_eq!(bytes, re, "{text}");
        bytes
    }

    #[test]
    fn the_byte_search_finds_what_the_regex_finds() {
        let r =
            RuledHeaders::new(["authorization", "Cookie", "x-api-key", "set-cookie", ""]).unwrap();
        let texts = [
            r#"{"Authorization":"Bearer x","COOKIE":"a=b","Accept":"*/*"}"#,
            r#"{"x-note":"\"cookie\"","cookie":"s=1","set-cookie":"t=2"}"#,
            r#"{"a":"","b":"authorization","x-api-keys":"k","x-api-key":"k"}"#,
            r#"""""cookie"""#,
            r#"{"cookie"#,
            "",
        ];
        for t in texts {
            both(&r, t);
        }
        assert_eq!(both(&r, texts[0]).len(), 2);
        // The byte search names the policy's lower-cased name it found.
        let known: Vec<_> = r.find_iter(texts[0]).map(|(_, n)| n).collect();
        assert_eq!(known, [Some("authorization"), Some("cookie")]);
        // Not ASCII: the regex answers (the Kelvin sign folds to `k`).
        let kelvin = "{\"coo\u{212A}ie\":\"a=b\"}";
        assert_eq!(r.find_iter(kelvin).count(), 1);
        assert!(RuledHeaders::new([]).is_none());
        // Random texts of quotes and name letters.
        let alphabet = b"\"\"\"cookieCOKIE-set:,";
        let mut found = 0;
        for t in crate::testing::random_texts(0x2545_f491_4f6c_dd1d, 20_000, 0..24, alphabet) {
            let t: String = t.into_iter().map(char::from).collect();
            found += both(&r, &t).len();
        }
        assert!(found > 100, "{found}");
        // A name with a quote: the regex answers.
        let q = RuledHeaders::new(["a\"b", "c"]).unwrap();
        assert!(!q.ascii_names);
        assert_eq!(q.find_iter(r#"{"a"b":"1","c":"2"}"#).count(), 2);
    }
}
