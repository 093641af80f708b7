//! The console: the web page `esr serve` answers on `GET /` — list, create and run
//! scenarios, watch progress, read scorecards, compare runs. Plain HTML, CSS and a little
//! JavaScript compiled into the binary, so it works with no network. It talks to the server
//! only through the public HTTP API (`/api/esr/...`); it never reads the store itself.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

/// The console's routes (`GET /` and its assets), to be merged into the API router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route(
        "/",
        get(|| async {
            (
                StatusCode::NOT_IMPLEMENTED,
                "the esr console is not built yet\n",
            )
        }),
    )
}
