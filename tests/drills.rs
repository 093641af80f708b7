//! Failure drills: the real `esr replay` binary while things go wrong around it. The target
//! dies mid-run, the target hangs, the disk fills while metrics are written, SIGTERM arrives.
//! Each drill checks that the run ends, bounded, with a truthful record of what happened.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::replay::{Server, write_trace};
use crate::util::{esr, text};

fn ok(_: usize) -> (u16, Duration) {
    (200, Duration::ZERO)
}

/// `esr replay TRACE --target URL --data DIR/data EXTRA...`, not yet started.
fn replay_cmd(dir: &Path, trace: &Path, target: &str, extra: &[&str]) -> Command {
    let mut c = esr();
    c.arg("replay")
        .arg(trace)
        .args(["--target", target, "--data"])
        .arg(dir.join("data"))
        .args(extra)
        .env_remove("ESR_DATA")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn run_dir(dir: &Path) -> PathBuf {
    dir.join("data/runs/RUN-0001")
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// The files of a run folder, sorted.
fn files(run: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Rows in a run's `metrics.parquet`.
fn metric_rows(run: &Path) -> u64 {
    use parquet::file::reader::FileReader;
    let file = std::fs::File::open(run.join("metrics.parquet")).unwrap();
    let r = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    r.metadata().file_metadata().num_rows() as u64
}

/// A complete run: every file there, no failure marker, as many metric rows as requests.
fn assert_complete(run: &Path, requests: u64) -> Value {
    for f in [
        "run.json",
        "metrics.parquet",
        "scorecard.json",
        "report.html",
    ] {
        assert!(run.join(f).is_file(), "{f} missing: {:?}", files(run));
    }
    assert!(!run.join("FAILED").exists());
    let card = json(&run.join("scorecard.json"));
    assert_eq!(card["requests"], requests);
    assert_eq!(metric_rows(run), requests);
    card
}

fn count(card: &Value, key: &str) -> u64 {
    card["errors"][key].as_u64().unwrap_or(0)
}

/// Waits (bounded) until `f` holds.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: &str) {
    let sent = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[test]
fn the_target_dying_mid_run_counts_connect_errors_and_the_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    // 200 requests over 4 s; the target goes away after the first 20.
    let trace = write_trace(dir.path(), 200, 20_000);
    let server = Server::start(ok);
    let child = replay_cmd(dir.path(), &trace, &server.url(), &["--timeout", "2s"])
        .spawn()
        .unwrap();
    wait_until("20 requests", || server.seen().len() >= 20);
    let seen = server.seen.clone();
    drop(server); // its runtime and listening socket go with it
    let answered = seen.lock().unwrap().len() as u64;
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    let card = assert_complete(&run_dir(dir.path()), 200);
    assert_eq!(card["interrupted"], false);
    let connect = count(&card, "connect");
    assert!(connect > 0, "no connect errors: {}", card["errors"]);
    let transport: u64 = ["connect", "timeout", "reset", "body", "other"]
        .iter()
        .map(|k| count(&card, k))
        .sum();
    let completed = card["completed"].as_u64().unwrap();
    assert_eq!(completed + transport, 200, "every request accounted for");
    // Requests the server took in just before it went may have lost their answers with it.
    assert!((1..=answered).contains(&completed), "answered {answered}");
    assert_eq!(card["status_counts"]["0"], transport);
}

/// A target that accepts connections and never answers. Records when each connection was
/// accepted (relative to the first); stops accepting when dropped.
struct Hang {
    url: String,
    accepted: Arc<Mutex<Vec<Duration>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hang {
    fn start() -> Hang {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, halt) = (accepted.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut first = None;
            let mut held = Vec::new();
            while !halt.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let t0 = *first.get_or_insert_with(Instant::now);
                        log.lock().unwrap().push(t0.elapsed());
                        // Read the request so the client is not blocked writing; never reply.
                        conn.set_nonblocking(true).unwrap();
                        let _ = conn.read(&mut [0u8; 4096]);
                        held.push(conn);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Hang {
            url,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    fn accepted(&self) -> Vec<Duration> {
        self.accepted.lock().unwrap().clone()
    }
}

impl Drop for Hang {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_hanging_target_gives_timeouts_and_in_flight_stays_within_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    // 12 requests due within 60 ms; 3 slots, each held for the 600 ms timeout: 4 waves.
    let trace = write_trace(dir.path(), 12, 5_000);
    let hang = Hang::start();
    let began = Instant::now();
    let out = replay_cmd(
        dir.path(),
        &trace,
        &hang.url,
        &["--concurrency", "3", "--timeout", "600ms"],
    )
    .output()
    .unwrap();
    let took = began.elapsed();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    let card = assert_complete(&run_dir(dir.path()), 12);
    assert_eq!(count(&card, "timeout"), 12, "{}", card["errors"]);
    assert_eq!(card["completed"], 0);
    // 12 due at once, 3 slots: at least the first request of each later wave waited for a
    // slot (a request finding a slot just freed by a timeout did not), and the card says so.
    let queued = card["queued"].as_u64().unwrap();
    assert!((3..=9).contains(&queued), "queued {queued}");
    // Before the first timeout could free a slot, the target saw no more than 3 connections.
    let accepted = hang.accepted();
    let early = accepted
        .iter()
        .filter(|t| **t < Duration::from_millis(300))
        .count();
    assert!((1..=3).contains(&early), "accepted early: {accepted:?}");
    // Bounded: 4 waves of 600 ms, far below the request count times the default timeout.
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[cfg(unix)]
#[test]
fn sigterm_against_a_hanging_target_drains_within_the_drain_time() {
    let dir = tempfile::tempdir().unwrap();
    // 100 requests over 10 s against a target that never answers, with a 60 s timeout: only
    // the drain bound can end this run early.
    let trace = write_trace(dir.path(), 100, 100_000);
    let hang = Hang::start();
    let child = replay_cmd(
        dir.path(),
        &trace,
        &hang.url,
        &["--timeout", "60s", "--drain", "1s", "--concurrency", "8"],
    )
    .spawn()
    .unwrap();
    wait_until("3 connections", || hang.accepted().len() >= 3);
    let sent_at = Instant::now();
    signal(&child, "-TERM");
    let out = child.wait_with_output().unwrap();
    let took = sent_at.elapsed();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    // The drain is 1 s; writing the run takes a moment more, never the 60 s timeout.
    assert!(took < Duration::from_secs(30), "took {took:?}");

    let run = run_dir(dir.path());
    let card = json(&run.join("scorecard.json"));
    let requests = card["requests"].as_u64().unwrap();
    assert_complete(&run, requests);
    assert_eq!(card["interrupted"], true);
    assert!(
        (3..=8).contains(&requests),
        "in flight when stopped: {requests}"
    );
    assert_eq!(count(&card, "timeout"), requests, "abandoned = timeouts");
}

/// Runs `esr replay` with writes capped at `blocks` (512 bytes each, `ulimit -f`) and SIGXFSZ
/// ignored, so a write past the cap fails with EFBIG as it would on a full disk.
pub fn replay_with_file_cap(blocks: u32, dir: &Path, trace: &Path, target: &str) -> Output {
    let script = format!("trap '' XFSZ; ulimit -f {blocks} && exec \"$0\" \"$@\"");
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_esr"))
        .arg("replay")
        .arg(trace)
        .args(["--target", target, "--rate", "4000", "--data"])
        .arg(dir.join("data"))
        .env_remove("ESR_DATA");
    c.output().unwrap()
}

#[cfg(unix)]
#[test]
fn a_full_disk_while_metrics_are_written_fails_the_run_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    // 4,000 rows of metrics are far more than 64 blocks; run.json is far less.
    let trace = write_trace(dir.path(), 4_000, 1_000);
    let server = Server::start(ok);
    let out = replay_with_file_cap(64, dir.path(), &trace, &server.url());
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(stderr.contains("metrics.parquet"), "{stderr}");
    assert!(stderr.contains("File too large"), "{stderr}");
    assert!(stderr.contains("the run is marked failed"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let run = run_dir(dir.path());
    // Marked failed; nothing that passes for a finished run, no temp file left behind.
    assert_eq!(files(&run), ["FAILED", "run.json"], "{:?}", files(&run));
    let marker = std::fs::read_to_string(run.join("FAILED")).unwrap();
    assert!(marker.contains("metrics.parquet"), "{marker}");
    assert_eq!(json(&run.join("run.json"))["run_id"], "RUN-0001");
}

/// Sends `sig` to a replay of 200 requests over 20 s once requests flow; returns its output,
/// the run's scorecard and how many requests the server saw.
#[cfg(unix)]
fn interrupt_with(sig: &str) -> (Output, Value, u64) {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), 200, 100_000);
    let server = Server::start(ok);
    let child = replay_cmd(dir.path(), &trace, &server.url(), &[])
        .spawn()
        .unwrap();
    wait_until("3 requests", || server.seen().len() >= 3);
    signal(&child, sig);
    let out = child.wait_with_output().unwrap();
    let sent = server.seen().len() as u64;
    let card = assert_complete(&run_dir(dir.path()), sent);
    (out, card, sent)
}

#[cfg(unix)]
#[test]
fn sigterm_behaves_like_ctrl_c() {
    let (int_out, int_card, int_sent) = interrupt_with("-INT");
    let (term_out, term_card, term_sent) = interrupt_with("-TERM");
    assert_eq!(int_out.status.code(), Some(0), "{:?}", text(&int_out));
    assert_eq!(term_out.status.code(), int_out.status.code());
    for (card, sent) in [(&int_card, int_sent), (&term_card, term_sent)] {
        assert_eq!(card["interrupted"], true);
        assert_eq!(card["intended_requests"], 200);
        assert!((3..200).contains(&sent), "sent {sent}");
        assert_eq!(card["completed"], sent);
    }
    let (_, stderr) = text(&term_out);
    assert!(stderr.contains("stopping: no new requests"), "{stderr}");
}
