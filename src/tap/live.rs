//! Live counters of a running replay: read by the progress bar and served as Prometheus text
//! on `--metrics-listen`. Lock-free: the tap writes with relaxed atomics, readers may see a
//! view a few requests old, which is all a progress bar or a scrape needs.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use crate::outcome::{ErrorKind, Outcome};

use super::series::{MINI_BUCKETS, mini_index, quantile_of};

/// Upper bounds (seconds) of the Prometheus histogram buckets, as Prometheus clients default.
const PROM_BOUNDS_S: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Statuses counted one by one (0 is a transport error; anything above is counted as 599).
const STATUSES: usize = 600;

/// A Prometheus histogram with atomic buckets (µs sums).
struct PromHist {
    buckets: [AtomicU64; PROM_BOUNDS_S.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl PromHist {
    fn new() -> Self {
        PromHist {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    fn observe(&self, us: u64) {
        let s = us as f64 / 1e6;
        // Non-cumulative storage; the text output accumulates.
        if let Some(i) = PROM_BOUNDS_S.iter().position(|&b| s <= b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cum = 0;
        for (b, c) in PROM_BOUNDS_S.iter().zip(&self.buckets) {
            cum += c.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cum}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_us.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Shared, cheap-to-read live view of a run. Get it from [`super::Tap::live`].
pub struct LiveMetrics {
    started: Instant,
    sent: AtomicU64,
    recorded: AtomicU64,
    failed: AtomicU64,
    late_starts: AtomicU64,
    queued: AtomicU64,
    throttled: AtomicU64,
    kinds: [AtomicU64; ErrorKind::ALL.len()],
    statuses: Vec<AtomicU64>,
    latency: PromHist,
    service: PromHist,
    lateness: PromHist,
    lateness_fine: Vec<AtomicU64>,
}

/// A point-in-time view for the progress bar and log lines.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveSnapshot {
    /// Requests sent so far (at least those completed).
    pub sent: u64,
    /// Requests completed (answered or failed).
    pub completed: u64,
    /// Completed requests that did not succeed (transport error or status >= 400).
    pub errors: u64,
    /// 99th percentile schedule lateness so far (ms, ±6 %).
    pub lateness_p99_ms: f64,
    /// Requests sent per second since the tap was created.
    pub rate: f64,
    /// Sent but not completed.
    pub in_flight: u64,
}

impl Default for LiveMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveMetrics {
    /// Fresh counters; the rate clock starts now.
    pub fn new() -> Self {
        LiveMetrics {
            started: Instant::now(),
            sent: AtomicU64::new(0),
            recorded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            late_starts: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            kinds: std::array::from_fn(|_| AtomicU64::new(0)),
            statuses: (0..STATUSES).map(|_| AtomicU64::new(0)).collect(),
            latency: PromHist::new(),
            service: PromHist::new(),
            lateness: PromHist::new(),
            lateness_fine: (0..MINI_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The dispatcher calls this when it sends, so "sent" is live before completion.
    pub fn on_sent(&self) {
        self.sent.fetch_add(1, Relaxed);
    }

    /// Counts one completed request (called by the tap).
    pub(crate) fn on_done(&self, o: &Outcome) {
        self.recorded.fetch_add(1, Relaxed);
        if !o.is_success() {
            self.failed.fetch_add(1, Relaxed);
        }
        if let Some(k) = o.error {
            self.kinds[k as usize].fetch_add(1, Relaxed);
        }
        self.statuses[(o.status as usize).min(STATUSES - 1)].fetch_add(1, Relaxed);
        let late = o.lateness_us() as u64;
        if late > super::LATE_START_US as u64 {
            self.late_starts.fetch_add(1, Relaxed);
        }
        if o.queued {
            self.queued.fetch_add(1, Relaxed);
        }
        if o.throttled {
            self.throttled.fetch_add(1, Relaxed);
        }
        self.latency.observe(o.latency_us() as u64);
        self.service.observe(o.service_us() as u64);
        self.lateness.observe(late);
        self.lateness_fine[mini_index(late)].fetch_add(1, Relaxed);
    }

    /// For the progress bar and log lines.
    pub fn snapshot(&self) -> LiveSnapshot {
        let completed = self.recorded.load(Relaxed);
        let sent = self.sent.load(Relaxed).max(completed);
        let elapsed = self.started.elapsed().as_secs_f64();
        let fine: Vec<u64> = self.lateness_fine.iter().map(|c| c.load(Relaxed)).collect();
        let total = fine.iter().sum();
        LiveSnapshot {
            sent,
            completed,
            errors: self.failed.load(Relaxed),
            lateness_p99_ms: quantile_of(fine.into_iter(), total, 0.99) / 1000.0,
            rate: if elapsed > 0.0 {
                sent as f64 / elapsed
            } else {
                0.0
            },
            in_flight: sent - completed,
        }
    }

    /// `esr_`-prefixed Prometheus text exposition (counters, status and error counts,
    /// latency / service / lateness histograms, in-flight gauge).
    pub fn prometheus_text(&self) -> String {
        let snap = self.snapshot();
        let mut out = String::with_capacity(4096);
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {v}");
        };
        counter(
            &mut out,
            "esr_requests_sent_total",
            "Requests sent by the replay.",
            snap.sent,
        );
        counter(
            &mut out,
            "esr_requests_total",
            "Requests completed (answered or failed).",
            snap.completed,
        );
        counter(
            &mut out,
            "esr_failed_requests_total",
            "Requests that got a transport error or a status of 400 or more.",
            snap.errors,
        );
        counter(
            &mut out,
            "esr_late_starts_total",
            "Requests sent more than 10 ms after their due time.",
            self.late_starts.load(Relaxed),
        );
        counter(
            &mut out,
            "esr_queued_total",
            "Requests that waited for a free concurrency slot.",
            self.queued.load(Relaxed),
        );
        counter(
            &mut out,
            "esr_throttled_total",
            "Requests that waited for the --max-rps governor.",
            self.throttled.load(Relaxed),
        );
        out.push_str("# HELP esr_responses_total Responses by HTTP status.\n");
        out.push_str("# TYPE esr_responses_total counter\n");
        for (status, c) in self.statuses.iter().enumerate().skip(1) {
            let c = c.load(Relaxed);
            if c > 0 {
                let _ = writeln!(out, "esr_responses_total{{status=\"{status}\"}} {c}");
            }
        }
        out.push_str("# HELP esr_errors_total Transport errors by kind.\n");
        out.push_str("# TYPE esr_errors_total counter\n");
        for k in ErrorKind::ALL {
            let c = self.kinds[k as usize].load(Relaxed);
            let _ = writeln!(out, "esr_errors_total{{kind=\"{}\"}} {c}", k.as_str());
        }
        out.push_str("# HELP esr_in_flight Requests sent and not yet completed.\n");
        out.push_str("# TYPE esr_in_flight gauge\n");
        let _ = writeln!(out, "esr_in_flight {}", snap.in_flight);
        out.push_str("# HELP esr_send_rate Requests sent per second since the start.\n");
        out.push_str("# TYPE esr_send_rate gauge\n");
        let _ = writeln!(out, "esr_send_rate {:.3}", snap.rate);
        self.latency.write(
            &mut out,
            "esr_latency_seconds",
            "Latency from the scheduled due time to completion (coordinated-omission free).",
        );
        self.service.write(
            &mut out,
            "esr_service_seconds",
            "Service time from the actual send to completion.",
        );
        self.lateness.write(
            &mut out,
            "esr_lateness_seconds",
            "Schedule lateness: actual send minus due time.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tap::test_outcome;

    #[test]
    fn snapshot_counts_in_flight_and_lateness() {
        let live = LiveMetrics::new();
        for _ in 0..5 {
            live.on_sent();
        }
        let mut late = test_outcome(0, 0, 30, 200);
        late.sent_us = 20_000; // 20 ms late
        live.on_done(&late);
        live.on_done(&test_outcome(1, 0, 30, 503));
        let s = live.snapshot();
        assert_eq!((s.sent, s.completed, s.errors, s.in_flight), (5, 2, 1, 3));
        assert!(
            (s.lateness_p99_ms - 20.0).abs() < 1.3,
            "{}",
            s.lateness_p99_ms
        );
    }

    #[test]
    fn prometheus_text_is_well_formed() {
        let live = LiveMetrics::new();
        for i in 0..10 {
            live.on_sent();
            live.on_done(&test_outcome(i, 0, i as i64 * 30, 200));
        }
        let text = live.prometheus_text();
        let mut families = 0;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                families += 1;
                assert!(rest.starts_with("esr_"), "{line}");
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(name.starts_with("esr_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
        assert!(families >= 10);
        // Cumulative buckets: 0..270 ms; 4 are at or under 100 ms (0, 30, 60, 90).
        assert!(
            text.contains("esr_latency_seconds_bucket{le=\"0.1\"} 4"),
            "{text}"
        );
        assert!(text.contains("esr_latency_seconds_count 10"));
        assert!(text.contains("esr_in_flight 0"));
        assert!(text.contains("esr_requests_sent_total 10"));
    }
}
