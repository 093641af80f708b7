//! The one open-model dispatch loop. It walks the planned jobs in order, waits until each is
//! due, and hands it then to a connection worker whether or not earlier requests have
//! answered. `--concurrency` bounds the workers (requests in flight) and `--max-rps` caps the
//! rate; a request that waits for either is marked (queued, throttled), so the wait shows in
//! the scorecard instead of hiding in it.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::client::{Reply, Transport};
use super::timer::PreciseTimer;
use crate::outcome::{ErrorKind, Outcome};

/// One request of the schedule, ready to send.
pub struct Job<R> {
    /// Position in the global schedule.
    pub seq: u64,
    /// Due time, µs since the run's start.
    pub due_us: i64,
    /// Session key.
    pub session: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Endpoint template.
    pub endpoint: String,
    /// The request, or why the trace row could not become one (it is then recorded as an
    /// `other` error at its due time, without being sent).
    pub request: Result<R, &'static str>,
}

/// How the loop paces and bounds requests.
#[derive(Debug, Clone, Copy)]
pub struct DispatchConfig {
    /// Most requests in flight at once (`--concurrency`).
    pub concurrency: usize,
    /// Rate cap (`--max-rps`).
    pub max_rps: Option<NonZeroU32>,
    /// Wake at each due time with the precise timer ([`super::timer::PreciseTimer`]) instead
    /// of the runtime's 1 ms timer wheel. False for paused-time tests, whose clock only the
    /// runtime timer follows. The runtime must have its I/O driver enabled.
    pub precise: bool,
    /// The loop wakes at most once per window and then sends every job due by then, so a
    /// request may leave up to this much after its due time (its lateness says so). Zero
    /// wakes for every due time.
    pub window: Duration,
    /// After a stop, how long requests in flight may still finish (`--drain`).
    pub drain: Duration,
}

/// What the loop did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Jobs taken from the schedule and sent (or recorded as unsendable).
    pub sent: u64,
    /// Requests that waited for a free `--concurrency` slot (a free connection worker).
    pub queued: u64,
    /// Requests that waited for the `--max-rps` governor.
    pub throttled: u64,
    /// The loop stopped before the schedule's end (Ctrl-C).
    pub stopped: bool,
    /// Requests still in flight when the drain time ran out (recorded as timeouts).
    pub abandoned: u64,
    /// Personal-data hits the transport found in the target's answers.
    pub response_pii_hits: u64,
}

/// The dispatch loop's fixed parts.
pub struct Dispatcher<T: Transport> {
    /// Sends requests.
    pub transport: Arc<T>,
    /// Pacing and bounds.
    pub config: DispatchConfig,
    /// The run clock's zero.
    pub start: Instant,
    /// The runtime that runs the connection workers (the loop itself may run elsewhere).
    pub spawner: Handle,
    /// Called as each request leaves, for live progress.
    pub on_sent: Arc<dyn Fn() + Send + Sync>,
}

/// A due job handed to the workers, with what it waited for.
struct Due<R> {
    job: Job<R>,
    queued: bool,
    throttled: bool,
}

/// The hand-over between the loop and the workers: due jobs no worker has taken yet, and the
/// workers waiting for one. One lock per request; a worker is woken only when it was idle.
struct Pool<R> {
    state: Mutex<PoolState<R>>,
    /// Wakes the loop when the backlog has room again.
    room: Notify,
    /// Personal-data hits in answers, summed by the workers.
    pii: AtomicU64,
}

struct PoolState<R> {
    backlog: VecDeque<Due<R>>,
    /// Idle workers' wake-ups, most recently idle last (it is woken first: its connection is
    /// the warmest, and the others' stay unused).
    idle: Vec<Arc<Notify>>,
    /// Workers started (at most `concurrency`) and not yet ended.
    workers: usize,
    /// The loop waits for room in the backlog.
    waiting_for_room: bool,
    /// No more jobs will come: idle workers end.
    closed: bool,
}

/// Who takes a due job.
enum Hand {
    /// An idle worker, woken.
    Idle(Arc<Notify>),
    /// A new worker (fewer than `concurrency` run).
    Spawn,
    /// The backlog: every worker is busy (the job is queued).
    Queue,
    /// The backlog, which is now full: the loop waits for room.
    Full,
}

/// Due jobs that may wait for a worker before the loop itself waits (its lateness then shows
/// the wait); bounds memory when the target falls behind.
fn backlog_cap(concurrency: usize) -> usize {
    concurrency.max(256)
}

/// Jobs the loop hands out back to back before it lets the workers run.
const YIELD_EVERY: usize = 16;

/// Outcomes a worker collects before handing them to the tap in one message.
const OUTCOME_BATCH: usize = 64;

impl<R> Pool<R> {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState<R>> {
        // A worker never panics while holding the lock; recover the state if one did.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T: Transport> Dispatcher<T> {
    /// Runs the schedule in `jobs` (batches of jobs in order) until it ends or `stop` turns
    /// true, sending one [`Outcome`] per job to `outcomes` (in batches); returns once every
    /// request has answered (or, after a stop, once the drain time is over).
    ///
    /// Requests are sent by up to `concurrency` connection workers, started as needed, each
    /// keeping its connections alive from request to request. A due job goes to an idle
    /// worker, or to a new one; when all `concurrency` are busy it waits in the backlog and
    /// is marked queued (its latency still counts from its due time).
    pub async fn run(
        self,
        mut jobs: mpsc::Receiver<Vec<Job<T::Request>>>,
        outcomes: mpsc::Sender<Vec<Outcome>>,
        mut stop: watch::Receiver<bool>,
    ) -> DispatchReport {
        let concurrency = self.config.concurrency.max(1);
        let cap = backlog_cap(concurrency);
        let governor: Option<DefaultDirectRateLimiter> = self.config.max_rps.map(|n| {
            // A burst of 10 ms worth of requests absorbs timer jitter without breaking the cap.
            let burst = NonZeroU32::new((n.get() / 100).max(1)).expect("at least 1");
            RateLimiter::direct(Quota::per_second(n).allow_burst(burst))
        });
        let pool = Arc::new(Pool {
            state: Mutex::new(PoolState {
                backlog: VecDeque::new(),
                idle: Vec::new(),
                workers: 0,
                waiting_for_room: false,
                closed: false,
            }),
            room: Notify::new(),
            pii: AtomicU64::new(0),
        });
        let mut timer = self.config.precise.then(PreciseTimer::new);
        let mut last_wake: Option<Instant> = None;
        let mut burst = 0usize;
        let (hard_tx, hard_rx) = watch::channel(false);
        let mut workers = JoinSet::new();
        let mut report = DispatchReport::default();

        // Jobs come in batches, so the feed is woken once per batch rather than per request.
        let mut batch = Vec::new().into_iter();
        loop {
            let Some(job) = batch.next() else {
                tokio::select! {
                    biased;
                    _ = wait_true(&mut stop) => { report.stopped = true; break; }
                    next = jobs.recv() => match next {
                        Some(b) => { batch = b.into_iter(); continue; }
                        None => break,
                    },
                }
            };
            if *stop.borrow() {
                report.stopped = true;
                break;
            }
            let due = self.start + Duration::from_micros(job.due_us.max(0) as u64);
            if due > Instant::now() {
                // At most one wake-up per window: the jobs due meanwhile leave together, and
                // their answers tend to arrive together, so one wake-up serves several.
                let wake = last_wake.map_or(due, |w| due.max(w + self.config.window));
                if Self::wait_until(wake, &mut timer, &mut stop).await {
                    report.stopped = true;
                    break;
                }
                last_wake = Some(Instant::now());
                burst = 0;
            }
            let mut throttled = false;
            if let Some(g) = &governor
                && g.check().is_err()
            {
                throttled = true;
                g.until_ready().await;
            }
            report.sent += 1;
            report.throttled += u64::from(throttled);

            // Under the lock: who takes the job. Outside it: the wake-up, spawn or wait.
            let hand = {
                let mut st = pool.lock();
                let hand = if let Some(w) = st.idle.pop() {
                    Hand::Idle(w)
                } else if st.workers < concurrency {
                    st.workers += 1;
                    Hand::Spawn
                } else {
                    Hand::Queue
                };
                let queued = matches!(hand, Hand::Queue);
                st.backlog.push_back(Due {
                    job,
                    queued,
                    throttled,
                });
                st.waiting_for_room = queued && st.backlog.len() >= cap;
                if st.waiting_for_room {
                    Hand::Full
                } else {
                    hand
                }
            };
            match hand {
                Hand::Idle(w) => w.notify_one(),
                Hand::Spawn => {
                    workers.spawn_on(
                        worker(
                            pool.clone(),
                            self.transport.clone(),
                            self.start,
                            self.on_sent.clone(),
                            outcomes.clone(),
                            hard_rx.clone(),
                        ),
                        &self.spawner,
                    );
                }
                Hand::Queue => report.queued += 1,
                Hand::Full => {
                    report.queued += 1;
                    tokio::select! {
                        biased;
                        _ = wait_true(&mut stop) => { report.stopped = true; break; }
                        _ = pool.room.notified() => {}
                    }
                }
            }
            // Behind schedule (after a stall) every job is already due and the loop never
            // waits. The workers may share its thread: let them send what they were handed
            // and take the next jobs themselves, rather than the loop handing out hundreds
            // and starting a worker (a connection) for each.
            burst += 1;
            if burst >= YIELD_EVERY {
                burst = 0;
                tokio::task::yield_now().await;
            }
        }
        drop(jobs);

        // The schedule is over: idle workers end, busy ones end once the backlog is empty.
        let close = |pool: &Pool<T::Request>, report: &mut DispatchReport, drop_backlog: bool| {
            let mut st = pool.lock();
            if drop_backlog {
                // Stopped: jobs no worker has taken were never sent.
                report.sent -= st.backlog.len() as u64;
                report.queued -= st.backlog.iter().filter(|d| d.queued).count() as u64;
                report.throttled -= st.backlog.iter().filter(|d| d.throttled).count() as u64;
                st.backlog.clear();
            }
            st.closed = true;
            for w in st.idle.drain(..) {
                w.notify_one();
            }
        };
        let stopped = report.stopped;
        close(&pool, &mut report, stopped);
        // A stop while the last answers come in starts the drain.
        if !report.stopped {
            tokio::select! {
                biased;
                _ = join_all(&mut workers) => {}
                _ = wait_true(&mut stop) => report.stopped = true,
            }
        }
        if report.stopped {
            close(&pool, &mut report, true);
            let drained = tokio::time::timeout(self.config.drain, join_all(&mut workers)).await;
            if drained.is_err() {
                report.abandoned = pool.lock().workers as u64;
                let _ = hard_tx.send(true);
            }
        }
        join_all(&mut workers).await;
        report.response_pii_hits = pool.pii.load(Ordering::Relaxed);
        report
    }

    /// Waits until `due` (on the precise timer when there is one). True when `stop` fired
    /// first.
    async fn wait_until(
        due: Instant,
        timer: &mut Option<PreciseTimer>,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        if due <= Instant::now() {
            return false;
        }
        tokio::select! {
            biased;
            _ = wait_true(stop) => true,
            _ = async {
                match timer {
                    Some(t) => t.sleep_until(due).await,
                    None => tokio::time::sleep_until(due).await,
                }
            } => false,
        }
    }
}

/// One connection worker: takes due jobs from the pool until it is closed and empty, sends
/// each on its own kept-alive connections, and hands outcomes to the tap in batches.
async fn worker<T: Transport>(
    pool: Arc<Pool<T::Request>>,
    transport: Arc<T>,
    start: Instant,
    on_sent: Arc<dyn Fn() + Send + Sync>,
    outcomes: mpsc::Sender<Vec<Outcome>>,
    mut hard: watch::Receiver<bool>,
) {
    let me = Arc::new(Notify::new());
    let mut conn = T::Conn::default();
    let mut done = Vec::with_capacity(OUTCOME_BATCH);
    let mut pii = 0u64;
    transport.warm(&mut conn).await;
    loop {
        let next = {
            let mut st = pool.lock();
            match st.backlog.pop_front() {
                Some(d) => {
                    if st.waiting_for_room {
                        st.waiting_for_room = false;
                        pool.room.notify_one();
                    }
                    Some(d)
                }
                None if st.closed => {
                    st.workers -= 1;
                    break;
                }
                None => {
                    st.idle.push(me.clone());
                    None
                }
            }
        };
        let Some(Due {
            job,
            queued,
            throttled,
        }) = next
        else {
            // Going idle: what this worker has done reaches the tap now.
            flush(&outcomes, &mut done, &pool, &mut pii).await;
            me.notified().await;
            continue;
        };
        let sent = Instant::now();
        let reply = match job.request {
            Ok(req) => {
                on_sent();
                tokio::select! {
                    r = transport.send(&mut conn, req) => r,
                    _ = wait_true(&mut hard) => Reply::failed(ErrorKind::Timeout),
                }
            }
            Err(_) => Reply::failed(ErrorKind::Other),
        };
        let done_at = Instant::now();
        pii += u64::from(reply.pii_hits);
        done.push(Outcome {
            seq: job.seq,
            session: job.session,
            method: job.method,
            path: job.path,
            endpoint: job.endpoint,
            due_us: job.due_us,
            sent_us: since(start, sent),
            done_us: since(start, done_at),
            status: reply.status,
            error: reply.error,
            bytes: reply.bytes,
            body_sha256: reply.body_sha256,
            queued,
            throttled,
        });
        if done.len() >= OUTCOME_BATCH {
            flush(&outcomes, &mut done, &pool, &mut pii).await;
        }
    }
    flush(&outcomes, &mut done, &pool, &mut pii).await;
}

async fn flush<R>(
    outcomes: &mpsc::Sender<Vec<Outcome>>,
    done: &mut Vec<Outcome>,
    pool: &Pool<R>,
    pii: &mut u64,
) {
    if *pii > 0 {
        pool.pii.fetch_add(std::mem::take(pii), Ordering::Relaxed);
    }
    if done.is_empty() {
        return;
    }
    let batch = std::mem::replace(done, Vec::with_capacity(OUTCOME_BATCH));
    // The aggregator only goes away when the whole run is torn down.
    let _ = outcomes.send(batch).await;
}

async fn join_all(tasks: &mut JoinSet<()>) {
    while tasks.join_next().await.is_some() {}
}

/// µs from `start` to `t`.
fn since(start: Instant, t: Instant) -> i64 {
    t.saturating_duration_since(start).as_micros() as i64
}

/// Resolves once the flag is true; never, if its sender is gone while it is false.
async fn wait_true(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transport that answers 200 after a fixed time on the (paused) tokio clock.
    struct Fixed(Duration);

    impl Transport for Fixed {
        type Request = ();
        type Conn = ();
        async fn send(&self, _: &mut (), _: ()) -> Reply {
            tokio::time::sleep(self.0).await;
            Reply {
                status: 200,
                error: None,
                bytes: 2,
                body_sha256: None,
                pii_hits: 1,
            }
        }
    }

    fn job(seq: u64, due_us: i64) -> Job<()> {
        Job {
            seq,
            due_us,
            session: None,
            method: "GET".into(),
            path: "/".into(),
            endpoint: "/".into(),
            request: Ok(()),
        }
    }

    fn config(concurrency: usize) -> DispatchConfig {
        DispatchConfig {
            concurrency,
            max_rps: None,
            precise: false,
            window: Duration::ZERO,
            drain: Duration::from_secs(5),
        }
    }

    /// Runs `jobs` through a dispatcher whose requests take `latency`; returns the outcomes
    /// by seq and the report. `stop_after` flips the stop flag at that point of the run.
    async fn drive(
        jobs: Vec<Job<()>>,
        latency: Duration,
        cfg: DispatchConfig,
        stop_after: Option<Duration>,
    ) -> (Vec<Outcome>, DispatchReport) {
        let (jtx, jrx) = mpsc::channel(4);
        let (otx, mut orx) = mpsc::channel(1024);
        let (stop_tx, stop_rx) = watch::channel(false);
        let d = Dispatcher {
            transport: Arc::new(Fixed(latency)),
            config: cfg,
            start: Instant::now(),
            spawner: Handle::current(),
            on_sent: Arc::new(|| {}),
        };
        tokio::spawn(async move {
            for j in jobs {
                if jtx.send(vec![j]).await.is_err() {
                    break;
                }
            }
        });
        if let Some(after) = stop_after {
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let _ = stop_tx.send(true);
            });
        } else {
            std::mem::forget(stop_tx);
        }
        let report = d.run(jrx, otx, stop_rx).await;
        let mut out = Vec::new();
        while let Some(b) = orx.recv().await {
            out.extend(b);
        }
        out.sort_by_key(|o| o.seq);
        (out, report)
    }

    #[tokio::test(start_paused = true)]
    async fn sends_on_time_without_waiting_for_answers() {
        // Requests every 10 ms, each answered after 1 s: an open model sends all on time.
        let jobs = (0..50).map(|i| job(i, i as i64 * 10_000)).collect();
        let (out, report) = drive(jobs, Duration::from_secs(1), config(1000), None).await;
        assert_eq!(out.len(), 50);
        assert_eq!(report.sent, 50);
        for o in &out {
            assert_eq!(o.sent_us, o.due_us, "seq {} sent late", o.seq);
            assert_eq!(o.latency_us(), 1_000_000);
            assert!(!o.queued && !o.throttled);
            assert!(o.is_success());
        }
        assert!(!report.stopped);
        // Every answer's personal-data hits (one each) reach the report.
        assert_eq!(report.response_pii_hits, 50);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wake_up_window_sends_what_fell_due_together_never_early() {
        // Due every 100 µs, a 1 ms window: the loop wakes at most once per ms and sends all
        // that fell due; no request leaves before its due time or more than a window after.
        let jobs = (0..50).map(|i| job(i, 1_000 + i as i64 * 100)).collect();
        let mut cfg = config(100);
        cfg.window = Duration::from_millis(1);
        let (out, report) = drive(jobs, Duration::from_millis(1), cfg, None).await;
        assert_eq!(report.sent, 50);
        for o in &out {
            assert!(o.lateness_us() >= 0, "seq {} sent early", o.seq);
            assert!(
                o.lateness_us() <= 1_000,
                "seq {} late by more than the window",
                o.seq
            );
        }
        let mut sends: Vec<i64> = out.iter().map(|o| o.sent_us).collect();
        sends.dedup();
        assert!(
            sends.len() <= 6,
            "{} wake-ups for 5 ms of requests",
            sends.len()
        );
        // The latency from due includes the wait for the window.
        assert!(
            out.iter()
                .all(|o| o.latency_us() == o.lateness_us() + 1_000)
        );
    }

    /// Counts the requests each worker's connection state has carried, as the reply's bytes.
    struct Counting;

    impl Transport for Counting {
        type Request = ();
        type Conn = u64;
        async fn send(&self, conn: &mut u64, _: ()) -> Reply {
            *conn += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
            Reply {
                status: 200,
                error: None,
                bytes: *conn,
                body_sha256: None,
                pii_hits: 0,
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_worker_keeps_its_connection_for_the_next_request() {
        // Answers take 1 ms, requests come every 10 ms: one worker carries them all.
        let (jtx, jrx) = mpsc::channel(4);
        let (otx, mut orx) = mpsc::channel(64);
        let (_stop_tx, stop_rx) = watch::channel(false);
        let d = Dispatcher {
            transport: Arc::new(Counting),
            config: config(64),
            start: Instant::now(),
            spawner: Handle::current(),
            on_sent: Arc::new(|| {}),
        };
        jtx.send((0..20).map(|i| job(i, i as i64 * 10_000)).collect())
            .await
            .unwrap();
        drop(jtx);
        let report = d.run(jrx, otx, stop_rx).await;
        let mut bytes = Vec::new();
        while let Some(b) = orx.recv().await {
            bytes.extend(b.into_iter().map(|o| o.bytes));
        }
        assert_eq!(report.sent, 20);
        assert_eq!(bytes, (1..=20).collect::<Vec<u64>>());
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_concurrency_bound_queues_and_shows_in_latency() {
        // One slot, 100 ms answers, requests due every 10 ms: each waits for the previous one.
        let jobs = (0..5).map(|i| job(i, i as i64 * 10_000)).collect();
        let (out, report) = drive(jobs, Duration::from_millis(100), config(1), None).await;
        assert_eq!(report.queued, 4);
        let sent: Vec<i64> = out.iter().map(|o| o.sent_us).collect();
        assert_eq!(sent, [0, 100_000, 200_000, 300_000, 400_000]);
        // Latency from the due time includes the wait; service time does not.
        assert_eq!(out[4].latency_us(), 500_000 - 40_000);
        assert_eq!(out[4].service_us(), 100_000);
        assert!(out[1..].iter().all(|o| o.queued));
    }

    #[tokio::test(start_paused = true)]
    async fn stop_ends_sending_and_drains_in_flight_requests() {
        let jobs = (0..100).map(|i| job(i, i as i64 * 100_000)).collect();
        let (out, report) = drive(
            jobs,
            Duration::from_millis(250),
            config(100),
            Some(Duration::from_millis(1_050)),
        )
        .await;
        assert!(report.stopped);
        // Due at 0, 100, ..., 1000 ms: 11 sent before the stop, each answered in the drain.
        assert_eq!(report.sent, 11);
        assert_eq!(out.len(), 11);
        assert!(out.iter().all(|o| o.is_success()));
        assert_eq!(report.abandoned, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_past_the_drain_are_recorded_as_timeouts() {
        let jobs = (0..3).map(|i| job(i, i as i64 * 1_000)).collect();
        let mut cfg = config(10);
        cfg.drain = Duration::from_millis(100);
        let (out, report) = drive(
            jobs,
            Duration::from_secs(60),
            cfg,
            Some(Duration::from_millis(10)),
        )
        .await;
        assert_eq!(report.abandoned, 3);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|o| o.error == Some(ErrorKind::Timeout)));
        assert!(out.iter().all(|o| o.done_us == 110_000));
    }

    #[tokio::test(start_paused = true)]
    async fn unsendable_rows_become_other_errors() {
        let mut bad = job(0, 0);
        bad.request = Err("invalid method");
        let (out, report) = drive(vec![bad, job(1, 5)], Duration::ZERO, config(4), None).await;
        assert_eq!(report.sent, 2);
        assert_eq!(out[0].error, Some(ErrorKind::Other));
        assert!(out[1].is_success());
    }
}
