//! `esr scrub TRACE -o OUT`: scrubs an existing trace with a policy, writes the scrubbed trace
//! atomically and its report beside it (`OUT.scrub.json`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use esr::scrub::{DEFAULT_POLICY, Policy, ScrubKey, ScrubReport, Scrubber};
use esr::trace::{RecordTransform, TraceReader, TraceWriter, records_of};

use super::Exit;

/// Scrub an existing trace: replace personal data with keyed pseudonyms by a policy.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The trace to scrub.
    #[arg(required_unless_present = "print_default_policy")]
    trace: Option<PathBuf>,
    /// Where to write the scrubbed trace; the report goes beside it as `OUT.scrub.json`.
    #[arg(short, long, required_unless_present = "print_default_policy")]
    output: Option<PathBuf>,
    /// Scrub policy (TOML); without it the safe default policy applies.
    #[arg(long)]
    policy: Option<PathBuf>,
    #[command(flatten)]
    key: KeyArgs,
    /// Print the default policy (a starting point for your own) and exit.
    #[arg(long)]
    print_default_policy: bool,
}

/// Where the scrub key comes from (shared by `scrub` and `ingest`).
#[derive(Debug, Clone, clap::Args)]
pub struct KeyArgs {
    /// File holding the scrub key (make one with `esr keygen -o FILE`); otherwise the key is
    /// read from the ESR_SCRUB_KEY environment variable.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Use a random key for this run only: pseudonyms will not link with any other run.
    #[arg(long)]
    pub ephemeral_key: bool,
}

impl KeyArgs {
    /// Resolves the key; no key is an error that says how to get one.
    pub fn key(&self) -> anyhow::Result<ScrubKey> {
        Ok(ScrubKey::resolve(
            self.key_file.as_deref(),
            self.ephemeral_key,
        )?)
    }
}

/// Loads `--policy`, or the default policy.
pub fn load_policy(path: Option<&Path>) -> anyhow::Result<Policy> {
    Ok(match path {
        Some(p) => Policy::load(p)?,
        None => Policy::default(),
    })
}

/// Writes the report beside `trace` and prints its summary.
pub fn write_report(report: &ScrubReport, trace: &Path) -> anyhow::Result<()> {
    let path = ScrubReport::path_beside(trace);
    report
        .write_json(&path)
        .with_context(|| format!("cannot write the scrub report `{}`", path.display()))?;
    print!("{}", report.summary());
    println!("  report: {}", path.display());
    Ok(())
}

pub fn run(a: Args) -> anyhow::Result<Exit> {
    if a.print_default_policy {
        print!("{DEFAULT_POLICY}");
        return Ok(Exit::Ok);
    }
    let (Some(input), Some(output)) = (a.trace, a.output) else {
        anyhow::bail!("`esr scrub` needs a TRACE and `-o OUT`");
    };
    if input == output {
        anyhow::bail!(
            "`-o {}` is the input trace; write the scrubbed trace to another path",
            output.display()
        );
    }
    let policy = load_policy(a.policy.as_deref())?;
    let key = a.key.key()?;
    let mut scrubber = Scrubber::new(policy, &key);
    let reader = TraceReader::open(&input)?;
    let mut in_meta = reader.meta().clone();
    let out_cols = scrubber
        .begin(reader.extra_columns())
        .map_err(|m| anyhow::anyhow!("{m} (input `{}`)", input.display()))?;
    let mut writer = TraceWriter::create(&output, out_cols)?;
    for batch in reader.batches(8192)? {
        for mut rec in records_of(&batch?) {
            scrubber.apply(&mut rec);
            writer.write(&rec)?;
        }
    }
    let mut meta = scrubber.meta();
    in_meta.other.retain(|k, _| !k.starts_with("esr.scrub."));
    in_meta.other.extend(meta.other);
    meta.other = in_meta.other;
    writer.finish(meta)?;
    write_report(&scrubber.report(), &output)?;
    Ok(Exit::Ok)
}
