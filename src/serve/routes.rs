//! The handlers of DESIGN.md's routes. Each answers JSON or a [`Problem`].

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::problem::{FieldProblem, Problem, body_problem};
use super::runner::Runner;
use super::views::{RunCreated, RunView, ScenarioView};
use crate::scenario::{self, Scenario, ScenarioError, ScenarioFormat};
use crate::store::{RunRow, RunState};

/// The OpenAPI document (written by hand; a test keeps it and the router in step).
pub const OPENAPI: &str = include_str!("openapi.json");

type Answer<T> = Result<T, Problem>;

pub async fn health(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "activeRuns": app.runner().active(),
    }))
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// `POST /api/esr/scenarios`: JSON (or TOML with a `toml` content type), validated.
pub async fn create_scenario(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer<(StatusCode, Json<serde_json::Value>)> {
    let body = body.map_err(body_problem)?;
    let text = std::str::from_utf8(&body).map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-body",
            "the request body is not UTF-8 text; send the scenario as JSON",
        )
    })?;
    let is_toml = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("toml"));
    let format = if is_toml {
        ScenarioFormat::Toml
    } else {
        ScenarioFormat::Json
    };
    let sc = scenario::parse(text, format, "<request body>").map_err(scenario_problem)?;
    let json = serde_json::to_string(&sc)
        .map_err(|e| Problem::internal(format!("cannot encode the scenario: {e}")))?;
    let id = app.store().add_scenario(&sc.name, &json)?;
    // Exactly the seed's answer: the id and that it is ready to run.
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"id": id, "status": "READY"})),
    ))
}

fn scenario_problem(e: ScenarioError) -> Problem {
    let n = e.errors.len();
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-scenario",
        format!(
            "the scenario has {n} problem{}; fix the fields named in `errors`",
            if n == 1 { "" } else { "s" }
        ),
    )
    .with_errors(
        e.errors
            .into_iter()
            .map(|f| FieldProblem {
                field: f.field,
                message: f.message,
            })
            .collect(),
    )
}

pub async fn list_scenarios(State(app): State<AppState>) -> Answer<Json<Vec<ScenarioView>>> {
    let rows = app.store().scenarios()?;
    Ok(Json(
        rows.iter().map(|r| ScenarioView::of(r, false)).collect(),
    ))
}

pub async fn get_scenario(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Answer<Json<ScenarioView>> {
    let row = app
        .store()
        .scenario(&id)?
        .ok_or_else(|| Problem::not_found("scenario", &id))?;
    Ok(Json(ScenarioView::of(&row, true)))
}

pub async fn delete_scenario(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Answer<StatusCode> {
    if app.store().delete_scenario(&id)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found("scenario", &id))
    }
}

/// The optional body of `POST .../run`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunBody {
    /// Overrides the scenario's timing.
    speed: Option<f64>,
}

/// Largest `speed` accepted (the schedule divides every gap by it).
const MAX_SPEED: f64 = 1_000_000.0;

fn run_body(bytes: &[u8]) -> Answer<RunBody> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(RunBody::default());
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let body: RunBody = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-body",
                format!("the body is not JSON ({inner}); send `{{\"speed\": 60}}` or nothing"),
            )
        } else {
            let field = if field == "." {
                unknown_field(&inner.to_string()).unwrap_or_else(|| "speed".into())
            } else {
                field
            };
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-run",
                format!("field `{field}`: {inner}"),
            )
            .with_errors(vec![FieldProblem {
                field,
                message: format!("{inner}; the body takes only `speed` (a number > 0)"),
            }])
        }
    })?;
    if let Some(s) = body.speed
        && !(s.is_finite() && s > 0.0 && s <= MAX_SPEED)
    {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-run",
            "field `speed`: must be a number above 0",
        )
        .with_errors(vec![FieldProblem {
            field: "speed".into(),
            message: format!("must be a number above 0 and at most {MAX_SPEED}, like 60"),
        }]));
    }
    Ok(body)
}

/// The name in serde's "unknown field `x`, expected ..." (the path is the root then).
fn unknown_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// `POST /api/esr/scenarios/{id}/run` → 202 `{"runId","state"}`.
pub async fn run_scenario(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer<(StatusCode, Json<RunCreated>)> {
    let body = run_body(&body.map_err(body_problem)?)?;
    let row = app
        .store()
        .scenario(&id)?
        .ok_or_else(|| Problem::not_found("scenario", &id))?;
    let sc: Scenario = scenario::parse(&row.body, ScenarioFormat::Json, &id)
        .map_err(|e| Problem::internal(format!("stored scenario `{id}` no longer parses: {e}")))?;
    // The one input problem parsing cannot see: the trace may have gone since.
    if let Some(t) = &sc.trace
        && !std::path::Path::new(t).is_file()
    {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-scenario",
            format!("scenario `{id}` names a trace the server cannot find"),
        )
        .with_errors(vec![FieldProblem {
            field: "trace".into(),
            message: "no trace file at this path (relative paths start at the server's folder);                       write one with `esr ingest`"
                .into(),
        }]));
    }
    let run = Runner::submit(&app, &id, sc, body.speed)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RunCreated {
            run_id: run.id,
            state: run.state,
        }),
    ))
}

pub async fn list_runs(State(app): State<AppState>) -> Answer<Json<Vec<RunView>>> {
    let rows = app.store().runs()?;
    let runner = app.runner();
    Ok(Json(
        rows.into_iter()
            .map(|r| {
                let live = runner.progress(&r.id);
                RunView::of(r, live)
            })
            .collect(),
    ))
}

fn known_run(app: &AppState, id: &str) -> Answer<RunRow> {
    app.store()
        .run(id)?
        .ok_or_else(|| Problem::not_found("run", id))
}

pub async fn get_run(State(app): State<AppState>, Path(id): Path<String>) -> Answer<Json<RunView>> {
    let row = known_run(&app, &id)?;
    let live = app.runner().progress(&id);
    Ok(Json(RunView::of(row, live)))
}

/// `POST /api/esr/runs/{id}/cancel` → 202 with the run; it ends `CANCELLED`.
pub async fn cancel_run(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Answer<(StatusCode, Json<RunView>)> {
    let row = known_run(&app, &id)?;
    if row.state.is_final() {
        return Err(Problem::conflict(format!(
            "run `{id}` is already {}; there is nothing to cancel",
            row.state.as_str()
        )));
    }
    if !app.runner().cancel(&app, &id)? {
        return Err(Problem::conflict(format!(
            "run `{id}` is not running on this server"
        )));
    }
    let row = known_run(&app, &id)?;
    let live = app.runner().progress(&id);
    Ok((StatusCode::ACCEPTED, Json(RunView::of(row, live))))
}

/// A file of a finished run's folder: only once the run is in one of `states`, so a file
/// still being written is never served.
async fn run_file(
    app: &AppState,
    id: &str,
    file: &str,
    states: &[RunState],
    content_type: &'static str,
) -> Answer<Response> {
    let row = known_run(app, id)?;
    if row.archived {
        return Err(Problem::conflict(format!(
            "run `{id}` is archived; bring it back with POST /api/esr/runs/{id}/restore"
        )));
    }
    if !states.contains(&row.state) {
        return Err(Problem::conflict(format!(
            "run `{id}` is {}; `{file}` is served once it is {}",
            row.state.as_str(),
            states
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" or ")
        )));
    }
    let path = row.folder.join(file);
    match tokio::fs::read(&path).await {
        Ok(bytes) => Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Problem::conflict(format!(
            "run `{id}` has no `{file}` (it ended {} before writing one)",
            row.state.as_str()
        ))),
        Err(e) => Err(Problem::internal(format!(
            "cannot read `{}`: {e}",
            path.display()
        ))),
    }
}

const SCORED: &[RunState] = &[RunState::Done, RunState::Cancelled];

pub async fn scorecard(State(app): State<AppState>, Path(id): Path<String>) -> Answer<Response> {
    run_file(
        &app,
        &id,
        crate::scorecard::SCORECARD_FILE,
        SCORED,
        "application/json",
    )
    .await
}

pub async fn scorecard_html(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Answer<Response> {
    run_file(
        &app,
        &id,
        crate::scorecard::REPORT_FILE,
        SCORED,
        "text/html; charset=utf-8",
    )
    .await
}

pub async fn metrics(State(app): State<AppState>, Path(id): Path<String>) -> Answer<Response> {
    let mut r = run_file(
        &app,
        &id,
        crate::tap::METRICS_FILE,
        &[RunState::Done, RunState::Cancelled, RunState::Failed],
        "application/vnd.apache.parquet",
    )
    .await?;
    if let Ok(v) = format!("attachment; filename=\"{id}-metrics.parquet\"").parse() {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// `POST /api/esr/runs/{id}/restore`: unpacks an archived run's folder (a no-op for a run
/// that is not archived).
pub async fn restore(State(app): State<AppState>, Path(id): Path<String>) -> Answer<Json<RunView>> {
    known_run(&app, &id)?;
    // Unpacking takes a while: on a connection of its own, not the API's.
    let store = app.store().reopen();
    let row = tokio::task::spawn_blocking(move || store?.restore(&id))
        .await
        .map_err(|e| Problem::internal(format!("restore failed: {e}")))??;
    Ok(Json(RunView::of(row, None)))
}

/// `GET /api/esr/runs/{id}/diff/{other}` → `esr diff {id} {other}` as JSON: per-endpoint
/// percentile deltas with bootstrap intervals, the KS test, status mix and a verdict (A is
/// `{id}`, B is `{other}`). Both runs must be scored and on disk, and have replayed the same
/// trace (the CLI's `--force` has no API twin: a diff across traces compares nothing real).
pub async fn diff_runs(
    State(app): State<AppState>,
    Path((id, other)): Path<(String, String)>,
) -> Answer<Json<crate::diff::DiffReport>> {
    let mut dirs = Vec::new();
    for run in [&id, &other] {
        let row = known_run(&app, run)?;
        if row.archived {
            return Err(Problem::conflict(format!(
                "run `{run}` is archived; bring it back with POST /api/esr/runs/{run}/restore"
            )));
        }
        if !SCORED.contains(&row.state) {
            return Err(Problem::conflict(format!(
                "run `{run}` is {}; runs are compared once they are DONE or CANCELLED",
                row.state.as_str()
            )));
        }
        dirs.push(row.folder);
    }
    let report = tokio::task::spawn_blocking(move || {
        let a = crate::diff::load(&dirs[0])?;
        let b = crate::diff::load(&dirs[1])?;
        crate::diff::check_same_trace(&a, &b)?;
        Ok::<_, crate::diff::DiffError>(crate::diff::diff(
            &a,
            &b,
            &crate::diff::DiffOptions::default(),
        ))
    })
    .await
    .map_err(|e| Problem::internal(format!("the diff task failed: {e}")))?
    .map_err(|e| Problem::conflict(e.to_string()))?;
    Ok(Json(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_body_names_the_bad_field() {
        assert_eq!(run_body(b"").unwrap().speed, None);
        assert_eq!(run_body(b" {\"speed\": 60} ").unwrap().speed, Some(60.0));
        let p = run_body(b"{\"speed\": 60, \"sped\": 1}").unwrap_err();
        assert_eq!((p.code, p.errors[0].field.as_str()), (422, "sped"));
        let p = run_body(b"{\"speed\": \"fast\"}").unwrap_err();
        assert_eq!((p.code, p.errors[0].field.as_str()), (422, "speed"));
        let p = run_body(b"{\"speed\": -1}").unwrap_err();
        assert_eq!((p.code, p.errors[0].field.as_str()), (422, "speed"));
        assert_eq!(run_body(b"{\"speed\": ").unwrap_err().code, 400);
    }
}
