//! Schema version 1 of the canonical trace and its file metadata.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

/// The canonical columns, in file order. Extra columns follow them as nullable Utf8.
pub const COLUMNS: [&str; 9] = [
    "ts",
    "method",
    "path",
    "host",
    "headers",
    "body",
    "status",
    "latency_ms",
    "session",
];

/// True when `name` is one of the canonical columns.
pub fn is_canonical_column(name: &str) -> bool {
    COLUMNS.contains(&name)
}

/// The Arrow schema of a trace with the given extra columns (kept as nullable Utf8).
pub fn canonical_schema(extra: &[String]) -> Arc<Schema> {
    let mut fields = vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("method", DataType::Utf8, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("host", DataType::Utf8, true),
        Field::new("headers", DataType::Utf8, true),
        Field::new("body", DataType::Binary, true),
        Field::new("status", DataType::UInt16, true),
        Field::new("latency_ms", DataType::Float64, true),
        Field::new("session", DataType::Utf8, true),
    ];
    fields.extend(extra.iter().map(|n| Field::new(n, DataType::Utf8, true)));
    Arc::new(Schema::new(fields))
}

/// The key-value metadata of a trace file (`esr.*` keys).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceMeta {
    /// Digest of the scrub policy applied, `None` when the trace was not scrubbed.
    pub policy_digest: Option<String>,
    /// Id of the scrub key (never the key itself), `None` when not scrubbed.
    pub key_id: Option<String>,
    /// Number of rows; filled in by the writer.
    pub rows: u64,
    /// Any other `esr.*` entries (for example `esr.ingest.ts_unit`), kept as they are.
    pub other: HashMap<String, String>,
}

pub(crate) const KEY_SCHEMA: &str = "esr.schema";
pub(crate) const KEY_POLICY: &str = "esr.scrub.policy_digest";
pub(crate) const KEY_KEY_ID: &str = "esr.scrub.key_id";
pub(crate) const KEY_ROWS: &str = "esr.rows";
pub(crate) const KEY_SCRUBBED: &str = "esr.scrubbed";

impl TraceMeta {
    /// True when the trace went through the scrubber.
    pub fn is_scrubbed(&self) -> bool {
        self.policy_digest.is_some()
    }

    pub(crate) fn to_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = vec![
            (KEY_SCHEMA.to_string(), "1".to_string()),
            (KEY_ROWS.to_string(), self.rows.to_string()),
            (KEY_SCRUBBED.to_string(), self.is_scrubbed().to_string()),
        ];
        if let Some(d) = &self.policy_digest {
            pairs.push((KEY_POLICY.to_string(), d.clone()));
        }
        if let Some(k) = &self.key_id {
            pairs.push((KEY_KEY_ID.to_string(), k.clone()));
        }
        let mut other: Vec<_> = self.other.iter().collect();
        other.sort();
        pairs.extend(other.into_iter().map(|(k, v)| (k.clone(), v.clone())));
        pairs
    }

    pub(crate) fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<Self, String> {
        let mut meta = TraceMeta::default();
        let mut schema_version = None;
        for (k, v) in pairs {
            let v = v.unwrap_or("");
            match k {
                KEY_SCHEMA => schema_version = Some(v.to_string()),
                KEY_ROWS => {
                    meta.rows = v
                        .parse()
                        .map_err(|_| format!("metadata `{KEY_ROWS}` is not a number"))?
                }
                KEY_POLICY => meta.policy_digest = Some(v.to_string()),
                KEY_KEY_ID => meta.key_id = Some(v.to_string()),
                KEY_SCRUBBED => {}
                k if k.starts_with("esr.") => {
                    meta.other.insert(k.to_string(), v.to_string());
                }
                _ => {}
            }
        }
        match schema_version.as_deref() {
            Some("1") => Ok(meta),
            Some(v) => Err(format!(
                "schema version `{v}` is not supported (this esr reads version 1)"
            )),
            None => Err(format!("the file has no `{KEY_SCHEMA}` metadata")),
        }
    }
}
