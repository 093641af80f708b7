//! The `esr` binary: parses the command line and hands off to one file per subcommand in
//! `cli/`. All the work lives in the library.

mod cli;

// Ingest moves every row's strings between threads (read, scrub, write): glibc's allocator
// spent a quarter of a scrubbed ingest's CPU on that traffic (consolidating and unlinking
// chunks); mimalloc's per-thread free lists do not.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Ingest's records are allocated by the reader's thread and freed by the writer's, so the
// writer frees into pages another thread abandoned. Letting it take those pages over
// (mimalloc's `page_reclaim_on_free` = 1; by default only the thread that made a page may)
// cut a scrubbed 5M-row ingest's CPU by about 8 %: the reader stops finding its pages full
// of blocks freed elsewhere. Freed memory also waits a second (not 10 ms) before it goes back
// to the OS: the next batch of rows needs it again, and returning and faulting it back in
// cost system time (5M rows: 1.4 -> 1.0 s of it; peak RSS unchanged).
unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}
/// `mi_option_page_reclaim_on_free` in the `mi_option_t` enum of mimalloc v3 (the version
/// `libmimalloc-sys` 0.1.49 builds; Cargo.lock pins it).
const MI_OPTION_PAGE_RECLAIM_ON_FREE: std::ffi::c_int = 35;
/// `mi_option_purge_delay` there: milliseconds before freed memory goes back to the OS.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

fn main() -> std::process::ExitCode {
    // SAFETY: `mi_option_set` stores one integer in the option table of the allocator this
    // binary links, which takes any value for these two options; it runs before any other
    // thread exists.
    unsafe {
        mi_option_set(MI_OPTION_PAGE_RECLAIM_ON_FREE, 1);
        mi_option_set(MI_OPTION_PURGE_DELAY, 1000);
    }
    cli::main()
}
