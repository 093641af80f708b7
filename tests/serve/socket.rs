//! `esr serve` as a process and as a bound server on `127.0.0.1:0`: the stdout line, reqwest
//! calls, `esr runs` on the same store, restart after a crash, the periodic archive and a
//! clean stop.

use std::process::Stdio;
use std::time::{Duration, Instant};

use esr::store::{RunState, Store};

use super::{LONG, SMALL, body_json, is_final};
use crate::util::{announced_url, esr, text};

/// A server bound on `127.0.0.1:0` over `dir`, its base URL and the sender that stops it.
async fn spawn_server(
    dir: &std::path::Path,
    hot_days: f64,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let bound = esr::serve::bind(esr::serve::ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data: dir.to_path_buf(),
        max_runs: 1,
        hot_days,
        token: None,
    })
    .await
    .unwrap();
    let base = format!("http://{}/api/esr", bound.addr);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bound.serve(async move {
        let _ = rx.await;
    }));
    (base, tx, server)
}

/// `esr serve` over a real socket (the line on stdout names the port), and `esr runs`
/// reading the same store afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esr_serve_on_a_real_socket_and_esr_runs_read_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = esr()
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .env_remove("ESR_API_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = announced_url(&mut child);
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let client = reqwest::Client::new();
    let ok = async {
        let h = body_json(client.get(format!("{base}/api/esr/health")).send().await?).await;
        assert_eq!(h["status"], "ok");
        let r = client
            .post(format!("{base}/api/esr/scenarios"))
            .header("content-type", "application/json")
            .body(SMALL)
            .send()
            .await?;
        assert_eq!(r.status().as_u16(), 201);
        let r = client
            .post(format!("{base}/api/esr/scenarios/SCN-1/run"))
            .body(r#"{"speed":20}"#)
            .send()
            .await?;
        assert_eq!(r.status().as_u16(), 202);
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let v = body_json(
                client
                    .get(format!("{base}/api/esr/runs/RUN-0001"))
                    .send()
                    .await?,
            )
            .await;
            if is_final(&v) {
                assert_eq!(v["state"], "DONE", "{v}");
                break;
            }
            assert!(Instant::now() < until, "{v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = client
            .get(format!("{base}/api/esr/runs/RUN-0009"))
            .send()
            .await?;
        assert_eq!(r.status().as_u16(), 404);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        Ok::<_, reqwest::Error>(())
    }
    .await;
    // SIGTERM: the server stops cleanly (exit 0).
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    ok.unwrap();
    assert_eq!(status.code(), Some(0));

    let data = dir.path().to_str().unwrap();
    let out = esr()
        .args(["runs", "list", "--data", data])
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("RUN-0001") && stdout.contains("DONE"),
        "{stdout}"
    );
    let out = esr()
        .args(["runs", "show", "RUN-0001", "--data", data])
        .output()
        .unwrap();
    assert!(text(&out).0.contains("verdict"), "{:?}", text(&out));
    let out = esr()
        .args(["runs", "archive", "--older-than", "0", "--data", data])
        .output()
        .unwrap();
    assert!(
        text(&out).0.contains("archived RUN-0001"),
        "{:?}",
        text(&out)
    );
    assert!(!dir.path().join("runs/RUN-0001").exists());
    let out = esr()
        .args(["runs", "restore", "RUN-0001", "--data", data])
        .output()
        .unwrap();
    assert!(
        text(&out).0.contains("restored RUN-0001"),
        "{:?}",
        text(&out)
    );
    assert!(dir.path().join("runs/RUN-0001/scorecard.json").is_file());
    let out = esr()
        .args(["runs", "show", "RUN-0404", "--data", data])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let typo = dir.path().join("typo");
    let out = esr()
        .args(["runs", "list", "--data"])
        .arg(&typo)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!typo.exists(), "a mistyped --data must not create a store");
}

/// A run a crash left STARTED is FAILED when the next server starts; its folder stays.
#[tokio::test]
async fn a_run_cut_off_by_a_crash_shows_failed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _lock) = Store::open_for_server(dir.path()).unwrap();
        store.add_scenario("small", SMALL).unwrap();
        store.create_run("SCN-1", None, RunState::Started).unwrap();
    }
    let (api, tx, server) = spawn_server(dir.path(), 30.0).await;
    let base = api.trim_end_matches("/api/esr").to_string();
    let v = body_json(
        reqwest::get(format!("{base}/api/esr/runs/RUN-0001"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["state"], "FAILED", "{v}");
    assert!(v["error"].as_str().unwrap().contains("stopped"), "{v}");
    assert!(dir.path().join("runs/RUN-0001").is_dir());
    // Ids keep counting after the restart.
    let r = reqwest::Client::new()
        .post(format!("{base}/api/esr/scenarios"))
        .body(SMALL)
        .send()
        .await
        .unwrap();
    assert_eq!(body_json(r).await["id"], "SCN-2");
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// The server archives runs older than `--hot-days` when it starts (and hourly); the API
/// restores one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_archives_old_runs_and_the_api_restores_them() {
    let dir = tempfile::tempdir().unwrap();
    let folder = {
        let (store, _lock) = Store::open_for_server(dir.path()).unwrap();
        let (run, f) = store.create_run("SCN-1", None, RunState::Started).unwrap();
        std::fs::write(f.dir.join("scorecard.json"), b"{\"requests\":1}\n").unwrap();
        store.finish(&run.id, RunState::Done, None, None).unwrap();
        f.dir
    };
    let (api, tx, server) = spawn_server(dir.path(), 0.0).await;
    let base = format!("{api}/runs/RUN-0001");
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let v = body_json(reqwest::get(&base).await.unwrap()).await;
        if v["archived"] == true {
            break;
        }
        assert!(Instant::now() < until, "not archived: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!folder.exists());
    let r = reqwest::get(format!("{base}/scorecard")).await.unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let r = reqwest::Client::new()
        .post(format!("{base}/restore"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = reqwest::get(format!("{base}/scorecard")).await.unwrap();
    assert_eq!(r.text().await.unwrap(), "{\"requests\":1}\n");
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// Stopping the server stops its runs: a running one ends `CANCELLED` with its partial
/// scorecard, a queued one `CANCELLED` without one; nothing is left `STARTED`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_server_cancels_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (base, tx, server) = spawn_server(dir.path(), 30.0).await;
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{base}/scenarios"))
        .body(LONG)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    for _ in 0..2 {
        let r = c
            .post(format!("{base}/scenarios/SCN-1/run"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
    }
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let v = body_json(c.get(format!("{base}/runs/RUN-0001")).send().await.unwrap()).await;
        if v["progress"]["sent"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(Instant::now() < until, "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();

    let store = Store::open(dir.path()).unwrap();
    let first = store.run("RUN-0001").unwrap().unwrap();
    assert_eq!(first.state, RunState::Cancelled, "{first:?}");
    assert!(first.summary.unwrap().interrupted);
    assert!(first.folder.join("scorecard.json").is_file());
    let second = store.run("RUN-0002").unwrap().unwrap();
    assert_eq!(second.state, RunState::Cancelled, "{second:?}");
}
