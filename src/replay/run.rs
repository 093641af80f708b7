//! The run folder: `DATA/runs/RUN-NNNN`, allocated atomically, and its `run.json` — enough to
//! re-run the same experiment (command, esr version, trace digest and key id, target, timing,
//! shard, start time, the stub's config digest when known).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::ReplayError;

/// A freshly allocated run folder.
#[derive(Debug, Clone)]
pub struct RunFolder {
    /// `RUN-0001`.
    pub id: String,
    /// `DATA/runs/RUN-0001`.
    pub dir: PathBuf,
}

/// Allocates the next free `RUN-NNNN` under `data/runs`. `create_dir` fails when the folder
/// exists, so two replays started at once never share a folder.
pub fn allocate(data: &Path) -> Result<RunFolder, ReplayError> {
    let runs = data.join("runs");
    std::fs::create_dir_all(&runs).map_err(|e| {
        ReplayError::Io(format!(
            "cannot create the data folder `{}`: {e}; pick another with --data DIR",
            runs.display()
        ))
    })?;
    // Archived runs (`DATA/archive/RUN-0001.esra.gz`, see `esr runs archive`) keep their
    // numbers too: their folders are gone, but their ids must never be handed out again.
    let highest = highest_run_number(&runs)?.max(highest_run_number(&data.join("archive"))?);
    for n in highest + 1.. {
        let id = format!("RUN-{n:04}");
        let dir = runs.join(&id);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(RunFolder { id, dir }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(ReplayError::Io(format!(
                    "cannot create `{}`: {e}",
                    dir.display()
                )));
            }
        }
    }
    unreachable!("run numbers are unbounded")
}

/// The highest `N` of the `RUN-N...` entries in `dir` (0 when none or no folder).
fn highest_run_number(dir: &Path) -> Result<u64, ReplayError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => {
            return Err(ReplayError::Io(format!(
                "cannot list `{}`: {e}",
                dir.display()
            )));
        }
    };
    Ok(entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let rest = name.to_str()?.strip_prefix("RUN-")?;
            let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
            digits.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0))
}

/// The trace a run replayed.
#[derive(Debug, Clone, Serialize)]
pub struct TraceInfo {
    /// Path as given.
    pub path: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// The scrub key's id, when the trace was scrubbed.
    pub key_id: Option<String>,
    /// Rows in the trace.
    pub rows: u64,
}

/// Timing options of a run.
#[derive(Debug, Clone, Serialize)]
pub struct TimingInfo {
    /// `original`, `scaled` or `fixed_rate`.
    pub mode: &'static str,
    /// `--speed`.
    pub speed: Option<f64>,
    /// `--rate`.
    pub rate: Option<f64>,
    /// `--max-rps`.
    pub max_rps: Option<u32>,
    /// `--concurrency`.
    pub concurrency: usize,
    /// `--timeout`, ms.
    pub timeout_ms: u64,
    /// `--duration`, s.
    pub duration_s: Option<f64>,
    /// `--loop`.
    #[serde(rename = "loop")]
    pub looped: bool,
    /// `--drain`, s.
    pub drain_s: f64,
}

/// `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunManifest {
    /// `RUN-0001`.
    pub run_id: String,
    /// The command line, as typed.
    pub command: Vec<String>,
    /// esr's version.
    pub esr_version: &'static str,
    /// The trace replayed.
    pub trace: TraceInfo,
    /// `--target`.
    pub target: String,
    /// `--host-map` pairs.
    pub host_map: Vec<(String, String)>,
    /// Timing options.
    pub timing: TimingInfo,
    /// `K/N`, when sharded.
    pub shard: Option<String>,
    /// The run clock's zero, RFC 3339 UTC (`--start-at` when given).
    pub started_at: String,
    /// The same, µs since the epoch.
    pub started_at_unix_us: i64,
    /// Requests the schedule plans (none for an endless loop).
    pub intended_requests: Option<u64>,
    /// The stub's configuration digest, when the target is an esr stub that reports one.
    pub stub_config_digest: Option<String>,
}

/// Writes `run.json` into `dir` through a temp file, so a reader never sees half of it.
pub fn write_manifest(dir: &Path, manifest: &RunManifest) -> Result<(), ReplayError> {
    let text = serde_json::to_string_pretty(manifest)
        .map_err(|e| ReplayError::Io(format!("cannot encode run.json: {e}")))?;
    let tmp = dir.join(".run.json.tmp");
    let path = dir.join("run.json");
    std::fs::write(&tmp, text + "\n")
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| ReplayError::Io(format!("cannot write `{}`: {e}", path.display())))
}

/// Marks a run folder whose replay failed: a `FAILED` file holding the error, and no
/// scorecard or report that could pass for a finished run's (`metrics.parquet` only ever
/// appears complete: it is renamed into place after its last byte). Best effort: the disk
/// may be full, so an empty marker is the fallback.
pub fn mark_failed(dir: &Path, error: &str) {
    for f in [
        crate::scorecard::SCORECARD_FILE,
        crate::scorecard::REPORT_FILE,
    ] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let marker = dir.join(FAILED_FILE);
    if std::fs::write(&marker, format!("{error}\n")).is_err() {
        let _ = std::fs::File::create(&marker);
    }
}

/// The marker of a failed run, in its folder.
pub const FAILED_FILE: &str = "FAILED";

/// Why the run in `dir` failed, when it carries the [`FAILED_FILE`] marker of
/// [`mark_failed`]; `None` for a run that did not fail. Every reader of run folders asks this
/// first, so a failed run is reported as failed, never as a run with a missing file.
pub fn failure(dir: &Path) -> Option<String> {
    let marker = dir.join(FAILED_FILE);
    if !marker.is_file() {
        return None;
    }
    let why = std::fs::read_to_string(&marker).unwrap_or_default();
    let why = why.trim();
    Some(if why.is_empty() {
        "no reason was recorded (the disk may have been full)".to_string()
    } else {
        why.to_string()
    })
}

/// SHA-256 of a file, hex, read in 64 KiB blocks.
pub fn sha256_file(path: &Path) -> Result<String, ReplayError> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| ReplayError::Io(format!("cannot open `{}`: {e}", path.display())))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| ReplayError::Io(format!("cannot read `{}`: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Formats µs since the epoch as RFC 3339 UTC with milliseconds (`2026-11-27T00:30:00.000Z`).
pub fn rfc3339(unix_us: i64) -> String {
    let secs = unix_us.div_euclid(1_000_000);
    let ms = unix_us.rem_euclid(1_000_000) / 1000;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Now, µs since the epoch.
pub fn unix_now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_count_up_and_never_collide() {
        let data = tempfile::tempdir().unwrap();
        let a = allocate(data.path()).unwrap();
        let b = allocate(data.path()).unwrap();
        assert_eq!((a.id.as_str(), b.id.as_str()), ("RUN-0001", "RUN-0002"));
        std::fs::create_dir(data.path().join("runs/RUN-0041")).unwrap();
        assert_eq!(allocate(data.path()).unwrap().id, "RUN-0042");
        assert!(b.dir.is_dir());
        std::fs::create_dir(data.path().join("archive")).unwrap();
        std::fs::write(data.path().join("archive/RUN-0050.esra.gz"), b"").unwrap();
        assert_eq!(allocate(data.path()).unwrap().id, "RUN-0051");
    }

    #[test]
    fn a_failed_run_keeps_its_manifest_and_loses_its_scorecard() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["run.json", "scorecard.json", "report.html"] {
            std::fs::write(dir.path().join(f), "{}").unwrap();
        }
        mark_failed(dir.path(), "cannot write `metrics.parquet`: disk full");
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["FAILED", "run.json"]);
        let why = std::fs::read_to_string(dir.path().join(FAILED_FILE)).unwrap();
        assert!(why.contains("disk full"));
        assert_eq!(failure(dir.path()).as_deref(), Some(why.trim()));
    }

    #[test]
    fn failure_reads_the_marker_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(failure(dir.path()), None);
        std::fs::write(dir.path().join(FAILED_FILE), "").unwrap();
        assert!(failure(dir.path()).unwrap().contains("no reason"));
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(951_868_800_000_000 + 1_500),
            "2000-03-01T00:00:00.001Z"
        );
        let t = super::super::parse_start_at("2026-11-27T00:30:05.250Z").unwrap();
        assert_eq!(rfc3339(t), "2026-11-27T00:30:05.250Z");
    }
}
