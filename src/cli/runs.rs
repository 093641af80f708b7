//! `esr runs list|show|archive|restore`: the run store `esr serve` keeps, from the shell, and
//! the run folders `esr replay --data` writes into the same data folder (origin `cli`).

use std::path::PathBuf;

use anyhow::Context;
use esr::serve::RunView;
use esr::store::{RunRow, Store};

use super::Exit;

/// List, show, archive or restore the runs in a data folder: the store's (made through `esr
/// serve`, origin `api`) and those `esr replay --data` wrote there (origin `cli`, read from
/// their folders; listed and shown even where no store exists, never archived).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The data folder (the run store and the runs).
    #[arg(long, env = "ESR_DATA", default_value = "./esr-data", global = true)]
    data: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// One line per run: id, state, scenario, created, requests, p95, verdict, archived,
    /// origin.
    List {
        /// JSON (the API's run objects) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// A run's state, timings and scorecard summary.
    Show {
        /// `RUN-0001`.
        id: String,
        /// JSON (the API's run object) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Pack finished runs older than D days into `DATA/archive/` (the summary stays).
    Archive {
        /// Age in days; 0 archives every finished run.
        #[arg(long, value_name = "D", default_value_t = 30.0)]
        older_than: f64,
    },
    /// Bring an archived run's folder back, byte for byte.
    Restore {
        /// `RUN-0001`.
        id: String,
    },
}

pub fn run(a: Args) -> anyhow::Result<Exit> {
    // Reading must not create a store: a mistyped --data would leave an empty one behind.
    // Without one, the run folders `esr replay --data` wrote are still listed and shown.
    let store = if a.data.join(esr::store::DB_FILE).is_file() {
        Some(Store::open(&a.data)?)
    } else if a.data.join("runs").is_dir() && matches!(a.cmd, Cmd::List { .. } | Cmd::Show { .. }) {
        None
    } else {
        anyhow::bail!(
            "no run store and no `runs/` in `{}`; give the data folder `esr serve --data` or \
             `esr replay --data` uses with --data DIR",
            a.data.display()
        );
    };
    let runs = || -> anyhow::Result<Vec<RunRow>> {
        Ok(match &store {
            Some(s) => s.runs()?,
            None => esr::store::folder_runs(&a.data, &Default::default()),
        })
    };
    let one = |id: &str| -> anyhow::Result<Option<RunRow>> {
        Ok(match &store {
            Some(s) => s.run(id)?,
            None => esr::store::folder_run(&a.data, id),
        })
    };
    match a.cmd {
        Cmd::List { json } => {
            let runs = runs()?;
            if json {
                let views: Vec<RunView> = runs.into_iter().map(|r| RunView::of(r, None)).collect();
                println!("{}", serde_json::to_string_pretty(&views)?);
            } else if runs.is_empty() {
                println!("no runs in `{}`", a.data.display());
            } else {
                println!(
                    "{:<10} {:<9} {:<8} {:<24} {:>9} {:>9} {:<7} {:<8} ORIGIN",
                    "RUN",
                    "STATE",
                    "SCENARIO",
                    "CREATED",
                    "REQUESTS",
                    "P95 MS",
                    "VERDICT",
                    "ARCHIVED"
                );
                for r in &runs {
                    println!("{}", line(r));
                }
            }
        }
        Cmd::Show { id, json } => {
            let r = one(&id)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "no run `{id}` in `{}`; see `esr runs list`",
                    a.data.display()
                )
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&RunView::of(r, None))?);
            } else {
                show(&r);
            }
        }
        Cmd::Archive { older_than } => {
            if !(older_than.is_finite() && older_than >= 0.0) {
                anyhow::bail!("`--older-than {older_than}` must be a number of days, 0 or more");
            }
            let store = store.context("archiving needs the run store of `esr serve`")?;
            let ids = store.archive_older_than(older_than)?;
            if ids.is_empty() {
                println!("no finished run older than {older_than} days to archive");
            }
            for id in ids {
                println!("archived {id} to {}", store.archive_path(&id).display());
            }
        }
        Cmd::Restore { id } => {
            let store = store.context("restoring needs the run store of `esr serve`")?;
            let r = store.restore(&id)?;
            println!("restored {id} to {}", r.folder.display());
        }
    }
    Ok(Exit::Ok)
}

fn line(r: &RunRow) -> String {
    let (req, p95, verdict) = match &r.summary {
        Some(s) => (
            s.requests.to_string(),
            format!("{:.1}", s.latency_p95_ms),
            s.verdict.clone(),
        ),
        None => ("-".into(), "-".into(), "-".into()),
    };
    format!(
        "{:<10} {:<9} {:<8} {:<24} {:>9} {:>9} {:<7} {:<8} {}",
        r.id,
        r.state.as_str(),
        r.scenario_id,
        r.created_at,
        req,
        p95,
        verdict,
        if r.archived { "yes" } else { "no" },
        r.origin.as_str()
    )
}

fn show(r: &RunRow) {
    println!("run        {}", r.id);
    println!("scenario   {}", r.scenario_id);
    println!("origin     {}", r.origin.as_str());
    println!(
        "state      {}{}",
        r.state.as_str(),
        if r.archived { " (archived)" } else { "" }
    );
    if let Some(s) = r.speed {
        println!("speed      {s}");
    }
    println!("folder     {}", r.folder.display());
    println!("created    {}", r.created_at);
    println!("started    {}", r.started_at.as_deref().unwrap_or("-"));
    println!("finished   {}", r.finished_at.as_deref().unwrap_or("-"));
    if let Some(e) = &r.error {
        println!("error      {e}");
    }
    if let Some(s) = &r.summary {
        println!(
            "requests   {} ({} completed, {} errors)",
            s.requests, s.completed, s.errors
        );
        println!("success    {:.2} %", s.success_rate);
        println!("p95        {:.1} ms", s.latency_p95_ms);
        if let Some(p) = s.payment_success {
            println!("payments   {p:.2} % succeeded");
        }
        println!("compliance {} hits", s.compliance_hits);
        println!("verdict    {}", s.verdict);
        println!("notes      {}", s.notes);
    }
}
