//! The metrics tap: how many outcomes per second one core records (Parquet row, HDR
//! histograms overall and per endpoint, per-second series, live counters).

use criterion::{Criterion, Throughput};
use esr::outcome::Outcome;
use esr::scorecard::{self, RunContext};
use esr::tap::Tap;

fn outcomes(n: u64) -> Vec<Outcome> {
    let routes = [
        "/login",
        "/fetch_premium",
        "/pay",
        "/ach/transfer",
        "/users/{id}",
    ];
    (0..n)
        .map(|i| {
            let due = i as i64 * 200; // 5,000 req/s
            let endpoint = routes[(i % 5) as usize];
            Outcome {
                seq: i,
                session: Some(format!("u_{:08x}", i % 10_000)),
                method: "POST".into(),
                path: format!("{endpoint}?n={i}"),
                endpoint: endpoint.into(),
                due_us: due,
                sent_us: due + (i % 300) as i64,
                done_us: due + 20_000 + (i % 997) as i64 * 150,
                status: if i % 50 == 0 { 503 } else { 200 },
                error: None,
                bytes: 64,
                body_sha256: Some([i as u8; 32]),
                queued: false,
                throttled: false,
            }
        })
        .collect()
}

pub fn record(c: &mut Criterion) {
    let n = 100_000u64;
    let all = outcomes(n);
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("tap");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    g.bench_function("record_100k", |b| {
        b.iter(|| {
            let mut tap = Tap::create(dir.path()).unwrap();
            for o in &all {
                tap.record(o).unwrap();
            }
            tap.finish().unwrap()
        })
    });
    let mut tap = Tap::create(dir.path()).unwrap();
    for o in &all {
        tap.record(o).unwrap();
    }
    let summary = tap.finish().unwrap();
    g.throughput(Throughput::Elements(1));
    g.bench_function("scorecard_build_and_html", |b| {
        b.iter(|| {
            let card = scorecard::build(&summary, &RunContext::default(), &[]);
            card.render_html().len()
        })
    });
    g.finish();
}

/// A long run streamed through one tap: the 100k template replayed again and again with its
/// times shifted, so nothing but the tap grows. `ESR_BENCH_TAP_ROWS` sets the rows (default
/// 1M); with `--profile-time 1` one pass runs, for measuring peak memory with
/// `/usr/bin/time -v` (a 10M-row run must not hold its rows).
pub fn stream(c: &mut Criterion) {
    let rows: u64 = std::env::var("ESR_BENCH_TAP_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let pristine = outcomes(100_000);
    let span = 100_000 * 200;
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("tap");
    g.throughput(Throughput::Elements(rows));
    g.sample_size(10);
    g.bench_function("stream", |b| {
        b.iter(|| {
            // A fresh copy each pass (100k clones: ~1 % of a 1M-row pass).
            let mut template = pristine.clone();
            let mut tap = Tap::create(dir.path()).unwrap();
            let mut done = 0;
            'outer: for round in 0.. {
                for o in template.iter_mut() {
                    if done == rows {
                        break 'outer;
                    }
                    if round > 0 {
                        o.seq += 100_000;
                        o.due_us += span;
                        o.sent_us += span;
                        o.done_us += span;
                    }
                    tap.record(o).unwrap();
                    done += 1;
                }
            }
            tap.finish().unwrap().counts.requests
        })
    });
    g.finish();
}
