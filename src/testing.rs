//! What the unit tests share.

use std::ops::Range;

/// `count` random texts for property tests, each `lens` pieces long (a piece count drawn from
/// that range) and glued from `pieces`. A fixed seed and xorshift: every run checks the same
/// texts, so a failure reproduces.
pub(crate) fn random_texts<T: Copy>(
    seed: u64,
    count: usize,
    lens: Range<usize>,
    pieces: &[T],
) -> impl Iterator<Item = Vec<T>> + '_ {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as usize
    };
    (0..count).map(move |_| {
        let n = lens.start + next() % lens.len();
        (0..n).map(|_| pieces[next() % pieces.len()]).collect()
    })
}
