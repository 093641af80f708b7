//! esr's one bench binary: a module per stage. Run with `cargo bench`; CI only compiles it.

use criterion::{criterion_group, criterion_main};

mod replay;
mod tap;
mod trace;

criterion_group!(
    benches,
    trace::write_and_read,
    tap::record,
    tap::stream,
    replay::schedule,
    replay::dispatch,
    replay::tap
);
criterion_main!(benches);
