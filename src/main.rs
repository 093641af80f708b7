//! The `esr` binary: parses the command line and hands off to one file per subcommand in
//! `cli/`. All the work lives in the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
