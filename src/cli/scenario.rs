//! `esr scenario validate|generate|run FILE`: synthetic scenarios from the command line. `run`
//! goes through `esr::scenario::run`, the same function the API server uses.

use std::path::{Path, PathBuf};

use esr::scenario::{self, Scenario, ScenarioError};

use super::Exit;

/// Validate, generate or run a scenario (JSON, or TOML when the file ends in `.toml`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Check a scenario: exit 0 with a one-line summary, or exit 2 listing every problem with
    /// the field it is in.
    Validate {
        /// The scenario file.
        file: PathBuf,
    },
    /// Write a synthetic scenario's traffic as a canonical trace (to inspect, replay or diff).
    Generate {
        /// The scenario file.
        file: PathBuf,
        /// The trace to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Run a scenario against the in-process stubs (or its `target`) and print the scorecard;
    /// exit 1 when a threshold fails.
    Run {
        /// The scenario file.
        file: PathBuf,
        /// Speed-up of the scenario's timing (overrides its `speed`); 60 runs 30 minutes in 30 s.
        #[arg(long)]
        speed: Option<f64>,
        /// The data folder for runs.
        #[arg(long, env = "ESR_DATA", default_value = "./esr-data")]
        data: PathBuf,
        /// Pass/fail rule (repeatable), replacing the scenario's `thresholds`, e.g. 'p95<500ms'.
        #[arg(long = "threshold", value_name = "RULE")]
        thresholds: Vec<String>,
    },
}

/// Runs `esr scenario`.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    match args.command {
        Sub::Validate { file } => validate(&file),
        Sub::Generate { file, output } => generate(&file, &output),
        Sub::Run {
            file,
            speed,
            data,
            thresholds,
        } => run_scenario(&file, speed, data, thresholds),
    }
}

/// Loads a scenario; every problem becomes one line of the error.
fn load(file: &Path) -> anyhow::Result<Scenario> {
    scenario::load(file).map_err(|e| anyhow::anyhow!(problems(&e)))
}

fn problems(e: &ScenarioError) -> String {
    let mut s = format!(
        "scenario `{}` has {} problem{}:",
        e.file,
        e.errors.len(),
        if e.errors.len() == 1 { "" } else { "s" }
    );
    for f in &e.errors {
        s.push_str(&format!("\n  {}: {}", f.field, f.message));
    }
    s
}

fn validate(file: &Path) -> anyhow::Result<Exit> {
    let s = load(file)?;
    println!("{}: {}", file.display(), summary(&s));
    Ok(Exit::Ok)
}

/// One line about a valid scenario.
fn summary(s: &Scenario) -> String {
    let mut parts = Vec::new();
    match &s.trace {
        Some(t) => parts.push(format!("trace-based `{}`, replays {t}", s.name)),
        None => {
            let steps: Vec<String> = s
                .script
                .iter()
                .map(|st| {
                    if st.ratio < 1.0 {
                        format!("{} {}", st.action, esr::scorecard::fmt_num(st.ratio))
                    } else {
                        st.action.clone()
                    }
                })
                .collect();
            parts.push(format!(
                "synthetic `{}`, {} actors over {} ({} arrival), script {}",
                s.name,
                s.actors.unwrap_or(0),
                s.duration.as_ref().map_or("?", |d| d.text()),
                s.arrival().as_str(),
                steps.join(" → ")
            ));
        }
    }
    for f in &s.faults {
        parts.push(format!(
            "fault {} at {} for {}",
            f.action,
            f.at.text(),
            f.for_.text()
        ));
    }
    parts.push(match &s.target {
        Some(t) => format!("target {t}"),
        None => "in-process stubs".into(),
    });
    format!("valid: {}", parts.join("; "))
}

fn generate(file: &Path, output: &Path) -> anyhow::Result<Exit> {
    let s = load(file)?;
    if s.is_trace_based() {
        anyhow::bail!(
            "scenario `{}` is trace-based: its traffic is its trace already; `generate` writes synthetic scenarios",
            file.display()
        );
    }
    let g = scenario::generate_to(&s, output)?;
    let actions: Vec<String> = g
        .actions
        .iter()
        .map(|a| format!("{} {}", a.action, a.taken))
        .collect();
    println!(
        "wrote {}: {} requests from {} actors over {} s ({}); seed {}",
        output.display(),
        g.requests,
        g.actors,
        esr::scorecard::fmt_num((g.last_offset_us as f64 / 1e3).round() / 1e3),
        actions.join(", "),
        s.seed()
    );
    Ok(Exit::Ok)
}

fn run_scenario(
    file: &Path,
    speed: Option<f64>,
    data: PathBuf,
    thresholds: Vec<String>,
) -> anyhow::Result<Exit> {
    let mut s = load(file)?;
    if !thresholds.is_empty() {
        s.thresholds = thresholds;
        // The new rules get the same checks as the file's own.
        let text = serde_json::to_string(&s)?;
        s = scenario::parse(&text, scenario::ScenarioFormat::Json, "--threshold")
            .map_err(|e| anyhow::anyhow!(problems(&e)))?;
    }
    let settings = scenario::RunSettings {
        data,
        speed,
        progress: true,
        command: std::env::args().collect(),
        ..Default::default()
    };
    let rt = super::runtime(Some("esr-scenario"))?;
    let result = rt.block_on(async {
        let stop = super::replay::stop_on_signals(std::time::Duration::from_secs(5));
        scenario::run(&s, settings, stop).await
    })?;
    Ok(super::replay::report(&result))
}
