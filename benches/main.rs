//! esr's one bench binary: a module per stage. Run with `cargo bench`; CI only compiles it.

use criterion::{criterion_group, criterion_main};

mod ingest;
mod trace;

criterion_group!(benches, trace::write_and_read, ingest::csv_and_parquet);
criterion_main!(benches);
