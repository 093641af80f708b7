//! The `esr` binary: parses the command line and hands off to one file per subcommand in
//! `cli/`. All the work lives in the library.

mod cli;

// Ingest moves every row's strings between threads (read, scrub, write): glibc's allocator
// spent a quarter of a scrubbed ingest's CPU on that traffic (consolidating and unlinking
// chunks); mimalloc's per-thread free lists do not.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
