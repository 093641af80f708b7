//! Scenarios, as JSON and as TOML: parsing and validation never panic; a refusal names at
//! least one field.
#![no_main]

use esr::scenario::{ScenarioFormat, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for format in [ScenarioFormat::Json, ScenarioFormat::Toml] {
        if let Err(e) = parse(text, format, "fuzz") {
            assert!(!e.errors.is_empty(), "a refusal says what is wrong");
        }
    }
});
