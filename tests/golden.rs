//! Output stability: speed work must not change a single row. Each case ingests known inputs
//! (the sample trace, every good fixture, a generated log with the PII of every detector and
//! heavy repeats) with and without scrubbing under a fixed key, and
//! compares a digest of the trace's rows and of the scrub report with the digest recorded
//! from commit 43ba0b8 (before the ingest and scrub speed-ups). The streamed and the
//! spilled sort must agree too.

use std::io::Write;
use std::path::{Path, PathBuf};

use esr::ingest::{IngestOptions, ingest};
use esr::scrub::{Policy, ScrubKey, Scrubber};
use esr::trace::{NoTransform, RecordTransform, TraceReader};
use sha2::{Digest, Sha256};

use crate::util::root;

/// A digest of every row of `trace` (all columns, nulls told apart from empty values) and of
/// its extra column names, as hex.
fn rows_digest(trace: &Path) -> (u64, String) {
    let reader = TraceReader::open(trace).unwrap();
    let mut h = Sha256::new();
    for name in reader.extra_columns() {
        field(&mut h, Some(name.as_bytes()));
    }
    let mut n = 0;
    for r in reader.records().unwrap() {
        let r = r.unwrap();
        n += 1;
        h.update(r.ts_us.to_le_bytes());
        field(&mut h, Some(r.method.as_bytes()));
        field(&mut h, Some(r.path.as_bytes()));
        field(&mut h, r.host.as_deref().map(str::as_bytes));
        field(&mut h, r.headers.as_deref().map(str::as_bytes));
        field(&mut h, r.body.as_deref());
        h.update(r.status.map_or(-1, i32::from).to_le_bytes());
        h.update(r.latency_ms.map_or(u64::MAX, f64::to_bits).to_le_bytes());
        field(&mut h, r.session.as_deref().map(str::as_bytes));
        for e in &r.extra {
            field(&mut h, e.as_deref().map(str::as_bytes));
        }
    }
    (n, hex(&h.finalize()))
}

fn field(h: &mut Sha256, v: Option<&[u8]>) {
    match v {
        None => h.update([0u8]),
        Some(b) => {
            h.update([1u8]);
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn key() -> ScrubKey {
    ScrubKey::from_bytes(b"golden output key, not secret 0123456789", "golden").unwrap()
}

/// Ingests `inputs` (scrubbed under the fixed key with the default policy when `scrub`);
/// returns (rows, digest of the rows, digest of the scrub report's JSON).
fn run(inputs: &[PathBuf], scrub: bool, opts: &IngestOptions) -> (u64, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.parquet");
    let (transform, report): (Box<dyn RecordTransform>, _) = if scrub {
        let s = Scrubber::new(Policy::default(), &key());
        let handle = s.report_handle();
        (Box::new(s), Some(handle))
    } else {
        (Box::new(NoTransform), None)
    };
    let rep = ingest(inputs, &out, opts, transform).unwrap();
    let (rows, digest) = rows_digest(&out);
    assert_eq!(rows, rep.rows_out);
    let report = report.map_or(String::new(), |r| {
        let r = r.lock().unwrap().clone().expect("report published");
        let mut h = Sha256::new();
        h.update(serde_json::to_string(&r).unwrap());
        hex(&h.finalize())
    });
    (rows, digest, report)
}

/// A log with the PII of every detector, heavy repeats (sessions, addresses,
/// emails) and rows out of order within the second.
fn generated(dir: &Path) -> PathBuf {
    let path = dir.join("generated.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(
        w,
        "timestamp,method,url,host,user_id,email,client_ip,client_ip6,note,status,latency_ms,\
         headers,body"
    )
    .unwrap();
    for i in 0..12_000u64 {
        let ms = i * 13 + (i % 7) * 41;
        let (s, ms) = (ms / 1000, ms % 1000);
        let (h, m, sec) = (10 + s / 3600, s / 60 % 60, s % 60);
        let u = (i * 7919) % 9_000;
        let ip = i % 509;
        let card = [
            "4111 1111 1111 1111",
            "5500-0000-0000-0004",
            "4012888888881881",
        ][i as usize % 3];
        let note = match i % 5 {
            0 => format!("call +1 415 555 {:04}", i % 10_000),
            1 => format!("ssn 123-45-{:04}", 1 + i % 9_000),
            2 => "iban GB82 WEST 1234 5698 7654 32 please".to_string(),
            3 => String::new(),
            _ => "nothing to see".to_string(),
        };
        writeln!(
            w,
            "2026-11-20T{h:02}:{m:02}:{sec:02}.{ms:03}Z,{method},\
             /users/u{u}%40example.com/policy?id={i}&token=t{tok}&zone=AE,\
             pay.hms.example,c-{u:07},user{u}@example.com,10.{a}.{b}.{c},2001:db8:{ip:x}::1,\
             {note},{status},{lat}.25,\
             \"{{\"\"Authorization\"\":\"\"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ{tok}fQ.c2lnbmF0dXJl\"\",\
             \"\"Cookie\"\":\"\"sid=s{tok}; theme=dark\"\",\"\"X-Forwarded-For\"\":\"\"198.51.100.{d}\"\"}}\",\
             \"{{\"\"email\"\":\"\"user{u}@example.com\"\",\"\"card_number\"\":\"\"{card}\"\",\
             \"\"password\"\":\"\"pw-{tok}\"\",\"\"n\"\":{i}}}\"",
            method = ["GET", "POST", "PUT"][i as usize % 3],
            tok = i % 977,
            a = ip / 100,
            b = ip % 100,
            c = 1 + i % 250,
            d = 1 + i % 200,
            status = [200, 201, 404, 500][i as usize % 4],
            lat = i % 300,
        )
        .unwrap();
    }
    path
}

fn fixtures(names: &[&str]) -> Vec<PathBuf> {
    names
        .iter()
        .map(|n| root().join("fixtures/ingest").join(n))
        .collect()
}

const SAMPLE: &str = "0e0f8add72edb20ea78f8d7e3e6fed65cebdb6231f37fa09c992a2af1b8454df";
const SAMPLE_SCRUBBED: &str = "faf4e16d4207e9ec9e149e47227144b583d3658f05234f786e79ecf7514114e1";
const SAMPLE_REPORT: &str = "367f47064db8afe86f92c098104fc9f51ecafaa5fa0e798e504fa3f8f223fec9";

/// (inputs, scrub, rows, rows digest, report digest), recorded from commit 43ba0b8.
fn cases(dir: &Path) -> Vec<(Vec<PathBuf>, bool, u64, &'static str, &'static str)> {
    let sample = vec![root().join("traces/flood_rerate.csv")];
    let sample_pq = vec![root().join("traces/flood_rerate.parquet")];
    let all = fixtures(&[
        "good.csv",
        "good.csv.gz",
        "good.jsonl",
        "combined.log",
        "common.log",
        "good.har",
        "pyarrow_snappy.parquet",
        "pyarrow_zstd_epoch_ms.parquet",
        "apache_ts.csv",
        "epoch_s.tsv",
        "multi_a.csv",
        "multi_b.jsonl",
    ]);
    let logs = vec![generated(dir)];
    vec![
        (sample.clone(), false, 1515, SAMPLE, ""),
        (sample, true, 1515, SAMPLE_SCRUBBED, SAMPLE_REPORT),
        // The Parquet copy of the sample gives the very same trace.
        (sample_pq.clone(), false, 1515, SAMPLE, ""),
        (sample_pq, true, 1515, SAMPLE_SCRUBBED, SAMPLE_REPORT),
        (
            all.clone(),
            false,
            34,
            "4291bf1d279e9818c4f57f401dccccbdb4508e374ceefcdf2d209fe033eb6b35",
            "",
        ),
        (
            all,
            true,
            34,
            "4f490a077a616090365e21dccae4bcdbfd4451178bdcb4467af1c17edb18efd9",
            "ae0c6373bb1f1ada4a448547624156e69f8df341dcaf8585b6d5d25e51bfb0ac",
        ),
        (
            logs.clone(),
            false,
            12_000,
            "a0f2b5d118b4b0bc2a4450e515cb24e41fa0133d8b7abc16b4002b20a0048816",
            "",
        ),
        (
            logs,
            true,
            12_000,
            "eda433a0ec32b1ec3604434f7476cc52fb0088ccd293554a3aae2d35bcb5a13a",
            "75b51d46156835824b526f63716eb40b48e7511d9edfa19dc143820fa9fee286",
        ),
    ]
}

#[test]
fn traces_are_unchanged_row_for_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut got = Vec::new();
    let mut ok = true;
    for (inputs, scrub, rows, digest, report) in cases(dir.path()) {
        let g = run(&inputs, scrub, &IngestOptions::default());
        ok &= (g.0, g.1.as_str(), g.2.as_str()) == (rows, digest, report);
        got.push(g);
    }
    assert!(ok, "digests changed; now: {got:#?}");
}

#[test]
fn spilled_sort_gives_the_streamed_rows() {
    let dir = tempfile::tempdir().unwrap();
    let logs = vec![generated(dir.path())];
    let spill = IngestOptions {
        sort_budget: 4 * 1024 * 1024,
        stream: false,
        ..Default::default()
    };
    for scrub in [false, true] {
        let streamed = run(&logs, scrub, &IngestOptions::default());
        let spilled = run(&logs, scrub, &spill);
        assert_eq!(streamed, spilled);
    }
}
