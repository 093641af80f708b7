//! Per-second buckets for the charts and the fault-window phases: counts, errors and a small
//! log-linear latency histogram per bucket.
//!
//! Memory stays bounded: past [`MAX_BUCKETS`] buckets the width doubles and neighbours merge,
//! so a ten-hour run keeps as many buckets as a one-hour run, each twice as wide.

use serde::{Deserialize, Serialize};

/// Buckets kept before the width doubles.
pub const MAX_BUCKETS: usize = 3600;

/// Values below this are their own bucket; above it each power of two has 8 sub-buckets.
const LINEAR: u64 = 16;
/// Sub-buckets per power of two (3 mantissa bits: at most 12.5 % bucket width).
const SUB: u64 = 8;
/// Largest exponent tracked (2^40 µs is about 12 days); larger values go to the last bucket.
const MAX_EXP: u32 = 40;
/// Buckets of a [`MiniHist`].
pub const MINI_BUCKETS: usize = (LINEAR + (MAX_EXP as u64 - 3) * SUB) as usize;

/// Index of the log-linear bucket holding `v` (µs).
pub fn mini_index(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    if e > MAX_EXP {
        return MINI_BUCKETS - 1;
    }
    let m = (v >> (e - 3)) & (SUB - 1);
    (LINEAR + (e as u64 - 4) * SUB + m) as usize
}

/// The middle of bucket `i`'s value range (µs): the value reported for it.
pub fn mini_value(i: usize) -> f64 {
    let i = i as u64;
    if i < LINEAR {
        return i as f64;
    }
    let e = (i - LINEAR) / SUB + 4;
    let m = (i - LINEAR) % SUB;
    let lo = (SUB + m) << (e - 3);
    let hi = (SUB + m + 1) << (e - 3);
    (lo + hi - 1) as f64 / 2.0
}

/// A small fixed-layout histogram (µs) for per-second percentiles; ±6 % precision.
#[derive(Clone, Debug, PartialEq)]
pub struct MiniHist {
    counts: Vec<u32>,
    total: u64,
}

impl Default for MiniHist {
    fn default() -> Self {
        MiniHist {
            counts: vec![0; MINI_BUCKETS],
            total: 0,
        }
    }
}

impl MiniHist {
    /// Counts one value.
    pub fn record(&mut self, v: u64) {
        let c = &mut self.counts[mini_index(v)];
        *c = c.saturating_add(1);
        self.total += 1;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &MiniHist) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
        self.total += other.total;
    }

    /// Values counted.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The value at quantile `q` (0..=1), in µs; 0 when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        quantile_of(self.counts.iter().map(|&c| c as u64), self.total, q)
    }
}

/// The value at quantile `q` of log-linear bucket `counts` summing to `total`.
pub fn quantile_of(counts: impl Iterator<Item = u64>, total: u64, q: f64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    let mut last = 0;
    for (i, c) in counts.enumerate() {
        if c == 0 {
            continue;
        }
        seen += c;
        last = i;
        if seen >= rank {
            return mini_value(i);
        }
    }
    mini_value(last)
}

/// One time bucket of the run (by due time unless said otherwise).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bucket {
    /// Requests due in this bucket.
    pub intended: u64,
    /// Requests actually sent in this bucket.
    pub sent: u64,
    /// Requests completed (answered or failed) in this bucket.
    pub completed: u64,
    /// Requests due in this bucket that did not succeed.
    pub errors: u64,
    /// Latency from due of the requests due in this bucket.
    pub latency: MiniHist,
}

/// The run's time buckets.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    width_us: i64,
    buckets: Vec<Bucket>,
}

impl Default for Series {
    fn default() -> Self {
        Series {
            width_us: 1_000_000,
            buckets: Vec::new(),
        }
    }
}

/// One point of the series as stored in the scorecard (no histogram, small).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Start of the bucket, seconds since the run's start.
    pub t_s: f64,
    /// Bucket width in seconds.
    pub width_s: f64,
    /// Requests due.
    pub intended: u64,
    /// Requests sent.
    pub sent: u64,
    /// Requests completed.
    pub completed: u64,
    /// Requests due that did not succeed.
    pub errors: u64,
    /// Median latency from due of the requests due in the bucket (ms).
    pub p50_ms: f64,
    /// 99th percentile latency from due (ms).
    pub p99_ms: f64,
}

impl Series {
    /// Bucket width in µs (1 s until the run outgrows [`MAX_BUCKETS`]).
    pub fn width_us(&self) -> i64 {
        self.width_us
    }

    /// The buckets, from the run's start.
    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    fn slot(&mut self, t_us: i64) -> &mut Bucket {
        let mut i = (t_us.max(0) / self.width_us) as usize;
        while i >= MAX_BUCKETS {
            self.coarsen();
            i = (t_us.max(0) / self.width_us) as usize;
        }
        if i >= self.buckets.len() {
            self.buckets.resize_with(i + 1, Bucket::default);
        }
        &mut self.buckets[i]
    }

    fn coarsen(&mut self) {
        self.width_us *= 2;
        let old = std::mem::take(&mut self.buckets);
        for pair in old.chunks(2) {
            let mut b = pair[0].clone();
            if let Some(n) = pair.get(1) {
                b.intended += n.intended;
                b.sent += n.sent;
                b.completed += n.completed;
                b.errors += n.errors;
                b.latency.merge(&n.latency);
            }
            self.buckets.push(b);
        }
    }

    /// Adds another run's buckets (shard merging); both are first brought to the wider of
    /// the two widths. Runs share the clock's zero, so bucket `i` is the same second in both.
    pub fn merge(&mut self, other: &Series) {
        let mut other = other.clone();
        while self.width_us < other.width_us {
            self.coarsen();
        }
        while other.width_us < self.width_us {
            other.coarsen();
        }
        if other.buckets.len() > self.buckets.len() {
            self.buckets
                .resize_with(other.buckets.len(), Bucket::default);
        }
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            a.intended += b.intended;
            a.sent += b.sent;
            a.completed += b.completed;
            a.errors += b.errors;
            a.latency.merge(&b.latency);
        }
    }

    /// Counts one request.
    pub fn record(&mut self, due_us: i64, sent_us: i64, done_us: i64, success: bool) {
        let latency = (done_us - due_us).max(0) as u64;
        let b = self.slot(due_us);
        b.intended += 1;
        if !success {
            b.errors += 1;
        }
        b.latency.record(latency);
        self.slot(sent_us).sent += 1;
        self.slot(done_us).completed += 1;
    }

    /// The points for the scorecard and its charts.
    pub fn points(&self) -> Vec<SeriesPoint> {
        let w = self.width_us as f64 / 1e6;
        self.buckets
            .iter()
            .enumerate()
            .map(|(i, b)| SeriesPoint {
                t_s: i as f64 * w,
                width_s: w,
                intended: b.intended,
                sent: b.sent,
                completed: b.completed,
                errors: b.errors,
                p50_ms: b.latency.quantile(0.5) / 1000.0,
                p99_ms: b.latency.quantile(0.99) / 1000.0,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in [0u64, 1, 15, 16, 17, 100, 1000, 12_345, 1 << 30, u64::MAX] {
            let i = mini_index(v);
            assert!(i >= last && i < MINI_BUCKETS, "{v} -> {i}");
            last = i;
            if v < (1 << 40) {
                let mid = mini_value(i);
                assert!(
                    (mid - v as f64).abs() <= 0.07 * v as f64 + 0.5,
                    "{v} ~ {mid}"
                );
            }
        }
    }

    #[test]
    fn quantiles_of_a_known_mix() {
        let mut h = MiniHist::default();
        for _ in 0..90 {
            h.record(10_000);
        }
        for _ in 0..10 {
            h.record(500_000);
        }
        assert!((h.quantile(0.5) - 10_000.0).abs() < 700.0);
        assert!((h.quantile(0.99) - 500_000.0).abs() < 35_000.0);
        assert_eq!(MiniHist::default().quantile(0.5), 0.0);
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Series::default(), Series::default(), Series::default());
        for i in 0..10_000i64 {
            let t = i * 997_000; // up to ~2.8 h: `all` and `a` coarsen, `b` may not
            let part = if i % 3 == 0 { &mut b } else { &mut a };
            part.record(t, t + 10, t + i * 7, i % 11 != 0);
            all.record(t, t + 10, t + i * 7, i % 11 != 0);
        }
        let mut short = Series::default();
        short.record(0, 1, 2, true);
        a.merge(&b);
        assert_eq!(a, all);
        short.merge(&all);
        assert_eq!(short.width_us(), all.width_us());
        assert_eq!(short.buckets()[0].intended, all.buckets()[0].intended + 1);
    }

    #[test]
    fn long_runs_coarsen_instead_of_growing() {
        let mut s = Series::default();
        for sec in 0..(MAX_BUCKETS as i64 * 3) {
            s.record(sec * 1_000_000, sec * 1_000_000, sec * 1_000_000 + 5, true);
        }
        assert!(s.buckets().len() <= MAX_BUCKETS);
        assert_eq!(s.width_us(), 4_000_000);
        let total: u64 = s.buckets().iter().map(|b| b.intended).sum();
        assert_eq!(total, MAX_BUCKETS as u64 * 3);
    }
}
