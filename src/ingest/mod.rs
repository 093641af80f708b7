//! Ingest: exported request logs in, the canonical trace out.
//!
//! Takes CSV (optionally gzipped), Parquet, JSON lines, Apache/nginx common or combined log
//! format and HAR 1.2 files; maps their columns onto the canonical schema (`--map`, or the
//! common names), parses timestamps in every accepted form, validates each row, and writes one
//! trace sorted by `ts` (stable, so a session's requests keep their order), atomically.
//! Memory stays bounded: rows are buffered up to a budget, and beyond it sorted runs are
//! spilled to temp files and merged.
//!
//! Gives [`read_input`] (a streaming reader of one raw input, also used by `esr check
//! --against`), [`ingest`] (the whole pipeline, with a [`RecordTransform`] hook applied to
//! every row before it is buffered or spilled) and [`inspect()`] (a trace's summary).
//!
//! It must never print a value read from an input: errors name the file, the row (1-based),
//! the column and the problem, and at most show a masked shape of the value.

mod clf;
mod csv;
mod csv_rows;
mod har;
mod input;
pub mod inspect;
mod json_check;
mod jsonl;
mod mapping;
mod parquet;
mod pipeline;
mod reorder;
mod scan;
mod sort;
pub mod timestamp;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use input::{InputReader, read_input};
pub use inspect::{Inspection, inspect};
pub use mapping::{ALIASES, parse_map};
pub use pipeline::{
    IngestOptions, IngestReport, InputCount, MAX_AUTO_LANES, OnError, ingest, lanes_for,
};
pub use timestamp::TsUnit;

use crate::trace::TraceError;

#[cfg(doc)]
use crate::trace::RecordTransform;

/// The format of a raw input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Chosen from the file name, then from the first bytes.
    #[default]
    Auto,
    /// Comma (or `--delimiter`) separated values with a header row; `.gz` is decompressed.
    Csv,
    /// Apache Parquet, any common codec.
    Parquet,
    /// One JSON object per line.
    Jsonl,
    /// Apache/nginx common or combined log format.
    Clf,
    /// HAR 1.2, as browsers export it.
    Har,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Auto => "auto",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::Jsonl => "jsonl",
            Format::Clf => "clf",
            Format::Har => "har",
        })
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "auto" => Format::Auto,
            "csv" | "tsv" => Format::Csv,
            "parquet" => Format::Parquet,
            "jsonl" | "ndjson" | "json" => Format::Jsonl,
            "clf" | "combined" | "common" | "apache" | "nginx" => Format::Clf,
            "har" => Format::Har,
            _ => {
                return Err(format!(
                    "`{s}` is not a format; use auto, csv, parquet, jsonl, clf or har"
                ));
            }
        })
    }
}

/// How raw inputs are read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// The input format (`auto` guesses from the name and the first bytes).
    pub format: Format,
    /// Column mapping, trace column → input column (`--map ts=when,path=request`).
    pub map: Vec<(String, String)>,
    /// The CSV field delimiter; `None` means `,` (or tab for `.tsv`).
    pub delimiter: Option<u8>,
    /// The unit of epoch timestamps; `None` means detected per input from the magnitude.
    pub ts_unit: Option<TsUnit>,
}

/// One bad row of an input. Names the file, the row and the column; never holds a value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct RowError {
    /// The input file.
    pub file: PathBuf,
    /// The row, 1-based, counting data rows only (a CSV header is not a row).
    pub row: u64,
    /// The line in the file where the row starts, for line-based formats.
    pub line: Option<u64>,
    /// The column (or field) at fault, when one is.
    pub column: Option<String>,
    /// What is wrong, without the value.
    pub problem: String,
    /// True when the input cannot be read any further (corrupt file, I/O error): such an
    /// error ends the ingest even with `--on-error quarantine`.
    pub fatal: bool,
}

impl RowError {
    fn describe(&self) -> String {
        let mut s = format!("`{}` row {}", self.file.display(), self.row);
        if let Some(l) = self.line {
            s.push_str(&format!(" (line {l})"));
        }
        if let Some(c) = &self.column {
            s.push_str(&format!(", column `{c}`"));
        }
        s.push_str(": ");
        s.push_str(&self.problem);
        s
    }
}

/// Errors of ingest. Messages name files, rows and columns, never values.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("no input files given")]
    NoInputs,
    #[error("cannot open `{path}`: {err}")]
    Open { path: PathBuf, err: std::io::Error },
    #[error("`{path}` is empty: there is nothing to ingest")]
    Empty { path: PathBuf },
    #[error("`{path}` has a header but no rows: there is nothing to ingest")]
    HeaderOnly { path: PathBuf },
    #[error(
        "`{path}` has no column for `{column}` (looked for {looked}); columns found: {found}; \
         name one with `--map {column}=COLUMN`"
    )]
    MissingColumn {
        path: PathBuf,
        column: String,
        looked: String,
        found: String,
    },
    #[error("`{path}`: {reason}")]
    BadHeader { path: PathBuf, reason: String },
    #[error("bad `--map`: {0}")]
    BadMap(String),
    #[error("cannot tell the format of `{path}`; pass `--format csv|parquet|jsonl|clf|har`")]
    UnknownFormat { path: PathBuf },
    #[error("`{path}` is not a readable Parquet file ({reason}); is it truncated, or not Parquet?")]
    NotParquet { path: PathBuf, reason: String },
    #[error("`{path}` is not a valid {format} file: {reason}")]
    BadInput {
        path: PathBuf,
        format: Format,
        reason: String,
    },
    #[error(
        "{error}\nstopped at the first bad row: rows in {rows_in}, out 0 (no trace written), \
         rejected 1; fix the row or pass `--on-error quarantine` to set bad rows aside"
    )]
    BadRow { error: RowError, rows_in: u64 },
    #[error(
        "{error}\nthe input cannot be read further; no trace written (rows read before: {rows_in})"
    )]
    Unreadable { error: RowError, rows_in: u64 },
    #[error("the record transform refused the input: {0}")]
    Transform(String),
    #[error("sort spill files in `{dir}`: {reason}")]
    Spill { dir: PathBuf, reason: String },
    #[error("cannot write the rejects file `{path}`: {reason}")]
    Rejects { path: PathBuf, reason: String },
    #[error(transparent)]
    Trace(#[from] TraceError),
}
