//! The leak proof's search: millions of literal values (the needles, each at least
//! [`WINDOW`] bytes), found anywhere in a trace's text with ASCII case ignored.
//!
//! A raw log of 5M rows gives some 10M distinct sensitive values, many of them long bearer
//! tokens. An Aho-Corasick automaton over that many patterns took about 4 KB per
//! pattern and four minutes per million rows, so a large export could not be checked at all.
//! Here a needle costs 40 bytes whatever its length, and a trace byte one multiply and one bit
//! test:
//!
//! - A needle is kept as its length and a 128-bit fingerprint of its lower-cased bytes, never
//!   the bytes: a place in the text where the same length of bytes has the same fingerprint is
//!   a match. Two different values with one fingerprint (never seen, about one chance in 2^128
//!   per pair) would each be found wherever either is: nothing is missed, at worst a match is
//!   reported that is not there.
//! - Every needle is anchored at one [`WINDOW`]-byte window of its own, chosen among its
//!   windows as the one the fewest needles before it were anchored at, so that a window many
//!   needles share (a JWT header, a common domain) holds few anchors.
//! - Every window of the searched text is hashed; a bitset of anchor hashes (a few bits per
//!   needle, so mostly in cache) turns almost all of them away; the rest look up their bucket
//!   and fingerprint the text where the needle would lie.
//! - Matches are then chosen leftmost-longest without overlap, as a scan would report them.
//!
//! Adding a value already held (ASCII case ignored) returns `None`.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;

/// Bytes per anchor window. Values shorter than this are not searched for (see
/// `against::MIN_LEN`, which is the same).
pub const WINDOW: usize = 6;

/// Fibonacci hashing: a bijection on u64, whose top bits depend on every byte of the window.
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// Counters for the anchor choice, indexed by the top bits of a window hash.
const COUNT_BITS: u32 = 22;

fn window_hash(bytes: &[u8], at: usize) -> u64 {
    let head = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let tail = u16::from_le_bytes([bytes[at + 4], bytes[at + 5]]);
    (u64::from(head) | u64::from(tail) << 32).wrapping_mul(MIX)
}

/// `v` lower-cased (ASCII) into `out`, replacing what it held.
fn lower_into(out: &mut Vec<u8>, v: &str) {
    out.clear();
    out.extend(v.bytes().map(|b| b.to_ascii_lowercase()));
}

/// Two independently seeded 64-bit hashes of `bytes`.
fn fingerprint(bytes: &[u8]) -> [u64; 2] {
    const SEEDS: [FixedState; 2] = [
        FixedState::with_seed(0x6573_725f_6c65_616b),
        FixedState::with_seed(0x6e65_6564_6c65_7321),
    ];
    SEEDS.map(|s| s.hash_one(bytes))
}

/// One needle: its length and fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Needle {
    fingerprint: [u64; 2],
    len: u32,
}

/// One needle's anchor: the hash of its chosen window and where that window starts in it.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    hash: u64,
    needle: u32,
    offset: u32,
}

/// The search structure, built once every needle is in.
struct Index {
    /// One bit per `filter_shift`-bucket of anchor hashes.
    filter: Vec<u64>,
    filter_shift: u32,
    /// `anchors[starts[b]..starts[b + 1]]` are the anchors whose hash has top bits `b`.
    starts: Vec<u32>,
    bucket_shift: u32,
    anchors: Vec<Anchor>,
}

/// A set of needles, then a searcher for them.
#[derive(Default)]
pub struct Needles {
    needles: Vec<Needle>,
    /// Collecting: each needle's anchor, in needle order.
    anchors: Vec<Anchor>,
    /// Collecting: anchors per window hash so far (saturating).
    counts: Vec<u8>,
    /// Collecting: open addressing over needle ids + 1 (0 is empty), at most half full.
    slots: Vec<u32>,
    index: Option<Index>,
    /// The value or text at hand, lower-cased.
    scratch: Vec<u8>,
}

impl Needles {
    /// Needles held.
    pub fn len(&self) -> usize {
        self.needles.len()
    }

    /// Adds a value of at least [`WINDOW`] bytes; returns its id if it was not held yet (ASCII
    /// case ignored). Call before [`Needles::build`].
    pub fn insert(&mut self, v: &str) -> Option<usize> {
        debug_assert!(v.len() >= WINDOW && self.index.is_none());
        if self.slots.len() < 2 * (self.len() + 1) {
            self.grow();
        }
        lower_into(&mut self.scratch, v);
        let needle = Needle {
            fingerprint: fingerprint(&self.scratch),
            len: u32::try_from(v.len()).ok()?,
        };
        let mask = self.slots.len() - 1;
        let mut s = needle.fingerprint[0] as usize & mask;
        while self.slots[s] != 0 {
            if self.needles[self.slots[s] as usize - 1] == needle {
                return None;
            }
            s = (s + 1) & mask;
        }
        let id = self.len();
        self.slots[s] = id as u32 + 1;
        self.needles.push(needle);
        // The anchor: the window the fewest needles were anchored at so far.
        if self.counts.is_empty() {
            self.counts = vec![0; 1 << COUNT_BITS];
        }
        let mut best = (u8::MAX, 0, 0u64);
        for at in 0..=self.scratch.len() - WINDOW {
            let hash = window_hash(&self.scratch, at);
            let c = self.counts[(hash >> (64 - COUNT_BITS)) as usize];
            if c < best.0 || at == 0 {
                best = (c, at, hash);
                if c == 0 {
                    break;
                }
            }
        }
        let (_, at, hash) = best;
        let c = &mut self.counts[(hash >> (64 - COUNT_BITS)) as usize];
        *c = c.saturating_add(1);
        self.anchors.push(Anchor {
            hash,
            needle: id as u32,
            offset: at as u32,
        });
        Some(id)
    }

    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(1 << 10);
        self.slots = vec![0; n];
        for (id, needle) in self.needles.iter().enumerate() {
            let mut s = needle.fingerprint[0] as usize & (n - 1);
            while self.slots[s] != 0 {
                s = (s + 1) & (n - 1);
            }
            self.slots[s] = id as u32 + 1;
        }
    }

    /// Builds the filter and the buckets; no more needles can be added after it.
    pub fn build(&mut self) {
        self.slots = Vec::new();
        self.counts = Vec::new();
        let mut anchors = std::mem::take(&mut self.anchors);
        let bucket_bits = self
            .len()
            .max(1)
            .next_power_of_two()
            .trailing_zeros()
            .max(1);
        anchors.sort_unstable_by_key(|a| a.hash);
        let bucket_shift = 64 - bucket_bits;
        let mut starts = vec![0u32; (1 << bucket_bits) + 1];
        for a in &anchors {
            starts[(a.hash >> bucket_shift) as usize + 1] += 1;
        }
        for b in 1..starts.len() {
            starts[b] += starts[b - 1];
        }
        // Sixteen to thirty-two filter bits per needle: a window that matches no anchor passes
        // to its bucket once in sixteen or less.
        let filter_bits = (bucket_bits + 4).clamp(12, 34);
        let filter_shift = 64 - filter_bits;
        let mut filter = vec![0u64; 1 << (filter_bits - 6)];
        for a in &anchors {
            let bit = a.hash >> filter_shift;
            filter[(bit >> 6) as usize] |= 1 << (bit & 63);
        }
        self.index = Some(Index {
            filter,
            filter_shift,
            starts,
            bucket_shift,
            anchors,
        });
    }

    /// Finds the needles in `text`, leftmost-longest without overlap, as (start, end, needle
    /// id) in text order. `out` is cleared first.
    pub fn find(&mut self, text: &str, out: &mut Vec<(usize, usize, usize)>) {
        out.clear();
        let Some(ix) = &self.index else { return };
        if ix.anchors.is_empty() || text.len() < WINDOW {
            return;
        }
        let scratch = &mut self.scratch;
        lower_into(scratch, text);
        for at in 0..=scratch.len() - WINDOW {
            let hash = window_hash(scratch, at);
            let bit = hash >> ix.filter_shift;
            if ix.filter[(bit >> 6) as usize] & (1 << (bit & 63)) == 0 {
                continue;
            }
            let b = (hash >> ix.bucket_shift) as usize;
            for a in &ix.anchors[ix.starts[b] as usize..ix.starts[b + 1] as usize] {
                if a.hash != hash {
                    continue;
                }
                let Some(start) = at.checked_sub(a.offset as usize) else {
                    continue;
                };
                let needle = self.needles[a.needle as usize];
                let end = start + needle.len as usize;
                if scratch
                    .get(start..end)
                    .is_some_and(|s| fingerprint(s) == needle.fingerprint)
                {
                    out.push((start, end, a.needle as usize));
                }
            }
        }
        out.sort_unstable_by(|x, y| x.0.cmp(&y.0).then(y.1.cmp(&x.1)));
        let mut end = 0;
        out.retain(|m| {
            let keep = m.0 >= end;
            if keep {
                end = m.1;
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::{AhoCorasickBuilder, MatchKind};

    /// A small deterministic generator, so a failure replays.
    struct Xorshift(u64);
    impl Xorshift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn word(&mut self, alphabet: &[u8], min: usize, max: usize) -> String {
            let n = min + (self.next() as usize % (max - min + 1));
            (0..n)
                .map(|_| alphabet[self.next() as usize % alphabet.len()] as char)
                .collect()
        }
    }

    #[test]
    fn finds_what_a_leftmost_longest_automaton_finds() {
        // A small alphabet makes needles overlap, nest and share windows; upper case in the
        // text checks that ASCII case is ignored.
        let mut rng = Xorshift(0x5eed);
        let mut matches = 0;
        for round in 0..40 {
            let alphabet: &[u8] = if round % 2 == 0 {
                b"abAB-"
            } else {
                b"abcdefgh.@"
            };
            let mut needles = Needles::default();
            let mut pats = Vec::new();
            for _ in 0..(1 + rng.next() % 300) {
                let w = rng.word(alphabet, WINDOW, 14);
                if needles.insert(&w).is_some() {
                    pats.push(w.to_ascii_lowercase());
                } else {
                    assert!(
                        pats.contains(&w.to_ascii_lowercase()),
                        "{w} refused but not held"
                    );
                }
            }
            assert_eq!(needles.len(), pats.len());
            needles.build();
            let ac = AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(&pats)
                .unwrap();
            let mut out = Vec::new();
            for _ in 0..50 {
                let text = rng.word(alphabet, 0, 200);
                needles.find(&text, &mut out);
                let want: Vec<_> = ac
                    .find_iter(&text)
                    .map(|m| (m.start(), m.end(), m.pattern().as_usize()))
                    .collect();
                assert_eq!(out, want, "round {round}, text {text:?}");
                matches += want.len();
            }
        }
        assert!(
            matches > 500,
            "only {matches} matches: the texts test little"
        );
    }

    #[test]
    fn many_needles_sharing_a_prefix_are_each_found() {
        // Tokens that share a long common head (as JWTs share their header) are anchored apart,
        // and each is found in a longer text.
        let mut needles = Needles::default();
        let head = "eyjhbgcioijiuzi1niisinr5cci6ikpxvcj9.";
        for i in 0..5000 {
            assert_eq!(needles.insert(&format!("{head}{i:08}")), Some(i));
        }
        assert_eq!(
            needles.insert(&format!("{}00000042", head.to_uppercase())),
            None
        );
        needles.build();
        let ix = needles.index.as_ref().unwrap();
        let widest = (1..ix.starts.len())
            .map(|b| ix.starts[b] - ix.starts[b - 1])
            .max()
            .unwrap();
        assert!(widest < 50, "{widest} anchors in one bucket");
        let mut out = Vec::new();
        for i in [0, 42, 4999] {
            let text = format!("Authorization: Bearer {}{i:08}; x", head.to_uppercase());
            needles.find(&text, &mut out);
            assert_eq!(out, vec![(22, 22 + head.len() + 8, i)], "{text}");
        }
        needles.find(&format!("{head}00005000"), &mut out);
        assert!(out.is_empty());
        // Non-ASCII text around a needle: spans stay on character boundaries.
        needles.find(&format!("é{head}00000007ü"), &mut out);
        assert_eq!(out, vec![(2, 2 + head.len() + 8, 7)]);
    }
}
