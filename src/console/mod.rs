//! The console: the web page `esr serve` answers on `GET /` — list, create and run
//! scenarios, watch progress, read scorecards, compare runs.
//!
//! Takes nothing but the requests for its page and assets; gives a static HTML page, one
//! stylesheet and one script, all compiled into the binary with `include_str!` so the console
//! works with no network. It talks to the server only through the public HTTP API
//! (`/api/esr/...`) from the browser; it must never read the store itself, load anything from
//! another origin, or run inline script (its Content-Security-Policy forbids both).

use axum::Router;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page. The seed scenario is written into its textarea, so it reads without JavaScript.
const INDEX_HTML: &str = include_str!("assets/index.html");
const CONSOLE_CSS: &str = include_str!("assets/console.css");
const CONSOLE_JS: &str = include_str!("assets/console.js");
const FAVICON_SVG: &str = include_str!("assets/favicon.svg");

/// Scripts, styles and fetches from this server only; the scorecard report may be framed
/// from this server. No inline script or style, no plugins, and the console itself may not
/// be framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Every file of the console: its path, its text and its content type.
const ASSETS: [(&str, &str, &str); 4] = [
    ("/", INDEX_HTML, "text/html; charset=utf-8"),
    (
        "/console/console.css",
        CONSOLE_CSS,
        "text/css; charset=utf-8",
    ),
    (
        "/console/console.js",
        CONSOLE_JS,
        "text/javascript; charset=utf-8",
    ),
    ("/console/favicon.svg", FAVICON_SVG, "image/svg+xml"),
];

/// The console's routes (`GET /` and its assets under `/console/`), to be merged into the API
/// router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS
        .iter()
        .fold(Router::new(), |router, &(path, body, content_type)| {
            router.route(path, get(move || async move { asset(body, content_type) }))
        })
}

/// One compiled-in file with its content type and the console's security headers. `no-cache`
/// (revalidate, not "never store") so a new binary's console is picked up at once.
fn asset(body: &'static str, content_type: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ),
    ];
    (headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn get_path(path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let res = router::<()>()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn every_asset_is_served_with_its_type_and_the_policy() {
        for (path, _, ty) in ASSETS {
            let (status, headers, body) = get_path(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(headers[header::CONTENT_TYPE], ty, "{path}");
            assert_eq!(
                headers[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY
            );
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert!(!body.is_empty(), "{path}");
        }
    }

    #[tokio::test]
    async fn an_unknown_asset_is_not_found() {
        let (status, _, _) = get_path("/console/nope.js").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    /// The policy forbids inline script and style, so the page must carry none: every script
    /// and stylesheet is a file of this server, and nothing is loaded from another origin.
    #[test]
    fn the_page_has_no_inline_script_or_style_and_no_other_origin() {
        let page = INDEX_HTML.to_ascii_lowercase();
        assert_eq!(page.matches("<script").count(), 1);
        assert!(page.contains("<script src=\"/console/console.js\" defer></script>"));
        assert!(!page.contains("<style"));
        assert!(!page.contains(" style="));
        let handler = regex::Regex::new(r"\son[a-z]+\s*=").unwrap();
        assert!(!handler.is_match(&page), "an inline event handler");
        for needle in ["http://", "https://", "//cdn", "javascript:"] {
            assert!(!page.contains(needle), "the page names `{needle}`");
            assert!(!CONSOLE_JS.contains(needle), "the script names `{needle}`");
            assert!(
                !CONSOLE_CSS.contains(needle),
                "the stylesheet names `{needle}`"
            );
        }
        assert!(
            !CONSOLE_JS.contains("innerHTML"),
            "build nodes, never HTML strings"
        );
    }

    /// The scenario the editor opens with is the seed's, and the scenario parser accepts it
    /// as it stands (the browser test creates it through the form).
    #[test]
    fn the_editor_opens_with_a_valid_seed_scenario() {
        let open = "aria-describedby=\"scenario-help scenario-errors\">";
        let start = INDEX_HTML.find(open).expect("the editor's textarea") + open.len();
        let len = INDEX_HTML[start..].find("</textarea>").expect("its end");
        let seed = &INDEX_HTML[start..start + len];
        let parsed = crate::scenario::parse(seed, crate::scenario::ScenarioFormat::Json, "seed");
        assert_eq!(parsed.expect("the seed parses").name, "flood_rerate_wave1");
    }

    /// Readable without JavaScript: the headings, the labelled form and the seed scenario are
    /// in the static page.
    #[test]
    fn the_static_page_holds_the_seed_scenario_and_labelled_fields() {
        for needle in [
            "<h1>esr console</h1>",
            "\"name\": \"flood_rerate_wave1\"",
            "\"actors\": 10000",
            "<label for=\"scenario-json\">",
            "<label for=\"run-speed\">",
            "<label for=\"token-input\">",
            "<noscript>",
        ] {
            assert!(INDEX_HTML.contains(needle), "the page lacks `{needle}`");
        }
    }
}
