//! `esr serve`: the HTTP API and the console until Ctrl-C (or SIGTERM).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use esr::serve::{ServeOptions, Token};

use super::Exit;

/// Serve the HTTP API (`/api/esr/...`) and the console (`/`). Scenarios, runs and scorecard
/// summaries are kept in `DATA/esr.sqlite`; runs in `DATA/runs/`. Beyond loopback the
/// server needs a bearer token in `ESR_API_TOKEN`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; `127.0.0.1:0` picks a free port (the line on stdout names it).
    /// Beyond loopback the bearer token in the environment variable ESR_API_TOKEN is
    /// required (and, when set, enforced on every API route but /api/esr/health).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8088")]
    listen: SocketAddr,
    /// The data folder (the run store and the runs).
    #[arg(long, env = "ESR_DATA", default_value = "./esr-data")]
    data: PathBuf,
    /// Runs at once; more are QUEUED and started in order.
    #[arg(long, value_name = "N", default_value_t = 2)]
    max_runs: usize,
    /// Runs older than this many days are archived (checked at start and every hour).
    #[arg(long, value_name = "D", default_value_t = 30.0)]
    hot_days: f64,
}

pub fn run(a: Args) -> anyhow::Result<Exit> {
    if !(a.hot_days.is_finite() && a.hot_days >= 0.0) {
        anyhow::bail!(
            "`--hot-days {}` must be a number of days, 0 or more",
            a.hot_days
        );
    }
    if a.max_runs == 0 {
        anyhow::bail!("`--max-runs 0` would never run anything; use 1 or more");
    }
    // Read from the environment only: a token on the command line shows in `ps`.
    let token = std::env::var("ESR_API_TOKEN")
        .ok()
        .and_then(|t| Token::new(t.trim()));
    let opts = ServeOptions {
        listen: a.listen,
        data: a.data,
        max_runs: a.max_runs,
        hot_days: a.hot_days,
        token,
    };
    let rt = super::runtime(None)?;
    rt.block_on(async move {
        let bound = esr::serve::bind(opts).await?;
        // Exactly one line on stdout, so scripts can read the real port.
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{}/", bound.addr)?;
        out.flush()?;
        drop(out);
        tracing::info!(
            "API on http://{}/api/esr/, console on http://{}/",
            bound.addr,
            bound.addr
        );
        bound.serve(shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(Exit::Ok)
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
