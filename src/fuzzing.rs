//! Entry points the fuzz targets in `fuzz/` need beyond the public API; not for other use.
//!
//! Takes a record; gives what the library's own checks would say about it. It must never
//! grow beyond what a fuzz target cannot reach otherwise.

use crate::trace::TraceRecord;

/// Detector hits left in a record's text fields, found the way `esr check` finds them
/// (percent-decoded first, esr's own pseudonyms left out).
pub fn residual_hits(record: &TraceRecord, extra: &[String]) -> usize {
    let mut hits = Vec::new();
    crate::scrub::check::text_fields(record, extra)
        .map(|(_, v)| {
            crate::scrub::check::scan_value(&v, &mut hits);
            hits.len()
        })
        .sum()
}
