//! Command-line front end. One file per subcommand; each resolves its raw arguments into the
//! library's settings and returns an [`Exit`].
//!
//! Exit codes are a policy (DESIGN.md): 0 success; 1 a gate failed (compliance hits,
//! thresholds, a diff verdict); 2 bad usage or bad input. Anything else is a crash.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod compare;
mod demo;
mod diff;
mod ingest;
mod inspect;
mod keygen;
mod merge;
mod replay;
mod runs;
mod scenario;
mod scorecard;
mod scrub;
mod serve;
mod stub;

/// How a command that ran to the end finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything passed.
    Ok,
    /// The command ran, but the answer is "no" (a gate failed).
    GateFailed,
}

/// esr: replay exported production traffic against sandbox stubs and score the run.
#[derive(Debug, Parser)]
#[command(name = "esr", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Turn request logs (CSV, Parquet, JSONL, CLF, HAR) into a canonical, scrubbed trace.
    Ingest(ingest::Args),
    /// Scrub an existing trace with a policy.
    Scrub(scrub::Args),
    /// Audit a trace for residual personal data (exit 1 on any hit).
    Check(check::Args),
    /// Show a trace's schema, size, time span, rate and top endpoints.
    Inspect(inspect::Args),
    /// Write a new random scrub key.
    Keygen(keygen::Args),
    /// Run sandbox stub services.
    Stub(stub::Args),
    /// Replay a trace against a target and write a run.
    Replay(Box<replay::Args>),
    /// Print or write a stored run's scorecard.
    Scorecard(scorecard::Args),
    /// Compare two runs with confidence intervals and a verdict.
    Diff(diff::Args),
    /// Replay one schedule against a baseline and a candidate and diff their answers.
    Compare(Box<compare::Args>),
    /// Run the whole job on the embedded sample: ingest, scrub, check, replay, scorecard.
    Demo(demo::Args),
    /// Validate, generate or run synthetic scenarios.
    Scenario(scenario::Args),
    /// Serve the HTTP API and the console.
    Serve(serve::Args),
    /// List, show, archive or restore runs: the store's and those `esr replay --data` wrote.
    Runs(runs::Args),
    /// Merge shard runs into one run.
    Merge(merge::Args),
}

fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Ingest(a) => ingest::run(a),
        Command::Scrub(a) => scrub::run(a),
        Command::Check(a) => check::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Stub(a) => stub::run(a),
        Command::Scorecard(a) => scorecard::run(a),
        Command::Replay(a) => replay::run(*a),
        Command::Keygen(a) => keygen::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Compare(a) => compare::run(*a),
        Command::Demo(a) => demo::run(a),
        Command::Scenario(a) => scenario::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Runs(a) => runs::run(a),
        Command::Merge(a) => merge::run(a),
    }
}

/// Parses the command line, runs the command and maps the result to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging();
    match run(cli) {
        Ok(Exit::Ok) => ExitCode::SUCCESS,
        Ok(Exit::GateFailed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Log lines go to stderr; `RUST_LOG` overrides the default level (`esr=info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,esr=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// The multi-threaded runtime the async commands run on; worker threads are named `name`
/// (`esr-replay`), or tokio's default when `None`.
fn runtime(name: Option<&str>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    b.enable_all();
    if let Some(n) = name {
        b.thread_name(n);
    }
    anyhow::Context::context(b.build(), "cannot start the async runtime")
}
