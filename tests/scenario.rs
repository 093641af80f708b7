//! Scenarios end to end: the seed accepted verbatim, every validation error naming its field,
//! deterministic and streaming generation, the synthetic card caught by `esr check`, and
//! `esr scenario run` against the in-process stubs with a fault, read back from
//! `scorecard.json`.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

use esr::scenario::{self, Generator, ScenarioFormat};
use esr::scrub::check::{CheckOptions, check_trace};
use esr::trace::{TraceReader, TraceRecord};
use serde_json::Value;

use crate::util::{esr, text};

/// The seed's scenario, byte for byte.
const SEED: &str = r#"{"name":"flood_rerate_wave1","actors":10000,"script":[{"action":"LOGIN","ratio":1.0},{"action":"FETCH_PREMIUM","ratio":1.0},{"action":"PAY","ratio":0.98},{"action":"ABANDON","ratio":0.02}],"duration":"30m"}"#;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs `esr scenario SUB FILE ARGS...`.
fn scenario_cmd(sub: &str, file: &Path, args: &[&OsStr]) -> Output {
    esr()
        .args(["scenario", sub])
        .arg(file)
        .args(args)
        .output()
        .unwrap()
}

fn records(path: &Path) -> Vec<TraceRecord> {
    TraceReader::open(path)
        .unwrap()
        .records()
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

#[test]
fn the_seed_scenario_is_accepted_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "seed.json", SEED);
    let out = scenario_cmd("validate", &file, &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.contains("valid: synthetic `flood_rerate_wave1`, 10000 actors over 30m"),
        "{stdout}"
    );
    // What the API stores and returns is the very text that was posted.
    let s = scenario::parse(SEED, ScenarioFormat::Json, "<request body>").unwrap();
    assert_eq!(serde_json::to_string(&s).unwrap(), SEED);
}

#[test]
fn every_validation_error_names_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = r#"{"name":"wave 1","actors":0,"duration":"0s","speed":-2,
        "script":[{"action":"LOGIN","ratio":1.0},{"action":"RENEW","ratio":1.0},
                  {"action":"PAY","ratio":0.98},{"action":"ABANDON","ratio":0.07}],
        "faults":[{"action":"PAY_DOWN","at":"15m","for":"0s"}],
        "thresholds":["p95<fast"],
        "catalog":{"REFUND":{"path":"refund"}},
        "think_time":{"lognormal":{"p50":"2s","p99":"1s"}}}"#;
    let file = write(dir.path(), "bad.json", bad);
    let out = scenario_cmd("validate", &file, &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    for (field, says) in [
        ("name", "letters, digits"),
        ("actors", "at least 1"),
        ("duration", "above 0"),
        ("speed", "above 0"),
        ("script[1].action", "unknown action `RENEW`"),
        (
            "script[2].ratio",
            "sibling end steps PAY, ABANDON have ratios summing to 1.05; they split the actors that reach them, so they must sum to at most 1",
        ),
        ("faults[0].action", "no fault `PAY_DOWN`"),
        ("faults[0].for", "above 0"),
        ("thresholds[0]", "p95<fast"),
        ("catalog.REFUND.path", "start with `/`"),
        ("think_time.lognormal.p99", "at least p50"),
    ] {
        let line = stderr
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{field}: ")))
            .unwrap_or_else(|| panic!("no line for `{field}` in:\n{stderr}"));
        assert!(line.contains(says), "`{field}`: {line}");
    }

    // Parse errors name the field too, in JSON and in TOML.
    let cases: &[(&str, ScenarioFormat, &str)] = &[
        (
            r#"{"name":"x","actors":1,"duration":"30 minutes","script":[{"action":"LOGIN"}]}"#,
            ScenarioFormat::Json,
            "duration",
        ),
        (
            r#"{"name":"x","actors":1,"duration":"1m","script":[{"action":"LOGIN","ratio":"all"}]}"#,
            ScenarioFormat::Json,
            "script[0].ratio",
        ),
        (
            r#"{"name":"x","actors":1,"duration":"1m","script":[],"arrival":"bursty"}"#,
            ScenarioFormat::Json,
            "arrival",
        ),
        (
            r#"{"name":"x","actors":1,"duration":"1m","script":[{"action":"LOGIN"}],"faults":[{"action":"ACH_DOWN","at":"soon","for":"5m"}]}"#,
            ScenarioFormat::Json,
            "faults[0].at",
        ),
        (
            "name = \"x\"\nactors = 1\nduration = \"1m\"\nscript = [{ action = \"LOGIN\", ratio = 1.0, weight = 3 }]\n",
            ScenarioFormat::Toml,
            "script[0].weight",
        ),
        (
            r#"{"name":"x","trace":"t.parquet","actors":5}"#,
            ScenarioFormat::Json,
            "actors",
        ),
    ];
    for (text, format, field) in cases {
        let e = scenario::parse(text, *format, "<request body>").unwrap_err();
        assert!(
            e.errors.iter().any(|f| f.field == *field),
            "expected `{field}` in {e}"
        );
        assert!(
            e.to_string()
                .starts_with("scenario `<request body>`: field `")
        );
    }
}

fn small(name: &str, actors: u64, duration: &str, seed: u64) -> String {
    format!(
        r#"{{"name":"{name}","actors":{actors},"duration":"{duration}","seed":{seed},
            "script":[{{"action":"LOGIN","ratio":1.0}},{{"action":"FETCH_PREMIUM","ratio":1.0}},
                      {{"action":"PAY","ratio":0.98}},{{"action":"ABANDON","ratio":0.02}}]}}"#
    )
}

#[test]
fn the_same_seed_generates_the_same_trace() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.json", &small("det", 500, "5m", 7));
    let b = write(dir.path(), "b.json", &small("det", 500, "5m", 8));
    let gen_ = |file: &Path, out: &str| {
        let out = dir.path().join(out);
        let o = scenario_cmd("generate", file, &["-o".as_ref(), out.as_os_str()]);
        assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
        text(&o).0
    };
    let said = gen_(&a, "a1.parquet");
    gen_(&a, "a2.parquet");
    gen_(&b, "b.parquet");
    assert!(said.contains("LOGIN 500, FETCH_PREMIUM 500"), "{said}");
    let (a1, a2, b1) = (
        records(&dir.path().join("a1.parquet")),
        records(&dir.path().join("a2.parquet")),
        records(&dir.path().join("b.parquet")),
    );
    assert!(a1.len() > 1400, "{}", a1.len());
    assert!(a1 == a2, "same seed, different traces");
    assert!(a1 != b1, "a different seed should give different traffic");
    // Sorted by time, every actor's requests in script order.
    assert!(a1.windows(2).all(|w| w[0].ts_us <= w[1].ts_us));
    let mut last: HashMap<String, usize> = HashMap::new();
    let order = ["/login", "/fetch_premium", "/pay"];
    for r in &a1 {
        let step = order.iter().position(|p| *p == r.path).unwrap();
        let prev = last.insert(r.session.clone().unwrap(), step);
        assert_eq!(prev.map_or(0, |p| p + 1), step, "out of script order");
    }
}

#[test]
fn generation_streams_with_a_heap_no_larger_than_the_active_actors() {
    let s = scenario::parse(
        &small("stream", 20_000, "10m", 3),
        ScenarioFormat::Json,
        "t",
    )
    .unwrap();
    let mut g = Generator::new(&s).unwrap();
    // Each session's span (first to last request), to count the actors active at once.
    let mut span: HashMap<String, (i64, i64)> = HashMap::new();
    let mut n = 0u64;
    for r in g.by_ref() {
        n += 1;
        let e = span.entry(r.session.unwrap()).or_insert((r.ts_us, r.ts_us));
        e.1 = r.ts_us;
    }
    let mut edges: Vec<(i64, i32)> = span
        .values()
        .flat_map(|(a, b)| [(*a, 1), (*b, -1)])
        .collect();
    // Starts before ends at the same instant: closed spans.
    edges.sort_by_key(|(t, d)| (*t, -d));
    let (mut active, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        active += d;
        most = most.max(active);
    }
    let summary = g.summary();
    assert_eq!(summary.requests, n);
    assert_eq!(summary.actors, 20_000);
    assert!(
        g.max_pending() <= most as usize,
        "heap held {} entries, but only {most} actors were active at once",
        g.max_pending()
    );
    // A few hundred pending requests, never the ~60k of the whole scenario.
    assert!(
        g.max_pending() * 20 < n as usize,
        "{} of {n}",
        g.max_pending()
    );
}

#[test]
fn the_synthetic_card_is_caught_by_check_if_exported() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "s.json", &small("cards", 50, "1m", 1));
    let trace = dir.path().join("t.parquet");
    let o = scenario_cmd("generate", &file, &["-o".as_ref(), trace.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let report = check_trace(&trace, &CheckOptions::default(), None).unwrap();
    let body = &report.residual.per_column["body"];
    let pays = records(&trace).iter().filter(|r| r.path == "/pay").count() as u64;
    assert!(pays > 40);
    assert_eq!(
        body.get("card"),
        Some(&pays),
        "{:?}",
        report.residual.per_column
    );
    assert!(!report.passed);
    let o = esr().arg("check").arg(&trace).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    // The check names the detector and never prints the number itself.
    let (stdout, stderr) = text(&o);
    assert!(stdout.contains("card"), "{stdout}");
    for c in scenario::TEST_CARDS {
        assert!(!stdout.contains(c) && !stderr.contains(c));
    }
}

fn scorecard(run_dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("scorecard.json")).unwrap()).unwrap()
}

#[test]
fn scenario_run_end_to_end_with_a_fault() {
    let dir = tempfile::tempdir().unwrap();
    // 300 actors over 6 minutes with the ACH service down from 2:00 to 4:00: about 6 s at
    // 60x, so the window spans two of the scorecard's one-second buckets.
    let file = write(
        dir.path(),
        "fault.json",
        r#"{"name":"ach_fault","actors":300,"duration":"6m","seed":5,"think_time":"1s",
            "script":[{"action":"LOGIN","ratio":1.0},{"action":"FETCH_PREMIUM","ratio":1.0},
                      {"action":"ACH","ratio":1.0},
                      {"action":"PAY","ratio":0.98},{"action":"ABANDON","ratio":0.02}],
            "faults":[{"action":"ACH_DOWN","at":"2m","for":"2m"}],
            "thresholds":["success>=50%","p95<10s"]}"#,
    );
    let data = dir.path().join("data");
    let o = scenario_cmd(
        "run",
        &file,
        &[
            "--speed".as_ref(),
            "60".as_ref(),
            "--data".as_ref(),
            data.as_os_str(),
        ],
    );
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("scenario ach_fault"), "{stdout}");
    let run = data.join("runs/RUN-0001");
    for f in [
        "run.json",
        "scenario.json",
        "trace.parquet",
        "metrics.parquet",
    ] {
        assert!(run.join(f).is_file(), "{f}");
    }
    let card = scorecard(&run);
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        html.contains("<h2>Scenario ach_fault</h2>"),
        "no scenario section"
    );
    assert!(html.contains("payment success"));
    assert_eq!(card["notes"], "Ready for production!");
    assert_eq!(card["verdict"], "PASS");
    assert_eq!(card["compliance_hits"], 0);
    assert_eq!(card["esq_rule_violations"], serde_json::json!([]));
    assert!(card["latency_p95_ms"].as_f64().unwrap() > 0.0);
    // PAY: 98 % of the actors who reach it, less the stub's 0.5 % injected errors.
    let pay = card["payment_success"].as_f64().unwrap();
    assert!((85.0..=100.0).contains(&pay), "{pay}");
    let sc = &card["scenario"];
    let action = |name: &str| {
        sc["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["action"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(action("LOGIN")["intended"], 300);
    assert_eq!(action("LOGIN")["actual"], 300);
    let (paid, abandoned) = (
        action("PAY")["intended"].as_u64().unwrap(),
        action("ABANDON")["intended"].as_u64().unwrap(),
    );
    assert_eq!(paid + abandoned, 300);
    assert_eq!(action("PAY")["actual"].as_u64().unwrap(), paid);
    assert!(action("ABANDON")["success_rate"].is_null());
    // ACH requests inside the window got 503s.
    assert!(action("ACH")["success_rate"].as_f64().unwrap() < 100.0);
    let funnel = &sc["funnel"][0];
    assert_eq!(funnel["field"], "script[3]");
    assert_eq!(funnel["reached"], 300);
    assert_eq!(funnel["branches"][0]["action"], "PAY");
    // The fault's phases, on the run clock: before, during, after and time to recover.
    let phases = card["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 1, "{phases:?}");
    let p = &phases[0];
    assert_eq!(p["window"], "ACH_DOWN");
    let during = &p["during"];
    assert!(during["requests"].as_u64().unwrap() > 0);
    assert!(during["errors"].as_u64().unwrap() > 0);
    assert!(
        during["success_rate"].as_f64().unwrap() < p["before"]["success_rate"].as_f64().unwrap()
    );
    assert!(p["after"]["requests"].as_u64().unwrap() > 0);
    assert!(p["time_to_recover_s"].as_f64().is_some(), "{p}");
    // The window lies 2 min / 60 = 2 s into the scenario's clock; the run's clock starts at
    // the first request, a moment later.
    let start = p["start_s"].as_f64().unwrap();
    assert!((1.8..=2.0).contains(&start), "{start}");
    assert!(
        (p["end_s"].as_f64().unwrap() - start - 2.0).abs() < 0.01,
        "{p}"
    );

    // Judged again with a rule it fails: exit 1, and the notes name what failed.
    let o = esr()
        .arg("scorecard")
        .arg(&run)
        .args(["--format", "json", "--threshold", "payment_success>=99.9%"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let again: Value = serde_json::from_slice(&o.stdout).unwrap();
    let notes = again["notes"].as_str().unwrap();
    assert!(notes.contains("payment_success>=99.9%"), "{notes}");
    assert_ne!(notes, "Ready for production!");
}

#[test]
fn a_trace_based_scenario_audits_its_trace() {
    // Replaying synthetic traffic as if it were a recorded trace: its test cards are exactly
    // what the check must catch, so the run counts compliance hits and is not ready.
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.parquet");
    let s = scenario::parse(&small("src", 30, "30s", 1), ScenarioFormat::Json, "t").unwrap();
    scenario::generate_to(&s, &trace).unwrap();
    let file = write(
        dir.path(),
        "replay.toml",
        &format!(
            "name = \"replay_src\"\ntrace = \"{}\"\nspeed = 30\n",
            trace.display()
        ),
    );
    let data = dir.path().join("data");
    let o = scenario_cmd("run", &file, &["--data".as_ref(), data.as_os_str()]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}{stderr}");
    let card = scorecard(&data.join("runs/RUN-0001"));
    assert!(card["compliance_hits"].as_u64().unwrap() > 0);
    assert!(card["notes"].as_str().unwrap().contains("compliance hit"));
    assert_eq!(card["scenario"]["kind"], "trace");
    assert!(card.get("payment_success").is_none());

    // A missing trace is bad input: exit 2 before any run folder is made.
    let missing = write(
        dir.path(),
        "missing.json",
        r#"{"name":"gone","trace":"/nonexistent/t.parquet"}"#,
    );
    let data2 = dir.path().join("data2");
    let o = scenario_cmd("run", &missing, &["--data".as_ref(), data2.as_os_str()]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    assert!(text(&o).1.contains("no trace file"));
    assert!(!dir.path().join("data2/runs").exists());

    // So is a target beyond loopback: the sandbox guard refuses it before anything runs.
    let remote = write(
        dir.path(),
        "remote.json",
        &script_of("remote", 5, "1m", r#""target":"http://prod.example.com","#),
    );
    let o = scenario_cmd("run", &remote, &["--data".as_ref(), data2.as_os_str()]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    assert!(text(&o).1.contains("refusing"), "{:?}", text(&o));
    assert!(!dir.path().join("data2/runs").exists());
}

fn script_of(name: &str, actors: u64, duration: &str, extra: &str) -> String {
    format!(
        r#"{{"name":"{name}","actors":{actors},"duration":"{duration}","seed":2,{extra}
            "script":[{{"action":"LOGIN"}},{{"action":"PAY","ratio":0.9}},{{"action":"ABANDON","ratio":0.1}}]}}"#
    )
}

#[test]
fn the_library_run_takes_the_servers_folder_watch_target_and_stop() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let stub = esr::stub::StubServer::spawn(esr::stub::hms())
            .await
            .unwrap();
        let extra = format!(r#""target":"{}","#, stub.url());
        let s = scenario::parse(
            &script_of("api_path", 100, "1m", &extra),
            ScenarioFormat::Json,
            "<request body>",
        )
        .unwrap();
        // As the server does it: the run's folder allocated beforehand, progress watched.
        let folder = esr::replay::run::allocate(dir.path()).unwrap();
        let watch = std::sync::Arc::new(esr::replay::RunWatch::default());
        let (_keep, stop) = tokio::sync::watch::channel(false);
        let settings = scenario::RunSettings {
            data: dir.path().to_path_buf(),
            speed: Some(30.0),
            run_folder: Some(folder.clone()),
            watch: Some(watch.clone()),
            progress: false,
            command: vec!["POST /api/esr/scenarios/SCN-1/run".into()],
        };
        let r = scenario::run(&s, settings, stop).await.unwrap();
        assert_eq!(r.run.id, folder.id);
        assert!(!r.scorecard.interrupted);
        let (live, intended, _) = watch.snapshot().expect("the watch saw the run start");
        assert_eq!(Some(live.sent), intended);
        let sc = r.scorecard.scenario.as_ref().unwrap();
        assert_eq!((sc.actions[0].intended, sc.actions[0].actual), (100, 100));
        assert_eq!(r.scorecard.target, stub.url());

        // Cancelled part-way: still a complete, readable run, marked interrupted.
        let s = scenario::parse(
            &script_of("cancelled", 2000, "10m", &extra),
            ScenarioFormat::Json,
            "t",
        )
        .unwrap();
        let (tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
            let _ = tx.send(true);
        });
        let settings = scenario::RunSettings {
            data: dir.path().to_path_buf(),
            speed: Some(10.0),
            ..Default::default()
        };
        let r = scenario::run(&s, settings, stop).await.unwrap();
        assert!(r.scorecard.interrupted);
        assert!(r.scorecard.requests < r.scorecard.intended_requests);
        assert_ne!(r.scorecard.notes, "Ready for production!");
        let stored = esr::scorecard::Scorecard::read(&r.run.dir.join("scorecard.json")).unwrap();
        assert_eq!(stored, r.scorecard);
        stub.shutdown().await;
    });
}
