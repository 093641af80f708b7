//! esr's one bench binary: a module per stage. Run with `cargo bench`; CI only compiles it.

use criterion::{criterion_group, criterion_main};

mod stub;
mod trace;

criterion_group!(benches, trace::write_and_read, stub::per_request);
criterion_main!(benches);
