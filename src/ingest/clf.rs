//! Apache/nginx common and combined log format:
//! `%h %l %u %t "%r" %>s %b` optionally followed by `"%{Referer}i" "%{User-agent}i"`.
//!
//! The client address, ident and user become extra columns (to be scrubbed); referrer and
//! user agent go into `headers`; the request line gives method and path; status and bytes are
//! kept as recorded. Anything logged after the combined fields (nginx setups often append
//! `$request_time` or a forwarded-for header) is kept whole in the `rest` column, so nothing
//! is dropped silently.

use std::io::BufRead;
use std::path::Path;
use std::sync::LazyLock;

use regex::bytes::Regex;

use super::input::{DataLines, open_text};
use super::mapping::split_target;
use super::timestamp::parse_apache;
use super::{IngestError, RowError};
use crate::trace::TraceRecord;

/// The extra columns of a CLF input, in order.
pub(crate) static EXTRA: LazyLock<Vec<String>> = LazyLock::new(|| {
    ["client_ip", "ident", "remote_user", "bytes", "rest"]
        .map(String::from)
        .to_vec()
});

static LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"^(\S+) (\S+) (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}|-) (\d+|-)(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?(?:[ \t]+(.*?))?[ \t]*\r?\n?$"#,
    )
    .expect("valid regex")
});

/// True when `line` parses as common or combined log format.
pub(crate) fn looks_like_clf(line: &str) -> bool {
    LINE.is_match(line.as_bytes())
}

pub(crate) struct ClfSource {
    lines: DataLines,
}

impl ClfSource {
    pub fn open(path: &Path) -> Result<Self, IngestError> {
        let mut reader = open_text(path)?;
        let empty = reader
            .fill_buf()
            .map_err(|err| IngestError::Open {
                path: path.to_path_buf(),
                err,
            })?
            .is_empty();
        if empty {
            return Err(IngestError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(ClfSource {
            lines: DataLines::new(path, reader, Vec::new()),
        })
    }

    pub fn next(&mut self) -> Option<Result<TraceRecord, RowError>> {
        if let Err(e) = self.lines.next()? {
            return Some(Err(e));
        }
        Some(self.parse())
    }

    fn parse(&self) -> Result<TraceRecord, RowError> {
        let err = |column: Option<&str>, problem: &str| RowError {
            file: self.lines.path.clone(),
            row: self.lines.row,
            line: Some(self.lines.line),
            column: column.map(String::from),
            problem: problem.to_string(),
            fatal: false,
        };
        let text = |b: &[u8], col: &str| -> Result<String, RowError> {
            String::from_utf8(b.to_vec()).map_err(|_| err(Some(col), "field is not valid UTF-8"))
        };
        let caps = LINE.captures(&self.lines.buf).ok_or_else(|| {
            err(
                None,
                "line is not in common or combined log format \
                 (`%h %l %u %t \"%r\" %>s %b [\"%{Referer}i\" \"%{User-agent}i\"]`)",
            )
        })?;
        let field = |i: usize| caps.get(i).map(|m| m.as_bytes()).filter(|b| *b != b"-");
        let time = text(&caps[4], "time")?;
        let ts_us = parse_apache(&time)
            .ok_or_else(|| err(Some("time"), "time is not `%d/%b/%Y:%H:%M:%S %z`"))?;
        let request = unescape(&text(&caps[5], "request")?);
        let mut parts = request.split(' ').filter(|p| !p.is_empty());
        let (method, target) = match (parts.next(), parts.next()) {
            (Some(m), Some(t)) if m.bytes().all(|b| b.is_ascii_alphabetic()) => (m, t),
            _ => {
                return Err(err(
                    Some("request"),
                    "request line is not `METHOD TARGET PROTOCOL`",
                ));
            }
        };
        let (host, path) = split_target(target).map_err(|p| err(Some("request"), &p))?;
        let status = match field(6) {
            Some(s) => Some(
                text(s, "status")?
                    .parse::<u16>()
                    .map_err(|_| err(Some("status"), "status is not a number"))?,
            ),
            None => None,
        };
        let mut headers = serde_json::Map::new();
        for (i, name) in [(8, "Referer"), (9, "User-Agent")] {
            if let Some(v) = field(i) {
                let v = unescape(&text(v, name)?);
                headers.insert(name.to_string(), serde_json::Value::String(v));
            }
        }
        let opt = |i: usize, col: &str| field(i).map(|b| text(b, col)).transpose();
        Ok(TraceRecord {
            ts_us,
            method: method.to_ascii_uppercase(),
            path,
            host,
            headers: (!headers.is_empty()).then(|| serde_json::Value::Object(headers).to_string()),
            body: None,
            status,
            latency_ms: None,
            session: None,
            extra: vec![
                opt(1, "client_ip")?,
                opt(2, "ident")?,
                opt(3, "remote_user")?,
                opt(7, "bytes")?,
                caps.get(10)
                    .filter(|m| !m.as_bytes().is_empty())
                    .map(|m| text(m.as_bytes(), "rest"))
                    .transpose()?,
            ],
        })
    }
}

/// Undoes the escapes Apache writes inside quoted fields (`\"`, `\\`, `\xHH`).
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(b) if b.is_ascii() => out.push(b as char),
                    _ => {
                        out.push_str("\\x");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_and_combined_lines_match() {
        assert!(looks_like_clf(
            r#"192.0.2.7 - - [26/Nov/2025:22:00:00 +0000] "GET /a HTTP/1.1" 200 512"#
        ));
        assert!(looks_like_clf(
            r#"192.0.2.7 - jane [26/Nov/2025:22:00:00 +0000] "POST /pay HTTP/1.1" 201 - "https://x.example/" "Mozilla/5.0 (X11)""#
        ));
        assert!(looks_like_clf(
            r#"192.0.2.7 - - [26/Nov/2025:22:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl/8" 0.012"#
        ));
        assert!(!looks_like_clf("timestamp,method,url"));
    }

    #[test]
    fn unescapes_quoted_fields() {
        assert_eq!(unescape(r#"a \"b\" \\ \x41"#), r#"a "b" \ A"#);
    }
}
