//! HAR 1.2 (HTTP Archive, as browsers export it). Each entry becomes a request: its start
//! time, method, URL (host and path), headers (HTTP/2 pseudo-headers left out), post data,
//! recorded status and total time.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::input::open_text;
use super::mapping::split_target;
use super::timestamp::parse_rfc3339;
use super::{Format, IngestError, RowError};
use crate::trace::TraceRecord;

pub(crate) struct HarSource {
    path: PathBuf,
    entries: std::vec::IntoIter<Value>,
    row: u64,
}

impl HarSource {
    pub fn open(path: &Path) -> Result<Self, IngestError> {
        let mut text = Vec::new();
        open_text(path)?
            .read_to_end(&mut text)
            .map_err(|err| IngestError::Open {
                path: path.to_path_buf(),
                err,
            })?;
        if text.iter().all(u8::is_ascii_whitespace) {
            return Err(IngestError::Empty {
                path: path.to_path_buf(),
            });
        }
        let bad = |reason: String| IngestError::BadInput {
            path: path.to_path_buf(),
            format: Format::Har,
            reason,
        };
        let doc: Value = serde_json::from_slice(&text).map_err(|e| {
            bad(match e.classify() {
                serde_json::error::Category::Eof => "the JSON ends early (truncated?)".into(),
                _ => format!("not valid JSON (line {}, column {})", e.line(), e.column()),
            })
        })?;
        let entries = match doc.pointer("/log/entries") {
            Some(Value::Array(a)) => a.clone(),
            _ => return Err(bad("it has no `log.entries` array".into())),
        };
        if entries.is_empty() {
            return Err(bad(
                "`log.entries` is empty: there is nothing to ingest".into()
            ));
        }
        Ok(HarSource {
            path: path.to_path_buf(),
            entries: entries.into_iter(),
            row: 0,
        })
    }

    pub fn next(&mut self) -> Option<Result<TraceRecord, RowError>> {
        let e = self.entries.next()?;
        self.row += 1;
        Some(self.entry(&e))
    }

    fn entry(&self, e: &Value) -> Result<TraceRecord, RowError> {
        let err = |column: &str, problem: &str| RowError {
            file: self.path.clone(),
            row: self.row,
            line: None,
            column: Some(column.to_string()),
            problem: problem.to_string(),
            fatal: false,
        };
        let s = |p: &str| e.pointer(p).and_then(Value::as_str);
        let ts_us = s("/startedDateTime")
            .ok_or_else(|| err("startedDateTime", "missing"))
            .and_then(|t| {
                parse_rfc3339(t).ok_or_else(|| err("startedDateTime", "not an RFC 3339 time"))
            })?;
        let method = s("/request/method")
            .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic()))
            .ok_or_else(|| err("request.method", "missing or not an HTTP method"))?
            .to_ascii_uppercase();
        let url = s("/request/url").ok_or_else(|| err("request.url", "missing"))?;
        let (host, path) = split_target(url).map_err(|p| err("request.url", &p))?;
        let mut headers = serde_json::Map::new();
        if let Some(Value::Array(hs)) = e.pointer("/request/headers") {
            for h in hs {
                let (Some(name), Some(value)) = (
                    h.get("name").and_then(Value::as_str),
                    h.get("value").and_then(Value::as_str),
                ) else {
                    return Err(err("request.headers", "a header lacks a name or value"));
                };
                if name.starts_with(':') {
                    continue;
                }
                // Repeated headers are joined as HTTP allows (`a, b`).
                match headers.get_mut(name) {
                    Some(Value::String(prev)) => {
                        prev.push_str(", ");
                        prev.push_str(value);
                    }
                    _ => {
                        headers.insert(name.to_string(), Value::String(value.to_string()));
                    }
                }
            }
        }
        let body = s("/request/postData/text")
            .filter(|t| !t.is_empty())
            .map(|t| t.as_bytes().to_vec());
        let status = match e.pointer("/response/status").and_then(Value::as_i64) {
            None | Some(0) => None,
            Some(v) if (100..=999).contains(&v) => Some(v as u16),
            Some(_) => return Err(err("response.status", "not an HTTP status")),
        };
        let latency_ms = e
            .get("time")
            .and_then(Value::as_f64)
            .filter(|t| *t >= 0.0 && t.is_finite());
        Ok(TraceRecord {
            ts_us,
            method,
            path,
            host,
            headers: (!headers.is_empty()).then(|| Value::Object(headers).to_string()),
            body,
            status,
            latency_ms,
            session: None,
            extra: Vec::new(),
        })
    }
}
