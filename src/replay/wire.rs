//! The replay's own HTTP/1.1 sender: hyper client connections, each owned by one dispatch
//! worker and driven on that worker's task. A request costs no task of its own, no pool lock
//! and no wake-up between a request task and a connection task (the costs that dominated the
//! profile with reqwest). Each answer is reduced to a [`Reply`]: status, bytes, SHA-256 of the
//! body and the personal data the detectors find in its first bytes.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::header::{HOST, HeaderValue, USER_AGENT};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;

use super::client::{Reply, Targets, Transport, io_kind};
use crate::outcome::ErrorKind;
use crate::scrub::{RESPONSE_SCAN_LIMIT, scan_response};
use crate::trace::TraceRecord;

/// A request ready for the wire: which base it goes to, and the HTTP request in origin form.
pub struct WireRequest {
    target: usize,
    request: Request<Full<Bytes>>,
}

/// Where one base URL's connections go.
#[derive(Debug, Clone)]
struct Endpoint {
    /// `host:port` to connect to.
    addr: String,
    /// The `Host` header.
    host: HeaderValue,
    /// Only plain HTTP is sent (sandboxes); an `https` base fails each request as `connect`.
    plain: bool,
}

/// The replay's transport: hyper HTTP/1.1 connections, kept alive per worker, no proxies and
/// no redirects (either could leave the sandbox).
#[derive(Debug, Clone)]
pub struct WireClient {
    targets: Targets,
    endpoints: Vec<Endpoint>,
    timeout: Duration,
    scan: bool,
}

impl WireClient {
    /// A client for the (already guarded) `targets` whose requests give up after `timeout`
    /// (connect, send and whole body). `scan` counts personal data in the answers.
    pub fn new(targets: Targets, timeout: Duration, scan: bool) -> WireClient {
        let endpoints = targets.bases().into_iter().map(endpoint).collect();
        if scan {
            // The detectors' automaton is compiled on first use; compile it now, before the
            // run clock starts, not on a worker in the middle of the first answers.
            let _ = crate::scrub::scan("");
        }
        WireClient {
            targets,
            endpoints,
            timeout,
            scan,
        }
    }

    /// Builds the request for one trace row: method, path, headers (without hop-by-hop ones;
    /// `Host` is the target's) and body. The error names what is wrong, never the value.
    pub fn prepare(&self, rec: &TraceRecord) -> Result<WireRequest, &'static str> {
        let r = self.targets.resolve(rec)?;
        let path = match r.url.query() {
            Some(q) => format!("{}?{q}", r.url.path()),
            None => r.url.path().to_string(),
        };
        let uri: Uri = path.parse().map_err(|_| "path does not make a valid URL")?;
        let body = rec.body.clone().map(Bytes::from).unwrap_or_default();
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = r.method;
        *request.uri_mut() = uri;
        *request.headers_mut() = r.headers;
        let h = request.headers_mut();
        h.insert(HOST, self.endpoints[r.index].host.clone());
        if !h.contains_key(USER_AGENT) {
            h.insert(USER_AGENT, HeaderValue::from_static(AGENT));
        }
        Ok(WireRequest {
            target: r.index,
            request,
        })
    }

    async fn exchange(&self, links: &mut Links, req: WireRequest) -> Reply {
        let ep = &self.endpoints[req.target];
        if !ep.plain {
            return Reply::failed(ErrorKind::Connect);
        }
        if links.0.len() <= req.target {
            links.0.resize_with(req.target + 1, || None);
        }
        let slot = &mut links.0[req.target];
        if slot.as_mut().is_some_and(|l| !l.alive()) {
            *slot = None;
        }
        if slot.is_none() {
            match Link::connect(&ep.addr).await {
                Ok(l) => *slot = Some(l),
                Err(kind) => return Reply::failed(kind),
            }
        }
        let link = slot.as_mut().expect("connected above");
        let reply = link.round_trip(req.request, self.scan).await;
        if reply.error.is_some() {
            // A failed exchange leaves the connection in an unknown state.
            *slot = None;
        }
        reply
    }
}

const AGENT: &str = concat!("esr/", env!("CARGO_PKG_VERSION"));

fn endpoint(base: &Url) -> Endpoint {
    let host = base.host_str().unwrap_or("localhost");
    let port = base.port_or_known_default().unwrap_or(80);
    let header = match base.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    Endpoint {
        addr: format!("{host}:{port}"),
        // A parsed URL's host is always a valid header value.
        host: HeaderValue::from_str(&header).unwrap_or(HeaderValue::from_static("localhost")),
        plain: base.scheme() == "http",
    }
}

/// One worker's connections, one per base URL at most.
#[derive(Default)]
pub struct Links(Vec<Option<Link>>);

impl Transport for WireClient {
    type Request = WireRequest;
    type Conn = Links;

    async fn warm(&self, links: &mut Links) {
        let ep = &self.endpoints[0];
        if !ep.plain || !links.0.is_empty() {
            return;
        }
        // A failed connect is tried again, and counted, by the request itself.
        if let Ok(Ok(l)) = tokio::time::timeout(self.timeout, Link::connect(&ep.addr)).await {
            links.0.push(Some(l));
        }
    }

    async fn send(&self, links: &mut Links, req: WireRequest) -> Reply {
        let target = req.target;
        match tokio::time::timeout(self.timeout, self.exchange(links, req)).await {
            Ok(r) => r,
            Err(_) => {
                if let Some(slot) = links.0.get_mut(target) {
                    *slot = None;
                }
                Reply::failed(ErrorKind::Timeout)
            }
        }
    }
}

type Driver = http1::Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// One kept-alive connection: the request handle and the connection future, which this
/// worker polls itself while it waits for an answer (no task of its own).
pub struct Link {
    sender: http1::SendRequest<Full<Bytes>>,
    driver: Option<Pin<Box<Driver>>>,
    /// The first bytes of the last body, kept for the personal-data scan (reused).
    head: Vec<u8>,
}

impl Link {
    async fn connect(addr: &str) -> Result<Link, ErrorKind> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| io_kind(&e).unwrap_or(ErrorKind::Connect))?;
        // Small requests must leave at once, not wait for an ACK (Nagle).
        let _ = tcp.set_nodelay(true);
        let (sender, driver) = http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| hyper_kind(&e, ErrorKind::Connect))?;
        Ok(Link {
            sender,
            driver: Some(Box::pin(driver)),
            head: Vec::new(),
        })
    }

    /// Polls the connection once: false when the peer has closed it (an idle keep-alive
    /// connection may be closed by the server at any time) or it cannot take a request.
    fn alive(&mut self) -> bool {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        if let Some(d) = self.driver.as_mut()
            && d.as_mut().poll(&mut cx).is_ready()
        {
            self.driver = None;
        }
        self.driver.is_some() && !self.sender.is_closed()
    }

    async fn round_trip(&mut self, req: Request<Full<Bytes>>, scan: bool) -> Reply {
        let Link {
            sender,
            driver,
            head,
        } = self;
        if let Err(e) = drive(driver, sender.ready()).await {
            return Reply::failed(hyper_kind(&e, ErrorKind::Reset));
        }
        let resp = match drive(driver, sender.send_request(req)).await {
            Ok(r) => r,
            Err(e) => return Reply::failed(hyper_kind(&e, ErrorKind::Other)),
        };
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        head.clear();
        loop {
            match drive(driver, body.frame()).await {
                None => break,
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        bytes += data.len() as u64;
                        hasher.update(&data);
                        if scan {
                            let room = RESPONSE_SCAN_LIMIT.saturating_sub(head.len());
                            head.extend_from_slice(&data[..room.min(data.len())]);
                        }
                    }
                }
                Some(Err(e)) => {
                    let mut r = Reply::failed(hyper_kind(&e, ErrorKind::Body));
                    r.bytes = bytes;
                    return r;
                }
            }
        }
        let pii_hits = if scan && status != 0 {
            scan_response(head).len() as u32
        } else {
            0
        };
        Reply {
            status,
            error: None,
            bytes,
            body_sha256: Some(hasher.finalize().into()),
            pii_hits,
        }
    }
}

/// Awaits `f` while polling the connection future, which does the connection's I/O. Once the
/// connection has ended it is no longer polled; `f` then resolves (with an error) on its own.
async fn drive<F: Future>(driver: &mut Option<Pin<Box<Driver>>>, f: F) -> F::Output {
    let mut f = pin!(f);
    poll_fn(|cx| {
        if let Poll::Ready(v) = f.as_mut().poll(cx) {
            return Poll::Ready(v);
        }
        if let Some(d) = driver.as_mut()
            && d.as_mut().poll(cx).is_ready()
        {
            *driver = None;
            return f.as_mut().poll(cx);
        }
        Poll::Pending
    })
    .await
}

/// Maps a hyper error to its kind by its own flags and the I/O error beneath it.
fn hyper_kind(e: &hyper::Error, otherwise: ErrorKind) -> ErrorKind {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(kind) = s.downcast_ref::<std::io::Error>().and_then(io_kind) {
            return kind;
        }
        source = s.source();
    }
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        ErrorKind::Reset
    } else if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_body_write_aborted() || e.is_parse() {
        ErrorKind::Body
    } else {
        otherwise
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_requests_carry_origin_form_host_headers_and_body() {
        let targets = Targets::new(
            Url::parse("http://127.0.0.1:9000/api/").unwrap(),
            vec![(
                "pay.local".into(),
                Url::parse("http://localhost:9001").unwrap(),
            )],
        );
        let c = WireClient::new(targets, Duration::from_secs(1), true);
        let rec = TraceRecord {
            method: "POST".into(),
            path: "/pay?x=1".into(),
            host: Some("pay.local".into()),
            headers: Some(
                r#"{"Content-Type":"application/json","Host":"pay.local","Connection":"close"}"#
                    .into(),
            ),
            body: Some(b"{}".to_vec()),
            ..Default::default()
        };
        let w = c.prepare(&rec).unwrap();
        assert_eq!(w.target, 1);
        assert_eq!(w.request.method(), "POST");
        assert_eq!(w.request.uri(), "/pay?x=1");
        let h = w.request.headers();
        assert_eq!(h[HOST], "localhost:9001");
        assert_eq!(h["content-type"], "application/json");
        assert!(h.get("connection").is_none());
        assert_eq!(h[USER_AGENT], AGENT);
        let plain = TraceRecord {
            method: "GET".into(),
            path: "users/1".into(),
            ..Default::default()
        };
        let w = c.prepare(&plain).unwrap();
        assert_eq!(
            (w.target, w.request.uri().to_string()),
            (0, "/api/users/1".into())
        );
        assert_eq!(w.request.headers()[HOST], "127.0.0.1:9000");
    }
}
