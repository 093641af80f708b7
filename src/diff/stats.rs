//! The statistics behind a verdict: seeded bootstrap confidence intervals of percentile
//! deltas, the two-sample Kolmogorov–Smirnov test and the two-proportion z-test. Plain
//! functions over slices, so the same numbers come back for the same inputs and seed.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

/// A delta and its 95 % confidence interval (`lo..=hi`), in the unit of the inputs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DeltaCi {
    /// The point estimate: the statistic on B minus the statistic on A.
    pub delta: f64,
    /// Lower bound of the 95 % interval.
    pub lo: f64,
    /// Upper bound of the 95 % interval.
    pub hi: f64,
}

impl DeltaCi {
    /// True when the interval lies wholly above 0.
    pub fn above_zero(&self) -> bool {
        self.lo > 0.0
    }

    /// True when the interval lies wholly below 0.
    pub fn below_zero(&self) -> bool {
        self.hi < 0.0
    }
}

/// The `q`-quantile of sorted data (nearest rank, as HDR histograms report it).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// At most this many values per side enter the bootstrap; larger samples are thinned to an
/// evenly spaced subset of their sorted values (which keeps their distribution), so the cost
/// stays bounded whatever the run's length.
pub const BOOTSTRAP_CAP: usize = 4_000;

/// Thins sorted data to at most `cap` evenly spaced values.
fn thin(sorted: &[f64], cap: usize) -> Vec<f64> {
    if sorted.len() <= cap {
        return sorted.to_vec();
    }
    (0..cap)
        .map(|i| sorted[(i * sorted.len() + sorted.len() / 2) / cap])
        .collect()
}

/// Bootstrap 95 % intervals of `quantile(b, q) - quantile(a, q)` for each `q` in `qs`: both
/// samples are resampled with replacement `rounds` times with a generator seeded by `seed`,
/// so the same inputs and seed always give the same intervals. `a` and `b` must be sorted
/// and non-empty.
pub fn bootstrap_quantile_deltas(
    a: &[f64],
    b: &[f64],
    qs: &[f64],
    rounds: usize,
    seed: u64,
) -> Vec<DeltaCi> {
    let (a, b) = (thin(a, BOOTSTRAP_CAP), thin(b, BOOTSTRAP_CAP));
    let mut rng = StdRng::seed_from_u64(seed);
    let mut deltas: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); qs.len()];
    let (mut ra, mut rb) = (vec![0.0; a.len()], vec![0.0; b.len()]);
    for _ in 0..rounds.max(1) {
        resample(&a, &mut ra, &mut rng);
        resample(&b, &mut rb, &mut rng);
        for (i, &q) in qs.iter().enumerate() {
            deltas[i].push(select(&mut rb, q) - select(&mut ra, q));
        }
    }
    qs.iter()
        .zip(deltas)
        .map(|(&q, mut d)| {
            d.sort_by(f64::total_cmp);
            DeltaCi {
                delta: quantile_sorted(&b, q) - quantile_sorted(&a, q),
                lo: percentile_of(&d, 0.025),
                hi: percentile_of(&d, 0.975),
            }
        })
        .collect()
}

fn resample(from: &[f64], into: &mut [f64], rng: &mut StdRng) {
    for slot in into.iter_mut() {
        *slot = from[rng.random_range(0..from.len())];
    }
}

/// The nearest-rank `q`-quantile of unsorted data, by selection (reorders `v`).
fn select(v: &mut [f64], q: f64) -> f64 {
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    *v.select_nth_unstable_by(rank, f64::total_cmp).1
}

/// Interpolated percentile of sorted bootstrap statistics.
fn percentile_of(sorted: &[f64], p: f64) -> f64 {
    let pos = p * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    let next = sorted[(i + 1).min(sorted.len() - 1)];
    sorted[i] + (next - sorted[i]) * frac
}

/// The two-sample Kolmogorov–Smirnov test: the largest gap between the empirical
/// distribution functions of `a` and `b` (both sorted), and its asymptotic p-value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KsTest {
    /// The statistic D (0 to 1).
    pub d: f64,
    /// Probability of a D at least this large if both samples came from one distribution.
    pub p_value: f64,
}

/// Runs the two-sample KS test on sorted, non-empty samples.
pub fn ks_test(a: &[f64], b: &[f64]) -> KsTest {
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < a.len() && j < b.len() {
        // Step past every copy of the smaller value on both sides, so ties never make a gap.
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    let en = (n * m / (n + m)).sqrt();
    // Stephens' small-sample correction of the asymptotic Kolmogorov distribution.
    let lambda = (en + 0.12 + 0.11 / en) * d;
    KsTest {
        d,
        p_value: kolmogorov_q(lambda),
    }
}

/// The Kolmogorov distribution's tail, Q(λ) = 2 Σ (-1)^(k-1) exp(-2 k² λ²).
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    let mut sign = 1.0;
    for k in 1..=100 {
        let term = sign * (-2.0 * (k * k) as f64 * lambda * lambda).exp();
        sum += term;
        if term.abs() < 1e-12 {
            break;
        }
        sign = -sign;
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// A change in a proportion between two runs and the two-proportion z-test of it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProportionTest {
    /// Share in A (0 to 1).
    pub a: f64,
    /// Share in B (0 to 1).
    pub b: f64,
    /// z statistic (positive when B's share is higher).
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
}

/// Tests whether `xa` of `na` and `xb` of `nb` differ (pooled two-proportion z-test).
pub fn proportion_test(xa: u64, na: u64, xb: u64, nb: u64) -> ProportionTest {
    let (fa, fb) = (na.max(1) as f64, nb.max(1) as f64);
    let (pa, pb) = (xa as f64 / fa, xb as f64 / fb);
    let pooled = (xa + xb) as f64 / (fa + fb);
    let se = (pooled * (1.0 - pooled) * (1.0 / fa + 1.0 / fb)).sqrt();
    let (z, p_value) = if se > 0.0 {
        let z = (pb - pa) / se;
        (z, erfc(z.abs() / std::f64::consts::SQRT_2))
    } else {
        // Both shares are 0 or both are 1: no evidence of any change.
        (0.0, 1.0)
    };
    ProportionTest {
        a: pa,
        b: pb,
        z,
        p_value,
    }
}

/// The complementary error function (W. J. Cody's rational Chebyshev form as given in
/// Numerical Recipes, fractional error below 1.2e-7 everywhere).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut v: Vec<f64>) -> Vec<f64> {
        v.sort_by(f64::total_cmp);
        v
    }

    fn uniform(n: usize, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        sorted((0..n).map(|_| rng.random_range(lo..hi)).collect())
    }

    #[test]
    fn erfc_matches_known_values() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-6);
        assert!((erfc(1.0) - 0.157_299_207).abs() < 1e-6);
        assert!((erfc(-1.0) - 1.842_700_79).abs() < 1e-6);
        // Two-sided p of z = 1.96 is 0.05.
        assert!((erfc(1.96 / std::f64::consts::SQRT_2) - 0.05).abs() < 1e-3);
    }

    #[test]
    fn ks_separates_shifted_samples_and_not_equal_ones() {
        let a = uniform(400, 20.0, 40.0, 1);
        let same = uniform(400, 20.0, 40.0, 2);
        let shifted = uniform(400, 25.0, 45.0, 3);
        assert!(ks_test(&a, &same).p_value > 0.01);
        let ks = ks_test(&a, &shifted);
        assert!(ks.p_value < 1e-6, "{ks:?}");
        assert!((ks.d - 0.25).abs() < 0.12, "{ks:?}");
        // Identical samples and all-tied samples have no gap at all.
        assert_eq!(ks_test(&a, &a).d, 0.0);
        assert_eq!(ks_test(&[5.0; 10], &[5.0; 30]).p_value, 1.0);
    }

    #[test]
    fn bootstrap_is_reproducible_and_brackets_a_real_shift() {
        let a = uniform(500, 20.0, 40.0, 4);
        let b: Vec<f64> = a.iter().map(|x| x + 10.0).collect();
        let qs = [0.5, 0.95, 0.99];
        let one = bootstrap_quantile_deltas(&a, &b, &qs, 300, 42);
        assert_eq!(one, bootstrap_quantile_deltas(&a, &b, &qs, 300, 42));
        assert_ne!(one, bootstrap_quantile_deltas(&a, &b, &qs, 300, 43));
        for ci in &one {
            assert!((ci.delta - 10.0).abs() < 1e-9);
            assert!(
                ci.above_zero() && ci.lo <= ci.delta && ci.delta <= ci.hi,
                "{ci:?}"
            );
        }
        let same = bootstrap_quantile_deltas(&a, &a, &qs, 300, 1);
        assert!(same.iter().all(|c| c.lo <= 0.0 && c.hi >= 0.0), "{same:?}");
    }

    #[test]
    fn thinning_keeps_the_distribution() {
        let big = uniform(50_000, 0.0, 100.0, 5);
        let t = thin(&big, BOOTSTRAP_CAP);
        assert_eq!(t.len(), BOOTSTRAP_CAP);
        assert!((quantile_sorted(&t, 0.5) - quantile_sorted(&big, 0.5)).abs() < 0.5);
    }

    #[test]
    fn proportions_test_like_a_textbook() {
        // 95 of 100 vs 80 of 100: pooled 0.875, se 0.04677, z = -3.207, p = 0.00134.
        let t = proportion_test(95, 100, 80, 100);
        assert!((t.z + 3.207).abs() < 0.001, "{t:?}");
        assert!((t.p_value - 0.00134).abs() < 0.00002, "{t:?}");
        assert_eq!(proportion_test(10, 10, 20, 20).p_value, 1.0);
        assert!(proportion_test(50, 100, 51, 100).p_value > 0.5);
    }

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile_sorted(&v, 0.5), 50.0);
        assert_eq!(quantile_sorted(&v, 0.99), 99.0);
        assert_eq!(quantile_sorted(&v, 1.0), 100.0);
        assert!(quantile_sorted(&[], 0.5).is_nan());
    }
}
