//! `esr stub --from-trace TRACE`: one route per endpoint of a trace, answering with that
//! endpoint's recorded status mix and latency distribution.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::StubError;
use super::config::{LatencyConfig, RouteConfig, StatusWeight, StubConfig};
use super::pattern::PathPattern;
use crate::trace::{TraceReader, fold_path};

/// Latency of endpoints with no recorded latency (ms).
pub const FALLBACK_LATENCY_MS: f64 = 5.0;
/// At most this many recorded latencies are kept per endpoint (evenly spaced quantiles).
pub const MAX_SAMPLES: usize = 1001;

/// Routes built from a trace, with what was found on the way.
#[derive(Debug, Clone)]
pub struct FromTrace {
    /// The config (catch-all on, so endpoints folded away still answer).
    pub config: StubConfig,
    /// Rows read.
    pub rows: u64,
    /// Endpoints with no recorded latency (they got [`FALLBACK_LATENCY_MS`]).
    pub without_latency: usize,
    /// Endpoints whose template is not a usable path pattern (left to the catch-all).
    pub skipped: usize,
}

#[derive(Default)]
struct Endpoint {
    statuses: BTreeMap<u16, u64>,
    latencies: Vec<f64>,
}

/// Reads `path` and builds one route per `(method, host, endpoint)`.
pub fn from_trace(path: &Path) -> Result<FromTrace, StubError> {
    let reader = TraceReader::open(path)?;
    if !reader.meta().is_scrubbed() {
        // Route paths are printed and served in metrics labels; ids are folded, but other
        // segments are the trace's own text.
        tracing::warn!(
            "the trace was not scrubbed: route paths come from it as they are (ids folded); \
             scrub it first with `esr scrub` if it may hold personal data"
        );
    }
    let mut endpoints: HashMap<(String, Option<String>, String), Endpoint> = HashMap::new();
    let mut rows = 0u64;
    for rec in reader.records()? {
        let rec = rec?;
        rows += 1;
        let key = (
            rec.method.to_ascii_uppercase(),
            rec.host,
            fold_path(&rec.path),
        );
        let e = endpoints.entry(key).or_default();
        if let Some(s) = rec.status {
            *e.statuses.entry(s).or_default() += 1;
        }
        if let Some(l) = rec.latency_ms.filter(|l| l.is_finite() && *l >= 0.0) {
            e.latencies.push(l);
        }
    }
    // A host is kept on a route only where it tells endpoints apart (the same method and
    // template under several hosts): a replay sent to one address with `--host-map` may not
    // carry the original Host, and a route tied to it needlessly would fall to the catch-all.
    let mut hosts_per: HashMap<(String, String), usize> = HashMap::new();
    for (m, _, p) in endpoints.keys() {
        *hosts_per.entry((m.clone(), p.clone())).or_default() += 1;
    }
    let mut keys: Vec<_> = endpoints.keys().cloned().collect();
    // Literal routes before parameter routes, so `/users/me` is not taken by `/users/{id}`.
    keys.sort_by_key(|(m, h, p)| (p.matches("{id}").count(), p.clone(), m.clone(), h.clone()));
    let (mut without_latency, mut skipped) = (0, 0);
    let mut routes = Vec::new();
    for key in keys {
        let e = endpoints.remove(&key).expect("key from the map");
        let (method, host, template) = key;
        let pattern = number_params(&template);
        if PathPattern::parse(&pattern).is_err() {
            skipped += 1;
            continue;
        }
        let mut r = RouteConfig::new(&method, &pattern);
        if hosts_per[&(method.clone(), template.clone())] > 1 {
            r.host = host;
        }
        r.status_mix = e
            .statuses
            .iter()
            .map(|(s, n)| StatusWeight {
                status: *s,
                weight: *n as f64,
            })
            .collect();
        if r.status_mix.len() == 1 {
            r.status = r.status_mix[0].status;
            r.status_mix.clear();
        }
        r.latency = Some(if e.latencies.is_empty() {
            without_latency += 1;
            LatencyConfig::Fixed {
                ms: FALLBACK_LATENCY_MS,
            }
        } else {
            LatencyConfig::Empirical {
                samples_ms: thin(e.latencies),
            }
        });
        routes.push(r);
    }
    if without_latency > 0 {
        tracing::warn!(
            "{without_latency} endpoint(s) of the trace have no recorded latency; they answer after a fixed {FALLBACK_LATENCY_MS} ms"
        );
    }
    if skipped > 0 {
        tracing::warn!(
            "{skipped} endpoint(s) have paths that are not valid route patterns; the catch-all answers them"
        );
    }
    Ok(FromTrace {
        config: StubConfig {
            catch_all: true,
            seed: 0,
            routes,
            faults: Vec::new(),
        },
        rows,
        without_latency,
        skipped,
    })
}

/// `/a/{id}/b/{id}` → `/a/{id}/b/{id2}`: pattern parameters need distinct names.
fn number_params(template: &str) -> String {
    let mut n = 0;
    template
        .split('/')
        .map(|seg| {
            if seg == "{id}" {
                n += 1;
                if n > 1 {
                    return format!("{{id{n}}}");
                }
            }
            seg.to_string()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Keeps at most [`MAX_SAMPLES`] evenly spaced order statistics, which keeps the shape of
/// the distribution (its quantiles) in bounded memory.
fn thin(mut v: Vec<f64>) -> Vec<f64> {
    if v.len() <= MAX_SAMPLES {
        return v;
    }
    v.sort_by(f64::total_cmp);
    let last = v.len() - 1;
    (0..MAX_SAMPLES)
        .map(|i| v[i * last / (MAX_SAMPLES - 1)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_numbered() {
        assert_eq!(number_params("/a/{id}/b/{id}"), "/a/{id}/b/{id2}");
        assert_eq!(number_params("/a/b"), "/a/b");
    }

    #[test]
    fn thinning_keeps_the_ends() {
        let v: Vec<f64> = (0..10_000).map(f64::from).collect();
        let t = thin(v);
        assert_eq!(t.len(), MAX_SAMPLES);
        assert_eq!(t[0], 0.0);
        assert_eq!(t[MAX_SAMPLES - 1], 9999.0);
        assert!((t[500] - 4999.5).abs() < 10.0);
    }
}
