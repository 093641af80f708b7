//! Opening one raw input: choosing its format and streaming its rows as trace records.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::timestamp::TsUnit;
use super::{Format, IngestError, ReadOptions, RowError};
use crate::trace::TraceRecord;

/// A streaming reader of one raw input. Yields one `Result` per data row: a record, or the
/// row's error (naming file, row and column, never the value). After an error with
/// `fatal: true` it yields nothing more.
pub struct InputReader {
    path: PathBuf,
    format: Format,
    source: Source,
    done: bool,
}

pub(crate) enum Source {
    Csv(super::csv::CsvSource),
    Jsonl(super::jsonl::JsonlSource),
    Parquet(Box<super::parquet::ParquetSource>),
    Clf(super::clf::ClfSource),
    Har(super::har::HarSource),
}

/// Opens `path` and reads its header (column names), so [`InputReader::extra_columns`] is
/// known before the first row. Fails on an unreadable, empty or header-only file and on a
/// missing required column.
pub fn read_input(path: &Path, opts: &ReadOptions) -> Result<InputReader, IngestError> {
    let format = match opts.format {
        Format::Auto => detect(path)?,
        f => f,
    };
    let source = match format {
        Format::Csv => Source::Csv(super::csv::CsvSource::open(path, opts)?),
        Format::Jsonl => Source::Jsonl(super::jsonl::JsonlSource::open(path, opts)?),
        Format::Parquet => {
            Source::Parquet(Box::new(super::parquet::ParquetSource::open(path, opts)?))
        }
        Format::Clf => Source::Clf(super::clf::ClfSource::open(path)?),
        Format::Har => Source::Har(super::har::HarSource::open(path)?),
        Format::Auto => unreachable!("resolved above"),
    };
    Ok(InputReader {
        path: path.to_path_buf(),
        format,
        source,
        done: false,
    })
}

impl InputReader {
    /// The names of the input's columns that are not canonical trace columns, in order;
    /// every record's `extra` follows them.
    pub fn extra_columns(&self) -> &[String] {
        match &self.source {
            Source::Csv(s) => s.mapper.extra_names(),
            Source::Jsonl(s) => s.mapper.extra_names(),
            Source::Parquet(s) => s.mapper.extra_names(),
            Source::Clf(_) => super::clf::EXTRA.as_slice(),
            Source::Har(_) => &[],
        }
    }

    /// The format actually read (never `Auto`).
    pub fn format(&self) -> Format {
        self.format
    }

    /// The input's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The epoch unit detected from the values read so far (`None` when the input has no
    /// epoch timestamps, or the unit was given with `--ts-unit`).
    pub fn detected_ts_unit(&self) -> Option<TsUnit> {
        match &self.source {
            Source::Csv(s) => s.mapper.detected_unit(),
            Source::Jsonl(s) => s.mapper.detected_unit(),
            Source::Parquet(s) => s.mapper.detected_unit(),
            Source::Clf(_) | Source::Har(_) => None,
        }
    }
}

impl Iterator for InputReader {
    type Item = Result<TraceRecord, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match &mut self.source {
            Source::Csv(s) => s.next(),
            Source::Jsonl(s) => s.next(),
            Source::Parquet(s) => s.next(),
            Source::Clf(s) => s.next(),
            Source::Har(s) => s.next(),
        };
        if matches!(&item, None | Some(Err(RowError { fatal: true, .. }))) {
            self.done = true;
        }
        item
    }
}

/// Guesses the format from the name (`.csv`, `.tsv`, `.parquet`, `.jsonl`, `.ndjson`,
/// `.har`, `.log`, each optionally `.gz`), then from the first bytes.
pub(crate) fn detect(path: &Path) -> Result<Format, IngestError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let by_ext = [
        (".csv", Format::Csv),
        (".tsv", Format::Csv),
        (".parquet", Format::Parquet),
        (".pq", Format::Parquet),
        (".jsonl", Format::Jsonl),
        (".ndjson", Format::Jsonl),
        (".har", Format::Har),
        (".log", Format::Clf),
    ];
    if let Some((_, f)) = by_ext.iter().find(|(e, _)| name.ends_with(e)) {
        return Ok(*f);
    }
    if name.contains("access") && name.contains("log") {
        return Ok(Format::Clf);
    }
    // Sniff the first line.
    let mut head = Vec::new();
    open_text(path)?
        .take(64 * 1024)
        .read_to_end(&mut head)
        .map_err(|err| IngestError::Open {
            path: path.to_path_buf(),
            err,
        })?;
    if head.is_empty() {
        return Err(IngestError::Empty {
            path: path.to_path_buf(),
        });
    }
    if head.starts_with(b"PAR1") {
        return Ok(Format::Parquet);
    }
    let first = head.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let first = String::from_utf8_lossy(first);
    let t = first.trim_start();
    if t.starts_with('{') {
        let compact: String = String::from_utf8_lossy(&head)
            .chars()
            .filter(|c| !c.is_whitespace())
            .take(200)
            .collect();
        return Ok(if compact.starts_with("{\"log\":") {
            Format::Har
        } else {
            Format::Jsonl
        });
    }
    if super::clf::looks_like_clf(t) {
        return Ok(Format::Clf);
    }
    if t.contains(',') || t.contains('\t') || t.contains(';') {
        return Ok(Format::Csv);
    }
    Err(IngestError::UnknownFormat {
        path: path.to_path_buf(),
    })
}

/// Bytes asked of the OS (or of the decompressor) per read.
pub(crate) const READ_BUF: usize = 256 * 1024;

/// Opens a text input, decompressing it when the name ends in `.gz`.
pub(crate) fn open_text(path: &Path) -> Result<Box<dyn BufRead + Send>, IngestError> {
    Ok(Box::new(BufReader::with_capacity(
        READ_BUF,
        open_raw(path)?,
    )))
}

/// Opens a text input unbuffered (decompressed when the name ends in `.gz`), for a reader
/// that buffers on its own: a second buffer in front of it would copy every byte once more.
pub(crate) fn open_raw(path: &Path) -> Result<Box<dyn Read + Send>, IngestError> {
    let file = File::open(path).map_err(|err| IngestError::Open {
        path: path.to_path_buf(),
        err,
    })?;
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    Ok(if gz {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(file)
    })
}

/// A fatal error of an input (I/O, corrupt data): ends reading.
/// A line-oriented input (CLF, JSON lines) read one data line at a time: blank lines are
/// skipped, file lines (`line`) and data rows (`row`) counted for error messages.
pub(crate) struct DataLines {
    pub path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    /// The current line's bytes, newline included.
    pub buf: Vec<u8>,
    /// 1-based data row of `buf` (blank lines are not rows).
    pub row: u64,
    /// 1-based file line of `buf`.
    pub line: u64,
}

impl DataLines {
    /// Reads `path` through `reader`; `buf` may be a spare buffer to reuse.
    pub fn new(path: &Path, reader: Box<dyn BufRead + Send>, buf: Vec<u8>) -> DataLines {
        DataLines {
            path: path.to_path_buf(),
            reader,
            buf,
            row: 0,
            line: 0,
        }
    }

    /// Reads the next line that is not blank into `buf`. `None` at the end of the input; a
    /// read error is a fatal row error.
    pub fn next(&mut self) -> Option<Result<(), RowError>> {
        loop {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    return Some(Err(fatal(
                        &self.path,
                        self.row + 1,
                        format!("read error: {e}"),
                    )));
                }
            }
            self.line += 1;
            if !self.buf.iter().all(u8::is_ascii_whitespace) {
                self.row += 1;
                return Some(Ok(()));
            }
        }
    }
}

pub(crate) fn fatal(path: &Path, row: u64, problem: String) -> RowError {
    RowError {
        file: path.to_path_buf(),
        row,
        line: None,
        column: None,
        problem,
        fatal: true,
    }
}
