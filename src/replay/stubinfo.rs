//! What an esr stub says about itself after a run: its fault windows (`GET /__esr/faults`,
//! for the scorecard's before / during / after phases) and its own overhead
//! (`GET /__esr/stats`). A target that is not an esr stub simply does not answer these.

use std::time::Duration;

use serde_json::Value;

use crate::scorecard::{FaultWindow, OverheadSummary};

/// A fault as the stub reports it, on the wall clock.
#[derive(Debug, Clone, PartialEq)]
pub struct StubFault {
    /// `ACH_DOWN`.
    pub name: String,
    /// Start, ms since the epoch.
    pub start_unix_ms: i64,
    /// End, ms since the epoch.
    pub end_unix_ms: i64,
}

/// The stub's answers; `None` fields when it did not give them.
#[derive(Debug, Clone, Default)]
pub struct StubInfo {
    /// Faults with a known window.
    pub faults: Vec<StubFault>,
    /// The stub's added overhead per request.
    pub overhead: Option<OverheadSummary>,
    /// A digest of the stub's configuration, when it reports one.
    pub config_digest: Option<String>,
}

impl StubInfo {
    /// Asks the stub at `target`; `None` when neither document answers (not an esr stub).
    pub async fn fetch(target: &str) -> Option<StubInfo> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok()?;
        let base = target.trim_end_matches('/');
        let get = |path: &'static str| {
            let client = client.clone();
            let url = format!("{base}{path}");
            async move {
                let resp = client.get(url).send().await.ok()?;
                if !resp.status().is_success() {
                    return None;
                }
                serde_json::from_slice::<Value>(&resp.bytes().await.ok()?).ok()
            }
        };
        let (faults, stats) = tokio::join!(get("/__esr/faults"), get("/__esr/stats"));
        if faults.is_none() && stats.is_none() {
            return None;
        }
        Some(StubInfo::from_documents(faults.as_ref(), stats.as_ref()))
    }

    /// Reads the two documents (either may be missing).
    pub fn from_documents(faults_doc: Option<&Value>, stats: Option<&Value>) -> StubInfo {
        let list = faults_doc
            .and_then(|f| f.get("faults"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let faults = list
            .iter()
            .filter_map(|f| {
                Some(StubFault {
                    name: f.get("name")?.as_str()?.to_string(),
                    start_unix_ms: f.get("start_unix_ms")?.as_i64()?,
                    end_unix_ms: f.get("end_unix_ms")?.as_i64()?,
                })
            })
            .collect();
        let overhead = stats.and_then(|s| s.get("overhead_ms")).and_then(|o| {
            Some(OverheadSummary {
                p50: o.get("p50")?.as_f64()?,
                p99: o.get("p99")?.as_f64()?,
                max: o.get("max")?.as_f64()?,
            })
        });
        StubInfo {
            faults,
            overhead,
            config_digest: digest_in(stats).or_else(|| digest_in(faults_doc)),
        }
    }

    /// The faults as windows on the run clock whose zero is `start_unix_us`.
    pub fn fault_windows(&self, start_unix_us: i64) -> Vec<FaultWindow> {
        self.faults
            .iter()
            .map(|f| FaultWindow {
                name: f.name.clone(),
                start_us: f.start_unix_ms * 1000 - start_unix_us,
                end_us: f.end_unix_ms * 1000 - start_unix_us,
            })
            .collect()
    }
}

/// A `config_digest` string at the top of a document, if the stub reports one.
fn digest_in(doc: Option<&Value>) -> Option<String> {
    Some(doc?.get("config_digest")?.as_str()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_stub_documents_onto_the_run_clock() {
        let faults: Value = serde_json::from_str(
            r#"{"clock_start_unix_ms": 1000, "speed": 10.0, "faults": [
                {"name": "ACH_DOWN", "route": "POST /ach/transfer", "host": null, "at_s": 90.0,
                 "for_s": 30.0, "start_unix_ms": 91000, "end_unix_ms": 121000, "kind": "status",
                 "status": 503, "active": false, "manual": null},
                {"name": "MANUAL", "start_unix_ms": null, "end_unix_ms": null}]}"#,
        )
        .unwrap();
        let stats: Value = serde_json::from_str(
            r#"{"requests": 5, "overhead_ms": {"p50": 0.1, "p99": 0.4, "max": 2.0},
                "injected_ms": {"p50": 0, "p99": 0, "max": 0}}"#,
        )
        .unwrap();
        let info = StubInfo::from_documents(Some(&faults), Some(&stats));
        assert_eq!(info.faults.len(), 1);
        let w = info.fault_windows(1_000_000);
        assert_eq!((w[0].start_us, w[0].end_us), (90_000_000, 120_000_000));
        assert_eq!(info.overhead.unwrap().p99, 0.4);
        assert_eq!(info.config_digest, None);
    }
}
