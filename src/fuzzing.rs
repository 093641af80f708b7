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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::{Policy, ScrubKey, Scrubber};
    use crate::trace::RecordTransform;

    fn scrubbed(mut rec: TraceRecord) -> usize {
        let key = ScrubKey::from_bytes(&[7u8; 32], "test").unwrap();
        let mut s = Scrubber::new(Policy::default(), &key);
        let extra = s.begin(&[]).unwrap();
        s.apply(&mut rec);
        residual_hits(&rec, &extra)
    }

    #[test]
    fn the_scrubber_leaves_no_hit_in_string_headers_and_bodies() {
        let rec = TraceRecord {
            method: "GET".into(),
            path: "/u/jane.doe@example.com".into(),
            headers: Some(r#"{"x-card":"4111111111111111","x-ip":"203.0.113.7"}"#.into()),
            body: Some(br#"{"email":"a.b@example.org"}"#.to_vec()),
            ..Default::default()
        };
        assert_eq!(scrubbed(rec), 0);
    }

    /// Found by the `scrub` fuzz target: an address glued to another by `@` in a path left
    /// `@example.com` to pair with the pseudonym's domain.
    #[test]
    fn the_scrubber_leaves_no_hit_when_addresses_are_glued_by_an_at_sign() {
        let rec = TraceRecord {
            method: "GET".into(),
            path: "/users/jane.doe@e.doe@example.com/cards?n=4".into(),
            ..Default::default()
        };
        assert_eq!(scrubbed(rec), 0);
    }

    #[test]
    fn the_scrubber_leaves_no_hit_in_numeric_header_values() {
        let rec = TraceRecord {
            method: "GET".into(),
            path: "/".into(),
            headers: Some(r#"{"x-card":4111111111111111}"#.into()),
            ..Default::default()
        };
        assert_eq!(scrubbed(rec), 0);
    }
}
