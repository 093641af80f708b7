//! CSV (and TSV) with a header row, gzipped when the name ends in `.gz`.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::input::{fatal, open_text};
use super::mapping::{Cell, Mapper};
use super::{IngestError, ReadOptions, RowError};
use crate::trace::TraceRecord;

pub(crate) struct CsvSource {
    path: PathBuf,
    reader: csv::Reader<Box<dyn BufRead + Send>>,
    pub(crate) mapper: Mapper,
    record: csv::ByteRecord,
    /// The outcome of reading the first data row, done at open time to tell a header-only
    /// file apart; `next` reports it.
    first: Option<Result<(), csv::Error>>,
    row: u64,
}

impl CsvSource {
    pub fn open(path: &Path, opts: &ReadOptions) -> Result<Self, IngestError> {
        let tsv = path
            .to_string_lossy()
            .to_ascii_lowercase()
            .trim_end_matches(".gz")
            .ends_with(".tsv");
        let delimiter = opts.delimiter.unwrap_or(if tsv { b'\t' } else { b',' });
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .from_reader(open_text(path)?);
        let bad = |reason: String| IngestError::BadInput {
            path: path.to_path_buf(),
            format: super::Format::Csv,
            reason,
        };
        let header = reader
            .byte_headers()
            .map_err(|e| bad(format!("cannot read the header row: {}", csv_problem(&e))))?
            .clone();
        if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
            return Err(IngestError::Empty {
                path: path.to_path_buf(),
            });
        }
        let names = header
            .iter()
            .enumerate()
            .map(|(i, h)| {
                String::from_utf8(h.to_vec()).map_err(|_| IngestError::BadHeader {
                    path: path.to_path_buf(),
                    reason: format!("the name of column {} is not valid UTF-8", i + 1),
                })
            })
            .map(|n| n.map(|n| n.trim().to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let mapper = Mapper::new(path, names, &opts.map, opts.ts_unit)?;
        let mut record = csv::ByteRecord::new();
        let first = match reader.read_byte_record(&mut record) {
            Ok(true) => Ok(()),
            Ok(false) => {
                return Err(IngestError::HeaderOnly {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => Err(e),
        };
        Ok(CsvSource {
            path: path.to_path_buf(),
            reader,
            mapper,
            record,
            first: Some(first),
            row: 0,
        })
    }

    pub fn next(&mut self) -> Option<Result<TraceRecord, RowError>> {
        let read = match self.first.take() {
            Some(first) => first.map(|()| true),
            None => self.reader.read_byte_record(&mut self.record),
        };
        match read {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                self.row += 1;
                let line = e.position().map(|p| p.line());
                return Some(Err(match e.kind() {
                    csv::ErrorKind::UnequalLengths { .. } => RowError {
                        file: self.path.clone(),
                        row: self.row,
                        line,
                        column: None,
                        problem: csv_problem(&e),
                        fatal: false,
                    },
                    _ => fatal(&self.path, self.row, csv_problem(&e)),
                }));
            }
        }
        self.row += 1;
        let line = self.record.position().map(|p| p.line());
        let rec = &self.record;
        Some(self.mapper.record(
            |i| rec.get(i).map_or(Cell::Null, Cell::Bytes),
            self.row,
            line,
        ))
    }
}

/// A CSV error in words, without the data.
fn csv_problem(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("the row has {len} fields, the header has {expected_len}"),
        csv::ErrorKind::Io(io) => format!("read error: {io}"),
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".into(),
        _ => "malformed CSV".into(),
    }
}
