//! esr's one integration-test binary. Each module below drives the real `esr` binary or the
//! library end to end; servers bind `127.0.0.1:0`.
//!
//! - `cli`: the command-line contract (help, exit codes, commands not built yet).
//! - `scorecard`: the metrics tap (Parquet rows, HDR histograms) and `esr scorecard`.

mod cli;
mod scorecard;
mod util;
