//! `esr diff` and `esr compare` end to end: the real binary against in-process stubs
//! (`esr::stub::StubServer`) and small axum servers on `127.0.0.1:0` that differ from each
//! other in known ways.

use std::path::{Path, PathBuf};
use std::process::Output;

use esr::stub::{LatencyConfig, RouteConfig, StubConfig, StubHandle, StubServer};
use esr::trace::{TraceMeta, TraceRecord, TraceWriter};
use serde_json::Value;

use crate::util::{AppServer, esr, text};

/// Stubs on a runtime of their own; stopped when dropped.
pub struct Stubs {
    pub handles: Vec<StubHandle>,
    rt: tokio::runtime::Runtime,
}

impl Stubs {
    pub fn start(configs: Vec<StubConfig>) -> Stubs {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let handles = configs
            .into_iter()
            .map(|c| rt.block_on(StubServer::spawn(c)).unwrap())
            .collect();
        Stubs { handles, rt }
    }

    pub fn url(&self, i: usize) -> String {
        self.handles[i].url()
    }
}

impl Drop for Stubs {
    fn drop(&mut self) {
        let _guard = self.rt.enter();
        self.handles.clear();
    }
}

/// The hms-like service: `/fetch_premium` answers `{"premium":premium}` after `premium_ms`,
/// `/users/{id}` answers at once.
pub fn service(premium: u64, premium_ms: f64) -> StubConfig {
    let mut fetch = RouteConfig::new("POST", "/fetch_premium");
    fetch.body = Some(serde_json::json!({ "premium": premium, "currency": "EUR" }));
    fetch.latency = Some(LatencyConfig::Uniform {
        min_ms: premium_ms,
        max_ms: premium_ms + 4.0,
    });
    let mut users = RouteConfig::new("GET", "/users/{id}");
    users.body = Some(serde_json::json!({ "id": "{{id}}", "active": true }));
    users.latency = Some(LatencyConfig::Uniform {
        min_ms: 2.0,
        max_ms: 6.0,
    });
    StubConfig {
        routes: vec![fetch, users],
        ..StubConfig::default()
    }
}

const T0: i64 = 1_700_000_000_000_000;

/// `n` requests 5 ms apart alternating between `POST /fetch_premium` and `GET /users/{i}`;
/// `salt` changes the file (and so its digest) without changing the traffic.
pub fn write_trace(dir: &Path, name: &str, n: i64, salt: &str) -> PathBuf {
    let path = dir.join(name);
    let mut w = TraceWriter::create(&path, vec![]).unwrap();
    for i in 0..n {
        let fetch = i % 2 == 0;
        w.write(&TraceRecord {
            ts_us: T0 + i * 5_000,
            method: if fetch { "POST" } else { "GET" }.into(),
            path: if fetch {
                "/fetch_premium".to_string()
            } else {
                format!("/users/{}", i % 10)
            },
            headers: Some(format!(
                r#"{{"content-type":"application/json","x-salt":"{salt}"}}"#
            )),
            body: fetch.then(|| format!("{{\"policy\":{}}}", i % 10).into_bytes()),
            session: Some(format!("s{}", i % 7)),
            ..Default::default()
        })
        .unwrap();
    }
    w.finish(TraceMeta::default()).unwrap();
    path
}

/// The diff tests judge latency, so their replays run one at a time: four replays at once on
/// a two-core machine would measure each other.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn replay(data: &Path, trace: &Path, target: &str) -> String {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let out = esr()
        .arg("replay")
        .arg(trace)
        .args(["--target", target, "--data"])
        .arg(data)
        .env_remove("ESR_DATA")
        .output()
        .unwrap();
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{so}\n{se}");
    let line = so
        .lines()
        .find(|l| l.starts_with("run: "))
        .expect("run line");
    Path::new(line.trim_start_matches("run: "))
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn diff(data: &Path, a: &str, b: &str, extra: &[&str]) -> Output {
    esr()
        .args(["diff", a, b, "--data"])
        .arg(data)
        .args(extra)
        .env_remove("ESR_DATA")
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    let (so, se) = text(out);
    serde_json::from_str(&so).unwrap_or_else(|e| panic!("{e}: {so}\n{se}"))
}

fn endpoint<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["endpoint"] == name)
        .unwrap_or_else(|| panic!("no endpoint {name} in {report}"))
}

/// Two runs of the trace measured side by side: `esr compare` sends every request to both
/// URLs at the same instant and leaves one run folder per side. Measured at the same time,
/// both runs suffer the same load from whatever else the machine does (sequential runs on a
/// shared two-core machine can differ by hundreds of ms when a build starts in between).
fn side_by_side(data: &Path, trace: &Path, a: &str, b: &str) -> (String, String) {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let out = esr()
        .arg("compare")
        .arg(trace)
        .args([
            "--baseline",
            a,
            "--candidate",
            b,
            "--format",
            "json",
            "--data",
        ])
        .arg(data)
        .env_remove("ESR_DATA")
        .output()
        .unwrap();
    let r = json_of(&out);
    let run = PathBuf::from(r["dir"].as_str().unwrap());
    let side = |s: &str| run.join(s).to_string_lossy().into_owned();
    (side("baseline"), side("candidate"))
}

#[test]
fn diff_of_two_runs_against_the_same_service_is_unchanged() {
    let _quiet = crate::util::timing_lock().blocking_lock();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let trace = write_trace(dir.path(), "t.parquet", 240, "a");
    let stubs = Stubs::start(vec![service(74200, 5.0), service(74200, 5.0)]);
    let (a, b) = side_by_side(&data, &trace, &stubs.url(0), &stubs.url(1));
    // A tolerance for what scheduling noise remains between two processes' tasks (a real
    // +100 ms is judged in the next test with the default tolerance).
    let tolerance = ["--min-effect-ms", "50"];
    let args = ["--format", "json", "--fail-on", "regressed"];
    let out = diff(&data, &a, &b, &[&args[..], &tolerance[..]].concat());
    let r = json_of(&out);
    assert_eq!(r["verdict"], "unchanged", "{r:#}");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(r["same_trace"], true);
    assert_eq!(r["overall"]["requests_a"], 240);
    assert_eq!(r["options"]["min_effect_ms"], 50.0);
    for e in r["endpoints"].as_array().unwrap() {
        assert_eq!(e["verdict"], "unchanged", "{e:#}");
    }
    // Text names every endpoint and the verdict.
    let out = diff(&data, &a, &b, &tolerance);
    let (so, _) = text(&out);
    assert!(so.contains("verdict: UNCHANGED"), "{so}");
    assert!(
        so.contains("POST /fetch_premium") && so.contains("GET /users/{id}"),
        "{so}"
    );
}

#[test]
fn a_slower_endpoint_regresses_with_an_interval_above_zero_and_a_small_ks_p() {
    let _quiet = crate::util::timing_lock().blocking_lock();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let trace = write_trace(dir.path(), "t.parquet", 240, "a");
    // The candidate adds 100 ms to /fetch_premium only.
    let stubs = Stubs::start(vec![service(74200, 5.0), service(74200, 105.0)]);
    let (a, b) = side_by_side(&data, &trace, &stubs.url(0), &stubs.url(1));
    let out = diff(
        &data,
        &a,
        &b,
        &[
            "--format",
            "json",
            "--fail-on",
            "regressed",
            "--min-effect-ms",
            "20",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).1);
    let r = json_of(&out);
    assert_eq!(r["verdict"], "regressed", "{r:#}");
    let fetch = endpoint(&r, "POST /fetch_premium");
    assert_eq!(fetch["verdict"], "regressed", "{fetch:#}");
    assert!(fetch["ks"]["p_value"].as_f64().unwrap() < 0.05);
    // The median's interval excludes 0 by far (tails are at the mercy of the shared machine).
    let p50 = &fetch["latency"][0];
    assert!(p50["delta_ms"]["lo"].as_f64().unwrap() > 50.0, "{p50}");
    assert_eq!(endpoint(&r, "GET /users/{id}")["verdict"], "unchanged");
    // The other way round it is an improvement, and the text says why.
    let out = diff(
        &data,
        &b,
        &a,
        &["--fail-on", "regressed", "--min-effect-ms", "20"],
    );
    let (so, _) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{so}");
    assert!(
        so.contains("verdict: IMPROVED") && so.contains("why:"),
        "{so}"
    );
    // HTML: one page, the charts inline, nothing from the network.
    let html = dir.path().join("diff.html");
    let out = diff(
        &data,
        &a,
        &b,
        &["--format", "html", "-o", html.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("regressed"));
    assert!(!page.contains("http://") && !page.contains("https://"));
}

#[test]
fn the_bootstrap_is_reproducible_with_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let trace = write_trace(dir.path(), "t.parquet", 120, "a");
    let stubs = Stubs::start(vec![service(74200, 5.0)]);
    let a = replay(&data, &trace, &stubs.url(0));
    let b = replay(&data, &trace, &stubs.url(0));
    let run = |seed: &str| {
        let out = diff(&data, &a, &b, &["--format", "json", "--seed", seed]);
        assert_eq!(out.status.code(), Some(0));
        json_of(&out)
    };
    let one = run("7");
    assert_eq!(one, run("7"));
    let other = run("8");
    let cis = |r: &Value| r["overall"]["latency"].to_string();
    assert_ne!(cis(&one), cis(&other), "another seed resamples differently");
    // Run folders work as well as ids.
    let folder = data.join("runs").join(&a);
    let out = diff(&data, folder.to_str().unwrap(), &b, &[]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn runs_of_different_traces_are_refused_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let t1 = write_trace(dir.path(), "one.parquet", 40, "a");
    let t2 = write_trace(dir.path(), "two.parquet", 40, "b");
    let stubs = Stubs::start(vec![service(74200, 1.0)]);
    let a = replay(&data, &t1, &stubs.url(0));
    let b = replay(&data, &t2, &stubs.url(0));
    let out = diff(&data, &a, &b, &[]);
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(
        se.contains("different traces") && se.contains("--force"),
        "{se}"
    );
    let out = diff(&data, &a, &b, &["--force", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json_of(&out)["same_trace"], false);
    // An unknown run names where it looked.
    let out = diff(&data, &a, "RUN-0099", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("RUN-0099"));
}

/// How a version under comparison answers: `/fetch_premium` gives `premium`, a random
/// `request_id` (noise: it differs on every answer, in every version) and, when `leak`, a
/// customer email; every `fail_every`-th request gets a 500.
#[derive(Clone, Copy)]
pub struct Version {
    pub premium: u64,
    pub leak: bool,
    pub fail_every: Option<u64>,
}

const V1: Version = Version {
    premium: 74200,
    leak: false,
    fail_every: None,
};

/// A server answering as `v`, on its own runtime; stops when dropped.
pub struct VersionServer {
    pub url: String,
    _server: AppServer,
}

impl VersionServer {
    pub fn start(v: Version) -> VersionServer {
        use std::sync::atomic::{AtomicU64, Ordering};
        let count = std::sync::Arc::new(AtomicU64::new(0));
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let n = count.fetch_add(1, Ordering::Relaxed);
            async move {
                let id = format!("{:016x}", rand::random::<u64>());
                let status = match v.fail_every {
                    Some(k) if n % k == k - 1 => 500,
                    _ => 200,
                };
                let body = if uri.path() == "/fetch_premium" {
                    let mut b = serde_json::json!({
                        "premium": v.premium, "currency": "EUR", "request_id": id,
                    });
                    if v.leak {
                        b["contact"] = "jane.doe@example.com".into();
                    }
                    b
                } else {
                    serde_json::json!({ "user": uri.path(), "active": true })
                };
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    body.to_string(),
                )
            }
        });
        let server = AppServer::start(1, app);
        VersionServer {
            url: server.url(),
            _server: server,
        }
    }
}

fn compare(dir: &Path, trace: &Path, sides: &[&VersionServer], extra: &[&str]) -> Output {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut cmd = esr();
    cmd.arg("compare")
        .arg(trace)
        .args(["--baseline", &sides[0].url, "--candidate", &sides[1].url]);
    if let Some(b2) = sides.get(2) {
        cmd.args(["--baseline2", &b2.url]);
    }
    cmd.arg("--data")
        .arg(dir.join("data"))
        .args(["--format", "json"])
        .args(extra)
        .env_remove("ESR_DATA")
        .output()
        .unwrap()
}

fn fields_of(e: &Value, key: &str) -> Vec<String> {
    e[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn identical_versions_compare_identical_with_the_random_field_as_noise() {
    // Its "identical" verdicts include the latency verdict: no heavy test may run beside it.
    let _quiet = crate::util::timing_lock().blocking_lock();
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), "t.parquet", 60, "a");
    let (b, c, b2) = (
        VersionServer::start(V1),
        VersionServer::start(V1),
        VersionServer::start(V1),
    );
    let out = compare(dir.path(), &trace, &[&b, &c, &b2], &["--fail-on-diff"]);
    let r = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    assert_eq!(r["verdict"], "identical");
    assert_eq!(r["requests"], 60);
    let fetch = r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["endpoint"] == "POST /fetch_premium")
        .unwrap();
    assert!(fields_of(fetch, "fields").is_empty(), "{fetch:#}");
    assert_eq!(fields_of(fetch, "noise"), ["$.request_id"]);
    assert_eq!(fetch["body_mismatches"], 0);
    // Both sides' metrics are in the run folder, one row per request each.
    let run = PathBuf::from(r["dir"].as_str().unwrap());
    for side in ["baseline", "candidate", "baseline2"] {
        assert!(run.join(side).join("metrics.parquet").is_file(), "{side}");
        assert!(run.join(side).join("scorecard.json").is_file(), "{side}");
    }
    assert!(run.join("comparison.json").is_file());
    let page = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(page.contains("<svg") && page.contains("noise $.request_id"));
    // And `esr diff` reads the sides like any run.
    let d = diff(
        &dir.path().join("data"),
        run.join("baseline").to_str().unwrap(),
        run.join("candidate").to_str().unwrap(),
        &["--format", "json"],
    );
    assert_eq!(json_of(&d)["overall"]["requests_b"], 60);
}

#[test]
fn a_changed_premium_is_a_real_difference_by_path_and_the_random_field_is_noise() {
    // Its "identical" verdicts include the latency verdict: no heavy test may run beside it.
    let _quiet = crate::util::timing_lock().blocking_lock();
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), "t.parquet", 60, "a");
    let cand = Version {
        premium: 74300,
        ..V1
    };
    let (b, c, b2) = (
        VersionServer::start(V1),
        VersionServer::start(cand),
        VersionServer::start(V1),
    );
    let out = compare(dir.path(), &trace, &[&b, &c, &b2], &["--fail-on-diff"]);
    let r = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    assert_eq!(r["verdict"], "different");
    let fetch = endpoint(&r, "POST /fetch_premium");
    assert_eq!(fields_of(fetch, "fields"), ["$.premium"]);
    assert_eq!(fetch["fields"][0]["count"], 30);
    assert_eq!(fetch["body_mismatches"], 30);
    // One masked example: shape and delta, not the values.
    let example = fetch["fields"][0]["example"].as_str().unwrap();
    assert_eq!(example, "7**** -> 7****, delta +100 (+0.13%)");
    // Neither premium appears as a number of its own (a digit run inside a measured float,
    // such as 0.0742001, is not the value).
    let stdout = String::from_utf8_lossy(&out.stdout);
    let numbers: Vec<&str> = stdout
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .collect();
    for premium in ["74200", "74300"] {
        assert!(
            !numbers.iter().any(|n| n.trim_end_matches(".0") == premium),
            "{premium} in the output"
        );
    }
    assert_eq!(fields_of(fetch, "noise"), ["$.request_id"]);
    assert_eq!(endpoint(&r, "GET /users/{id}")["body_mismatches"], 0);

    // Without a baseline2, repeats of identical baseline requests reveal the noise.
    let out = compare(dir.path(), &trace, &[&b, &c], &[]);
    let r = json_of(&out);
    assert_eq!(out.status.code(), Some(0));
    let fetch = endpoint(&r, "POST /fetch_premium");
    assert_eq!(fields_of(fetch, "fields"), ["$.premium"]);
    assert_eq!(fields_of(fetch, "noise"), ["$.request_id"]);

    // A relative threshold of 1 % absorbs a 0.13 % change.
    let out = compare(
        dir.path(),
        &trace,
        &[&b, &c, &b2],
        &["--fail-on-diff", "--noise-relative", "1%"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).0);
    assert_eq!(json_of(&out)["verdict"], "identical");
}

#[test]
fn more_500s_are_status_mismatches_and_a_leaked_email_is_a_candidate_compliance_hit() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), "t.parquet", 60, "a");
    let cand = Version {
        leak: true,
        fail_every: Some(10),
        ..V1
    };
    let (b, c) = (VersionServer::start(V1), VersionServer::start(cand));
    let out = esr()
        .arg("compare")
        .arg(&trace)
        .args(["--baseline", &b.url, "--candidate", &c.url, "--data"])
        .arg(dir.path().join("data"))
        .arg("--fail-on-diff")
        .env_remove("ESR_DATA")
        .output()
        .unwrap();
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{so}\n{se}");
    assert!(so.contains("  status 200 -> 500 "), "{so}");
    assert!(so.contains(" x status changed"), "{so}");
    assert!(
        so.contains("compliance hits in responses:  baseline 0  candidate"),
        "{so}"
    );
    assert!(so.contains("(email "), "{so}");
    assert!(
        !so.contains("jane") && !se.contains("jane"),
        "a raw value was printed"
    );
    let r: Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(so.lines().last().unwrap().trim_start_matches("run: "))
                .join("comparison.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(r["status_mismatches"], 6);
    assert_eq!(r["compliance"][0]["hits"], 0);
    assert!(r["compliance"][1]["hits"].as_u64().unwrap() >= 25);
    assert_eq!(
        r["compliance"][1]["by_detector"]["email"],
        r["compliance"][1]["hits"]
    );
}

#[test]
fn compare_refuses_a_non_loopback_target_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), "t.parquet", 4, "a");
    let b = VersionServer::start(V1);
    let out = esr()
        .arg("compare")
        .arg(&trace)
        .args([
            "--baseline",
            &b.url,
            "--candidate",
            "http://example.com",
            "--data",
        ])
        .arg(dir.path().join("data"))
        .env_remove("ESR_DATA")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("--allow-host"));
    assert!(!dir.path().join("data/runs").exists());
}

#[test]
fn ctrl_c_stops_a_compare_and_leaves_a_complete_interrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    // 2,000 requests over 10 s; interrupted after about 1.5 s.
    let trace = write_trace(dir.path(), "t.parquet", 2000, "a");
    let (b, c) = (VersionServer::start(V1), VersionServer::start(V1));
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let child = esr()
        .arg("compare")
        .arg(&trace)
        .args(["--baseline", &b.url, "--candidate", &c.url, "--data"])
        .arg(dir.path().join("data"))
        .args(["--format", "json"])
        .env_remove("ESR_DATA")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let r = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    assert_eq!(r["interrupted"], true);
    let sent = r["requests"].as_u64().unwrap();
    assert!(sent < 2000, "sent {sent}");
    // Both sides recorded every request that was sent.
    let run = PathBuf::from(r["dir"].as_str().unwrap());
    for side in ["baseline", "candidate"] {
        let card: Value = serde_json::from_str(
            &std::fs::read_to_string(run.join(side).join("scorecard.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(card["requests"], sent, "{side}");
        assert_eq!(card["interrupted"], true, "{side}");
    }
}
