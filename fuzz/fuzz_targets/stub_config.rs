//! Stub configuration, as TOML and as JSON: parsing and validation never panic (a bad file is
//! an error naming the file).
#![no_main]

use esr::stub::StubConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for cfg in [
        StubConfig::parse_toml(text, "fuzz.toml"),
        StubConfig::parse_json(text, "fuzz.json"),
    ]
    .into_iter()
    .flatten()
    {
        let _ = cfg.validate("fuzz");
    }
});
