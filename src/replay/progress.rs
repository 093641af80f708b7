//! Progress while a replay runs: an indicatif bar on a terminal (sent, rate, errors, lateness
//! p99, time left), plain `tracing` lines every few seconds otherwise (CI logs, pipes).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::tap::{LiveMetrics, LiveSnapshot};

/// Reports progress until `done` turns true. `intended` is the planned request count (none
/// for an endless loop), `span_s` the schedule's length on the replay clock.
pub fn spawn(
    live: Arc<LiveMetrics>,
    intended: Option<u64>,
    span_s: f64,
    mut done: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let terminal = std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = match intended {
                Some(n) => ProgressBar::new(n),
                None => ProgressBar::new_spinner(),
            };
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        let every = if terminal {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(5)
        };
        let started = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = done.wait_for(|d| *d) => break,
            }
            let s = live.snapshot();
            let left = (span_s - started.elapsed().as_secs_f64()).max(0.0);
            match &bar {
                Some(bar) => {
                    bar.set_position(s.sent);
                    bar.set_message(line(&s, left));
                }
                None => tracing::info!("replay: {}", line(&s, left)),
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
    })
}

fn line(s: &LiveSnapshot, left_s: f64) -> String {
    format!(
        "sent {} · {:.0} req/s · errors {} · lateness p99 {:.2} ms · in flight {} · ~{:.0} s left",
        s.sent, s.rate, s.errors, s.lateness_p99_ms, s.in_flight, left_s
    )
}
