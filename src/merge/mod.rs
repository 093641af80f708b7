//! Shard merging: takes the run folders of `esr replay --shard K/N` workers, gives one run
//! folder whose figures are those of the whole replay.
//!
//! HDR histograms come from each run's serialized `histograms.json` and are added exactly
//! (nothing is re-estimated); counts, per-endpoint figures and the per-second series are summed;
//! `metrics.parquet` files are streamed, batch by batch, into one file. The merged `run.json`
//! lists its parts and any shard that is missing (a `partial` merge).
//!
//! It must never merge runs of different traces or overlapping shards (two runs of the same
//! K, or different N), never hold the runs' rows in memory, and never print a request's data:
//! only run ids, shard numbers, counts and file names.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::replay::Shard;
use crate::scorecard::{RunContext, SCORECARD_FILE, Scorecard, Threshold};
use crate::tap::{
    Aggregator, HISTOGRAMS_FILE, LiveMetrics, METRICS_FILE, MetricsWriter, RunHistograms, TapError,
    TapSummary, read_outcomes,
};

/// Errors of merging. Messages name run folders and shards; never a request's data.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(
        "`{run}` is a failed run ({reason}); merge only finished shard runs: replay this shard \
         again"
    )]
    Failed { run: PathBuf, reason: String },
    #[error("`{run}` is not a readable run: {reason}")]
    BadRun { run: PathBuf, reason: String },
    #[error(
        "`{run}` is not a shard run (its run.json has no `shard`); merge only runs of \
         `esr replay --shard K/N`"
    )]
    NotAShard { run: PathBuf },
    #[error(
        "runs of different traces: `{a}` replayed trace `{a_sha}` but `{b}` replayed `{b_sha}`; \
         merge only shards of one trace"
    )]
    DifferentTraces {
        a: String,
        a_sha: String,
        b: String,
        b_sha: String,
    },
    #[error(
        "overlapping shards: `{a}` is shard `{a_shard}` and `{b}` is shard `{b_shard}`; each \
         shard K of one N may be given once"
    )]
    Overlap {
        a: String,
        a_shard: String,
        b: String,
        b_shard: String,
    },
    #[error("no runs to merge: give at least one shard run")]
    Empty,
    #[error(
        "the output folder `{0}` already holds a run; pick a new folder with -o (nothing was \
         written)"
    )]
    OutputExists(PathBuf),
    #[error(transparent)]
    Tap(#[from] TapError),
}

/// One shard run to merge, as its `run.json` and `scorecard.json` describe it.
#[derive(Debug, Clone)]
pub struct Part {
    /// The run folder.
    pub dir: PathBuf,
    /// `RUN-0001` (the folder's name when `run.json` has none).
    pub run_id: String,
    /// SHA-256 of the trace replayed.
    pub trace_sha256: String,
    /// `K/N`.
    pub shard: Shard,
    /// The run clock's zero (µs since the epoch).
    pub started_at_unix_us: i64,
    /// `run.json` as stored.
    pub manifest: Value,
    /// `scorecard.json`, when the run has one.
    pub card: Option<Scorecard>,
}

impl Part {
    /// Reads a shard run folder's `run.json` (and `scorecard.json` when present).
    pub fn read(dir: &Path) -> Result<Part, MergeError> {
        let bad = |reason: String| MergeError::BadRun {
            run: dir.to_path_buf(),
            reason,
        };
        if let Some(reason) = crate::replay::run::failure(dir) {
            return Err(MergeError::Failed {
                run: dir.to_path_buf(),
                reason,
            });
        }
        let text = std::fs::read_to_string(dir.join("run.json"))
            .map_err(|e| bad(format!("cannot read its run.json ({e})")))?;
        let manifest: Value = serde_json::from_str(&text)
            .map_err(|e| bad(format!("its run.json is not valid JSON ({e})")))?;
        for f in [METRICS_FILE, HISTOGRAMS_FILE] {
            if !dir.join(f).is_file() {
                return Err(bad(format!("it has no `{f}`; was the run finished?")));
            }
        }
        let shard = match manifest["shard"].as_str() {
            Some(s) => Shard::parse(s).map_err(|e| bad(e.to_string()))?,
            None => return Err(MergeError::NotAShard { run: dir.into() }),
        };
        let trace_sha256 = manifest["trace"]["sha256"]
            .as_str()
            .ok_or_else(|| bad("its run.json has no `trace.sha256`".into()))?
            .to_string();
        let run_id = manifest["run_id"]
            .as_str()
            .map(str::to_string)
            .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let card_path = dir.join(SCORECARD_FILE);
        let card = if card_path.is_file() {
            Some(Scorecard::read(&card_path).map_err(|e| bad(e.to_string()))?)
        } else {
            None
        };
        Ok(Part {
            dir: dir.to_path_buf(),
            run_id,
            trace_sha256,
            shard,
            started_at_unix_us: manifest["started_at_unix_us"].as_i64().unwrap_or(0),
            manifest,
            card,
        })
    }
}

/// Which shards of `N` the parts cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// N.
    pub count: u32,
    /// The K given, ascending.
    pub present: Vec<u32>,
    /// The K of N not given, ascending; empty for a complete merge.
    pub missing: Vec<u32>,
}

impl Coverage {
    /// True when some shard is missing.
    pub fn partial(&self) -> bool {
        !self.missing.is_empty()
    }

    /// `shard 3/3 missing` / `shards 2/4, 4/4 missing`, for notes and messages.
    pub fn describe_missing(&self) -> String {
        let list: Vec<String> = self
            .missing
            .iter()
            .map(|k| format!("{k}/{}", self.count))
            .collect();
        let noun = if list.len() == 1 { "shard" } else { "shards" };
        format!("{noun} {} missing", list.join(", "))
    }
}

/// Checks that the parts are shards of one trace and do not overlap; names what is missing.
pub fn check(parts: &[Part]) -> Result<Coverage, MergeError> {
    let first = parts.first().ok_or(MergeError::Empty)?;
    let mut seen: Vec<&Part> = Vec::new();
    for p in parts {
        if p.trace_sha256 != first.trace_sha256 {
            return Err(MergeError::DifferentTraces {
                a: first.run_id.clone(),
                a_sha: first.trace_sha256.clone(),
                b: p.run_id.clone(),
                b_sha: p.trace_sha256.clone(),
            });
        }
        let clash = seen
            .iter()
            .find(|q| q.shard.count != p.shard.count || q.shard.index == p.shard.index);
        if let Some(q) = clash {
            return Err(MergeError::Overlap {
                a: q.run_id.clone(),
                a_shard: q.shard.to_string(),
                b: p.run_id.clone(),
                b_shard: p.shard.to_string(),
            });
        }
        seen.push(p);
    }
    let count = first.shard.count;
    let present: BTreeSet<u32> = parts.iter().map(|p| p.shard.index).collect();
    Ok(Coverage {
        count,
        missing: (1..=count).filter(|k| !present.contains(k)).collect(),
        present: present.into_iter().collect(),
    })
}

/// The merged run's figures, after [`merge_into`] wrote its data files.
#[derive(Debug, Clone)]
pub struct Merged {
    /// Counts, per-endpoint figures and series summed; histograms merged from the stored ones.
    pub summary: TapSummary,
    /// The merged run's context (intended requests summed, the first part's target and clock).
    pub ctx: RunContext,
    /// The thresholds the parts were run with (deduplicated), to judge the whole by default.
    pub part_thresholds: Vec<Threshold>,
    /// Which shards were merged.
    pub coverage: Coverage,
}

/// Merges `parts` into the folder `out` (created; refused if it already holds a run): writes
/// `metrics.parquet` (every part's rows, streamed) and `histograms.json` (exact sums). The
/// caller builds and writes the scorecard and `run.json` (see [`manifest`]).
pub fn merge_into(parts: &[Part], out: &Path) -> Result<Merged, MergeError> {
    let coverage = check(parts)?;
    if out.join("run.json").exists() || out.join(METRICS_FILE).exists() {
        return Err(MergeError::OutputExists(out.to_path_buf()));
    }
    std::fs::create_dir_all(out).map_err(|source| TapError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let mut writer = MetricsWriter::create(out)?;
    let mut total: Option<TapSummary> = None;
    for p in parts {
        // One pass per part: each row goes to the merged file and to this part's counts.
        let mut agg = Aggregator::new(Arc::new(LiveMetrics::new()));
        let mut write_err = None;
        read_outcomes(&p.dir.join(METRICS_FILE), |o| {
            agg.record(&o);
            if write_err.is_none() {
                write_err = writer.write(&o).err();
            }
        })?;
        if let Some(e) = write_err {
            return Err(e.into());
        }
        let mut summary = agg.into_summary(&p.dir, p.dir.join(METRICS_FILE));
        // The stored histograms are the run's own record: merge those, not a re-estimate.
        summary.histograms = RunHistograms::read(&p.dir)?;
        match &mut total {
            Some(t) => t.merge(&summary)?,
            None => total = Some(summary),
        }
    }
    let (metrics_path, _) = writer.finish()?;
    let mut summary = total.ok_or(MergeError::Empty)?;
    summary.run_dir = out.to_path_buf();
    summary.metrics_path = metrics_path;
    summary.histograms_path = out.join(HISTOGRAMS_FILE);
    summary.histograms.write(out)?;
    let (ctx, part_thresholds) = context(parts, out);
    Ok(Merged {
        summary,
        ctx,
        part_thresholds,
        coverage,
    })
}

/// The merged run's context from the parts' scorecards and manifests.
fn context(parts: &[Part], out: &Path) -> (RunContext, Vec<Threshold>) {
    let first = &parts[0];
    let mut ctx = first.card.as_ref().map(RunContext::of).unwrap_or_default();
    ctx.run_id = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if ctx.started_at.is_empty() {
        ctx.started_at = first.manifest["started_at"]
            .as_str()
            .unwrap_or("")
            .to_string();
    }
    if ctx.target.is_empty() {
        ctx.target = first.manifest["target"].as_str().unwrap_or("").to_string();
    }
    // The stub's overhead is per process; a sum of shards would mean nothing.
    ctx.stub_overhead_ms = None;
    ctx.intended_requests = 0;
    ctx.intended_duration_s = 0.0;
    ctx.compliance_hits = 0;
    ctx.esq_rule_violations = Vec::new();
    ctx.queued = 0;
    ctx.throttled = 0;
    ctx.interrupted = false;
    let mut thresholds: Vec<String> = Vec::new();
    for p in parts {
        let planned = p.manifest["intended_requests"]
            .as_u64()
            .or(p.card.as_ref().map(|c| c.intended_requests))
            .unwrap_or(0);
        ctx.intended_requests += planned;
        if let Some(c) = &p.card {
            ctx.intended_duration_s = ctx.intended_duration_s.max(c.intended_duration_s);
            ctx.compliance_hits += c.compliance_hits;
            ctx.esq_rule_violations = crate::scorecard::merge_violations(
                ctx.esq_rule_violations.iter().chain(&c.esq_rule_violations),
            );
            ctx.queued += c.queued;
            ctx.throttled += c.throttled;
            ctx.interrupted |= c.interrupted;
            for t in &c.thresholds {
                if !thresholds.contains(&t.threshold) {
                    thresholds.push(t.threshold.clone());
                }
            }
        }
    }
    let parsed = thresholds
        .iter()
        .filter_map(|t| Threshold::parse(t).ok())
        .collect();
    (ctx, parsed)
}

/// The merged `run.json`: the trace, the shard count, every part and what is missing.
pub fn manifest(parts: &[Part], merged: &Merged, command: &[String]) -> Value {
    let first = &parts[0];
    let starts: BTreeSet<i64> = parts.iter().map(|p| p.started_at_unix_us).collect();
    json!({
        "run_id": merged.ctx.run_id,
        "kind": "merge",
        "command": command,
        "esr_version": env!("CARGO_PKG_VERSION"),
        "trace": first.manifest["trace"],
        "target": first.manifest["target"],
        "started_at": first.manifest["started_at"],
        "started_at_unix_us": first.started_at_unix_us,
        "same_start": starts.len() == 1,
        "shard_count": merged.coverage.count,
        "partial": merged.coverage.partial(),
        "missing_shards": merged.coverage.missing.iter()
            .map(|k| format!("{k}/{}", merged.coverage.count)).collect::<Vec<_>>(),
        "intended_requests": merged.ctx.intended_requests,
        "requests": merged.summary.counts.requests,
        "parts": parts.iter().map(|p| json!({
            "run_id": p.run_id,
            "dir": p.dir.display().to_string(),
            "shard": p.shard.to_string(),
            "started_at_unix_us": p.started_at_unix_us,
            "requests": p.card.as_ref().map(|c| c.requests),
        })).collect::<Vec<_>>(),
    })
}

/// Notes the merge adds to the scorecard: a partial merge, shards on different clocks.
pub fn notes(parts: &[Part], coverage: &Coverage) -> Vec<String> {
    let mut notes = vec![format!(
        "merged from {} shard run(s) of {}",
        parts.len(),
        coverage.count
    )];
    if coverage.partial() {
        notes.push(format!(
            "PARTIAL merge: {}; the figures cover only the shards given",
            coverage.describe_missing()
        ));
    }
    let starts: BTreeSet<i64> = parts.iter().map(|p| p.started_at_unix_us).collect();
    if starts.len() > 1 {
        notes.push(
            "the shards did not share one --start-at; the series align each run's own clock".into(),
        );
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(run: &str, sha: &str, shard: &str) -> Part {
        Part {
            dir: PathBuf::from(run),
            run_id: run.into(),
            trace_sha256: sha.into(),
            shard: Shard::parse(shard).unwrap(),
            started_at_unix_us: 0,
            manifest: Value::Null,
            card: None,
        }
    }

    #[test]
    fn complete_shards_cover_everything() {
        let parts = [
            part("a", "x", "2/3"),
            part("b", "x", "1/3"),
            part("c", "x", "3/3"),
        ];
        let c = check(&parts).unwrap();
        assert_eq!(c.present, vec![1, 2, 3]);
        assert!(!c.partial());
    }

    #[test]
    fn a_missing_shard_is_named() {
        let c = check(&[part("a", "x", "1/3"), part("b", "x", "3/3")]).unwrap();
        assert_eq!(c.missing, vec![2]);
        assert_eq!(c.describe_missing(), "shard 2/3 missing");
    }

    #[test]
    fn different_traces_same_k_and_different_n_are_refused() {
        let e = check(&[part("a", "x", "1/3"), part("b", "y", "2/3")]).unwrap_err();
        assert!(matches!(e, MergeError::DifferentTraces { .. }), "{e}");
        let e = check(&[part("a", "x", "1/3"), part("b", "x", "1/3")]).unwrap_err();
        assert!(e.to_string().contains("overlapping shards"), "{e}");
        let e = check(&[part("a", "x", "1/3"), part("b", "x", "2/4")]).unwrap_err();
        assert!(matches!(e, MergeError::Overlap { .. }), "{e}");
        assert!(matches!(check(&[]), Err(MergeError::Empty)));
    }
}
