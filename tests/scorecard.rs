//! The metrics tap and scorecards: synthetic outcomes through a real `Tap` into a real run
//! folder, read back with Parquet/Arrow, and `esr scorecard` through the real binary.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{
    Array, AsArray, FixedSizeBinaryArray, RecordBatch, StringArray, UInt16Array, UInt64Array,
};
use arrow::datatypes::Int64Type;
use esr::outcome::{ErrorKind, Outcome};
use esr::scorecard::{self, FaultWindow, RunContext, Scorecard, Threshold};
use esr::tap::{HISTOGRAMS_FILE, METRICS_FILE, RunHistograms, Tap, TapSummary};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::util::{esr, text};

/// One request: due at `due_ms`, sent 200 µs later, done `latency_ms` after due.
fn outcome(seq: u64, due_ms: i64, latency_ms: i64, status: u16) -> Outcome {
    Outcome {
        seq,
        session: Some(format!("u_{:08x}", seq % 7)),
        method: if seq.is_multiple_of(2) { "GET" } else { "POST" }.into(),
        path: format!("/users/{seq}?x=1"),
        endpoint: if seq.is_multiple_of(2) {
            "/users/{id}"
        } else {
            "/pay"
        }
        .into(),
        due_us: due_ms * 1000,
        sent_us: due_ms * 1000 + 200,
        done_us: (due_ms + latency_ms) * 1000,
        status,
        error: None,
        bytes: 42,
        body_sha256: Some([seq as u8; 32]),
        queued: seq.is_multiple_of(5),
        throttled: false,
    }
}

/// The known mix: 90 % at 10 ms, 9 % at 100 ms, 1 % at 1 s; every 10th request a 500.
fn known_mix(n: u64) -> Vec<Outcome> {
    (0..n)
        .map(|i| {
            let latency = match i % 100 {
                0 => 1000,
                1..=9 => 100,
                _ => 10,
            };
            let status = if i % 10 == 5 { 500 } else { 200 };
            outcome(i, i as i64 * 2, latency, status)
        })
        .collect()
}

fn tap_run(dir: &Path, outcomes: &[Outcome]) -> TapSummary {
    let mut tap = Tap::create(dir).unwrap();
    for o in outcomes {
        tap.live().on_sent();
        tap.record(o).unwrap();
    }
    tap.finish().unwrap()
}

fn ctx(run_id: &str, n: u64) -> RunContext {
    RunContext {
        run_id: run_id.into(),
        started_at: "2026-11-26T23:00:00Z".into(),
        target: "http://127.0.0.1:1".into(),
        speed: Some(1.0),
        intended_requests: n,
        intended_duration_s: (n - 1) as f64 * 0.002,
        ..Default::default()
    }
}

/// A complete run folder `data/runs/RUN-0001` as the replay leaves it.
fn stored_run(data: &Path, thresholds: &[&str]) -> (PathBuf, Scorecard) {
    let dir = data.join("runs").join("RUN-0001");
    let outcomes = known_mix(1000);
    let summary = tap_run(&dir, &outcomes);
    let ts: Vec<Threshold> = thresholds
        .iter()
        .map(|t| Threshold::parse(t).unwrap())
        .collect();
    let card = scorecard::build(&summary, &ctx("RUN-0001", 1000), &ts);
    scorecard::write_run_files(&dir, &card).unwrap();
    (dir, card)
}

fn read_metrics(path: &Path) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

#[test]
fn metrics_parquet_has_one_row_per_outcome_with_the_design_columns() {
    let dir = tempfile::tempdir().unwrap();
    let mut outcomes = known_mix(20_000);
    outcomes[3].error = Some(ErrorKind::Reset);
    outcomes[3].status = 0;
    outcomes[3].body_sha256 = None;
    outcomes[3].session = None;
    let summary = tap_run(dir.path(), &outcomes);
    assert_eq!(summary.metrics_path, dir.path().join(METRICS_FILE));
    let batches = read_metrics(&summary.metrics_path);
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    for col in [
        "seq",
        "session",
        "method",
        "path",
        "endpoint",
        "due_us",
        "sent_us",
        "done_us",
        "latency_us",
        "service_us",
        "status",
        "error_kind",
        "bytes",
        "body_sha256",
    ] {
        assert!(names.contains(&col), "column `{col}` missing: {names:?}");
    }
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 20_000);
    // Rows come back in recording order; check every value of a few.
    let b = &batches[0];
    let col = |n: &str| b.column_by_name(n).unwrap().clone();
    let seq = col("seq");
    let seq = seq.as_any().downcast_ref::<UInt64Array>().unwrap();
    let status = col("status");
    let status = status.as_any().downcast_ref::<UInt16Array>().unwrap();
    let kind = col("error_kind");
    let kind = kind.as_any().downcast_ref::<StringArray>().unwrap();
    let sha = col("body_sha256");
    let sha = sha.as_any().downcast_ref::<FixedSizeBinaryArray>().unwrap();
    let latency = col("latency_us");
    let latency = latency.as_primitive::<Int64Type>();
    let service = col("service_us");
    let service = service.as_primitive::<Int64Type>();
    let endpoint = col("endpoint");
    let endpoint = endpoint.as_any().downcast_ref::<StringArray>().unwrap();
    let session = col("session");
    for i in [0usize, 1, 5, 100] {
        let o = &outcomes[i];
        assert_eq!(seq.value(i), o.seq);
        assert_eq!(status.value(i), o.status);
        assert!(kind.is_null(i));
        assert_eq!(sha.value(i), &o.body_sha256.unwrap()[..]);
        assert_eq!(latency.value(i), o.latency_us());
        assert_eq!(service.value(i), o.service_us());
        assert_eq!(endpoint.value(i), o.endpoint);
    }
    assert_eq!(latency.value(100), 1_000_000);
    assert_eq!(service.value(100), 999_800);
    assert_eq!(status.value(3), 0);
    assert_eq!(kind.value(3), "reset");
    assert!(sha.is_null(3) && session.is_null(3));
    // Written in several row groups, and nothing left behind but the run files.
    let meta = ParquetRecordBatchReaderBuilder::try_new(File::open(&summary.metrics_path).unwrap())
        .unwrap()
        .metadata()
        .clone();
    assert!(meta.num_row_groups() >= 1);
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, [HISTOGRAMS_FILE, METRICS_FILE]);
}

#[test]
fn known_mix_gives_the_right_percentiles_and_success_rate() {
    let dir = tempfile::tempdir().unwrap();
    let summary = tap_run(dir.path(), &known_mix(10_000));
    let card = scorecard::build(&summary, &ctx("RUN-0001", 10_000), &[]);
    let near = |got: f64, want: f64| {
        assert!(
            (got - want).abs() <= want * 0.001 + 0.001,
            "got {got}, want {want} (HDR: 3 significant digits)"
        )
    };
    near(card.latency_ms.p50, 10.0);
    near(card.latency_ms.p90, 10.0);
    near(card.latency_ms.p95, 100.0);
    near(card.latency_ms.p99, 100.0);
    near(card.latency_ms.p999, 1000.0);
    near(card.latency_ms.max, 1000.0);
    near(card.latency_p95_ms, 100.0);
    // Service time is 0.2 ms shorter: sent 200 µs after due.
    near(card.service_ms.p50, 9.8);
    near(card.lateness_ms.max, 0.2);
    assert_eq!(card.late_starts, 0);
    // Every 10th request a 500.
    assert_eq!(card.success_rate, 90.0);
    assert_eq!(card.error_rate, 10.0);
    assert_eq!(card.errors["http_5xx"], 1000);
    assert_eq!(card.status_counts["200"], 9000);
    assert_eq!(card.queued, 2000);
    // Per endpoint: GET /users/{id} has the even requests (the 1 s ones among them).
    let users = card
        .endpoints
        .iter()
        .find(|e| e.endpoint == "GET /users/{id}")
        .unwrap();
    assert_eq!(users.requests, 5000);
    near(users.latency_ms.max, 1000.0);
    let pay = card
        .endpoints
        .iter()
        .find(|e| e.endpoint == "POST /pay")
        .unwrap();
    assert_eq!(pay.success_rate, 80.0); // i % 10 == 5 are all odd
    near(card.achieved_rate, 500.0);
    near(card.intended_rate, 500.0);
    assert_eq!(card.series.iter().map(|p| p.intended).sum::<u64>(), 10_000);
}

#[test]
fn thresholds_pass_and_fail_on_the_measured_values() {
    let dir = tempfile::tempdir().unwrap();
    let summary = tap_run(dir.path(), &known_mix(1000));
    let ts: Vec<Threshold> = ["p95<500ms", "p99.9<=1.01s", "success>=97.5%", "errors<1%"]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    let card = scorecard::build(&summary, &ctx("RUN-0002", 1000), &ts);
    let passed: Vec<bool> = card.thresholds.iter().map(|t| t.passed).collect();
    assert_eq!(passed, [true, true, false, false]);
    assert_eq!(card.thresholds[2].measured, 90.0);
    assert!(!card.passed());
    assert_eq!(card.verdict, "FAIL");
    assert!(card.notes.contains("success>=97.5%") && card.notes.contains("errors<1%"));
    let good = scorecard::build(&summary, &ctx("RUN-0002", 1000), &ts[..2]);
    assert!(good.passed());
    assert_eq!(good.notes, scorecard::READY);
    let mut hit = ctx("RUN-0002", 1000);
    hit.compliance_hits = 2;
    let dirty = scorecard::build(&summary, &hit, &ts[..2]);
    assert!(!dirty.passed() && dirty.notes.contains("2 compliance hit"));
    let e = Threshold::parse("p95<fast").unwrap_err().to_string();
    assert!(e.contains("`p95<fast`"), "{e}");
}

#[test]
fn phases_split_around_a_fault_window() {
    let dir = tempfile::tempdir().unwrap();
    // 60 s at 20 req/s; the window 20..40 s answers 503 and adds 400 ms.
    let outcomes: Vec<Outcome> = (0..1200u64)
        .map(|i| {
            let t = i as i64 * 50;
            let down = (20_000..40_000).contains(&t);
            outcome(
                i,
                t,
                if down { 410 } else { 10 },
                if down { 503 } else { 200 },
            )
        })
        .collect();
    let summary = tap_run(dir.path(), &outcomes);
    let mut c = ctx("RUN-0003", 1200);
    c.fault_windows = vec![FaultWindow {
        name: "ACH_DOWN".into(),
        start_us: 20_000_000,
        end_us: 40_000_000,
    }];
    let card = scorecard::build(&summary, &c, &[]);
    let p = &card.phases[0];
    assert_eq!(
        (p.before.requests, p.during.requests, p.after.requests),
        (400, 400, 400)
    );
    assert_eq!(
        (
            p.before.success_rate,
            p.during.success_rate,
            p.after.success_rate
        ),
        (100.0, 0.0, 100.0)
    );
    assert!((p.during.latency_p50_ms - 410.0).abs() < 410.0 * 0.07);
    assert!((p.after.latency_p99_ms - 10.0).abs() < 1.0);
    assert_eq!(p.time_to_recover_s, Some(0.0));
    let text = card.render_text();
    assert!(text.contains("fault ACH_DOWN") && text.contains("time to recover: 0 s"));
}

#[test]
fn serialized_histograms_are_identical_and_merge_exactly() {
    let all = known_mix(4000);
    let (a, b) = all.split_at(1500);
    let d = tempfile::tempdir().unwrap();
    let sa = tap_run(&d.path().join("a"), a);
    let sb = tap_run(&d.path().join("b"), b);
    let sall = tap_run(&d.path().join("all"), &all);
    let ra = RunHistograms::read(&d.path().join("a")).unwrap();
    assert_eq!(ra, sa.histograms);
    let mut merged = ra;
    merged
        .merge(&RunHistograms::read(&d.path().join("b")).unwrap())
        .unwrap();
    assert_eq!(merged, sall.histograms);
    assert_eq!(merged, RunHistograms::read(&d.path().join("all")).unwrap());
    assert_eq!(sb.histograms.overall.latency.len(), 2500);
    // Whole summaries merge too (counts, endpoints, series): the scorecard of two shards is
    // the scorecard of the whole.
    let mut sm = sa.clone();
    sm.merge(&sb).unwrap();
    assert_eq!(sm.counts, sall.counts);
    assert_eq!(sm.endpoints, sall.endpoints);
    assert_eq!(sm.series, sall.series);
    let c = ctx("RUN-0004", 4000);
    assert_eq!(
        scorecard::build(&sm, &c, &[]),
        scorecard::build(&sall, &c, &[])
    );
    let bad = RunHistograms::from_json("{\"version\": 9}").unwrap_err();
    assert!(bad.to_string().contains("histogram"), "{bad}");
}

#[test]
fn html_report_is_self_contained_with_charts() {
    let data = tempfile::tempdir().unwrap();
    let (dir, card) = stored_run(data.path(), &["p95<500ms"]);
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(html, card.render_html());
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.matches("<svg").count() >= 3, "three charts expected");
    assert!(html.contains("<path"), "latency lines drawn");
    // The only URL on the page is the target's, as text.
    let html = html.replace("http://127.0.0.1:1", "");
    for bad in [
        "http://", "https://", "<script", "<link", "src=", "@import", "url(",
    ] {
        assert!(!html.contains(bad), "report refers to `{bad}`");
    }
    assert!(html.contains("GET /users/{id}") && html.contains("p95&lt;500ms"));
    // The stored JSON reads back as the same scorecard.
    assert_eq!(Scorecard::read(&dir.join("scorecard.json")).unwrap(), card);
}

#[test]
fn esr_scorecard_renders_a_stored_run_in_every_format() {
    let data = tempfile::tempdir().unwrap();
    let (dir, card) = stored_run(data.path(), &["p95<500ms", "success>=97.5%"]);
    let d = data.path().to_str().unwrap();

    let out = esr()
        .args(["scorecard", "RUN-0001", "--data", d, "--format", "json"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let back: Scorecard = serde_json::from_str(&stdout).unwrap();
    assert_eq!(back, card);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for field in [
        "run_id",
        "requests",
        "completed",
        "errors",
        "success_rate",
        "latency_ms",
        "latency_p95_ms",
        "service_ms",
        "lateness_ms",
        "late_starts",
        "intended_rate",
        "achieved_rate",
        "status_counts",
        "endpoints",
        "phases",
        "compliance_hits",
        "esq_rule_violations",
        "stub_overhead_ms",
        "queued",
        "throttled",
        "interrupted",
        "thresholds",
        "verdict",
        "notes",
    ] {
        assert!(
            v.get(field).is_some(),
            "`{field}` missing from scorecard.json"
        );
    }
    assert_eq!(v["thresholds"][1]["passed"], false);

    // Text, by run folder path; the stored verdict does not change the exit code.
    let out = esr()
        .args(["scorecard", dir.to_str().unwrap(), "--format", "text"])
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("RUN-0001") && stdout.contains("verdict     FAIL"));
    assert!(stdout.contains("latency (from due)") && stdout.contains("service (from send)"));

    // HTML to a file, with the short id form and ESR_DATA.
    let html = data.path().join("out.html");
    let out = esr()
        .env("ESR_DATA", d)
        .args(["scorecard", "1", "--format", "html", "-o"])
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(std::fs::read_to_string(&html).unwrap().contains("<svg"));

    // Judged again: a passing threshold exits 0, a failing one exits 1.
    let rejudge = |t: &str| {
        esr()
            .args(["scorecard", "RUN-0001", "--data", d, "--threshold", t])
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(rejudge("p99<2s"), Some(0));
    assert_eq!(rejudge("p99<50ms"), Some(1));
    assert_eq!(rejudge("p99<fast"), Some(2));

    // A missing run is bad input: exit 2, naming the run.
    let out = esr()
        .args(["scorecard", "RUN-0042", "--data", d])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("RUN-0042"), "{stderr}");
}

/// A rehearsal-like run: 120 s at 50 req/s over four endpoints with a spread of latencies,
/// `POST /ach/transfer` down (503, slow) from 40 s to 70 s and recovering 3 s later.
/// With `ESR_KEEP_RUN=DIR` the run folder is also copied to DIR (for
/// `scripts/render-report.sh`, which .ci/run calls).
#[test]
fn a_rehearsal_with_a_fault_window_scores_every_phase() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("runs").join("RUN-0007");
    let routes = [
        ("POST", "/login", 30.0),
        ("POST", "/fetch_premium", 150.0),
        ("POST", "/pay", 60.0),
        ("POST", "/ach/transfer", 90.0),
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut tap = Tap::create(&dir).unwrap();
    for i in 0..6000u64 {
        let due_ms = i as i64 * 20;
        let (method, endpoint, base) = routes[(i % 4) as usize];
        let t = due_ms as f64 / 1000.0;
        let ach = endpoint == "/ach/transfer";
        let down = ach && (40.0..70.0).contains(&t);
        let shaky = ach && (70.0..73.0).contains(&t) && i % 8 == 3;
        // A long-tailed latency around the route's base.
        let mut latency = base * (0.6 + 0.8 * rand()) * if rand() < 0.02 { 6.0 } else { 1.0 };
        if down {
            latency += 400.0;
        }
        let status = if down || shaky { 503 } else { 200 };
        let late_us = if rand() < 0.005 {
            15_000
        } else {
            (rand() * 900.0) as i64
        };
        let due_us = due_ms * 1000;
        tap.record(&Outcome {
            seq: i,
            session: Some(format!("u_{:08x}", i % 97)),
            method: method.into(),
            path: endpoint.into(),
            endpoint: endpoint.into(),
            due_us,
            sent_us: due_us + late_us,
            done_us: due_us + late_us + (latency * 1000.0) as i64,
            status,
            error: None,
            bytes: 120,
            body_sha256: Some([1; 32]),
            queued: false,
            throttled: false,
        })
        .unwrap();
    }
    let summary = tap.finish().unwrap();
    let mut c = ctx("RUN-0007", 6000);
    c.intended_duration_s = 119.98;
    c.fault_windows = vec![FaultWindow {
        name: "ACH_DOWN".into(),
        start_us: 40_000_000,
        end_us: 70_000_000,
    }];
    let ts: Vec<Threshold> = ["p95<500ms", "success>=97.5%", "late_starts<100"]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    let card = scorecard::build(&summary, &c, &ts);
    scorecard::write_run_files(&dir, &card).unwrap();

    let p = &card.phases[0];
    assert_eq!(p.before.success_rate, 100.0);
    assert_eq!(p.during.errors, 375); // 50 req/s × 30 s, one route in four
    assert_eq!(p.during.success_rate, 75.0);
    assert!(p.during.latency_p99_ms > p.before.latency_p99_ms);
    assert_eq!(p.time_to_recover_s, Some(3.0));
    assert_eq!(card.endpoints.len(), 4);
    assert_eq!(card.error_count, 375 + 18); // the window, then 18 shaky answers
    assert_eq!(card.success_rate, 93.45);
    assert!(!card.passed(), "success is below 97.5 %");
    assert!(card.late_starts > 0 && card.late_starts < 100);

    if let Ok(keep) = std::env::var("ESR_KEEP_RUN") {
        let keep = Path::new(&keep);
        std::fs::create_dir_all(keep).unwrap();
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), keep.join(f.file_name())).unwrap();
        }
    }
}

#[test]
fn esr_scorecard_rebuilds_from_metrics_parquet() {
    let data = tempfile::tempdir().unwrap();
    let (dir, card) = stored_run(data.path(), &["p95<500ms", "success>=97.5%"]);
    let d = data.path().to_str().unwrap();
    let raw = |args: &[&str]| {
        let out = esr()
            .args(["scorecard", "RUN-0001", "--data", d, "--format", "json"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
        out.stdout
    };
    let json = |args: &[&str]| serde_json::from_slice::<Scorecard>(&raw(args)).unwrap();
    // Re-aggregating the rows gives the very scorecard the live tap gave, and prints the
    // stored file byte for byte (as the README says), as does printing it.
    assert_eq!(json(&["--rebuild"]), card);
    let stored = std::fs::read(dir.join("scorecard.json")).unwrap();
    assert_eq!(raw(&["--rebuild"]), stored);
    assert_eq!(raw(&[]), stored);

    // With the scorecard gone, the rows and run.json are enough.
    std::fs::remove_file(dir.join("scorecard.json")).unwrap();
    std::fs::write(
        dir.join("run.json"),
        r#"{"run_id":"RUN-0001","target":"http://127.0.0.1:9","started_at":"2026-11-26T23:00:00Z","timing":{"speed":2.0,"rate":null}}"#,
    )
    .unwrap();
    let rebuilt = json(&[]);
    assert_eq!(rebuilt.requests, 1000);
    assert_eq!(rebuilt.latency_ms, card.latency_ms);
    assert_eq!(rebuilt.endpoints, card.endpoints);
    assert_eq!(rebuilt.target, "http://127.0.0.1:9");
    assert_eq!(rebuilt.speed, Some(2.0));
    assert!(rebuilt.thresholds.is_empty());

    // Nothing to rebuild from: exit 2, saying so.
    std::fs::remove_file(dir.join("metrics.parquet")).unwrap();
    let out = esr()
        .args(["scorecard", "RUN-0001", "--data", d])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("metrics.parquet"));
}
