//! Scrub throughput: the Scrubber transform over the sample trace's rows (realistic mix:
//! emails, IPs, bearer JWTs, card numbers, passwords in JSON bodies), as MB/s and rows/s, and
//! the detector scan alone on a header object, on clean text and on PII, and whole-value
//! pseudonyms of new and of repeated values. Whole scrubbed ingests (lanes, 1M rows) are measured with
//! `/usr/bin/time` as README "Ingest" -> "Performance" says; this bench runs one lane.

use criterion::{BatchSize, Criterion, Throughput};
use esr::ingest::{ReadOptions, read_input};
use esr::scrub::{Policy, Pseudonymizer, ScrubKey, Scrubber, scan};
use esr::trace::{RecordTransform, TraceRecord};

fn sample() -> (Vec<TraceRecord>, Vec<String>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/flood_rerate.csv");
    let reader = read_input(&path, &ReadOptions::default()).expect("sample trace reads");
    let extra = reader.extra_columns().to_vec();
    let rows: Vec<TraceRecord> = reader.map(|r| r.expect("sample rows are good")).collect();
    (rows, extra)
}

fn bytes_of(r: &TraceRecord) -> u64 {
    (r.path.len()
        + r.host.as_ref().map_or(0, String::len)
        + r.headers.as_ref().map_or(0, String::len)
        + r.body.as_ref().map_or(0, Vec::len)
        + r.session.as_ref().map_or(0, String::len)
        + r.extra.iter().flatten().map(String::len).sum::<usize>()) as u64
}

pub fn scrub_throughput(c: &mut Criterion) {
    let (rows, extra) = sample();
    let key = ScrubKey::from_bytes(b"bench key 0123456789abcdef", "bench").unwrap();
    let bytes: u64 = rows.iter().map(bytes_of).sum();
    let mut g = c.benchmark_group("scrub");
    g.sample_size(20);
    for (name, tp) in [
        ("sample_rows", Throughput::Elements(rows.len() as u64)),
        ("sample_bytes", Throughput::Bytes(bytes)),
    ] {
        g.throughput(tp);
        g.bench_function(name, |b| {
            // One scrubber across iterations, like one ingest: its pseudonym cache warms up
            // on repeated sessions and addresses, as it does on real logs.
            let mut s = Scrubber::new(Policy::default(), &key);
            s.begin(&extra).unwrap();
            b.iter_batched_ref(
                || rows.clone(),
                |batch| {
                    for r in batch.iter_mut() {
                        s.apply(r);
                    }
                },
                BatchSize::LargeInput,
            )
        });
    }
    // The detector scan alone: a header object with nothing to find (a hex request id the
    // IBAN rule looks at), text with nothing to find, and PII.
    let header = r#"{"Content-Type":"application/json","User-Agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)","X-Request-Id":"e4c10ba57b8da641"}"#;
    g.throughput(Throughput::Bytes(header.len() as u64));
    g.bench_function("scan_header_value", |b| {
        b.iter(|| scan(std::hint::black_box(header)))
    });
    let clean = "/fetch_premium?zone=A&page=2 {\"policy_id\":\"FLD-2026-885395\",\"zone\":\"A\"}";
    g.throughput(Throughput::Bytes(clean.len() as u64));
    g.bench_function("scan_clean_value", |b| {
        b.iter(|| scan(std::hint::black_box(clean)))
    });
    let dirty =
        r#"{"email":"tara.chen67@example.org","card":"4111 1111 1111 1111","ip":"192.0.2.138"}"#;
    g.throughput(Throughput::Bytes(dirty.len() as u64));
    g.bench_function("scan_pii_value", |b| {
        b.iter(|| scan(std::hint::black_box(dirty)))
    });
    // A free-text note with one email and one secret-named JSON key among many words: only
    // the email's word and the key's quote may start those patterns.
    let note = format!(
        "{{\"password\":\"hunter2\",\"note\":\"{} write to tara.chen67@example.org {}\"}}",
        "the caller asked for the flood zone to be checked again before renewal".repeat(6),
        "and the premium was confirmed by phone after the survey".repeat(6),
    );
    g.throughput(Throughput::Bytes(note.len() as u64));
    g.bench_function("scan_note_value", |b| {
        b.iter(|| scan(std::hint::black_box(&note)))
    });
    // Whole values (hashed columns: user ids, emails, client addresses) never seen before,
    // as most are in a log of many citizens: the shape tests, the HMAC and the memo's insert.
    let values: Vec<String> = (0..10_000)
        .map(|i| match i % 3 {
            0 => format!("c-{i:07}"),
            1 => format!("jane.doe{i}@example.net"),
            _ => format!("198.51.{}.{}", i / 256 % 256, i % 256),
        })
        .collect();
    g.throughput(Throughput::Elements(values.len() as u64));
    g.bench_function("whole_new_values", |b| {
        b.iter_batched_ref(
            || Pseudonymizer::new(&key),
            |p| {
                for v in &values {
                    std::hint::black_box(p.whole(v));
                }
            },
            BatchSize::LargeInput,
        )
    });
    // The same values again: the memo's hits.
    g.bench_function("whole_repeated_values", |b| {
        let mut p = Pseudonymizer::new(&key);
        b.iter(|| {
            for v in &values {
                std::hint::black_box(p.whole(v));
            }
        })
    });
    g.finish();
}
