//! A byte search for short distances: a CSV cell, or the text between two doubled quotes of
//! JSON in one, is mostly a few bytes long, where `memchr`'s set-up (and a separate copy)
//! costs more than its scan. This looks at eight bytes at a time in a `u64` and copies them
//! as it goes (portable, no `unsafe`). Tried for the JSON check's strings too, where it lost
//! to `memchr` (longer runs).

const ONES: u64 = u64::from_ne_bytes([1; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// The high bit of each byte of `w` equal to one of `needles` (and maybe of bytes above one:
/// a borrow carries upward only). In little-endian order the lowest bit set therefore marks
/// the first match exactly.
#[inline(always)]
fn matches<const N: usize>(w: u64, needles: [u8; N]) -> u64 {
    let zeros = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    needles
        .iter()
        .fold(0, |hit, &n| hit | zeros(w ^ (ONES * u64::from(n))))
}

/// Copies `src` into `out` up to the first byte equal to any of `needles` and returns that
/// byte's index (the bytes before it are copied), or `None` when `src` has none (all of it is
/// copied). `out` must be at least 8 bytes longer than `src`: whole words are stored, so up to
/// eight bytes past the copied ones are overwritten.
// Always inlined: the needles are then constants, and a build once left one call site
// uninlined (CsvRows::read +12 % instructions).
#[inline(always)]
pub(crate) fn copy_until<const N: usize>(
    src: &[u8],
    out: &mut [u8],
    needles: [u8; N],
) -> Option<usize> {
    let n = src.len();
    // One bounds check here (it panics if `out` is short) lets the loop's go.
    let out = &mut out[..n + 8];
    let mut i = 0;
    while i + 8 <= n {
        let w = u64::from_le_bytes(src[i..i + 8].try_into().expect("eight bytes"));
        out[i..i + 8].copy_from_slice(&w.to_le_bytes());
        let hit = matches(w, needles);
        if hit != 0 {
            return Some(i + (hit.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    for (k, &c) in src[i..].iter().enumerate() {
        if needles.contains(&c) {
            return Some(i + k);
        }
        out[i + k] = c;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_up_to_what_memchr_finds() {
        // A needle at every offset around the word boundaries and the tail, after bytes one
        // above a needle (where the borrow could misfire) and other fillers.
        let needles = [b'"', b',', b'\n'];
        for len in 0..80 {
            for at in 0..=len {
                for filler in [b'a', b'"' + 1, b',' + 1, 0, 0xff] {
                    let mut b = vec![filler; len];
                    if at < len {
                        b[at] = b',';
                    }
                    let want = memchr::memchr3(b'"', b',', b'\n', &b);
                    let mut out = vec![7; len + 8];
                    assert_eq!(copy_until(&b, &mut out, needles), want, "{b:?}");
                    let copied = want.unwrap_or(len);
                    assert_eq!(out[..copied], b[..copied], "{b:?}");
                }
            }
        }
    }
}
