//! Reading the trace for a replay: a first, cheap pass over the `ts` and `session` columns
//! for the schedule's span and the intended count, then the feed that streams the rows as
//! ready-to-send jobs, pass after pass, in bounded memory (a bounded channel holds it back).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, StringArray, TimestampMicrosecondArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tokio::sync::mpsc;

use super::ReplayError;
use super::dispatcher::Job;
use super::schedule::{RowKey, Schedule, ScheduleOptions, TraceSpan};
use crate::trace::{TraceError, TraceReader, TraceRecord, fold_path, records_of};

/// What the first pass learned.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The schedule, bound to the trace's span.
    pub schedule: Schedule,
    /// Pass-0 due times of the rows this replay owns.
    pub owned_dues: Vec<i64>,
}

/// Reads only `ts` and `session` (columns 0 and 8 of the canonical schema) to bind `opts` to
/// the trace and list the due times this replay owns. The trace must already have been
/// opened with [`TraceReader::open`] (which checks the schema).
pub fn scan(path: &Path, opts: ScheduleOptions) -> Result<Scan, ReplayError> {
    let read_err = |row: u64, e: &dyn std::fmt::Display| TraceError::Read {
        path: path.to_path_buf(),
        row,
        reason: e.to_string(),
    };
    let file = File::open(path).map_err(|source| TraceError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_err(1, &e))?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), [0, 8]);
    // Sized once from the footer: grown by doubling, a 5M-row trace's list peaked at its old
    // and new buffers together (~200 MB) during the copy. Pages a shard never fills are
    // never touched, so they cost no memory.
    let capacity = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| read_err(1, &e))?;

    // Timing needs the first and last ts; ownership needs each row's session. Keep the
    // ts of owned rows only, and turn them into due times once the span is known.
    let mut first = None;
    let mut last = 0i64;
    let mut rows = 0u64;
    let mut owned: Vec<(u64, i64)> = Vec::with_capacity(capacity);
    let probe = Schedule::new(
        opts,
        TraceSpan {
            first_ts_us: 0,
            last_ts_us: 0,
            rows: 1,
        },
    );
    for batch in reader {
        let batch = batch.map_err(|e| read_err(rows + 1, &e))?;
        let ts = batch
            .column(0)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .ok_or_else(|| read_err(rows + 1, &"`ts` is not a timestamp column"))?;
        let session = batch
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| read_err(rows + 1, &"`session` is not a text column"))?;
        for i in 0..batch.num_rows() {
            let t = ts.value(i);
            first.get_or_insert(t);
            last = t;
            let s = (!session.is_null(i)).then(|| session.value(i));
            if probe.owns(s, rows) {
                owned.push((rows, t));
            }
            rows += 1;
        }
    }
    let span = TraceSpan {
        first_ts_us: first.unwrap_or(0),
        last_ts_us: last,
        rows,
    };
    let schedule = Schedule::new(opts, span);
    let owned_dues = owned
        .into_iter()
        .map(|(row, ts)| schedule.due_us(0, row, ts))
        .collect();
    Ok(Scan {
        schedule,
        owned_dues,
    })
}

/// Streams the trace at `path` as jobs into `jobs`, pass after pass, until the schedule ends
/// or the receiver is gone (the run stopped). `prepare` turns a row into the transport's
/// request. Runs on a thread of its own: it blocks on the channel, which holds it a few
/// thousand jobs (batches of 256) ahead of the dispatcher.
pub fn feed<R>(
    path: PathBuf,
    schedule: Schedule,
    prepare: impl Fn(&TraceRecord) -> Result<R, &'static str>,
    jobs: mpsc::Sender<Vec<Job<R>>>,
) -> Result<u64, ReplayError> {
    let mut fed = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    let mut pass = 0u64;
    while schedule.pass_open(pass) {
        let mut row = 0u64;
        let mut any = false;
        for rows in TraceReader::open(&path)?.batches(1024)? {
            for rec in records_of(&rows?) {
                let key = RowKey {
                    ts_us: rec.ts_us,
                    session: rec.session.as_deref(),
                };
                if let Some(p) = schedule.plan_row(pass, row, key) {
                    any = true;
                    let job = Job {
                        seq: p.seq,
                        due_us: p.due_us,
                        endpoint: fold_path(&rec.path),
                        request: prepare(&rec),
                        session: rec.session,
                        method: rec.method,
                        path: rec.path,
                    };
                    batch.push(job);
                    fed += 1;
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if jobs.blocking_send(full).is_err() {
                            return Ok(fed);
                        }
                    }
                }
                row += 1;
            }
        }
        // A pass that planned nothing (a shard owning no rows) would loop forever.
        if !any {
            break;
        }
        pass += 1;
    }
    if !batch.is_empty() {
        let _ = jobs.blocking_send(batch);
    }
    Ok(fed)
}

/// Jobs per message to the dispatcher.
const BATCH: usize = 256;
