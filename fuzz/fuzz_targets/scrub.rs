//! The scrubber under the default policy: never panics, and what it writes has no detector
//! hit left (checked the way `esr check` checks a trace). The input is split on 0xFF into
//! path, host, headers, body, session and one extra column.
#![no_main]

use esr::scrub::{Policy, ScrubKey, Scrubber};
use esr::trace::{RecordTransform, TraceRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0xff);
    let mut next = || {
        parts
            .next()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    };
    let path = next().unwrap_or_default();
    let mut rec = TraceRecord {
        ts_us: 0,
        method: "GET".into(),
        path: format!("/{}", path.trim_start_matches('/')),
        host: next(),
        headers: next(),
        body: next().map(String::into_bytes),
        session: next(),
        extra: vec![next()],
        ..Default::default()
    };
    let key = ScrubKey::from_bytes(&[7u8; 32], "fuzz").expect("a 32-byte key");
    let mut scrubber = Scrubber::new(Policy::default(), &key);
    let extra = scrubber
        .begin(&["notes".to_string()])
        .expect("default policy begins");
    scrubber.apply(&mut rec);
    assert_eq!(
        esr::fuzzing::residual_hits(&rec, &extra),
        0,
        "a detector hit survived"
    );
});
