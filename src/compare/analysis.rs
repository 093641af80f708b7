//! The comparison itself, fed one request at a time with every side's answer: status
//! mismatches, field diffs by path, noise (fields that differ between baseline and baseline2,
//! or between repeated identical baseline requests), and personal data in each side's
//! response bodies. Holds counts and one masked example per field, never a body.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::fields::{Change, Thresholds, diff_bodies, wildcard};
use crate::scrub::scan_response;

/// Repeated-request bodies remembered for noise detection without a baseline2.
const REMEMBERED: usize = 10_000;

/// The names of the sides, in order.
pub const SIDES: [&str; 3] = ["baseline", "candidate", "baseline2"];

/// One side's answer as the analysis sees it.
pub struct Answer<'a> {
    /// HTTP status, 0 on a transport error.
    pub status: u16,
    /// The body's first bytes.
    pub body: &'a [u8],
}

#[derive(Default)]
struct FieldAcc {
    count: u64,
    change: Option<Change>,
    example: String,
}

#[derive(Default)]
struct EndpointAcc {
    requests: u64,
    status_pairs: BTreeMap<(u16, u16), u64>,
    status_noise: u64,
    /// Per request with a body difference, the (exact) paths that differed.
    differing: Vec<Vec<String>>,
    fields: BTreeMap<String, FieldAcc>,
    noise: BTreeMap<String, u64>,
    pii: [u64; 3],
}

/// Accumulates the comparison.
pub struct Analysis {
    sides: usize,
    thresholds: Thresholds,
    endpoints: BTreeMap<String, EndpointAcc>,
    first_bodies: HashMap<[u8; 32], Vec<u8>>,
    pii_by_detector: [BTreeMap<&'static str, u64>; 3],
}

impl Analysis {
    /// `sides` is 2, or 3 with a baseline2.
    pub fn new(sides: usize, thresholds: Thresholds) -> Analysis {
        Analysis {
            sides,
            thresholds,
            endpoints: BTreeMap::new(),
            first_bodies: HashMap::new(),
            pii_by_detector: Default::default(),
        }
    }

    /// Adds one request: `answers[i]` is side i's.
    pub fn record(&mut self, endpoint: &str, request_key: [u8; 32], answers: &[Answer<'_>]) {
        let e = self.endpoints.entry(endpoint.to_string()).or_default();
        e.requests += 1;
        let (b, c) = (&answers[0], &answers[1]);
        for (i, a) in answers.iter().enumerate() {
            if a.status == 0 || a.body.is_empty() {
                continue;
            }
            for hit in scan_response(a.body) {
                e.pii[i] += 1;
                *self.pii_by_detector[i]
                    .entry(hit.detector.name())
                    .or_default() += 1;
            }
        }
        // Noise first: what differs between two answers of the same version.
        let mut status_is_noise = false;
        let noise_diffs = if let Some(b2) = answers.get(2) {
            // The baseline disagrees with itself (a random 502): a status change is noise.
            status_is_noise = b2.status != b.status;
            diff_bodies(b.body, b2.body, &self.thresholds)
        } else if let Some(first) = self.first_bodies.get(&request_key) {
            diff_bodies(first, b.body, &self.thresholds)
        } else {
            if self.first_bodies.len() < REMEMBERED && b.status != 0 {
                self.first_bodies.insert(request_key, b.body.to_vec());
            }
            Vec::new()
        };
        for d in noise_diffs {
            *e.noise.entry(wildcard(&d.path)).or_default() += 1;
        }
        if b.status != c.status {
            if status_is_noise {
                e.status_noise += 1;
            } else {
                *e.status_pairs.entry((b.status, c.status)).or_default() += 1;
            }
        }
        if b.status == 0 || c.status == 0 {
            return;
        }
        let diffs = diff_bodies(b.body, c.body, &self.thresholds);
        if diffs.is_empty() {
            return;
        }
        let mut paths = Vec::with_capacity(diffs.len());
        for d in diffs {
            let f = e.fields.entry(d.path.clone()).or_default();
            f.count += 1;
            if f.change.is_none() {
                f.change = Some(d.change);
                f.example = d.example;
            }
            paths.push(d.path);
        }
        e.differing.push(paths);
    }

    /// The report's per-endpoint part and the compliance hits per side.
    pub fn finish(self) -> (Vec<EndpointCompare>, Vec<SideCompliance>) {
        let mut out = Vec::new();
        let mut hits = [0u64; 3];
        for (name, e) in self.endpoints {
            let noisy: BTreeSet<&String> = e.noise.keys().collect();
            let is_noise = |p: &str| noisy.contains(&wildcard(p));
            let body_mismatches = e
                .differing
                .iter()
                .filter(|paths| paths.iter().any(|p| !is_noise(p)))
                .count() as u64;
            let (mut fields, mut noise) = (Vec::new(), Vec::new());
            for (path, f) in &e.fields {
                if is_noise(path) {
                    noise.push(NoiseField {
                        path: path.clone(),
                        candidate_diffs: f.count,
                        noise_diffs: e.noise.get(&wildcard(path)).copied().unwrap_or(0),
                    });
                } else {
                    fields.push(FieldReport {
                        path: path.clone(),
                        count: f.count,
                        change: f.change.unwrap_or(Change::Changed),
                        example: f.example.clone(),
                    });
                }
            }
            fields.sort_by(|a, b| b.count.cmp(&a.count).then(a.path.cmp(&b.path)));
            for (i, h) in e.pii.iter().enumerate() {
                hits[i] += h;
            }
            out.push(EndpointCompare {
                endpoint: name,
                requests: e.requests,
                status_mismatches: e.status_pairs.values().sum(),
                status_pairs: e
                    .status_pairs
                    .iter()
                    .map(|(&(baseline, candidate), &count)| StatusPair {
                        baseline,
                        candidate,
                        count,
                    })
                    .collect(),
                status_noise: e.status_noise,
                body_mismatches,
                fields,
                noise,
                compliance_hits: e.pii[..self.sides].to_vec(),
                latency: None,
            });
        }
        let compliance = (0..self.sides)
            .map(|i| SideCompliance {
                side: SIDES[i],
                hits: hits[i],
                by_detector: self.pii_by_detector[i].clone(),
            })
            .collect();
        (out, compliance)
    }
}

/// A status pair seen for the same request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusPair {
    /// Baseline's status (0: no answer).
    pub baseline: u16,
    /// Candidate's status.
    pub candidate: u16,
    /// Requests.
    pub count: u64,
}

/// A real field difference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldReport {
    /// `$.premium`.
    pub path: String,
    /// Requests where it differed.
    pub count: u64,
    /// How (first seen).
    pub change: Change,
    /// One masked example.
    pub example: String,
}

/// A field that differs between two answers of the same version too: noise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoiseField {
    /// `$.request_id`.
    pub path: String,
    /// Requests where baseline and candidate differed in it.
    pub candidate_diffs: u64,
    /// Times it differed between baseline answers (baseline2, or repeats).
    pub noise_diffs: u64,
}

/// Latency of one endpoint, baseline vs candidate (from `esr diff`'s statistics).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyDelta {
    /// p50 baseline -> candidate, ms.
    pub p50_ms: [f64; 2],
    /// p95 baseline -> candidate, ms.
    pub p95_ms: [f64; 2],
    /// p95 delta and its 95 % bootstrap interval, ms.
    pub p95_delta_ms: crate::diff::DeltaCi,
    /// The latency verdict.
    pub verdict: crate::diff::Verdict,
}

/// One endpoint's comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointCompare {
    /// `METHOD /template`.
    pub endpoint: String,
    /// Requests.
    pub requests: u64,
    /// Requests whose statuses differed.
    pub status_mismatches: u64,
    /// Which statuses.
    pub status_pairs: Vec<StatusPair>,
    /// Status mismatches not counted: baseline and baseline2 disagreed on that request too.
    pub status_noise: u64,
    /// Requests with at least one real (not noise) field difference.
    pub body_mismatches: u64,
    /// Real differences by path, most frequent first.
    pub fields: Vec<FieldReport>,
    /// Noise fields (not regressions).
    pub noise: Vec<NoiseField>,
    /// PII hits in response bodies, per side (baseline, candidate[, baseline2]).
    pub compliance_hits: Vec<u64>,
    /// Latency, baseline vs candidate.
    pub latency: Option<LatencyDelta>,
}

/// Personal data seen in one side's responses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideCompliance {
    /// `baseline`, `candidate` or `baseline2`.
    pub side: &'static str,
    /// Hits.
    pub hits: u64,
    /// Hits per detector.
    pub by_detector: BTreeMap<&'static str, u64>,
}
