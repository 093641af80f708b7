//! The ingest pipeline: read every input, map, validate, transform, sort, write atomically.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::input::{InputReader, read_input};
use super::reorder::{Reorder, WINDOW_US};
use super::sort::DEFAULT_BUDGET;
use super::timestamp::TsUnit;
use super::{Format, IngestError, ReadOptions, RowError};
use crate::trace::{RecordTransform, TraceRecord, TraceWriter};

/// What to do with a bad row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// Stop at the first bad row (exit 2); no trace is written.
    #[default]
    Fail,
    /// Write the row's number and reason to `TRACE.rejects.csv` and go on.
    Quarantine,
}

impl FromStr for OnError {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fail" => Ok(OnError::Fail),
            "quarantine" => Ok(OnError::Quarantine),
            _ => Err(format!(
                "`{s}` is not an error policy; use fail or quarantine"
            )),
        }
    }
}

/// Settings of one ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// How the inputs are read.
    pub read: ReadOptions,
    /// What to do with a bad row.
    pub on_error: OnError,
    /// Estimated bytes of records held in memory before a sorted run is spilled to disk.
    pub sort_budget: usize,
    /// Where spill files go (a temp folder is made inside); `None` means beside the output,
    /// on the same disk as the trace rather than a possibly memory-backed `/tmp`.
    pub spill_dir: Option<PathBuf>,
    /// Stream nearly-ordered input straight to the trace through a bounded reorder buffer,
    /// falling back to the external sort only if a row arrives too late (the default);
    /// `false` always uses the external sort.
    pub stream: bool,
    /// Threads the transform runs on when it offers workers (the scrubber does); 0 (the
    /// default) means one per core, up to [`MAX_AUTO_LANES`] (see [`lanes_for`]). The output
    /// is the same for any count.
    pub transform_threads: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            read: ReadOptions::default(),
            on_error: OnError::Fail,
            sort_budget: DEFAULT_BUDGET,
            spill_dir: None,
            stream: true,
            transform_threads: 0,
        }
    }
}

/// Counts for one input.
#[derive(Debug, Clone, PartialEq)]
pub struct InputCount {
    /// The input file.
    pub path: PathBuf,
    /// The format read.
    pub format: Format,
    /// Data rows read.
    pub rows_in: u64,
    /// Rows set aside as bad.
    pub rejected: u64,
    /// The epoch unit detected for its timestamps, if any.
    pub ts_unit: Option<TsUnit>,
}

/// What an ingest did. Always `rows_in == rows_out + rows_rejected`.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestReport {
    /// Data rows read over all inputs.
    pub rows_in: u64,
    /// Rows written to the trace.
    pub rows_out: u64,
    /// Rows set aside (quarantine).
    pub rows_rejected: u64,
    /// The epoch unit detected for the timestamps (the first input's that had one).
    pub ts_unit: Option<TsUnit>,
    /// Per-input counts, in the order given.
    pub inputs: Vec<InputCount>,
    /// The trace's extra columns (after the transform).
    pub extra_columns: Vec<String>,
    /// Sorted runs spilled to disk (0 when the input fit the memory budget).
    pub spilled_runs: usize,
    /// The rejects file, written with `--on-error quarantine`.
    pub rejects: Option<PathBuf>,
}

/// `TRACE.rejects.csv` beside the trace: `out.parquet` → `out.rejects.csv`.
pub fn rejects_path(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trace".into());
    output.with_file_name(format!("{stem}.rejects.csv"))
}

struct Rejects {
    path: PathBuf,
    w: csv::Writer<std::fs::File>,
}

impl Rejects {
    fn create(path: PathBuf) -> Result<Self, IngestError> {
        let err = |e: csv::Error| IngestError::Rejects {
            path: path.clone(),
            reason: e.to_string(),
        };
        let mut w = csv::Writer::from_path(&path).map_err(err)?;
        w.write_record(["file", "row", "line", "column", "reason"])
            .map_err(err)?;
        Ok(Rejects { path, w })
    }

    fn add(&mut self, e: &RowError) -> Result<(), IngestError> {
        let line = e.line.map(|l| l.to_string()).unwrap_or_default();
        self.w
            .write_record([
                e.file.display().to_string().as_str(),
                &e.row.to_string(),
                &line,
                e.column.as_deref().unwrap_or(""),
                &e.problem,
            ])
            .map_err(|err| IngestError::Rejects {
                path: self.path.clone(),
                reason: err.to_string(),
            })
    }
}

/// Reads `inputs`, maps and validates every row, applies `transform` to each row before it is
/// buffered or spilled, sorts by `ts` (stable) and writes the trace to `output` atomically.
///
/// The transform's `begin` gets the union of the inputs' extra columns (headers are read
/// first) and its `meta` goes into the trace's metadata, with `esr.ingest.*` entries.
pub fn ingest(
    inputs: &[PathBuf],
    output: &Path,
    opts: &IngestOptions,
    transform: Box<dyn RecordTransform>,
) -> Result<IngestReport, IngestError> {
    let result = run(inputs, output, opts, transform);
    if result.is_err() && opts.on_error == OnError::Quarantine {
        // No trace was written, so a rejects file would describe nothing.
        let _ = std::fs::remove_file(rejects_path(output));
    }
    result
}

fn run(
    inputs: &[PathBuf],
    output: &Path,
    opts: &IngestOptions,
    mut transform: Box<dyn RecordTransform>,
) -> Result<IngestReport, IngestError> {
    if inputs.is_empty() {
        return Err(IngestError::NoInputs);
    }
    let readers: Vec<InputReader> = inputs
        .iter()
        .map(|p| read_input(p, &opts.read))
        .collect::<Result<_, _>>()?;
    let mut union: Vec<String> = Vec::new();
    for r in &readers {
        for c in r.extra_columns() {
            if !union.contains(c) {
                union.push(c.clone());
            }
        }
    }
    let out_extra = transform.begin(&union).map_err(IngestError::Transform)?;
    let writer = TraceWriter::create(output, out_extra.clone())?;
    let spill_parent = match &opts.spill_dir {
        Some(d) => d.clone(),
        None => match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        },
    };
    // Streams while the input is nearly in order; spills only if a row arrives too late.
    let mut sorter = Reorder::new(writer, output, opts.sort_budget, WINDOW_US, &spill_parent);
    if !opts.stream {
        sorter.fall_back()?;
    }
    let mut rejects = match opts.on_error {
        OnError::Quarantine => Some(Rejects::create(rejects_path(output))?),
        OnError::Fail => None,
    };
    let mut counts: Vec<InputCount> = readers
        .iter()
        .map(|r| InputCount {
            path: r.path().to_path_buf(),
            format: r.format(),
            rows_in: 0,
            rejected: 0,
            ts_unit: None,
        })
        .collect();
    let mut rows_in = 0u64;
    let mut rejected = 0u64;
    // Three stages on their own threads, joined by bounded channels of row batches: reading
    // (parse, map, validate), the transform, and here sorting and writing. Dropping a
    // receiver (an early return) stops the stages before it.
    let transform = std::thread::scope(|sc| -> Result<_, IngestError> {
        let (read_tx, read_rx) = sync_channel::<Msg>(CHANNEL_BATCHES);
        let (out_tx, out_rx) = sync_channel::<Msg>(CHANNEL_BATCHES);
        sc.spawn(move || read_all(readers, &union, read_tx));
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let lanes = lanes_for(opts.transform_threads, cores);
        let transformer = sc.spawn(move || transform_stage(transform, lanes, read_rx, out_tx));
        let mut input = 0;
        for msg in out_rx {
            let rows = match msg {
                Msg::Rows(rows) => rows,
                Msg::End(unit) => {
                    counts[input].ts_unit = unit;
                    input += 1;
                    continue;
                }
            };
            let count = &mut counts[input];
            for item in rows {
                rows_in += 1;
                count.rows_in += 1;
                match item {
                    Ok(rec) => sorter.push(rec)?,
                    Err(e) if e.fatal => {
                        return Err(IngestError::Unreadable {
                            error: e,
                            rows_in: rows_in - 1,
                        });
                    }
                    Err(e) => match &mut rejects {
                        Some(rj) => {
                            rj.add(&e)?;
                            rejected += 1;
                            count.rejected += 1;
                        }
                        None => return Err(IngestError::BadRow { error: e, rows_in }),
                    },
                }
            }
        }
        Ok(transformer
            .join()
            .expect("the transform thread does not panic"))
    })?;
    let spilled_runs = sorter.spilled_runs();
    let writer = sorter.finish()?;
    let mut meta = transform.meta();
    let ts_unit = counts.iter().find_map(|c| c.ts_unit);
    let other = &mut meta.other;
    other.insert("esr.ingest.rows_in".into(), rows_in.to_string());
    other.insert("esr.ingest.rejected".into(), rejected.to_string());
    other.insert("esr.ingest.inputs".into(), inputs.len().to_string());
    if let Some(u) = ts_unit {
        other.insert("esr.ingest.ts_unit".into(), format!("{u} (detected)"));
    } else if let Some(u) = opts.read.ts_unit {
        other.insert("esr.ingest.ts_unit".into(), format!("{u} (given)"));
    }
    if let Some(rj) = &mut rejects {
        rj.w.flush().map_err(|e| IngestError::Rejects {
            path: rj.path.clone(),
            reason: e.to_string(),
        })?;
    }
    let rows_out = writer.finish(meta)?;
    debug_assert_eq!(rows_in, rows_out + rejected);
    Ok(IngestReport {
        rows_in,
        rows_out,
        rows_rejected: rejected,
        ts_unit,
        inputs: counts,
        extra_columns: out_extra,
        spilled_runs,
        rejects: rejects.map(|r| r.path),
    })
}

/// Moves an input's extra values into the union's order (missing columns are null).
fn place(values: Vec<Option<String>>, slots: &[usize], width: usize) -> Vec<Option<String>> {
    let mut out = vec![None; width];
    for (v, &s) in values.into_iter().zip(slots) {
        out[s] = v;
    }
    out
}

/// Rows per batch handed between the pipeline's threads.
const BATCH_ROWS: usize = 2048;
/// Batches in flight per channel: bounds the memory the stages hold between them. Each
/// batch of a wide log is about 2 MB; two per channel keep every stage busy (8 were no
/// faster) and 6 fewer batches on each of the two channels cut two lanes' peak RSS.
const CHANNEL_BATCHES: usize = 2;
/// Batches in flight into and out of each transform lane (when there are several).
const LANE_BATCHES: usize = 1;

/// What flows between the pipeline's stages.
enum Msg {
    /// Rows of the current input, extra values already in the union's order.
    Rows(Vec<Result<TraceRecord, RowError>>),
    /// The current input is done; its detected epoch unit.
    End(Option<TsUnit>),
}

/// Most lanes the transform stage scrubs on by default. A lane beyond the cores only
/// interleaves; each lane holds its own memos (about 13 MB) and batches, and two lanes stay
/// under the memory bound of DESIGN.md with margin, so more must be asked for.
pub const MAX_AUTO_LANES: usize = 2;

/// The lanes to run for a requested count on a machine with `cores` cores: `requested`
/// itself, or for 0 one per core, at least 1 and at most [`MAX_AUTO_LANES`].
pub fn lanes_for(requested: usize, cores: usize) -> usize {
    match requested {
        0 => cores.clamp(1, MAX_AUTO_LANES),
        n => n,
    }
}

/// The transform stage: applies `transform` to every row from `rx` and passes the batches on
/// to `tx` in the order they came, then hands `transform` back (after its workers are gone).
///
/// With `lanes` > 1 and a transform that offers workers, batches are
/// dealt round-robin to one lane per instance and collected in the same round-robin order,
/// so the rows leave in input order whatever each lane's speed. Each lane owns its instance;
/// a worker's counts reach `transform` when the worker is dropped at its lane's end.
fn transform_stage(
    mut transform: Box<dyn RecordTransform>,
    lanes: usize,
    rx: Receiver<Msg>,
    tx: SyncSender<Msg>,
) -> Box<dyn RecordTransform> {
    let workers: Vec<Box<dyn RecordTransform>> = std::iter::from_fn(|| transform.worker())
        .take(lanes.saturating_sub(1))
        .collect();
    if workers.is_empty() {
        apply_all(transform.as_mut(), rx, &tx);
        return transform;
    }
    std::thread::scope(|sc| {
        let mut lane_tx = Vec::new();
        let mut done_rx = Vec::new();
        let mut handles = Vec::new();
        let lanes = std::iter::once(transform).chain(workers);
        for mut instance in lanes {
            let (in_tx, in_rx) = sync_channel::<Msg>(LANE_BATCHES);
            let (out_tx, out_rx) = sync_channel::<Msg>(LANE_BATCHES);
            handles.push(sc.spawn(move || {
                apply_all(instance.as_mut(), in_rx, &out_tx);
                instance
            }));
            lane_tx.push(in_tx);
            done_rx.push(out_rx);
        }
        // Deals in order; stops when the input ends or a lane hangs up (collection stopped).
        sc.spawn(move || {
            for (msg, lane) in rx.into_iter().zip(lane_tx.iter().cycle()) {
                if lane.send(msg).is_err() {
                    break;
                }
            }
        });
        // Collects in the same order: the lane due next either has the next batch or has
        // hung up, which means every batch was dealt and collected.
        for lane in done_rx.iter().cycle() {
            let Ok(msg) = lane.recv() else { break };
            if tx.send(msg).is_err() {
                break;
            }
        }
        drop(done_rx);
        let mut handles = handles.into_iter();
        let first = handles
            .next()
            .expect("the first lane is the transform itself");
        for h in handles {
            // Dropping the worker here merges its counts into the transform.
            drop(h.join().expect("a transform lane does not panic"));
        }
        first.join().expect("a transform lane does not panic")
    })
}

/// Applies `transform` to every row of every batch from `rx` and sends the batch to `tx`;
/// stops early if `tx` hangs up.
fn apply_all(transform: &mut dyn RecordTransform, rx: Receiver<Msg>, tx: &SyncSender<Msg>) {
    for mut msg in rx {
        if let Msg::Rows(rows) = &mut msg {
            for rec in rows.iter_mut().flatten() {
                transform.apply(rec);
            }
        }
        if tx.send(msg).is_err() {
            break;
        }
    }
}

/// Reads every input in turn and sends its rows in batches; stops early if `tx` hangs up.
fn read_all(readers: Vec<InputReader>, union: &[String], tx: SyncSender<Msg>) {
    for mut reader in readers {
        // Where each of this input's extra columns sits in the union.
        let slots: Vec<usize> = reader
            .extra_columns()
            .iter()
            .map(|c| union.iter().position(|u| u == c).expect("in the union"))
            .collect();
        let identity = slots.len() == union.len() && slots.iter().enumerate().all(|(i, s)| i == *s);
        let mut batch = Vec::with_capacity(BATCH_ROWS);
        for mut item in reader.by_ref() {
            if let (Ok(rec), false) = (&mut item, identity) {
                rec.extra = place(std::mem::take(&mut rec.extra), &slots, union.len());
            }
            batch.push(item);
            if batch.len() == BATCH_ROWS {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
                if tx.send(Msg::Rows(full)).is_err() {
                    return;
                }
            }
        }
        if !batch.is_empty() && tx.send(Msg::Rows(batch)).is_err() {
            return;
        }
        if tx.send(Msg::End(reader.detected_ts_unit())).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::trace::TraceMeta;

    #[test]
    fn two_lanes_by_default_where_there_are_two_cores() {
        assert_eq!(IngestOptions::default().transform_threads, 0);
        assert_eq!(lanes_for(0, 1), 1);
        assert_eq!(lanes_for(0, 2), 2);
        // More cores do not raise the default past the lanes measured within the memory bound.
        assert_eq!(lanes_for(0, 64), MAX_AUTO_LANES);
        assert_eq!(MAX_AUTO_LANES, 2);
        // An explicit count is taken as given, even past the cores.
        assert_eq!(lanes_for(1, 8), 1);
        assert_eq!(lanes_for(3, 2), 3);
    }

    /// A transform that offers workers and changes nothing.
    struct Idle;

    impl RecordTransform for Idle {
        fn begin(&mut self, extra: &[String]) -> Result<Vec<String>, String> {
            Ok(extra.to_vec())
        }
        fn apply(&mut self, _record: &mut TraceRecord) {}
        fn meta(&self) -> TraceMeta {
            TraceMeta::default()
        }
        fn worker(&self) -> Option<Box<dyn RecordTransform>> {
            Some(Box::new(Idle))
        }
    }

    /// Rows the transform stage and the channels around it take in while nothing drains its
    /// output: everything the pipeline holds between the reader and the writer.
    fn rows_held(lanes: usize) -> usize {
        let (read_tx, read_rx) = sync_channel::<Msg>(CHANNEL_BATCHES);
        let (out_tx, out_rx) = sync_channel::<Msg>(CHANNEL_BATCHES);
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&sent);
        let reader = std::thread::spawn(move || {
            // Bounded: far more batches than any pipeline may hold.
            for _ in 0..1000 {
                let rows = vec![Ok(TraceRecord::default()); BATCH_ROWS];
                if read_tx.send(Msg::Rows(rows)).is_err() {
                    return;
                }
                counter.fetch_add(BATCH_ROWS, Ordering::SeqCst);
            }
        });
        let stage =
            std::thread::spawn(move || transform_stage(Box::new(Idle), lanes, read_rx, out_tx));
        // Waits until the count stops moving (every stage blocked), at most 10 s.
        let start = Instant::now();
        let mut last = usize::MAX;
        while start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
            let now = sent.load(Ordering::SeqCst);
            if now == last {
                break;
            }
            last = now;
        }
        // Hanging up the output stops the stage, which stops the reader.
        drop(out_rx);
        stage.join().unwrap();
        reader.join().unwrap();
        sent.load(Ordering::SeqCst)
    }

    #[test]
    fn rows_in_flight_between_reader_and_writer_are_bounded() {
        // A wide log's record is about 1 KB in memory: 32k rows are ~32 MB of the 244 MiB
        // bound. Eight batches per channel held 49k rows with two lanes (24 batches).
        for lanes in [1, 2] {
            let held = rows_held(lanes);
            assert!(
                held >= 2 * BATCH_ROWS,
                "{lanes} lanes held only {held} rows"
            );
            assert!(held <= 32 * 1024, "{lanes} lanes held {held} rows");
        }
    }
}
