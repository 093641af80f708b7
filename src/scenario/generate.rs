//! Synthetic traffic from a scenario, streamed: actors arrive one at a time (arrival times
//! are drawn in order, never as a whole list) and a heap holds each active actor's next
//! request, ordered by time. The heap never holds more than the actors active at once, so a
//! 10k-actor, 30-minute scenario costs a few hundred heap entries, not its ~30k requests.
//!
//! Same scenario, same seed → the very same records (each actor draws from its own random
//! stream, derived from the seed and its number, so one actor's draws never shift another's).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::path::Path;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use super::ScenarioRunError;
use super::catalog::{self, Request, TEST_CARDS};
use super::model::{Arrival, Scenario, ThinkDist, ThinkTime};
use super::validate::end_group_start;
use crate::stub::{LatencyConfig, LatencyModel};
use crate::trace::{TraceMeta, TraceRecord, TraceWriter};

/// The synthetic timeline's zero: 2026-01-01T00:00:00Z (a fixed instant, so the same scenario
/// gives byte-for-byte the same timestamps).
pub const EPOCH_US: i64 = 1_767_225_600_000_000;

/// One resolved step of the script.
#[derive(Debug, Clone)]
struct PlanStep {
    action: String,
    request: Option<Request>,
    ratio: f64,
}

/// How many actors took each step and how each split went, counted while generating.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GenerateSummary {
    /// Actors generated.
    pub actors: u64,
    /// Requests generated (steps that send nothing are not requests).
    pub requests: u64,
    /// Per action, in script order: how many actors took it (its intended count).
    pub actions: Vec<ActionCount>,
    /// Per split (the end group, and each step with a ratio below 1 before it).
    pub splits: Vec<SplitCount>,
    /// Offset of the first request from the scenario's start, µs.
    pub first_offset_us: i64,
    /// Offset of the last request from the scenario's start, µs.
    pub last_offset_us: i64,
    /// Most entries the generator's heap held at once (≤ actors active at once).
    pub max_pending: usize,
}

/// One action's intended count.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ActionCount {
    /// The action.
    pub action: String,
    /// `METHOD /template`, or `None` for an action that sends nothing.
    pub endpoint: Option<String>,
    /// Actors that took it.
    pub taken: u64,
}

/// How the actors that reached a split divided.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SplitCount {
    /// Field of its first step (`script[2]`).
    pub field: String,
    /// Actors that reached it.
    pub reached: u64,
    /// (action, declared ratio, actors that took it).
    pub branches: Vec<(String, f64, u64)>,
}

/// One actor's next request, ordered by time, then actor, then step.
struct Pending {
    at_us: i64,
    actor: u64,
    step: usize,
    rng: SmallRng,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        self.key() == o.key()
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> Ordering {
        self.key().cmp(&o.key())
    }
}
impl Pending {
    fn key(&self) -> (i64, u64, usize) {
        (self.at_us, self.actor, self.step)
    }
}

/// Arrival times, drawn in increasing order one at a time.
struct Arrivals {
    kind: Arrival,
    n: u64,
    k: u64,
    duration_us: f64,
    /// The previous sorted uniform (Poisson and ramp).
    prev_u: f64,
    rng: SmallRng,
}

impl Arrivals {
    fn next(&mut self) -> Option<i64> {
        if self.k >= self.n {
            return None;
        }
        let u = match self.kind {
            Arrival::Uniform => self.k as f64 / self.n as f64,
            Arrival::Poisson | Arrival::Ramp => {
                // The next of n sorted uniforms, given the previous one: a Poisson process
                // with exactly n arrivals in the window is n sorted uniforms.
                let left = (self.n - self.k) as f64;
                let v = 1.0 - self.rng.random::<f64>(); // (0, 1]
                let u = 1.0 - (1.0 - self.prev_u) * v.powf(1.0 / left);
                self.prev_u = u;
                if self.kind == Arrival::Ramp {
                    // Density rising linearly from 0: the CDF is t², so t = √u.
                    u.sqrt()
                } else {
                    u
                }
            }
        };
        self.k += 1;
        Some((u.clamp(0.0, 1.0) * self.duration_us) as i64)
    }
}

/// The streaming generator: an iterator of trace records in time order.
pub struct Generator {
    steps: Vec<PlanStep>,
    group: usize,
    think: LatencyModel,
    seed: u64,
    prefix: String,
    width: usize,
    arrivals: Arrivals,
    next_arrival: Option<(i64, u64)>,
    heap: BinaryHeap<Reverse<Pending>>,
    taken: Vec<u64>,
    split_reached: Vec<u64>,
    summary: GenerateSummary,
}

fn mix(mut z: u64) -> u64 {
    // splitmix64's finalizer: nearby actor numbers give unrelated streams.
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn think_model(t: &ThinkTime) -> Result<LatencyModel, ScenarioRunError> {
    let ms = |d: &super::model::Dur| d.get().as_secs_f64() * 1000.0;
    let c = match t {
        ThinkTime::Fixed(d) | ThinkTime::Dist(ThinkDist::Fixed { value: d }) => {
            LatencyConfig::Fixed { ms: ms(d) }
        }
        ThinkTime::Dist(ThinkDist::Lognormal { p50, p99 }) => LatencyConfig::Lognormal {
            p50_ms: ms(p50),
            p99_ms: ms(p99),
        },
        ThinkTime::Dist(ThinkDist::Uniform { min, max }) => LatencyConfig::Uniform {
            min_ms: ms(min),
            max_ms: ms(max),
        },
    };
    LatencyModel::from_config(&c)
        .map_err(|e| ScenarioRunError::Input(format!("scenario field `think_time`: {e}")))
}

impl Generator {
    /// A generator for a validated synthetic scenario.
    pub fn new(s: &Scenario) -> Result<Generator, ScenarioRunError> {
        let actors = s.actors.ok_or_else(|| {
            ScenarioRunError::Input("scenario field `actors`: required to generate traffic".into())
        })?;
        let cat = catalog::effective(s);
        let mut steps = Vec::new();
        for (i, st) in s.script.iter().enumerate() {
            let entry = cat.get(&st.action).ok_or_else(|| {
                ScenarioRunError::Input(format!(
                    "scenario field `script[{i}].action`: unknown action `{}`",
                    st.action
                ))
            })?;
            steps.push(PlanStep {
                action: st.action.clone(),
                request: entry.as_ref().map(Request::new),
                ratio: st.ratio.min(1.0),
            });
        }
        let group = end_group_start(&s.script);
        let seed = s.seed();
        let mut summary = GenerateSummary::default();
        for st in &steps {
            if !summary.actions.iter().any(|a| a.action == st.action) {
                summary.actions.push(ActionCount {
                    action: st.action.clone(),
                    endpoint: st.request.as_ref().map(|r| r.endpoint.clone()),
                    taken: 0,
                });
            }
        }
        // Splits: each conversion step before the end group, then the end group.
        for (i, st) in steps.iter().enumerate().take(group) {
            if st.ratio < 1.0 {
                summary.splits.push(SplitCount {
                    field: format!("script[{i}]"),
                    reached: 0,
                    branches: vec![(st.action.clone(), st.ratio, 0)],
                });
            }
        }
        if group < steps.len() {
            summary.splits.push(SplitCount {
                field: format!("script[{group}]"),
                reached: 0,
                branches: steps[group..]
                    .iter()
                    .map(|st| (st.action.clone(), st.ratio, 0))
                    .collect(),
            });
        }
        let mut g = Generator {
            taken: vec![0; steps.len()],
            split_reached: vec![0; steps.len()],
            steps,
            group,
            think: think_model(&s.think_time())?,
            seed,
            prefix: s.name.clone(),
            width: actors.to_string().len().max(5),
            arrivals: Arrivals {
                kind: s.arrival(),
                n: actors,
                k: 0,
                duration_us: s.duration().as_micros() as f64,
                prev_u: 0.0,
                rng: SmallRng::seed_from_u64(mix(seed ^ 0xA5A5_A5A5_A5A5_A5A5)),
            },
            next_arrival: None,
            heap: BinaryHeap::new(),
            summary,
        };
        g.next_arrival = g.arrivals.next().map(|t| (t, 0));
        g.summary.first_offset_us = -1;
        Ok(g)
    }

    /// Most entries the heap has held so far.
    pub fn max_pending(&self) -> usize {
        self.summary.max_pending
    }

    /// The counts so far (complete once the iterator is exhausted).
    pub fn summary(&self) -> GenerateSummary {
        let mut s = self.summary.clone();
        s.first_offset_us = s.first_offset_us.max(0);
        for a in &mut s.actions {
            a.taken = self
                .steps
                .iter()
                .zip(&self.taken)
                .filter(|(st, _)| st.action == a.action)
                .map(|(_, n)| n)
                .sum();
        }
        let mut si = 0;
        for (i, st) in self.steps.iter().enumerate().take(self.group) {
            if st.ratio < 1.0 {
                s.splits[si].reached = self.split_reached[i];
                s.splits[si].branches[0].2 = self.taken[i];
                si += 1;
            }
        }
        if self.group < self.steps.len() {
            s.splits[si].reached = self.split_reached[self.group];
            for (b, n) in s.splits[si]
                .branches
                .iter_mut()
                .zip(&self.taken[self.group..])
            {
                b.2 = *n;
            }
        }
        s
    }

    /// The next step (with a request) an actor takes from candidate step `from`, counting
    /// the steps it takes on the way (steps that send nothing cost no time).
    fn next_step(&mut self, from: usize, rng: &mut SmallRng) -> Option<usize> {
        let mut i = from;
        while i < self.steps.len() {
            let chosen = if i < self.group {
                if self.steps[i].ratio < 1.0 {
                    self.split_reached[i] += 1;
                    if rng.random::<f64>() >= self.steps[i].ratio {
                        return None;
                    }
                }
                i
            } else {
                self.split_reached[self.group] += 1;
                let u = rng.random::<f64>();
                let mut acc = 0.0;
                (self.group..self.steps.len()).find(|&j| {
                    acc += self.steps[j].ratio;
                    u < acc
                })?
            };
            self.taken[chosen] += 1;
            if self.steps[chosen].request.is_some() {
                return Some(chosen);
            }
            if chosen >= self.group {
                return None;
            }
            i = chosen + 1;
        }
        None
    }

    fn after(&self, step: usize) -> usize {
        if step >= self.group {
            self.steps.len()
        } else {
            step + 1
        }
    }

    fn record(&self, p: &Pending) -> TraceRecord {
        let req = self.steps[p.step]
            .request
            .as_ref()
            .expect("pending steps send a request");
        let session = format!("{}-{:0w$}", self.prefix, p.actor + 1, w = self.width);
        let card = TEST_CARDS[(p.actor % TEST_CARDS.len() as u64) as usize];
        TraceRecord {
            ts_us: EPOCH_US + p.at_us,
            method: req.method.clone(),
            path: req.path.clone(),
            headers: Some(req.headers(&session, card)),
            body: req.body(&session, card),
            session: Some(session),
            ..Default::default()
        }
    }
}

impl Iterator for Generator {
    type Item = TraceRecord;

    fn next(&mut self) -> Option<TraceRecord> {
        // Admit every actor that arrives before the earliest pending request.
        while let Some((t, actor)) = self.next_arrival {
            if self.heap.peek().is_some_and(|Reverse(p)| p.at_us < t) {
                break;
            }
            self.next_arrival = self.arrivals.next().map(|t| (t, actor + 1));
            self.summary.actors += 1;
            let mut rng = SmallRng::seed_from_u64(mix(self.seed ^ mix(actor)));
            if let Some(step) = self.next_step(0, &mut rng) {
                self.heap.push(Reverse(Pending {
                    at_us: t,
                    actor,
                    step,
                    rng,
                }));
                self.summary.max_pending = self.summary.max_pending.max(self.heap.len());
            }
        }
        let Reverse(mut p) = self.heap.pop()?;
        let rec = self.record(&p);
        self.summary.requests += 1;
        if self.summary.first_offset_us < 0 {
            self.summary.first_offset_us = p.at_us;
        }
        self.summary.last_offset_us = p.at_us;
        let from = self.after(p.step);
        let mut rng = p.rng.clone();
        if let Some(step) = self.next_step(from, &mut rng) {
            let pause_us = (self.think.sample(&mut rng) * 1000.0).max(0.0) as i64;
            p.at_us += pause_us;
            p.step = step;
            p.rng = rng;
            self.heap.push(Reverse(p));
        }
        Some(rec)
    }
}

/// Generates a scenario's traffic into a canonical trace at `out` (atomically), streaming.
pub fn generate_to(s: &Scenario, out: &Path) -> Result<GenerateSummary, ScenarioRunError> {
    let mut g = Generator::new(s)?;
    let mut w =
        TraceWriter::create(out, Vec::new()).map_err(|e| ScenarioRunError::Input(e.to_string()))?;
    for rec in g.by_ref() {
        w.write(&rec)
            .map_err(|e| ScenarioRunError::Failed(e.to_string()))?;
    }
    let summary = g.summary();
    let mut meta = TraceMeta::default();
    meta.other
        .insert("esr.scenario.name".into(), s.name.clone());
    meta.other
        .insert("esr.scenario.seed".into(), s.seed().to_string());
    w.finish(meta)
        .map_err(|e| ScenarioRunError::Failed(e.to_string()))?;
    Ok(summary)
}
