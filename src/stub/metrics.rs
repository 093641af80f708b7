//! The stub's own counters: requests and statuses per route, injected latency and overhead
//! (handling time beyond the injected latency) in HDR histograms, served as Prometheus text
//! (`GET /__esr/metrics`) and as the JSON summary the replayer reads (`GET /__esr/stats`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde_json::json;

use super::config::FaultKind;

/// Prometheus bucket bounds (seconds) of injected latency.
const INJECTED_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Prometheus bucket bounds (seconds) of overhead: the stub should live in the lowest ones.
const OVERHEAD_BUCKETS: [f64; 10] = [
    0.000_01, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05,
];

struct RouteStats {
    requests: u64,
    statuses: BTreeMap<u16, u64>,
    faults: BTreeMap<(String, &'static str), u64>,
    injected_us: Histogram<u64>,
    overhead_us: Histogram<u64>,
    injected_sum_us: u64,
    overhead_sum_us: u64,
}

impl RouteStats {
    fn new() -> Self {
        // Auto-resizing histograms with 3 significant figures: a route only pays for the
        // range it has seen.
        RouteStats {
            requests: 0,
            statuses: BTreeMap::new(),
            faults: BTreeMap::new(),
            injected_us: Histogram::new(3).expect("3 significant figures is valid"),
            overhead_us: Histogram::new(3).expect("3 significant figures is valid"),
            injected_sum_us: 0,
            overhead_sum_us: 0,
        }
    }
}

/// Per-route counters and histograms; one short lock per request.
pub struct Metrics {
    names: Vec<String>,
    routes: Vec<Mutex<RouteStats>>,
}

impl Metrics {
    /// Counters for routes named `names` (in route order).
    pub fn new(names: Vec<String>) -> Self {
        let routes = names
            .iter()
            .map(|_| Mutex::new(RouteStats::new()))
            .collect();
        Metrics { names, routes }
    }

    fn lock(&self, route: usize) -> std::sync::MutexGuard<'_, RouteStats> {
        self.routes[route].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One answered request.
    pub fn record(&self, route: usize, status: u16, injected_us: u64, overhead_us: u64) {
        let mut s = self.lock(route);
        s.requests += 1;
        *s.statuses.entry(status).or_default() += 1;
        // `record` grows an auto-resizing histogram; `saturating_record` would clamp instead.
        let _ = s.injected_us.record(injected_us);
        let _ = s.overhead_us.record(overhead_us);
        s.injected_sum_us += injected_us;
        s.overhead_sum_us += overhead_us;
    }

    /// One request a fault reset or hung (never answered, so not in the histograms).
    pub fn record_fault(&self, route: usize, fault: &str, kind: FaultKind) {
        let kind = match kind {
            FaultKind::Status => "status",
            FaultKind::Reset => "reset",
            FaultKind::Hang => "hang",
        };
        let mut s = self.lock(route);
        s.requests += 1;
        *s.faults.entry((fault.to_string(), kind)).or_default() += 1;
    }

    /// Prometheus text exposition (version 0.0.4), `esr_stub_` prefixed.
    pub fn prometheus_text(&self) -> String {
        let mut out = String::new();
        let snaps: Vec<_> = (0..self.routes.len()).map(|i| self.lock(i)).collect();
        let label = |i: usize| escape_label(&self.names[i]);
        out.push_str("# HELP esr_stub_requests_total Requests received, by route.\n");
        out.push_str("# TYPE esr_stub_requests_total counter\n");
        for (i, s) in snaps.iter().enumerate() {
            let _ = writeln!(
                out,
                "esr_stub_requests_total{{route=\"{}\"}} {}",
                label(i),
                s.requests
            );
        }
        out.push_str("# HELP esr_stub_responses_total Responses sent, by route and status.\n");
        out.push_str("# TYPE esr_stub_responses_total counter\n");
        for (i, s) in snaps.iter().enumerate() {
            for (status, n) in &s.statuses {
                let _ = writeln!(
                    out,
                    "esr_stub_responses_total{{route=\"{}\",status=\"{status}\"}} {n}",
                    label(i)
                );
            }
        }
        out.push_str("# HELP esr_stub_faulted_total Requests reset or hung by a fault.\n");
        out.push_str("# TYPE esr_stub_faulted_total counter\n");
        for (i, s) in snaps.iter().enumerate() {
            for ((fault, kind), n) in &s.faults {
                let _ = writeln!(
                    out,
                    "esr_stub_faulted_total{{route=\"{}\",fault=\"{}\",kind=\"{kind}\"}} {n}",
                    label(i),
                    escape_label(fault)
                );
            }
        }
        let hist = |out: &mut String,
                    name: &str,
                    help: &str,
                    bounds: &[f64],
                    pick: &dyn Fn(&RouteStats) -> (&Histogram<u64>, u64)| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} histogram");
            for (i, s) in snaps.iter().enumerate() {
                let (h, sum_us) = pick(s);
                for b in bounds {
                    let n = h.count_between(0, (b * 1e6) as u64);
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{route=\"{}\",le=\"{b}\"}} {n}",
                        label(i)
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{}\",le=\"+Inf\"}} {}",
                    label(i),
                    h.len()
                );
                let _ = writeln!(
                    out,
                    "{name}_sum{{route=\"{}\"}} {}",
                    label(i),
                    sum_us as f64 / 1e6
                );
                let _ = writeln!(out, "{name}_count{{route=\"{}\"}} {}", label(i), h.len());
            }
        };
        hist(
            &mut out,
            "esr_stub_injected_latency_seconds",
            "Latency the stub injected on purpose, by route.",
            &INJECTED_BUCKETS,
            &|s| (&s.injected_us, s.injected_sum_us),
        );
        hist(
            &mut out,
            "esr_stub_overhead_seconds",
            "Handling time beyond the injected latency, by route.",
            &OVERHEAD_BUCKETS,
            &|s| (&s.overhead_us, s.overhead_sum_us),
        );
        out
    }

    /// The `GET /__esr/stats` document: requests and p50/p99/max of overhead and injected
    /// latency over all routes, plus the same per route.
    pub fn stats_json(&self) -> serde_json::Value {
        let mut injected = Histogram::<u64>::new(3).expect("valid");
        let mut overhead = Histogram::<u64>::new(3).expect("valid");
        let mut requests = 0;
        let mut routes = serde_json::Map::new();
        for i in 0..self.routes.len() {
            let s = self.lock(i);
            requests += s.requests;
            let _ = injected.add(&s.injected_us);
            let _ = overhead.add(&s.overhead_us);
            if s.requests > 0 {
                routes.insert(
                    self.names[i].clone(),
                    json!({
                        "requests": s.requests,
                        "statuses": s.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                        "overhead_ms": summary(&s.overhead_us),
                        "injected_ms": summary(&s.injected_us),
                    }),
                );
            }
        }
        json!({
            "requests": requests,
            "overhead_ms": summary(&overhead),
            "injected_ms": summary(&injected),
            "routes": routes,
        })
    }
}

/// p50, p99 and max of a µs histogram, in ms.
fn summary(h: &Histogram<u64>) -> serde_json::Value {
    let ms = |us: u64| us as f64 / 1000.0;
    json!({
        "p50": ms(h.value_at_quantile(0.5)),
        "p99": ms(h.value_at_quantile(0.99)),
        "max": ms(h.max()),
    })
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let m = Metrics::new(vec!["POST /pay".into()]);
        for us in [500, 20_000, 200_000] {
            m.record(0, 200, us, 40);
        }
        m.record_fault(0, "PAY_DOWN", FaultKind::Reset);
        let t = m.prometheus_text();
        assert!(t.contains("esr_stub_requests_total{route=\"POST /pay\"} 4"));
        assert!(t.contains(
            "esr_stub_injected_latency_seconds_bucket{route=\"POST /pay\",le=\"0.001\"} 1"
        ));
        assert!(t.contains(
            "esr_stub_injected_latency_seconds_bucket{route=\"POST /pay\",le=\"0.025\"} 2"
        ));
        assert!(t.contains(
            "esr_stub_injected_latency_seconds_bucket{route=\"POST /pay\",le=\"+Inf\"} 3"
        ));
        assert!(t.contains(
            "esr_stub_faulted_total{route=\"POST /pay\",fault=\"PAY_DOWN\",kind=\"reset\"} 1"
        ));
        let j = m.stats_json();
        assert_eq!(j["requests"], 4);
        assert_eq!(j["overhead_ms"]["max"], 0.04);
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }
}
