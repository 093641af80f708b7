//! JSON lines: one object per line. The columns are the union of the keys of all lines, in
//! order of first appearance (keys of one line sorted), found by a first pass over the file so
//! the extra columns are known before the first row.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;
use std::path::Path;

use serde_json::{Map, Value};

use super::input::{DataLines, open_text};
use super::mapping::{Cell, Mapper};
use super::{IngestError, ReadOptions, RowError};
use crate::trace::TraceRecord;

pub(crate) struct JsonlSource {
    lines: DataLines,
    pub(crate) mapper: Mapper,
    names: Vec<String>,
}

impl JsonlSource {
    pub fn open(path: &Path, opts: &ReadOptions) -> Result<Self, IngestError> {
        let mut names: Vec<String> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut any = false;
        let mut reader = open_text(path)?;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|err| IngestError::Open {
                    path: path.to_path_buf(),
                    err,
                })?;
            if n == 0 {
                break;
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            any = true;
            // Bad lines are skipped here and reported by the second pass.
            if let Ok(keys) =
                serde_json::from_slice::<BTreeMap<String, serde::de::IgnoredAny>>(&buf)
            {
                for k in keys.into_keys() {
                    if seen.insert(k.clone()) {
                        names.push(k);
                    }
                }
            }
        }
        if !any {
            return Err(IngestError::Empty {
                path: path.to_path_buf(),
            });
        }
        let mapper = Mapper::new(path, names.clone(), &opts.map, opts.ts_unit)?;
        Ok(JsonlSource {
            lines: DataLines::new(path, open_text(path)?, buf),
            mapper,
            names,
        })
    }

    pub fn next(&mut self) -> Option<Result<TraceRecord, RowError>> {
        if let Err(e) = self.lines.next()? {
            return Some(Err(e));
        }
        let row_err = |problem: String| RowError {
            file: self.lines.path.clone(),
            row: self.lines.row,
            line: Some(self.lines.line),
            column: None,
            problem,
            fatal: false,
        };
        let text = match std::str::from_utf8(&self.lines.buf) {
            Ok(t) => t,
            Err(e) => {
                return Some(Err(row_err(format!(
                    "line is not valid UTF-8 (bad byte at offset {})",
                    e.valid_up_to()
                ))));
            }
        };
        let obj: Map<String, Value> = match serde_json::from_str(text) {
            Ok(o) => o,
            Err(e) => {
                // Syntax errors carry only a position; data errors would quote the value.
                let problem = match e.classify() {
                    serde_json::error::Category::Data => "line is not a JSON object".to_string(),
                    serde_json::error::Category::Eof => {
                        "line is not valid JSON (it ends early)".to_string()
                    }
                    _ => format!("line is not valid JSON (column {})", e.column()),
                };
                return Some(Err(row_err(problem)));
            }
        };
        let names = &self.names;
        Some(self.mapper.record(
            |i| obj.get(&names[i]).map_or(Cell::Null, cell),
            self.lines.row,
            Some(self.lines.line),
        ))
    }
}

fn cell(v: &Value) -> Cell<'_> {
    match v {
        Value::Null => Cell::Null,
        Value::Bool(b) => Cell::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cell::Int(i),
            None => Cell::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Cell::Str(Cow::Borrowed(s)),
        // Nested headers or bodies are kept as their JSON text.
        other => Cell::Str(Cow::Owned(other.to_string())),
    }
}
