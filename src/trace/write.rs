//! Streaming, atomic writer of canonical traces.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, Float64Builder, StringBuilder, TimestampMicrosecondBuilder,
    UInt16Builder,
};
use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use tempfile::NamedTempFile;

use super::{TraceError, TraceMeta, TraceRecord, canonical_schema};

/// Rows buffered before a record batch is handed to the Parquet writer.
const BATCH_ROWS: usize = 8192;

/// Writes [`TraceRecord`]s to a canonical trace file, atomically.
///
/// Rows go to a temp file in the target's folder; [`TraceWriter::finish`] records the
/// metadata and renames the temp file into place. Dropping a writer without finishing it
/// removes the temp file, so a failed run leaves nothing behind.
pub struct TraceWriter {
    path: PathBuf,
    extra: Vec<String>,
    schema: Arc<Schema>,
    writer: ArrowWriter<File>,
    temp: NamedTempFile,
    builders: Builders,
    buffered: usize,
    rows: u64,
}

struct Builders {
    ts: TimestampMicrosecondBuilder,
    method: StringBuilder,
    path: StringBuilder,
    host: StringBuilder,
    headers: StringBuilder,
    body: BinaryBuilder,
    status: UInt16Builder,
    latency: Float64Builder,
    session: StringBuilder,
    extra: Vec<StringBuilder>,
    /// Value bytes to reserve per text column (method, path, host, headers, session, then
    /// the extra columns) and for the body, from the last batch.
    room: Vec<usize>,
    body_room: usize,
}

impl Builders {
    fn new(extra: usize) -> Self {
        // Value capacities start small; `finish` re-sizes each builder to its last batch.
        let text = || StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16);
        Builders {
            ts: TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS).with_timezone("UTC"),
            method: text(),
            path: text(),
            host: text(),
            headers: text(),
            body: BinaryBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16),
            status: UInt16Builder::with_capacity(BATCH_ROWS),
            latency: Float64Builder::with_capacity(BATCH_ROWS),
            session: text(),
            extra: (0..extra).map(|_| text()).collect(),
            room: Vec::new(),
            body_room: 0,
        }
    }

    /// The batch's columns, leaving every builder empty (Arrow's `finish` leaves no capacity
    /// behind) and noting each one's value bytes for [`Builders::refill`].
    fn finish(&mut self) -> Vec<ArrayRef> {
        self.room = [
            &self.method,
            &self.path,
            &self.host,
            &self.headers,
            &self.session,
        ]
        .into_iter()
        .chain(&self.extra)
        .map(|b| room_for(b.values_slice().len()))
        .collect();
        self.body_room = room_for(self.body.values_slice().len());
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.ts.finish()),
            Arc::new(self.method.finish()),
            Arc::new(self.path.finish()),
            Arc::new(self.host.finish()),
            Arc::new(self.headers.finish()),
            Arc::new(self.body.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.latency.finish()),
            Arc::new(self.session.finish()),
        ];
        cols.extend(
            self.extra
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        cols
    }

    /// Replaces every builder by one sized for a batch like the last: without that, every
    /// batch regrows every buffer by doubling (copies, and fresh pages the kernel must zero).
    /// Called once the last batch is written and dropped, so the new buffers reuse its memory
    /// instead of adding to it (two batches' worth at once raised the peak RSS).
    fn refill(&mut self) {
        let mut room = self.room.iter().copied();
        let mut text = || StringBuilder::with_capacity(BATCH_ROWS, room.next().unwrap_or(0));
        self.method = text();
        self.path = text();
        self.host = text();
        self.headers = text();
        self.session = text();
        for b in &mut self.extra {
            *b = text();
        }
        self.body = BinaryBuilder::with_capacity(BATCH_ROWS, self.body_room);
        self.ts = TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS).with_timezone("UTC");
        self.status = UInt16Builder::with_capacity(BATCH_ROWS);
        self.latency = Float64Builder::with_capacity(BATCH_ROWS);
    }
}

/// Value bytes to reserve for the next batch of a column whose last batch held `used`.
fn room_for(used: usize) -> usize {
    used + used / 8 + 64
}

impl TraceWriter {
    /// Starts a trace at `path` with the given extra column names (after the canonical ones).
    pub fn create(path: &Path, extra: Vec<String>) -> Result<Self, TraceError> {
        let write_err = |reason: String| TraceError::Write {
            path: path.to_path_buf(),
            reason,
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".esr-trace-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| {
                write_err(format!(
                    "cannot create a temp file in `{}`: {e}",
                    dir.display()
                ))
            })?;
        let file = temp
            .reopen()
            .map_err(|e| write_err(format!("cannot open the temp file: {e}")))?;
        let schema = canonical_schema(&extra);
        let mut props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(128 * 1024));
        // Arrival times are unique per row and headers and bodies nearly so (request ids,
        // payloads): a dictionary there hashes every value only to be abandoned, so these go
        // plain. Methods, paths, hosts, statuses, sessions and extra columns repeat and keep it.
        for col in ["ts", "headers", "body"] {
            props = props.set_column_dictionary_enabled(ColumnPath::from(col), false);
        }
        // Nothing reads min/max of headers or bodies (no query filters on them), and
        // computing them compares every long value; the other columns keep their statistics.
        for col in ["headers", "body"] {
            props =
                props.set_column_statistics_enabled(ColumnPath::from(col), EnabledStatistics::None);
        }
        let props = props.build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| write_err(e.to_string()))?;
        Ok(TraceWriter {
            path: path.to_path_buf(),
            builders: Builders::new(extra.len()),
            extra,
            schema,
            writer,
            temp,
            buffered: 0,
            rows: 0,
        })
    }

    /// The extra column names, in order.
    pub fn extra_columns(&self) -> &[String] {
        &self.extra
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Appends one record. `record.extra` must have one entry per extra column.
    pub fn write(&mut self, r: &TraceRecord) -> Result<(), TraceError> {
        if r.extra.len() != self.extra.len() {
            return Err(TraceError::Write {
                path: self.path.clone(),
                reason: format!(
                    "row {} has {} extra values, the trace has {} extra columns",
                    self.rows + 1,
                    r.extra.len(),
                    self.extra.len()
                ),
            });
        }
        let b = &mut self.builders;
        b.ts.append_value(r.ts_us);
        b.method.append_value(&r.method);
        b.path.append_value(&r.path);
        b.host.append_option(r.host.as_deref());
        b.headers.append_option(r.headers.as_deref());
        b.body.append_option(r.body.as_deref());
        b.status.append_option(r.status);
        b.latency.append_option(r.latency_ms);
        b.session.append_option(r.session.as_deref());
        for (builder, v) in b.extra.iter_mut().zip(&r.extra) {
            builder.append_option(v.as_deref());
        }
        self.buffered += 1;
        self.rows += 1;
        if self.buffered >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// Appends a record batch that already has the canonical schema of this writer.
    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), TraceError> {
        self.flush()?;
        if batch.schema().fields() != self.schema.fields() {
            return Err(TraceError::Write {
                path: self.path.clone(),
                reason: "record batch does not have the trace's schema".into(),
            });
        }
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch).map_err(|e| TraceError::Write {
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }

    fn flush(&mut self) -> Result<(), TraceError> {
        if self.buffered == 0 {
            return Ok(());
        }
        let cols = self.builders.finish();
        self.buffered = 0;
        let batch =
            RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| TraceError::Write {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        self.writer.write(&batch).map_err(|e| TraceError::Write {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        drop(batch);
        self.builders.refill();
        Ok(())
    }

    /// Writes the metadata, closes the file and renames it into place. Returns the rows
    /// written.
    pub fn finish(self, meta: TraceMeta) -> Result<u64, TraceError> {
        let path = self.path.clone();
        let (temp, rows) = self.close(meta)?;
        temp.persist(&path).map_err(|e| TraceError::Write {
            path: path.clone(),
            reason: format!("cannot move the finished trace into place: {e}"),
        })?;
        Ok(rows)
    }

    /// Writes the metadata and closes the file but leaves it a temp file (removed when the
    /// returned handle drops) instead of moving it into place: ingest reads such a trace
    /// back as a sorted run when its streamed output has to be merged after all.
    pub fn finish_temp(self, meta: TraceMeta) -> Result<NamedTempFile, TraceError> {
        Ok(self.close(meta)?.0)
    }

    fn close(mut self, mut meta: TraceMeta) -> Result<(NamedTempFile, u64), TraceError> {
        self.flush()?;
        meta.rows = self.rows;
        for (key, value) in meta.to_pairs() {
            self.writer
                .append_key_value_metadata(KeyValue::new(key, value));
        }
        self.writer.close().map_err(|e| TraceError::Write {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        Ok((self.temp, self.rows))
    }
}
