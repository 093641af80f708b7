//! The scrubbing transform spread over several threads: rows leave in input order and the
//! scrub report sums every lane's counts exactly, so one lane and several give the same
//! trace and the same report.

use std::path::{Path, PathBuf};

use esr::ingest::{IngestOptions, OnError, ingest};
use esr::scrub::{Policy, ScrubKey, ScrubReport, Scrubber};
use esr::trace::{TraceReader, TraceRecord};

use crate::util::{esr, root};

fn key() -> ScrubKey {
    ScrubKey::from_bytes(b"lanes test key, not secret 0123456789", "lanes").unwrap()
}

/// Every row of the trace at `path`.
fn rows_of(path: &Path) -> Vec<TraceRecord> {
    TraceReader::open(path)
        .unwrap()
        .records()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Ingests `inputs` scrubbed on `lanes` transform threads; the rows and the report.
fn scrubbed(inputs: &[PathBuf], lanes: usize, out: &Path) -> (Vec<TraceRecord>, ScrubReport) {
    let s = Scrubber::new(Policy::default(), &key());
    let report = s.report_handle();
    let opts = IngestOptions {
        on_error: OnError::Quarantine,
        transform_threads: lanes,
        ..Default::default()
    };
    let r = ingest(inputs, out, &opts, Box::new(s)).unwrap();
    let rows = rows_of(out);
    assert_eq!(rows.len() as u64, r.rows_out);
    let rep = report.lock().unwrap().clone().expect("report published");
    (rows, rep)
}

#[test]
fn several_lanes_give_the_one_lane_trace_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let sample = root().join("traces/flood_rerate.csv");
    // Four inputs (a batch and an end-of-input message each, dealt over the lanes) and a
    // file with bad rows, so rejected rows pass through the lanes too.
    let mut inputs = vec![sample.clone(); 4];
    inputs.insert(2, root().join("fixtures/ingest/quarantine.csv"));
    let (one_rows, one) = scrubbed(&inputs, 1, &dir.path().join("one.parquet"));
    let (single, single_rep) = scrubbed(&[sample], 1, &dir.path().join("single.parquet"));
    for lanes in [2, 3] {
        let out = dir.path().join(format!("lanes{lanes}.parquet"));
        let (rows, rep) = scrubbed(&inputs, lanes, &out);
        assert!(rows == one_rows, "{lanes} lanes changed the rows");
        assert_eq!(
            serde_json::to_string(&rep).unwrap(),
            serde_json::to_string(&one).unwrap()
        );
    }
    // The counts are sums: four copies of the sample count four times one copy.
    assert_eq!(one.rows, 4 * single_rep.rows + 2);
    for (detector, n) in &single_rep.detected_total {
        assert_eq!(one.detected_total[detector], 4 * n, "{detector}");
    }
    assert!(one_rows.len() > single.len() * 4);
}

#[test]
fn scrub_threads_on_the_command_line_change_nothing_in_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let sample = root().join("traces/flood_rerate.csv");
    let mut outs = Vec::new();
    // No flag: the default (two lanes on a machine with two cores).
    for n in [Some("1"), Some("2"), Some("3"), None] {
        let out = dir
            .path()
            .join(format!("t{}.parquet", n.unwrap_or("default")));
        let o = esr()
            .env(
                "ESR_SCRUB_KEY",
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            )
            .args([
                "ingest",
                sample.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ])
            .args(n.map(|n| ["--scrub-threads", n]).into_iter().flatten())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let rows = rows_of(&out);
        let report = std::fs::read_to_string(out.with_extension("parquet.scrub.json")).unwrap();
        outs.push((rows, report));
    }
    assert_eq!(outs[0].0.len(), 1515);
    for (n, o) in outs.iter().enumerate().skip(1) {
        assert!(
            outs[0] == *o,
            "--scrub-threads (case {n}) changed the output"
        );
    }
}
