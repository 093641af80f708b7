//! `esr replay TRACE --target URL`: replay a trace on an open-model schedule and write a run.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use super::Exit;
use esr::replay::{self, ReplayOptions, ReplayResult, ScheduleOptions, Shard, Timing};
use esr::scorecard::Threshold;

/// Replay a trace against a sandbox target and write a run with its scorecard.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The trace to replay (written by `esr ingest`).
    pub trace: PathBuf,
    /// Base URL of the sandbox, e.g. http://127.0.0.1:8080 (loopback, or allowed with
    /// --allow-host).
    #[arg(long)]
    pub target: String,
    /// Timing and bounds (shared with `esr compare`).
    #[command(flatten)]
    pub timing: TimingArgs,
    /// Replay the trace again and again, until --duration or Ctrl-C.
    #[arg(long = "loop")]
    pub looped: bool,
    /// Send requests recorded for HOST to URL instead of --target (repeatable).
    #[arg(long = "host-map", value_name = "HOST=URL", value_parser = parse_host_map)]
    pub host_map: Vec<(String, String)>,
    /// Send only shard K of N (by session hash) on the global schedule, e.g. 2/4.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Start the run clock at this time (RFC 3339 or unix seconds) to align shards.
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
    /// Pass/fail rule, e.g. 'p95<500ms', 'success>=97.5%', 'errors<1%' (repeatable); a
    /// failed one exits 1.
    #[arg(long = "threshold", value_name = "RULE")]
    pub thresholds: Vec<String>,
    /// The data folder for runs.
    #[arg(long, env = "ESR_DATA", default_value = "./esr-data")]
    pub data: PathBuf,
    /// Serve live Prometheus metrics on GET /metrics at this loopback address.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Also allow this non-loopback host as a target: exact name or `*.suffix` (repeatable).
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,
}

/// The timing flags of every command that replays a schedule (`esr replay`, `esr compare`).
#[derive(Debug, clap::Args)]
pub struct TimingArgs {
    /// Speed-up of the recorded timing: 1 is the original timing, 10 ten times faster.
    #[arg(long, conflicts_with = "rate")]
    pub speed: Option<f64>,
    /// Send this many requests per second in trace order, ignoring the recorded gaps.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Cap the rate at N requests per second (requests held back are counted as throttled).
    #[arg(long, value_name = "N")]
    pub max_rps: Option<NonZeroU32>,
    /// Most requests in flight at once (requests that wait are counted as queued).
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub concurrency: usize,
    /// Give up on a request after this long (500ms, 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Stop the schedule after this long on the replay clock (a cut run is marked
    /// interrupted).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// After Ctrl-C, wait this long for requests in flight.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub drain: Duration,
}

impl TimingArgs {
    /// The schedule's timing (original, scaled or fixed-rate).
    pub fn timing(&self) -> anyhow::Result<Timing> {
        Ok(Timing::from_options(self.speed, self.rate)?)
    }

    /// `--duration` in µs.
    pub fn duration_us(&self) -> Option<i64> {
        self.duration.map(|d| d.as_micros() as i64)
    }

    /// `--concurrency`, refused when 0.
    pub fn concurrency(&self) -> anyhow::Result<usize> {
        if self.concurrency == 0 {
            anyhow::bail!("`--concurrency 0` would send nothing; give at least 1");
        }
        Ok(self.concurrency)
    }
}

impl Args {
    /// Resolves the raw arguments into the replay's options.
    pub fn options(&self) -> anyhow::Result<ReplayOptions> {
        let thresholds = self
            .thresholds
            .iter()
            .map(|t| Threshold::parse(t).with_context(|| format!("--threshold `{t}`")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let t = &self.timing;
        Ok(ReplayOptions {
            trace: self.trace.clone(),
            target: self.target.clone(),
            host_map: self.host_map.clone(),
            allow_hosts: self.allow_hosts.clone(),
            schedule: ScheduleOptions {
                timing: t.timing()?,
                looped: self.looped,
                duration_us: t.duration_us(),
                shard: self.shard.as_deref().map(Shard::parse).transpose()?,
            },
            start_at_us: self
                .start_at
                .as_deref()
                .map(replay::parse_start_at)
                .transpose()?,
            max_rps: t.max_rps,
            concurrency: t.concurrency()?,
            timeout: t.timeout,
            drain: t.drain,
            thresholds,
            data: self.data.clone(),
            metrics_listen: self.metrics_listen,
            command: std::env::args().collect(),
            progress: true,
            compliance_hits: 0,
            run_folder: None,
            watch: None,
        })
    }
}

/// Runs `esr replay`.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let opts = args.options()?;
    let rt = super::runtime(Some("esr-replay"))?;
    let result = rt.block_on(async {
        let stop = stop_on_signals(opts.drain);
        replay::replay(opts, stop).await
    })?;
    Ok(report(&result))
}

/// Prints the scorecard and where the run went; the exit follows the verdict.
pub fn report(r: &ReplayResult) -> Exit {
    print!("{}", r.scorecard.render_text());
    println!("run: {}", r.run.dir.display());
    println!("report: {}", r.run.dir.join("report.html").display());
    if r.scorecard.passed() {
        Exit::Ok
    } else {
        Exit::GateFailed
    }
}

/// A stop flag that turns true on Ctrl-C or SIGTERM; a second signal exits at once.
pub fn stop_on_signals(drain: Duration) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        signal().await;
        tracing::warn!(
            "stopping: no new requests; waiting up to {:.1} s for requests in flight (signal again to quit now)",
            drain.as_secs_f64()
        );
        let _ = tx.send(true);
        signal().await;
        std::process::exit(130);
    });
    rx
}

async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Parses `500ms`, `30s`, `5m`, `1h` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration; write 500ms, 30s, 5m or 1h"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}`; use ms, s, m or h")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("`{s}` must be a positive duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses `--host-map HOST=URL`.
fn parse_host_map(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((h, u)) if !h.trim().is_empty() && !u.trim().is_empty() => {
            Ok((h.trim().to_string(), u.trim().to_string()))
        }
        _ => Err(format!(
            "`{s}` should be HOST=URL, e.g. pay.internal=http://127.0.0.1:9001"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn host_maps_parse() {
        assert_eq!(
            parse_host_map("pay.local=http://127.0.0.1:1").unwrap(),
            ("pay.local".into(), "http://127.0.0.1:1".into())
        );
        assert!(parse_host_map("pay.local").is_err());
    }
}
