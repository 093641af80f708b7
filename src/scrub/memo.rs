//! A bounded memo of value -> pseudonym, for one entity kind.
//!
//! Two generations of at most [`GEN_ENTRIES`] entries each: when the recent one is full, the
//! older one is emptied and takes its place, so the most recent values survive (a cache that
//! is cleared when full forgets the values of the last few rows, which logs repeat most).
//! A value found in the older generation is copied into the recent one.
//!
//! Keys and pseudonyms live side by side in one string per generation, and the probe table
//! holds one `u64` per slot (part of the hash and the entry's index): a lookup hashes the
//! value once, reads one slot and compares one run of bytes; an insert allocates nothing
//! once the generation's buffers have grown. Memory per generation is bounded in entries and
//! in bytes ([`GEN_BYTES`]); entries longer than [`MAX_ENTRY`] are not kept.

/// Entries per generation (two generations: the same 16k entries as the old clear-when-full
/// cache at most).
const GEN_ENTRIES: usize = 1 << 13;
/// Probe slots per generation: at most half full, so linear probes stay short.
const GEN_SLOTS: usize = GEN_ENTRIES * 2;
/// Bytes of keys and pseudonyms per generation.
const GEN_BYTES: usize = 1 << 20;
/// The longest key plus pseudonym kept (a hashed body can be large and is rarely repeated).
const MAX_ENTRY: usize = 4096;

/// Where a memoized pseudonym sits: generation and entry.
#[derive(Debug, Clone, Copy)]
pub(super) struct Found(usize, usize);

#[derive(Default)]
struct Gen {
    /// `(hash >> 32) << 32 | (entry + 1)`; 0 is empty. Empty (no allocation) until the first
    /// insert, so the memos of entity kinds a log never has cost nothing.
    slots: Vec<u64>,
    /// Per entry: where its key ends (its pseudonym starts) and where its pseudonym ends in
    /// `text`; its key starts where the previous entry ends.
    ends: Vec<(u32, u32)>,
    text: String,
}

impl Gen {
    fn start(&self, e: usize) -> usize {
        if e == 0 {
            0
        } else {
            self.ends[e - 1].1 as usize
        }
    }

    fn key(&self, e: usize) -> &str {
        &self.text[self.start(e)..self.ends[e].0 as usize]
    }

    fn value(&self, e: usize) -> &str {
        let (k, v) = self.ends[e];
        &self.text[k as usize..v as usize]
    }

    fn find(&self, h: u64, key: &str) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let tag = h >> 32;
        let mut i = h as usize & (GEN_SLOTS - 1);
        loop {
            let s = self.slots[i];
            if s == 0 {
                return None;
            }
            if s >> 32 == tag {
                let e = (s & 0xffff_ffff) as usize - 1;
                if self.key(e) == key {
                    return Some(e);
                }
            }
            i = (i + 1) & (GEN_SLOTS - 1);
        }
    }

    fn has_room(&self, bytes: usize) -> bool {
        self.ends.len() < GEN_ENTRIES && self.text.len() + bytes <= GEN_BYTES
    }

    /// Adds an entry (the caller checked `has_room` and that `key` is not in).
    fn insert(&mut self, h: u64, key: &str, value: &str) -> usize {
        if self.slots.is_empty() {
            self.slots = vec![0; GEN_SLOTS];
        }
        let e = self.ends.len();
        self.text.push_str(key);
        let k = self.text.len();
        self.text.push_str(value);
        self.ends.push((k as u32, self.text.len() as u32));
        let mut i = h as usize & (GEN_SLOTS - 1);
        while self.slots[i] != 0 {
            i = (i + 1) & (GEN_SLOTS - 1);
        }
        self.slots[i] = ((h >> 32) << 32) | (e as u64 + 1);
        e
    }

    fn clear(&mut self) {
        self.slots.fill(0);
        self.ends.clear();
        self.text.clear();
    }
}

/// Value -> pseudonym for one entity kind, bounded (see the module's comment).
#[derive(Default)]
pub(super) struct Memo {
    gens: [Gen; 2],
    /// Index of the recent generation in `gens`.
    recent: usize,
}

impl Memo {
    /// The memoized pseudonym of `key` (whose hash is `h`), if any.
    pub fn get(&mut self, h: u64, key: &str) -> Option<Found> {
        let (r, o) = (self.recent, 1 - self.recent);
        if let Some(e) = self.gens[r].find(h, key) {
            return Some(Found(r, e));
        }
        let e = self.gens[o].find(h, key)?;
        // Still in use: carry it into the recent generation, unless that one is full (then
        // the older one is about to be emptied, and the value is found once more first).
        let old = &self.gens[o];
        let bytes = old.ends[e].1 as usize - old.start(e);
        if !self.gens[r].has_room(bytes) {
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
        if bytes > MAX_ENTRY {
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
        // Only 8 bits of tag: entries with equal tags and neighbouring slots exercise the
        // probes and the key comparison.
        let x = s
            .bytes()
            .fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
        (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) & 0xffff_ffff) | ((x & 0xff) << 32)
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
    fn long_entries_are_not_kept_and_bytes_are_bounded() {
        let mut m = Memo::default();
        let long = "x".repeat(MAX_ENTRY);
        assert!(m.insert(h(&long), &long, "p").is_none());
        let big = "y".repeat(MAX_ENTRY / 2);
        for i in 0..(4 * GEN_BYTES / MAX_ENTRY) {
            let k = format!("{i}{big}");
            m.insert(h(&k), &k, "p").unwrap();
            assert!(m.gens.iter().all(|g| g.text.len() <= GEN_BYTES));
        }
    }
}
