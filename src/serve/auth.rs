//! The bearer token: `Authorization: Bearer <ESR_API_TOKEN>` on every API route but
//! `/api/esr/health`. Compared in constant time (both sides hashed to SHA-256 first, so
//! neither the content nor the length of the token leaks through timing).

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppState;
use super::problem::Problem;
use crate::sensitive::Sensitive;

/// The route that answers without a token (load balancers probe it).
pub const HEALTH: &str = "/api/esr/health";

/// The server's token, hashed; never printed.
#[derive(Clone)]
pub struct Token(Sensitive<[u8; 32]>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

impl Token {
    /// A token from its text; `None` for an empty one.
    pub fn new(text: &str) -> Option<Token> {
        (!text.is_empty()).then(|| Token(Sensitive::new(Sha256::digest(text.as_bytes()).into())))
    }

    /// Whether `presented` is the token, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        let h: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let diff = self
            .0
            .expose()
            .iter()
            .zip(h.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

/// Refuses to listen beyond loopback without a token (the API can start runs).
pub fn check_listen(addr: &SocketAddr, token: Option<&Token>) -> Result<(), String> {
    if addr.ip().is_loopback() || token.is_some() {
        return Ok(());
    }
    Err(format!(
        "refusing to listen on `{addr}` beyond loopback without a token: set ESR_API_TOKEN \
         (for example `export ESR_API_TOKEN=$(openssl rand -hex 32)`) or listen on 127.0.0.1"
    ))
}

/// Middleware: with a token set, a request without the right `Authorization: Bearer` is
/// answered 401.
pub async fn require_token(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let Some(token) = app.token() else {
        return next.run(req).await;
    };
    if req.uri().path() == HEALTH {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        // The scheme is case-insensitive (RFC 9110); the token is not.
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    match presented {
        Some(p) if token.matches(p) => next.run(req).await,
        Some(_) => Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the bearer token is wrong; send `Authorization: Bearer $ESR_API_TOKEN`",
        )
        .into_response(),
        None => Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this server needs a bearer token; send `Authorization: Bearer $ESR_API_TOKEN`",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_themselves() {
        let t = Token::new("s3cret-token").unwrap();
        assert!(t.matches("s3cret-token"));
        assert!(!t.matches("s3cret-tokeN"));
        assert!(!t.matches("s3cret-token "));
        assert!(!t.matches(""));
        assert!(Token::new("").is_none());
        assert_eq!(format!("{t:?}"), "Token([redacted])");
    }

    #[test]
    fn beyond_loopback_needs_a_token() {
        let t = Token::new("x");
        let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let lo6: SocketAddr = "[::1]:0".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
        assert!(check_listen(&lo, None).is_ok());
        assert!(check_listen(&lo6, None).is_ok());
        assert!(check_listen(&any, t.as_ref()).is_ok());
        let err = check_listen(&any, None).unwrap_err();
        assert!(err.contains("ESR_API_TOKEN"), "{err}");
    }
}
