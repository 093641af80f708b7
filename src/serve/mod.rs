//! The HTTP API (`esr serve`): takes scenarios and run requests over HTTP, gives background
//! runs through the same engine as the CLI (`scenario::run` → `replay`), their progress,
//! scorecards and metrics, and the console's page; everything is kept in the run store.
//!
//! It must never listen beyond loopback without a bearer token, never serve a file of a run
//! that is still being written, and never put a request's data in an error or a log line.

mod auth;
mod problem;
mod routes;
mod runner;
mod views;

pub use auth::{HEALTH, Token, check_listen};
pub use problem::{FieldProblem, PROBLEM_JSON, Problem};
pub use routes::OPENAPI;
pub use runner::Runner;
pub use views::{Progress, RunCreated, RunView, ScenarioView};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, get, post};

use crate::store::{ServerLock, Store};

/// Largest request body accepted (a scenario is a few KiB).
pub const BODY_LIMIT: usize = 1024 * 1024;
/// How often the server archives runs older than `--hot-days`.
pub const ARCHIVE_EVERY: Duration = Duration::from_secs(3600);

/// The server's shared state: the store, the runner and the token. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    store: Mutex<Store>,
    runner: Runner,
    token: Option<Token>,
}

impl AppState {
    /// State over an open store; runs go to the store's data folder, `max_runs` at once.
    pub fn new(store: Store, max_runs: usize, token: Option<Token>) -> AppState {
        let data = store.data().to_path_buf();
        AppState(Arc::new(Inner {
            store: Mutex::new(store),
            runner: Runner::new(data, max_runs),
            token,
        }))
    }

    /// The store (statements are short; the lock is held for one call).
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.0.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The background runs.
    pub fn runner(&self) -> &Runner {
        &self.0.runner
    }

    /// The bearer token, when one is set.
    pub fn token(&self) -> Option<&Token> {
        self.0.token.as_ref()
    }
}

/// The API's routes, recorded as they are added so the OpenAPI test can walk them.
pub struct Api {
    router: Router<AppState>,
    /// `(path, method)` of every API route.
    pub routes: Vec<(&'static str, &'static str)>,
}

impl Api {
    fn route(
        mut self,
        path: &'static str,
        methods: &[&'static str],
        mr: MethodRouter<AppState>,
    ) -> Api {
        self.router = self.router.route(path, mr);
        self.routes.extend(methods.iter().map(|m| (path, *m)));
        self
    }

    /// Every route of DESIGN.md "HTTP API and scenarios".
    pub fn new() -> Api {
        use routes::*;
        let api = Api {
            router: Router::new(),
            routes: Vec::new(),
        };
        api.route(HEALTH, &["GET"], get(health))
            .route("/api/esr/openapi.json", &["GET"], get(openapi))
            .route(
                "/api/esr/scenarios",
                &["GET", "POST"],
                get(list_scenarios).post(create_scenario),
            )
            .route(
                "/api/esr/scenarios/{id}",
                &["GET", "DELETE"],
                get(get_scenario).delete(delete_scenario),
            )
            .route("/api/esr/scenarios/{id}/run", &["POST"], post(run_scenario))
            .route("/api/esr/runs", &["GET"], get(list_runs))
            .route("/api/esr/runs/{id}", &["GET"], get(get_run))
            .route("/api/esr/runs/{id}/cancel", &["POST"], post(cancel_run))
            .route("/api/esr/runs/{id}/scorecard", &["GET"], get(scorecard))
            .route(
                "/api/esr/runs/{id}/scorecard.html",
                &["GET"],
                get(scorecard_html),
            )
            .route("/api/esr/runs/{id}/metrics.parquet", &["GET"], get(metrics))
            .route("/api/esr/runs/{id}/restore", &["POST"], post(restore))
            .route("/api/esr/runs/{id}/diff/{other}", &["GET"], get(diff_runs))
    }
}

impl Default for Api {
    fn default() -> Self {
        Api::new()
    }
}

/// The whole application: the API (behind the token when one is set), problem+json for
/// unknown routes and methods, and the console's page.
///
/// The console's static page and assets are outside the token: they are compiled into the
/// binary and hold no data, and a browser cannot send a bearer header when it loads a page
/// (the console asks for the token on its first 401 and sends it on every API call).
pub fn app(state: AppState) -> Router {
    let api = Api::new()
        .router
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .with_state(state);
    api.merge(crate::console::router())
}

async fn no_route(uri: axum::http::Uri) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "no-route",
        format!(
            "no route `{}`; see GET /api/esr/openapi.json",
            uri.path().chars().take(200).collect::<String>()
        ),
    )
}

async fn no_method(method: axum::http::Method) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("`{method}` is not allowed here; see GET /api/esr/openapi.json"),
    )
}

/// What `esr serve` needs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub data: PathBuf,
    pub max_runs: usize,
    /// Runs older than this many days are archived.
    pub hot_days: f64,
    pub token: Option<Token>,
}

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot listen on `{addr}`: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A server bound and ready: its address, and the future that serves until `shutdown`.
pub struct Bound {
    pub addr: SocketAddr,
    listener: tokio::net::TcpListener,
    state: AppState,
    hot_days: f64,
    _lock: ServerLock,
}

/// Checks the options, opens the store (taking the data folder's lock and failing runs a
/// crash cut off) and binds the address.
pub async fn bind(opts: ServeOptions) -> Result<Bound, ServeError> {
    check_listen(&opts.listen, opts.token.as_ref()).map_err(ServeError::Refused)?;
    let (store, lock) = Store::open_for_server(&opts.data)?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: opts.listen,
        source,
    })?;
    Ok(Bound {
        addr,
        listener,
        state: AppState::new(store, opts.max_runs, opts.token),
        hot_days: opts.hot_days,
        _lock: lock,
    })
}

impl Bound {
    /// Serves until `shutdown` completes; then cancels queued runs and stops running ones
    /// (they end `CANCELLED` with their partial scorecards).
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let archiver = tokio::spawn(archive_periodically(state.clone(), self.hot_days));
        let res = axum::serve(self.listener, app(state.clone()))
            .with_graceful_shutdown(shutdown)
            .await;
        archiver.abort();
        state
            .runner()
            .shutdown(&state, Duration::from_secs(30))
            .await;
        res
    }
}

/// Archives runs older than `hot_days` at start and then every [`ARCHIVE_EVERY`].
async fn archive_periodically(state: AppState, hot_days: f64) {
    let mut tick = tokio::time::interval(ARCHIVE_EVERY);
    loop {
        tick.tick().await;
        // A connection of its own: packing a large run folder takes a while, and the API's
        // connection must stay free meanwhile (SQLite in WAL mode takes both).
        let store = state.store().reopen();
        let job = move || store?.archive_older_than(hot_days);
        match tokio::task::spawn_blocking(job).await {
            Ok(Ok(ids)) if !ids.is_empty() => {
                tracing::info!("archived {} runs older than {hot_days} days", ids.len())
            }
            Ok(Err(e)) => tracing::warn!("archiving old runs failed: {e}"),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
