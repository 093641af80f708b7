//! The scrub report: counts per detector and column, what was hashed or dropped. It holds
//! column and detector names and numbers, never a value.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What one scrub did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScrubReport {
    /// Rows scrubbed.
    pub rows: u64,
    /// Id of the key used (never the key).
    pub key_id: String,
    /// True when the key was made for this run only (pseudonyms do not link across runs).
    pub ephemeral_key: bool,
    /// Digest of the policy applied.
    pub policy_digest: String,
    /// The action applied to each text column.
    pub columns: BTreeMap<String, String>,
    /// Values replaced by detectors: column -> detector -> count.
    pub detected: BTreeMap<String, BTreeMap<String, u64>>,
    /// Values replaced by detectors, all columns: detector -> count.
    pub detected_total: BTreeMap<String, u64>,
    /// Values replaced whole (hashed or masked columns): column -> count.
    pub hashed: BTreeMap<String, u64>,
    /// Header values replaced or dropped by a header rule: header -> count (headers the policy
    /// does not name are counted under `(other)`).
    pub headers: BTreeMap<String, u64>,
    /// Extra columns dropped from the output.
    pub dropped_columns: Vec<String>,
}

impl ScrubReport {
    /// Where the report of the trace `trace` is written: `TRACE.scrub.json`.
    pub fn path_beside(trace: &Path) -> PathBuf {
        let mut s = trace.as_os_str().to_owned();
        s.push(".scrub.json");
        PathBuf::from(s)
    }

    /// Writes the report as pretty JSON.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(self).expect("a report serializes");
        std::fs::write(path, json + "\n")
    }

    /// A few lines for stdout.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let total: u64 = self.detected_total.values().sum();
        let _ = writeln!(
            s,
            "scrubbed {} rows with key {}{} (policy {})",
            self.rows,
            self.key_id,
            if self.ephemeral_key {
                ", ephemeral"
            } else {
                ""
            },
            self.policy_digest
        );
        let list = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if total == 0 {
            let _ = writeln!(s, "  detected: nothing");
        } else {
            let _ = writeln!(
                s,
                "  detected: {} (total {total})",
                list(&self.detected_total)
            );
            for (col, m) in &self.detected {
                let _ = writeln!(s, "    in {col}: {}", list(m));
            }
        }
        if !self.hashed.is_empty() {
            let _ = writeln!(s, "  replaced whole: {}", list(&self.hashed));
        }
        if !self.headers.is_empty() {
            let _ = writeln!(s, "  headers replaced: {}", list(&self.headers));
        }
        if !self.dropped_columns.is_empty() {
            let _ = writeln!(s, "  dropped columns: {}", self.dropped_columns.join(", "));
        }
        s
    }
}
