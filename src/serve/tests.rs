use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request};
use tower::ServiceExt;

use super::*;

fn documented() -> BTreeSet<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut set = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            set.insert((path.clone(), method.to_uppercase()));
        }
    }
    set
}

/// Every `$ref` in the document points at something it defines.
#[test]
fn every_reference_in_the_document_resolves() {
    fn walk(v: &serde_json::Value, doc: &serde_json::Value, n: &mut usize) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                    let ptr = r.strip_prefix('#').expect("local reference");
                    assert!(doc.pointer(ptr).is_some(), "dangling `{r}`");
                    *n += 1;
                }
                m.values().for_each(|x| walk(x, doc, n));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, doc, n)),
            _ => {}
        }
    }
    let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
    let mut n = 0;
    walk(&doc, &doc, &mut n);
    assert!(n > 20, "{n} references");
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let routes: BTreeSet<(String, String)> = Api::new()
        .routes
        .iter()
        .map(|(p, m)| (p.to_string(), m.to_string()))
        .collect();
    let doc = documented();
    let undocumented: Vec<_> = routes.difference(&doc).collect();
    let missing: Vec<_> = doc.difference(&routes).collect();
    assert!(
        undocumented.is_empty(),
        "routes not in openapi.json: {undocumented:?}"
    );
    assert!(
        missing.is_empty(),
        "openapi.json operations with no route: {missing:?}"
    );
}

/// The recorded route list is what the router really answers: every documented operation
/// reaches a handler (not the no-route or no-method fallback), and a method the document
/// does not list for a path is refused with 405.
#[tokio::test]
async fn the_router_answers_exactly_the_documented_operations() {
    let data = tempfile::tempdir().unwrap();
    let state = AppState::new(Store::open(data.path()).unwrap(), 1, None);
    let doc = documented();
    let all = ["GET", "POST", "DELETE", "PUT", "PATCH"];
    let paths: BTreeSet<&String> = doc.iter().map(|(p, _)| p).collect();
    for path in paths {
        let uri = path.replace("{id}", "NOPE-1");
        for m in all {
            let req = Request::builder()
                .method(Method::from_bytes(m.as_bytes()).unwrap())
                .uri(&uri)
                .body(Body::empty())
                .unwrap();
            let res = app(state.clone()).oneshot(req).await.unwrap();
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), 1 << 20)
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&body);
            let listed = doc.contains(&(path.clone(), m.to_string()));
            assert!(
                !text.contains("urn:esr:problem:no-route"),
                "{m} {uri}: {text}"
            );
            if listed {
                assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{m} {uri}");
            } else {
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{m} {uri}: {text}");
                assert!(text.contains("method-not-allowed"), "{text}");
            }
        }
    }
}
