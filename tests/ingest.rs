//! Ingest end to end: every input format, the error paths, merge, sort (in memory and
//! spilled), quarantine and the rows invariant, the transform hook, inspect and demo.

use std::path::{Path, PathBuf};

use esr::ingest::{
    Format, IngestOptions, OnError, ReadOptions, TsUnit, ingest, parse_map, read_input,
};
use esr::trace::{NoTransform, RecordTransform, TraceMeta, TraceReader, TraceRecord};

use crate::util::{esr, root, run_in, text};

fn fx(name: &str) -> PathBuf {
    root().join("fixtures/ingest").join(name)
}

fn records(trace: &Path) -> Vec<TraceRecord> {
    TraceReader::open(trace)
        .unwrap()
        .records()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Runs `esr ingest INPUTS -o DIR/out.parquet --no-scrub ARGS`; returns the output and trace.
fn cli_ingest(inputs: &[&str], args: &[&str]) -> (std::process::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.parquet");
    let mut cmd = esr();
    cmd.arg("ingest");
    for i in inputs {
        cmd.arg(fx(i));
    }
    let o = cmd
        .arg("-o")
        .arg(&out)
        .arg("--no-scrub")
        .args(args)
        .output()
        .unwrap();
    (o, dir)
}

fn ok_ingest(inputs: &[&str], args: &[&str]) -> (Vec<TraceRecord>, Vec<String>, String) {
    let (o, dir) = cli_ingest(inputs, args);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let trace = dir.path().join("out.parquet");
    let extra = TraceReader::open(&trace).unwrap().extra_columns().to_vec();
    (records(&trace), extra, stdout)
}

fn is_sorted(recs: &[TraceRecord]) -> bool {
    recs.windows(2).all(|w| w[0].ts_us <= w[1].ts_us)
}

const T0: i64 = 1_795_183_200_000_000; // 2026-11-20T14:00:00Z

#[test]
fn csv_is_mapped_validated_and_sorted_stably() {
    let (recs, extra, stdout) = ok_ingest(&["good.csv"], &[]);
    assert!(
        stdout.contains("rows in 5 = out 5 + rejected 0"),
        "{stdout}"
    );
    assert!(stdout.contains("NOT anonymized"), "{stdout}");
    assert_eq!(extra, ["email", "client_ip"]);
    assert!(is_sorted(&recs));
    let paths: Vec<&str> = recs.iter().map(|r| r.path.as_str()).collect();
    // The two rows at 14:00:03 keep their input order.
    assert_eq!(
        paths,
        [
            "/login",
            "/login",
            "/pay?attempt=1",
            "/fetch_premium",
            "/pay"
        ]
    );
    assert_eq!(recs[0].ts_us, T0 + 1_100_000);
    let pay = &recs[2];
    assert_eq!(pay.host.as_deref(), Some("pay.hms.example"));
    assert_eq!(pay.status, Some(201));
    assert_eq!(pay.latency_ms, Some(310.25));
    assert_eq!(pay.session.as_deref(), Some("c-2"));
    assert!(pay.headers.as_deref().unwrap().contains("Bearer"));
    assert_eq!(recs[3].method, "POST");
    let last = &recs[4];
    assert_eq!(
        (last.status, last.latency_ms, &last.body),
        (None, None, &None)
    );
    assert_eq!(last.extra[0].as_deref(), Some("ana.chen1@example.com"));
}

#[test]
fn gzipped_csv_reads_like_the_plain_file() {
    let (plain, _, _) = ok_ingest(&["good.csv"], &[]);
    let (gz, _, _) = ok_ingest(&["good.csv.gz"], &[]);
    assert_eq!(plain, gz);
}

#[test]
fn delimiter_and_detected_epoch_units_are_reported() {
    let (recs, _, stdout) = ok_ingest(&["semicolon.csv"], &["--delimiter", ";"]);
    assert!(stdout.contains("epoch ms (detected"), "{stdout}");
    assert_eq!(recs[0].ts_us, T0);
    assert_eq!(recs[0].method, "GET");
    assert_eq!(recs[1].path, "/c/42");
    assert_eq!(recs[1].method, "DELETE");

    let (recs, _, stdout) = ok_ingest(&["epoch_s.tsv"], &[]);
    assert!(stdout.contains("epoch s (detected"), "{stdout}");
    assert_eq!(recs[0].ts_us, T0);
    assert_eq!(recs[1].ts_us, T0 + 250_000);
    assert_eq!(recs[1].latency_ms, Some(1.5));

    // A given unit wins over detection.
    let (o, _) = cli_ingest(&["semicolon.csv"], &["--delimiter", ";", "--ts-unit", "s"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("is `--ts-unit` right?"),
        "{}",
        text(&o).1
    );
}

#[test]
fn apache_timestamps_in_csv() {
    let (recs, _, _) = ok_ingest(&["apache_ts.csv"], &[]);
    assert_eq!(recs[0].ts_us, T0);
    assert_eq!(recs[1].ts_us, T0 + 1_000_000);
    assert_eq!(recs[1].path, "/one");
}

#[test]
fn map_names_unusual_columns() {
    let (o, _) = cli_ingest(&["mapped.csv"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let (_, stderr) = text(&o);
    assert!(stderr.contains("no column for `ts`"), "{stderr}");
    assert!(
        stderr.contains("`when`, `op`, `target`, `who`, `zone`"),
        "{stderr}"
    );
    let (recs, extra, _) = ok_ingest(
        &["mapped.csv"],
        &[
            "--map",
            "ts=when,method=op",
            "--map",
            "path=target,session=who",
        ],
    );
    assert_eq!(extra, ["zone"]);
    assert_eq!(recs[1].method, "POST");
    assert_eq!(recs[1].session.as_deref(), Some("c-9"));
    assert_eq!(recs[1].extra, [Some("AE".to_string())]);
}

#[test]
fn json_lines_with_varying_keys_and_nested_values() {
    let (recs, extra, stdout) = ok_ingest(&["good.jsonl"], &[]);
    assert!(stdout.contains("epoch us (detected"), "{stdout}");
    assert_eq!(extra, ["user", "client_ip"]);
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0].path, "/quote?z=AE");
    assert_eq!(recs[0].latency_ms, Some(12.5));
    assert_eq!(recs[1].status, None);
    assert_eq!(recs[1].extra[1].as_deref(), Some("192.0.2.1"));
    let pay = &recs[2];
    assert_eq!(pay.ts_us, T0 + 2_000_000);
    let h: serde_json::Value = serde_json::from_str(pay.headers.as_deref().unwrap()).unwrap();
    assert_eq!(h["Authorization"], "Bearer abc.def.ghi");
    let b: serde_json::Value = serde_json::from_slice(pay.body.as_deref().unwrap()).unwrap();
    assert_eq!(b["card_number"], "4111111111111111");
    assert_eq!(pay.extra[0].as_deref(), Some("c-1"));
}

#[test]
fn combined_log_format() {
    let (recs, extra, _) = ok_ingest(&["combined.log"], &[]);
    assert_eq!(
        extra,
        ["client_ip", "ident", "remote_user", "bytes", "rest"]
    );
    assert!(is_sorted(&recs));
    // 15:00:00 +0100 is 14:00:00 UTC.
    let r = &recs[0];
    assert_eq!(r.ts_us, T0);
    assert_eq!(r.host.as_deref(), Some("rating.hms.example"));
    assert_eq!(r.path, "/fetch_premium");
    assert_eq!(r.extra[3], None, "bytes `-`");
    let h: serde_json::Value = serde_json::from_str(r.headers.as_deref().unwrap()).unwrap();
    assert_eq!(h["User-Agent"], "curl/8.5.0");
    assert!(h.get("Referer").is_none());
    let search = &recs[1];
    assert_eq!(search.path, r#"/search?q="flood""#);
    assert_eq!(search.status, Some(304));
    assert_eq!(search.extra[4].as_deref(), Some(r#"0.004 "-""#));
    let pay = &recs[2];
    assert_eq!(
        (pay.method.as_str(), pay.path.as_str()),
        ("POST", "/pay?x=1")
    );
    assert_eq!(pay.extra[0].as_deref(), Some("192.0.2.44"));
    assert_eq!(pay.extra[2].as_deref(), Some("jane"));
    assert_eq!(pay.extra[3].as_deref(), Some("512"));
    let h: serde_json::Value = serde_json::from_str(pay.headers.as_deref().unwrap()).unwrap();
    assert_eq!(h["Referer"], "https://portal.hms.example/quote");

    let (recs, _, _) = ok_ingest(&["common.log"], &[]);
    assert_eq!(recs[0].path, "/b");
    assert_eq!(recs[0].status, Some(404));
    assert_eq!(recs[0].headers, None);
}

#[test]
fn har_entries_become_requests() {
    let (recs, extra, _) = ok_ingest(&["good.har"], &[]);
    assert!(extra.is_empty());
    assert_eq!(recs.len(), 2);
    let get = &recs[0];
    assert_eq!(get.ts_us, T0 + 1_000_000);
    assert_eq!(get.host.as_deref(), Some("rating.hms.example"));
    assert_eq!(get.path, "/fetch_premium?p=1");
    assert_eq!(get.status, None, "status 0 means no response");
    assert_eq!(get.latency_ms, Some(40.0));
    let pay = &recs[1];
    let h: serde_json::Value = serde_json::from_str(pay.headers.as_deref().unwrap()).unwrap();
    assert!(h.get(":authority").is_none());
    assert_eq!(h["accept"], "a, b");
    assert_eq!(h["cookie"], "sid=abc");
    assert_eq!(pay.status, Some(201));
    assert_eq!(
        pay.body.as_deref(),
        Some(br#"{"card_number":"4111111111111111"}"#.as_slice())
    );
}

#[test]
fn parquet_written_by_pyarrow() {
    // timestamp[ms, UTC], int32 status, float32 latency, binary body, int64 extra; snappy.
    let (recs, extra, _) = ok_ingest(&["pyarrow_snappy.parquet"], &[]);
    assert_eq!(extra, ["client_ip", "attempt"]);
    assert!(is_sorted(&recs));
    assert_eq!(recs[0].ts_us, T0);
    assert_eq!(recs[0].path, "/quote?z=AE");
    assert_eq!(recs[0].latency_ms, Some(12.25));
    // Equal timestamps keep file order.
    assert_eq!(recs[1].host.as_deref(), Some("rating.hms.example"));
    assert_eq!(recs[1].status, None);
    assert_eq!(recs[2].path, "/login");
    assert_eq!(recs[2].body.as_deref(), Some(b"\x00\xff".as_slice()));
    assert_eq!(recs[3].session.as_deref(), Some("c-1"));
    assert_eq!(recs[3].extra[1].as_deref(), Some("1"));

    // int64 epoch ms, large_string and string status; zstd.
    let (recs, _, stdout) = ok_ingest(&["pyarrow_zstd_epoch_ms.parquet"], &[]);
    assert!(stdout.contains("epoch ms (detected"), "{stdout}");
    assert_eq!(recs[0].ts_us, T0);
    assert_eq!(recs[0].status, Some(503));
}

/// Writes a two-row log whose text and body columns use the given Arrow layouts.
fn layout_log(path: &Path, text: &arrow::datatypes::DataType, body: &arrow::datatypes::DataType) {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, BinaryArray, Int64Array, StringArray};
    use arrow::compute::cast;
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;

    let strings = |v: Vec<Option<&str>>| -> ArrayRef {
        cast(&(Arc::new(StringArray::from(v)) as ArrayRef), text).unwrap()
    };
    let bodies = BinaryArray::from(vec![
        Some(b"{\"quote\":\"flood zone AE, 12 months\"}".as_slice()),
        None,
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![T0 / 1000 + 5, T0 / 1000])),
        strings(vec![Some("GET"), Some("post")]),
        strings(vec![Some("/quote?zone=AE&term=12"), Some("/pay")]),
        strings(vec![None, Some("payments.hms.example")]),
        cast(&(Arc::new(bodies) as ArrayRef), body).unwrap(),
        strings(vec![Some("a note longer than twelve bytes"), Some("")]),
    ];
    let names = ["ts", "method", "path", "host", "body", "note"];
    let fields: Vec<Field> = names
        .iter()
        .zip(&cols)
        .map(|(n, c)| Field::new(*n, c.data_type().clone(), true))
        .collect();
    assert!(matches!(fields[0].data_type(), DataType::Int64));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn parquet_text_and_bodies_read_alike_in_every_arrow_layout() {
    use arrow::datatypes::DataType::*;

    // Plain, large, view and dictionary strings; plain, large and view binaries. The reader
    // takes byte columns as views, so each layout must give the same records.
    let dict = Dictionary(Box::new(Int32), Box::new(Utf8));
    let layouts = [
        (Utf8, Binary),
        (LargeUtf8, LargeBinary),
        (Utf8View, BinaryView),
        (dict, Binary),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut seen: Option<Vec<TraceRecord>> = None;
    for (n, (strings, body)) in layouts.iter().enumerate() {
        let input = dir.path().join(format!("layout{n}.parquet"));
        let trace = dir.path().join(format!("trace{n}.parquet"));
        layout_log(&input, strings, body);
        let o = esr()
            .arg("ingest")
            .arg(&input)
            .arg("-o")
            .arg(&trace)
            .args(["--no-scrub", "--map", "ts=ts"])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{strings:?}: {stdout}\n{stderr}");
        let recs = records(&trace);
        assert_eq!(recs.len(), 2, "{strings:?}");
        assert_eq!(recs[0].method, "POST");
        assert_eq!(recs[0].host.as_deref(), Some("payments.hms.example"));
        assert_eq!(recs[0].body, None);
        assert_eq!(recs[1].path, "/quote?zone=AE&term=12");
        assert_eq!(recs[1].host, None);
        assert_eq!(
            recs[1].body.as_deref(),
            Some(b"{\"quote\":\"flood zone AE, 12 months\"}".as_slice())
        );
        assert_eq!(
            recs[1].extra[0].as_deref(),
            Some("a note longer than twelve bytes")
        );
        match &seen {
            Some(first) => assert_eq!(&recs, first, "{strings:?} / {body:?}"),
            None => seen = Some(recs),
        }
    }
}

#[test]
fn several_inputs_merge_into_one_sorted_trace() {
    let (recs, extra, stdout) = ok_ingest(&["multi_a.csv", "multi_b.jsonl"], &[]);
    assert_eq!(extra, ["email", "client_ip"]);
    assert!(
        stdout.contains("rows in 4 = out 4 + rejected 0"),
        "{stdout}"
    );
    let paths: Vec<&str> = recs.iter().map(|r| r.path.as_str()).collect();
    // a2 and b2 share a timestamp: the first input comes first.
    assert_eq!(paths, ["/a2", "/b2", "/b1", "/a1"]);
    assert_eq!(recs[0].extra, [Some("x2@example.com".into()), None]);
    assert_eq!(recs[1].extra, [None, Some("203.0.113.6".into())]);
}

#[test]
fn bad_inputs_exit_2_with_file_row_column_and_no_value() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("empty.csv", &[], &["empty.csv", "is empty"]),
        ("header_only.csv", &[], &["has a header but no rows"]),
        (
            "missing_column.csv",
            &[],
            &["no column for `method`", "`timestamp`, `url`, `status`"],
        ),
        (
            "bad_ts.csv",
            &[],
            &[
                "bad_ts.csv` row 3 (line 4), column `timestamp`",
                "no accepted form",
            ],
        ),
        (
            "bad_utf8.csv",
            &[],
            &["row 1 (line 2), column `name`", "not valid UTF-8"],
        ),
        (
            "ragged.csv",
            &[],
            &["row 2 (line 3)", "2 fields, the header has 3"],
        ),
        ("bad_status.csv", &[], &["column `status`", "not a number"]),
        (
            "bad_headers.csv",
            &[],
            &["column `headers`", "not a JSON object"],
        ),
        ("mixed_units.csv", &[], &["row 2", "--ts-unit"]),
        ("bad_json.jsonl", &[], &["row 2 (line 2)", "not valid JSON"]),
        (
            "not_clf.log",
            &[],
            &["row 2 (line 2)", "common or combined log format"],
        ),
        (
            "bad_request_line.log",
            &[],
            &["column `request`", "METHOD TARGET PROTOCOL"],
        ),
        (
            "truncated.har",
            &[],
            &["not a valid har file", "ends early"],
        ),
        ("no_entries.har", &[], &["`log.entries` is empty"]),
        ("truncated.parquet", &[], &["not a readable Parquet file"]),
        ("garbage.parquet", &[], &["not a readable Parquet file"]),
        (
            "no_such_file.csv",
            &[],
            &["cannot open", "no_such_file.csv"],
        ),
        (
            "good.csv",
            &["--format", "clf"],
            &["row 1 (line 1)", "log format"],
        ),
    ];
    for (file, args, wants) in cases {
        let (o, dir) = cli_ingest(&[file], args);
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{file}: {stdout}\n{stderr}");
        for w in *wants {
            assert!(stderr.contains(w), "{file}: `{w}` not in:\n{stderr}");
        }
        for raw in ["jane", "Ren", "Bearer x", "sshd"] {
            assert!(!stderr.contains(raw), "{file} leaked `{raw}`:\n{stderr}");
        }
        assert!(!stderr.contains("panicked"), "{file}: {stderr}");
        // No trace, no temp file, no spill folder.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{file} left {left:?}");
    }
}

#[test]
fn quarantine_keeps_going_and_rows_in_equal_out_plus_rejected() {
    let (o, dir) = cli_ingest(&["quarantine.csv"], &["--on-error", "quarantine"]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("rows in 7 = out 2 + rejected 5"),
        "{stdout}"
    );
    let recs = records(&dir.path().join("out.parquet"));
    let paths: Vec<&str> = recs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/ok2", "/ok1"]);
    let rejects = std::fs::read_to_string(dir.path().join("out.rejects.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(rejects.as_bytes());
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let numbers: Vec<&str> = rows.iter().map(|r| &r[1]).collect();
    assert_eq!(numbers, ["2", "4", "5", "6", "7"]);
    let columns: Vec<&str> = rows.iter().map(|r| &r[3]).collect();
    assert_eq!(columns, ["timestamp", "method", "", "url", "status"]);
    for raw in [
        "not-a-time",
        "G=T",
        "relative/path",
        "999999",
        "@example.com",
    ] {
        assert!(!rejects.contains(raw), "rejects leak `{raw}`:\n{rejects}");
    }

    // The same through the library: the invariant holds per input and in total.
    let out = dir.path().join("lib.parquet");
    let opts = IngestOptions {
        on_error: OnError::Quarantine,
        ..Default::default()
    };
    let r = ingest(
        &[fx("quarantine.csv"), fx("good.csv")],
        &out,
        &opts,
        Box::new(NoTransform),
    )
    .unwrap();
    assert_eq!((r.rows_in, r.rows_out, r.rows_rejected), (12, 7, 5));
    assert_eq!(r.rows_in, r.rows_out + r.rows_rejected);
    assert_eq!(r.inputs[0].rejected, 5);
    assert_eq!(r.inputs[1].rows_in, 5);
    let meta = TraceReader::open(&out).unwrap().meta().clone();
    assert_eq!(meta.rows, 7);
    assert_eq!(meta.other["esr.ingest.rows_in"], "12");
    assert_eq!(meta.other["esr.ingest.rejected"], "5");
}

#[test]
fn corrupt_parquet_pages_stop_even_a_quarantine_ingest_and_leave_nothing() {
    let (o, dir) = cli_ingest(
        &["good.csv", "corrupt_pages.parquet"],
        &["--on-error", "quarantine"],
    );
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("corrupt_pages.parquet` row 1"), "{stderr}");
    assert!(stderr.contains("corrupt or truncated"), "{stderr}");
    assert!(stderr.contains("rows read before: 5"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "left {left:?}");
}

#[test]
fn failed_ingest_leaves_no_trace_and_says_so() {
    let (o, _) = cli_ingest(&["good.csv", "bad_ts.csv"], &[]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr.contains("rows in 8, out 0 (no trace written)"),
        "{stderr}"
    );
    assert!(stderr.contains("--on-error quarantine"), "{stderr}");
}

#[test]
fn scrubbing_is_required_unless_no_scrub() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.parquet");
    // Scrubbing is the default and needs a key: without one esr says how to get one.
    let o = esr()
        .env_remove("ESR_SCRUB_KEY")
        .arg("ingest")
        .arg(fx("good.csv"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o).1;
    assert!(
        err.contains("esr keygen -o FILE") && err.contains("--ephemeral-key"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn spilled_sort_equals_in_memory_sort_on_out_of_order_input() {
    let sample = root().join("traces/flood_rerate.csv");
    let dir = tempfile::tempdir().unwrap();
    let mem = dir.path().join("mem.parquet");
    let spilled = dir.path().join("spilled.parquet");
    let r1 = ingest(
        std::slice::from_ref(&sample),
        &mem,
        &IngestOptions::default(),
        Box::new(NoTransform),
    )
    .unwrap();
    assert_eq!(r1.spilled_runs, 0);
    // The external sort, spilling: the streamed default above must equal it.
    let opts = IngestOptions {
        sort_budget: 32 * 1024,
        stream: false,
        ..Default::default()
    };
    let r2 = ingest(
        std::slice::from_ref(&sample),
        &spilled,
        &opts,
        Box::new(NoTransform),
    )
    .unwrap();
    assert!(r2.spilled_runs > 10, "only {} runs", r2.spilled_runs);
    let a = records(&mem);
    let b = records(&spilled);
    assert_eq!(a.len(), 1515);
    assert_eq!(a, b);
    assert!(is_sorted(&a));
    // The sample is logged in completion order, so sorting really moved rows.
    let raw: Vec<TraceRecord> = read_input(&sample, &ReadOptions::default())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!is_sorted(&raw));
    // Each citizen's requests keep their order: login before fetch_premium before pay.
    let mut last: std::collections::HashMap<String, usize> = Default::default();
    let step = |p: &str| {
        ["/login", "/fetch_premium", "/pay", "/ach/transfer"]
            .iter()
            .position(|s| *s == p)
            .unwrap()
    };
    for r in &a {
        let s = step(&r.path);
        let prev = last.insert(r.session.clone().unwrap(), s).unwrap_or(0);
        assert!(s >= prev, "a session went backwards");
    }
    // Only the two traces remain: the spill folder is gone.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);

    // The CLI exposes the budget too (the file twice: late rows make the stream spill).
    let (o, _) = cli_ingest(&["good.csv", "good.csv"], &["--sort-memory-bytes", "600"]);
    let (stdout, _) = text(&o);
    assert!(stdout.contains("runs spilled to disk"), "{stdout}");
}

#[test]
fn streamed_ingest_falls_back_on_late_rows_and_equals_external_sort() {
    // The sample twice: the second copy is far older than the end of the first, which the
    // small budget has already written, so the streaming path must fall back and merge.
    let sample = root().join("traces/flood_rerate.csv");
    let inputs = [sample.clone(), sample];
    let dir = tempfile::tempdir().unwrap();
    let (streamed, external) = (dir.path().join("s.parquet"), dir.path().join("e.parquet"));
    let run = |out: &Path, stream: bool| {
        let opts = IngestOptions {
            sort_budget: 32 * 1024,
            stream,
            ..Default::default()
        };
        ingest(&inputs, out, &opts, Box::new(NoTransform)).unwrap()
    };
    let r = run(&streamed, true);
    // Runs spilled means the fallback happened (streaming alone spills nothing).
    assert!(r.spilled_runs > 0, "no fallback");
    assert_eq!(r.rows_out, 3030);
    run(&external, false);
    let (a, b) = (records(&streamed), records(&external));
    assert_eq!(a, b);
    assert!(is_sorted(&a));
    // Only the two traces remain: no temp prefix, no spill folder.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

/// A transform that records what it saw and rewrites emails, dropping `client_ip`.
struct Probe {
    begun: Vec<String>,
    applied: u64,
}

impl RecordTransform for Probe {
    fn begin(&mut self, extra: &[String]) -> Result<Vec<String>, String> {
        self.begun = extra.to_vec();
        Ok(vec!["email".into()])
    }
    fn apply(&mut self, r: &mut TraceRecord) {
        self.applied += 1;
        let email = r.extra[0].take().map(|_| "x@example.invalid".to_string());
        r.extra = vec![email];
    }
    fn meta(&self) -> TraceMeta {
        TraceMeta {
            key_id: Some(format!("probe-{}-{}", self.begun.join("+"), self.applied)),
            policy_digest: Some("p".into()),
            ..Default::default()
        }
    }
}

#[test]
fn transform_sees_the_union_of_columns_before_spilling() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.parquet");
    let opts = IngestOptions {
        sort_budget: 1024,
        stream: false,
        ..Default::default()
    };
    let probe = Probe {
        begun: vec![],
        applied: 0,
    };
    let r = ingest(
        &[fx("multi_b.jsonl"), fx("good.csv")],
        &out,
        &opts,
        Box::new(probe),
    )
    .unwrap();
    assert!(r.spilled_runs > 0);
    let reader = TraceReader::open(&out).unwrap();
    assert_eq!(reader.extra_columns(), ["email"]);
    assert_eq!(
        reader.meta().key_id.as_deref(),
        Some("probe-client_ip+email-7")
    );
    assert!(reader.meta().is_scrubbed());
    for rec in reader.records().unwrap() {
        let rec = rec.unwrap();
        assert_ne!(
            rec.extra[0]
                .as_deref()
                .map(|e| e.ends_with("example.invalid")),
            Some(false)
        );
    }
}

#[test]
fn read_input_streams_records_and_row_errors() {
    let opts = ReadOptions {
        format: Format::Auto,
        map: parse_map(&[]).unwrap(),
        delimiter: None,
        ts_unit: Some(TsUnit::Millis),
    };
    let r = read_input(&fx("good.csv"), &opts).unwrap();
    assert_eq!(r.extra_columns(), ["email", "client_ip"]);
    assert_eq!(r.count(), 5);
    let items: Vec<_> = read_input(&fx("bad_ts.csv"), &ReadOptions::default())
        .unwrap()
        .collect();
    assert!(items[0].is_ok() && items[1].is_ok());
    let e = items[2].as_ref().unwrap_err();
    assert_eq!(e.file, fx("bad_ts.csv"));
    assert_eq!((e.row, e.column.as_deref()), (3, Some("timestamp")));
    assert!(!e.fatal);
    assert!(!format!("{e} {e:?}").contains("jane"));
}

#[test]
fn inspect_summarizes_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.parquet");
    let o = esr()
        .arg("ingest")
        .arg(root().join("traces/flood_rerate.csv"))
        .arg("-o")
        .arg(&trace)
        .arg("--no-scrub")
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = esr().arg("inspect").arg(&trace).output().unwrap();
    let (stdout, _) = text(&o);
    assert!(o.status.success(), "{stdout}");
    for want in [
        "rows       1515",
        "scrubbed   NO",
        "POST /login",
        "POST /ach/transfer",
        "client_ip      by name, ipv4 in 1515/1515 rows",
    ] {
        assert!(stdout.contains(want), "`{want}` missing:\n{stdout}");
    }
    assert!(
        !stdout.contains("@example"),
        "inspect printed a value:\n{stdout}"
    );
    let o = esr()
        .args(["inspect", "--format", "json"])
        .arg(&trace)
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["rows"], 1515);
    assert_eq!(j["top_endpoints"][0]["endpoint"], "/login");
    assert!(j["peak_rps"].as_u64().unwrap() >= j["mean_rps"].as_f64().unwrap() as u64);
    assert!(j["span_s"].as_f64().unwrap() > 500.0 && j["span_s"].as_f64().unwrap() <= 600.0);
    let pii: Vec<&str> = j["personal_data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["column"].as_str().unwrap())
        .collect();
    for c in ["headers", "body", "session", "email", "client_ip"] {
        assert!(pii.contains(&c), "{c} not flagged: {pii:?}");
    }
    // A file that is not a trace is a clear error.
    let o = esr().arg("inspect").arg(fx("good.csv")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn demo_runs_the_whole_job_on_the_embedded_sample_from_any_folder() {
    // The whole demo: ingest + scrub (ephemeral key), check, in-process stubs, replay at 10x
    // (about a minute of replay clock), scorecard and report.
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(dir.path(), &["demo"]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let rows = std::fs::read_to_string(root().join("traces/flood_rerate.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert!(
        stdout.contains(&format!("rows in {rows} = out {rows} + rejected 0")),
        "{stdout}"
    );
    assert!(stdout.contains("residual PII: 0 hits"), "{stdout}");
    assert!(stdout.contains("POST /fetch_premium"), "{stdout}");
    assert!(stdout.contains("fault ACH_DOWN"), "{stdout}");
    assert!(stdout.contains("verdict     PASS"), "{stdout}");
    let run = dir.path().join("esr-data/runs/RUN-0001");
    for f in [
        "run.json",
        "metrics.parquet",
        "scorecard.json",
        "report.html",
    ] {
        assert!(run.join(f).is_file(), "{f} missing from the demo's run");
    }
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("scorecard.json")).unwrap())
            .unwrap();
    assert_eq!(card["requests"].as_u64(), Some(rows as u64));
    assert_eq!(card["compliance_hits"].as_u64(), Some(0));
    let trace = dir.path().join("esr-data/demo/trace.parquet");
    assert!(TraceReader::open(&trace).unwrap().meta().is_scrubbed());
    let recs = records(&trace);
    assert_eq!(recs.len(), rows);
    // No raw email of the sample survives in the demo trace.
    for r in &recs {
        let email = r.extra[0].as_deref().unwrap_or("");
        assert!(!email.ends_with("@example.com"), "a raw email survived");
    }
}
