//! `esr stub`: serve sandbox stubs from a config, a preset or a trace until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use esr::stub::{
    FaultKind, Route, StubConfig, StubOptions, StubServer, format_duration, from_trace,
    parse_fault_spec, parse_start_at, preset,
};

use super::Exit;

/// Run sandbox stub services: configured routes with injected latency and faults on the
/// replay clock. Keeps everything in memory; writes nothing.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Routes from a TOML or JSON file (`.json` is read as JSON).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["preset", "from_trace"])]
    config: Option<PathBuf>,
    /// A built-in set of routes: `hms` (login, premium, pay, ACH).
    #[arg(long, value_name = "NAME", conflicts_with = "from_trace")]
    preset: Option<String>,
    /// One route per endpoint of this trace, with its recorded statuses and latencies.
    #[arg(long, value_name = "TRACE")]
    from_trace: Option<PathBuf>,
    /// Address to listen on (loopback unless --allow-remote).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Allow a non-loopback --listen address.
    #[arg(long)]
    allow_remote: bool,
    /// Replay speed: fault windows `at`/`for` are divided by it.
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    speed: f64,
    /// Start of the fault clock (RFC 3339 or unix seconds), to line up with a replay.
    #[arg(long, value_name = "T")]
    start_at: Option<String>,
    /// Schedule a named fault on the original timeline, e.g. `ACH_DOWN@15m+5m` (repeatable).
    #[arg(long = "fault", value_name = "NAME@AT+FOR")]
    faults: Vec<String>,
    /// Seed of latency, error-rate and status-mix draws (overrides the config's).
    #[arg(long)]
    seed: Option<u64>,
    /// Answer 404 to requests no route matches, instead of 200 `{}`.
    #[arg(long)]
    no_catch_all: bool,
    /// Sleep on tokio's 1 ms timer instead of the precise timer thread (for comparison).
    #[arg(long, hide = true)]
    tokio_timer: bool,
}

pub fn run(a: Args) -> anyhow::Result<Exit> {
    let (mut config, source) = load(&a)?;
    for spec in &a.faults {
        let (name, at, len) = parse_fault_spec(spec).map_err(anyhow::Error::msg)?;
        config
            .schedule_fault(&name, at, len)
            .map_err(|e| anyhow::anyhow!("`--fault {spec}`: {}", e.problem))?;
    }
    if let Some(seed) = a.seed {
        config.seed = seed;
    }
    if a.no_catch_all {
        config.catch_all = false;
    }
    let start_unix_us = match &a.start_at {
        Some(s) => Some(parse_start_at(s).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let opts = StubOptions {
        listen: a.listen,
        allow_remote: a.allow_remote,
        speed: a.speed,
        start_unix_us,
        source: source.clone(),
        tokio_timer: a.tokio_timer,
        ..StubOptions::default()
    };
    let rt = super::runtime(None)?;
    rt.block_on(async move {
        let handle = StubServer::spawn_with(config, opts).await?;
        println!(
            "esr stub: listening on {} ({source}, speed {}x)",
            handle.url(),
            a.speed
        );
        print!("{}", route_table(handle.routes()));
        for f in handle.faults().to_json()["faults"]
            .as_array()
            .into_iter()
            .flatten()
        {
            println!("{}", describe_fault(f));
        }
        println!(
            "admin: GET /__esr/health /__esr/metrics /__esr/stats /__esr/faults; \
             POST /__esr/faults {{\"name\":..,\"active\":true|false|null}}, \
             POST /__esr/clock {{\"start_unix_ms\":..}}; Ctrl-C stops"
        );
        tokio::signal::ctrl_c()
            .await
            .context("cannot listen for Ctrl-C")?;
        let stats = handle.metrics().stats_json();
        handle.shutdown().await;
        println!(
            "esr stub: stopped after {} requests; overhead p50 {} ms, p99 {} ms",
            stats["requests"], stats["overhead_ms"]["p50"], stats["overhead_ms"]["p99"]
        );
        Ok(Exit::Ok)
    })
}

fn load(a: &Args) -> anyhow::Result<(StubConfig, String)> {
    if let Some(path) = &a.config {
        return Ok((StubConfig::load(path)?, path.display().to_string()));
    }
    if let Some(name) = &a.preset {
        return Ok((preset(name)?, format!("preset {name}")));
    }
    if let Some(path) = &a.from_trace {
        let t = from_trace(path)?;
        let mut source = format!(
            "{} routes from {} rows of {}",
            t.config.routes.len(),
            t.rows,
            path.display()
        );
        if t.without_latency > 0 {
            source.push_str(&format!(
                "; {} without recorded latency answer after a fixed {} ms",
                t.without_latency,
                esr::stub::FALLBACK_LATENCY_MS
            ));
        }
        return Ok((t.config, source));
    }
    Ok((
        StubConfig {
            catch_all: true,
            ..StubConfig::default()
        },
        "no routes: catch-all only".into(),
    ))
}

fn route_table(routes: &[Route]) -> String {
    let mut out = format!("  {:<36} {:<40} {}\n", "ROUTE", "LATENCY", "ANSWER");
    for r in routes {
        let name = if r.name == "catch-all" {
            "* /* (catch-all)".to_string()
        } else {
            r.name.clone()
        };
        let latency = r.latency.as_ref().map_or("none".into(), |m| m.describe());
        let mut answer = if r.statuses.len() == 1 {
            r.statuses[0].1.to_string()
        } else {
            let mut prev = 0.0;
            let parts: Vec<String> = r
                .statuses
                .iter()
                .map(|(upper, s)| {
                    let share = (upper - prev) * 100.0;
                    prev = *upper;
                    format!("{s} {share:.1} %")
                })
                .collect();
            format!("mix {}", parts.join(", "))
        };
        if r.error_rate > 0.0 {
            answer.push_str(&format!(", {} % {}", r.error_rate * 100.0, r.error_status));
        }
        out.push_str(&format!("  {name:<36} {latency:<40} {answer}\n"));
    }
    out
}

fn describe_fault(f: &serde_json::Value) -> String {
    let kind: FaultKind = serde_json::from_value(f["kind"].clone()).unwrap_or_default();
    let what = match kind {
        FaultKind::Status => format!("status {}", f["status"]),
        FaultKind::Reset => "reset".into(),
        FaultKind::Hang => "hang".into(),
    };
    let when = match (f["at_s"].as_f64(), f["for_s"].as_f64()) {
        (Some(at), Some(len)) => format!(
            "at {} for {} on the replay clock",
            format_duration(std::time::Duration::from_secs_f64(at)),
            format_duration(std::time::Duration::from_secs_f64(len))
        ),
        _ => "not scheduled (switch it with POST /__esr/faults)".into(),
    };
    format!(
        "  fault {} on {}: {what}, {when}",
        f["name"].as_str().unwrap_or("?"),
        f["route"].as_str().unwrap_or("?")
    )
}
