//! Latency accuracy of a running `esr stub` at a fixed request rate.
//!
//! Sends `RATE` requests per second for `SECS` seconds on an open-model schedule (a request
//! is sent when due, whether or not earlier ones have answered), and for every answer compares
//! the latency the client observed with the latency the stub says it injected
//! (`x-esr-injected-ms`). Prints percentiles of observed minus injected, then the stub's own
//! overhead histogram from `GET /__esr/stats` beside it. The first second is a warm-up
//! (connections being opened) and is left out of the client figures.
//!
//! ```text
//! cargo run --release --example stub_accuracy -- http://127.0.0.1:8080 POST /fetch_premium 2000 20
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 5 {
        eprintln!("usage: stub_accuracy BASE_URL METHOD PATH RATE SECS");
        std::process::exit(2);
    }
    let (base, method, path) = (args[0].clone(), args[1].clone(), args[2].clone());
    let rate: f64 = args[3].parse().expect("RATE is a number");
    let secs: f64 = args[4].parse().expect("SECS is a number");
    // One worker thread: the stub under test gets the rest of the machine.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(base, method, path, rate, secs));
}

#[derive(Default)]
struct Tally {
    diffs_us: Vec<i64>,
    late_us: Vec<i64>,
    errors: u64,
    ok: u64,
}

async fn run(base: String, method: String, path: String, rate: f64, secs: f64) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let url = format!("{base}{path}");
    let total = (rate * secs) as u64;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let (client, method, url, tally) =
            (client.clone(), method.clone(), url.clone(), tally.clone());
        let warm = i as f64 / rate < 1.0;
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let res = client.request(method, url).body("{}").send().await;
            let res = match res {
                Ok(r) => {
                    let injected = r
                        .headers()
                        .get("x-esr-injected-ms")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<f64>().ok());
                    r.bytes().await.ok().and(injected)
                }
                Err(_) => None,
            };
            let observed = sent.elapsed();
            let mut t = tally.lock().unwrap();
            match res {
                Some(ms) => {
                    t.ok += 1;
                    if !warm {
                        t.diffs_us
                            .push(observed.as_micros() as i64 - (ms * 1000.0).round() as i64);
                        t.late_us
                            .push(sent.saturating_duration_since(due).as_micros() as i64);
                    }
                }
                None => t.errors += 1,
            }
        }));
    }
    let sending = start.elapsed();
    for t in tasks {
        let _ = t.await;
    }
    let mut t = std::mem::take(&mut *tally.lock().unwrap());
    t.diffs_us.sort_unstable();
    t.late_us.sort_unstable();
    let q = |v: &[i64], p: f64| v[((v.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0;
    println!(
        "{total} requests at {rate}/s ({:.1}/s achieved) to {path}: {} ok, {} errors",
        total as f64 / sending.as_secs_f64(),
        t.ok,
        t.errors
    );
    if t.diffs_us.is_empty() {
        return;
    }
    let d = &t.diffs_us;
    println!(
        "observed - injected, client side, {} requests after 1 s warm-up (ms): p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  min {:.3}",
        d.len(),
        q(d, 0.5),
        q(d, 0.9),
        q(d, 0.99),
        q(d, 0.999),
        q(d, 1.0),
        q(d, 0.0)
    );
    let l = &t.late_us;
    println!(
        "client send lateness (ms): p50 {:.3}  p99 {:.3}  max {:.3}",
        q(l, 0.5),
        q(l, 0.99),
        q(l, 1.0)
    );
    if let Ok(r) = client.get(format!("{base}/__esr/stats")).send().await
        && let Ok(body) = r.text().await
        && let Ok(j) = serde_json::from_str::<serde_json::Value>(&body)
    {
        println!(
            "stub overhead histogram (/__esr/stats, all {} requests, ms): p50 {}  p99 {}  max {}",
            j["requests"],
            j["overhead_ms"]["p50"],
            j["overhead_ms"]["p99"],
            j["overhead_ms"]["max"]
        );
    }
}
