//! Diff of two runs: takes two run folders (their `run.json` and `metrics.parquet`), gives a
//! [`DiffReport`] — per endpoint and overall, p50/p95/p99 deltas with seeded bootstrap 95 %
//! confidence intervals, a two-sample KS test of the latency distributions, success-rate,
//! status-mix and error-kind changes with two-proportion z-tests, and a verdict — rendered as
//! text, JSON or a self-contained HTML page.
//!
//! It must never call a difference a regression without statistical evidence (an interval
//! that excludes 0 *and* a significant test), never print a request's data (only endpoint
//! templates, counts and times), and never reach the network.

mod html;
pub mod stats;
mod text;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::outcome::{ErrorKind, Outcome};
use crate::replay::run;
use crate::tap::{METRICS_FILE, read_outcomes};
pub use html::cdf_points;
pub use stats::{DeltaCi, KsTest, ProportionTest};

/// Errors that stop a diff.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A run could not be found.
    #[error(
        "no run `{given}`: neither a run folder nor `{looked}`; list runs with `ls DATA/runs` or pass the folder"
    )]
    NoRun {
        /// As given.
        given: String,
        /// Where it was looked for under the data folder.
        looked: PathBuf,
    },
    /// The run failed (its folder carries the `FAILED` marker): it has no results.
    #[error("run `{dir}` failed ({reason}); a failed run has no results to diff: replay it again")]
    Failed {
        /// The run folder.
        dir: PathBuf,
        /// Why, from the marker.
        reason: String,
    },
    /// A run's files could not be read.
    #[error("run `{dir}`: {reason}")]
    Read {
        /// The run folder.
        dir: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The two runs replayed different traces.
    #[error(
        "runs replayed different traces (`{a}` has trace sha256 `{sa}`, `{b}` has `{sb}`); their latencies are not comparable; pass --force to diff them anyway"
    )]
    DifferentTraces {
        /// Run A.
        a: String,
        /// Run B.
        b: String,
        /// A's trace digest (first 12 hex digits).
        sa: String,
        /// B's trace digest.
        sb: String,
    },
}

/// How strict the verdict is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DiffOptions {
    /// Seed of the bootstrap's generator: the same seed gives the same intervals.
    pub seed: u64,
    /// Bootstrap resamples.
    pub rounds: usize,
    /// Significance level of the tests (0.05).
    pub alpha: f64,
    /// A latency change smaller than this share of A's value is not a verdict (0.05 = 5 %).
    pub min_effect_rel: f64,
    /// A latency change smaller than this many ms is not a verdict.
    pub min_effect_ms: f64,
    /// Fewer answered requests than this on either side: "too little data".
    pub min_samples: usize,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            seed: 1,
            rounds: 1000,
            alpha: 0.05,
            min_effect_rel: 0.05,
            min_effect_ms: 1.0,
            min_samples: 20,
        }
    }
}

/// One endpoint's (or the whole run's) requests, reduced to what the tests need.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Latencies (ms, from the due time) of requests that got an HTTP answer, sorted.
    pub latencies_ms: Vec<f64>,
    /// Requests.
    pub requests: u64,
    /// Requests answered with a status below 400.
    pub successes: u64,
    /// Requests by status class (`2xx`, `5xx`, ...; `error` for no answer).
    pub classes: BTreeMap<String, u64>,
    /// Transport errors by kind.
    pub errors: BTreeMap<&'static str, u64>,
}

impl Sample {
    /// Adds one outcome.
    pub fn record(&mut self, o: &Outcome) {
        self.requests += 1;
        self.successes += u64::from(o.is_success());
        let class = match o.error {
            Some(_) => "error".to_string(),
            None => format!("{}xx", o.status / 100),
        };
        *self.classes.entry(class).or_default() += 1;
        match o.error {
            Some(k) => *self.errors.entry(k.as_str()).or_default() += 1,
            None => self.latencies_ms.push(o.latency_us() as f64 / 1000.0),
        }
    }

    fn finish(&mut self) {
        self.latencies_ms.sort_by(f64::total_cmp);
    }
}

/// A run's samples, overall and per endpoint (`METHOD /template`).
#[derive(Debug, Clone, Default)]
pub struct RunSamples {
    /// The run's id (folder name).
    pub id: String,
    /// The run folder.
    pub dir: PathBuf,
    /// SHA-256 of the trace it replayed, from `run.json`.
    pub trace_sha256: Option<String>,
    /// All requests.
    pub overall: Sample,
    /// Per endpoint.
    pub endpoints: BTreeMap<String, Sample>,
}

impl RunSamples {
    /// Builds samples from outcomes (used by `esr compare` on the fly).
    pub fn from_outcomes<'a>(
        id: &str,
        dir: &Path,
        outcomes: impl IntoIterator<Item = &'a Outcome>,
    ) -> RunSamples {
        let mut r = RunSamples {
            id: id.to_string(),
            dir: dir.to_path_buf(),
            ..RunSamples::default()
        };
        for o in outcomes {
            r.record(o);
        }
        r.finish();
        r
    }

    fn record(&mut self, o: &Outcome) {
        self.overall.record(o);
        self.endpoints.entry(endpoint_key(o)).or_default().record(o);
    }

    fn finish(&mut self) {
        self.overall.finish();
        self.endpoints.values_mut().for_each(Sample::finish);
    }
}

/// `METHOD /template`, the key endpoints are reported under.
pub fn endpoint_key(o: &Outcome) -> String {
    format!("{} {}", o.method, o.endpoint)
}

/// Finds a run: a folder holding `metrics.parquet`, or a run id under `data/runs` (`RUN-0003`,
/// or just `3`).
pub fn locate(given: &str, data: &Path) -> Result<PathBuf, DiffError> {
    // A failed run is found too, so that `load` can say it failed.
    let is_run = |d: &Path| d.join(METRICS_FILE).is_file() || run::failure(d).is_some();
    let as_path = PathBuf::from(given);
    if is_run(&as_path) {
        return Ok(as_path);
    }
    let id = match given.parse::<u64>() {
        Ok(n) => format!("RUN-{n:04}"),
        Err(_) => given.to_string(),
    };
    let looked = data.join("runs").join(&id);
    if is_run(&looked) {
        return Ok(looked);
    }
    Err(DiffError::NoRun {
        given: given.to_string(),
        looked,
    })
}

/// Reads a run folder's `run.json` (for the trace digest) and `metrics.parquet`.
pub fn load(dir: &Path) -> Result<RunSamples, DiffError> {
    if let Some(reason) = run::failure(dir) {
        return Err(DiffError::Failed {
            dir: dir.to_path_buf(),
            reason,
        });
    }
    let read_err = |reason: String| DiffError::Read {
        dir: dir.to_path_buf(),
        reason,
    };
    let trace_sha256 = match std::fs::read_to_string(dir.join("run.json")) {
        Ok(text) => {
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| read_err(format!("`run.json` is not valid JSON ({e})")))?;
            v.pointer("/trace/sha256")
                .and_then(|s| s.as_str())
                .map(str::to_string)
        }
        Err(_) => None,
    };
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    let mut r = RunSamples {
        id,
        dir: dir.to_path_buf(),
        trace_sha256,
        ..RunSamples::default()
    };
    read_outcomes(&dir.join(METRICS_FILE), |o| r.record(&o))
        .map_err(|e| read_err(e.to_string()))?;
    r.finish();
    Ok(r)
}

/// Refuses two runs of different traces (both digests known and unequal).
pub fn check_same_trace(a: &RunSamples, b: &RunSamples) -> Result<(), DiffError> {
    match (&a.trace_sha256, &b.trace_sha256) {
        (Some(sa), Some(sb)) if sa != sb => Err(DiffError::DifferentTraces {
            a: a.id.clone(),
            b: b.id.clone(),
            sa: sa.chars().take(12).collect(),
            sb: sb.chars().take(12).collect(),
        }),
        _ => Ok(()),
    }
}

/// What changed, for one endpoint or the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Fewer answered requests than `min_samples` on a side.
    TooLittleData,
    /// No significant change beyond the minimum effect.
    Unchanged,
    /// Significantly faster or more successful, and nothing worse.
    Improved,
    /// Significantly slower or less successful.
    Regressed,
}

impl Verdict {
    /// The JSON name (`too_little_data`), also the HTML class.
    pub fn key(self) -> &'static str {
        match self {
            Verdict::TooLittleData => "too_little_data",
            Verdict::Unchanged => "unchanged",
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
        }
    }

    /// The words printed for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::TooLittleData => "too little data",
            Verdict::Unchanged => "unchanged",
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
        }
    }
}

/// One percentile on both sides and its bootstrap delta.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QuantileDiff {
    /// The quantile (0.5, 0.95, 0.99).
    pub q: f64,
    /// Value in A, ms.
    pub a_ms: f64,
    /// Value in B, ms.
    pub b_ms: f64,
    /// B − A with its 95 % interval, ms.
    pub delta_ms: DeltaCi,
}

/// A share (status class or error kind) on both sides and its test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShareDiff {
    /// `2xx`, `5xx`, `error`, or an error kind.
    pub name: String,
    /// Count in A.
    pub a: u64,
    /// Count in B.
    pub b: u64,
    /// The shares and their z-test.
    pub test: ProportionTest,
}

/// The comparison of one endpoint (or of the whole run, endpoint `*`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointDiff {
    /// `METHOD /template`, or `*` for the whole run.
    pub endpoint: String,
    /// Requests in A.
    pub requests_a: u64,
    /// Requests in B.
    pub requests_b: u64,
    /// p50, p95 and p99 (absent when a side has no answered request).
    pub latency: Vec<QuantileDiff>,
    /// KS test of the latency distributions.
    pub ks: Option<KsTest>,
    /// Success rate (status below 400) on both sides.
    pub success: ProportionTest,
    /// Status classes whose share changed, or every class present.
    pub status_mix: Vec<ShareDiff>,
    /// Transport error kinds seen on either side.
    pub errors: Vec<ShareDiff>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in words (empty when unchanged).
    pub reasons: Vec<String>,
}

/// `esr diff`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffReport {
    /// Run A's id.
    pub run_a: String,
    /// Run B's id.
    pub run_b: String,
    /// Run A's folder.
    pub dir_a: String,
    /// Run B's folder.
    pub dir_b: String,
    /// Whether both runs replayed the same trace (`None` when a digest is unknown).
    pub same_trace: Option<bool>,
    /// The settings that produced the numbers.
    pub options: DiffOptions,
    /// The whole run.
    pub overall: EndpointDiff,
    /// Per endpoint, in name order.
    pub endpoints: Vec<EndpointDiff>,
    /// Worst endpoint verdict (regressed over improved over unchanged).
    pub verdict: Verdict,
}

impl DiffReport {
    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a diff report always serializes") + "\n"
    }

    /// Text for the terminal.
    pub fn render_text(&self) -> String {
        text::render(self)
    }

    /// A self-contained HTML page with side-by-side charts.
    pub fn render_html(&self, a: &RunSamples, b: &RunSamples) -> String {
        html::render(self, a, b)
    }
}

const QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];

/// Compares two runs' samples.
pub fn diff(a: &RunSamples, b: &RunSamples, opts: &DiffOptions) -> DiffReport {
    let mut endpoints = Vec::new();
    let names: std::collections::BTreeSet<&String> =
        a.endpoints.keys().chain(b.endpoints.keys()).collect();
    let empty = Sample::default();
    for name in names {
        let sa = a.endpoints.get(name).unwrap_or(&empty);
        let sb = b.endpoints.get(name).unwrap_or(&empty);
        endpoints.push(compare(name, sa, sb, opts));
    }
    let overall = compare("*", &a.overall, &b.overall, opts);
    let verdict = overall_verdict(&endpoints, overall.verdict);
    DiffReport {
        run_a: a.id.clone(),
        run_b: b.id.clone(),
        dir_a: a.dir.display().to_string(),
        dir_b: b.dir.display().to_string(),
        same_trace: match (&a.trace_sha256, &b.trace_sha256) {
            (Some(x), Some(y)) => Some(x == y),
            _ => None,
        },
        options: *opts,
        overall,
        endpoints,
        verdict,
    }
}

/// Regressed if anything regressed; improved if something improved and nothing regressed;
/// too little data only when no endpoint (nor the whole) had enough.
fn overall_verdict(endpoints: &[EndpointDiff], whole: Verdict) -> Verdict {
    let all = endpoints.iter().map(|e| e.verdict).chain([whole]);
    if all.clone().all(|v| v == Verdict::TooLittleData) {
        return Verdict::TooLittleData;
    }
    if all.clone().any(|v| v == Verdict::Regressed) {
        Verdict::Regressed
    } else if all.clone().any(|v| v == Verdict::Improved) {
        Verdict::Improved
    } else {
        Verdict::Unchanged
    }
}

/// A stable per-endpoint seed, so adding an endpoint never changes another's intervals.
fn seed_for(seed: u64, name: &str) -> u64 {
    name.bytes().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Compares one endpoint's samples and judges them.
pub fn compare(name: &str, a: &Sample, b: &Sample, opts: &DiffOptions) -> EndpointDiff {
    let mut reasons = Vec::new();
    let (la, lb) = (&a.latencies_ms, &b.latencies_ms);
    let (latency, ks) = if la.is_empty() || lb.is_empty() {
        (Vec::new(), None)
    } else {
        let cis = stats::bootstrap_quantile_deltas(
            la,
            lb,
            &QUANTILES,
            opts.rounds,
            seed_for(opts.seed, name),
        );
        let latency = QUANTILES
            .iter()
            .zip(cis)
            .map(|(&q, delta_ms)| QuantileDiff {
                q,
                a_ms: stats::quantile_sorted(la, q),
                b_ms: stats::quantile_sorted(lb, q),
                delta_ms,
            })
            .collect();
        (latency, Some(stats::ks_test(la, lb)))
    };
    let success = stats::proportion_test(a.successes, a.requests, b.successes, b.requests);
    let share = |name: String, xa: u64, xb: u64| ShareDiff {
        test: stats::proportion_test(xa, a.requests, xb, b.requests),
        name,
        a: xa,
        b: xb,
    };
    let classes: std::collections::BTreeSet<&String> =
        a.classes.keys().chain(b.classes.keys()).collect();
    let status_mix = classes
        .into_iter()
        .map(|c| {
            let get = |s: &Sample| s.classes.get(c).copied().unwrap_or(0);
            share(c.clone(), get(a), get(b))
        })
        .collect();
    let errors = ErrorKind::ALL
        .iter()
        .map(|k| k.as_str())
        .filter_map(|k| {
            let get = |s: &Sample| s.errors.get(k).copied().unwrap_or(0);
            (get(a) + get(b) > 0).then(|| share(k.to_string(), get(a), get(b)))
        })
        .collect();

    let enough = la.len().min(lb.len()) >= opts.min_samples;
    let verdict = if !enough {
        // Requests that all failed on one side are still a verdict worth giving.
        judge_success(&success, a.requests.min(b.requests), opts, &mut reasons)
            .unwrap_or(Verdict::TooLittleData)
    } else {
        let mut worse = false;
        let mut better = false;
        let significant = ks.is_some_and(|k| k.p_value < opts.alpha);
        for qd in &latency {
            let floor = (qd.a_ms * opts.min_effect_rel).max(opts.min_effect_ms);
            let label = format!("p{}", (qd.q * 100.0).round());
            if significant && qd.delta_ms.lo > floor {
                worse = true;
                reasons.push(format!(
                    "{label} +{:.1} ms (95% CI {:+.1}..{:+.1}), KS p={:.2e}",
                    qd.delta_ms.delta,
                    qd.delta_ms.lo,
                    qd.delta_ms.hi,
                    ks.map_or(1.0, |k| k.p_value)
                ));
            } else if significant && qd.delta_ms.hi < -floor {
                better = true;
                reasons.push(format!(
                    "{label} {:.1} ms (95% CI {:+.1}..{:+.1}), KS p={:.2e}",
                    qd.delta_ms.delta,
                    qd.delta_ms.lo,
                    qd.delta_ms.hi,
                    ks.map_or(1.0, |k| k.p_value)
                ));
            }
        }
        match judge_success(&success, a.requests.min(b.requests), opts, &mut reasons) {
            Some(Verdict::Regressed) => worse = true,
            Some(Verdict::Improved) => better = true,
            _ => {}
        }
        if worse {
            Verdict::Regressed
        } else if better {
            Verdict::Improved
        } else {
            Verdict::Unchanged
        }
    };
    EndpointDiff {
        endpoint: name.to_string(),
        requests_a: a.requests,
        requests_b: b.requests,
        latency,
        ks,
        success,
        status_mix,
        errors,
        verdict,
        reasons,
    }
}

/// A significant change of the success rate, when both sides have enough requests.
fn judge_success(
    t: &ProportionTest,
    fewest: u64,
    opts: &DiffOptions,
    reasons: &mut Vec<String>,
) -> Option<Verdict> {
    if fewest < opts.min_samples as u64 || t.p_value >= opts.alpha {
        return None;
    }
    let words = format!(
        "success {:.1}% -> {:.1}% (z={:.2}, p={:.2e})",
        t.a * 100.0,
        t.b * 100.0,
        t.z,
        t.p_value
    );
    reasons.push(words);
    Some(if t.b < t.a {
        Verdict::Regressed
    } else {
        Verdict::Improved
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(lat: impl IntoIterator<Item = f64>, failures: u64) -> Sample {
        let mut s = Sample::default();
        for l in lat {
            s.requests += 1;
            s.successes += 1;
            *s.classes.entry("2xx".into()).or_default() += 1;
            s.latencies_ms.push(l);
        }
        s.requests += failures;
        if failures > 0 {
            *s.classes.entry("5xx".into()).or_default() += failures;
        }
        s.finish();
        s
    }

    fn spread(n: usize, base: f64) -> Vec<f64> {
        (0..n).map(|i| base + (i * 37 % 100) as f64 / 5.0).collect()
    }

    #[test]
    fn equal_samples_are_unchanged_and_small_ones_too_little() {
        let o = DiffOptions::default();
        let a = sample(spread(200, 30.0), 0);
        assert_eq!(compare("x", &a, &a, &o).verdict, Verdict::Unchanged);
        let tiny = sample(spread(5, 30.0), 0);
        assert_eq!(compare("x", &tiny, &a, &o).verdict, Verdict::TooLittleData);
    }

    #[test]
    fn a_slower_side_regresses_and_a_faster_one_improves() {
        let o = DiffOptions::default();
        let a = sample(spread(200, 30.0), 0);
        let slow = sample(spread(200, 130.0), 0);
        let d = compare("x", &a, &slow, &o);
        assert_eq!(d.verdict, Verdict::Regressed, "{:?}", d.reasons);
        assert!(d.latency.iter().all(|q| q.delta_ms.above_zero()));
        assert_eq!(compare("x", &slow, &a, &o).verdict, Verdict::Improved);
    }

    #[test]
    fn more_failures_regress_even_at_equal_latency() {
        let o = DiffOptions::default();
        let a = sample(spread(200, 30.0), 0);
        let b = sample(spread(200, 30.0), 40);
        let d = compare("x", &a, &b, &o);
        assert_eq!(d.verdict, Verdict::Regressed);
        assert!(d.reasons[0].starts_with("success 100.0% -> 83.3%"));
    }

    #[test]
    fn overall_takes_the_worst_endpoint() {
        use Verdict::*;
        let e = |v| EndpointDiff {
            endpoint: String::new(),
            requests_a: 0,
            requests_b: 0,
            latency: vec![],
            ks: None,
            success: stats::proportion_test(0, 0, 0, 0),
            status_mix: vec![],
            errors: vec![],
            verdict: v,
            reasons: vec![],
        };
        assert_eq!(
            overall_verdict(&[e(Unchanged), e(Regressed)], Unchanged),
            Regressed
        );
        assert_eq!(
            overall_verdict(&[e(Improved), e(TooLittleData)], Unchanged),
            Improved
        );
        assert_eq!(
            overall_verdict(&[e(TooLittleData)], TooLittleData),
            TooLittleData
        );
        assert_eq!(overall_verdict(&[e(TooLittleData)], Unchanged), Unchanged);
    }
}
