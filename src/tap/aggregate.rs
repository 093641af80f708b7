//! Folding outcomes into counts, HDR histograms (overall and per endpoint), the per-second
//! series and the live counters: what the tap does besides writing rows, and what a stored
//! `metrics.parquet` is read back through.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::outcome::Outcome;

use super::{
    Counts, HISTOGRAMS_FILE, HistSet, LiveMetrics, MAX_ENDPOINTS, OTHER_ENDPOINT, RunHistograms,
    Series, TapSummary,
};

struct EndpointAcc {
    key: String,
    counts: Counts,
    hists: HistSet,
}

/// The in-memory side of the tap: fixed-size state whatever the run's length (at most
/// [`MAX_ENDPOINTS`] endpoints, bounded series).
pub struct Aggregator {
    live: Arc<LiveMetrics>,
    counts: Counts,
    overall: HistSet,
    index: HashMap<String, usize>,
    endpoints: Vec<EndpointAcc>,
    series: Series,
    key_buf: String,
}

impl Aggregator {
    /// Starts empty, feeding `live`.
    pub fn new(live: Arc<LiveMetrics>) -> Self {
        Aggregator {
            live,
            counts: Counts::default(),
            overall: HistSet::default(),
            index: HashMap::new(),
            endpoints: Vec::new(),
            series: Series::default(),
            key_buf: String::new(),
        }
    }

    /// Folds in one request.
    pub fn record(&mut self, o: &Outcome) {
        self.live.on_done(o);
        self.counts.record(o);
        let (lat, svc, late) = (o.latency_us(), o.service_us(), o.lateness_us());
        self.overall.record(lat, svc, late);
        self.series
            .record(o.due_us, o.sent_us, o.done_us, o.is_success());
        let ep = self.endpoint_slot(&o.method, &o.endpoint);
        ep.counts.record(o);
        ep.hists.record(lat, svc, late);
    }

    fn endpoint_slot(&mut self, method: &str, endpoint: &str) -> &mut EndpointAcc {
        // Reuse one buffer for the lookup key: no allocation per request.
        self.key_buf.clear();
        self.key_buf.push_str(method);
        self.key_buf.push(' ');
        self.key_buf.push_str(endpoint);
        let i = match self.index.get(self.key_buf.as_str()) {
            Some(&i) => i,
            None => {
                let key = if self.endpoints.len() < MAX_ENDPOINTS {
                    self.key_buf.clone()
                } else {
                    OTHER_ENDPOINT.to_string()
                };
                let i = match self.index.get(&key) {
                    Some(&i) => i,
                    None => {
                        self.endpoints.push(EndpointAcc {
                            key: key.clone(),
                            counts: Counts::default(),
                            hists: HistSet::default(),
                        });
                        self.endpoints.len() - 1
                    }
                };
                self.index.insert(key, i);
                i
            }
        };
        &mut self.endpoints[i]
    }

    /// The live view this aggregator feeds.
    pub fn live(&self) -> Arc<LiveMetrics> {
        self.live.clone()
    }

    /// Requests folded in so far.
    pub fn rows(&self) -> u64 {
        self.counts.requests
    }

    /// The summary of everything folded in, for a run in `run_dir`.
    pub fn into_summary(self, run_dir: &Path, metrics_path: PathBuf) -> TapSummary {
        let mut endpoints = BTreeMap::new();
        let mut hist_eps = BTreeMap::new();
        for ep in self.endpoints {
            endpoints.insert(ep.key.clone(), ep.counts);
            hist_eps.insert(ep.key, ep.hists);
        }
        TapSummary {
            run_dir: run_dir.to_path_buf(),
            metrics_path,
            histograms_path: run_dir.join(HISTOGRAMS_FILE),
            counts: self.counts,
            endpoints,
            histograms: RunHistograms {
                overall: self.overall,
                endpoints: hist_eps,
            },
            series: self.series,
        }
    }
}
