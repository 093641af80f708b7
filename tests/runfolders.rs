//! Everything that reads run folders reads them the same way: a run the replay engine marked
//! `FAILED` is reported as failed (with the engine's reason) by `esr scorecard`, `esr diff`,
//! `esr runs` and the API; runs `esr replay --data DIR` wrote are listed by `esr runs` and
//! `GET /api/esr/runs` beside the API's own (origin `cli`).

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use esr::serve::{AppState, app};
use esr::store::Store;
use serde_json::Value;
use tower::ServiceExt;

use crate::replay::{Server, write_trace};
use crate::util::{esr, text};

fn ok(_: usize) -> (u16, Duration) {
    (200, Duration::ZERO)
}

fn esr_in(data: &Path, args: &[&str]) -> Output {
    esr()
        .args(args)
        .arg("--data")
        .arg(data)
        .env_remove("ESR_DATA")
        .output()
        .unwrap()
}

async fn get(st: &AppState, uri: &str) -> (StatusCode, Value) {
    let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
    let res = app(st.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[cfg(unix)]
#[test]
fn a_failed_run_is_reported_failed_by_every_reader_and_cli_runs_are_listed() {
    // Two replays at 4,000 requests a second: heavy, so not beside a latency-judging test.
    let _quiet = crate::util::timing_lock().blocking_lock();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let trace = write_trace(dir.path(), 4_000, 1_000);
    let server = Server::start(ok);
    // RUN-0001: the disk fills while metrics are written; the engine marks the run failed.
    let out = crate::drills::replay_with_file_cap(64, dir.path(), &trace, &server.url());
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(data.join("runs/RUN-0001/FAILED").is_file());
    // RUN-0002: a good run of the same trace.
    let out = esr()
        .arg("replay")
        .arg(&trace)
        .args(["--target", &server.url(), "--rate", "4000", "--data"])
        .arg(&data)
        .env_remove("ESR_DATA")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    // esr scorecard: exit 2, says the run failed and why, not that a file is missing.
    let out = esr_in(&data, &["scorecard", "RUN-0001"]);
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(se.contains("RUN-0001` failed ("), "{se}");
    assert!(se.contains("metrics.parquet"), "the engine's reason: {se}");
    assert!(!se.contains("neither"), "{se}");

    // esr diff: either side failed is refused, naming it.
    for args in [
        ["diff", "RUN-0002", "RUN-0001"],
        ["diff", "RUN-0001", "RUN-0002"],
    ] {
        let out = esr_in(&data, &args);
        let (_, se) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{se}");
        assert!(se.contains("RUN-0001` failed ("), "{se}");
        assert!(se.contains("no results to diff"), "{se}");
    }

    // esr runs, with no store in the folder: both CLI runs, the failed one FAILED; no store
    // is created by reading.
    let out = esr_in(&data, &["runs", "list"]);
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{so}{se}");
    let line = |id: &str| {
        so.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} not listed: {so}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    let (l1, l2) = (line("RUN-0001"), line("RUN-0002"));
    assert_eq!((l1[1], l1[l1.len() - 1]), ("FAILED", "cli"), "{so}");
    assert_eq!(
        (l2[1], l2[4], l2[l2.len() - 1]),
        ("DONE", "4000", "cli"),
        "{so}"
    );
    assert!(!data.join(esr::store::DB_FILE).exists());
    let out = esr_in(&data, &["runs", "show", "RUN-0001"]);
    let (so, _) = text(&out);
    assert!(so.contains("state      FAILED"), "{so}");
    assert!(so.contains("origin     cli"), "{so}");
    assert!(
        so.contains("error      ") && so.contains("metrics.parquet"),
        "{so}"
    );

    // The API, on a store opened in the same folder (as `esr serve --data` does).
    let st = AppState::new(Store::open(&data).unwrap(), 1, None);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (status, list) = get(&st, "/api/esr/runs").await;
        assert_eq!(status, StatusCode::OK);
        let states: Vec<(&str, &str, &str)> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["runId"].as_str().unwrap(),
                    r["state"].as_str().unwrap(),
                    r["origin"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            states,
            [("RUN-0001", "FAILED", "cli"), ("RUN-0002", "DONE", "cli")]
        );
        let (status, one) = get(&st, "/api/esr/runs/RUN-0001").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(one["state"], "FAILED");
        assert!(one["error"].as_str().unwrap().contains("metrics.parquet"));
        let (status, two) = get(&st, "/api/esr/runs/RUN-0002").await;
        assert_eq!(
            (status, two["summary"]["requests"].as_u64()),
            (StatusCode::OK, Some(4000))
        );
        let (status, card) = get(&st, "/api/esr/runs/RUN-0002/scorecard").await;
        assert_eq!(
            (status, card["requests"].as_u64()),
            (StatusCode::OK, Some(4000))
        );
        let (status, p) = get(&st, "/api/esr/runs/RUN-0002/diff/RUN-0001").await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("RUN-0001` is FAILED"),
            "{p}"
        );
    });
    // The store now exists; archiving takes only the API's runs (it keeps their summaries),
    // so the CLI runs' folders stay.
    let out = esr_in(&data, &["runs", "archive", "--older-than", "0"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(data.join("runs/RUN-0002/scorecard.json").is_file());
}
