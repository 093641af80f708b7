//! Cutting a text where no detector hit can cross, so each piece is scanned, rewritten and
//! rescanned on its own, and remembering the pieces that scanned clean.
//!
//! Header objects and JSON bodies are lists of `"name":"value"` members, and most members
//! repeat from row to row (`"Content-Type":"application/json",`, a browser's `User-Agent`,
//! `"zone":"X"`): scanning them again on every row was most of the work on header objects.
//! And a rewritten text is scanned again (a pseudonym can complete a new value with its
//! neighbours): whole, that rescans every member when only one changed.
//!
//! Where to cut: after the comma of `","` (a value's closing quote, the comma, the next key's
//! opening quote). No hit can hold that comma and that quote:
//! - only the JSON secret form (`"name" : "value"`) matches a `,` (inside its value) or a `"`;
//! - its value holds no `"`, so a `"` right after a comma of its value is its closing quote,
//!   and the `"` before that comma is its opening one: the value is `,` alone, and the byte
//!   before the opening quote is `:` or a space. Cuts after such a byte are not made.
//!
//! Nor does any rule look across a cut: the validators read at most two characters before a
//! hit and two after it, the email's run of glued addresses stops at a comma, a hit cannot
//! start at the cut's quote (only the JSON form starts with a quote, and it reads nothing
//! before it), and a comma, like the start of a text, is neither a word character nor a
//! separator any rule looks back for. The automaton's candidates stop before a cut for the
//! same reason, and the zones (email runs, `name=` runs, quoted keys) hold no comma. So the
//! hits of a text are the hits of its pieces, and each piece may be rewritten alone.
//!
//! Most rewrites need no rescan at all: a pseudonym that replaced the whole of a quoted
//! string (a JSON value or key) and holds no quote or backslash can only form a new hit by
//! crossing a quote, which only the JSON secret form does, from a key before it. That form
//! matched the original value too (it has no quote or backslash either, or it would not have
//! been one hit), so the value was replaced as a secret and the form now meets a token, which
//! it rejects; and no pseudonym can be a secret-named key. No rule reads more than two
//! characters around a hit, and a quote reads like the start or end of a text, so what is left
//! is whether the pseudonym has a hit on its own: scanned once (the table of clean pieces
//! remembers pseudonyms that repeat, a card's or an email's). When every pseudonym of a rewrite
//! passes, its rescan is skipped (`Rewriter::sealed`).
//!
//! A piece's rewrite must keep its cuts for its rescans to stay apart: a piece that no longer
//! ends in `",` after a byte other than `:` or a space, or no longer starts with `"`, sends
//! the whole text back to the uncut path (see `Rewriter::text`).

use std::hash::BuildHasher;

use super::{Counts, Rewriter, room};
use crate::scrub::detect::{Detector, DetectorSet};

/// Pieces shorter than this are scanned rather than looked up: their scan costs about what a
/// look-up does.
const MIN_REMEMBERED: usize = 16;
/// Slots of the table of clean pieces.
const SLOTS: usize = 512;
/// Slots of the filter that lets a clean piece in only when it is seen twice.
const SEEN_SLOTS: usize = 2048;

impl Rewriter {
    /// [`Rewriter::text`] one piece at a time; `None` when the text has no cut or a rewrite
    /// did not keep its cuts (then nothing was counted, and the caller rewrites it whole).
    pub(super) fn text_in_pieces(
        &mut self,
        text: &str,
        set: DetectorSet,
        counts: &mut Counts,
    ) -> Option<Option<String>> {
        let mut at = std::mem::take(&mut self.cuts);
        cuts(text.as_bytes(), &mut at);
        if at.is_empty() {
            self.cuts = at;
            return None;
        }
        let mut found: Counts = [0; Detector::ALL.len()];
        let mut out: Option<String> = None;
        let mut start = 0;
        let mut kept = true;
        for k in 0..=at.len() {
            let end = at.get(k).copied().unwrap_or(text.len());
            let piece = &text[start..end];
            let (first, last) = (k == 0, k == at.len());
            match self.piece(piece, set, &mut found, first, last) {
                Ok(false) => {
                    if let Some(o) = out.as_mut() {
                        o.push_str(piece);
                    }
                }
                Ok(true) => {
                    let o = out.get_or_insert_with(|| {
                        let mut o = String::with_capacity(room(text.len()));
                        o.push_str(&text[..start]);
                        o
                    });
                    o.push_str(&self.piece_out);
                }
                Err(()) => {
                    kept = false;
                    break;
                }
            }
            start = end;
        }
        self.cuts = at;
        if !kept {
            return None;
        }
        for (c, n) in counts.iter_mut().zip(found) {
            *c += n;
        }
        Some(out)
    }

    /// One piece of [`Rewriter::text_in_pieces`], rescanned like [`Rewriter::text_settled`]:
    /// true when it changed, its rewrite then in `self.piece_out`; `Err` when a rewrite does
    /// not keep the piece's cuts. No percent escapes here (see `text`): straight to the scan.
    fn piece(
        &mut self,
        piece: &str,
        set: DetectorSet,
        counts: &mut Counts,
        first: bool,
        last: bool,
    ) -> Result<bool, ()> {
        let at = match self.clean.look_up(piece, set) {
            Lookup::Known => return Ok(false),
            Lookup::Unknown(at) => at,
        };
        let mut out = std::mem::take(&mut self.piece_out);
        let mut next = std::mem::take(&mut self.rescan);
        out.clear();
        let mut result = Ok(true);
        if self.replace_into(piece, piece, None, false, set, counts, &mut out) {
            for round in 0..=3 {
                if !keeps_cuts(&out, first, last) {
                    result = Err(());
                    break;
                }
                // A first rewrite whose pseudonyms are sealed needs no rescan.
                if round == 0 && self.sealed(&out, set) {
                    break;
                }
                next.clear();
                if round == 3 || !self.replace_into(&out, &out, None, false, set, counts, &mut next)
                {
                    break;
                }
                std::mem::swap(&mut out, &mut next);
            }
        } else {
            self.clean.clean(piece, set, at);
            result = Ok(false);
        }
        self.piece_out = out;
        self.rescan = next;
        result
    }

    /// True when the rescan of `out` (just rewritten by `replace_into`) is known to find
    /// nothing: each pseudonym replaced the whole of a quoted string, holds no quote or
    /// backslash, and has nothing to replace on its own (see the module notes). The property
    /// test `rewriting_in_pieces_is_rewriting_whole` fails when the first condition is dropped.
    fn sealed(&mut self, out: &str, set: DetectorSet) -> bool {
        let placed = std::mem::take(&mut self.placed);
        let mut hits = std::mem::take(&mut self.hits);
        let sealed = placed.iter().all(|&(from, to, quoted)| {
            let p = &out[from..to];
            quoted
                && !p.bytes().any(|b| b == b'"' || b == b'\\')
                && match self.clean.look_up(p, set) {
                    Lookup::Known => true,
                    Lookup::Unknown(at) => {
                        hits.clear();
                        crate::scrub::automaton::shared().scan(p, &mut hits);
                        let clean = !hits
                            .iter()
                            .any(|h| set.contains(h.detector) && !self.allowed(&p[h.span()]));
                        if clean {
                            self.clean.clean(p, set, at);
                        }
                        clean
                    }
                }
        });
        self.hits = hits;
        self.placed = placed;
        sealed
    }
}

/// The ends of the pieces of `text` but the last (see the module notes); empty when the text
/// cannot be cut.
pub(crate) fn cuts(text: &[u8], out: &mut Vec<usize>) {
    out.clear();
    let mut start = 0;
    for comma in memchr::memchr_iter(b',', text) {
        let cut = comma + 1;
        if comma >= 2
            && cut - start >= 3
            && text.get(cut) == Some(&b'"')
            && text[comma - 1] == b'"'
            && !matches!(text[comma - 2], b':' | b' ')
        {
            out.push(cut);
            start = cut;
        }
    }
}

/// True when a rewritten piece still allows the cuts around it: it starts with `"` unless it
/// is the first, and ends with `",` after a byte other than `:` or a space unless it is the last.
pub(crate) fn keeps_cuts(piece: &str, first: bool, last: bool) -> bool {
    let b = piece.as_bytes();
    (first || b.first() == Some(&b'"'))
        && (last || (b.len() >= 3 && b.ends_with(b"\",") && !matches!(b[b.len() - 3], b':' | b' ')))
}

/// Pieces known to hold nothing to replace under a detector set: a small direct-mapped table,
/// so the few members that repeat on every row stay in cache, and a look-up for a piece that
/// never repeats (a request id's member) costs a hash and one cached slot. A piece gets in when
/// it has scanned clean twice.
pub(crate) struct CleanPieces {
    /// (hash, set, piece); a hash of 0 is an empty slot.
    slots: Vec<(u64, DetectorSet, Box<str>)>,
    /// Tags of pieces seen clean once.
    seen: Vec<u32>,
    hasher: foldhash::fast::RandomState,
}

impl Default for CleanPieces {
    fn default() -> CleanPieces {
        CleanPieces {
            slots: vec![(0, DetectorSet::NONE, Box::default()); SLOTS],
            seen: vec![0; SEEN_SLOTS],
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl CleanPieces {
    /// Whether `piece` is known clean under `set`: `Known`, or `Unknown` with what
    /// [`CleanPieces::clean`] needs to note it.
    pub fn look_up(&mut self, piece: &str, set: DetectorSet) -> Lookup {
        if piece.len() < MIN_REMEMBERED {
            return Lookup::Unknown(None);
        }
        let h = self.hasher.hash_one(piece) | 1;
        let (sh, sset, sp) = &self.slots[h as usize % SLOTS];
        if *sh == h && *sset == set && **sp == *piece {
            Lookup::Known
        } else {
            Lookup::Unknown(Some(h))
        }
    }

    /// Notes that `piece` scanned clean under `set`, after a [`CleanPieces::look_up`] that
    /// gave `Unknown(at)`.
    pub fn clean(&mut self, piece: &str, set: DetectorSet, at: Option<u64>) {
        let Some(h) = at else { return };
        let seen = &mut self.seen[h as usize % SEEN_SLOTS];
        let tag = (h >> 32) as u32;
        if *seen == tag {
            self.slots[h as usize % SLOTS] = (h, set, piece.into());
        } else {
            *seen = tag;
        }
    }
}

/// What [`CleanPieces::look_up`] found.
pub(crate) enum Lookup {
    Known,
    /// Not known; what [`CleanPieces::clean`] needs to note it (`None`: not to be noted).
    Unknown(Option<u64>),
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::scrub::{Pseudonymizer, ScrubKey};

    fn pieces(text: &str) -> Vec<&str> {
        let mut c = Vec::new();
        cuts(text.as_bytes(), &mut c);
        let mut start = 0;
        let mut out: Vec<&str> = c
            .iter()
            .map(|&end| {
                let p = &text[start..end];
                start = end;
                p
            })
            .collect();
        out.push(&text[start..]);
        out
    }

    /// Texts built of JSON members, secret-named keys, commas, quotes and values every
    /// detector finds (or almost finds) next to the cuts.
    pub(crate) const PARTS: [&str; 40] = [
        "\",\"",
        "\":\"",
        "\":",
        "\": \"",
        "\"",
        ",",
        ":",
        " ",
        "{\"",
        "\"}",
        "\"pin\":\"",
        "\"password\" : \"",
        "\"note\":\"",
        "password",
        "token=",
        "x",
        "e",
        "0",
        "4",
        "12",
        "555",
        "2671",
        "@",
        ".",
        "-",
        "+",
        "(",
        "::",
        "jane.doe",
        "example.com",
        "10.1.2.3",
        "fe80::1",
        "078-05-1120",
        "4111 1111 1111 1111",
        "GB82WEST12345698765432",
        "Bearer abcdefgh12345678",
        "eyJhbGci.eyJzdWIi.x",
        "esr_d823212a7810c354",
        "u7253f8f852@dabfc56.invalid",
        "é",
    ];

    /// The property the cuts rest on: a text's hits are its pieces' hits.
    #[test]
    fn a_text_has_the_hits_of_its_pieces() {
        let mut cut = 0;
        for parts in crate::testing::random_texts(0x51ce_5eed_0dd5_a11e, 30_000, 1..30, &PARTS) {
            let text = parts.concat();
            let whole = crate::scrub::scan(&text);
            let mut start = 0;
            let mut joined = Vec::new();
            for piece in pieces(&text) {
                joined.extend(crate::scrub::scan(piece).into_iter().map(|mut h| {
                    h.start += start;
                    h.end += start;
                    h
                }));
                start += piece.len();
            }
            cut += usize::from(pieces(&text).len() > 1);
            assert_eq!(whole, joined, "text: {text:?}");
        }
        assert!(
            cut > 5_000,
            "only {cut} texts were cut: the test shows little"
        );
    }

    /// A rewrite skips its rescan only when every pseudonym filled a whole quoted string and
    /// scans clean on its own.
    #[test]
    fn only_sealed_rewrites_skip_their_rescan() {
        let key = ScrubKey::from_bytes(b"pieces test key 0123", "t").unwrap();
        let mut rw = Rewriter::new(Pseudonymizer::new(&key), Default::default());
        let mut check = |out: &str, placed: (usize, usize, bool)| {
            rw.placed = vec![placed];
            rw.sealed(out, DetectorSet::ALL)
        };
        let out = r#"{"a":"esr_d823212a7810c354","#;
        assert!(check(out, (6, 26, true)));
        // Not a whole quoted string.
        assert!(!check(out, (6, 26, false)));
        // Something to replace in the pseudonym's place (as if a pseudonym read as a card).
        let out = r#"{"a":"4111 1111 1111 1111","#;
        assert!(!check(out, (6, 25, true)));
        // A quote inside.
        let out = r#"{"a":"esr_d8232"12a7810c354","#;
        assert!(!check(out, (6, 27, true)));
    }

    #[test]
    fn members_are_cut_after_their_comma() {
        assert_eq!(
            pieces(r#"{"a":"x","b":"y","c":1,"d":"z"}"#),
            [r#"{"a":"x","#, r#""b":"y","#, r#""c":1,"d":"z"}"#]
        );
        assert_eq!(pieces("no cut here"), ["no cut here"]);
        assert_eq!(pieces(""), [""]);
    }

    #[test]
    fn a_value_of_one_comma_is_not_cut() {
        // `"pin":","` is a secret-named value: its comma and closing quote stay together.
        assert_eq!(
            pieces(r#"{"pin":",","x":"y"}"#),
            [r#"{"pin":",","#, r#""x":"y"}"#]
        );
        assert_eq!(
            pieces(r#"{"pin": ",","x":"y"}"#),
            [r#"{"pin": ",","#, r#""x":"y"}"#]
        );
        assert_eq!(pieces(r#"","",""#), [r#"","","#, r#"""#]);
    }

    #[test]
    fn rewritten_pieces_must_keep_their_cuts() {
        assert!(keeps_cuts(r#""a":"esr_x","#, false, false));
        assert!(keeps_cuts(r#"{"a":"b""#, true, true));
        assert!(!keeps_cuts(r#""a":","#, false, false));
        assert!(!keeps_cuts(r#""a":"x""#, false, false));
        assert!(!keeps_cuts(r#"a":"x","#, false, false));
    }

    #[test]
    fn a_clean_piece_is_known_once_seen_twice() {
        let mut c = CleanPieces::default();
        let seen = |c: &mut CleanPieces, p: &str, set| match c.look_up(p, set) {
            Lookup::Known => true,
            Lookup::Unknown(at) => {
                c.clean(p, set, at);
                false
            }
        };
        let p = r#""Content-Type":"application/json","#;
        assert!(!seen(&mut c, p, DetectorSet::ALL));
        assert!(!seen(&mut c, p, DetectorSet::ALL));
        assert!(seen(&mut c, p, DetectorSet::ALL));
        // Under another set it is not known yet.
        assert!(!seen(&mut c, p, DetectorSet::NONE));
        // Short pieces are never kept.
        for _ in 0..3 {
            assert!(!seen(&mut c, "\"a\":\"b\",", DetectorSet::ALL));
        }
    }

    /// Rewriting piece by piece, with clean pieces remembered, gives what rewriting whole
    /// gives, counts included (see `pieces`).
    #[test]
    fn rewriting_in_pieces_is_rewriting_whole() {
        let rw = || {
            let key = ScrubKey::from_bytes(b"pieces test key 0123", "t").unwrap();
            Rewriter::new(Pseudonymizer::new(&key), Default::default())
        };
        let (mut cut, mut whole) = (rw(), rw());
        let parts = PARTS;
        // Twice over the same texts: the second time, clean pieces are known.
        for round in 0..2 {
            let texts = crate::testing::random_texts(0x7e57_ab1e_cafe_f00d, 10_000, 1..30, &parts);
            for text in texts.map(|p| p.concat()) {
                let (mut a, mut b) = ([0; 10], [0; 10]);
                let got = cut.text(&text, DetectorSet::ALL, &mut a);
                let want = whole.text_settled(&text, DetectorSet::ALL, &mut b);
                assert_eq!(got, want, "round {round}, text: {text:?}");
                assert_eq!(a, b, "round {round}, text: {text:?}");
            }
        }
    }
}
