//! esr's one bench binary: a module per stage. Run with `cargo bench`; CI only compiles it.

use criterion::{criterion_group, criterion_main};

mod scrub;
mod trace;

criterion_group!(benches, trace::write_and_read, scrub::scrub_throughput);
criterion_main!(benches);
