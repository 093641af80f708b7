//! CSV rows mapped onto the trace schema: the reader and the column mapping never panic,
//! whatever the header, the cells, the delimiter or the `--map` given (the first byte picks
//! the options, the rest is the file).
#![no_main]

use esr::ingest::{Format, ReadOptions, TsUnit, read_input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&opt, body)) = data.split_first() else {
        return;
    };
    let path = std::env::temp_dir().join(format!("esr-fuzz-csv-{}.csv", std::process::id()));
    std::fs::write(&path, body).expect("temp file writes");
    let map = match opt & 3 {
        0 => vec![],
        1 => vec![("ts".into(), "when".into()), ("path".into(), "url".into())],
        2 => vec![("session".into(), "user".into())],
        _ => vec![
            ("latency_ms".into(), "took".into()),
            ("status".into(), "code".into()),
        ],
    };
    let opts = ReadOptions {
        format: Format::Csv,
        map,
        delimiter: (opt & 4 != 0).then_some(b';'),
        ts_unit: match (opt >> 3) & 3 {
            0 => None,
            1 => Some(TsUnit::Seconds),
            2 => Some(TsUnit::Millis),
            _ => Some(TsUnit::Micros),
        },
    };
    if let Ok(reader) = read_input(&path, &opts) {
        let extra = reader.extra_columns().len();
        for rec in reader.take(256).flatten() {
            assert_eq!(rec.extra.len(), extra, "a record follows the extra columns");
        }
    }
});
