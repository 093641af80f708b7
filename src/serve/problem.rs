//! Errors as `application/problem+json` (RFC 9457): `{"type","title","status","detail",
//! "errors":[{"field","message"}]}`. Every error the API answers goes through [`Problem`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One problem with one field of a request body.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldProblem {
    /// A path as a user reads it: `speed`, `script[2].ratio`.
    pub field: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// An error answer.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(skip)]
    pub status: StatusCode,
    /// `urn:esr:problem:<kind>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    #[serde(rename = "status")]
    pub code: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

impl Problem {
    /// A problem of `kind` (`not-found`, `invalid-body`, ...) with a sentence of detail.
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            kind: format!("urn:esr:problem:{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            code: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// Adds the fields the problem is about.
    pub fn with_errors(mut self, errors: Vec<FieldProblem>) -> Problem {
        self.errors = errors;
        self
    }

    /// 404 for an unknown scenario or run.
    pub fn not_found(kind: &str, id: &str) -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no {kind} `{id}`; list them with GET /api/esr/{kind}s"),
        )
    }

    /// 409: the resource exists but is not in a state that allows this.
    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::CONFLICT, "conflict", detail)
    }

    /// 500 for a failure of the server itself (the store, the disk).
    pub fn internal(detail: impl Into<String>) -> Problem {
        let detail = detail.into();
        tracing::error!("{detail}");
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        match e {
            StoreError::NotFound { kind, id } => Problem::not_found(kind, &id),
            StoreError::Conflict(m) => Problem::conflict(m),
            other => Problem::internal(other.to_string()),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut r = (self.status, body).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// The body of a request that could not be read (too large, not UTF-8, cut off).
pub fn body_problem(e: axum::extract::rejection::BytesRejection) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!(
                "the request body is larger than {} KiB; send a smaller scenario",
                super::BODY_LIMIT / 1024
            ),
        )
    } else {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-body",
            format!("cannot read the request body: {}", e.body_text()),
        )
    }
}
