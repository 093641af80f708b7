//! Apache/nginx log lines: the CLF reader never panics, and a record it accepts has an
//! upper-case method and an origin-form path.
#![no_main]

use esr::ingest::{Format, ReadOptions, read_input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("esr-fuzz-clf-{}.log", std::process::id()));
    std::fs::write(&path, data).expect("temp file writes");
    let opts = ReadOptions {
        format: Format::Clf,
        ..Default::default()
    };
    if let Ok(reader) = read_input(&path, &opts) {
        for rec in reader.take(64).flatten() {
            assert!(!rec.method.is_empty());
            assert_eq!(rec.method, rec.method.to_ascii_uppercase());
            assert!(
                rec.path.starts_with('/') || rec.path == "*",
                "path not origin-form"
            );
        }
    }
});
