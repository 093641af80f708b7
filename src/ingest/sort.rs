//! Stable external sort of records by `ts`, within a memory budget.
//!
//! Records are buffered until their estimated size reaches the budget; the buffer is then
//! sorted (stably) and spilled as a run to a temp file. At the end the runs are k-way merged,
//! ties going to the earlier run, so records with equal `ts` keep their input order — a
//! session's requests stay in order. Spill files live in a temp folder that is removed at the
//! end and on every error path (it is dropped with the sorter).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::IngestError;
use crate::trace::TraceRecord;

/// Default in-memory budget: estimated record bytes buffered before a spill. Real heap use is
/// somewhat above the estimate (allocator slack), and the Parquet writer needs its own room,
/// so this keeps peak memory well under 256 MB.
pub const DEFAULT_BUDGET: usize = 64 * 1024 * 1024;

pub(crate) struct Sorter {
    budget: usize,
    buf: Vec<TraceRecord>,
    bytes: usize,
    extra: usize,
    spill_parent: PathBuf,
    dir: Option<tempfile::TempDir>,
    runs: Vec<PathBuf>,
}

/// An estimate of a record's heap footprint.
pub(crate) fn approx_bytes(r: &TraceRecord) -> usize {
    const ALLOC: usize = 16;
    let s = |o: &Option<String>| o.as_ref().map_or(0, |s| s.capacity() + ALLOC);
    std::mem::size_of::<TraceRecord>()
        + r.method.capacity()
        + r.path.capacity()
        + 2 * ALLOC
        + s(&r.host)
        + s(&r.headers)
        + s(&r.session)
        + r.body.as_ref().map_or(0, |b| b.capacity() + ALLOC)
        + r.extra.capacity() * std::mem::size_of::<Option<String>>()
        + r.extra.iter().map(s).sum::<usize>()
}

impl Sorter {
    /// A sorter whose spill folder (if it needs one) is created inside `spill_parent`.
    pub fn new(budget: usize, extra: usize, spill_parent: &Path) -> Self {
        Sorter {
            budget: budget.max(1),
            buf: Vec::new(),
            bytes: 0,
            extra,
            spill_parent: spill_parent.to_path_buf(),
            dir: None,
            runs: Vec::new(),
        }
    }

    /// Number of runs spilled so far.
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    pub fn push(&mut self, r: TraceRecord) -> Result<(), IngestError> {
        self.bytes += approx_bytes(&r);
        self.buf.push(r);
        if self.bytes >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    fn spill_err(&self, reason: String) -> IngestError {
        IngestError::Spill {
            dir: self
                .dir
                .as_ref()
                .map_or(self.spill_parent.clone(), |d| d.path().to_path_buf()),
            reason,
        }
    }

    fn spill(&mut self) -> Result<(), IngestError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.dir.is_none() {
            let dir = tempfile::Builder::new()
                .prefix(".esr-spill-")
                .tempdir_in(&self.spill_parent)
                .map_err(|e| self.spill_err(format!("cannot create the folder: {e}")))?;
            self.dir = Some(dir);
        }
        let path = self
            .dir
            .as_ref()
            .expect("created above")
            .path()
            .join(format!("run-{:05}.bin", self.runs.len()));
        self.buf.sort_by_key(|r| r.ts_us);
        let file = File::create(&path).map_err(|e| self.spill_err(e.to_string()))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        for r in &self.buf {
            encode(&mut w, r).map_err(|e| self.spill_err(e.to_string()))?;
        }
        w.flush().map_err(|e| self.spill_err(e.to_string()))?;
        self.runs.push(path);
        self.buf.clear();
        self.bytes = 0;
        Ok(())
    }

    /// Hands every record to `sink` in `ts` order (stable), then removes the spill files.
    pub fn finish<E>(
        mut self,
        mut sink: impl FnMut(&TraceRecord) -> Result<(), E>,
    ) -> Result<Result<(), E>, IngestError> {
        self.buf.sort_by_key(|r| r.ts_us);
        if self.runs.is_empty() {
            for r in &self.buf {
                if let Err(e) = sink(r) {
                    return Ok(Err(e));
                }
            }
            return Ok(Ok(()));
        }
        // The in-memory tail is the last run: ties go to earlier runs, so it comes last.
        let mut readers = Vec::with_capacity(self.runs.len());
        for p in &self.runs {
            let f = File::open(p).map_err(|e| self.spill_err(e.to_string()))?;
            readers.push(BufReader::with_capacity(256 * 1024, f));
        }
        let tail_idx = readers.len();
        let mut tail = std::mem::take(&mut self.buf).into_iter();
        let mut heads: Vec<Option<TraceRecord>> = Vec::with_capacity(tail_idx + 1);
        let mut heap = BinaryHeap::new();
        for (i, r) in readers.iter_mut().enumerate() {
            let rec = decode(r, self.extra).map_err(|e| self.spill_err(e.to_string()))?;
            if let Some(rec) = &rec {
                heap.push(Reverse((rec.ts_us, i)));
            }
            heads.push(rec);
        }
        let first_tail = tail.next();
        if let Some(rec) = &first_tail {
            heap.push(Reverse((rec.ts_us, tail_idx)));
        }
        heads.push(first_tail);
        while let Some(Reverse((_, i))) = heap.pop() {
            let rec = heads[i].take().expect("a head per heap entry");
            if let Err(e) = sink(&rec) {
                return Ok(Err(e));
            }
            let next = if i == tail_idx {
                tail.next()
            } else {
                decode(&mut readers[i], self.extra).map_err(|e| self.spill_err(e.to_string()))?
            };
            if let Some(n) = &next {
                heap.push(Reverse((n.ts_us, i)));
            }
            heads[i] = next;
        }
        Ok(Ok(()))
    }
}

const NONE: u32 = u32::MAX;

fn put_bytes(w: &mut impl Write, b: Option<&[u8]>) -> std::io::Result<()> {
    match b {
        Some(b) => {
            w.write_all(&(b.len() as u32).to_le_bytes())?;
            w.write_all(b)
        }
        None => w.write_all(&NONE.to_le_bytes()),
    }
}

/// Spill encoding: little-endian fixed fields, length-prefixed strings (`u32::MAX` = null).
fn encode(w: &mut impl Write, r: &TraceRecord) -> std::io::Result<()> {
    w.write_all(&r.ts_us.to_le_bytes())?;
    put_bytes(w, Some(r.method.as_bytes()))?;
    put_bytes(w, Some(r.path.as_bytes()))?;
    put_bytes(w, r.host.as_deref().map(str::as_bytes))?;
    put_bytes(w, r.headers.as_deref().map(str::as_bytes))?;
    put_bytes(w, r.body.as_deref())?;
    w.write_all(&r.status.map_or(NONE, u32::from).to_le_bytes())?;
    match r.latency_ms {
        Some(l) => {
            w.write_all(&[1])?;
            w.write_all(&l.to_le_bytes())?;
        }
        None => w.write_all(&[0])?,
    }
    put_bytes(w, r.session.as_deref().map(str::as_bytes))?;
    for e in &r.extra {
        put_bytes(w, e.as_deref().map(str::as_bytes))?;
    }
    Ok(())
}

fn get_u32(r: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn get_bytes(r: &mut impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let n = get_u32(r)?;
    if n == NONE {
        return Ok(None);
    }
    let mut v = vec![0; n as usize];
    r.read_exact(&mut v)?;
    Ok(Some(v))
}

fn get_string(r: &mut impl Read) -> std::io::Result<Option<String>> {
    get_bytes(r)?
        .map(|b| String::from_utf8(b).map_err(|_| std::io::ErrorKind::InvalidData.into()))
        .transpose()
}

/// Reads the next record of a run; `None` at its end.
fn decode(r: &mut impl Read, extra: usize) -> std::io::Result<Option<TraceRecord>> {
    let mut ts = [0; 8];
    match r.read_exact(&mut ts) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let bad = || std::io::Error::from(std::io::ErrorKind::InvalidData);
    let method = get_string(r)?.ok_or_else(bad)?;
    let path = get_string(r)?.ok_or_else(bad)?;
    let host = get_string(r)?;
    let headers = get_string(r)?;
    let body = get_bytes(r)?;
    let status = match get_u32(r)? {
        NONE => None,
        s => Some(u16::try_from(s).map_err(|_| bad())?),
    };
    let mut flag = [0; 1];
    r.read_exact(&mut flag)?;
    let latency_ms = if flag[0] == 1 {
        let mut b = [0; 8];
        r.read_exact(&mut b)?;
        Some(f64::from_le_bytes(b))
    } else {
        None
    };
    let session = get_string(r)?;
    let mut ex = Vec::with_capacity(extra);
    for _ in 0..extra {
        ex.push(get_string(r)?);
    }
    Ok(Some(TraceRecord {
        ts_us: i64::from_le_bytes(ts),
        method,
        path,
        host,
        headers,
        body,
        status,
        latency_ms,
        session,
        extra: ex,
    }))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A record whose optional fields vary with `seq`, so reordering bugs show.
    pub(crate) fn rec(ts: i64, seq: usize) -> TraceRecord {
        TraceRecord {
            ts_us: ts,
            method: "GET".into(),
            path: format!("/r/{seq}"),
            host: seq.is_multiple_of(2).then(|| "h".into()),
            headers: Some("{}".into()),
            body: seq.is_multiple_of(3).then(|| vec![0, 255, 7]),
            status: (!seq.is_multiple_of(5)).then_some(200),
            latency_ms: (!seq.is_multiple_of(4)).then_some(1.25),
            session: Some(format!("s{}", seq % 7)),
            extra: vec![None, Some(seq.to_string())],
        }
    }

    fn sorted(budget: usize, n: usize) -> (Vec<TraceRecord>, usize, Vec<TraceRecord>) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Sorter::new(budget, 2, dir.path());
        // Many equal timestamps, out of order: stability is visible.
        let input: Vec<TraceRecord> = (0..n).map(|i| rec(((i * 7919) % 13) as i64, i)).collect();
        for r in input.clone() {
            s.push(r).unwrap();
        }
        let runs = s.spilled_runs();
        let mut out = Vec::new();
        s.finish(|r| {
            out.push(r.clone());
            Ok::<(), ()>(())
        })
        .unwrap()
        .unwrap();
        // The spill folder is gone.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        (input, runs, out)
    }

    #[test]
    fn spilled_merge_equals_stable_in_memory_sort() {
        let (mut input, runs, out) = sorted(2_000, 1_000);
        assert!(runs > 10, "only {runs} runs");
        input.sort_by_key(|r| r.ts_us);
        assert_eq!(out, input);
    }

    #[test]
    fn in_memory_sort_is_stable() {
        let (mut input, runs, out) = sorted(DEFAULT_BUDGET, 1_000);
        assert_eq!(runs, 0);
        input.sort_by_key(|r| r.ts_us);
        assert_eq!(out, input);
    }
}
