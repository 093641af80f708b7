//! `esr diff` and `esr compare` end to end: the real binary against in-process stubs
//! (`esr::stub::StubServer`) and small axum servers on `127.0.0.1:0` that differ from each
//! other in known ways.

use std::path::{Path, PathBuf};
use std::process::Output;

use esr::stub::{LatencyConfig, RouteConfig, StubConfig, StubHandle, StubServer};
use esr::trace::{TraceMeta, TraceRecord, TraceWriter};
use serde_json::Value;

use crate::util::{esr, text};

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

#[test]
fn diff_of_two_runs_against_the_same_service_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let trace = write_trace(dir.path(), "t.parquet", 240, "a");
    let stubs = Stubs::start(vec![service(74200, 5.0)]);
    // A first run warms connections and caches; it is not compared.
    replay(&data, &trace, &stubs.url(0));
    let a = replay(&data, &trace, &stubs.url(0));
    let b = replay(&data, &trace, &stubs.url(0));
    // The test machine is shared with parallel builds, which move tails between two runs by
    // tens of ms; the tolerance keeps that scheduling noise from being judged (a real +100 ms
    // is judged in the next test with the default tolerance).
    let tolerance = ["--min-effect-ms", "60"];
    let out = diff(
        &data,
        &a,
        &b,
        &[
            "--format",
            "json",
            "--fail-on",
            "regressed",
            tolerance[0],
            tolerance[1],
        ],
    );
    let r = json_of(&out);
    assert_eq!(r["verdict"], "unchanged", "{r:#}");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(r["same_trace"], true);
    assert_eq!(r["overall"]["requests_a"], 240);
    assert_eq!(r["options"]["min_effect_ms"], 60.0);
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
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let trace = write_trace(dir.path(), "t.parquet", 240, "a");
    // The candidate adds 100 ms to /fetch_premium only.
    let stubs = Stubs::start(vec![service(74200, 5.0), service(74200, 105.0)]);
    let a = replay(&data, &trace, &stubs.url(0));
    let b = replay(&data, &trace, &stubs.url(1));
    let out = diff(
        &data,
        &a,
        &b,
        &["--format", "json", "--fail-on", "regressed"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).1);
    let r = json_of(&out);
    assert_eq!(r["verdict"], "regressed", "{r:#}");
    let fetch = endpoint(&r, "POST /fetch_premium");
    assert_eq!(fetch["verdict"], "regressed", "{fetch:#}");
    assert!(fetch["ks"]["p_value"].as_f64().unwrap() < 0.05);
    for q in fetch["latency"].as_array().unwrap() {
        let lo = q["delta_ms"]["lo"].as_f64().unwrap();
        assert!(lo > 50.0, "interval {q} should exclude 0 by far");
    }
    assert_eq!(endpoint(&r, "GET /users/{id}")["verdict"], "unchanged");
    // The other way round it is an improvement, and the text says why.
    let out = diff(&data, &b, &a, &["--fail-on", "regressed"]);
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
