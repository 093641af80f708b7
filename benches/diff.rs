//! `esr diff` and `esr compare`: the bootstrap of one endpoint at the sample cap, and the
//! field diff of two JSON bodies.

use std::hint::black_box;

use criterion::Criterion;
use esr::compare::{Thresholds, fields::diff_bodies};
use esr::diff::stats::{BOOTSTRAP_CAP, bootstrap_quantile_deltas, ks_test};

fn sample(n: usize, shift: f64) -> Vec<f64> {
    let mut v: Vec<f64> = (0..n)
        .map(|i| shift + ((i * 7919) % 1000) as f64 / 10.0)
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// 1000 resamples of two samples at the cap (the most one endpoint ever costs), and the KS
/// test of the same samples.
pub fn bootstrap(c: &mut Criterion) {
    let (a, b) = (sample(BOOTSTRAP_CAP, 20.0), sample(BOOTSTRAP_CAP, 25.0));
    let mut g = c.benchmark_group("diff");
    g.sample_size(10);
    g.bench_function("bootstrap_1000_at_cap", |bench| {
        bench.iter(|| bootstrap_quantile_deltas(black_box(&a), &b, &[0.5, 0.95, 0.99], 1000, 1))
    });
    g.bench_function("ks_at_cap", |bench| {
        bench.iter(|| ks_test(black_box(&a), &b))
    });
    g.finish();
}

/// One field diff of two 40-field JSON bodies that differ in two fields.
pub fn field_diff(c: &mut Criterion) {
    let body = |premium: u64| {
        let mut m = serde_json::Map::new();
        for i in 0..38 {
            m.insert(format!("f{i}"), serde_json::json!({"v": i, "s": "text"}));
        }
        m.insert("premium".into(), premium.into());
        m.insert("request_id".into(), format!("{premium:x}").into());
        serde_json::to_vec(&m).unwrap()
    };
    let (a, b) = (body(74200), body(74300));
    c.bench_function("compare/field_diff_40_fields", |bench| {
        bench.iter(|| diff_bodies(black_box(&a), &b, &Thresholds::default()))
    });
}
