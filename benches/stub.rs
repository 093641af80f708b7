//! The stub's per-request work without the network: latency draws, path matching and the
//! metrics record. (End-to-end throughput is measured with wrk against nginx; see README.)

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use esr::stub::{LatencyConfig, LatencyModel, Metrics, PathPattern};
use rand::SeedableRng;
use rand::rngs::SmallRng;

pub fn per_request(c: &mut Criterion) {
    let mut g = c.benchmark_group("stub");
    g.throughput(Throughput::Elements(1));
    let models = [
        (
            "uniform",
            LatencyConfig::Uniform {
                min_ms: 50.0,
                max_ms: 250.0,
            },
        ),
        (
            "lognormal",
            LatencyConfig::Lognormal {
                p50_ms: 40.0,
                p99_ms: 400.0,
            },
        ),
        (
            "empirical_1001",
            LatencyConfig::Empirical {
                samples_ms: (0..1001).map(f64::from).collect(),
            },
        ),
    ];
    for (name, cfg) in models {
        let m = LatencyModel::from_config(&cfg).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        g.bench_function(format!("sample_{name}"), |b| {
            b.iter(|| black_box(m.sample(&mut rng)))
        });
    }
    let patterns: Vec<PathPattern> = (0..50)
        .map(|i| PathPattern::parse(&format!("/svc{i}/users/{{id}}/orders")).unwrap())
        .collect();
    g.bench_function("match_50_patterns_last_hits", |b| {
        b.iter(|| {
            black_box(
                patterns
                    .iter()
                    .position(|p| p.matches(black_box("/svc49/users/42/orders")).is_some()),
            )
        })
    });
    let metrics = Metrics::new(vec!["POST /fetch_premium".into()]);
    let mut v = 0u64;
    g.bench_function("metrics_record", |b| {
        b.iter(|| {
            v = (v + 7919) % 250_000;
            metrics.record(0, 200, v, 40 + v % 100);
        })
    });
    g.finish();
}
