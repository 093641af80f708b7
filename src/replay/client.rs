//! The HTTP side of a replay: turning trace rows into requests for the sandbox, sending them
//! over reused connections, and reducing each answer to a [`Reply`] (status, bytes, SHA-256
//! of the body, or the kind of transport failure).

use std::future::Future;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use sha2::{Digest, Sha256};

use super::ReplayError;
use crate::outcome::ErrorKind;
use crate::trace::TraceRecord;

/// What came back for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status, 0 on a transport error.
    pub status: u16,
    /// Transport error, if any.
    pub error: Option<ErrorKind>,
    /// Response body bytes received.
    pub bytes: u64,
    /// SHA-256 of the complete body.
    pub body_sha256: Option<[u8; 32]>,
    /// Personal data the detectors found in the body's first bytes (0 when not scanned).
    pub pii_hits: u32,
}

impl Reply {
    /// A request that got no HTTP answer.
    pub fn failed(kind: ErrorKind) -> Reply {
        Reply {
            status: 0,
            error: Some(kind),
            bytes: 0,
            body_sha256: None,
            pii_hits: 0,
        }
    }
}

/// Something that sends prepared requests: the real HTTP client, or a timed fake in tests
/// of the dispatcher under paused time. The dispatcher runs a fixed pool of workers; each
/// keeps its own [`Transport::Conn`] (its kept-alive connections) from request to request.
pub trait Transport: Send + Sync + 'static {
    /// A request ready to send.
    type Request: Send + 'static;
    /// One worker's connection state; `Default` is "not connected yet".
    type Conn: Default + Send + 'static;
    /// Sends one request on the worker's connections and waits for the complete answer.
    fn send(&self, conn: &mut Self::Conn, req: Self::Request)
    -> impl Future<Output = Reply> + Send;
    /// Opens a new worker's first connection before it takes a job, so that a worker that
    /// frees up meanwhile takes the job instead (the connect then stays out of latencies).
    fn warm(&self, conn: &mut Self::Conn) -> impl Future<Output = ()> + Send {
        let _ = conn;
        async {}
    }
}

/// Headers never replayed: hop-by-hop headers belong to the original connection, `host` is
/// rewritten to the target, and `content-length` is set by the client from the body.
const DROPPED_HEADERS: [&str; 8] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
];

fn dropped(name: &str) -> bool {
    DROPPED_HEADERS.contains(&name) || name.starts_with("proxy-")
}

/// Where each request goes: the `--target`, or a `--host-map` URL for its recorded host.
#[derive(Debug, Clone)]
pub struct Targets {
    default: Url,
    map: Vec<(String, Url)>,
}

impl Targets {
    /// `map` pairs a recorded host (matched case-insensitively, port ignored when the pattern
    /// has none) with the base URL its requests go to. URLs must already be guarded.
    pub fn new(default: Url, map: Vec<(String, Url)>) -> Targets {
        let map = map
            .into_iter()
            .map(|(h, u)| (h.to_ascii_lowercase(), u))
            .collect();
        Targets { default, map }
    }

    /// The base URL for a request recorded against `host`.
    pub fn base_for(&self, host: Option<&str>) -> &Url {
        self.bases()[self.index_for(host)]
    }

    /// Every base URL by index: the `--target` first, then the `--host-map` URLs in order.
    pub fn bases(&self) -> Vec<&Url> {
        std::iter::once(&self.default)
            .chain(self.map.iter().map(|(_, u)| u))
            .collect()
    }

    /// Resolves one trace row: the index of its base (see [`Targets::bases`]), method, full
    /// URL and headers (without hop-by-hop ones). The error names what is wrong, never the
    /// value.
    pub fn resolve(&self, rec: &TraceRecord) -> Result<Resolved, &'static str> {
        let method = Method::from_bytes(rec.method.as_bytes()).map_err(|_| "invalid method")?;
        let index = self.index_for(rec.host.as_deref());
        let base = self.bases()[index];
        let mut text = base.as_str().trim_end_matches('/').to_string();
        if !rec.path.starts_with('/') {
            text.push('/');
        }
        text.push_str(&rec.path);
        let url = Url::parse(&text).map_err(|_| "path does not make a valid URL")?;
        // The guard checked the base; a crafted path must not move the request elsewhere.
        if url.host_str() != base.host_str()
            || url.port_or_known_default() != base.port_or_known_default()
        {
            return Err("path changes the target host");
        }
        let headers = match &rec.headers {
            Some(h) => headers_of(h).ok_or("headers are not a JSON object")?,
            None => HeaderMap::new(),
        };
        Ok(Resolved {
            index,
            method,
            url,
            headers,
        })
    }

    fn index_for(&self, host: Option<&str>) -> usize {
        let Some(host) = host.map(str::to_ascii_lowercase) else {
            return 0;
        };
        let bare = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
        self.map
            .iter()
            .position(|(h, _)| *h == host || h == bare)
            .map_or(0, |i| i + 1)
    }

    /// Builds the reqwest request for one trace row (for `esr compare`'s sender).
    pub fn prepare(&self, rec: &TraceRecord) -> Result<reqwest::Request, &'static str> {
        let r = self.resolve(rec)?;
        let mut req = reqwest::Request::new(r.method, r.url);
        *req.headers_mut() = r.headers;
        if let Some(body) = &rec.body {
            *req.body_mut() = Some(body.clone().into());
        }
        Ok(req)
    }
}

/// One trace row resolved against the targets.
#[derive(Debug)]
pub struct Resolved {
    /// Index of the base URL in [`Targets::bases`].
    pub index: usize,
    /// HTTP method.
    pub method: Method,
    /// Base URL joined with the row's path and query.
    pub url: Url,
    /// Headers to send (hop-by-hop ones, `host` and `content-length` dropped).
    pub headers: HeaderMap,
}

/// Parses the trace's headers column (a JSON object; values are strings, numbers or arrays of
/// them) into a header map without the dropped headers. Invalid names or values are skipped.
fn headers_of(json: &str) -> Option<HeaderMap> {
    let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).ok()?;
    let mut map = HeaderMap::with_capacity(obj.len());
    for (name, value) in &obj {
        let lower = name.to_ascii_lowercase();
        if dropped(&lower) {
            continue;
        }
        let Ok(name) = HeaderName::from_bytes(lower.as_bytes()) else {
            continue;
        };
        let values = match value {
            serde_json::Value::Array(items) => items.iter().collect(),
            v => vec![v],
        };
        for v in values {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            if let Ok(v) = HeaderValue::from_str(&text) {
                map.append(name.clone(), v);
            }
        }
    }
    Some(map)
}

/// The replay's HTTP client: plain HTTP/1.1, pooled connections, no proxies (a proxy from
/// the environment would route sandbox traffic elsewhere) and no redirects (a redirect could
/// leave the sandbox).
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
}

impl HttpClient {
    /// A client whose requests give up after `timeout` (connect, send and whole body).
    pub fn new(timeout: Duration, concurrency: usize) -> Result<HttpClient, ReplayError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(concurrency)
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("esr/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ReplayError::Io(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpClient { client })
    }

    /// Sends one request and hashes the body as it streams in.
    pub async fn execute(&self, req: reqwest::Request) -> Reply {
        self.execute_keeping(req, 0).await.0
    }

    /// Like [`HttpClient::execute`], and also keeps the first `keep` bytes of the body (for
    /// `esr compare`, which diffs the bodies of two versions).
    pub async fn execute_keeping(&self, req: reqwest::Request, keep: usize) -> (Reply, Vec<u8>) {
        let mut kept = Vec::new();
        let mut resp = match self.client.execute(req).await {
            Ok(r) => r,
            Err(e) => return (Reply::failed(kind_of(&e, ErrorKind::Other)), kept),
        };
        let status = resp.status().as_u16();
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    bytes += chunk.len() as u64;
                    hasher.update(&chunk);
                    let room = keep.saturating_sub(kept.len()).min(chunk.len());
                    kept.extend_from_slice(&chunk[..room]);
                }
                Ok(None) => break,
                Err(e) => {
                    let mut r = Reply::failed(kind_of(&e, ErrorKind::Body));
                    r.bytes = bytes;
                    return (r, kept);
                }
            }
        }
        let reply = Reply {
            status,
            error: None,
            bytes,
            body_sha256: Some(hasher.finalize().into()),
            pii_hits: 0,
        };
        (reply, kept)
    }
}

impl Transport for HttpClient {
    type Request = reqwest::Request;
    /// reqwest keeps its own pool.
    type Conn = ();

    fn send(&self, _: &mut (), req: reqwest::Request) -> impl Future<Output = Reply> + Send {
        self.execute(req)
    }
}

/// Maps a client error to its kind by the error's own flags and the I/O error beneath it,
/// never by matching its message against a list of strings for counting.
fn kind_of(e: &reqwest::Error, otherwise: ErrorKind) -> ErrorKind {
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(kind) = s.downcast_ref::<std::io::Error>().and_then(io_kind) {
            return kind;
        }
        // hyper reports a peer that hung up mid-answer as an "incomplete message" without an
        // I/O error beneath it; its type is private to us, so its message is the only signal.
        if s.to_string()
            .contains("connection closed before message completed")
        {
            return ErrorKind::Reset;
        }
        source = s.source();
    }
    if e.is_connect() {
        ErrorKind::Connect
    } else if e.is_body() || e.is_decode() {
        ErrorKind::Body
    } else {
        otherwise
    }
}

/// The kind of an I/O error beneath a transport failure, when it says one.
pub(crate) fn io_kind(io: &std::io::Error) -> Option<ErrorKind> {
    use std::io::ErrorKind as K;
    match io.kind() {
        K::ConnectionRefused | K::AddrNotAvailable | K::HostUnreachable => Some(ErrorKind::Connect),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            Some(ErrorKind::Reset)
        }
        K::TimedOut => Some(ErrorKind::Timeout),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Targets {
        Targets::new(
            Url::parse("http://127.0.0.1:9000").unwrap(),
            vec![(
                "pay.local".into(),
                Url::parse("http://127.0.0.1:9001/").unwrap(),
            )],
        )
    }

    #[test]
    fn requests_carry_method_path_headers_and_body() {
        let rec = TraceRecord {
            method: "POST".into(),
            path: "/pay?x=1".into(),
            host: Some("PAY.local:443".into()),
            headers: Some(
                r#"{"Content-Type":"application/json","Connection":"keep-alive","Host":"pay.local",
                "Content-Length":"99","Proxy-Authorization":"x","X-Multi":["a","b"],"X-N":5}"#
                    .into(),
            ),
            body: Some(b"{}".to_vec()),
            ..Default::default()
        };
        let req = targets().prepare(&rec).unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.url().as_str(), "http://127.0.0.1:9001/pay?x=1");
        let h = req.headers();
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h.get_all("x-multi").iter().count(), 2);
        assert_eq!(h["x-n"], "5");
        for gone in [
            "connection",
            "host",
            "content-length",
            "proxy-authorization",
        ] {
            assert!(h.get(gone).is_none(), "{gone} was replayed");
        }
        assert_eq!(req.body().and_then(|b| b.as_bytes()), Some(&b"{}"[..]));
    }

    #[test]
    fn unmapped_hosts_go_to_the_target_and_bad_rows_are_named() {
        let t = targets();
        let rec = TraceRecord {
            method: "GET".into(),
            path: "users/1".into(),
            host: Some("other.local".into()),
            ..Default::default()
        };
        assert_eq!(
            t.prepare(&rec).unwrap().url().as_str(),
            "http://127.0.0.1:9000/users/1"
        );
        let bad = TraceRecord {
            method: "G T".into(),
            path: "/".into(),
            ..Default::default()
        };
        assert_eq!(t.prepare(&bad).unwrap_err(), "invalid method");
    }
}
