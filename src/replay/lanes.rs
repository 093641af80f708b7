//! Where the dispatch loop runs: on a thread of its own whose current-thread runtime also
//! drives its connection workers (a lane), or on several lanes when one thread cannot keep
//! up with the intended rate. Lanes split the schedule by feed batch and keep the one run
//! clock, so together they send exactly what one loop would, when it would.

use tokio::sync::{mpsc, watch};

use super::ReplayError;
use super::client::Transport;
use super::dispatcher::{DispatchConfig, DispatchReport, Dispatcher, Job};
use crate::outcome::Outcome;

/// Intended requests per second one lane is given before a second lane starts.
pub const LANE_RATE: f64 = 20_000.0;

/// Lanes for a schedule of `rate` intended requests per second: one per [`LANE_RATE`], at
/// most one per core. A rate cap keeps one lane, so the governor stays exact.
pub fn lanes_for(rate: f64, capped: bool) -> usize {
    if capped || !rate.is_finite() {
        return 1;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    ((rate / LANE_RATE).ceil() as usize).clamp(1, cores)
}

/// Runs the dispatch loop on a thread of its own, with a current-thread runtime that also
/// runs its connection workers (`Dispatcher::spawner` is replaced by that runtime's handle).
/// Handing a due request to a worker, the worker's send and its answer then all happen on
/// one thread that sleeps in one `epoll_wait` (timer and sockets): no cross-thread wake-up,
/// no work-stealing, no lock contention per request. On a 2-core machine the thread pool's
/// wake-ups cost more CPU than the requests themselves.
pub async fn run_on_own_thread<T: super::Transport>(
    mut d: Dispatcher<T>,
    jobs: mpsc::Receiver<Vec<super::Job<T::Request>>>,
    outcomes: mpsc::Sender<Vec<Outcome>>,
    stop: watch::Receiver<bool>,
) -> Result<DispatchReport, ReplayError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ReplayError::Io(format!("cannot start the dispatch runtime: {e}")))?;
    d.spawner = rt.handle().clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("esr-dispatch".into())
        .spawn(move || {
            let _ = tx.send(rt.block_on(d.run(jobs, outcomes, stop)));
        })
        .map_err(|e| ReplayError::Io(format!("cannot start the dispatch thread: {e}")))?;
    rx.await
        .map_err(|_| ReplayError::Io("the dispatch thread panicked".into()))
}

/// Runs the schedule in `jobs` on `lanes` dispatch threads (see [`run_on_own_thread`]):
/// feed batch k goes to lane k mod `lanes`; every lane keeps `d.start` as its clock and gets
/// an equal share of `--concurrency` (rounded down, at least one), so the bound holds for
/// the whole run. `d.config.max_rps` must be `None` when `lanes > 1`. The reports add up.
pub async fn run_lanes<T: Transport>(
    d: Dispatcher<T>,
    lanes: usize,
    mut jobs: mpsc::Receiver<Vec<Job<T::Request>>>,
    outcomes: mpsc::Sender<Vec<Outcome>>,
    stop: watch::Receiver<bool>,
) -> Result<DispatchReport, ReplayError> {
    if lanes <= 1 || d.config.max_rps.is_some() {
        return run_on_own_thread(d, jobs, outcomes, stop).await;
    }
    let mut senders = Vec::with_capacity(lanes);
    let mut runs = Vec::with_capacity(lanes);
    for _ in 0..lanes {
        let (tx, rx) = mpsc::channel(LANE_QUEUE);
        senders.push(tx);
        let lane = Dispatcher {
            transport: d.transport.clone(),
            config: DispatchConfig {
                concurrency: (d.config.concurrency / lanes).max(1),
                ..d.config
            },
            start: d.start,
            spawner: d.spawner.clone(),
            on_sent: d.on_sent.clone(),
        };
        runs.push(tokio::spawn(run_on_own_thread(
            lane,
            rx,
            outcomes.clone(),
            stop.clone(),
        )));
    }
    drop(outcomes);
    // One hop per batch of jobs (hundreds), not per request.
    let split = tokio::spawn(async move {
        let mut k = 0usize;
        while let Some(batch) = jobs.recv().await {
            if senders[k % senders.len()].send(batch).await.is_err() {
                break;
            }
            k += 1;
        }
    });
    let mut total = DispatchReport::default();
    for run in runs {
        let r = run
            .await
            .map_err(|_| ReplayError::Io("a dispatch lane panicked".into()))??;
        total.sent += r.sent;
        total.queued += r.queued;
        total.throttled += r.throttled;
        total.abandoned += r.abandoned;
        total.response_pii_hits += r.response_pii_hits;
        total.stopped |= r.stopped;
    }
    split.abort();
    Ok(total)
}

/// Batches of jobs queued per lane.
const LANE_QUEUE: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::Reply;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio::time::Instant;

    /// Answers after 1 ms and remembers the most requests it ever had in flight at once.
    #[derive(Default)]
    struct InFlight {
        now: AtomicUsize,
        most: AtomicUsize,
    }

    impl Transport for InFlight {
        type Request = ();
        type Conn = ();
        async fn send(&self, _: &mut (), _: ()) -> Reply {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(n, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            Reply {
                status: 200,
                error: None,
                bytes: 0,
                body_sha256: None,
                pii_hits: 1,
            }
        }
    }

    #[tokio::test]
    async fn lanes_send_every_job_once_within_the_concurrency_bound() {
        let transport = Arc::new(InFlight::default());
        let d = Dispatcher {
            transport: transport.clone(),
            config: DispatchConfig {
                concurrency: 8,
                max_rps: None,
                precise: true,
                window: Duration::from_millis(1),
                drain: Duration::from_secs(5),
            },
            start: Instant::now(),
            spawner: tokio::runtime::Handle::current(),
            on_sent: Arc::new(|| {}),
        };
        let (jtx, jrx) = mpsc::channel(4);
        let (otx, mut orx) = mpsc::channel(1024);
        let (_stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            for b in 0..20u64 {
                let batch = (b * 25..(b + 1) * 25)
                    .map(|seq| Job {
                        seq,
                        due_us: seq as i64 * 20,
                        session: None,
                        method: "GET".into(),
                        path: "/".into(),
                        endpoint: "/".into(),
                        request: Ok(()),
                    })
                    .collect();
                if jtx.send(batch).await.is_err() {
                    break;
                }
            }
        });
        let report = run_lanes(d, 2, jrx, otx, stop_rx).await.unwrap();
        let mut seqs = Vec::new();
        while let Some(b) = orx.recv().await {
            for o in b {
                assert!(o.lateness_us() >= 0, "seq {} sent early", o.seq);
                seqs.push(o.seq);
            }
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (0..500).collect::<Vec<u64>>());
        assert_eq!(report.sent, 500);
        assert_eq!(report.response_pii_hits, 500);
        assert!(transport.most.load(Ordering::SeqCst) <= 8);
        // 500 requests due within 10 ms, answered after 1 ms, 8 at a time: most waited.
        assert!(report.queued > 0);
    }

    #[test]
    fn one_lane_below_the_lane_rate_or_with_a_rate_cap() {
        assert_eq!(lanes_for(5_000.0, false), 1);
        assert_eq!(lanes_for(50_000.0, true), 1);
        assert_eq!(lanes_for(f64::INFINITY, false), 1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(lanes_for(50_000.0, false), cores.min(3));
    }
}
