//! The replay engine's own costs: planning the schedule, the dispatch loop (with a transport
//! that answers at once, so only the loop, its workers and the outcome channel count; alone
//! and in the replay's lanes), and the tap's cost per recorded request.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use esr::outcome::Outcome;
use esr::replay::{
    DispatchConfig, Dispatcher, Job, Reply, RowKey, Schedule, ScheduleOptions, Shard, Timing,
    TraceSpan, Transport, run_lanes,
};
use esr::tap::Tap;

const T0: i64 = 1_700_000_000_000_000;

pub fn schedule(c: &mut Criterion) {
    let sessions: Vec<String> = (0..1000).map(|i| format!("s{i}")).collect();
    let rows: Vec<RowKey<'_>> = (0..100_000)
        .map(|i| RowKey {
            ts_us: T0 + i as i64 * 200,
            session: Some(sessions[i % 1000].as_str()),
        })
        .collect();
    let span = TraceSpan {
        first_ts_us: T0,
        last_ts_us: rows[rows.len() - 1].ts_us,
        rows: rows.len() as u64,
    };
    let mut g = c.benchmark_group("replay_schedule");
    g.throughput(Throughput::Elements(rows.len() as u64));
    for (name, timing, shard) in [
        ("scaled_100k", Timing::Scaled { speed: 10.0 }, None),
        (
            "fixed_rate_shard_2_of_4_100k",
            Timing::FixedRate { rps: 5000.0 },
            Some(Shard { index: 2, count: 4 }),
        ),
    ] {
        let s = Schedule::new(
            ScheduleOptions {
                timing,
                looped: false,
                duration_us: None,
                shard,
            },
            span,
        );
        g.bench_function(name, |b| b.iter(|| s.plan(&rows).count()));
    }
    g.finish();
}

/// Answers at once: the bench measures esr's loop, not a server.
struct Instant200;

impl Transport for Instant200 {
    type Request = ();
    type Conn = ();
    async fn send(&self, _: &mut (), _: ()) -> Reply {
        Reply {
            status: 200,
            error: None,
            bytes: 0,
            body_sha256: None,
            pii_hits: 0,
        }
    }
}

fn outcome(seq: u64) -> Outcome {
    Outcome {
        seq,
        session: Some(format!("s{}", seq % 100)),
        method: "GET".into(),
        path: format!("/users/{seq}"),
        endpoint: "/users/{id}".into(),
        due_us: seq as i64 * 20,
        sent_us: seq as i64 * 20 + 50,
        done_us: seq as i64 * 20 + 400,
        status: 200,
        error: None,
        bytes: 120,
        body_sha256: Some([7; 32]),
        queued: false,
        throttled: false,
    }
}

pub fn dispatch(c: &mut Criterion) {
    let n = 20_000u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("replay_dispatch");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    // `all_due_now_20k`: the loop alone on the caller's runtime (no timer, no window).
    // `lanes_N_20k`: the replay's own set-up, each lane a thread whose runtime also runs its
    // workers, with the precise timer and the 1 ms window (every job is due at once).
    for (name, lanes) in [
        ("all_due_now_20k", None),
        ("lanes_1_20k", Some(1)),
        ("lanes_2_20k", Some(2)),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let (jtx, jrx) = tokio::sync::mpsc::channel(64);
                    let (otx, mut orx) = tokio::sync::mpsc::channel::<Vec<Outcome>>(1024);
                    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
                    let d = Dispatcher {
                        transport: Arc::new(Instant200),
                        config: DispatchConfig {
                            concurrency: 1024,
                            max_rps: None,
                            precise: lanes.is_some(),
                            window: lanes.map_or(Duration::ZERO, |_| Duration::from_millis(1)),
                            drain: Duration::from_secs(1),
                        },
                        start: tokio::time::Instant::now(),
                        spawner: tokio::runtime::Handle::current(),
                        on_sent: Arc::new(|| {}),
                    };
                    let feed = tokio::spawn(async move {
                        for first in (0..n).step_by(256) {
                            let batch = (first..(first + 256).min(n))
                                .map(|seq| {
                                    let o = outcome(seq);
                                    Job {
                                        seq,
                                        due_us: 0,
                                        session: o.session,
                                        method: o.method,
                                        path: o.path,
                                        endpoint: o.endpoint,
                                        request: Ok(()),
                                    }
                                })
                                .collect();
                            if jtx.send(batch).await.is_err() {
                                break;
                            }
                        }
                    });
                    let drain = tokio::spawn(async move {
                        let mut k = 0u64;
                        while let Some(b) = orx.recv().await {
                            k += b.len() as u64;
                        }
                        k
                    });
                    let report = match lanes {
                        None => d.run(jrx, otx, stop_rx).await,
                        Some(l) => run_lanes(d, l, jrx, otx, stop_rx).await.unwrap(),
                    };
                    feed.await.unwrap();
                    assert_eq!(drain.await.unwrap(), report.sent);
                })
            })
        });
    }
    g.finish();
}

pub fn tap(c: &mut Criterion) {
    let n = 50_000u64;
    let outcomes: Vec<Outcome> = (0..n).map(outcome).collect();
    let mut g = c.benchmark_group("replay_tap");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    g.bench_function("record_and_finish_50k", |b| {
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut tap = Tap::create(dir.path()).unwrap();
            for o in &outcomes {
                tap.record(o).unwrap();
            }
            tap.finish().unwrap().counts
        })
    });
    g.finish();
}
