//! esr's one bench binary: a module per stage. Run with `cargo bench`; CI only compiles it.

use criterion::{criterion_group, criterion_main};

mod diff;
mod ingest;
mod replay;
mod scrub;
mod stub;
mod tap;
mod trace;

criterion_group!(
    benches,
    trace::write_and_read,
    ingest::csv_and_parquet,
    scrub::scrub_throughput,
    tap::record,
    tap::stream,
    replay::schedule,
    replay::dispatch,
    replay::tap,
    stub::per_request,
    diff::bootstrap,
    diff::field_diff,
);
criterion_main!(benches);
