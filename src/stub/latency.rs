//! Latency models and the timer that waits them out.
//!
//! Models are sampled from a caller's RNG, so tests sample them directly with fixed seeds.
//! Waiting uses one timer thread for the whole process instead of tokio's timer wheel: tokio
//! rounds every sleep up to the next millisecond, which alone would spend the stub's 1 ms
//! accuracy budget. The thread wakes the waiting task (never blocks it), so thousands of
//! requests can sleep at once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rand::{Rng, RngExt};

use super::config::LatencyConfig;

/// The standard normal quantile at 0.99, for `lognormal{p50,p99}`.
pub const Z99: f64 = 2.326_347_874_040_841;

/// A checked latency model; samples are in milliseconds and never negative.
#[derive(Debug, Clone, PartialEq)]
pub enum LatencyModel {
    /// Always the same.
    Fixed(f64),
    /// Uniform on `[min, max]`.
    Uniform {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// Normal, negative draws cut to 0.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        sd: f64,
    },
    /// `exp(mu + sigma * Z)`: median `e^mu`, p99 `e^(mu + 2.326 sigma)`.
    LogNormal {
        /// Log of the median.
        mu: f64,
        /// Log-scale standard deviation.
        sigma: f64,
    },
    /// A recorded latency drawn at random (a bootstrap of the recorded distribution).
    Empirical(Vec<f64>),
}

impl LatencyModel {
    /// Checks a config model; the error is the problem, without the field (the caller adds it).
    pub fn from_config(c: &LatencyConfig) -> Result<LatencyModel, String> {
        let finite = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(v)
            } else {
                Err(format!(
                    "`{name}` must be a number of milliseconds >= 0, not `{v}`"
                ))
            }
        };
        Ok(match c {
            LatencyConfig::Fixed { ms } => LatencyModel::Fixed(finite("ms", *ms)?),
            LatencyConfig::Uniform { min_ms, max_ms } => {
                let (min, max) = (finite("min_ms", *min_ms)?, finite("max_ms", *max_ms)?);
                if max < min {
                    return Err(format!("max_ms `{max}` is below min_ms `{min}`"));
                }
                LatencyModel::Uniform { min, max }
            }
            LatencyConfig::Normal { mean_ms, sd_ms } => LatencyModel::Normal {
                mean: finite("mean_ms", *mean_ms)?,
                sd: finite("sd_ms", *sd_ms)?,
            },
            LatencyConfig::Lognormal { p50_ms, p99_ms } => {
                let (p50, p99) = (finite("p50_ms", *p50_ms)?, finite("p99_ms", *p99_ms)?);
                if p50 <= 0.0 {
                    return Err("p50_ms must be above 0 for a log-normal model".into());
                }
                if p99 < p50 {
                    return Err(format!("p99_ms `{p99}` is below p50_ms `{p50}`"));
                }
                LatencyModel::LogNormal {
                    mu: p50.ln(),
                    sigma: (p99.ln() - p50.ln()) / Z99,
                }
            }
            LatencyConfig::Empirical { samples_ms } => {
                if samples_ms.is_empty() {
                    return Err("`samples_ms` is empty; give at least one latency".into());
                }
                for v in samples_ms {
                    finite("samples_ms", *v)?;
                }
                LatencyModel::Empirical(samples_ms.clone())
            }
        })
    }

    /// Draws one latency in milliseconds.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match self {
            LatencyModel::Fixed(ms) => *ms,
            LatencyModel::Uniform { min, max } => min + (max - min) * rng.random::<f64>(),
            LatencyModel::Normal { mean, sd } => (mean + sd * std_normal(rng)).max(0.0),
            LatencyModel::LogNormal { mu, sigma } => (mu + sigma * std_normal(rng)).exp(),
            LatencyModel::Empirical(v) => v[rng.random_range(0..v.len())],
        }
    }

    /// A short description for the startup table: `uniform 50–250 ms`.
    pub fn describe(&self) -> String {
        match self {
            LatencyModel::Fixed(ms) => format!("fixed {ms} ms"),
            LatencyModel::Uniform { min, max } => format!("uniform {min}–{max} ms"),
            LatencyModel::Normal { mean, sd } => format!("normal {mean}±{sd} ms"),
            LatencyModel::LogNormal { mu, sigma } => format!(
                "lognormal p50 {:.1} p99 {:.1} ms",
                mu.exp(),
                (mu + sigma * Z99).exp()
            ),
            LatencyModel::Empirical(v) => {
                let mut s = v.clone();
                s.sort_by(f64::total_cmp);
                let q = |p: f64| s[((s.len() - 1) as f64 * p).round() as usize];
                format!(
                    "empirical p50 {:.1} p99 {:.1} ms (n={})",
                    q(0.5),
                    q(0.99),
                    s.len()
                )
            }
        }
    }
}

/// A standard normal draw (Box–Muller; one of the pair is enough here).
fn std_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // 1 - u lies in (0, 1], so the log is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Waits until `deadline` without blocking the runtime: the process's timer thread wakes
/// this task when the deadline passes.
pub async fn sleep_until(deadline: Instant) {
    if deadline <= Instant::now() {
        return;
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    timer().add(deadline, tx);
    let _ = rx.await;
}

struct Entry {
    deadline: Instant,
    seq: u64,
    tx: tokio::sync::oneshot::Sender<()>,
}
impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.deadline, self.seq) == (o.deadline, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(o.deadline, o.seq))
    }
}

struct Timer {
    queue: Mutex<(BinaryHeap<Reverse<Entry>>, u64)>,
    wake: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let t: &'static Timer = Box::leak(Box::new(Timer {
            queue: Mutex::new((BinaryHeap::new(), 0)),
            wake: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("esr-stub-timer".into())
            .spawn(move || t.run())
            .expect("the stub's timer thread starts");
        t
    })
}

impl Timer {
    fn add(&self, deadline: Instant, tx: tokio::sync::oneshot::Sender<()>) {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let earliest = q.0.peek().is_none_or(|Reverse(e)| deadline < e.deadline);
        q.1 += 1;
        let seq = q.1;
        q.0.push(Reverse(Entry { deadline, seq, tx }));
        drop(q);
        // Only a new earliest deadline changes how long the thread should sleep.
        if earliest {
            self.wake.notify_one();
        }
    }

    fn run(&self) {
        // Wake this much early rather than late: a condvar wait overshoots by ~50 µs.
        const EARLY: Duration = Duration::from_micros(20);
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let now = Instant::now();
            while q
                .0
                .peek()
                .is_some_and(|Reverse(e)| e.deadline <= now + EARLY)
            {
                if let Some(Reverse(e)) = q.0.pop() {
                    let _ = e.tx.send(()); // the request may be gone; nothing to do then
                }
            }
            q = match q.0.peek() {
                None => self.wake.wait(q).unwrap_or_else(|p| p.into_inner()),
                Some(Reverse(e)) => {
                    let wait = e.deadline.saturating_duration_since(now);
                    self.wake
                        .wait_timeout(q, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn lognormal_is_fitted_to_p50_and_p99() {
        let m = LatencyModel::from_config(&LatencyConfig::Lognormal {
            p50_ms: 40.0,
            p99_ms: 400.0,
        })
        .unwrap();
        let LatencyModel::LogNormal { mu, sigma } = m else {
            panic!("not lognormal")
        };
        assert!((mu.exp() - 40.0).abs() < 1e-9);
        assert!(((mu + sigma * Z99).exp() - 400.0).abs() < 1e-6);
    }

    #[test]
    fn bad_models_are_refused() {
        let e = LatencyModel::from_config(&LatencyConfig::Lognormal {
            p50_ms: 50.0,
            p99_ms: 10.0,
        })
        .unwrap_err();
        assert!(e.contains("below p50_ms"), "{e}");
        assert!(
            LatencyModel::from_config(&LatencyConfig::Uniform {
                min_ms: 5.0,
                max_ms: 1.0
            })
            .is_err()
        );
        assert!(
            LatencyModel::from_config(&LatencyConfig::Empirical { samples_ms: vec![] }).is_err()
        );
        assert!(LatencyModel::from_config(&LatencyConfig::Fixed { ms: -1.0 }).is_err());
    }

    #[test]
    fn normal_never_goes_negative() {
        let m = LatencyModel::Normal { mean: 1.0, sd: 5.0 };
        let mut rng = SmallRng::seed_from_u64(3);
        assert!((0..10_000).all(|_| m.sample(&mut rng) >= 0.0));
    }

    #[tokio::test]
    async fn every_sleeper_wakes_at_its_deadline() {
        // 200 sleeps at once on a current-thread runtime: all of them wake, none before its
        // deadline (less the timer's early margin). No speed is asserted.
        let start = Instant::now();
        let tasks: Vec<_> = (0..200u64)
            .map(|i| {
                let d = start + Duration::from_micros(100 * (200 - i));
                tokio::spawn(async move {
                    sleep_until(d).await;
                    Instant::now() + Duration::from_micros(20) >= d
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap());
        }
    }
}
