//! `esr replay` end to end: the real binary against an in-process HTTP server on
//! `127.0.0.1:0` that records what arrives and answers with a known behaviour.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use esr::trace::{TraceMeta, TraceRecord, TraceWriter};
use serde_json::Value;

use crate::util::{AppServer, esr, text};

/// What the server saw of one request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

/// The answer for the n-th request (0-based): status and delay.
pub type Behaviour = fn(usize) -> (u16, Duration);

/// A recording server on its own runtime; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    _server: AppServer,
}

impl Server {
    pub fn start(behaviour: Behaviour) -> Server {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let app = axum::Router::new().fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap,
                  body: axum::body::Bytes| {
                let log = log.clone();
                async move {
                    let n = {
                        let mut log = log.lock().unwrap();
                        log.push(Seen {
                            method: method.to_string(),
                            path: uri
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default(),
                            body: body.to_vec(),
                            headers: headers
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                                .collect(),
                        });
                        log.len() - 1
                    };
                    let (status, delay) = behaviour(n);
                    tokio::time::sleep(delay).await;
                    (axum::http::StatusCode::from_u16(status).unwrap(), "ok")
                }
            },
        );
        let server = AppServer::start(1, app);
        Server {
            addr: server.addr,
            seen,
            _server: server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The replayed requests (without the `/__esr/` probes esr makes at the end of a run
    /// to read a stub's fault windows).
    pub fn seen(&self) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|s| !s.path.starts_with("/__esr/"))
            .cloned()
            .collect()
    }
}

fn ok(_: usize) -> (u16, Duration) {
    (200, Duration::ZERO)
}

const T0: i64 = 1_700_000_000_000_000;

/// A trace of `n` requests `gap_us` apart; row i has path `/r/{i}`, session `s{i % 7}`
/// (every 5th row none), a body on POSTs and one header.
pub fn write_trace(dir: &Path, n: i64, gap_us: i64) -> PathBuf {
    let path = dir.join("trace.parquet");
    let mut w = TraceWriter::create(&path, vec![]).unwrap();
    for i in 0..n {
        let post = i % 3 == 0;
        w.write(&TraceRecord {
            ts_us: T0 + i * gap_us,
            method: if post { "POST" } else { "GET" }.into(),
            path: format!("/r/{i}?q={i}"),
            headers: Some(
                r#"{"x-esr-test":"yes","connection":"close","host":"prod.example"}"#.into(),
            ),
            body: post.then(|| format!("{{\"n\":{i}}}").into_bytes()),
            session: (i % 5 != 0).then(|| format!("s{}", i % 7)),
            ..Default::default()
        })
        .unwrap();
    }
    w.finish(TraceMeta::default()).unwrap();
    path
}

fn replay(dir: &Path, trace: &Path, target: &str, extra: &[&str]) -> Output {
    esr()
        .arg("replay")
        .arg(trace)
        .args(["--target", target, "--data"])
        .arg(dir.join("data"))
        .args(extra)
        .env_remove("ESR_DATA")
        .output()
        .expect("esr runs")
}

fn run_dir(dir: &Path, id: &str) -> PathBuf {
    dir.join("data/runs").join(id)
}

fn scorecard(dir: &Path, id: &str) -> Value {
    let text = std::fs::read_to_string(run_dir(dir, id).join("scorecard.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The run folder holds every file, and metrics.parquet has one row per request.
fn assert_valid_run(dir: &Path, id: &str, requests: u64) {
    let run = run_dir(dir, id);
    for f in [
        "run.json",
        "metrics.parquet",
        "scorecard.json",
        "report.html",
    ] {
        assert!(run.join(f).is_file(), "{id}/{f} missing");
    }
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["run_id"], id);
    assert_eq!(manifest["trace"]["sha256"].as_str().unwrap().len(), 64);
    let file = std::fs::File::open(run.join("metrics.parquet")).unwrap();
    let rows = parquet::file::reader::SerializedFileReader::new(file)
        .map(|r| {
            use parquet::file::reader::FileReader;
            r.metadata().file_metadata().num_rows()
        })
        .unwrap();
    assert_eq!(rows as u64, requests);
}

#[test]
fn every_request_arrives_with_its_method_path_and_body() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), 40, 10_000);
    let server = Server::start(ok);
    let out = replay(dir.path(), &trace, &server.url(), &["--speed", "4"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("RUN-0001"), "{stdout}");

    let mut seen = server.seen();
    assert_eq!(seen.len(), 40);
    seen.sort_by_key(|s| s.path.clone());
    let mut want: Vec<(String, String, Vec<u8>)> = (0..40)
        .map(|i| {
            let post = i % 3 == 0;
            (
                if post { "POST" } else { "GET" }.to_string(),
                format!("/r/{i}?q={i}"),
                if post {
                    format!("{{\"n\":{i}}}").into_bytes()
                } else {
                    vec![]
                },
            )
        })
        .collect();
    want.sort_by_key(|w| w.1.clone());
    for (s, (m, p, b)) in seen.iter().zip(&want) {
        assert_eq!((&s.method, &s.path, &s.body), (m, p, b));
        let h = |name: &str| s.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        assert_eq!(h("x-esr-test").map(String::as_str), Some("yes"));
        // Host is the target's, not the recorded one; hop-by-hop headers are not replayed.
        assert_eq!(h("host"), Some(&server.addr.to_string()));
        assert_ne!(h("connection").map(String::as_str), Some("close"));
    }

    assert_valid_run(dir.path(), "RUN-0001", 40);
    let card = scorecard(dir.path(), "RUN-0001");
    assert_eq!(card["requests"], 40);
    assert_eq!(card["intended_requests"], 40);
    assert_eq!(card["success_rate"], 100.0);
    assert_eq!(card["interrupted"], false);
}

#[test]
fn a_rate_beyond_one_lane_still_sends_every_request_exactly_once() {
    // 3,000 requests at 60,000 req/s: one dispatch lane per core splits the schedule; the
    // server must see each request once and the run must count each once.
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), 3_000, 100);
    let server = Server::start(ok);
    let out = replay(
        dir.path(),
        &trace,
        &server.url(),
        &["--rate", "60000", "--concurrency", "64"],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let mut paths: Vec<String> = server.seen().into_iter().map(|s| s.path).collect();
    paths.sort();
    let mut want: Vec<String> = (0..3_000).map(|i| format!("/r/{i}?q={i}")).collect();
    want.sort();
    assert_eq!(paths, want);
    assert_valid_run(dir.path(), "RUN-0001", 3_000);
    let card = scorecard(dir.path(), "RUN-0001");
    assert_eq!(card["requests"], 3_000);
    assert_eq!(card["completed"], 3_000);
}

fn every_tenth_fails(n: usize) -> (u16, Duration) {
    (if n % 10 == 9 { 500 } else { 200 }, Duration::ZERO)
}

fn slow_100ms(_: usize) -> (u16, Duration) {
    (200, Duration::from_millis(100))
}

#[test]
fn scorecard_matches_a_server_with_known_behaviour_and_thresholds_set_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), 100, 1_000);
    let server = Server::start(every_tenth_fails);
    let out = replay(
        dir.path(),
        &trace,
        &server.url(),
        &["--rate", "1000", "--threshold", "success>=90%"],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let card = scorecard(dir.path(), "RUN-0001");
    assert_eq!(card["success_rate"], 90.0);
    assert_eq!(card["status_counts"]["500"], 10);
    assert_eq!(card["thresholds"][0]["passed"], true);

    let out = replay(
        dir.path(),
        &trace,
        &server.url(),
        &["--rate", "1000", "--threshold", "success>=95%"],
    );
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let card = scorecard(dir.path(), "RUN-0002");
    assert_eq!(card["thresholds"][0]["passed"], false);
    assert_eq!(card["verdict"], "FAIL");

    let out = replay(
        dir.path(),
        &trace,
        &server.url(),
        &["--threshold", "p95 is small"],
    );
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
}

#[test]
fn a_fixed_100ms_server_gives_p50_near_100ms() {
    let _quiet = crate::util::timing_lock().blocking_lock();
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), 30, 10_000);
    let server = Server::start(slow_100ms);
    let out = replay(dir.path(), &trace, &server.url(), &[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let card = scorecard(dir.path(), "RUN-0001");
    let p50 = card["latency_ms"]["p50"].as_f64().unwrap();
    assert!((100.0..150.0).contains(&p50), "p50 {p50}");
    // An open model: requests 10 ms apart do not wait for 100 ms answers.
    assert_eq!(card["queued"], 0);
    assert_eq!(server.seen().len(), 30);
}

#[test]
fn the_sandbox_guard_refuses_other_hosts_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), 5, 1_000);
    let server = Server::start(ok);
    let out = replay(dir.path(), &trace, "http://10.1.2.3:8080", &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("10.1.2.3"), "{stderr}");
    let out = replay(
        dir.path(),
        &trace,
        &server.url(),
        &["--host-map", "pay.local=http://pay.example.com"],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("pay.example.com"), "{stderr}");
    assert!(server.seen().is_empty());
    assert!(!dir.path().join("data/runs").exists());
}

#[test]
fn a_duration_cut_leaves_a_valid_interrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    // 100 requests over 10 s; the cut at 1 s keeps the first 10.
    let trace = write_trace(dir.path(), 100, 100_000);
    let server = Server::start(ok);
    let out = replay(dir.path(), &trace, &server.url(), &["--duration", "1s"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_valid_run(dir.path(), "RUN-0001", 10);
    let card = scorecard(dir.path(), "RUN-0001");
    assert_eq!(card["interrupted"], true);
    assert_eq!(server.seen().len(), 10);
}

#[cfg(unix)]
#[test]
fn sigint_stops_sending_and_leaves_a_valid_interrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    // 200 requests over 20 s; interrupted after about 1 s.
    let trace = write_trace(dir.path(), 200, 100_000);
    let server = Server::start(ok);
    let child = esr()
        .arg("replay")
        .arg(&trace)
        .args(["--target", &server.url(), "--data"])
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until requests flow (bounded), then interrupt.
    for _ in 0..100 {
        if server.seen().len() >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let sent = server.seen().len() as u64;
    assert!((3..200).contains(&sent), "sent {sent}");
    assert_valid_run(dir.path(), "RUN-0001", sent);
    let card = scorecard(dir.path(), "RUN-0001");
    assert_eq!(card["interrupted"], true);
    assert_eq!(card["requests"], sent);
    assert_eq!(card["intended_requests"], 200);
}

#[test]
fn shards_partition_sessions_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), 120, 1_000);
    let server = Server::start(ok);
    let mut counts = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let out = replay(
            dir.path(),
            &trace,
            &server.url(),
            &["--rate", "2000", "--shard", &shard],
        );
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
        counts.push(server.seen().len());
    }
    let mut paths: Vec<String> = server.seen().into_iter().map(|s| s.path).collect();
    paths.sort();
    let mut want: Vec<String> = (0..120).map(|i| format!("/r/{i}?q={i}")).collect();
    want.sort();
    assert_eq!(
        paths, want,
        "the shards' union is the trace, with no overlap"
    );
    assert!(counts[0] > 0 && counts[1] > counts[0] && counts[2] > counts[1]);
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir(dir.path(), "RUN-0002").join("run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["shard"], "2/3");
}

#[test]
fn loop_and_host_map_route_and_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hosts.parquet");
    let mut w = TraceWriter::create(&path, vec![]).unwrap();
    for (i, host) in ["pay.local", "auth.local", "pay.local:443"]
        .iter()
        .enumerate()
    {
        w.write(&TraceRecord {
            ts_us: T0 + i as i64 * 10_000,
            method: "GET".into(),
            path: format!("/h/{i}"),
            host: Some(host.to_string()),
            ..Default::default()
        })
        .unwrap();
    }
    w.finish(TraceMeta::default()).unwrap();
    let main = Server::start(ok);
    let pay = Server::start(ok);
    let pay_map = format!("pay.local={}", pay.url());
    let out = replay(
        dir.path(),
        &path,
        &main.url(),
        &["--host-map", &pay_map, "--loop", "--duration", "95ms"],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    // One pass is 30 ms (20 ms span + one mean gap): passes start at 0, 30, 60 and 90 ms.
    let card = scorecard(dir.path(), "RUN-0001");
    assert_eq!(card["requests"], 10);
    assert_eq!(main.seen().len(), 3);
    assert_eq!(pay.seen().len(), 7);
}

#[test]
fn live_metrics_are_served_while_the_run_goes() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    // 40 requests over 4 s: time enough to scrape once.
    let trace = write_trace(dir.path(), 40, 100_000);
    let server = Server::start(ok);
    let mut child = esr()
        .arg("replay")
        .arg(&trace)
        .args(["--target", &server.url(), "--metrics-listen", "127.0.0.1:0"])
        .arg("--data")
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .take(50)
        .find_map(|l| {
            let start = l.find("http://")? + 7;
            let end = l[start..].find("/metrics")? + start;
            Some(l[start..end].to_string())
        })
        .expect("esr names the metrics address");
    // Keep reading stderr so the child never writes into a closed pipe.
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).count());
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    conn.read_to_string(&mut body).unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("esr_"), "{body}");
    let status = child.wait().unwrap();
    drain.join().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// An esr stub on `127.0.0.1:0`, on its own runtime.
struct Stub {
    url: String,
    handle: Option<esr::stub::StubHandle>,
    rt: tokio::runtime::Runtime,
}

impl Stub {
    fn start(config: esr::stub::StubConfig) -> Stub {
        Stub::start_at(config, None)
    }

    /// A stub whose fault clock starts at `start_unix_us`.
    fn start_at(config: esr::stub::StubConfig, start_unix_us: Option<i64>) -> Stub {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let opts = esr::stub::StubOptions {
            start_unix_us,
            ..Default::default()
        };
        let handle = rt
            .block_on(esr::stub::StubServer::spawn_with(config, opts))
            .unwrap();
        Stub {
            url: handle.url(),
            handle: Some(handle),
            rt,
        }
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown());
        }
    }
}

fn one_route(f: impl FnOnce(&mut esr::stub::RouteConfig)) -> esr::stub::StubConfig {
    let mut route = esr::stub::RouteConfig::new("*", "/r/*");
    f(&mut route);
    esr::stub::StubConfig {
        catch_all: true,
        seed: 7,
        routes: vec![route],
        faults: vec![],
    }
}

#[test]
fn against_a_stub_with_10_percent_500s_success_is_90_percent() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), 400, 1_000);
    let stub = Stub::start(one_route(|r| {
        r.error_rate = 0.10;
        r.error_status = 500;
    }));
    let out = replay(dir.path(), &trace, &stub.url, &["--rate", "2000"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let card = scorecard(dir.path(), "RUN-0001");
    let success = card["success_rate"].as_f64().unwrap();
    let fails = card["status_counts"]["500"].as_u64().unwrap();
    // The stub draws its errors at random (seeded): 10 % of 400 is 40, give or take.
    assert!((85.0..=95.0).contains(&success), "success {success}");
    assert_eq!(success, 100.0 * (400 - fails) as f64 / 400.0);
    // The stub answered the fault and stats probes, so its overhead is in the scorecard.
    assert!(card["stub_overhead_ms"].is_object(), "{card}");
}

#[test]
fn against_a_stub_with_fixed_100ms_p50_is_100ms() {
    let _quiet = crate::util::timing_lock().blocking_lock();
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), 40, 5_000);
    let stub = Stub::start(one_route(|r| {
        r.latency = Some(esr::stub::LatencyConfig::Fixed { ms: 100.0 });
    }));
    let out = replay(dir.path(), &trace, &stub.url, &["--threshold", "p50<150ms"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let card = scorecard(dir.path(), "RUN-0001");
    let p50 = card["latency_ms"]["p50"].as_f64().unwrap();
    assert!((99.0..130.0).contains(&p50), "p50 {p50}");
    let out = replay(dir.path(), &trace, &stub.url, &["--threshold", "p50<50ms"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
}

#[test]
fn a_stub_fault_window_gives_before_during_after_phases() {
    // A one-second window on the wall clock: a heavy neighbour test can shift requests out of it.
    let _quiet = crate::util::timing_lock().blocking_lock();
    let dir = tempfile::tempdir().unwrap();
    // 60 requests over 3 s; the stub fails them with 503 from 1 s to 2 s.
    let trace = write_trace(dir.path(), 60, 50_000);
    let mut config = one_route(|_| {});
    config.faults.push(esr::stub::FaultConfig {
        name: Some("R_DOWN".into()),
        route: Some("* /r/*".into()),
        at: Some("1s".into()),
        for_: Some("1s".into()),
        kind: esr::stub::FaultKind::Status,
        status: 503,
    });
    // `--start-at` puts the replay's clock on the stub's fault clock.
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
        + 1_500_000;
    let stub = Stub::start_at(config, Some(start));
    let start_at = format!("{:.6}", start as f64 / 1e6);
    let out = replay(dir.path(), &trace, &stub.url, &["--start-at", &start_at]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let card = scorecard(dir.path(), "RUN-0001");
    let phases = card["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 1, "{card}");
    assert_eq!(phases[0]["window"], "R_DOWN");
    let rate = |p: &str| phases[0][p]["success_rate"].as_f64().unwrap();
    assert!(rate("before") > 90.0 && rate("during") < 20.0 && rate("after") > 90.0);
}

#[test]
fn a_missing_trace_is_bad_input_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = replay(
        dir.path(),
        &dir.path().join("nope.parquet"),
        "http://127.0.0.1:9",
        &[],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nope.parquet"), "{stderr}");
    assert_eq!(stderr.matches("os error 2").count(), 1, "{stderr}");
}

#[test]
fn max_rps_holds_requests_back_and_counts_them_as_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), 20, 1_000);
    let server = Server::start(ok);
    let out = replay(
        dir.path(),
        &trace,
        &server.url(),
        &["--rate", "10000", "--max-rps", "100"],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let card = scorecard(dir.path(), "RUN-0001");
    assert_eq!(server.seen().len(), 20);
    assert!(card["throttled"].as_u64().unwrap() >= 15, "{card}");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir(dir.path(), "RUN-0001").join("run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["timing"]["max_rps"], 100);
}

#[test]
fn personal_data_in_the_targets_answers_counts_as_compliance_hits() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), 30, 2_000);
    // A sandbox that hands out a customer's email: every answer is a compliance hit.
    let stub = Stub::start(one_route(|r| {
        r.body = Some(serde_json::json!({"owner": "jane.doe@example.com", "ok": true}));
    }));
    let out = replay(dir.path(), &trace, &stub.url, &[]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let card = scorecard(dir.path(), "RUN-0001");
    assert_eq!(card["requests"], 30);
    assert_eq!(card["compliance_hits"], 30, "{card}");
    assert!(text(&out).0.contains("30 compliance hit(s)"));
}

#[test]
fn the_hms_preset_answers_carry_no_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hms.parquet");
    let mut w = TraceWriter::create(&path, vec![]).unwrap();
    let routes = ["/login", "/fetch_premium", "/pay", "/ach/transfer"];
    for i in 0..40i64 {
        w.write(&TraceRecord {
            ts_us: T0 + i * 1_000,
            method: "POST".into(),
            path: routes[i as usize % routes.len()].into(),
            body: Some(b"{}".to_vec()),
            ..Default::default()
        })
        .unwrap();
    }
    w.finish(TraceMeta::default()).unwrap();
    let stub = Stub::start(esr::stub::hms());
    let out = replay(dir.path(), &path, &stub.url, &[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let card = scorecard(dir.path(), "RUN-0001");
    assert_eq!(card["completed"], 40, "{card}");
    assert_eq!(card["compliance_hits"], 0, "{card}");
}
