//! A quick yes to "is this text one JSON object?", for the headers column of every row.
//!
//! `serde_json` checking each row's headers (walking them as `IgnoredAny`) was about 5-7 % of
//! an ingest's instructions. This checker jumps through strings with `memchr` and answers
//! `true` only when the text is certainly valid JSON as `serde_json` reads it; on anything
//! it is unsure of (control characters or tabs and line breaks anywhere, escapes of
//! surrogates, exponents, deep nesting) it answers `false` and the caller asks `serde_json`,
//! whose verdict and error message stand. A wrong `false` costs time; a wrong `true` would
//! let bad headers through, so every rule here is the strict one.
//!
//! Headers written as a flat object of strings with no spaces or escapes (most logs) are
//! answered first by one pass over their quotes ([`flat_strings`]).

/// Nesting deeper than this is left to `serde_json` (which stops at 128).
const MAX_DEPTH: usize = 64;

/// Whether `s` is certainly one JSON value with nothing but spaces around it.
pub(crate) fn surely_valid(s: &[u8]) -> bool {
    if flat_strings(s) {
        return true;
    }
    // Tabs, line breaks and other control bytes: rare in headers, and inside strings they
    // are errors, so the whole text goes to serde_json. Written as a fold so it vectorizes.
    if s.iter().fold(false, |any, &c| any | (c < 0x20)) {
        return false;
    }
    let mut p = Checker { b: s, i: 0 };
    p.spaces();
    if !p.value(0) {
        return false;
    }
    p.spaces();
    p.i == s.len()
}

/// Whether `s` is `{"name":"value",...}` exactly: string values only, no spaces, no
/// backslash and no control byte, the form most logs write headers in. One pass over the
/// quotes, found sixteen bytes at a time: with no backslash, quotes alternate opening and
/// closing, and only the single bytes between them (`{`, `:`, `,`, `}`) need a look.
fn flat_strings(s: &[u8]) -> bool {
    let n = s.len();
    if n < 2 || s[0] != b'{' || s[n - 1] != b'}' {
        return false;
    }
    // The quotes seen, and where the last one was.
    let (mut k, mut prev) = (0usize, 0usize);
    // Each quote's place among the object's quotes: `"name":"value"` then `,` or the end.
    let mut quote_at = |pos: usize| -> bool {
        let ok = match k % 4 {
            0 if k == 0 => pos == 1,
            0 => pos == prev + 2 && s[prev + 1] == b',',
            2 => pos == prev + 2 && s[prev + 1] == b':',
            _ => true,
        };
        prev = pos;
        k += 1;
        ok
    };
    let mut i = 0;
    while i + 16 <= n {
        let Some(mut quotes) = quotes16(s[i..i + 16].try_into().expect("sixteen bytes")) else {
            return false;
        };
        while quotes != 0 {
            if !quote_at(i + quotes.trailing_zeros() as usize) {
                return false;
            }
            quotes &= quotes - 1;
        }
        i += 16;
    }
    for (pos, &c) in s.iter().enumerate().skip(i) {
        if c == b'\\' || c < 0x20 || (c == b'"' && !quote_at(pos)) {
            return false;
        }
    }
    // `{}`, or whole pairs with the last value's quote just before the `}`.
    n == 2 || (k > 0 && k % 4 == 0 && prev == n - 2)
}

/// One bit per quote among sixteen bytes; `None` when they hold a backslash or a control
/// byte. On x86-64 (where SSE2 is always there) three compares and two masks: with them the
/// whole check took 41 % fewer instructions than with eight-byte words (callgrind, 200,000
/// rows of the flood log).
#[cfg(target_arch = "x86_64")]
fn quotes16(chunk: &[u8; 16]) -> Option<u32> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the x86-64 baseline, and the unaligned load reads exactly the
    // sixteen bytes of `chunk`.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        let quotes = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)));
        let lows = _mm_set1_epi8(0x1f);
        let control = _mm_cmpeq_epi8(_mm_max_epu8(v, lows), lows);
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        if _mm_movemask_epi8(_mm_or_si128(control, backslash)) != 0 {
            return None;
        }
        Some(quotes as u32)
    }
}

/// [`quotes16`] a byte at a time, where there is no SSE2.
#[cfg(not(target_arch = "x86_64"))]
fn quotes16(chunk: &[u8; 16]) -> Option<u32> {
    let mut quotes = 0;
    for (i, &c) in chunk.iter().enumerate() {
        if c == b'\\' || c < 0x20 {
            return None;
        }
        quotes |= u32::from(c == b'"') << i;
    }
    Some(quotes)
}

struct Checker<'a> {
    b: &'a [u8],
    i: usize,
}

impl Checker<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> bool {
        match self.peek() {
            Some(b'{') => self.container(depth, b'}', true),
            Some(b'[') => self.container(depth, b']', false),
            Some(b'"') => self.string(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    /// An object (`keyed`) or an array, at its opening bracket.
    fn container(&mut self, depth: usize, close: u8, keyed: bool) -> bool {
        if depth >= MAX_DEPTH {
            return false;
        }
        self.i += 1;
        self.spaces();
        if self.peek() == Some(close) {
            self.i += 1;
            return true;
        }
        loop {
            if keyed {
                if self.peek() != Some(b'"') || !self.string() {
                    return false;
                }
                self.spaces();
                if self.peek() != Some(b':') {
                    return false;
                }
                self.i += 1;
                self.spaces();
            }
            if !self.value(depth + 1) {
                return false;
            }
            self.spaces();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.spaces();
                }
                Some(c) if c == close => {
                    self.i += 1;
                    return true;
                }
                _ => return false,
            }
        }
    }

    /// A string, at its opening quote. Control bytes were ruled out for the whole text.
    fn string(&mut self) -> bool {
        self.i += 1;
        loop {
            let Some(n) = memchr::memchr2(b'"', b'\\', &self.b[self.i..]) else {
                return false;
            };
            self.i += n;
            if self.b[self.i] == b'"' {
                self.i += 1;
                return true;
            }
            match self.b.get(self.i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 2,
                Some(b'u') => {
                    let Some(hex) = self.b.get(self.i + 2..self.i + 6) else {
                        return false;
                    };
                    // Surrogates must pair up: serde_json's business.
                    let surrogate = matches!(hex[0], b'd' | b'D')
                        && matches!(hex[1], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F');
                    if surrogate || !hex.iter().all(u8::is_ascii_hexdigit) {
                        return false;
                    }
                    self.i += 6;
                }
                _ => return false,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let ok = self.b[self.i..].starts_with(word);
        self.i += word.len();
        ok
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`; an exponent is left to serde_json.
    fn number(&mut self) -> bool {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return false,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return false;
            }
            self.digits();
        }
        !matches!(self.peek(), Some(b'e' | b'E' | b'0'..=b'9'))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_ok(s: &str) -> bool {
        serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok()
    }

    #[test]
    fn says_yes_to_plain_headers_and_never_where_serde_json_says_no() {
        let yes = [
            r#"{"Content-Type":"application/json","X-Request-Id":"f31ac63d60d61897"}"#,
            r#"{ "a" : [1, -2.5, 0, true, false, null, {"b":{}}, []] , "c":"\"\\\/\u00e9\n" }"#,
            "{}",
            r#"{"é":"ü"}"#,
        ];
        for s in yes {
            assert!(surely_valid(s.as_bytes()), "{s}");
            assert!(serde_ok(s), "{s}");
        }
        let unsure = [
            "{\"a\":\t1}",
            "{\"a\":\"x\ny\"}",
            r#"{"a":1e5}"#,
            r#"{"a":"\ud83d\ude00"}"#,
            r#"{"a":01}"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":tru}"#,
            r#"{"a":1} x"#,
            r#"{"a":-}"#,
            r#"{"a":1.}"#,
            r#"{"a":"b}"#,
            "{",
            "",
        ];
        for s in unsure {
            assert!(!surely_valid(s.as_bytes()), "{s}");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(!surely_valid(deep.as_bytes()));
    }

    #[test]
    fn the_flat_form_is_taken_only_when_exact() {
        let flat = [
            "{}",
            r#"{"a":"b"}"#,
            r#"{"":""}"#,
            r#"{"Content-Type":"application/json","User-Agent":"M/5.0 (X11; é)","X-Id":"f3"}"#,
        ];
        for s in flat {
            assert!(flat_strings(s.as_bytes()), "{s}");
            assert!(serde_ok(s), "{s}");
        }
        let not_flat = [
            r#"{"a":"b",}"#,
            r#"{"a":"b""c":"d"}"#,
            r#"{"a":"b","c"}"#,
            r#"{"a""b"}"#,
            r#"{"a":1}"#,
            r#"{ "a":"b"}"#,
            r#"{"a":"b" }"#,
            r#"{"a":"b"c"}"#,
            r#"{"a":"b"}}"#,
            r#"{"a":"b"#,
            r#"{"a":"b"#,
            r#"{"a"#,
            r##"{"a#":"#b"#}"##,
            "{",
            "}",
            "",
        ];
        for s in not_flat {
            assert!(!flat_strings(s.as_bytes()), "{s}");
        }
        // Backslashes and control bytes at every offset, in the sixteen-byte chunks and after.
        for len in 2..40 {
            for bad in ["\\", "\n", "\t", "\u{1}", "\u{1f}"] {
                for at in 2..len {
                    let mut v = "v".repeat(len);
                    v.replace_range(at..at + 1, bad);
                    let s = format!(r#"{{"name":"{v}"}}"#);
                    assert!(!flat_strings(s.as_bytes()), "{s:?}");
                }
            }
            let s = format!(r#"{{"name":"{}","é":"{}"}}"#, "v".repeat(len), '\u{7f}');
            assert!(flat_strings(s.as_bytes()), "{s:?}");
        }
        // Quotes at every offset across the word boundaries.
        for len in 0..20 {
            let key = "k#".repeat(len);
            let s = format!(r#"{{"{key}":"{key}","x":"{key}"}}"#);
            assert!(flat_strings(s.as_bytes()), "{s}");
            let s = format!(r#"{{"{key}":"{key}","x":"{key}"}} "#);
            assert!(!flat_strings(s.as_bytes()), "{s}");
            let s = format!(r#"{{"{key}":"{key}","x"{key}}}"#);
            assert!(!flat_strings(s.as_bytes()), "{s}");
        }
    }

    #[test]
    fn random_texts_it_accepts_serde_json_accepts() {
        let pieces = [
            "{", "}", "[", "]", "\"", "\"a\"", ":", ",", " ", "1", "-", "0", ".", "e", "\\", "u",
            "00e9", "d800", "true", "nul", "null", "é", "\n", "x",
        ];
        let mut accepted = 0;
        for text in crate::testing::random_texts(0x9e37_79b9_7f4a_7c15, 20_000, 0..24, &pieces) {
            let text = text.concat();
            if surely_valid(text.as_bytes()) {
                accepted += 1;
                assert!(serde_ok(&text), "{text}");
            }
        }
        assert!(
            accepted > 100,
            "only {accepted} accepted: the test shows little"
        );
    }
}
