//! Timestamp parsing: RFC 3339, Apache `%d/%b/%Y:%H:%M:%S %z` and epoch numbers never panic,
//! and an RFC 3339 instant in the range ingest accepts (1970..2300) formats and parses back to
//! itself (to the millisecond).
#![no_main]

use esr::ingest::timestamp::{UnitState, format_rfc3339, parse_apache, parse_rfc3339};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    // The range `UnitState::parse_text` accepts; earlier or later instants are refused there.
    const ACCEPTED: std::ops::Range<i64> = 0..10_413_792_000_000_000;
    if let Some(us) = parse_rfc3339(s).filter(|us| ACCEPTED.contains(us)) {
        let ms = us.div_euclid(1000) * 1000;
        assert_eq!(parse_rfc3339(&format_rfc3339(us)), Some(ms), "round trip");
    }
    let _ = parse_apache(s);
    let mut units = UnitState::default();
    let _ = units.parse_text(s, 1);
    if let Ok(v) = s.trim().parse::<f64>() {
        let _ = units.epoch(v, s.trim().parse::<i64>().ok(), 2);
    }
});
