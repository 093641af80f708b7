//! Ingest throughput (rows/s) from CSV and from Parquet, without scrubbing and (CSV) with the
//! default scrub policy, as `esr ingest` runs it.
//!
//! The input has the shape of the shipped sample (headers with a bearer token, JSON bodies,
//! out of order within the second). Sizes are modest so a run finishes quickly; the README's
//! figures ("Ingest" -> "Performance") come from release runs of `esr ingest` on a 5M-row
//! generated log: 2.9 CPU-s per million rows from CSV and 2.2 from Parquet without scrubbing
//! (commit 707c5cc; 3.2 and 2.6 before it); 13.1 from CSV with scrubbing on a 1M-row log
//! (commit f6e0c87).

use std::io::Write;
use std::path::Path;

use criterion::{Criterion, Throughput};
use esr::ingest::{IngestOptions, ingest};
use esr::scrub::{Policy, ScrubKey, Scrubber};
use esr::trace::NoTransform;

const ROWS: u64 = 50_000;

fn write_csv(path: &Path, rows: u64) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        w,
        "timestamp,method,url,host,user_id,email,client_ip,status,latency_ms,headers,body"
    )
    .unwrap();
    for i in 0..rows {
        // Completion order: arrival times jump back and forth within the second.
        let ms = i * 7 + (i % 5) * 37;
        let (s, ms) = (ms / 1000, ms % 1000);
        let (h, m, sec) = (14 + s / 3600, s / 60 % 60, s % 60);
        writeln!(
            w,
            "2026-11-20T{h:02}:{m:02}:{sec:02}.{ms:03}Z,POST,/pay,pay.hms.example,c-{u:07},\
             user{u}@example.com,192.0.2.{ip},201,{lat}.5,\
             \"{{\"\"Authorization\"\":\"\"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjLTEifQ.c2lnbmF0dXJl{i}\"\",\
             \"\"Content-Type\"\":\"\"application/json\"\"}}\",\
             \"{{\"\"policy_id\"\":\"\"FLD-2026-{i:06}\"\",\"\"card_number\"\":\"\"4111 1111 1111 1111\"\"}}\"",
            u = i % 100_000,
            ip = i % 254 + 1,
            lat = i % 400,
        )
        .unwrap();
    }
}

pub fn csv_and_parquet(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    write_csv(&csv, ROWS);
    // A Parquet input: the same rows as a trace file, read back as a raw input.
    let parquet = dir.path().join("in.parquet");
    ingest(
        std::slice::from_ref(&csv),
        &parquet,
        &IngestOptions::default(),
        Box::new(NoTransform),
    )
    .unwrap();
    let out = dir.path().join("out.parquet");
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(ROWS));
    g.sample_size(10);
    for (name, input) in [("csv_50k", &csv), ("parquet_50k", &parquet)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                ingest(
                    std::slice::from_ref(input),
                    &out,
                    &IngestOptions::default(),
                    Box::new(NoTransform),
                )
                .unwrap()
                .rows_out
            })
        });
    }
    // Scrubbed, as `esr ingest` does by default: the detectors and keyed pseudonyms on every
    // row, on the pipeline's transform thread.
    let key = ScrubKey::from_bytes(b"bench key 0123456789abcdef", "bench").unwrap();
    g.bench_function("csv_50k_scrubbed", |b| {
        b.iter(|| {
            ingest(
                std::slice::from_ref(&csv),
                &out,
                &IngestOptions::default(),
                Box::new(Scrubber::new(Policy::default(), &key)),
            )
            .unwrap()
            .rows_out
        })
    });
    // The same CSV with a tiny sort budget and streaming off: the spill-and-merge path.
    let spill = IngestOptions {
        sort_budget: 2 * 1024 * 1024,
        stream: false,
        ..Default::default()
    };
    g.bench_function("csv_50k_spilled", |b| {
        b.iter(|| {
            ingest(
                std::slice::from_ref(&csv),
                &out,
                &spill,
                Box::new(NoTransform),
            )
            .unwrap()
            .rows_out
        })
    });
    g.finish();
}
