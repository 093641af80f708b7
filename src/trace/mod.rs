//! The canonical trace: the Parquet file every stage after ingest reads.
//!
//! Takes [`TraceRecord`]s and writes them as schema version 1 (see `DESIGN.md`, "The trace");
//! reads such a file back as records or record batches. The writer is atomic: rows go to a
//! temp file beside the target, renamed into place only by [`TraceWriter::finish`], so a
//! failed run never leaves a file that looks complete.
//!
//! This module never prints a field value: errors name the file, the row and the column.

mod endpoint;
mod read;
mod record;
mod schema;
mod transform;
mod write;

pub use endpoint::fold_path;
pub use read::{TraceBatches, TraceReader, records_of};
pub use record::TraceRecord;
pub use schema::{COLUMNS, TraceMeta, canonical_schema, is_canonical_column};
pub use transform::{NoTransform, RecordTransform};
pub use write::TraceWriter;

use std::path::PathBuf;

/// Errors of reading or writing a trace. Messages name the file and never quote a value.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("cannot open trace `{path}`: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "`{path}` is not a readable Parquet file ({reason}); is it truncated, or not Parquet at all?"
    )]
    NotParquet { path: PathBuf, reason: String },
    #[error(
        "`{path}` is not an esr trace: {reason}; turn a log into a trace with `esr ingest LOG -o TRACE`"
    )]
    NotATrace { path: PathBuf, reason: String },
    #[error("reading `{path}` failed near row {row}: {reason}")]
    Read {
        path: PathBuf,
        row: u64,
        reason: String,
    },
    #[error("writing trace `{path}` failed: {reason}")]
    Write { path: PathBuf, reason: String },
}
