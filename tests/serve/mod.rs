//! `esr serve`: every route and error case through `Router::oneshot`, background runs (queue,
//! cancel, archive/restore), the bearer token, the seed walkthrough and an `ACH_DOWN` run;
//! `socket` drives real sockets. Most runs use a small scenario that ends in about a second.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use esr::serve::{AppState, Token, app};
use esr::store::Store;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::util::{esr, text};

/// The seed's scenario, verbatim.
const SEED: &str = r#"{"name":"flood_rerate_wave1","actors":10000,"script":[{"action":"LOGIN","ratio":1.0},{"action":"FETCH_PREMIUM","ratio":1.0},{"action":"PAY","ratio":0.98},{"action":"ABANDON","ratio":0.02}],"duration":"30m"}"#;

/// About 40 actors over 20 s of scenario time: a second or so at speed 20.
const SMALL: &str = r#"{"name":"small","actors":40,"seed":7,"script":[{"action":"LOGIN","ratio":1.0},{"action":"PAY","ratio":0.9},{"action":"ABANDON","ratio":0.1}],"duration":"20s"}"#;

/// Long enough (10 minutes at speed 1) to be cancelled while it runs.
const LONG: &str = r#"{"name":"long","actors":600,"seed":7,"script":[{"action":"LOGIN","ratio":1.0},{"action":"PAY","ratio":1.0}],"duration":"10m"}"#;

fn state(dir: &std::path::Path, max_runs: usize, token: Option<&str>) -> AppState {
    AppState::new(
        Store::open(dir).unwrap(),
        max_runs,
        token.and_then(Token::new),
    )
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.bytes)))
    }

    fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem+json answer with `status` and returns its body.
    fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(self.content_type(), "application/problem+json");
        let p = self.json();
        assert_eq!(p["status"], status);
        assert!(p["type"].as_str().unwrap().starts_with("urn:esr:problem:"));
        assert!(!p["detail"].as_str().unwrap().is_empty());
        p
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

async fn call_with(
    st: &AppState,
    method: Method,
    uri: &str,
    body: impl Into<Body>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app(st.clone())
        .oneshot(req.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 64 << 20)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        bytes,
    }
}

async fn call(st: &AppState, method: Method, uri: &str, body: &str) -> Answer {
    let ct = [("content-type", "application/json")];
    call_with(st, method, uri, body.to_string(), &ct).await
}

async fn get(st: &AppState, uri: &str) -> Answer {
    call(st, Method::GET, uri, "").await
}

/// Posts a scenario and starts a run of it; returns the run's id and first state.
async fn start(st: &AppState, scenario: &str, body: &str) -> (String, String) {
    let a = call(st, Method::POST, "/api/esr/scenarios", scenario).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let id = a.json()["id"].as_str().unwrap().to_string();
    let a = call(
        st,
        Method::POST,
        &format!("/api/esr/scenarios/{id}/run"),
        body,
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text());
    let v = a.json();
    (
        v["runId"].as_str().unwrap().to_string(),
        v["state"].as_str().unwrap().to_string(),
    )
}

/// Polls `GET /api/esr/runs/{id}` until `pred` holds (bounded), returns the last answer.
async fn wait_for(
    st: &AppState,
    id: &str,
    limit: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let until = Instant::now() + limit;
    loop {
        let v = get(st, &format!("/api/esr/runs/{id}")).await.json();
        if pred(&v) {
            return v;
        }
        assert!(Instant::now() < until, "run `{id}` did not get there: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn body_json(r: reqwest::Response) -> Value {
    let t = r.text().await.unwrap();
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("not JSON ({e}): {t}"))
}

fn is_final(v: &Value) -> bool {
    matches!(v["state"].as_str(), Some("DONE" | "FAILED" | "CANCELLED"))
}

#[tokio::test]
async fn scenarios_are_created_listed_read_and_deleted_with_problems_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), 1, None);

    let a = call(&st, Method::POST, "/api/esr/scenarios", SEED).await;
    assert_eq!(a.status, StatusCode::CREATED);
    let v = a.json();
    assert_eq!(
        (v["id"].as_str(), v["status"].as_str()),
        (Some("SCN-1"), Some("READY"))
    );

    let list = get(&st, "/api/esr/scenarios").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "flood_rerate_wave1");
    let one = get(&st, "/api/esr/scenarios/SCN-1").await.json();
    let stored: Value = serde_json::from_str(SEED).unwrap();
    assert_eq!(one["scenario"], stored);

    // A bad value names its field.
    let bad = SEED.replace(r#""ratio":0.98"#, r#""ratio":"lots""#);
    let p = call(&st, Method::POST, "/api/esr/scenarios", &bad)
        .await
        .problem(422);
    assert!(
        p["errors"][0]["field"]
            .as_str()
            .unwrap()
            .contains("script[2]"),
        "{p}"
    );
    // An unknown field is rejected, named.
    let bad = SEED.replace(r#""duration""#, r#""durration""#);
    let p = call(&st, Method::POST, "/api/esr/scenarios", &bad)
        .await
        .problem(422);
    assert!(p.to_string().contains("durration"), "{p}");
    // Not JSON at all, not UTF-8, too large.
    call(&st, Method::POST, "/api/esr/scenarios", "{\"name\":")
        .await
        .problem(422);
    let a = call_with(
        &st,
        Method::POST,
        "/api/esr/scenarios",
        vec![0xffu8, 0xfe],
        &[],
    )
    .await;
    a.problem(400);
    let huge = format!(
        "{{\"name\":\"{}\"}}",
        "x".repeat(esr::serve::BODY_LIMIT + 10)
    );
    let p = call(&st, Method::POST, "/api/esr/scenarios", &huge)
        .await
        .problem(413);
    assert_eq!(p["type"], "urn:esr:problem:body-too-large");
    // TOML with a toml content type.
    let toml = "name = \"t\"\nactors = 10\nduration = \"10s\"\n\n[[script]]\naction = \"LOGIN\"\nratio = 1.0\n";
    let a = call_with(
        &st,
        Method::POST,
        "/api/esr/scenarios",
        toml,
        &[("content-type", "application/toml")],
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    assert_eq!(a.json()["id"], "SCN-2");

    let a = call(&st, Method::DELETE, "/api/esr/scenarios/SCN-1", "").await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    call(&st, Method::DELETE, "/api/esr/scenarios/SCN-1", "")
        .await
        .problem(404);
    get(&st, "/api/esr/scenarios/SCN-1").await.problem(404);
    get(&st, "/api/esr/scenarios/garbage").await.problem(404);
    // Ids keep counting after a delete.
    let a = call(&st, Method::POST, "/api/esr/scenarios", SEED).await;
    assert_eq!(a.json()["id"], "SCN-3");
}

#[tokio::test]
async fn bad_run_requests_and_unknown_things_are_problems() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), 1, None);
    call(&st, Method::POST, "/api/esr/scenarios", SMALL).await;

    let run = "/api/esr/scenarios/SCN-1/run";
    let p = call(&st, Method::POST, run, r#"{"speed":60,"sped":2}"#)
        .await
        .problem(422);
    assert_eq!(p["errors"][0]["field"], "sped");
    let p = call(&st, Method::POST, run, r#"{"speed":0}"#)
        .await
        .problem(422);
    assert_eq!(p["errors"][0]["field"], "speed");
    let p = call(&st, Method::POST, run, r#"{"speed":"fast"}"#)
        .await
        .problem(422);
    assert_eq!(p["errors"][0]["field"], "speed");
    call(&st, Method::POST, run, r#"{"speed":"#)
        .await
        .problem(400);
    call(&st, Method::POST, "/api/esr/scenarios/SCN-9/run", "")
        .await
        .problem(404);
    // A trace-based scenario whose trace is gone: refused before a run exists.
    let trace = dir.path().join("t.parquet");
    std::fs::write(&trace, b"placeholder").unwrap();
    let body = json!({"name": "traced", "trace": trace, "speed": 2}).to_string();
    let a = call(&st, Method::POST, "/api/esr/scenarios", &body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    std::fs::remove_file(&trace).unwrap();
    let p = call(&st, Method::POST, "/api/esr/scenarios/SCN-2/run", "")
        .await
        .problem(422);
    assert_eq!(p["errors"][0]["field"], "trace");
    // None of the refused requests made a run.
    assert_eq!(get(&st, "/api/esr/runs").await.json(), json!([]));

    for uri in [
        "/api/esr/runs/RUN-0099",
        "/api/esr/runs/RUN-0099/scorecard",
        "/api/esr/runs/RUN-0099/scorecard.html",
        "/api/esr/runs/RUN-0099/metrics.parquet",
    ] {
        get(&st, uri).await.problem(404);
    }
    call(&st, Method::POST, "/api/esr/runs/RUN-0099/cancel", "")
        .await
        .problem(404);
    call(&st, Method::POST, "/api/esr/runs/RUN-0099/restore", "")
        .await
        .problem(404);
    let p = get(&st, "/api/esr/nothing-here").await.problem(404);
    assert_eq!(p["type"], "urn:esr:problem:no-route");
    call(&st, Method::PUT, "/api/esr/runs", "")
        .await
        .problem(405);

    let h = get(&st, "/api/esr/health").await.json();
    assert_eq!(h["status"], "ok");
    let doc = get(&st, "/api/esr/openapi.json").await;
    assert_eq!(doc.content_type(), "application/json");
    assert!(doc.json()["paths"]["/api/esr/runs/{id}/cancel"]["post"].is_object());
}

#[tokio::test]
async fn with_a_token_every_route_but_health_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), 1, Some("right-token"));
    let a = get(&st, "/api/esr/scenarios").await;
    a.problem(401);
    assert_eq!(a.headers[header::WWW_AUTHENTICATE], "Bearer");
    let wrong = [("authorization", "Bearer wrong-token")];
    call_with(&st, Method::GET, "/api/esr/runs", "", &wrong)
        .await
        .problem(401);
    call_with(&st, Method::POST, "/api/esr/scenarios", SMALL, &wrong)
        .await
        .problem(401);
    call_with(&st, Method::GET, "/api/esr/openapi.json", "", &[])
        .await
        .problem(401);
    let basic = [("authorization", "Basic cmlnaHQtdG9rZW4=")];
    call_with(&st, Method::GET, "/api/esr/runs", "", &basic)
        .await
        .problem(401);

    let right = [
        ("authorization", "Bearer right-token"),
        ("content-type", "application/json"),
    ];
    let a = call_with(&st, Method::POST, "/api/esr/scenarios", SMALL, &right).await;
    assert_eq!(a.status, StatusCode::CREATED);
    let lower = [("authorization", "bearer right-token")];
    let a = call_with(&st, Method::GET, "/api/esr/scenarios/SCN-1", "", &lower).await;
    assert_eq!(a.status, StatusCode::OK);
    // Health answers without a token.
    assert_eq!(get(&st, "/api/esr/health").await.status, StatusCode::OK);

    // Loopback without a token: everything answers.
    let open = state(tempfile::tempdir().unwrap().path(), 1, None);
    assert_eq!(
        get(&open, "/api/esr/scenarios").await.status,
        StatusCode::OK
    );
}

#[test]
fn serve_refuses_to_listen_beyond_loopback_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = esr()
        .args(["serve", "--listen", "0.0.0.0:0", "--data"])
        .arg(dir.path())
        .env_remove("ESR_API_TOKEN")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("ESR_API_TOKEN") && stderr.contains("0.0.0.0"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_run_goes_to_done_with_its_files_and_queues_beyond_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), 1, None);
    let (first, s1) = start(&st, SMALL, r#"{"speed":20}"#).await;
    let (second, s2) = start(&st, SMALL, r#"{"speed":20}"#).await;
    assert_eq!((first.as_str(), s1.as_str()), ("RUN-0001", "STARTED"));
    assert_eq!((second.as_str(), s2.as_str()), ("RUN-0002", "QUEUED"));
    // A queued or running run has no scorecard yet.
    get(&st, &format!("/api/esr/runs/{second}/scorecard"))
        .await
        .problem(409);

    let v = wait_for(&st, &first, Duration::from_secs(60), is_final).await;
    assert_eq!(v["state"], "DONE", "{v}");
    assert_eq!(v["progress"]["fraction"], 1.0);
    assert!(v["summary"]["requests"].as_u64().unwrap() > 0, "{v}");
    assert!(v["startedAt"].is_string() && v["finishedAt"].is_string());
    let v = wait_for(&st, &second, Duration::from_secs(60), is_final).await;
    assert_eq!(v["state"], "DONE", "{v}");

    let card = get(&st, &format!("/api/esr/runs/{first}/scorecard")).await;
    assert_eq!(card.content_type(), "application/json");
    let on_disk = std::fs::read(dir.path().join("runs/RUN-0001/scorecard.json")).unwrap();
    assert_eq!(card.bytes, on_disk);
    assert_eq!(card.json()["run_id"], "RUN-0001");
    let html = get(&st, &format!("/api/esr/runs/{first}/scorecard.html")).await;
    assert!(html.content_type().starts_with("text/html"));
    assert!(html.text().contains("RUN-0001"));
    let pq = get(&st, &format!("/api/esr/runs/{first}/metrics.parquet")).await;
    assert_eq!(pq.status, StatusCode::OK);
    assert_eq!(&pq.bytes[..4], b"PAR1");
    call(
        &st,
        Method::POST,
        &format!("/api/esr/runs/{first}/cancel"),
        "",
    )
    .await
    .problem(409);

    let runs = get(&st, "/api/esr/runs").await.json();
    assert_eq!(runs.as_array().unwrap().len(), 2);

    // Two runs of one scenario replay the same trace: the API diffs them as `esr diff` does.
    let d = get(&st, &format!("/api/esr/runs/{first}/diff/{second}")).await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.text());
    let d = d.json();
    assert_eq!(d["run_a"], "RUN-0001");
    assert_eq!(d["run_b"], "RUN-0002");
    assert_eq!(d["same_trace"], true, "{d}");
    let verdict = d["verdict"].as_str().unwrap();
    assert!(
        ["unchanged", "regressed", "improved", "too_little_data"].contains(&verdict),
        "{d}"
    );
    assert!(!d["endpoints"].as_array().unwrap().is_empty(), "{d}");
    get(&st, &format!("/api/esr/runs/{first}/diff/RUN-9999"))
        .await
        .problem(404);

    // Archive (as the periodic task does), then restore through the API.
    st.store().archive_older_than(0.0).unwrap();
    let v = get(&st, &format!("/api/esr/runs/{first}")).await.json();
    assert_eq!(v["archived"], true);
    assert!(v["summary"]["latencyP95Ms"].is_number(), "{v}");
    let p = get(&st, &format!("/api/esr/runs/{first}/scorecard"))
        .await
        .problem(409);
    assert!(p["detail"].as_str().unwrap().contains("restore"), "{p}");
    get(&st, &format!("/api/esr/runs/{first}/diff/{second}"))
        .await
        .problem(409);
    let a = call(
        &st,
        Method::POST,
        &format!("/api/esr/runs/{first}/restore"),
        "",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json()["archived"], false);
    let again = get(&st, &format!("/api/esr/runs/{first}/scorecard")).await;
    assert_eq!(again.bytes, on_disk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_and_a_queued_run() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), 1, None);
    let (running, _) = start(&st, LONG, "").await;
    let (queued, s) = start(&st, LONG, "").await;
    assert_eq!(s, "QUEUED");
    wait_for(&st, &running, Duration::from_secs(30), |v| {
        v["progress"]["sent"].as_u64().unwrap_or(0) > 0
    })
    .await;

    let a = call(
        &st,
        Method::POST,
        &format!("/api/esr/runs/{queued}/cancel"),
        "",
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(a.json()["state"], "CANCELLED");
    let a = call(
        &st,
        Method::POST,
        &format!("/api/esr/runs/{running}/cancel"),
        "",
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text());
    let v = wait_for(&st, &running, Duration::from_secs(30), is_final).await;
    assert_eq!(v["state"], "CANCELLED", "{v}");
    assert_eq!(v["summary"]["interrupted"], true, "{v}");
    // Its partial scorecard is complete (written atomically) and served.
    let card = get(&st, &format!("/api/esr/runs/{running}/scorecard"))
        .await
        .json();
    assert_eq!(card["interrupted"], true);
    get(&st, &format!("/api/esr/runs/{queued}/scorecard"))
        .await
        .problem(409);
}

/// The seed's three steps, as the seed writes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_walkthrough() {
    let _quiet = crate::util::timing_lock().lock().await;
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), 2, None);
    let a = call(&st, Method::POST, "/api/esr/scenarios", SEED).await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(a.json(), json!({"id": "SCN-1", "status": "READY"}));
    let a = call(
        &st,
        Method::POST,
        "/api/esr/scenarios/SCN-1/run",
        r#"{"speed":60}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(a.json(), json!({"runId": "RUN-0001", "state": "STARTED"}));
    let v = wait_for(&st, "RUN-0001", Duration::from_secs(120), is_final).await;
    assert_eq!(v["state"], "DONE", "{v}");
    let card = get(&st, "/api/esr/runs/RUN-0001/scorecard").await.json();
    assert!(card["latency_p95_ms"].as_f64().unwrap() > 0.0, "{card}");
    let pay = card["payment_success"].as_f64().unwrap();
    assert!((90.0..=100.0).contains(&pay), "payment_success {pay}");
    assert_eq!(card["compliance_hits"], 0);
    assert_eq!(card["esq_rule_violations"], json!([]));
    assert!(!card["notes"].as_str().unwrap().is_empty());
    assert_eq!(v["summary"]["paymentSuccess"].as_f64(), Some(pay));
}

/// The seed's flow with an `ACH_DOWN` fault: the scorecard served by the API has the phases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_an_ach_down_fault_shows_its_phases() {
    let _quiet = crate::util::timing_lock().lock().await;
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), 2, None);
    let sc = r#"{"name":"ach_fault","actors":600,"seed":3,"duration":"6m",
        "script":[{"action":"LOGIN","ratio":1.0},{"action":"ACH","ratio":1.0},{"action":"PAY","ratio":1.0}],
        "faults":[{"action":"ACH_DOWN","at":"2m","for":"2m"}]}"#;
    let (id, _) = start(&st, sc, r#"{"speed":60}"#).await;
    let v = wait_for(&st, &id, Duration::from_secs(60), is_final).await;
    assert_eq!(v["state"], "DONE", "{v}");
    let card = get(&st, &format!("/api/esr/runs/{id}/scorecard"))
        .await
        .json();
    let p = &card["phases"][0];
    assert_eq!(p["window"], "ACH_DOWN", "{card}");
    assert!(p["during"]["errors"].as_u64().unwrap() > 0, "{p}");
    assert!(p["after"]["requests"].as_u64().unwrap() > 0, "{p}");
}

mod socket;
