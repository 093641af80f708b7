//! Scenarios: takes a scenario (JSON or TOML, synthetic or trace-based), gives a validated
//! [`Scenario`] (or every [`FieldError`], each naming its field), its synthetic traffic as a
//! canonical trace, generated streaming ([`Generator`]), and a finished run ([`run`]) through
//! the one replay engine: the in-process `hms` stubs with the scenario's faults, the schedule,
//! the tap, and a scorecard with the scenario's per-action figures and funnel check.
//!
//! The CLI (`esr scenario run`) and the API server (`esr serve`) both run scenarios through
//! [`run`]; there is no second pipeline. It must never hold a scenario's whole traffic in
//! memory, never send a request outside the sandbox guard, and never put a value of a trace
//! into an error or log line (synthetic values are test data, but the rule holds anyway).

mod catalog;
mod generate;
mod model;
mod run;
mod validate;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

pub use catalog::{ABANDON, Request, TEST_CARDS, builtin as builtin_catalog, luhn_ok};
pub use generate::{ActionCount, EPOCH_US, GenerateSummary, Generator, SplitCount, generate_to};
pub use model::{
    Arrival, CatalogEntry, Dur, FaultSpec, Scenario, Step, StubsSpec, ThinkDist, ThinkTime,
};
pub use run::{DEFAULT_THRESHOLDS, run};
pub use validate::{MAX_ACTORS, end_group_start};

/// The format of a scenario's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScenarioFormat {
    /// JSON (the API's format).
    Json,
    /// TOML.
    Toml,
}

impl ScenarioFormat {
    /// `.toml` → TOML, anything else JSON.
    pub fn of_path(p: &Path) -> ScenarioFormat {
        if p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
        {
            ScenarioFormat::Toml
        } else {
            ScenarioFormat::Json
        }
    }
}

/// One problem with one field: `field` is a path as a user reads it (`script[2].ratio`,
/// `faults[0].at`, `actors`; `(syntax)` when the text does not parse at all), `message` says
/// what is wrong and what to do. Never a raw value that might be personal data.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldError {
    /// The field's path.
    pub field: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Every problem found in a scenario (a parse error gives one; validation may give several).
#[derive(Debug, Clone, thiserror::Error)]
#[error("scenario `{file}`: {}", list(.errors))]
pub struct ScenarioError {
    /// The source (a path, or `<request body>` for the API).
    pub file: String,
    /// The problems, in the order of the fields.
    pub errors: Vec<FieldError>,
}

fn list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("field `{}`: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Parses and validates. `file` names the source in messages (`<request body>` for the API).
pub fn parse(text: &str, format: ScenarioFormat, file: &str) -> Result<Scenario, ScenarioError> {
    let parsed = match format {
        ScenarioFormat::Json => parse_json(text),
        ScenarioFormat::Toml => parse_toml(text),
    };
    let one = |e: FieldError| ScenarioError {
        file: file.to_string(),
        errors: vec![e],
    };
    let s = parsed.map_err(one)?;
    let errors = validate::validate(&s);
    if errors.is_empty() {
        Ok(s)
    } else {
        Err(ScenarioError {
            file: file.to_string(),
            errors,
        })
    }
}

/// Reads, parses and validates a scenario file (TOML when it ends in `.toml`).
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        errors: vec![FieldError {
            field: "(file)".into(),
            message: format!("cannot read the scenario: {e}"),
        }],
    })?;
    parse(&text, ScenarioFormat::of_path(path), &file)
}

/// The field a serde path names; the document itself when empty.
fn field_of(path: &serde_path_to_error::Path) -> String {
    let p = path.to_string();
    if p.is_empty() || p == "." {
        "(document)".into()
    } else {
        p
    }
}

fn parse_json(text: &str) -> Result<Scenario, FieldError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let s: Scenario = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = field_of(e.path());
        let inner = e.into_inner();
        let field = if inner.is_syntax() || inner.is_eof() {
            "(syntax)".to_string()
        } else {
            field
        };
        FieldError {
            field,
            message: inner.to_string(),
        }
    })?;
    de.end().map_err(|e| FieldError {
        field: "(syntax)".into(),
        message: e.to_string(),
    })?;
    Ok(s)
}

fn parse_toml(text: &str) -> Result<Scenario, FieldError> {
    let de = toml::Deserializer::parse(text).map_err(|e| FieldError {
        field: "(syntax)".into(),
        message: crate::stub::config_toml_problem(text, &e),
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| FieldError {
        field: field_of(e.path()),
        message: crate::stub::config_toml_problem(text, e.inner()),
    })
}

/// How to run a scenario (the CLI and the API fill this in).
#[derive(Debug, Clone, Default)]
pub struct RunSettings {
    /// The data folder (runs go to `DATA/runs/RUN-NNNN`).
    pub data: PathBuf,
    /// Overrides the scenario's `speed`.
    pub speed: Option<f64>,
    /// A run folder allocated beforehand (the server gives a queued run its id early).
    pub run_folder: Option<crate::replay::run::RunFolder>,
    /// Live progress for the server.
    pub watch: Option<Arc<crate::replay::RunWatch>>,
    /// A progress bar or log lines (the CLI).
    pub progress: bool,
    /// The command line (or the API call), for `run.json`.
    pub command: Vec<String>,
}

/// Why a scenario did not run to a scorecard.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioRunError {
    /// Bad input, found before anything ran: a missing trace file, an unreadable stub config,
    /// a fault the stubs do not define, a refused target (the API answers 4xx, the CLI
    /// exits 2).
    #[error("{0}")]
    Input(String),
    /// A failure while running (the run is `FAILED`).
    #[error("{0}")]
    Failed(String),
}

impl ScenarioRunError {
    /// True for bad input (4xx / exit 2), false for a failure while running.
    pub fn is_input(&self) -> bool {
        matches!(self, ScenarioRunError::Input(_))
    }
}

impl From<ScenarioError> for ScenarioRunError {
    fn from(e: ScenarioError) -> Self {
        ScenarioRunError::Input(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"{"name":"flood_rerate_wave1","actors":10000,"script":[{"action":"LOGIN","ratio":1.0},{"action":"FETCH_PREMIUM","ratio":1.0},{"action":"PAY","ratio":0.98},{"action":"ABANDON","ratio":0.02}],"duration":"30m"}"#;

    /// Found by the `scenario` fuzz target: durations too large for a `Duration` panicked
    /// (as text, and as a JSON number); now they are refused or saturate.
    #[test]
    fn huge_durations_do_not_panic() {
        let text = SEED.replace("\"30m\"", "\"3111111111111111111111111110m\"");
        let e = parse(&text, ScenarioFormat::Json, "fuzz.json").unwrap_err();
        assert!(!e.errors.is_empty());
        let text = SEED.replace("\"30m\"", "1e300");
        let _ = parse(&text, ScenarioFormat::Json, "fuzz.json");
    }

    #[test]
    fn the_seed_parses_and_round_trips() {
        let s = parse(SEED, ScenarioFormat::Json, "seed.json").unwrap();
        assert_eq!(s.actors, Some(10_000));
        assert_eq!(s.duration().as_secs(), 1800);
        let back = serde_json::to_string(&s).unwrap();
        assert_eq!(back, SEED);
        assert_eq!(parse(&back, ScenarioFormat::Json, "x").unwrap(), s);
    }

    #[test]
    fn unknown_fields_and_bad_durations_name_their_field() {
        let e = parse(
            r#"{"name":"x","actors":1,"script":[{"action":"LOGIN","ratio":1,"weight":2}],"duration":"30m"}"#,
            ScenarioFormat::Json,
            "b",
        )
        .unwrap_err();
        assert_eq!(e.errors[0].field, "script[0].weight", "{e}");
        assert!(e.errors[0].message.contains("weight"), "{e}");
        let e = parse(
            r#"{"name":"x","actors":1,"script":[{"action":"LOGIN"}],"duration":"30 minutes"}"#,
            ScenarioFormat::Json,
            "b",
        )
        .unwrap_err();
        assert_eq!(e.errors[0].field, "duration", "{e}");
        let e = parse(r#"{"name":"x", "colour":1}"#, ScenarioFormat::Json, "b").unwrap_err();
        assert!(e.errors[0].message.contains("colour"), "{e}");
    }

    #[test]
    fn toml_reads_the_same_scenario() {
        let text = r#"
name = "flood_rerate_wave1"
actors = 10000
duration = "30m"
script = [
  { action = "LOGIN", ratio = 1.0 },
  { action = "FETCH_PREMIUM", ratio = 1.0 },
  { action = "PAY", ratio = 0.98 },
  { action = "ABANDON", ratio = 0.02 },
]
"#;
        let t = parse(text, ScenarioFormat::Toml, "s.toml").unwrap();
        assert_eq!(t, parse(SEED, ScenarioFormat::Json, "s").unwrap());
    }
}
