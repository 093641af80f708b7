//! The multi-target sender: a [`Transport`] for the one replay dispatcher that sends each due
//! request to every version at once (the same due time for all), answers the dispatcher with
//! the baseline's reply, and hands every side's reply and body to the comparison.

use reqwest::Url;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::outcome::ErrorKind;
use crate::replay::{HttpClient, Reply, Transport};

/// One side's answer to one request.
pub struct SideReply {
    /// The request's position in the schedule.
    pub seq: u64,
    /// 0 baseline, 1 candidate, 2 baseline2.
    pub side: usize,
    /// When the answer was complete, µs since the run's start.
    pub done_us: i64,
    /// Status, bytes, digest or error.
    pub reply: Reply,
    /// The first bytes of the body.
    pub body: Vec<u8>,
    /// SHA-256 of method, path and request body: identical requests share it.
    pub request_key: [u8; 32],
}

/// Sends to the baseline's URL (which the feed built the request for) and to the same path on
/// every other base.
pub struct FanOut {
    /// The HTTP client.
    pub client: HttpClient,
    /// Base URLs, baseline first; all guarded.
    pub bases: Vec<Url>,
    /// The run clock's zero (the dispatcher's).
    pub start: Instant,
    /// Bytes of each body kept for the field diff.
    pub keep: usize,
    /// Where the side replies go.
    pub out: mpsc::UnboundedSender<SideReply>,
}

impl Transport for FanOut {
    type Request = (u64, reqwest::Request);
    /// reqwest keeps its own pool.
    type Conn = ();

    async fn send(&self, _: &mut (), (seq, req): (u64, reqwest::Request)) -> Reply {
        let key = request_key(&req);
        let mut reqs = Vec::with_capacity(self.bases.len());
        let base0 = self.bases[0].as_str().trim_end_matches('/').to_string();
        for (i, base) in self.bases.iter().enumerate().skip(1) {
            let rest = req.url().as_str().strip_prefix(&base0).unwrap_or("/");
            let moved = Url::parse(&format!("{}{rest}", base.as_str().trim_end_matches('/')));
            let copy = moved.ok().and_then(|u| {
                let mut r = req.try_clone()?;
                *r.url_mut() = u;
                Some(r)
            });
            reqs.push((i, copy));
        }
        reqs.insert(0, (0, Some(req)));
        let sends = reqs.into_iter().map(|(side, r)| {
            let client = self.client.clone();
            let (keep, start) = (self.keep, self.start);
            async move {
                let (reply, body) = match r {
                    Some(r) => client.execute_keeping(r, keep).await,
                    None => (Reply::failed(ErrorKind::Other), Vec::new()),
                };
                let done_us = Instant::now().saturating_duration_since(start).as_micros() as i64;
                (side, done_us, reply, body)
            }
        });
        // All sides at once on this task: no side waits for another to be sent.
        let answers = join_all(sends.collect()).await;
        let mut first = Reply::failed(ErrorKind::Other);
        for (side, done_us, reply, body) in answers {
            if side == 0 {
                first = reply;
            }
            let _ = self.out.send(SideReply {
                seq,
                side,
                done_us,
                reply,
                body,
                request_key: key,
            });
        }
        first
    }
}

/// Awaits every future, polling them together.
async fn join_all<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futs.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("every future finished"))
        .collect()
}

fn request_key(req: &reqwest::Request) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(req.method().as_str());
    h.update([0]);
    h.update(req.url().path());
    h.update([0]);
    h.update(req.url().query().unwrap_or(""));
    h.update([0]);
    if let Some(b) = req.body().and_then(|b| b.as_bytes()) {
        h.update(b);
    }
    h.finalize().into()
}
