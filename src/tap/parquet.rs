//! `metrics.parquet`: one row per replayed request, written in row groups as the run goes.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, FixedSizeBinaryBuilder, Int64Builder, StringBuilder, UInt16Builder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use tempfile::NamedTempFile;

use crate::outcome::Outcome;

use super::TapError;

/// Name of the per-request file in a run folder.
pub const METRICS_FILE: &str = "metrics.parquet";

/// Rows buffered before a record batch goes to the Parquet writer.
const BATCH_ROWS: usize = 8192;
/// Rows per row group: what a reader of a huge run holds at once, and what the writer
/// buffers before flushing a group to disk.
const ROW_GROUP_ROWS: usize = 64 * 1024;

/// The columns of `metrics.parquet`, in order (DESIGN.md "Replay", the metrics tap), plus
/// `queued` and `throttled` so a scorecard can be rebuilt from the file alone.
pub fn metrics_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::UInt64, false),
        Field::new("session", DataType::Utf8, true),
        Field::new("method", DataType::Utf8, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("endpoint", DataType::Utf8, false),
        Field::new("due_us", DataType::Int64, false),
        Field::new("sent_us", DataType::Int64, false),
        Field::new("done_us", DataType::Int64, false),
        Field::new("latency_us", DataType::Int64, false),
        Field::new("service_us", DataType::Int64, false),
        Field::new("status", DataType::UInt16, false),
        Field::new("error_kind", DataType::Utf8, true),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("body_sha256", DataType::FixedSizeBinary(32), true),
        Field::new("queued", DataType::Boolean, false),
        Field::new("throttled", DataType::Boolean, false),
    ]))
}

struct Builders {
    seq: UInt64Builder,
    session: StringBuilder,
    method: StringBuilder,
    path: StringBuilder,
    endpoint: StringBuilder,
    due: Int64Builder,
    sent: Int64Builder,
    done: Int64Builder,
    latency: Int64Builder,
    service: Int64Builder,
    status: UInt16Builder,
    error: StringBuilder,
    bytes: UInt64Builder,
    sha: FixedSizeBinaryBuilder,
    queued: BooleanBuilder,
    throttled: BooleanBuilder,
}

impl Builders {
    fn new() -> Self {
        let n = BATCH_ROWS;
        Builders {
            seq: UInt64Builder::with_capacity(n),
            session: StringBuilder::with_capacity(n, n * 16),
            method: StringBuilder::with_capacity(n, n * 5),
            path: StringBuilder::with_capacity(n, n * 32),
            endpoint: StringBuilder::with_capacity(n, n * 24),
            due: Int64Builder::with_capacity(n),
            sent: Int64Builder::with_capacity(n),
            done: Int64Builder::with_capacity(n),
            latency: Int64Builder::with_capacity(n),
            service: Int64Builder::with_capacity(n),
            status: UInt16Builder::with_capacity(n),
            error: StringBuilder::new(),
            bytes: UInt64Builder::with_capacity(n),
            sha: FixedSizeBinaryBuilder::with_capacity(n, 32),
            queued: BooleanBuilder::with_capacity(n),
            throttled: BooleanBuilder::with_capacity(n),
        }
    }

    fn append(&mut self, o: &Outcome) {
        self.seq.append_value(o.seq);
        self.session.append_option(o.session.as_deref());
        self.method.append_value(&o.method);
        self.path.append_value(&o.path);
        self.endpoint.append_value(&o.endpoint);
        self.due.append_value(o.due_us);
        self.sent.append_value(o.sent_us);
        self.done.append_value(o.done_us);
        self.latency.append_value(o.latency_us());
        self.service.append_value(o.service_us());
        self.status.append_value(o.status);
        self.error.append_option(o.error.map(|k| k.as_str()));
        self.bytes.append_value(o.bytes);
        match &o.body_sha256 {
            Some(d) => self.sha.append_value(d).expect("digest is 32 bytes"),
            None => self.sha.append_null(),
        }
        self.queued.append_value(o.queued);
        self.throttled.append_value(o.throttled);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.seq.finish()),
            Arc::new(self.session.finish()),
            Arc::new(self.method.finish()),
            Arc::new(self.path.finish()),
            Arc::new(self.endpoint.finish()),
            Arc::new(self.due.finish()),
            Arc::new(self.sent.finish()),
            Arc::new(self.done.finish()),
            Arc::new(self.latency.finish()),
            Arc::new(self.service.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.error.finish()),
            Arc::new(self.bytes.finish()),
            Arc::new(self.sha.finish()),
            Arc::new(self.queued.finish()),
            Arc::new(self.throttled.finish()),
        ]
    }
}

/// Streams outcomes into `metrics.parquet` through a temp file renamed by [`Self::finish`].
pub struct MetricsWriter {
    path: PathBuf,
    schema: Arc<Schema>,
    writer: ArrowWriter<File>,
    temp: NamedTempFile,
    builders: Builders,
    buffered: usize,
    rows: u64,
}

impl MetricsWriter {
    /// Starts `run_dir/metrics.parquet` (as a temp file in `run_dir`).
    pub fn create(run_dir: &Path) -> Result<Self, TapError> {
        let path = run_dir.join(METRICS_FILE);
        let io = |source| TapError::Io {
            path: run_dir.to_path_buf(),
            source,
        };
        let temp = tempfile::Builder::new()
            .prefix(".esr-metrics-")
            .suffix(".tmp")
            .tempfile_in(run_dir)
            .map_err(io)?;
        let file = temp.reopen().map_err(io)?;
        let schema = metrics_schema();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| parquet_err(&path, e))?;
        Ok(MetricsWriter {
            path,
            schema,
            writer,
            temp,
            builders: Builders::new(),
            buffered: 0,
            rows: 0,
        })
    }

    /// Appends one row.
    pub fn write(&mut self, o: &Outcome) -> Result<(), TapError> {
        self.builders.append(o);
        self.buffered += 1;
        self.rows += 1;
        if self.buffered >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TapError> {
        if self.buffered == 0 {
            return Ok(());
        }
        self.buffered = 0;
        let batch =
            RecordBatch::try_new(self.schema.clone(), self.builders.finish()).map_err(|e| {
                TapError::Parquet {
                    path: self.path.clone(),
                    reason: e.to_string(),
                }
            })?;
        self.writer
            .write(&batch)
            .map_err(|e| parquet_err(&self.path, e))?;
        // Bound the writer's own buffering: a full row group goes to disk now.
        if self.writer.in_progress_rows() >= ROW_GROUP_ROWS {
            self.writer
                .flush()
                .map_err(|e| parquet_err(&self.path, e))?;
        }
        Ok(())
    }

    /// Closes the file and renames it into place; returns the path and the row count.
    pub fn finish(mut self) -> Result<(PathBuf, u64), TapError> {
        self.flush()?;
        self.writer
            .close()
            .map_err(|e| parquet_err(&self.path, e))?;
        super::persist_readable(self.temp, &self.path).map_err(|source| TapError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok((self.path, self.rows))
    }
}

fn parquet_err(path: &Path, e: parquet::errors::ParquetError) -> TapError {
    TapError::Parquet {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Reads `metrics.parquet` back, one [`Outcome`] at a time, in row-group-sized batches.
pub fn read_outcomes(path: &Path, mut f: impl FnMut(Outcome)) -> Result<u64, TapError> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int64Type, UInt16Type, UInt64Type};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let file = File::open(path).map_err(|source| TapError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |reason: String| TapError::Parquet {
        path: path.to_path_buf(),
        reason,
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| bad(format!("not a readable Parquet file ({e})")))?
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let mut rows = 0u64;
    for batch in reader {
        let b = batch.map_err(|e| bad(format!("near row {}: {e}", rows + 1)))?;
        let col = |name: &str, want: &DataType| {
            b.column_by_name(name)
                .filter(|c| c.data_type() == want)
                .cloned()
                .ok_or_else(|| {
                    bad(format!(
                        "not an esr metrics file: column `{name}` ({want}) is missing"
                    ))
                })
        };
        let seq = col("seq", &DataType::UInt64)?;
        let seq = seq.as_primitive::<UInt64Type>();
        let session = col("session", &DataType::Utf8)?;
        let session = session.as_string::<i32>();
        let method = col("method", &DataType::Utf8)?;
        let method = method.as_string::<i32>();
        let rpath = col("path", &DataType::Utf8)?;
        let rpath = rpath.as_string::<i32>();
        let endpoint = col("endpoint", &DataType::Utf8)?;
        let endpoint = endpoint.as_string::<i32>();
        let due = col("due_us", &DataType::Int64)?;
        let due = due.as_primitive::<Int64Type>();
        let sent = col("sent_us", &DataType::Int64)?;
        let sent = sent.as_primitive::<Int64Type>();
        let done = col("done_us", &DataType::Int64)?;
        let done = done.as_primitive::<Int64Type>();
        let status = col("status", &DataType::UInt16)?;
        let status = status.as_primitive::<UInt16Type>();
        let error = col("error_kind", &DataType::Utf8)?;
        let error = error.as_string::<i32>();
        let bytes = col("bytes", &DataType::UInt64)?;
        let bytes = bytes.as_primitive::<UInt64Type>();
        let sha = col("body_sha256", &DataType::FixedSizeBinary(32))?;
        let sha = sha.as_fixed_size_binary();
        let queued = col("queued", &DataType::Boolean)?;
        let queued = queued.as_boolean();
        let throttled = col("throttled", &DataType::Boolean)?;
        let throttled = throttled.as_boolean();
        for i in 0..b.num_rows() {
            rows += 1;
            let error = if error.is_null(i) {
                None
            } else {
                Some(
                    crate::outcome::ErrorKind::parse(error.value(i)).ok_or_else(|| {
                        bad(format!("row {rows}, column `error_kind`: unknown kind"))
                    })?,
                )
            };
            f(Outcome {
                seq: seq.value(i),
                session: (!session.is_null(i)).then(|| session.value(i).to_string()),
                method: method.value(i).to_string(),
                path: rpath.value(i).to_string(),
                endpoint: endpoint.value(i).to_string(),
                due_us: due.value(i),
                sent_us: sent.value(i),
                done_us: done.value(i),
                status: status.value(i),
                error,
                bytes: bytes.value(i),
                body_sha256: (!sha.is_null(i))
                    .then(|| sha.value(i).try_into().expect("32-byte column")),
                queued: queued.value(i),
                throttled: throttled.value(i),
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::ErrorKind;
    use crate::tap::test_outcome;

    #[test]
    fn rows_read_back_as_the_outcomes_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut written: Vec<Outcome> = (0..20_000).map(|i| test_outcome(i, 1, 2, 200)).collect();
        written[7].error = Some(ErrorKind::Connect);
        written[7].status = 0;
        written[7].session = None;
        written[7].body_sha256 = None;
        let mut w = MetricsWriter::create(dir.path()).unwrap();
        for o in &written {
            w.write(o).unwrap();
        }
        let (path, rows) = w.finish().unwrap();
        assert_eq!(rows, 20_000);
        let mut back = Vec::new();
        assert_eq!(read_outcomes(&path, |o| back.push(o)).unwrap(), 20_000);
        assert!(back == written, "rows differ after the round trip");
    }

    #[test]
    fn a_file_that_is_not_a_metrics_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        std::fs::write(&path, b"nope").unwrap();
        let e = read_outcomes(&path, |_| {}).unwrap_err().to_string();
        assert!(
            e.contains("x.parquet") && e.contains("not a readable Parquet"),
            "{e}"
        );
    }
}
