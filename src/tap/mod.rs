//! The metrics tap: takes every [`Outcome`] of a replay, one at a time, on the aggregator task.
//!
//! Gives `metrics.parquet` (one row per request, streamed in row groups), HDR histograms of
//! latency from due, service time and lateness (overall and per endpoint, serialized to
//! `histograms.json` so shard runs merge exactly), per-second series for the charts, live
//! counters for the progress bar and Prometheus, and a [`TapSummary`] for the scorecard.
//!
//! It must never hold the run's rows in memory (a 10M-request run keeps one row group and
//! fixed-size histograms), never block the dispatcher (it is fed through a channel), and never
//! print a session, path or body: those go to the Parquet file only.

mod aggregate;
mod hist;
mod live;
mod parquet;
mod series;

pub use aggregate::Aggregator;
pub use hist::{
    HISTOGRAMS_FILE, HistSet, MAX_ENDPOINTS, OTHER_ENDPOINT, RunHistograms, SIGFIG, new_histogram,
};
pub use live::{LiveMetrics, LiveSnapshot};
pub use parquet::{METRICS_FILE, MetricsWriter, metrics_schema, read_outcomes};
pub use series::{Bucket, MiniHist, Series, SeriesPoint};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::outcome::{ErrorKind, Outcome};

/// A request sent more than this long after its due time is a late start (10 ms).
pub const LATE_START_US: i64 = 10_000;

/// Moves a finished temp file into place, readable by others like any file the user writes
/// (temp files are created owner-only), so a report can be served or shared.
pub(crate) fn persist_readable(temp: tempfile::NamedTempFile, path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    temp.persist(path).map(|_| ()).map_err(|e| e.error)
}

/// Errors of the tap. Messages name the file; they never quote a request's data.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    #[error("cannot write run file `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing `{path}` failed: {reason}")]
    Parquet { path: PathBuf, reason: String },
    #[error("histogram error: {0}")]
    Histogram(String),
}

/// Counts of one scope (the run or one endpoint).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counts {
    /// Requests recorded.
    pub requests: u64,
    /// Requests that got an HTTP response (any status).
    pub completed: u64,
    /// Requests that succeeded (a status below 400).
    pub successes: u64,
    /// Transport errors by kind.
    pub errors: BTreeMap<ErrorKind, u64>,
    /// Responses by status (0 = transport error).
    pub status_counts: BTreeMap<u16, u64>,
    /// Requests sent more than [`LATE_START_US`] after due.
    pub late_starts: u64,
    /// Requests that waited for a concurrency slot.
    pub queued: u64,
    /// Requests that waited for the rate governor.
    pub throttled: u64,
    /// Earliest due time seen (µs since the run's start).
    pub first_due_us: Option<i64>,
    /// Latest due time seen.
    pub last_due_us: Option<i64>,
    /// Earliest send.
    pub first_sent_us: Option<i64>,
    /// Latest send.
    pub last_sent_us: Option<i64>,
    /// Latest completion.
    pub last_done_us: Option<i64>,
}

fn min_opt(a: Option<i64>, v: i64) -> Option<i64> {
    Some(a.map_or(v, |a| a.min(v)))
}

fn max_opt(a: Option<i64>, v: i64) -> Option<i64> {
    Some(a.map_or(v, |a| a.max(v)))
}

impl Counts {
    /// Counts one request.
    pub fn record(&mut self, o: &Outcome) {
        self.requests += 1;
        if o.error.is_none() && o.status != 0 {
            self.completed += 1;
        }
        if o.is_success() {
            self.successes += 1;
        }
        if let Some(k) = o.error {
            *self.errors.entry(k).or_default() += 1;
        }
        *self.status_counts.entry(o.status).or_default() += 1;
        if o.lateness_us() > LATE_START_US {
            self.late_starts += 1;
        }
        self.queued += o.queued as u64;
        self.throttled += o.throttled as u64;
        self.first_due_us = min_opt(self.first_due_us, o.due_us);
        self.last_due_us = max_opt(self.last_due_us, o.due_us);
        self.first_sent_us = min_opt(self.first_sent_us, o.sent_us);
        self.last_sent_us = max_opt(self.last_sent_us, o.sent_us);
        self.last_done_us = max_opt(self.last_done_us, o.done_us);
    }

    /// Adds another scope's counts (shard merging).
    pub fn merge(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.completed += other.completed;
        self.successes += other.successes;
        for (k, v) in &other.errors {
            *self.errors.entry(*k).or_default() += v;
        }
        for (k, v) in &other.status_counts {
            *self.status_counts.entry(*k).or_default() += v;
        }
        self.late_starts += other.late_starts;
        self.queued += other.queued;
        self.throttled += other.throttled;
        let lo = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let hi = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.first_due_us = lo(self.first_due_us, other.first_due_us);
        self.last_due_us = hi(self.last_due_us, other.last_due_us);
        self.first_sent_us = lo(self.first_sent_us, other.first_sent_us);
        self.last_sent_us = hi(self.last_sent_us, other.last_sent_us);
        self.last_done_us = hi(self.last_done_us, other.last_done_us);
    }
}

/// Everything the scorecard needs from a finished tap.
#[derive(Clone, Debug)]
pub struct TapSummary {
    /// The run folder.
    pub run_dir: PathBuf,
    /// `run_dir/metrics.parquet`.
    pub metrics_path: PathBuf,
    /// `run_dir/histograms.json`.
    pub histograms_path: PathBuf,
    /// Counts of the whole run.
    pub counts: Counts,
    /// Counts per endpoint key (`METHOD template`).
    pub endpoints: BTreeMap<String, Counts>,
    /// HDR histograms, overall and per endpoint (same keys as `endpoints`).
    pub histograms: RunHistograms,
    /// Per-second buckets (by due time) for charts and phases.
    pub series: Series,
}

impl TapSummary {
    /// Adds another run's summary: counts summed, HDR histograms merged exactly, series
    /// bucket by bucket. For shards of one replay, which share the run clock.
    pub fn merge(&mut self, other: &TapSummary) -> Result<(), TapError> {
        self.counts.merge(&other.counts);
        for (k, c) in &other.endpoints {
            self.endpoints.entry(k.clone()).or_default().merge(c);
        }
        self.histograms.merge(&other.histograms)?;
        self.series.merge(&other.series);
        Ok(())
    }
}

/// The metrics tap of one run. Lives on the aggregator task; not shared.
pub struct Tap {
    run_dir: PathBuf,
    writer: MetricsWriter,
    agg: Aggregator,
}

impl Tap {
    /// Opens `run_dir/metrics.parquet` (written via a temp file, renamed by [`Tap::finish`]);
    /// row groups are flushed as the run goes, so memory stays bounded for 10M requests.
    pub fn create(run_dir: &Path) -> Result<Tap, TapError> {
        std::fs::create_dir_all(run_dir).map_err(|source| TapError::Io {
            path: run_dir.to_path_buf(),
            source,
        })?;
        Ok(Tap {
            run_dir: run_dir.to_path_buf(),
            writer: MetricsWriter::create(run_dir)?,
            agg: Aggregator::new(Arc::new(LiveMetrics::new())),
        })
    }

    /// One row per request, plus the HDR histograms (latency from due, service, lateness;
    /// overall and per endpoint), the per-second series and the live counters.
    pub fn record(&mut self, o: &Outcome) -> Result<(), TapError> {
        self.writer.write(o)?;
        self.agg.record(o);
        Ok(())
    }

    /// Shared, cheap-to-read live view for progress and `/metrics`.
    pub fn live(&self) -> Arc<LiveMetrics> {
        self.agg.live()
    }

    /// Rows recorded so far.
    pub fn rows(&self) -> u64 {
        self.agg.rows()
    }

    /// Closes `metrics.parquet`, writes `histograms.json` and returns the summary.
    pub fn finish(self) -> Result<TapSummary, TapError> {
        let (metrics_path, _) = self.writer.finish()?;
        let summary = self.agg.into_summary(&self.run_dir, metrics_path);
        summary.histograms.write(&self.run_dir)?;
        Ok(summary)
    }
}

/// Aggregates a stored run's `metrics.parquet` again (same figures as the live tap): for a
/// run whose scorecard is missing, or to judge it anew. Writes nothing.
pub fn summarize_run(run_dir: &Path) -> Result<TapSummary, TapError> {
    let metrics_path = run_dir.join(METRICS_FILE);
    let mut agg = Aggregator::new(Arc::new(LiveMetrics::new()));
    read_outcomes(&metrics_path, |o| agg.record(&o))?;
    Ok(agg.into_summary(run_dir, metrics_path))
}

/// A synthetic outcome for unit tests: sent 0.1 ms after due, a 32-byte digest.
#[cfg(test)]
pub(crate) fn test_outcome(seq: u64, due_ms: i64, latency_ms: i64, status: u16) -> Outcome {
    Outcome {
        seq,
        session: Some(format!("s{}", seq % 3)),
        method: "GET".into(),
        path: format!("/users/{seq}"),
        endpoint: "/users/{id}".into(),
        due_us: due_ms * 1000,
        sent_us: due_ms * 1000 + 100,
        done_us: (due_ms + latency_ms) * 1000,
        status,
        error: None,
        bytes: 10,
        body_sha256: Some([7; 32]),
        queued: false,
        throttled: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_counts_hists_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut tap = Tap::create(dir.path()).unwrap();
        let live = tap.live();
        for i in 0..100 {
            let status = if i % 10 == 0 { 500 } else { 200 };
            tap.record(&test_outcome(i, i as i64 * 10, 20, status))
                .unwrap();
        }
        let mut failed = test_outcome(100, 1000, 5000, 0);
        failed.error = Some(ErrorKind::Timeout);
        tap.record(&failed).unwrap();
        assert_eq!(live.snapshot().completed, 101);
        assert_eq!(live.snapshot().errors, 11);
        let s = tap.finish().unwrap();
        assert_eq!(s.counts.requests, 101);
        assert_eq!(s.counts.completed, 100);
        assert_eq!(s.counts.successes, 90);
        assert_eq!(s.counts.errors[&ErrorKind::Timeout], 1);
        assert_eq!(s.counts.status_counts[&500], 10);
        assert_eq!(s.endpoints["GET /users/{id}"].requests, 101);
        assert_eq!(s.histograms.overall.latency.len(), 101);
        assert!(s.metrics_path.exists() && s.histograms_path.exists());
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count();
        assert_eq!(leftovers, 0);
        let text = live.prometheus_text();
        assert!(text.contains("esr_requests_total 101"));
        assert!(text.contains("esr_responses_total{status=\"500\"} 10"));
        assert!(text.contains("esr_errors_total{kind=\"timeout\"} 1"));
        assert!(text.contains("esr_latency_seconds_bucket{le=\"+Inf\"} 101"));
    }

    #[test]
    fn endpoints_beyond_the_cap_fold_into_other() {
        let dir = tempfile::tempdir().unwrap();
        let mut tap = Tap::create(dir.path()).unwrap();
        for i in 0..(MAX_ENDPOINTS as u64 + 5) {
            let mut o = test_outcome(i, 0, 1, 200);
            o.endpoint = format!("/e{i}");
            tap.record(&o).unwrap();
        }
        let s = tap.finish().unwrap();
        assert_eq!(s.endpoints.len(), MAX_ENDPOINTS + 1);
        assert_eq!(s.endpoints[OTHER_ENDPOINT].requests, 5);
    }
}
