//! The hook through which a stage rewrites records while a trace is written.

use super::{TraceMeta, TraceRecord};

/// A per-record rewrite applied while a trace is written. The scrubber is one; ingest and
/// `esr scrub` drive it, so rows are rewritten before they touch the disk (spill files
/// included).
pub trait RecordTransform: Send {
    /// Called once, before the first record, with the input's extra column names. Returns the
    /// output's extra column names (a transform may drop columns). An error is a message for
    /// the user (for example a policy naming a column that does not exist).
    fn begin(&mut self, extra: &[String]) -> Result<Vec<String>, String>;

    /// Rewrites one record in place. On entry `record.extra` follows the input's extra
    /// columns; on return it must follow the output's.
    fn apply(&mut self, record: &mut TraceRecord);

    /// Metadata to record in the output trace (policy digest, key id), after the last record.
    fn meta(&self) -> TraceMeta;

    /// Another instance doing the same rewrite, for another thread, when the per-record work
    /// is worth spreading (the scrubber). Called after `begin`. A worker's `apply` must give
    /// what this instance's would, and what it counts must reach this instance's `meta` once
    /// the worker is dropped. `None` (the default): every record goes through this instance.
    fn worker(&self) -> Option<Box<dyn RecordTransform>> {
        None
    }
}

/// The identity transform, used by `--no-scrub`: the output is not anonymized.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTransform;

impl RecordTransform for NoTransform {
    fn begin(&mut self, extra: &[String]) -> Result<Vec<String>, String> {
        Ok(extra.to_vec())
    }

    fn apply(&mut self, _record: &mut TraceRecord) {}

    fn meta(&self) -> TraceMeta {
        TraceMeta::default()
    }
}
