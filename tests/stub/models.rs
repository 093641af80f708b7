//! Latency models sampled directly: fixed seeds, and statistical checks (Kolmogorov–Smirnov,
//! chi-square, quantiles) whose tolerances come from the sampling error, not from taste.

use esr::stub::{LatencyConfig, LatencyModel, Z99};
use rand::SeedableRng;
use rand::rngs::SmallRng;

const N: usize = 50_000;

fn samples(c: LatencyConfig, seed: u64) -> Vec<f64> {
    let m = LatencyModel::from_config(&c).expect("valid model");
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut v: Vec<f64> = (0..N).map(|_| m.sample(&mut rng)).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Kolmogorov–Smirnov statistic of sorted samples against a CDF.
fn ks(sorted: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max)
}

/// The KS critical value at the 0.1 % level: a correct sampler fails it once in a thousand
/// seeds, and the seeds are fixed.
fn ks_limit(n: usize) -> f64 {
    1.95 / (n as f64).sqrt()
}

/// Standard normal CDF (Abramowitz & Stegun 7.1.26 erf, error below 1.5e-7).
fn phi(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[test]
fn fixed_model_is_constant() {
    let v = samples(LatencyConfig::Fixed { ms: 7.5 }, 1);
    assert!(v.iter().all(|&x| x == 7.5));
}

#[test]
fn uniform_model_fits() {
    let v = samples(
        LatencyConfig::Uniform {
            min_ms: 50.0,
            max_ms: 250.0,
        },
        2,
    );
    assert!(v[0] >= 50.0 && v[N - 1] <= 250.0);
    let d = ks(&v, |x| ((x - 50.0) / 200.0).clamp(0.0, 1.0));
    assert!(d < ks_limit(N), "KS {d}");
    // The mean's standard error is 200/sqrt(12)/sqrt(N) ≈ 0.26 ms; allow 4 of them.
    let mean = v.iter().sum::<f64>() / N as f64;
    assert!((mean - 150.0).abs() < 1.05, "mean {mean}");
}

#[test]
fn normal_model_fits() {
    let v = samples(
        LatencyConfig::Normal {
            mean_ms: 100.0,
            sd_ms: 15.0,
        },
        3,
    );
    let d = ks(&v, |x| phi((x - 100.0) / 15.0));
    assert!(d < ks_limit(N), "KS {d}");
    let mean = v.iter().sum::<f64>() / N as f64;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (N - 1) as f64).sqrt();
    assert!(
        (mean - 100.0).abs() < 4.0 * 15.0 / (N as f64).sqrt(),
        "mean {mean}"
    );
    assert!((sd - 15.0).abs() < 0.3, "sd {sd}");
}

#[test]
fn lognormal_model_fits_its_p50_and_p99() {
    let v = samples(
        LatencyConfig::Lognormal {
            p50_ms: 40.0,
            p99_ms: 400.0,
        },
        4,
    );
    let (mu, sigma) = (40f64.ln(), (400f64.ln() - 40f64.ln()) / Z99);
    let d = ks(&v, |x| {
        if x <= 0.0 {
            0.0
        } else {
            phi((x.ln() - mu) / sigma)
        }
    });
    assert!(d < ks_limit(N), "KS {d}");
    // Sample quantiles: p50 within 3 %, p99 within 8 % (its standard error here is ~2.5 %).
    let p50 = quantile(&v, 0.5);
    let p99 = quantile(&v, 0.99);
    assert!((p50 / 40.0 - 1.0).abs() < 0.03, "p50 {p50}");
    assert!((p99 / 400.0 - 1.0).abs() < 0.08, "p99 {p99}");
}

#[test]
fn empirical_model_draws_the_recorded_values_evenly() {
    let recorded = vec![10.0, 20.0, 30.0, 45.0];
    let v = samples(
        LatencyConfig::Empirical {
            samples_ms: recorded.clone(),
        },
        5,
    );
    let mut chi2 = 0.0;
    let expected = N as f64 / 4.0;
    for r in &recorded {
        let n = v.iter().filter(|&&x| x == *r).count() as f64;
        chi2 += (n - expected).powi(2) / expected;
    }
    assert_eq!(
        v.iter().filter(|x| !recorded.contains(x)).count(),
        0,
        "only recorded values"
    );
    // Chi-square with 3 degrees of freedom: 16.27 is the 0.1 % critical value.
    assert!(chi2 < 16.27, "chi2 {chi2}");
}
