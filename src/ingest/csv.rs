//! CSV (and TSV) with a header row, gzipped when the name ends in `.gz`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::csv_rows::{CsvRows, RowsError};
use super::input::{READ_BUF, fatal, open_raw};
use super::mapping::{Cell, Mapper};
use super::{IngestError, ReadOptions, RowError};
use crate::trace::TraceRecord;

pub(crate) struct CsvSource {
    path: PathBuf,
    reader: CsvRows,
    pub(crate) mapper: Mapper,
    /// The outcome of reading the first data row, done at open time to tell a header-only
    /// file apart; `next` reports it.
    first: Option<Result<(), RowsError>>,
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
        // The reader buffers by itself: it reads the file straight into its buffer.
        let mut reader = CsvRows::new(open_raw(path)?, delimiter, READ_BUF);
        let bad = |reason: String| IngestError::BadInput {
            path: path.to_path_buf(),
            format: super::Format::Csv,
            reason,
        };
        let has_header = reader
            .read()
            .map_err(|e| bad(format!("cannot read the header row: {}", csv_problem(&e))))?;
        if !has_header || reader.len() == 0 || (reader.len() == 1 && reader.as_slice().is_empty()) {
            return Err(IngestError::Empty {
                path: path.to_path_buf(),
            });
        }
        let names = (0..reader.len())
            .map(|i| {
                let h = reader.get(i).expect("a cell of the header");
                String::from_utf8(h.to_vec()).map_err(|_| IngestError::BadHeader {
                    path: path.to_path_buf(),
                    reason: format!("the name of column {} is not valid UTF-8", i + 1),
                })
            })
            .map(|n| n.map(|n| n.trim().to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let mapper = Mapper::new(path, names, &opts.map, opts.ts_unit)?;
        let first = match reader.read() {
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
            first: Some(first),
            row: 0,
        })
    }

    pub fn next(&mut self) -> Option<Result<TraceRecord, RowError>> {
        let read = match self.first.take() {
            Some(first) => first.map(|()| true),
            None => self.reader.read(),
        };
        self.row += 1;
        let line = Some(self.reader.record_line());
        match read {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e @ RowsError::Unequal { .. }) => {
                return Some(Err(RowError {
                    file: self.path.clone(),
                    row: self.row,
                    line,
                    column: None,
                    problem: csv_problem(&e),
                    fatal: false,
                }));
            }
            Err(e @ RowsError::Io(_)) => {
                return Some(Err(fatal(&self.path, self.row, csv_problem(&e))));
            }
        }
        let rec = &self.reader;
        // One UTF-8 check of the whole row instead of one per cell; a row that fails it
        // (a binary body, or a bad cell the mapper must name) goes cell by cell.
        if let Some(text) = row_text(rec) {
            return Some(self.mapper.record(
                |i| {
                    rec.range(i)
                        .map_or(Cell::Null, |r| Cell::Str(Cow::Borrowed(&text[r])))
                },
                self.row,
                line,
            ));
        }
        Some(self.mapper.record(
            |i| rec.get(i).map_or(Cell::Null, Cell::Bytes),
            self.row,
            line,
        ))
    }
}

/// The row's cells (stored back to back) as one text, if all of it is UTF-8 and every
/// cell starts on a character boundary, so that each cell's range is valid UTF-8 by itself.
fn row_text(rec: &CsvRows) -> Option<&str> {
    let text = std::str::from_utf8(rec.as_slice()).ok()?;
    (0..rec.len())
        .all(|i| rec.range(i).is_some_and(|r| text.is_char_boundary(r.start)))
        .then_some(text)
}

/// A CSV error in words, without the data.
fn csv_problem(e: &RowsError) -> String {
    match e {
        RowsError::Unequal { expected, len } => {
            format!("the row has {len} fields, the header has {expected}")
        }
        RowsError::Io(io) => format!("read error: {io}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads every row of a CSV file with the given bytes.
    fn rows(bytes: &[u8]) -> Vec<Result<TraceRecord, RowError>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, bytes).unwrap();
        let mut src = CsvSource::open(&path, &ReadOptions::default()).unwrap();
        std::iter::from_fn(|| src.next()).collect()
    }

    #[test]
    fn whole_row_check_agrees_with_the_cell_by_cell_one() {
        let got = rows(
            "ts,method,path,body,note,more\n\
             1764194400,get,/caf\u{e9},b\u{e9},\u{e9}t\u{e9},\n"
                .as_bytes(),
        );
        let r = got[0].as_ref().unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/caf\u{e9}"));
        assert_eq!(r.body.as_deref(), Some("b\u{e9}".as_bytes()));
        assert_eq!(r.extra, vec![Some("\u{e9}t\u{e9}".to_string()), None]);

        // The row's bytes are UTF-8 as a whole, but `note` ends inside a character that
        // `more` completes: each cell alone is not UTF-8, and `note` is named.
        let e = rows(b"ts,method,path,note,more\n1764194400,GET,/,x\xc3,\xa9y\n")
            .remove(0)
            .unwrap_err();
        assert_eq!(e.column.as_deref(), Some("note"));
        assert!(e.problem.contains("UTF-8"), "{e}");

        // A body that is not UTF-8 is kept as bytes; the other cells are still checked.
        let got = rows(b"ts,method,path,body\n1764194400,GET,/,\xff\x00\xfe\n");
        let r = got[0].as_ref().unwrap();
        assert_eq!(r.body.as_deref(), Some(&b"\xff\x00\xfe"[..]));
        let e = rows(b"ts,method,path,body,note\n1764194400,GET,/,\xff,\xfe\n")
            .remove(0)
            .unwrap_err();
        assert_eq!(e.column.as_deref(), Some("note"));
    }
}
