//! The stub's HTTP server: an axum router (admin routes under `/__esr/`, configured routes as
//! its fallback) served over connections this module drives itself, so a fault can close a
//! connection without an answer (reset) or stop answering on it (hang).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body as AxBody;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::TokioIo;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

use super::StubError;
use super::compile::{self, Plan, Route};
use super::config::{FaultKind, StubConfig};
use super::fault::{Clock, FaultBoard, SystemClock};
use super::latency::sleep_until;
use super::metrics::Metrics;
use super::pattern::host_matches;

/// The response header carrying the injected latency in ms (`123.456`), so a client can tell
/// the stub's own delay from the model's.
pub const INJECTED_HEADER: &str = "x-esr-injected-ms";

/// How to run a stub, beside its config.
#[derive(Clone)]
pub struct StubOptions {
    /// Where to listen (default `127.0.0.1:0`: loopback, any free port).
    pub listen: SocketAddr,
    /// Allow a non-loopback `listen`.
    pub allow_remote: bool,
    /// Replay speed: fault windows are divided by it.
    pub speed: f64,
    /// The fault clock's start, µs since the epoch (default: when the stub starts).
    pub start_unix_us: Option<i64>,
    /// The wall clock fault windows are judged on (a [`super::ManualClock`] in tests).
    pub clock: Arc<dyn Clock>,
    /// Where the config came from, for error messages.
    pub source: String,
    /// Wait out injected latency on tokio's timer (1 ms ticks) instead of the stub's own
    /// timer thread; kept to measure the difference.
    pub tokio_timer: bool,
}

impl Default for StubOptions {
    fn default() -> Self {
        StubOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            allow_remote: false,
            speed: 1.0,
            start_unix_us: None,
            clock: Arc::new(SystemClock),
            source: "<config>".into(),
            tokio_timer: false,
        }
    }
}

/// Starts stubs.
pub struct StubServer;

/// A running stub: its address, its live state, and a way to stop it. Dropping the handle
/// stops the stub too.
pub struct StubHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

struct Shared {
    plan: Plan,
    /// Route indices in matching order: routes with a host first, then the rest.
    order: Vec<usize>,
    board: FaultBoard,
    metrics: Metrics,
    rng: Mutex<SmallRng>,
    tokio_timer: bool,
    /// `sha256:` and 16 hex digits of the config as JSON, so runs can tell stubs apart.
    digest: String,
}

/// Per-connection switch a fault handler pulls to reset or hang its connection.
#[derive(Default)]
struct ConnCtl {
    action: Mutex<Option<FaultKind>>,
    notify: Notify,
}

impl ConnCtl {
    fn pull(&self, kind: FaultKind) {
        *self.action.lock().unwrap_or_else(|p| p.into_inner()) = Some(kind);
        self.notify.notify_one();
    }
}

/// Request extension: the connection's switch and when hyper handed the request over.
#[derive(Clone)]
struct ConnInfo {
    ctl: Arc<ConnCtl>,
    started: Instant,
}

impl StubServer {
    /// Starts `config` on `127.0.0.1:0` with default options.
    pub async fn spawn(config: StubConfig) -> Result<StubHandle, StubError> {
        Self::spawn_with(config, StubOptions::default()).await
    }

    /// Checks `config`, binds `opts.listen` and serves until the handle is shut down.
    pub async fn spawn_with(
        config: StubConfig,
        opts: StubOptions,
    ) -> Result<StubHandle, StubError> {
        if !opts.listen.ip().is_loopback() && !opts.allow_remote {
            return Err(StubError::NotLoopback(opts.listen));
        }
        if !(opts.speed.is_finite() && opts.speed > 0.0) {
            return Err(StubError::Usage(format!(
                "`--speed {}` must be a number above 0",
                opts.speed
            )));
        }
        let mut plan = compile::compile(&config, &opts.source)?;
        let digest = config_digest(&config);
        if plan.catch_all {
            plan.routes.push(compile::catch_all_route());
        }
        let listener = TcpListener::bind(opts.listen)
            .await
            .map_err(|source| StubError::Bind {
                addr: opts.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StubError::Bind {
            addr: opts.listen,
            source,
        })?;
        let start = opts
            .start_unix_us
            .unwrap_or_else(|| opts.clock.now_unix_us());
        let board = FaultBoard::new(
            plan.faults.clone(),
            &plan.routes,
            opts.clock.clone(),
            start,
            opts.speed,
        );
        let metrics = Metrics::new(plan.routes.iter().map(|r| r.name.clone()).collect());
        let mut order: Vec<usize> = (0..plan.routes.len())
            .filter(|&i| plan.routes[i].host.is_some())
            .collect();
        order.extend((0..plan.routes.len()).filter(|&i| plan.routes[i].host.is_none()));
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            rng: Mutex::new(SmallRng::seed_from_u64(plan.seed)),
            plan,
            order,
            board,
            metrics,
            tokio_timer: opts.tokio_timer,
            digest,
        });
        let router = app(shared.clone());
        let task = tokio::spawn(accept_loop(listener, router, stop_rx));
        Ok(StubHandle {
            addr,
            shared,
            stop: stop_tx,
            task: Some(task),
        })
    }
}

impl StubHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The live fault state (switch faults, move the clock start).
    pub fn faults(&self) -> &FaultBoard {
        &self.shared.board
    }

    /// The stub's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// The routes being served, catch-all last when on.
    pub fn routes(&self) -> &[Route] {
        &self.shared.plan.routes
    }

    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for StubHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The router: admin routes under `/__esr/`, everything else to the configured routes.
fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/__esr/health", get(|| async { "ok\n" }))
        .route("/__esr/metrics", get(metrics_text))
        .route("/__esr/stats", get(stats_json))
        .route("/__esr/faults", get(faults_get).post(faults_post))
        .route("/__esr/clock", axum::routing::post(clock_post))
        .fallback(stub)
        .with_state(shared)
}

async fn accept_loop(listener: TcpListener, router: Router, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, router.clone(), stop.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!("stub: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = stop.changed() => return,
        }
    }
}

async fn connection(stream: TcpStream, router: Router, mut stop: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    // A second descriptor of the same socket: after hyper lets go of its connection, a
    // reset or hang still needs the socket (to close it hard, or to notice the client leave).
    let spare = spare_socket(&stream);
    let ctl = Arc::new(ConnCtl::default());
    let svc_ctl = ctl.clone();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnInfo {
            ctl: svc_ctl.clone(),
            started: Instant::now(),
        });
        let mut r = router.clone();
        async move { tower_service::Service::call(&mut r, req.map(AxBody::new)).await }
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    let mut conn = Box::pin(conn);
    tokio::select! {
        _ = &mut conn => return,
        _ = stop.changed() => return,
        _ = ctl.notify.notified() => {}
    }
    let action = *ctl.action.lock().unwrap_or_else(|p| p.into_inner());
    let Some(spare) = spare.and_then(|s| TcpStream::from_std(s).ok()) else {
        return; // no spare: dropping the connection closes it, which is still no answer
    };
    match action {
        Some(FaultKind::Reset) => {
            let _ = spare.set_zero_linger(); // the last close sends RST, as a crashed peer does
            drop(conn);
            drop(spare);
        }
        _ => {
            drop(conn);
            hold_until_client_leaves(spare, stop).await;
        }
    }
}

#[cfg(unix)]
fn spare_socket(stream: &TcpStream) -> Option<std::net::TcpStream> {
    use std::os::fd::AsFd;
    let fd = stream.as_fd().try_clone_to_owned().ok()?;
    Some(std::net::TcpStream::from(fd))
}

#[cfg(not(unix))]
fn spare_socket(_stream: &TcpStream) -> Option<std::net::TcpStream> {
    None
}

/// A hung request: read (and ignore) until the client closes or the stub stops.
async fn hold_until_client_leaves(mut s: TcpStream, mut stop: watch::Receiver<bool>) {
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            _ = stop.changed() => return,
        }
    }
}

impl Shared {
    fn find<'p>(
        &self,
        method: &axum::http::Method,
        host: Option<&str>,
        path: &'p str,
    ) -> Option<(usize, Vec<(&str, &'p str)>)> {
        for &i in &self.order {
            let r = &self.plan.routes[i];
            if r.method.as_ref().is_some_and(|m| m != method) {
                continue;
            }
            if let Some(h) = &r.host
                && !host_matches(h, host)
            {
                continue;
            }
            if let Some(params) = r.pattern.matches(path) {
                return Some((i, params));
            }
        }
        None
    }
}

async fn stub(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let info = req.extensions().get::<ConnInfo>().cloned();
    let started = info.as_ref().map_or_else(Instant::now, |i| i.started);
    let (parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or(parts.uri.host());
    let Some((ri, params)) = sh.find(&parts.method, host, parts.uri.path()) else {
        let body = serde_json::json!({"error": "no route matches", "path": parts.uri.path()});
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    };
    // Drain the request body so the connection stays reusable.
    let _ = axum::body::to_bytes(body, 64 << 20).await;
    if let Some(f) = sh.board.active(ri) {
        match f.kind {
            FaultKind::Status => {
                let status =
                    StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                let body = serde_json::json!({"error": "injected fault", "fault": f.name});
                let resp = (status, axum::Json(body)).into_response();
                sh.metrics
                    .record(ri, f.status, 0, micros(started.elapsed()));
                return resp;
            }
            kind => {
                sh.metrics.record_fault(ri, f.name, kind);
                if let Some(info) = info {
                    info.ctl.pull(kind);
                    std::future::pending::<()>().await;
                }
                // Only in-process (`Router::oneshot`) calls get here: there is no connection
                // to close, so say plainly what would have happened.
                return (
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "fault `{}` ({kind:?}) has no connection to act on\n",
                        f.name
                    ),
                )
                    .into_response();
            }
        }
    }
    let route = &sh.plan.routes[ri];
    let (status, latency_ms) = pick(&sh, route);
    let injected = Duration::from_secs_f64(latency_ms / 1000.0);
    if !injected.is_zero() {
        // The deadline counts from when the request arrived, so work done before the sleep
        // is absorbed by it instead of added to it.
        if sh.tokio_timer {
            tokio::time::sleep_until((started + injected).into()).await;
        } else {
            sleep_until(started + injected).await;
        }
    }
    let mut resp = respond(route, status, &params);
    let overhead = started.elapsed().saturating_sub(injected);
    sh.metrics
        .record(ri, status, micros(injected), micros(overhead));
    resp.headers_mut().insert(
        INJECTED_HEADER,
        HeaderValue::from_str(&format!("{latency_ms:.3}")).expect("a number is a header value"),
    );
    resp
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

/// The status (error rate, then the status mix) and the latency of one request.
fn pick(sh: &Shared, route: &Route) -> (u16, f64) {
    let random = route.error_rate > 0.0
        || route.statuses.len() > 1
        || route
            .latency
            .as_ref()
            .is_some_and(|m| !matches!(m, super::LatencyModel::Fixed(_)));
    if !random {
        let ms = match &route.latency {
            Some(super::LatencyModel::Fixed(ms)) => *ms,
            _ => 0.0,
        };
        return (route.statuses[0].1, ms);
    }
    let mut rng = sh.rng.lock().unwrap_or_else(|p| p.into_inner());
    let status = if route.error_rate > 0.0 && rng.random::<f64>() < route.error_rate {
        route.error_status
    } else if route.statuses.len() == 1 {
        route.statuses[0].1
    } else {
        let u = rng.random::<f64>();
        route
            .statuses
            .iter()
            .find(|(upper, _)| u < *upper)
            .unwrap_or(&route.statuses[route.statuses.len() - 1])
            .1
    };
    let ms = route.latency.as_ref().map_or(0.0, |m| m.sample(&mut *rng));
    (status, ms)
}

fn respond(route: &Route, status: u16, params: &[(&str, &str)]) -> Response {
    let text = if route.body.templated {
        let mut t = route.body.text.clone();
        for (k, v) in params {
            let v = if route.body.json {
                let quoted = serde_json::to_string(v).unwrap_or_default();
                quoted[1..quoted.len() - 1].to_string()
            } else {
                (*v).to_string()
            };
            t = t.replace(&format!("{{{{{k}}}}}"), &v);
        }
        t
    } else {
        route.body.text.clone()
    };
    let mut resp = Response::new(AxBody::from(text));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let ct = if route.body.json {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    for (k, v) in &route.headers {
        resp.headers_mut().insert(k.clone(), v.clone());
    }
    resp
}

async fn metrics_text(State(sh): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        sh.metrics.prometheus_text(),
    )
        .into_response()
}

async fn stats_json(State(sh): State<Arc<Shared>>) -> Response {
    let mut doc = sh.metrics.stats_json();
    doc["config_digest"] = sh.digest.clone().into();
    axum::Json(doc).into_response()
}

async fn faults_get(State(sh): State<Arc<Shared>>) -> Response {
    axum::Json(faults_doc(&sh)).into_response()
}

fn faults_doc(sh: &Shared) -> serde_json::Value {
    let mut doc = sh.board.to_json();
    doc["config_digest"] = sh.digest.clone().into();
    doc
}

fn config_digest(config: &StubConfig) -> String {
    use sha2::Digest as _;
    let json = serde_json::to_vec(config).unwrap_or_default();
    let d = sha2::Sha256::digest(&json);
    let hex: String = d.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// `POST /__esr/clock` with `{"start_unix_ms": N}`: moves the fault clock's start, so a
/// replay that starts later than the stub can line the windows up with its own clock.
async fn clock_post(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SetClock {
        start_unix_ms: i64,
    }
    match serde_json::from_slice::<SetClock>(&body) {
        Ok(c) => {
            sh.board
                .set_start_unix_us(c.start_unix_ms.saturating_mul(1000));
            axum::Json(faults_doc(&sh)).into_response()
        }
        Err(e) => problem(
            StatusCode::BAD_REQUEST,
            format!("expected {{\"start_unix_ms\": <unix ms>}}: {e}"),
        ),
    }
}

fn problem(status: StatusCode, detail: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        serde_json::json!({"title": "bad admin request", "status": status.as_u16(), "detail": detail})
            .to_string(),
    )
        .into_response()
}

/// `POST /__esr/faults` with `{"name": "ACH_DOWN", "active": true|false|null}`: on, off, or
/// back to its schedule. Answers with the fault list.
async fn faults_post(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Switch {
        name: String,
        active: Option<bool>,
    }
    let sw: Switch = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"name\": \"ACH_DOWN\", \"active\": true|false|null}}: {e}"),
            );
        }
    };
    if !sh.board.set_manual(&sw.name, sw.active) {
        let known: Vec<&str> = sh.board.faults().iter().map(|f| f.name.as_str()).collect();
        return problem(
            StatusCode::NOT_FOUND,
            format!(
                "no fault named `{}` (faults: {})",
                sw.name,
                known.join(", ")
            ),
        );
    }
    axum::Json(faults_doc(&sh)).into_response()
}
