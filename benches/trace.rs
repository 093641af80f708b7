//! Writing and reading the canonical trace.

use criterion::{Criterion, Throughput};
use esr::trace::{TraceMeta, TraceReader, TraceRecord, TraceWriter};

pub fn write_and_read(c: &mut Criterion) {
    let rows = 100_000u64;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.parquet");
    let rec = |i: u64| TraceRecord {
        ts_us: 1_700_000_000_000_000 + i as i64 * 1000,
        method: "POST".into(),
        path: format!("/fetch_premium?policy={i}"),
        headers: Some(r#"{"content-type":"application/json"}"#.into()),
        body: Some(br#"{"zone":"AE"}"#.to_vec()),
        status: Some(200),
        latency_ms: Some(120.0),
        session: Some(format!("s{}", i % 500)),
        ..Default::default()
    };
    let mut g = c.benchmark_group("trace");
    g.throughput(Throughput::Elements(rows));
    g.sample_size(10);
    g.bench_function("write_100k", |b| {
        b.iter(|| {
            let mut w = TraceWriter::create(&path, vec![]).unwrap();
            for i in 0..rows {
                w.write(&rec(i)).unwrap();
            }
            w.finish(TraceMeta::default()).unwrap()
        })
    });
    g.bench_function("read_100k", |b| {
        b.iter(|| TraceReader::open(&path).unwrap().records().unwrap().count())
    });
    g.finish();
}
