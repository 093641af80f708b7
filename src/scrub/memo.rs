//! A bounded memo of value -> pseudonym, for one entity kind.
//!
//! Two generations of at most [`GEN_ENTRIES`] entries each: when the recent one is full, the
//! older one is emptied and takes its place, so the most recent values survive (a cache that
//! is cleared when full forgets the values of the last few rows, which logs repeat most).
//! A value found in the older generation is copied into the recent one.
//!
//! Keys and pseudonyms live side by side in one string per generation, and the probe table
//! holds one `u64` per slot (part of the hash, where the entry sits and its lengths): a lookup
//! hashes the value once, reads one slot and compares one run of bytes; an insert allocates
//! nothing once the generation's buffers have grown. Memory per generation is bounded in entries and
//! in bytes ([`GEN_BYTES`]); entries longer than [`MAX_ENTRY`] are not kept.
//!
//! A memo that is not worth asking rests: some kinds never repeat in a log (a bearer token
//! or a password per request), and for them a look-up and an insert are pure cost. After a
//! window of [`WINDOW`] look-ups with fewer than one hit in [`WORTH`], the next [`REST`]
//! values are made without it; then it is asked again. A memo only saves work, so the
//! pseudonyms are the same either way.

/// Entries per generation. A log's identifiers come back within a few hundred rows (a
/// citizen's login, premium and payment), so two generations of 2,048 keep them; 8,192 held
/// values that never came back and spilled every memo's slots out of the core's cache: on a
/// scrubbed ingest of 500k rows, 2,048 used 5 % less CPU than 8,192 and than 1,024 (which
/// starts to miss), 4 % less than 4,096.
const GEN_ENTRIES: usize = 1 << 11;
/// Probe slots per generation: at most half full, so linear probes stay short.
const GEN_SLOTS: usize = GEN_ENTRIES * 2;
/// Bytes of keys and pseudonyms per generation.
const GEN_BYTES: usize = 1 << 20;
/// The longest key plus pseudonym kept (a hashed body can be large and is rarely repeated).
const MAX_ENTRY: usize = (1 << LEN_BITS) - 1;

/// Look-ups per judgement of whether a memo is worth asking.
const WINDOW: u32 = 4096;
/// A window needs at least one hit per `WORTH` look-ups; below that a miss (hash, two probes,
/// an insert) costs more than the hits save.
const WORTH: u32 = 16;
/// Values made without the memo after a window that was not worth it.
const REST: u32 = 16 * WINDOW;

/// Where a memoized pseudonym sits: generation and slot.
#[derive(Debug, Clone, Copy)]
pub(super) struct Found(usize, usize);

/// Bits of a slot: 20 of hash, 20 of offset into `text` (below [`GEN_BYTES`]), 12 of key
/// length and 12 of pseudonym length (their sum is at most [`MAX_ENTRY`]).
const OFFSET_BITS: u32 = 20;
const LEN_BITS: u32 = 12;
const TAG_SHIFT: u32 = OFFSET_BITS + 2 * LEN_BITS;
const LEN_MASK: u64 = (1 << LEN_BITS) - 1;
const _: () = assert!(GEN_BYTES <= 1 << OFFSET_BITS);

#[derive(Default)]
struct Gen {
    /// One entry each: its place in `text` and part of its hash, so a hit reads one slot and
    /// one run of bytes; 0 is empty (an entry's key is never empty, so its slot is not 0).
    /// Empty (no allocation) until the first insert: the memos of entity kinds a log never
    /// has cost nothing.
    slots: Vec<u64>,
    entries: usize,
    /// Each entry's key, then its pseudonym.
    text: String,
}

fn tag(h: u64) -> u64 {
    h >> TAG_SHIFT
}

impl Gen {
    /// The key and pseudonym spans of a slot.
    fn spans(s: u64) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let at = (s & ((1 << OFFSET_BITS) - 1)) as usize;
        let k = ((s >> OFFSET_BITS) & LEN_MASK) as usize;
        let v = ((s >> (OFFSET_BITS + LEN_BITS)) & LEN_MASK) as usize;
        (at..at + k, at + k..at + k + v)
    }

    fn value(&self, slot: usize) -> &str {
        &self.text[Gen::spans(self.slots[slot]).1]
    }

    /// The slot of `key`, if it is in.
    fn find(&self, h: u64, key: &str) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mut i = h as usize & (GEN_SLOTS - 1);
        loop {
            let s = self.slots[i];
            if s == 0 {
                return None;
            }
            if s >> TAG_SHIFT == tag(h) && self.text.as_bytes()[Gen::spans(s).0] == *key.as_bytes()
            {
                return Some(i);
            }
            i = (i + 1) & (GEN_SLOTS - 1);
        }
    }

    fn has_room(&self, bytes: usize) -> bool {
        self.entries < GEN_ENTRIES && self.text.len() + bytes <= GEN_BYTES
    }

    /// Adds an entry (the caller checked `has_room`, that `key` is not in and not empty, and
    /// that key and pseudonym fit [`MAX_ENTRY`]); gives its slot.
    fn insert(&mut self, h: u64, key: &str, value: &str) -> usize {
        if self.slots.is_empty() {
            self.slots = vec![0; GEN_SLOTS];
        }
        let at = self.text.len() as u64;
        self.text.push_str(key);
        self.text.push_str(value);
        self.entries += 1;
        let mut i = h as usize & (GEN_SLOTS - 1);
        while self.slots[i] != 0 {
            i = (i + 1) & (GEN_SLOTS - 1);
        }
        self.slots[i] = (tag(h) << TAG_SHIFT)
            | ((value.len() as u64) << (OFFSET_BITS + LEN_BITS))
            | ((key.len() as u64) << OFFSET_BITS)
            | at;
        i
    }

    fn clear(&mut self) {
        self.slots.fill(0);
        self.entries = 0;
        self.text.clear();
    }
}

/// Value -> pseudonym for one entity kind, bounded (see the module's comment).
#[derive(Default)]
pub(super) struct Memo {
    gens: [Gen; 2],
    /// Index of the recent generation in `gens`.
    recent: usize,
    /// Look-ups and hits in the current window.
    asked: u32,
    found: u32,
    /// Values still to be made without the memo.
    rest: u32,
}

impl Memo {
    /// True while the memo rests (see the module's comment): the caller makes the value
    /// itself and neither asks nor inserts. Each call counts one value.
    pub fn resting(&mut self) -> bool {
        if self.rest == 0 {
            return false;
        }
        self.rest -= 1;
        true
    }

    /// The memoized pseudonym of `key` (whose hash is `h`), if any.
    pub fn get(&mut self, h: u64, key: &str) -> Option<Found> {
        let f = self.lookup(h, key);
        self.asked += 1;
        self.found += u32::from(f.is_some());
        if self.asked == WINDOW {
            if self.found * WORTH < WINDOW {
                self.rest = REST;
            }
            self.asked = 0;
            self.found = 0;
        }
        f
    }

    fn lookup(&mut self, h: u64, key: &str) -> Option<Found> {
        let (r, o) = (self.recent, 1 - self.recent);
        if let Some(e) = self.gens[r].find(h, key) {
            return Some(Found(r, e));
        }
        let e = self.gens[o].find(h, key)?;
        // Still in use: carry it into the recent generation, unless that one is full (then
        // the older one is about to be emptied, and the value is found once more first).
        let old = &self.gens[o];
        if !self.gens[r].has_room(key.len() + old.value(e).len()) {
            return Some(Found(o, e));
        }
        let [a, b] = &mut self.gens;
        let (recent, old) = if r == 0 { (a, b) } else { (b, a) };
        Some(Found(r, recent.insert(h, key, old.value(e))))
    }

    /// Remembers `value` as the pseudonym of `key` (hash `h`, not in the memo); `None` when
    /// the pair is too long to keep.
    pub fn insert(&mut self, h: u64, key: &str, value: &str) -> Option<Found> {
        let bytes = key.len() + value.len();
        if bytes > MAX_ENTRY || key.is_empty() {
            return None;
        }
        if !self.gens[self.recent].has_room(bytes) {
            self.recent = 1 - self.recent;
            self.gens[self.recent].clear();
        }
        let r = self.recent;
        Some(Found(r, self.gens[r].insert(h, key, value)))
    }

    /// The pseudonym at `f` (from `get` or `insert`, with no insert since).
    pub fn value(&self, f: Found) -> &str {
        self.gens[f.0].value(f.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> u64 {
        // No tag bits (they sit above bit 44): every probe compares the keys.
        let x = s
            .bytes()
            .fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
        x.wrapping_mul(0x9e37_79b9_7f4a_7c15) & 0xffff_ffff
    }

    #[test]
    fn finds_what_it_keeps_and_keeps_the_recent_half() {
        let mut m = Memo::default();
        let n = GEN_ENTRIES * 3;
        for i in 0..n {
            let k = format!("k{i}");
            assert!(m.get(h(&k), &k).is_none(), "{k}");
            let f = m.insert(h(&k), &k, &format!("v{i}")).unwrap();
            assert_eq!(m.value(f), format!("v{i}"));
        }
        // The last generation and the one before it are kept; older ones are gone.
        for i in (n - 2 * GEN_ENTRIES)..n {
            let k = format!("k{i}");
            let f = m.get(h(&k), &k).unwrap_or_else(|| panic!("{k} lost"));
            assert_eq!(m.value(f), format!("v{i}"));
        }
        assert!(m.get(h("k0"), "k0").is_none());
    }

    #[test]
    fn a_value_in_use_survives_rotations() {
        let mut m = Memo::default();
        m.insert(h("hot"), "hot", "p-hot").unwrap();
        for i in 0..GEN_ENTRIES * 5 {
            let k = format!("k{i}");
            m.insert(h(&k), &k, "x").unwrap();
            let f = m
                .get(h("hot"), "hot")
                .expect("a value looked up every row stays");
            assert_eq!(m.value(f), "p-hot");
        }
    }

    #[test]
    fn a_memo_without_hits_rests_and_one_with_hits_does_not() {
        let (mut cold, mut warm) = (Memo::default(), Memo::default());
        for i in 0..WINDOW {
            let k = format!("k{i}");
            assert!(!cold.resting() && !warm.resting());
            assert!(cold.get(h(&k), &k).is_none());
            cold.insert(h(&k), &k, "p");
            let w = format!("w{}", i % 64);
            if warm.get(h(&w), &w).is_none() {
                warm.insert(h(&w), &w, "p");
            }
        }
        // Every value was new: the next REST values skip the memo, then it is asked again.
        assert!((0..REST).all(|_| cold.resting()));
        assert!(!cold.resting());
        // 64 values over and over: only their first look-ups missed (64 of 4,096): worth asking.
        assert!(!warm.resting());
    }

    #[test]
    fn long_entries_are_not_kept_and_bytes_are_bounded() {
        let mut m = Memo::default();
        let long = "x".repeat(MAX_ENTRY + 1);
        assert!(m.insert(h(&long), &long, "p").is_none());
        let big = "y".repeat(MAX_ENTRY / 2);
        for i in 0..(4 * GEN_BYTES / MAX_ENTRY) {
            let k = format!("{i}{big}");
            m.insert(h(&k), &k, "p").unwrap();
            assert!(m.gens.iter().all(|g| g.text.len() <= GEN_BYTES));
            let f = m.get(h(&k), &k).expect("just kept");
            assert_eq!(m.value(f), "p");
        }
    }
}
