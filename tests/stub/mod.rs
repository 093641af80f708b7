//! Sandbox stubs: latency models sampled directly (fixed seeds, statistical tolerances), and
//! real stubs on `127.0.0.1:0` driven by a real HTTP client (reqwest): faults on a scaled,
//! injectable clock, reset and hang as a client sees them, host routing, routes built from a
//! trace, the metrics text, and the `esr stub` command's contract.

use std::process::{Child, Stdio};
use std::time::Duration;

use esr::stub::{
    FaultConfig, FaultKind, INJECTED_HEADER, LatencyConfig, ManualClock, RouteConfig, StubConfig,
    StubOptions, StubServer, from_trace, hms,
};
use esr::trace::{TraceMeta, TraceRecord, TraceWriter};

use crate::util::{announced_url, esr, root, text};

mod models;

// ---------------------------------------------------------------------------------------
// Real stubs over loopback.

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn get_text(c: &reqwest::Client, url: &str) -> (u16, String) {
    let r = c.get(url).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.text().await.unwrap())
}

#[tokio::test]
async fn hms_preset_answers_its_routes_with_injected_latency_in_bounds() {
    let stub = StubServer::spawn(hms()).await.unwrap();
    let c = client();
    let r = c
        .post(format!("{}/fetch_premium", stub.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let injected: f64 = r.headers()[INJECTED_HEADER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((50.0..=250.0).contains(&injected), "{injected}");
    assert_eq!(r.text().await.unwrap(), r#"{"premium":74200}"#);
    let login = c
        .post(format!("{}/login", stub.url()))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&login.text().await.unwrap()).unwrap();
    assert!(body["token"].is_string());
    // Anything else replays against the catch-all.
    let (s, b) = get_text(&c, &format!("{}/not/in/the/preset?x=1", stub.url())).await;
    assert_eq!((s, b.as_str()), (200, "{}"));
    // The ACH fault exists but is off until scheduled or switched on.
    let r = c
        .post(format!("{}/ach/transfer", stub.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    stub.shutdown().await;
}

#[tokio::test]
async fn a_sleeping_request_does_not_hold_up_others() {
    let mut cfg = StubConfig::default();
    let mut slow = RouteConfig::new("GET", "/slow");
    slow.latency = Some(LatencyConfig::Fixed { ms: 3000.0 });
    cfg.routes.push(slow);
    let stub = StubServer::spawn(cfg).await.unwrap();
    let c = client();
    let slow = tokio::spawn({
        let (c, url) = (c.clone(), format!("{}/slow", stub.url()));
        async move { c.get(url).send().await.unwrap().status() }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Ten quick requests on other connections all finish while the slow one still sleeps.
    for _ in 0..10 {
        let (s, _) = get_text(&c, &format!("{}/quick", stub.url())).await;
        assert_eq!(s, 200);
    }
    assert!(
        !slow.is_finished(),
        "the quick requests waited for the slow one"
    );
    assert_eq!(slow.await.unwrap(), 200);
    stub.shutdown().await;
}

#[tokio::test]
async fn path_parameters_are_echoed_and_catch_all_can_be_off() {
    let mut cfg = StubConfig::default();
    let mut r = RouteConfig::new("GET", "/users/{id}/orders/{order}");
    r.body = Some(serde_json::json!({"user": "{{id}}", "order": "{{order}}"}));
    cfg.routes.push(r);
    cfg.catch_all = false;
    let stub = StubServer::spawn(cfg).await.unwrap();
    let c = client();
    let (s, b) = get_text(&c, &format!("{}/users/42/orders/7", stub.url())).await;
    assert_eq!(s, 200);
    assert_eq!(b, r#"{"order":"7","user":"42"}"#);
    let (s, _) = get_text(&c, &format!("{}/elsewhere", stub.url())).await;
    assert_eq!(s, 404);
    stub.shutdown().await;
}

#[tokio::test]
async fn faults_start_and_stop_on_the_scaled_timeline() {
    let t0 = 1_800_000_000_000_000i64; // µs since the epoch
    let clock = ManualClock::new(t0);
    let mut cfg = hms();
    cfg.schedule_fault(
        "ACH_DOWN",
        Duration::from_secs(15 * 60),
        Duration::from_secs(5 * 60),
    )
    .unwrap();
    let opts = StubOptions {
        speed: 2.0,
        start_unix_us: Some(t0),
        clock: std::sync::Arc::new(clock.clone()),
        ..StubOptions::default()
    };
    let stub = StubServer::spawn_with(cfg, opts).await.unwrap();
    let c = client();
    let ach = format!("{}/ach/transfer", stub.url());
    let status_at = |secs: f64| {
        clock.set_unix_us(t0 + (secs * 1e6) as i64);
        let (c, ach) = (c.clone(), ach.clone());
        async move { c.post(ach).send().await.unwrap().status().as_u16() }
    };
    // At 2x, "15m for 5m" is 450 s to 600 s on the replay clock.
    assert_eq!(status_at(0.0).await, 200);
    assert_eq!(status_at(449.9).await, 200);
    assert_eq!(status_at(450.0).await, 503);
    assert_eq!(status_at(599.9).await, 503);
    assert_eq!(status_at(600.0).await, 200);
    // Other routes never see it.
    assert_eq!(
        c.post(format!("{}/login", stub.url()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // The list the replayer reads.
    clock.set_unix_us(t0 + 500_000_000);
    let (_, doc) = get_text(&c, &format!("{}/__esr/faults", stub.url())).await;
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["speed"], 2.0);
    assert_eq!(doc["clock_start_unix_ms"], t0 / 1000);
    let f = &doc["faults"][0];
    assert_eq!(f["name"], "ACH_DOWN");
    assert_eq!(f["route"], "POST /ach/transfer");
    assert_eq!(
        (f["at_s"].as_f64(), f["for_s"].as_f64()),
        (Some(450.0), Some(150.0))
    );
    assert_eq!(f["start_unix_ms"], t0 / 1000 + 450_000);
    assert_eq!(f["end_unix_ms"], t0 / 1000 + 600_000);
    assert_eq!(f["active"], true);

    // Switched off by hand inside its window, then on by hand outside it, then back.
    let switch = |active: serde_json::Value| {
        let (c, url) = (c.clone(), format!("{}/__esr/faults", stub.url()));
        async move {
            let body = serde_json::json!({"name": "ACH_DOWN", "active": active}).to_string();
            c.post(url)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(switch(serde_json::json!(false)).await, 200);
    assert_eq!(status_at(500.0).await, 200);
    assert_eq!(switch(serde_json::json!(true)).await, 200);
    assert_eq!(status_at(5000.0).await, 503);
    assert_eq!(switch(serde_json::Value::Null).await, 200);
    assert_eq!(status_at(5000.0).await, 200);
    // The hand-switched stretch is reported as a window of its own, for the scorecard.
    let (_, doc) = get_text(&c, &format!("{}/__esr/faults", stub.url())).await;
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let sw = &doc["faults"][1];
    assert_eq!(
        (sw["name"].as_str(), sw["manual"].as_bool()),
        (Some("ACH_DOWN"), Some(true))
    );
    assert_eq!(
        (sw["at_s"].as_f64(), sw["for_s"].as_f64()),
        (Some(500.0), Some(4500.0))
    );
    assert_eq!(sw["active"], false);
    assert!(
        doc["config_digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    // An unknown name is refused, naming the faults there are.
    let r = c
        .post(format!("{}/__esr/faults", stub.url()))
        .body(r#"{"name":"NOPE","active":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("ACH_DOWN"));
    // A replay that starts 100 s after the stub moves the clock start: the window follows.
    let r = c
        .post(format!("{}/__esr/clock", stub.url()))
        .body(format!(r#"{{"start_unix_ms":{}}}"#, t0 / 1000 + 100_000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(status_at(500.0).await, 200);
    assert_eq!(status_at(550.0).await, 503);
    assert_eq!(status_at(700.0).await, 200);
    stub.shutdown().await;
}

fn faulty(kind: FaultKind) -> StubConfig {
    let mut cfg = StubConfig::default();
    let mut r = RouteConfig::new("POST", "/pay");
    let mut f = FaultConfig::named("PAY_FAULT");
    f.kind = kind;
    f.at = Some("0s".into());
    f.for_ = Some("1h".into());
    r.faults.push(f);
    cfg.routes.push(r);
    cfg
}

#[tokio::test]
async fn a_reset_is_a_connection_error_to_the_client() {
    let stub = StubServer::spawn(faulty(FaultKind::Reset)).await.unwrap();
    let c = client();
    let e = c
        .post(format!("{}/pay", stub.url()))
        .body("{}")
        .send()
        .await
        .expect_err("a reset must not look like an answer");
    assert!(
        e.is_request() && !e.is_timeout() && e.status().is_none(),
        "{e:?}"
    );
    // The stub itself is fine and counted it.
    let (s, m) = get_text(&c, &format!("{}/__esr/metrics", stub.url())).await;
    assert_eq!(s, 200);
    assert!(
        m.contains(r#"esr_stub_faulted_total{route="POST /pay",fault="PAY_FAULT",kind="reset"} 1"#),
        "{m}"
    );
    stub.shutdown().await;
}

#[tokio::test]
async fn a_hang_is_a_client_timeout() {
    let stub = StubServer::spawn(faulty(FaultKind::Hang)).await.unwrap();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let e = c
        .post(format!("{}/pay", stub.url()))
        .send()
        .await
        .expect_err("a hang must never answer");
    assert!(e.is_timeout(), "{e:?}");
    let (s, _) = get_text(&client(), &format!("{}/__esr/health", stub.url())).await;
    assert_eq!(s, 200);
    stub.shutdown().await;
}

#[tokio::test]
async fn hosts_route_one_process_to_several_services() {
    let mut cfg = StubConfig::default();
    for (host, svc) in [
        (None, "any"),
        (Some("ach.sandbox"), "ach"),
        (Some("pay.sandbox"), "pay"),
    ] {
        let mut r = RouteConfig::new("GET", "/health");
        r.host = host.map(String::from);
        r.body = Some(serde_json::json!({ "svc": svc }));
        cfg.routes.push(r);
    }
    let stub = StubServer::spawn(cfg).await.unwrap();
    let c = client();
    let url = format!("{}/health", stub.url());
    for (host, want) in [
        ("ach.sandbox", "ach"),
        ("PAY.sandbox:8443", "pay"),
        ("other.sandbox", "any"),
    ] {
        let r = c.get(&url).header("host", host).send().await.unwrap();
        let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(body["svc"], want, "host {host}");
    }
    stub.shutdown().await;
}

#[tokio::test]
async fn routes_built_from_a_trace_answer_with_its_statuses_and_latencies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let mut w = TraceWriter::create(&path, vec![]).unwrap();
    let recorded = [1.0, 2.0, 3.5];
    for i in 0..200u16 {
        w.write(&TraceRecord {
            ts_us: 1_000_000 + i64::from(i) * 1000,
            method: "GET".into(),
            path: format!("/users/{}?tab=orders", 1000 + i),
            status: Some(if i % 4 == 0 { 404 } else { 200 }),
            latency_ms: Some(recorded[usize::from(i) % 3]),
            ..TraceRecord::default()
        })
        .unwrap();
        w.write(&TraceRecord {
            ts_us: 1_000_500 + i64::from(i) * 1000,
            method: "POST".into(),
            path: "/login".into(),
            host: Some(
                if i % 2 == 0 {
                    "auth.sandbox"
                } else {
                    "auth2.sandbox"
                }
                .into(),
            ),
            status: Some(201),
            latency_ms: None,
            ..TraceRecord::default()
        })
        .unwrap();
    }
    w.finish(TraceMeta::default()).unwrap();

    let t = from_trace(&path).unwrap();
    assert_eq!(t.rows, 400);
    assert_eq!(t.without_latency, 2, "POST /login has no recorded latency");
    let names: Vec<String> = t.config.routes.iter().map(|r| r.display_name()).collect();
    // Hosts are kept only where they tell two endpoints apart.
    assert_eq!(
        names,
        [
            "POST /login@auth.sandbox",
            "POST /login@auth2.sandbox",
            "GET /users/{id}"
        ]
    );

    let stub = StubServer::spawn(t.config).await.unwrap();
    let c = client();
    let (mut not_found, n) = (0, 400);
    for i in 0..n {
        let r = c
            .get(format!("{}/users/{}", stub.url(), 5000 + i))
            .send()
            .await
            .unwrap();
        let injected: f64 = r.headers()[INJECTED_HEADER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            recorded.contains(&injected),
            "{injected} was never recorded"
        );
        match r.status().as_u16() {
            404 => not_found += 1,
            200 => {}
            s => panic!("status {s} was never recorded"),
        }
    }
    // 25 % recorded 404s: 100 expected of 400, binomial sd ≈ 8.7; allow 4 sd.
    assert!((65..=135).contains(&not_found), "{not_found} of {n}");
    let r = c
        .post(format!("{}/login", stub.url()))
        .header("host", "auth.sandbox")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()[INJECTED_HEADER], "5.000");
    stub.shutdown().await;
}

/// One parsed sample: name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// Parses Prometheus text exposition strictly enough to catch malformed output: every line
/// is a HELP/TYPE comment or `name{labels} value`, every sample belongs to a declared family,
/// histogram buckets are cumulative and end at `+Inf` == `_count`.
fn parse_prometheus(t: &str) -> Vec<Sample> {
    let mut types = std::collections::HashMap::new();
    let mut out = Vec::new();
    for line in t.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut it = rest.splitn(3, ' ');
            let (kw, name, arg) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
            match kw {
                "HELP" => {}
                "TYPE" => {
                    assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&arg));
                    types.insert(name.to_string(), arg.to_string());
                }
                _ => panic!("bad comment line {line:?}"),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line:?}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), vec![]),
            Some((n, l)) => {
                let l = l
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line:?}"));
                let labels = l
                    .split("\",")
                    .map(|kv| {
                        let (k, v) = kv
                            .split_once("=\"")
                            .unwrap_or_else(|| panic!("bad label: {line:?}"));
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                (n.to_string(), labels)
            }
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad name: {line:?}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(&name);
        assert!(
            types.contains_key(family),
            "sample of an undeclared family: {line:?}"
        );
        out.push((name, labels, value));
    }
    out
}

#[tokio::test]
async fn metrics_text_parses_and_counts_what_happened() {
    let stub = StubServer::spawn(hms()).await.unwrap();
    let c = client();
    for _ in 0..5 {
        c.post(format!("{}/login", stub.url()))
            .send()
            .await
            .unwrap();
    }
    c.get(format!("{}/whatever", stub.url()))
        .send()
        .await
        .unwrap();
    let (s, t) = get_text(&c, &format!("{}/__esr/metrics", stub.url())).await;
    assert_eq!(s, 200);
    let samples = parse_prometheus(&t);
    let get = |name: &str, route: &str, extra: Option<(&str, &str)>| {
        samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && l.iter().any(|(k, v)| k == "route" && v == route)
                    && extra.is_none_or(|(ek, ev)| l.iter().any(|(k, v)| k == ek && v == ev))
            })
            .map(|s| s.2)
    };
    assert_eq!(
        get("esr_stub_requests_total", "POST /login", None),
        Some(5.0)
    );
    assert_eq!(get("esr_stub_requests_total", "catch-all", None), Some(1.0));
    assert_eq!(
        get(
            "esr_stub_responses_total",
            "POST /login",
            Some(("status", "200"))
        ),
        Some(5.0)
    );
    // Login sleeps 20–60 ms: nothing in the 10 ms bucket, everything by 100 ms.
    let bucket = |le| {
        get(
            "esr_stub_injected_latency_seconds_bucket",
            "POST /login",
            Some(("le", le)),
        )
    };
    assert_eq!(bucket("0.01"), Some(0.0));
    assert_eq!(bucket("0.1"), Some(5.0));
    assert_eq!(
        bucket("+Inf"),
        get(
            "esr_stub_injected_latency_seconds_count",
            "POST /login",
            None
        )
    );
    for family in [
        "esr_stub_injected_latency_seconds",
        "esr_stub_overhead_seconds",
    ] {
        let mut last = 0.0;
        for (_, _, v) in samples.iter().filter(|(n, l, _)| {
            *n == format!("{family}_bucket")
                && l.iter().any(|(k, v)| k == "route" && v == "POST /login")
        }) {
            assert!(*v >= last, "{family} buckets are not cumulative");
            last = *v;
        }
    }
    // The stats document the replayer reads.
    let (_, j) = get_text(&c, &format!("{}/__esr/stats", stub.url())).await;
    let j: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(j["requests"], 6); // 5 logins + 1 catch-all; admin calls are not counted
    for k in ["p50", "p99", "max"] {
        assert!(j["overhead_ms"][k].is_number() && j["injected_ms"][k].is_number());
    }
    assert!(j["injected_ms"]["max"].as_f64().unwrap() <= 60.0);
    stub.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// The `esr stub` command.

/// A running `esr stub` child that is killed when dropped, and its base URL.
struct Running(Child, String);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_cli(args: &[&str]) -> Running {
    let mut child = esr()
        .arg("stub")
        .args(args)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = announced_url(&mut child);
    Running(child, url)
}

#[tokio::test]
async fn cli_serves_a_config_file_and_schedules_faults() {
    let stub = start_cli(&[
        "--config",
        "fixtures/stub/example.json",
        "--listen",
        "127.0.0.1:0",
        "--fault",
        "PAY_RESET@0s+1h",
    ]);
    let c = client();
    let (_, doc) = get_text(&c, &format!("{}/__esr/faults", stub.1)).await;
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["faults"][0]["active"], true);
    assert_eq!(doc["faults"][0]["kind"], "reset");
    assert!(c.post(format!("{}/pay", stub.1)).send().await.is_err());
    let (s, b) = get_text(&c, &format!("{}/anything", stub.1)).await;
    assert_eq!((s, b.as_str()), (200, "{}"));
}

#[tokio::test]
async fn cli_start_at_lines_the_fault_clock_up_with_a_replay() {
    // A replay that started 16 minutes ago: "15m for 5m" is in progress now.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let start = (now - 16 * 60).to_string();
    let stub = start_cli(&[
        "--preset",
        "hms",
        "--listen",
        "127.0.0.1:0",
        "--fault",
        "ACH_DOWN@15m+5m",
        "--start-at",
        &start,
    ]);
    let c = client();
    let r = c
        .post(format!("{}/ach/transfer", stub.1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let (_, doc) = get_text(&c, &format!("{}/__esr/faults", stub.1)).await;
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(
        doc["clock_start_unix_ms"].as_i64(),
        Some((now as i64 - 960) * 1000)
    );
}

#[test]
fn cli_refuses_a_non_loopback_address_without_allow_remote() {
    let out = esr()
        .args(["stub", "--preset", "hms", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("--allow-remote"), "{:?}", text(&out));
}

#[test]
fn cli_bad_configs_exit_2_naming_file_field_and_problem() {
    for (file, field, problem) in [
        (
            "bad-unknown-model.toml",
            "routes[0].latency",
            "unknown variant `gamma`",
        ),
        (
            "bad-p99-below-p50.toml",
            "routes[1].latency",
            "p99_ms `10` is below p50_ms `50`",
        ),
        (
            "bad-overlap.toml",
            "faults[0]",
            "overlap on route `POST /pay`",
        ),
        ("bad-pattern.toml", "routes[0].path", "without closing"),
        (
            "bad-unknown-field.json",
            "routes[0].latncy",
            "unknown field `latncy`",
        ),
    ] {
        let path = format!("fixtures/stub/{file}");
        let out = esr()
            .args(["stub", "--config", &path, "--listen", "127.0.0.1:0"])
            .current_dir(root())
            .output()
            .unwrap();
        let (_, err) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains(&path), "{file}: no file in {err}");
        assert!(
            err.contains(&format!("field `{field}")),
            "{file}: no field in {err}"
        );
        assert!(err.contains(problem), "{file}: no problem in {err}");
    }
    let out = esr()
        .args(["stub", "--preset", "hms", "--fault", "NOPE@1m+1m"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("ACH_DOWN"));
}
