//! `esr keygen -o FILE`: writes a new random scrub key, readable by its owner only.

use std::path::PathBuf;

use esr::scrub::key::write_new_key;

use super::Exit;

/// Write a new random scrub key (32 random bytes as hex) to a file with 0600 permissions.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the key; an existing file is never overwritten.
    #[arg(short, long)]
    output: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<Exit> {
    let id = write_new_key(&a.output)?;
    println!(
        "wrote a new scrub key to {} (key id {id}, permissions 0600)",
        a.output.display()
    );
    println!(
        "keep it secret and use it with `--key-file {}`; the same key links pseudonyms across runs, a new key starts fresh",
        a.output.display()
    );
    Ok(Exit::Ok)
}
