//! Column mapping: which input column feeds which trace column, and the conversion of one
//! row's cells into a [`TraceRecord`] with per-column validation.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::timestamp::{TsUnit, UnitState, shape};
use super::{IngestError, RowError};
use crate::trace::{TraceRecord, is_canonical_column};

/// The input column names recognized without `--map`, per trace column, in order of
/// preference. Matching ignores case and treats `-` as `_`.
pub const ALIASES: [(&str, &[&str]); 9] = [
    (
        "ts",
        &[
            "ts",
            "timestamp",
            "time",
            "@timestamp",
            "request_time",
            "datetime",
            "date",
            "time_local",
            "start_time",
            "started_date_time",
        ],
    ),
    (
        "method",
        &["method", "verb", "http_method", "request_method"],
    ),
    (
        "path",
        &[
            "path",
            "url",
            "uri",
            "request_uri",
            "request_path",
            "request_url",
            "target",
        ],
    ),
    (
        "host",
        &["host", "hostname", "http_host", "server_name", "domain"],
    ),
    ("headers", &["headers", "request_headers"]),
    (
        "body",
        &["body", "request_body", "payload", "post_data", "data"],
    ),
    (
        "status",
        &[
            "status",
            "status_code",
            "http_status",
            "response_code",
            "response_status",
            "code",
        ],
    ),
    (
        "latency_ms",
        &[
            "latency_ms",
            "latency",
            "duration_ms",
            "elapsed_ms",
            "response_time_ms",
            "response_time",
            "duration",
        ],
    ),
    (
        "session",
        &[
            "session",
            "session_id",
            "user_id",
            "userid",
            "actor",
            "actor_id",
            "account_id",
        ],
    ),
];

/// Parses `--map` values (`ts=when,path=request`; the flag may repeat) into pairs of
/// trace column → input column.
pub fn parse_map(values: &[String]) -> Result<Vec<(String, String)>, IngestError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in values.iter().flat_map(|v| v.split(',')) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').ok_or_else(|| {
            IngestError::BadMap(format!("`{part}` is not `trace_column=input_column`"))
        })?;
        let (k, v) = (k.trim(), v.trim());
        if !is_canonical_column(k) {
            return Err(IngestError::BadMap(format!(
                "`{k}` is not a trace column; use one of ts, method, path, host, headers, \
                 body, status, latency_ms, session"
            )));
        }
        if v.is_empty() {
            return Err(IngestError::BadMap(format!("`{k}=` names no input column")));
        }
        if out.iter().any(|(a, _)| a == k) {
            return Err(IngestError::BadMap(format!("`{k}` is mapped twice")));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// One cell of an input row, borrowed where the format allows.
#[derive(Debug, Clone)]
pub(crate) enum Cell<'a> {
    Null,
    /// Raw bytes from a text format; checked as UTF-8 where text is needed.
    Bytes(&'a [u8]),
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A typed timestamp, already in microseconds (Parquet timestamp columns).
    TsMicros(i64),
}

fn norm(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('-', "_")
}

/// The resolved mapping of one input's columns, and the row converter.
pub(crate) struct Mapper {
    file: PathBuf,
    names: Vec<String>,
    /// Input column index per canonical column (in `COLUMNS` order).
    canon: [Option<usize>; 9],
    /// Input column indices of the extra columns, and their trace names.
    extra: Vec<usize>,
    extra_names: Vec<String>,
    unit: UnitState,
}

const TS: usize = 0;
const METHOD: usize = 1;
const PATH: usize = 2;
const HOST: usize = 3;
const HEADERS: usize = 4;
const BODY: usize = 5;
const STATUS: usize = 6;
const LATENCY: usize = 7;
const SESSION: usize = 8;

impl Mapper {
    /// Resolves `names` (the input's columns) against `--map` and the common names.
    pub fn new(
        file: &Path,
        names: Vec<String>,
        map: &[(String, String)],
        ts_unit: Option<TsUnit>,
    ) -> Result<Self, IngestError> {
        let bad_header = |reason: String| IngestError::BadHeader {
            path: file.to_path_buf(),
            reason,
        };
        for (i, n) in names.iter().enumerate() {
            if n.trim().is_empty() {
                return Err(bad_header(format!("column {} has no name", i + 1)));
            }
            if names[..i].contains(n) {
                return Err(bad_header(format!("column `{n}` appears twice")));
            }
        }
        let mut canon = [None; 9];
        let mut taken = vec![false; names.len()];
        for (k, input) in map {
            let slot = ALIASES.iter().position(|(c, _)| c == k).expect("checked");
            let idx = names
                .iter()
                .position(|n| n == input)
                .or_else(|| names.iter().position(|n| norm(n) == norm(input)))
                .ok_or_else(|| {
                    IngestError::BadMap(format!(
                        "`{k}={input}`: `{}` has no column `{input}`; columns found: {}",
                        file.display(),
                        list(&names)
                    ))
                })?;
            canon[slot] = Some(idx);
            taken[idx] = true;
        }
        for (slot, (_, aliases)) in ALIASES.iter().enumerate() {
            if canon[slot].is_some() {
                continue;
            }
            'found: for alias in aliases.iter() {
                for (i, n) in names.iter().enumerate() {
                    if !taken[i] && norm(n) == *alias {
                        canon[slot] = Some(i);
                        taken[i] = true;
                        break 'found;
                    }
                }
            }
        }
        for slot in [TS, METHOD, PATH] {
            if canon[slot].is_none() {
                let (col, aliases) = ALIASES[slot];
                return Err(IngestError::MissingColumn {
                    path: file.to_path_buf(),
                    column: col.to_string(),
                    looked: list(aliases),
                    found: list(&names),
                });
            }
        }
        let extra: Vec<usize> = (0..names.len()).filter(|i| !taken[*i]).collect();
        let extra_names = extra
            .iter()
            .map(|&i| {
                // An extra column may not take a canonical column's name.
                if is_canonical_column(&names[i]) {
                    format!("{}_in", names[i])
                } else {
                    names[i].clone()
                }
            })
            .collect();
        Ok(Mapper {
            file: file.to_path_buf(),
            names,
            canon,
            extra,
            extra_names,
            unit: UnitState {
                fixed: ts_unit,
                detected: None,
            },
        })
    }

    /// The trace names of the extra columns.
    pub fn extra_names(&self) -> &[String] {
        &self.extra_names
    }

    /// The epoch unit detected so far, if any.
    pub fn detected_unit(&self) -> Option<TsUnit> {
        self.unit.detected.map(|(u, _)| u)
    }

    /// Converts one row. `get(i)` gives the cell of input column `i`.
    pub fn record<'a>(
        &mut self,
        get: impl Fn(usize) -> Cell<'a>,
        row: u64,
        line: Option<u64>,
    ) -> Result<TraceRecord, RowError> {
        let err = |col: usize, problem: String| RowError {
            file: self.file.clone(),
            row,
            line,
            column: Some(self.names[col].clone()),
            problem,
            fatal: false,
        };
        let col = |slot: usize| self.canon[slot];
        let text = |i: usize| -> Result<Option<Cow<'a, str>>, RowError> {
            cell_text(get(i)).map_err(|p| err(i, p))
        };

        let ts_col = col(TS).expect("required");
        let ts_us = match get(ts_col) {
            Cell::TsMicros(us) => Ok(us),
            Cell::Int(v) => self.unit.epoch(v as f64, Some(v), row),
            Cell::Float(v) => self.unit.epoch(v, None, row),
            Cell::Null => Err("timestamp is missing".to_string()),
            other => match cell_text(other) {
                Ok(Some(s)) => self.unit.parse_text(&s, row),
                Ok(None) => Err("timestamp is missing".to_string()),
                Err(p) => Err(p),
            },
        }
        .map_err(|p| err(ts_col, p))?;

        let m_col = col(METHOD).expect("required");
        let method = text(m_col)?.ok_or_else(|| err(m_col, "method is missing".into()))?;
        let method = method.trim();
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
            return Err(err(
                m_col,
                format!("method is not an HTTP method ({})", shape(method)),
            ));
        }
        let method = method.to_ascii_uppercase();

        let p_col = col(PATH).expect("required");
        let raw_path = text(p_col)?.ok_or_else(|| err(p_col, "path is missing".into()))?;
        let (url_host, path) = split_target(raw_path.trim()).map_err(|p| err(p_col, p))?;

        let mut host = match col(HOST) {
            Some(i) => text(i)?.map(Cow::into_owned),
            None => None,
        };
        if host.is_none() {
            host = url_host;
        }
        let headers = match col(HEADERS) {
            Some(i) => match text(i)? {
                Some(h) => {
                    check_json_object(&h).map_err(|p| err(i, p))?;
                    Some(h.into_owned())
                }
                None => None,
            },
            None => None,
        };
        let body = match col(BODY) {
            Some(i) => match get(i) {
                Cell::Bytes(b) if !b.is_empty() => Some(body_with_room(b)),
                Cell::Null | Cell::Bytes(_) => None,
                other => cell_text(other)
                    .map_err(|p| err(i, p))?
                    .map(|s| body_with_room(s.as_bytes())),
            },
            None => None,
        };
        let status = match col(STATUS) {
            Some(i) => parse_status(get(i)).map_err(|p| err(i, p))?,
            None => None,
        };
        let latency_ms = match col(LATENCY) {
            Some(i) => parse_latency(get(i)).map_err(|p| err(i, p))?,
            None => None,
        };
        let session = match col(SESSION) {
            Some(i) => text(i)?.map(with_room),
            None => None,
        };
        let mut extra = Vec::with_capacity(self.extra.len());
        for &i in &self.extra {
            extra.push(text(i)?.map(with_room));
        }
        Ok(TraceRecord {
            ts_us,
            method,
            path,
            host,
            headers,
            body,
            status,
            latency_ms,
            session,
            extra,
        })
    }
}

/// Bytes of room after a body, whose scrubbed form is often a few bytes longer (an email's
/// pseudonym is 27 bytes, a password's 20).
const BODY_ROOM: usize = 32;

/// A body's bytes with [`BODY_ROOM`] to spare.
fn body_with_room(b: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(b.len() + BODY_ROOM);
    v.extend_from_slice(b);
    v
}

/// Short identifiers (sessions, emails, addresses in extra columns) are what a scrub policy
/// hashes whole, in place: room for the longest pseudonym of such a value (an email's, 27
/// bytes) spares the scrubber an allocation per value, and the other thread's free of it.
fn with_room(s: Cow<'_, str>) -> String {
    const ROOM: usize = 32;
    if s.len() >= ROOM {
        return s.into_owned();
    }
    let mut owned = String::with_capacity(ROOM);
    owned.push_str(&s);
    owned
}

fn list<S: AsRef<str>>(names: &[S]) -> String {
    if names.is_empty() {
        return "none".into();
    }
    names
        .iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A cell as text; empty text is `None` (CSV cannot tell empty from missing).
pub(crate) fn cell_text(c: Cell<'_>) -> Result<Option<Cow<'_, str>>, String> {
    Ok(match c {
        Cell::Null => None,
        Cell::Bytes(b) => {
            let s = std::str::from_utf8(b).map_err(|e| {
                format!(
                    "value is not valid UTF-8 (bad byte at offset {})",
                    e.valid_up_to()
                )
            })?;
            (!s.is_empty()).then_some(Cow::Borrowed(s))
        }
        Cell::Str(s) => (!s.is_empty()).then_some(s),
        Cell::Int(v) => Some(Cow::Owned(v.to_string())),
        Cell::Float(v) => Some(Cow::Owned(v.to_string())),
        Cell::Bool(v) => Some(Cow::Borrowed(if v { "true" } else { "false" })),
        Cell::TsMicros(us) => Some(Cow::Owned(super::timestamp::format_rfc3339(us))),
    })
}

/// Splits a request target into an optional host and an origin-form path. Absolute URLs
/// (`https://host/a?b`) give their host; `*` (OPTIONS) is kept.
pub(crate) fn split_target(t: &str) -> Result<(Option<String>, String), String> {
    if t.starts_with('/') || t == "*" {
        return Ok((None, t.to_string()));
    }
    let lower = t.get(..8).unwrap_or(t).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &t[8..]
    } else if lower.starts_with("http://") {
        &t[7..]
    } else {
        return Err(format!(
            "path is neither origin-form (`/a/b?x=1`) nor an absolute http(s) URL ({})",
            shape(t)
        ));
    };
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, path) = rest.split_at(cut);
    if host.is_empty() {
        return Err("URL has no host".into());
    }
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Ok((Some(host.to_string()), path))
}

/// Headers must be a JSON object, as text. Parsed without building values.
pub(crate) fn check_json_object(s: &str) -> Result<(), String> {
    if !s.trim_start().starts_with('{') {
        return Err("headers are not a JSON object (`{\"name\":\"value\"}`)".into());
    }
    // The common case, answered without serde_json (which is asked whenever this is unsure).
    if super::json_check::surely_valid(s.as_bytes()) {
        return Ok(());
    }
    serde_json::from_str::<serde::de::IgnoredAny>(s)
        .map(|_| ())
        .map_err(|e| {
            format!(
                "headers are not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            )
        })
}

fn parse_status(c: Cell<'_>) -> Result<Option<u16>, String> {
    let v = match c {
        // Plain digits, as nearly every log writes them: what `parse::<i64>` gives them.
        Cell::Str(ref s)
            if (1..=18).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.bytes().fold(0, |a, b| a * 10 + i64::from(b - b'0'))
        }
        Cell::Int(v) => v,
        Cell::Float(f) if f.fract() == 0.0 => f as i64,
        other => match cell_text(other)? {
            None => return Ok(None),
            Some(s) if s.trim() == "-" => return Ok(None),
            Some(s) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| format!("status is not a number ({})", shape(&s)))?,
        },
    };
    match v {
        // HAR and some proxies write 0 for "no response".
        0 => Ok(None),
        100..=999 => Ok(Some(v as u16)),
        _ => Err("status is not an HTTP status (100..999)".into()),
    }
}

fn parse_latency(c: Cell<'_>) -> Result<Option<f64>, String> {
    let v = match c {
        Cell::Str(ref s) if let Some(v) = plain_decimal(s.as_bytes()) => v,
        Cell::Int(v) => v as f64,
        Cell::Float(f) => f,
        other => match cell_text(other)? {
            None => return Ok(None),
            Some(s) if s.trim() == "-" => return Ok(None),
            Some(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("latency is not a number ({})", shape(&s)))?,
        },
    };
    if v.is_finite() && v >= 0.0 {
        Ok(Some(v))
    } else {
        Err("latency is negative or not finite".into())
    }
}

/// `123` or `66.25` with at most 15 digits in all, as the nearest `f64`, exactly as
/// `str::parse::<f64>` reads it: both the digits as an integer (below 2^53) and the power of
/// ten (at most 10^15) are exact in an `f64`, and one IEEE division rounds correctly.
/// `None` for any other text.
fn plain_decimal(b: &[u8]) -> Option<f64> {
    if b.len() > 16 {
        return None;
    }
    // One pass: the digits as an integer, and where the point is.
    let (mut m, mut dot) = (0u64, None);
    for (k, &c) in b.iter().enumerate() {
        match c {
            b'0'..=b'9' => m = m * 10 + u64::from(c - b'0'),
            b'.' if dot.is_none() => dot = Some(k),
            _ => return None,
        }
    }
    let frac = match dot {
        None if !b.is_empty() => 0,
        Some(k) if k > 0 && k + 1 < b.len() => b.len() - k - 1,
        _ => return None,
    };
    if b.len() - usize::from(dot.is_some()) > 15 {
        return None;
    }
    Some(m as f64 / 10u64.pow(frac as u32) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn row<'a>(v: &'a [&'a str]) -> impl Fn(usize) -> Cell<'a> {
        move |i| Cell::Bytes(v[i].as_bytes())
    }

    #[test]
    fn common_names_map_without_a_map() {
        let cols = names(&[
            "Timestamp",
            "Verb",
            "URL",
            "user_id",
            "email",
            "Status-Code",
            "latency",
        ]);
        let mut m = Mapper::new(Path::new("x.csv"), cols, &[], None).unwrap();
        assert_eq!(m.extra_names(), ["email"]);
        let r = m
            .record(
                row(&[
                    "2025-11-26T22:00:00Z",
                    "post",
                    "https://pay.example.gov/pay?x=1",
                    "u1",
                    "a@example.com",
                    "201",
                    "12.5",
                ]),
                1,
                Some(2),
            )
            .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/pay?x=1");
        assert_eq!(r.host.as_deref(), Some("pay.example.gov"));
        assert_eq!(r.session.as_deref(), Some("u1"));
        assert_eq!(r.status, Some(201));
        assert_eq!(r.latency_ms, Some(12.5));
        assert_eq!(r.extra, vec![Some("a@example.com".to_string())]);
        // Identifiers come with room for their pseudonyms (see `with_room`).
        let session = r.session.as_ref().unwrap();
        assert!(session.capacity() >= 32, "{}", session.capacity());
        assert!(r.extra[0].as_ref().unwrap().capacity() >= 32);
    }

    #[test]
    fn explicit_map_wins_and_unknown_columns_are_named() {
        let cols = names(&["when", "op", "where", "time"]);
        let map = parse_map(&["ts=when".into(), "method=op,path=where".into()]).unwrap();
        let m = Mapper::new(Path::new("x.csv"), cols.clone(), &map, None).unwrap();
        assert_eq!(m.extra_names(), ["time"]);
        let map = parse_map(&["ts=nope".into()]).unwrap();
        let e = Mapper::new(Path::new("x.csv"), cols, &map, None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("`nope`") && e.contains("`when`"), "{e}");
        assert!(parse_map(&["bogus=x".into()]).is_err());
        assert!(parse_map(&["ts".into()]).is_err());
    }

    #[test]
    fn missing_required_column_lists_what_was_found() {
        let e = Mapper::new(Path::new("x.csv"), names(&["when", "url"]), &[], None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no column for `ts`"), "{e}");
        assert!(e.contains("`when`, `url`"), "{e}");
        assert!(e.contains("--map ts=COLUMN"), "{e}");
    }

    #[test]
    fn bad_cells_name_the_column_not_the_value() {
        let cols = names(&["ts", "method", "path", "status", "headers"]);
        let mut m = Mapper::new(Path::new("x.csv"), cols, &[], None).unwrap();
        let cases: [(&[&str], &str); 5] = [
            (&["jane@example.com", "GET", "/", "200", ""], "ts"),
            (
                &["1764194400", "GET", "jane@example.com", "200", ""],
                "path",
            ),
            (&["1764194400", "G T", "/", "200", ""], "method"),
            (&["1764194400", "GET", "/", "jane", ""], "status"),
            (&["1764194400", "GET", "/", "200", "jane"], "headers"),
        ];
        for (cells, column) in cases {
            let e = m.record(row(cells), 7, None).unwrap_err();
            assert_eq!(e.column.as_deref(), Some(column));
            assert_eq!(e.row, 7);
            assert!(!e.to_string().contains("jane"), "{e}");
        }
    }

    #[test]
    fn invalid_utf8_is_a_row_error() {
        let cols = names(&["ts", "method", "path", "note"]);
        let mut m = Mapper::new(Path::new("x.csv"), cols, &[], None).unwrap();
        let bad: [&[u8]; 4] = [b"1764194400", b"GET", b"/", b"caf\xe9"];
        let e = m.record(|i| Cell::Bytes(bad[i]), 1, None).unwrap_err();
        assert_eq!(e.column.as_deref(), Some("note"));
        assert!(e.problem.contains("UTF-8"), "{e}");
    }

    #[test]
    fn plain_numbers_read_as_the_standard_parsers_read_them() {
        let texts = [
            "0",
            "66.9",
            "0.1",
            "0.3",
            "12.5",
            "999999999999999",
            "99999999999999.9",
            "0.000000000000001",
            "1234567890.12345",
            "007.50",
            "1.",
            ".5",
            "1.2.3",
            "-1",
            "+1",
            "1e3",
            " 1",
            "",
            "9999999999999999",
            "1,5",
        ];
        for t in texts {
            if let Some(v) = plain_decimal(t.as_bytes()) {
                assert_eq!(v.to_bits(), t.parse::<f64>().unwrap().to_bits(), "{t}");
            }
            assert_eq!(
                parse_latency(Cell::Str(Cow::Borrowed(t))),
                parse_latency(Cell::Bytes(t.as_bytes())),
                "{t}"
            );
        }
        // Every 1..=6-digit mantissa at every decimal point position.
        for m in (0u64..1_000_000).step_by(7) {
            let digits = m.to_string();
            for dot in 1..=digits.len() {
                let t = format!("{}.{}", &digits[..dot], &digits[dot..]);
                let t = t.trim_end_matches('.');
                let v = plain_decimal(t.as_bytes()).unwrap();
                assert_eq!(v.to_bits(), t.parse::<f64>().unwrap().to_bits(), "{t}");
            }
        }
        for t in [
            "200", "0", "099", "1000", "99", "-", " 201 ", "", "2x", "-200", "+204",
        ] {
            assert_eq!(
                parse_status(Cell::Str(Cow::Borrowed(t))),
                parse_status(Cell::Bytes(t.as_bytes())),
                "{t}"
            );
        }
    }

    #[test]
    fn duplicate_header_is_refused() {
        let e = Mapper::new(Path::new("x.csv"), names(&["ts", "ts"]), &[], None)
            .err()
            .unwrap();
        assert!(e.to_string().contains("appears twice"), "{e}");
    }
}
