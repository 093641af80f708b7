//! Reader of canonical traces, as record batches or as records.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{
    Array, BinaryArray, Float64Array, StringArray, TimestampMicrosecondArray, UInt16Array,
};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::{COLUMNS, TraceError, TraceMeta, TraceRecord, canonical_schema};

/// An opened trace: its metadata and schema, ready to stream.
pub struct TraceReader {
    path: PathBuf,
    meta: TraceMeta,
    schema: SchemaRef,
    extra: Vec<String>,
    builder: ParquetRecordBatchReaderBuilder<File>,
}

impl TraceReader {
    /// Opens `path` and checks that it is a version 1 trace.
    pub fn open(path: &Path) -> Result<Self, TraceError> {
        let file = File::open(path).map_err(|source| TraceError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| TraceError::NotParquet {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let not_trace = |reason: String| TraceError::NotATrace {
            path: path.to_path_buf(),
            reason,
        };
        let kv = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .cloned()
            .unwrap_or_default();
        let meta = TraceMeta::from_pairs(kv.iter().map(|e| (e.key.as_str(), e.value.as_deref())))
            .map_err(not_trace)?;
        let schema = builder.schema().clone();
        let extra: Vec<String> = schema
            .fields()
            .iter()
            .skip(COLUMNS.len())
            .map(|f| f.name().clone())
            .collect();
        let expected = canonical_schema(&extra);
        for (want, got) in expected.fields().iter().zip(schema.fields().iter()) {
            if want.name() != got.name() || want.data_type() != got.data_type() {
                return Err(not_trace(format!(
                    "column `{}` should be `{}` of type {}, found `{}` of type {}",
                    want.name(),
                    want.name(),
                    want.data_type(),
                    got.name(),
                    got.data_type()
                )));
            }
        }
        if schema.fields().len() < COLUMNS.len() {
            return Err(not_trace(format!(
                "it has {} columns, a trace has at least {}",
                schema.fields().len(),
                COLUMNS.len()
            )));
        }
        Ok(TraceReader {
            path: path.to_path_buf(),
            meta,
            schema,
            extra,
            builder,
        })
    }

    /// The file's `esr.*` metadata.
    pub fn meta(&self) -> &TraceMeta {
        &self.meta
    }

    /// The Arrow schema (canonical columns, then extra columns).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Names of the extra columns, in order.
    pub fn extra_columns(&self) -> &[String] {
        &self.extra
    }

    /// Number of rows, from the Parquet footer.
    pub fn rows(&self) -> u64 {
        self.builder.metadata().file_metadata().num_rows().max(0) as u64
    }

    /// Streams the trace as record batches of at most `batch_rows` rows.
    pub fn batches(self, batch_rows: usize) -> Result<TraceBatches, TraceError> {
        let path = self.path.clone();
        let inner = self
            .builder
            .with_batch_size(batch_rows)
            .build()
            .map_err(|e| TraceError::NotParquet {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        Ok(TraceBatches {
            path,
            inner,
            rows_before: 0,
        })
    }

    /// Streams the trace as records, in file order.
    pub fn records(
        self,
    ) -> Result<impl Iterator<Item = Result<TraceRecord, TraceError>>, TraceError> {
        let batches = self.batches(8192)?;
        Ok(batches.flat_map(|b| match b {
            Ok(batch) => records_of(&batch).into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        }))
    }
}

/// Record batches of a trace, with read errors that name the file and row.
pub struct TraceBatches {
    path: PathBuf,
    inner: ParquetRecordBatchReader,
    rows_before: u64,
}

impl Iterator for TraceBatches {
    type Item = Result<RecordBatch, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.inner.next()? {
            Ok(batch) => {
                self.rows_before += batch.num_rows() as u64;
                Some(Ok(batch))
            }
            Err(e) => Some(Err(TraceError::Read {
                path: self.path.clone(),
                row: self.rows_before + 1,
                reason: e.to_string(),
            })),
        }
    }
}

/// Converts a record batch with the canonical schema into records.
pub fn records_of(batch: &RecordBatch) -> Vec<TraceRecord> {
    fn col<T: 'static>(batch: &RecordBatch, i: usize) -> &T {
        batch
            .column(i)
            .as_any()
            .downcast_ref::<T>()
            .expect("schema checked when the trace was opened")
    }
    let ts = col::<TimestampMicrosecondArray>(batch, 0);
    let method = col::<StringArray>(batch, 1);
    let path = col::<StringArray>(batch, 2);
    let host = col::<StringArray>(batch, 3);
    let headers = col::<StringArray>(batch, 4);
    let body = col::<BinaryArray>(batch, 5);
    let status = col::<UInt16Array>(batch, 6);
    let latency = col::<Float64Array>(batch, 7);
    let session = col::<StringArray>(batch, 8);
    let extra: Vec<&StringArray> = (COLUMNS.len()..batch.num_columns())
        .map(|i| col::<StringArray>(batch, i))
        .collect();
    let opt_str = |a: &StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_string());
    (0..batch.num_rows())
        .map(|i| TraceRecord {
            ts_us: ts.value(i),
            method: method.value(i).to_string(),
            path: path.value(i).to_string(),
            host: opt_str(host, i),
            headers: opt_str(headers, i),
            body: (!body.is_null(i)).then(|| body.value(i).to_vec()),
            status: (!status.is_null(i)).then(|| status.value(i)),
            latency_ms: (!latency.is_null(i)).then(|| latency.value(i)),
            session: opt_str(session, i),
            extra: extra.iter().map(|a| opt_str(a, i)).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TraceWriter;

    #[test]
    fn round_trip_keeps_every_field_and_the_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let mut w = TraceWriter::create(&path, vec!["client_ip".into()]).unwrap();
        let recs: Vec<TraceRecord> = (0..20_000)
            .map(|i| TraceRecord {
                ts_us: 1_700_000_000_000_000 + i,
                method: "POST".into(),
                path: format!("/pay?n={i}"),
                host: (i % 2 == 0).then(|| "pay.local".into()),
                headers: Some(r#"{"accept":"*/*"}"#.into()),
                body: Some(vec![1, 2, 3]),
                status: Some(200),
                latency_ms: Some(1.5),
                session: Some(format!("s{}", i % 7)),
                extra: vec![None],
            })
            .collect();
        for r in &recs {
            w.write(r).unwrap();
        }
        let meta = TraceMeta {
            key_id: Some("k1".into()),
            policy_digest: Some("p1".into()),
            ..Default::default()
        };
        assert_eq!(w.finish(meta).unwrap(), 20_000);
        let r = TraceReader::open(&path).unwrap();
        assert_eq!(r.meta().rows, 20_000);
        assert_eq!(r.meta().key_id.as_deref(), Some("k1"));
        assert_eq!(r.extra_columns(), ["client_ip"]);
        let back: Vec<_> = r.records().unwrap().map(Result::unwrap).collect();
        assert_eq!(back, recs);
        // No temp file left beside the trace.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn unfinished_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        {
            let mut w = TraceWriter::create(&path, vec![]).unwrap();
            w.write(&TraceRecord {
                method: "GET".into(),
                path: "/".into(),
                ..Default::default()
            })
            .unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn plain_parquet_is_not_a_trace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        std::fs::write(&path, b"PAR1 not really").unwrap();
        assert!(matches!(
            TraceReader::open(&path),
            Err(TraceError::NotParquet { .. })
        ));
    }
}
