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
    // Reading (parse, map, validate) on a thread of its own, sorting and writing here, and
    // the transform's lanes riding on both (see `with_lanes`). An error here stops the
    // reading thread: its next send finds no receiver.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let lanes = lanes_for(opts.transform_threads, cores);
    let mut input = 0;
    let transform = with_lanes(
        transform,
        lanes,
        |send| read_all(readers, &union, send),
        |msg| {
            let rows = match msg {
                Msg::Rows(rows) => rows,
                Msg::End(unit) => {
                    counts[input].ts_unit = unit;
                    input += 1;
                    return Ok(());
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
            Ok(())
        },
    )?;
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

/// The lane (below `lanes`) that rewrites a row: the lane of its session, so every row of a
/// session, with the identifiers that come back with it (its user id, email, address), meets
/// the same lane's memos; a row without a session goes by its place in the batch.
///
/// Why by session: a log's identifiers come back within a few hundred rows, and when whole
/// batches were dealt round-robin, returns that fell in the other lane's batch missed its memo
/// and cost a keyed hash and an insert each (by session, 17 % fewer keyed hashes on the flood
/// log).
fn lane_of(item: &Result<TraceRecord, RowError>, row: usize, lanes: usize) -> u8 {
    let session = match item {
        Ok(rec) => rec.session.as_deref(),
        Err(_) => None,
    };
    let spread = match session {
        // FNV-1a: sessions are short, and the lane only needs the bytes well mixed.
        Some(s) => s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        }),
        None => row as u64,
    };
    // Multiply-shift onto 0..lanes (uses the hash's high bits, the best mixed ones).
    ((u128::from(spread.wrapping_mul(0x9e37_79b9_7f4a_7c15)) * lanes as u128) >> 64) as u8
}

/// The lane of each row of a batch: by session ([`lane_of`]), unless that leaves one lane
/// more than half as much again as its share (a session that dominates the batch, such as a
/// crawler's): the lanes go at the pace of the busiest, so such a batch is dealt by row
/// instead. Either way each row is rewritten once, and the output is the same.
fn deal(rows: &[Result<TraceRecord, RowError>], lanes: usize) -> Vec<u8> {
    let dealt: Vec<u8> = rows
        .iter()
        .enumerate()
        .map(|(row, item)| lane_of(item, row, lanes))
        .collect();
    let mut per_lane = vec![0usize; lanes];
    for &l in &dealt {
        per_lane[l as usize] += 1;
    }
    let share = rows.len().div_ceil(lanes);
    if per_lane.iter().all(|&n| n <= share + share / 2) {
        return dealt;
    }
    (0..rows.len()).map(|row| (row % lanes) as u8).collect()
}

/// A batch on its way through the lanes, with the lane of each of its rows (empty when one
/// lane takes every row): fixed by the first lane before any rewrite, since a lane rewrites
/// the session it is read from.
struct Dealt {
    msg: Msg,
    lanes: Vec<u8>,
}

/// Runs `produce` on a thread of its own and `consume` on this one, joined by bounded channels
/// of row batches, with `transform` applied to every row in between; the batches reach
/// `consume` in the order `produce` sent them. Hands `transform` back once its workers are
/// gone (a worker's counts reach it when the worker is dropped). `produce` gets a `send` that
/// returns false once `consume` has failed, and should then stop.
///
/// With one lane (a transform without workers, or `lanes` 1) the transform runs on a third
/// thread between the two. With several, every lane rewrites its own rows of each batch
/// ([`deal`]: by session), and the first lane rides on the producing thread, the last on the
/// consuming thread, any others on threads of their own between them. Why: two lanes on two
/// cores are then two busy threads of about half the CPU each (before: four, plus a dealer
/// and a collector), and fewer batches wait between them: 3 instead of 12, 27–35 MiB less
/// peak memory on a 5M-row log.
fn with_lanes<E: Send>(
    transform: Box<dyn RecordTransform>,
    lanes: usize,
    produce: impl FnOnce(&mut dyn FnMut(Msg) -> bool) + Send,
    mut consume: impl FnMut(Msg) -> Result<(), E>,
) -> Result<Box<dyn RecordTransform>, E> {
    // Lane numbers are bytes: at most 256 lanes (far past any machine's use for them).
    let mut workers: Vec<Box<dyn RecordTransform>> = std::iter::from_fn(|| transform.worker())
        .take(lanes.clamp(1, 256) - 1)
        .collect();
    let count = workers.len() + 1;
    let mut last = workers.pop();
    let (mut first, middle) = match last {
        None => (None, vec![(transform, None)]),
        Some(_) => {
            let middle = workers
                .into_iter()
                .enumerate()
                .map(|(i, w)| (w, Some((i + 1) as u8)))
                .collect();
            (Some(transform), middle)
        }
    };
    std::thread::scope(|sc| {
        let (tx, mut rx) = sync_channel::<Dealt>(CHANNEL_BATCHES);
        let producer = sc.spawn(move || {
            let mut send = |mut msg: Msg| {
                let mut dealt = Vec::new();
                if let (Some(t), Msg::Rows(rows)) = (first.as_deref_mut(), &mut msg) {
                    dealt = deal(rows, count);
                    apply_own(t, Some(0), rows, &dealt);
                }
                tx.send(Dealt { msg, lanes: dealt }).is_ok()
            };
            produce(&mut send);
            first
        });
        let mut handles = Vec::new();
        for (mut instance, lane) in middle {
            let (lane_tx, next) = sync_channel::<Dealt>(CHANNEL_BATCHES);
            let input = std::mem::replace(&mut rx, next);
            handles.push(sc.spawn(move || {
                apply_lane(instance.as_mut(), lane, input, &lane_tx);
                instance
            }));
        }
        let last_lane = (count - 1) as u8;
        let mut result = Ok(());
        for mut d in rx {
            if let (Some(t), Msg::Rows(rows)) = (last.as_deref_mut(), &mut d.msg) {
                apply_own(t, Some(last_lane), rows, &d.lanes);
            }
            if let Err(e) = consume(d.msg) {
                result = Err(e);
                break;
            }
        }
        let middle: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("a transform lane does not panic"))
            .collect();
        let first = producer.join().expect("the reading thread does not panic");
        result?;
        Ok(match first {
            Some(t) => {
                // Dropping the workers here merges their counts into the transform.
                drop(middle);
                drop(last);
                t
            }
            None => middle.into_iter().next().expect("one lane"),
        })
    })
}

/// A lane on a thread of its own: rewrites its rows of every batch from `rx` (every row when
/// `lane` is `None`) and passes the batch on to `tx`; stops when the input ends or `tx` hangs
/// up.
fn apply_lane(
    transform: &mut dyn RecordTransform,
    lane: Option<u8>,
    rx: Receiver<Dealt>,
    tx: &SyncSender<Dealt>,
) {
    for mut d in rx {
        if let Msg::Rows(rows) = &mut d.msg {
            apply_own(transform, lane, rows, &d.lanes);
        }
        if tx.send(d).is_err() {
            break;
        }
    }
}

/// Applies `transform` to the rows of `rows` dealt to `lane`, or to all of them for `None`.
fn apply_own(
    transform: &mut dyn RecordTransform,
    lane: Option<u8>,
    rows: &mut [Result<TraceRecord, RowError>],
    dealt: &[u8],
) {
    match lane {
        None => {
            for rec in rows.iter_mut().flatten() {
                transform.apply(rec);
            }
        }
        Some(lane) => {
            for (item, _) in rows.iter_mut().zip(dealt).filter(|(_, l)| **l == lane) {
                if let Ok(rec) = item {
                    transform.apply(rec);
                }
            }
        }
    }
}

/// Reads every input in turn and sends its rows in batches; stops early if `send` fails.
fn read_all(readers: Vec<InputReader>, union: &[String], send: &mut dyn FnMut(Msg) -> bool) {
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
                if !send(Msg::Rows(full)) {
                    return;
                }
            }
        }
        if !batch.is_empty() && !send(Msg::Rows(batch)) {
            return;
        }
        if !send(Msg::End(reader.detected_ts_unit())) {
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

    /// Rows the lanes and the channels around them take in while nothing drains them:
    /// everything the pipeline holds between the reader and the writer.
    fn rows_held(lanes: usize) -> usize {
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&sent);
        let produce = move |send: &mut dyn FnMut(Msg) -> bool| {
            // Bounded: far more batches than any pipeline may hold.
            for _ in 0..1000 {
                let rows = vec![Ok(TraceRecord::default()); BATCH_ROWS];
                if !send(Msg::Rows(rows)) {
                    return;
                }
                counter.fetch_add(BATCH_ROWS, Ordering::SeqCst);
            }
        };
        // The consumer takes the first batch and then stops draining: it waits until the
        // count stops moving (every stage blocked), at most 10 s, and fails, which stops the
        // lanes and the producer.
        let consume = |_msg: Msg| -> Result<(), ()> {
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
            Err(())
        };
        assert!(with_lanes(Box::new(Idle), lanes, produce, consume).is_err());
        sent.load(Ordering::SeqCst)
    }

    /// Which instance rewrote a row with which session.
    type Seen = Arc<std::sync::Mutex<Vec<(u16, Option<String>)>>>;

    /// A transform that marks each record it rewrites with its instance's number and notes
    /// which instance saw which session.
    struct Tag {
        id: u16,
        next: Arc<AtomicUsize>,
        seen: Seen,
    }

    impl RecordTransform for Tag {
        fn begin(&mut self, extra: &[String]) -> Result<Vec<String>, String> {
            Ok(extra.to_vec())
        }
        fn apply(&mut self, r: &mut TraceRecord) {
            // A second rewrite of the same row would show as a second mark.
            r.method.push_str(&format!("#{}", self.id));
            self.seen.lock().unwrap().push((self.id, r.session.clone()));
            // Lanes rewrite the session they were dealt by: the deal must not read it again.
            if let Some(s) = &mut r.session {
                s.push('~');
            }
        }
        fn meta(&self) -> TraceMeta {
            TraceMeta::default()
        }
        fn worker(&self) -> Option<Box<dyn RecordTransform>> {
            Some(Box::new(Tag {
                id: self.next.fetch_add(1, Ordering::SeqCst) as u16,
                next: Arc::clone(&self.next),
                seen: Arc::clone(&self.seen),
            }))
        }
    }

    #[test]
    fn lanes_rewrite_each_row_once_keep_each_session_on_one_lane_and_keep_the_order() {
        for lanes in [1, 2, 3] {
            let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
            let tag = Tag {
                id: 0,
                next: Arc::new(AtomicUsize::new(1)),
                seen: Arc::clone(&seen),
            };
            let produce = |send: &mut dyn FnMut(Msg) -> bool| {
                let mut n = 0i64;
                for batch in 0..12 {
                    let rows = (0..700)
                        .map(|i| {
                            n += 1;
                            if i == 5 {
                                return Err(RowError {
                                    file: PathBuf::from("t.csv"),
                                    row: n as u64,
                                    line: None,
                                    column: None,
                                    problem: "bad".into(),
                                    fatal: false,
                                });
                            }
                            Ok(TraceRecord {
                                ts_us: n,
                                method: "GET".into(),
                                // Sessions come back across batches; every 7th row has none.
                                session: (i % 7 != 0).then(|| format!("s{}", (n * 31) % 97)),
                                ..TraceRecord::default()
                            })
                        })
                        .collect();
                    assert!(send(Msg::Rows(rows)));
                    if batch == 5 {
                        assert!(send(Msg::End(None)));
                    }
                }
            };
            let mut out = Vec::new();
            let mut ends = 0;
            let consume = |msg: Msg| -> Result<(), ()> {
                match msg {
                    Msg::Rows(rows) => out.extend(rows),
                    // The end of the first input comes after its six batches.
                    Msg::End(_) => {
                        assert_eq!(out.len(), 6 * 700);
                        ends += 1;
                    }
                }
                Ok(())
            };
            with_lanes(Box::new(tag), lanes, produce, consume).unwrap();
            assert_eq!(ends, 1);
            assert_eq!(out.len(), 12 * 700);
            let mut seen_ts = Vec::new();
            for item in &out {
                match item {
                    Ok(r) => {
                        assert_eq!(
                            r.method.matches('#').count(),
                            1,
                            "{lanes} lanes: {}",
                            r.method
                        );
                        seen_ts.push(r.ts_us);
                    }
                    Err(e) => assert_eq!(e.problem, "bad"),
                }
            }
            assert!(seen_ts.windows(2).all(|w| w[0] < w[1]), "order kept");
            let seen = seen.lock().unwrap();
            let mut lane_of_session = std::collections::HashMap::new();
            let mut used = std::collections::HashSet::new();
            for (id, session) in seen.iter() {
                used.insert(*id);
                if let Some(s) = session {
                    let first = *lane_of_session.entry(s.clone()).or_insert(*id);
                    assert_eq!(first, *id, "{lanes} lanes: a session met two lanes");
                }
            }
            assert_eq!(used.len(), lanes, "every lane takes a share");
        }
    }

    #[test]
    fn a_session_that_fills_a_batch_is_dealt_by_row() {
        let rec = |session: &str| -> Result<TraceRecord, RowError> {
            Ok(TraceRecord {
                session: Some(session.to_string()),
                ..TraceRecord::default()
            })
        };
        // Many sessions: dealt by session, about evenly.
        let mixed: Vec<_> = (0..2048).map(|i| rec(&format!("c-{i:07}"))).collect();
        let dealt = deal(&mixed, 2);
        let ones = dealt.iter().filter(|&&l| l == 1).count();
        assert!((800..1250).contains(&ones), "{ones} of 2048 in lane 1");
        for (i, item) in mixed.iter().enumerate() {
            assert_eq!(dealt[i], lane_of(item, i, 2));
        }
        // One session with nine rows in ten: every lane gets its share, by row.
        let crawler: Vec<_> = (0..2048)
            .map(|i| rec(if i % 10 == 0 { "c-0000001" } else { "bot" }))
            .collect();
        for lanes in [2, 3] {
            let dealt = deal(&crawler, lanes);
            for lane in 0..lanes {
                let n = dealt.iter().filter(|&&l| l as usize == lane).count();
                assert!(n.abs_diff(2048 / lanes) <= 1, "lane {lane} of {lanes}: {n}");
            }
        }
    }

    #[test]
    fn rows_in_flight_between_reader_and_writer_are_bounded() {
        // A wide log's record is about 1 KB in memory: a batch of 2,048 rows is ~2 MB of the
        // 244 MiB bound. Two lanes riding on the reading and writing threads hold the batch
        // each of those has in hand and the two between them; when the lanes had threads of
        // their own, with a dealer and a collector, two lanes held 12 batches. One lane, on a
        // thread between the two, holds its own and two more channels' worth.
        for (lanes, most) in [(1, 6), (2, 4)] {
            let held = rows_held(lanes);
            assert!(
                held >= 2 * BATCH_ROWS,
                "{lanes} lanes held only {held} rows"
            );
            assert!(
                held <= most * BATCH_ROWS,
                "{lanes} lanes held {} batches",
                held / BATCH_ROWS
            );
        }
    }
}
