//! CSV records for ingest, parsed exactly as the `csv` crate parses them (its `csv_core`
//! state machine: `""` inside quotes, CR, LF or CRLF ends a record, blank lines skipped, a
//! leading UTF-8 BOM dropped), with a fast path for the common record.
//!
//! `csv_core` looks at every byte through its state machine; it was the largest single cost
//! of a CSV ingest. Most records are plain: unquoted cells, or quoted cells whose quotes are
//! all doubled, ended by LF or CRLF. For those the fast path jumps from delimiter to
//! delimiter (and from quote to quote) with `memchr`. Anything else — a blank line, a bare
//! CR, text after a closing quote, a record cut by the end of the input — is handed, from
//! the record's first byte, to `csv_core` itself, so both paths give the same cells.

use std::io::Read;

use csv_core::{ReadRecordResult, Reader as Core, ReaderBuilder as CoreBuilder};

use super::scan;

/// Why a record could not be read.
#[derive(Debug)]
pub(crate) enum RowsError {
    /// Reading the input failed (fatal).
    Io(std::io::Error),
    /// The record has a different number of cells than the header (the record is skipped).
    Unequal { expected: usize, len: usize },
}

/// What the fast path made of the bytes at the read position.
enum Fast {
    /// A whole record.
    Done,
    /// The buffer ends before the record does: read more, then try again.
    Short,
    /// Something only `csv_core` handles.
    Odd,
}

/// Reads CSV records one at a time from an unbuffered source.
pub(crate) struct CsvRows {
    src: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// Next unread byte of `buf`.
    pos: usize,
    /// End of the bytes read into `buf`.
    end: usize,
    eof: bool,
    /// Whether a record was read: the first goes through `csv_core`, which drops a BOM.
    started: bool,
    /// Boxed: its transition tables are large.
    core: Box<Core>,
    delim: u8,
    /// 1-based line of the next unread byte.
    line: u64,
    /// The LF of a CRLF the fast path took, counted only once the next record's line is
    /// known: `csv_core` stops after the CR and counts the LF with the next record, and a
    /// record's line is the count before it is read.
    lagging_lf: u64,
    /// The cell count of the first record (the header), which every record must have.
    expected: Option<usize>,
    /// The current record's cells back to back, and the end of each in `data`; `data` is
    /// longer (scratch space), the last end is where the record's text stops.
    data: Vec<u8>,
    ends: Vec<usize>,
    /// 1-based line the current record starts on.
    rec_line: u64,
}

impl CsvRows {
    /// Reads `src` with cells split by `delim`, asking it for `chunk` bytes at a time.
    pub fn new(src: Box<dyn Read + Send>, delim: u8, chunk: usize) -> Self {
        CsvRows {
            src,
            buf: vec![0; chunk.max(4)],
            pos: 0,
            end: 0,
            eof: false,
            started: false,
            core: Box::new(CoreBuilder::new().delimiter(delim).build()),
            delim,
            line: 1,
            lagging_lf: 0,
            expected: None,
            data: Vec::with_capacity(1024),
            ends: Vec::with_capacity(32),
            rec_line: 1,
        }
    }

    /// Number of cells of the current record.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The byte range of cell `i` of the current record in [`CsvRows::as_slice`].
    pub fn range(&self, i: usize) -> Option<std::ops::Range<usize>> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(start..end)
    }

    /// Cell `i` of the current record.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.range(i).map(|r| &self.data[r])
    }

    /// The current record's cells, back to back.
    pub fn as_slice(&self) -> &[u8] {
        &self.data[..self.ends.last().copied().unwrap_or(0)]
    }

    /// The 1-based line the current record starts on.
    pub fn record_line(&self) -> u64 {
        self.rec_line
    }

    /// Reads the next record. `Ok(false)` at the end of the input.
    pub fn read(&mut self) -> Result<bool, RowsError> {
        self.rec_line = self.line;
        self.line += std::mem::take(&mut self.lagging_lf);
        let more = loop {
            // `data` keeps its length (scratch for both paths); `ends` says what is in it.
            self.ends.clear();
            match self.fast() {
                Fast::Done => break true,
                Fast::Odd => break self.slow()?,
                Fast::Short if self.eof => break self.slow()?,
                Fast::Short => self.fill().map_err(RowsError::Io)?,
            }
        };
        if !more {
            return Ok(false);
        }
        match self.expected {
            None => self.expected = Some(self.len()),
            Some(expected) if expected != self.len() => {
                return Err(RowsError::Unequal {
                    expected,
                    len: self.len(),
                });
            }
            Some(_) => {}
        }
        Ok(true)
    }

    /// Moves the unread bytes to the front of the buffer (growing it when they fill it) and
    /// reads more after them; sets `eof` when the source has no more.
    fn fill(&mut self) -> std::io::Result<()> {
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            return Ok(());
        }
    }

    /// Parses a plain record at `pos` entirely within the buffer.
    fn fast(&mut self) -> Fast {
        if !self.started {
            self.started = true;
            return Fast::Odd;
        }
        let b = &self.buf[self.pos..self.end];
        // A record starting with a blank line (or at the end) is csv_core's to skip.
        if matches!(b.first(), None | Some(b'\n' | b'\r')) {
            return if b.is_empty() { Fast::Short } else { Fast::Odd };
        }
        // Cells are copied a word at a time while their ends are looked for; unescaping only
        // shortens, so the record fits in as many bytes as the buffer holds, plus the slack
        // `copy_until` needs.
        if self.data.len() < b.len() + 8 {
            self.data.resize(b.len() + 8, 0);
        }
        let out = &mut self.data[..];
        let d = self.delim;
        let cell_end = [d, b'\n', b'\r'];
        let (mut i, mut o) = (0, 0);
        // Quoted cells may hold line breaks: they are counted once the record's end is known.
        let mut quoted = false;
        loop {
            // One cell starting at `i`.
            if b.get(i) == Some(&b'"') && d != b'"' {
                quoted = true;
                i += 1;
                loop {
                    let Some(q) = scan::copy_until(&b[i..], &mut out[o..], [b'"']) else {
                        return Fast::Short;
                    };
                    i += q;
                    o += q;
                    match b.get(i + 1) {
                        None => return Fast::Short,
                        Some(b'"') => {
                            out[o] = b'"';
                            o += 1;
                            i += 2;
                        }
                        Some(_) => {
                            i += 1;
                            break;
                        }
                    }
                }
                // After the closing quote only a delimiter or the record's end is plain.
                match b.get(i) {
                    Some(&c) if cell_end.contains(&c) => {}
                    _ => return Fast::Odd,
                }
            } else {
                let Some(n) = scan::copy_until(&b[i..], &mut out[o..], cell_end) else {
                    return Fast::Short;
                };
                i += n;
                o += n;
            }
            self.ends.push(o);
            match b[i] {
                c if c == d => i += 1,
                b'\n' => {
                    i += 1;
                    break;
                }
                _ => match b.get(i + 1) {
                    // CRLF; a bare CR also ends a record, but csv_core keeps state for it.
                    Some(b'\n') => {
                        i += 2;
                        self.lagging_lf = 1;
                        break;
                    }
                    Some(_) => return Fast::Odd,
                    None => return Fast::Short,
                },
            }
        }
        // Every LF of the record, less the lagging one of a CRLF.
        let lf = if quoted {
            memchr::memchr_iter(b'\n', &b[..i]).count() as u64
        } else {
            1
        };
        self.line += lf - self.lagging_lf;
        self.pos += i;
        Fast::Done
    }

    /// Parses one record at `pos` with `csv_core`, as the `csv` crate does. `Ok(false)` at
    /// the end of the input.
    fn slow(&mut self) -> Result<bool, RowsError> {
        self.ends.clear();
        if self.data.len() < 1024 {
            self.data.resize(1024, 0);
        }
        self.ends.resize(self.ends.capacity().max(32), 0);
        let (mut outlen, mut endlen) = (0, 0);
        loop {
            if self.pos == self.end && !self.eof {
                self.fill().map_err(RowsError::Io)?;
            }
            let input = &self.buf[self.pos..self.end];
            let (res, nin, nout, nend) =
                self.core
                    .read_record(input, &mut self.data[outlen..], &mut self.ends[endlen..]);
            self.line += memchr::memchr_iter(b'\n', &input[..nin]).count() as u64;
            self.pos += nin;
            outlen += nout;
            endlen += nend;
            match res {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    let n = self.data.len() * 2;
                    self.data.resize(n, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                ReadRecordResult::Record => {
                    self.ends.truncate(endlen);
                    return Ok(true);
                }
                ReadRecordResult::End => {
                    self.ends.clear();
                    return Ok(false);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each record's cells and starting line, or its error in words.
    type Rows = Vec<Result<(Vec<Vec<u8>>, u64), String>>;

    /// Every record or error, as this reader gives them.
    fn ours(input: &[u8], chunk: usize) -> Rows {
        let mut r = CsvRows::new(Box::new(std::io::Cursor::new(input.to_vec())), b',', chunk);
        let mut out = Vec::new();
        loop {
            match r.read() {
                Ok(true) => {
                    let cells = (0..r.len()).map(|i| r.get(i).unwrap().to_vec()).collect();
                    out.push(Ok((cells, r.record_line())));
                }
                Ok(false) => return out,
                Err(RowsError::Unequal { expected, len }) => {
                    out.push(Err(format!("{expected} {len} line {}", r.record_line())))
                }
                Err(RowsError::Io(e)) => panic!("{e}"),
            }
        }
    }

    /// The same from the `csv` crate, set up as ingest used it.
    fn theirs(input: &[u8]) -> Rows {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(input);
        let mut rec = csv::ByteRecord::new();
        let mut out = Vec::new();
        loop {
            match r.read_byte_record(&mut rec) {
                Ok(true) => {
                    let line = rec.position().unwrap().line();
                    out.push(Ok((rec.iter().map(<[u8]>::to_vec).collect(), line)));
                }
                Ok(false) => return out,
                Err(e) => match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len,
                        len,
                        pos,
                    } => out.push(Err(format!(
                        "{expected_len} {len} line {}",
                        pos.as_ref().unwrap().line()
                    ))),
                    _ => panic!("{e}"),
                },
            }
        }
    }

    #[test]
    fn tricky_records_parse_as_the_csv_crate_parses_them() {
        let cases: &[&[u8]] = &[
            b"a,b\n1,2\n",
            b"a,b\r\n1,2\r\n\r\n3,4",
            b"\xef\xbb\xbfa,b\n\"x\"\"y\",\"multi\nline\"\n\"\",\n",
            b"a,b\n\"ab\"cd,e\n1\r2,3\n",
            b"a,b\n\n\n1,2\n3\n4,5,6\n7,\"8",
            b"a,b\n\"unterminated,x\nmore\n",
            b"a,\"\"\"\"\nx\"y,z\"\n",
            b"h\n\"\"\n\"\n",
            b"",
            b"\n\n",
            b"a,b\r",
            b"a,b\n1,\"2\"\r",
            // Cells longer than a word, doubled quotes at word edges, a record that outgrows
            // the one before it (the scratch space grows) and one shorter after it.
            b"h1,h2\n\"{\"\"Content-Type\"\":\"\"application/json\"\",\"\"User-Agent\"\":\"\"M/5.0 (X11; \
              Linux)\"\"}\",plain-cell-longer-than-a-word\r\n\"1234567\"\"\",12345678\n\"\"\"\",\"\"\n",
        ];
        for (n, case) in cases.iter().enumerate() {
            for chunk in [1, 3, 7, 64, 4096] {
                assert_eq!(ours(case, chunk), theirs(case), "case {n}, chunk {chunk}");
            }
        }
    }

    #[test]
    fn random_bytes_parse_as_the_csv_crate_parses_them() {
        // Short random texts over the bytes that matter to CSV, fed in small chunks so records
        // cross the buffer's end.
        let alphabet = b"ab,,\"\"\n\r \xc3\xa9";
        for text in crate::testing::random_texts(0x2545_f491_4f6c_dd1d, 3_000, 0..40, alphabet) {
            for chunk in [1, 5, 64] {
                assert_eq!(ours(&text, chunk), theirs(&text), "{text:?}, chunk {chunk}");
            }
        }
    }
}
