//! Streaming sort for nearly-ordered input: a bounded reorder buffer in front of the writer.
//!
//! Real logs are out of order only within seconds, so most ingests need no external sort.
//! Rows wait in a buffer ordered by `(ts, input sequence)`; a row is written as soon as it is
//! older than the newest `ts` seen minus [`WINDOW_US`] (or when the buffer outgrows the
//! memory budget). If a row then arrives older than one already written, the streamed prefix
//! is closed as a temp trace, the buffer and every later row go to the spilling [`Sorter`],
//! and at the end the prefix is merged with the sorter's output into a fresh trace. Either
//! way the output equals a stable sort by `ts`: ties keep input order.
//!
//! The buffer's keys are kept sorted in chunks rather than in a heap: arriving keys collect
//! unsorted, and every [`CHUNK`] rows they are sorted and merged into the tail of the sorted
//! keys (out-of-order rows land near the end, so only that tail moves). A heap cost a
//! pointer-chasing push and pop per row; this costs a small sort and a short merge.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::IngestError;
use super::sort::{Sorter, approx_bytes};
use crate::trace::{TraceError, TraceMeta, TraceReader, TraceRecord, TraceWriter};

/// How far behind the newest timestamp a row may arrive and still be streamed.
pub const WINDOW_US: i64 = 60_000_000;

/// Rows whose keys are sorted and merged at a time.
const CHUNK: usize = 1024;

/// Sorts records by `ts` (stable) into a [`TraceWriter`], streaming while it can.
pub(crate) struct Reorder {
    window_us: i64,
    budget: usize,
    /// `(ts, seq)` of rows pushed since the last merge, in arrival order.
    pending: Vec<(i64, u64)>,
    /// `(ts, seq)` of the other buffered rows, ascending. Keys are unique (`seq` is), so the
    /// order is total and equals a stable sort by `ts`. The rows themselves sit in `slots`,
    /// so sorting moves 16-byte keys, not records.
    sorted: VecDeque<(i64, u64)>,
    /// Scratch for merging, kept to reuse its allocation.
    tail: Vec<(i64, u64)>,
    /// Buffered rows with their estimated size, by `seq - first_seq`; `None` once written.
    slots: VecDeque<Option<(TraceRecord, usize)>>,
    first_seq: u64,
    bytes: usize,
    seq: u64,
    max_ts: i64,
    emitted: Option<i64>,
    writer: TraceWriter,
    output: PathBuf,
    spill_parent: PathBuf,
    /// After a fallback: the streamed prefix (a closed temp trace) and the spilling sorter.
    fallback: Option<(NamedTempFile, Sorter)>,
}

impl Reorder {
    /// Streams into `writer` (whose target is `output`); spills, if it must, in `spill_parent`.
    pub fn new(
        writer: TraceWriter,
        output: &Path,
        budget: usize,
        window_us: i64,
        spill_parent: &Path,
    ) -> Self {
        Reorder {
            window_us,
            budget: budget.max(1),
            pending: Vec::with_capacity(CHUNK),
            sorted: VecDeque::new(),
            tail: Vec::new(),
            slots: VecDeque::new(),
            first_seq: 0,
            bytes: 0,
            seq: 0,
            max_ts: i64::MIN,
            emitted: None,
            writer,
            output: output.to_path_buf(),
            spill_parent: spill_parent.to_path_buf(),
            fallback: None,
        }
    }

    /// Sorted runs spilled so far (0 while streaming).
    pub fn spilled_runs(&self) -> usize {
        self.fallback.as_ref().map_or(0, |(_, s)| s.spilled_runs())
    }

    /// Whether the input turned out too disordered to stream.
    #[cfg(test)]
    pub fn fell_back(&self) -> bool {
        self.fallback.is_some()
    }

    pub fn push(&mut self, rec: TraceRecord) -> Result<(), IngestError> {
        if let Some((_, sorter)) = &mut self.fallback {
            return sorter.push(rec);
        }
        // Every written row was merged and sorted first, so this catches each row that
        // belongs before one already written.
        if self.emitted.is_some_and(|e| rec.ts_us < e) {
            self.fall_back()?;
            return self.push(rec);
        }
        self.max_ts = self.max_ts.max(rec.ts_us);
        let size = approx_bytes(&rec);
        self.bytes += size;
        self.pending.push((rec.ts_us, self.seq));
        self.slots.push_back(Some((rec, size)));
        self.seq += 1;
        if self.pending.len() >= CHUNK || self.bytes >= self.budget {
            self.merge();
            let horizon = self.max_ts.saturating_sub(self.window_us);
            while let Some(&(ts, _)) = self.sorted.front() {
                if ts >= horizon && self.bytes < self.budget {
                    break;
                }
                self.write_first()?;
            }
        }
        Ok(())
    }

    /// Sorts the pending keys into `sorted`. Only the part of `sorted` at or after the
    /// smallest pending key moves.
    fn merge(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        self.pending.sort_unstable();
        let first = self.pending[0];
        let keep = self.sorted.partition_point(|k| *k < first);
        self.tail.clear();
        self.tail.extend(self.sorted.drain(keep..));
        let (mut a, mut b) = (self.tail.iter().peekable(), self.pending.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x < y => a.next(),
                (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => break,
            };
            self.sorted.push_back(*next.expect("peeked"));
        }
        self.pending.clear();
    }

    /// Writes the buffered row with the smallest `(ts, seq)`; `sorted` must not be empty.
    fn write_first(&mut self) -> Result<(), IngestError> {
        let (ts, seq) = self.sorted.pop_front().expect("a buffered row");
        let (rec, size) = self.slots[(seq - self.first_seq) as usize]
            .take()
            .expect("a row per key");
        self.bytes -= size;
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.first_seq += 1;
        }
        self.emitted = Some(ts);
        self.writer.write(&rec)?;
        Ok(())
    }

    /// Closes the streamed prefix as a temp trace and moves the buffer, in input order, into
    /// a spilling sorter; a fresh writer takes the output. Called up front, it makes a plain
    /// external sort.
    pub fn fall_back(&mut self) -> Result<(), IngestError> {
        let extra = self.writer.extra_columns().to_vec();
        let fresh = TraceWriter::create(&self.output, extra.clone())?;
        let prefix = std::mem::replace(&mut self.writer, fresh).finish_temp(TraceMeta::default())?;
        let mut sorter = Sorter::new(self.budget, extra.len(), &self.spill_parent);
        // Buffered rows in input order, as the sorter's stability needs.
        self.pending.clear();
        self.sorted.clear();
        for (rec, _) in std::mem::take(&mut self.slots).into_iter().flatten() {
            sorter.push(rec)?;
        }
        self.bytes = 0;
        self.fallback = Some((prefix, sorter));
        Ok(())
    }

    /// Writes every remaining record and hands back the writer, ready to finish.
    pub fn finish(mut self) -> Result<TraceWriter, IngestError> {
        let Some((prefix, sorter)) = self.fallback.take() else {
            self.merge();
            while !self.sorted.is_empty() {
                self.write_first()?;
            }
            return Ok(self.writer);
        };
        // Ties go to the prefix: its rows came before every row of equal `ts` still unwritten.
        let mut earlier = TraceReader::open(prefix.path())?.records()?.peekable();
        let writer = &mut self.writer;
        sorter
            .finish(|r: &TraceRecord| -> Result<(), TraceError> {
                while let Some(p) =
                    earlier.next_if(|p| p.as_ref().map_or(true, |p| p.ts_us <= r.ts_us))
                {
                    writer.write(&p?)?;
                }
                writer.write(r)
            })?
            .map_err(IngestError::Trace)?;
        for p in earlier {
            self.writer.write(&p?)?;
        }
        drop(prefix);
        Ok(self.writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::sort::tests::rec;

    /// Runs `input` through a reorder buffer; returns the trace's rows, whether it fell back,
    /// and the spilled runs.
    fn reorder(
        input: &[TraceRecord],
        budget: usize,
        window: i64,
    ) -> (Vec<TraceRecord>, bool, usize) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("t.parquet");
        let w = TraceWriter::create(&out, vec!["a".into(), "b".into()]).unwrap();
        let mut r = Reorder::new(w, &out, budget, window, dir.path());
        for x in input {
            r.push(x.clone()).unwrap();
        }
        let (fell, runs) = (r.fell_back(), r.spilled_runs());
        let rows = r.finish().unwrap().finish(TraceMeta::default()).unwrap();
        assert_eq!(rows, input.len() as u64);
        let got: Vec<TraceRecord> = TraceReader::open(&out)
            .unwrap()
            .records()
            .unwrap()
            .map(Result::unwrap)
            .collect();
        // Only the trace is left: no temp prefix, no spill folder.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        (got, fell, runs)
    }

    fn stable_sorted(input: &[TraceRecord]) -> Vec<TraceRecord> {
        let mut v = input.to_vec();
        v.sort_by_key(|r| r.ts_us);
        v
    }

    #[test]
    fn nearly_sorted_input_streams_and_equals_stable_sort() {
        // Out of order within 3 units, many ties; a window of 10 absorbs it.
        let input: Vec<TraceRecord> = (0..3_000)
            .map(|i| rec((i / 4) as i64 * 2 + ((i * 7919) % 3) as i64, i))
            .collect();
        let (got, fell, runs) = reorder(&input, usize::MAX, 10);
        assert!(!fell);
        assert_eq!(runs, 0);
        assert_eq!(got, stable_sorted(&input));
    }

    #[test]
    fn disorder_wider_than_a_chunk_merges_into_the_sorted_keys() {
        // Rows jump back by up to ~3 chunks' worth of positions, with ties: each merge must
        // reach deep into the sorted keys, yet nothing falls back.
        let n = 5 * CHUNK + 17;
        let input: Vec<TraceRecord> = (0..n)
            .map(|i| rec((i / 2) as i64 + ((i * 7919) % (3 * CHUNK)) as i64, i))
            .collect();
        let (got, fell, _) = reorder(&input, usize::MAX, 4 * CHUNK as i64);
        assert!(!fell);
        assert_eq!(got, stable_sorted(&input));
    }

    #[test]
    fn late_row_forces_fallback_and_output_still_equals_stable_sort() {
        // Ordered with ties, then rows far older than what was written, then more ties at
        // the prefix's timestamps: the prefix must win those ties.
        let mut input: Vec<TraceRecord> = (0..2_000).map(|i| rec((i / 5) as i64, i)).collect();
        input.extend((2_000..2_600).map(|i| rec(((i * 7919) % 50) as i64, i)));
        input.extend((2_600..3_000).map(|i| rec((i % 400) as i64, i)));
        // Small budget: the fallback sorter spills too.
        let (got, fell, runs) = reorder(&input, 4_000, 10);
        assert!(fell);
        assert!(runs > 2, "only {runs} runs");
        assert_eq!(got, stable_sorted(&input));
    }

    #[test]
    fn memory_budget_forces_early_writes_yet_order_holds() {
        // Reverse order with a huge window: the budget makes it write early, then fall back.
        let input: Vec<TraceRecord> = (0..1_500)
            .map(|i| rec(((1_500 - i) / 3) as i64, i))
            .collect();
        let (got, fell, _) = reorder(&input, 3_000, i64::MAX);
        assert!(fell);
        assert_eq!(got, stable_sorted(&input));
        // Fits the budget: everything stays in the buffer, no fallback.
        let (got, fell, _) = reorder(&input, usize::MAX, i64::MAX);
        assert!(!fell);
        assert_eq!(got, stable_sorted(&input));
    }
}
