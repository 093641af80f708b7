//! `esr merge` end to end: three `esr replay --shard K/3` processes with one shared
//! `--start-at` against one in-process server, merged, equal one unsharded replay; and the
//! refusals (different traces, overlapping shards) and a missing shard named.

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::replay::write_trace;
use crate::util::{AppServer, esr, text};

/// A server whose answer depends only on the path `/r/{i}`: status 404 for every 4th i, 500
/// for i % 10 == 3, else 200; a delay of (i % 5) * 8 ms. So counts and percentiles do not
/// depend on the order the requests arrive in.
struct PathServer {
    url: String,
    _server: AppServer,
}

fn answer(i: u64) -> (u16, Duration) {
    let status = if i.is_multiple_of(4) {
        404
    } else if i % 10 == 3 {
        500
    } else {
        200
    };
    (status, Duration::from_millis((i % 5) * 8))
}

impl PathServer {
    fn start() -> PathServer {
        let app = axum::Router::new().fallback(|uri: axum::http::Uri| async move {
            let i = uri
                .path()
                .strip_prefix("/r/")
                .and_then(|n| n.parse::<u64>().ok());
            let Some(i) = i else {
                return (axum::http::StatusCode::NOT_FOUND, "no");
            };
            let (status, delay) = answer(i);
            tokio::time::sleep(delay).await;
            (axum::http::StatusCode::from_u16(status).unwrap(), "ok")
        });
        let server = AppServer::start(2, app);
        PathServer {
            url: server.url(),
            _server: server,
        }
    }
}

fn replay(dir: &Path, trace: &Path, target: &str, extra: &[&str]) -> Child {
    esr()
        .arg("replay")
        .arg(trace)
        .args(["--target", target, "--rate", "400", "--data"])
        .arg(dir.join("data"))
        .args(extra)
        .env_remove("ESR_DATA")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("esr runs")
}

fn finished(child: Child) -> Output {
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    out
}

/// `esr merge RUNS... -o DIR/OUT EXTRA...`.
fn merge(dir: &Path, runs: &[&str], out: &str, extra: &[&str]) -> Output {
    esr()
        .arg("merge")
        .args(runs)
        .arg("-o")
        .arg(dir.join(out))
        .args(extra)
        .arg("--data")
        .arg(dir.join("data"))
        .env_remove("ESR_DATA")
        .output()
        .expect("esr runs")
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn parquet_rows(path: &Path) -> i64 {
    use parquet::file::reader::FileReader;
    let file = std::fs::File::open(path).unwrap();
    parquet::file::reader::SerializedFileReader::new(file)
        .unwrap()
        .metadata()
        .file_metadata()
        .num_rows()
}

/// Three shards (run at once, one `--start-at`) and, after them, one unsharded run.
fn shard_runs(dir: &Path, trace: &Path, url: &str) -> PathBuf {
    let start = esr::replay::run::unix_now_us() as f64 / 1e6 + 2.0;
    let start = format!("{start:.3}");
    let children: Vec<Child> = (1..=3)
        .map(|k| {
            let shard = format!("{k}/3");
            replay(dir, trace, url, &["--shard", &shard, "--start-at", &start])
        })
        .collect();
    for c in children {
        finished(c);
    }
    finished(replay(dir, trace, url, &[]));
    dir.join("data/runs")
}

#[test]
fn three_shards_merged_equal_one_unsharded_replay() {
    let _quiet = crate::util::timing_lock().blocking_lock();
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), 150, 2_000);
    let server = PathServer::start();
    let runs = shard_runs(dir.path(), &trace, &server.url);
    // The unsharded run is the fourth; the shards are RUN-0001..3 in some order.
    let whole = json(&runs.join("RUN-0004/scorecard.json"));
    assert_eq!(whole["requests"], 150);
    let out_dir = dir.path().join("merged");
    let out = merge(
        dir.path(),
        &["RUN-0001", "RUN-0002", "RUN-0003"],
        "merged",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let merged = json(&out_dir.join("scorecard.json"));
    for key in [
        "requests",
        "completed",
        "error_count",
        "errors",
        "status_counts",
        "success_rate",
        "intended_requests",
    ] {
        assert_eq!(merged[key], whole[key], "{key} differs");
    }
    let eps = |card: &Value| -> Vec<(String, u64, Value)> {
        let mut v: Vec<_> = card["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let key = e["endpoint"].as_str().unwrap().to_string();
                (
                    key,
                    e["requests"].as_u64().unwrap(),
                    e["status_counts"].clone(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(eps(&merged), eps(&whole), "per-endpoint counts differ");
    assert_eq!(eps(&merged).len(), 2, "GET and POST /r/{{id}}");
    // Delays are 0/8/16/24/32 ms by path: the percentiles of the merged histograms match
    // the unsharded run's within HDR precision plus scheduling jitter (generous: 6 ms),
    // far below the 8 ms step between the stub's delays.
    for q in ["p50", "p90", "p99"] {
        let (m, w) = (
            merged["service_ms"][q].as_f64().unwrap(),
            whole["service_ms"][q].as_f64().unwrap(),
        );
        assert!((m - w).abs() <= 6.0, "service {q}: merged {m} vs whole {w}");
    }
    let p50 = merged["service_ms"]["p50"].as_f64().unwrap();
    assert!(
        (15.0..24.0).contains(&p50),
        "p50 {p50} should be near 16 ms"
    );
    // Every row is in the merged metrics, and the histograms hold every request exactly.
    assert_eq!(parquet_rows(&out_dir.join("metrics.parquet")), 150);
    let hist = esr::tap::RunHistograms::from_json(
        &std::fs::read_to_string(out_dir.join("histograms.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(hist.overall.latency.len(), 150);
    let manifest = json(&out_dir.join("run.json"));
    assert_eq!(manifest["partial"], false);
    assert_eq!(manifest["parts"].as_array().unwrap().len(), 3);
    assert_eq!(manifest["same_start"], true);
    assert!(out_dir.join("report.html").is_file());
    // A threshold judged on the merged whole sets the exit code: a third of requests fail.
    let out = merge(
        dir.path(),
        &["RUN-0001", "RUN-0002", "RUN-0003"],
        "gated",
        &["--threshold", "success>=90%"],
    );
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));

    // A missing shard is named and the merge marked partial.
    let part_dir = dir.path().join("partial");
    let out = merge(dir.path(), &["RUN-0001", "RUN-0003"], "partial", &[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let missing = json(&runs.join("RUN-0002/run.json"))["shard"].clone();
    let manifest = json(&part_dir.join("run.json"));
    assert_eq!(manifest["partial"], true);
    assert_eq!(manifest["missing_shards"], serde_json::json!([missing]));
    let notes = json(&part_dir.join("scorecard.json"))["notes"].clone();
    let notes = notes.as_str().unwrap();
    assert!(notes.contains("PARTIAL merge") && notes.contains(missing.as_str().unwrap()));
    let (_, stderr) = text(&out);
    assert!(stderr.contains("partial merge"), "{stderr}");

    // Overlap: the same shard twice, and a run that is not a shard.
    let out = merge(dir.path(), &["RUN-0001", "RUN-0001"], "x", &[]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("overlapping shards"),
        "{:?}",
        text(&out)
    );
    assert!(
        !dir.path().join("x").exists(),
        "nothing written on a refusal"
    );
    let out = merge(dir.path(), &["RUN-0001", "RUN-0004"], "y", &[]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("not a shard run"), "{:?}", text(&out));
}

#[test]
fn shards_of_different_traces_or_of_different_n_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = PathServer::start();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let ta = write_trace(&a, 20, 1_000);
    let tb = write_trace(&b, 21, 1_000);
    finished(replay(dir.path(), &ta, &server.url, &["--shard", "1/2"]));
    finished(replay(dir.path(), &tb, &server.url, &["--shard", "2/2"]));
    finished(replay(dir.path(), &ta, &server.url, &["--shard", "2/3"]));
    let out = merge(dir.path(), &["RUN-0001", "RUN-0002"], "m", &[]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    let (_, stderr) = text(&out);
    assert!(stderr.contains("different traces"), "{stderr}");
    let out = merge(dir.path(), &["RUN-0001", "RUN-0003"], "m", &[]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("overlapping shards"),
        "{:?}",
        text(&out)
    );
    assert!(!dir.path().join("m").exists());
}

#[test]
fn a_failed_shard_is_refused_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let server = PathServer::start();
    let trace = write_trace(dir.path(), 20, 1_000);
    finished(replay(dir.path(), &trace, &server.url, &["--shard", "1/2"]));
    finished(replay(dir.path(), &trace, &server.url, &["--shard", "2/2"]));
    // The engine's own marker, as it leaves a run that failed after its metrics were
    // complete (the scorecard could not be written): metrics stay, the scorecard goes.
    let failed = dir.path().join("data/runs/RUN-0002");
    esr::replay::run::mark_failed(&failed, "cannot write `scorecard.json`: No space left");
    assert!(failed.join("metrics.parquet").is_file());
    let out = merge(dir.path(), &["RUN-0001", "RUN-0002"], "m", &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("RUN-0002` is a failed run ("), "{stderr}");
    assert!(stderr.contains("No space left"), "{stderr}");
    assert!(!dir.path().join("m").exists());
}
