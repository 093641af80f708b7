//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `esr` binary built for this test run.
pub fn esr() -> Command {
    Command::new(env!("CARGO_BIN_EXE_esr"))
}

/// Runs `esr` with `args` in `dir` and returns its output.
#[allow(dead_code)]
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    esr()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("esr binary runs")
}

/// The project's root folder (for `fixtures/` and `traces/`).
#[allow(dead_code)]
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Text of stdout and stderr, for assertions and failure messages.
#[allow(dead_code)]
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Tests that judge latency, and tests that put a heavy load on the machine, hold this while
/// they run, so one test's load is never another's latency noise (the suite runs tests on
/// several threads at once). Sync tests call `blocking_lock()`, async ones `.lock().await`.
#[allow(dead_code)]
pub fn timing_lock() -> &'static tokio::sync::Mutex<()> {
    static LOCK: std::sync::OnceLock<tokio::sync::Mutex<()>> = std::sync::OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(()))
}

/// An axum app served on `127.0.0.1:0` from a runtime of its own (so sync tests can run it
/// beside the `esr` process they start); stops when dropped.
#[allow(dead_code)]
pub struct AppServer {
    pub addr: std::net::SocketAddr,
    _rt: tokio::runtime::Runtime,
}

#[allow(dead_code)]
impl AppServer {
    /// Serves `app` with `workers` runtime threads.
    pub fn start(workers: usize, app: axum::Router) -> AppServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move { axum::serve(listener, app).await });
        AppServer { addr, _rt: rt }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// The base URL a started server announces on its first stdout line (`esr serve`: `listening
/// on http://127.0.0.1:PORT/`; `esr stub` likewise), without a trailing `/`. Takes the child's
/// piped stdout.
#[allow(dead_code)]
pub fn announced_url(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .unwrap();
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in the first line: {line:?}"))
        .trim_end_matches('/')
        .to_string()
}
