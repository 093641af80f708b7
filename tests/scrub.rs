//! Scrub and check end to end: the labelled evaluation of the detectors, ingest -> check on the
//! sample trace, the leak proof, the reversal self-test (which must be able to fail), key
//! linkage, and a file full of personal data pushed through every command with every output
//! searched for every raw value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use esr::scrub::{Detector, scan};
use esr::trace::TraceReader;

use crate::util::{esr, root, text};

fn fx(name: &str) -> PathBuf {
    root().join("fixtures/scrub").join(name)
}

/// A value line of an evaluation file: the text to embed and the span a detector must report.
fn labelled(line: &str) -> (String, String) {
    match (line.find("[["), line.find("]]")) {
        (Some(a), Some(b)) => (
            format!("{}{}{}", &line[..a], &line[a + 2..b], &line[b + 2..]),
            line[a + 2..b].to_string(),
        ),
        _ => (line.to_string(), line.to_string()),
    }
}

/// The realistic places a value is found in logs.
const CONTEXTS: [(&str, &str, &str); 5] = [
    ("path", "/api/v1/customers/", "/orders"),
    ("query", "/search?q=", "&page=2"),
    ("json body", r#"{"note":""#, r#"","n":1}"#),
    ("header", r#"{"X-Info":""#, r#"","Accept":"*/*"}"#),
    ("free text", "Customer wrote: please use ", " from now on."),
];

#[test]
fn labelled_evaluation_recall_and_precision_per_detector() {
    let mut tp: BTreeMap<Detector, u64> = BTreeMap::new();
    let mut total: BTreeMap<Detector, u64> = BTreeMap::new();
    let mut fp: BTreeMap<Detector, u64> = BTreeMap::new();
    let mut misses = Vec::new();
    for d in Detector::ALL {
        let file = std::fs::read_to_string(fx(&format!("eval/{}.txt", d.name()))).unwrap();
        for line in file.lines().filter(|l| !l.is_empty()) {
            let (value, want) = labelled(line);
            for (place, pre, post) in CONTEXTS {
                let t = format!("{pre}{value}{post}");
                let at = pre.len() + value.find(&want).unwrap();
                *total.entry(d).or_default() += 1;
                let mut found = false;
                for h in scan(&t) {
                    // Found: the hit starts at the value and covers it. A credential may run on
                    // (`/` is a base64 character, so in a path it takes the next segment too);
                    // the replacement then covers more, never less.
                    let covers = h.start == at && h.end >= at + want.len();
                    let exact = h.end == at + want.len();
                    if h.detector == d && covers && (exact || d == Detector::Credential) {
                        found = true;
                    } else {
                        *fp.entry(h.detector).or_default() += 1;
                    }
                }
                if found {
                    *tp.entry(d).or_default() += 1;
                } else if misses.len() < 20 {
                    misses.push(format!("{d} in {place}: {t}"));
                }
            }
        }
    }
    let near = std::fs::read_to_string(fx("eval/near_misses.txt")).unwrap();
    let mut near_hits = Vec::new();
    for v in near.lines().filter(|l| !l.is_empty()) {
        for (place, pre, post) in CONTEXTS {
            for h in scan(&format!("{pre}{v}{post}")) {
                *fp.entry(h.detector).or_default() += 1;
                near_hits.push(format!("{} on `{v}` in {place}", h.detector));
            }
        }
    }
    println!("detector    recall   precision  (values x 5 contexts)");
    for d in Detector::ALL {
        let (t, n, f) = (tp[&d], total[&d], fp.get(&d).copied().unwrap_or(0));
        let recall = t as f64 / n as f64;
        let precision = t as f64 / (t + f) as f64;
        println!(
            "{:<10} {:>7.2}%  {:>8.2}%   ({t}/{n}, {f} false)",
            d.name(),
            recall * 100.0,
            precision * 100.0
        );
        assert!(
            recall >= 0.99,
            "{d}: recall {recall:.4}; misses: {misses:#?}"
        );
    }
    assert!(near_hits.is_empty(), "near-misses flagged: {near_hits:#?}");
}

fn key_file(dir: &Path) -> PathBuf {
    let k = dir.join("scrub.key");
    if !k.exists() {
        let o = esr().args(["keygen", "-o"]).arg(&k).output().unwrap();
        assert!(o.status.success(), "{:?}", text(&o));
    }
    k
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    esr()
        .env_remove("ESR_SCRUB_KEY")
        .args(args)
        .output()
        .unwrap()
}

macro_rules! os {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new($a)),*] };
}

#[test]
fn sample_trace_ingest_then_check_is_clean_and_no_scrub_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path());
    let raw = root().join("traces/flood_rerate.csv");
    let trace = dir.path().join("t.parquet");
    // One request per line after the header (the sample has no multi-line fields).
    let rows = std::fs::read_to_string(&raw).unwrap().lines().count() as u64 - 1;
    let o = run(os!("ingest", &raw, "-o", &trace, "--key-file", &key));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains(&format!("scrubbed {rows} rows with key k")),
        "{out}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("t.parquet.scrub.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["rows"], rows);
    assert!(report["detected_total"]["email"].as_u64().unwrap() > 0);

    let o = run(os!("check", &trace));
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(text(&o).0.contains("residual PII: 0 hits"));
    assert!(text(&o).0.contains("recovered 0 of"), "{}", text(&o).0);

    let o = run(os!("check", &trace, "--against", &raw));
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("leak proof: 0 of "), "{out}");

    let plain = dir.path().join("plain.parquet");
    let o = run(os!("ingest", &raw, "-o", &plain, "--no-scrub"));
    assert!(o.status.success());
    let o = run(os!("check", &plain, "--format", "json"));
    assert_eq!(o.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(j["residual"]["total"].as_u64().unwrap() > rows);
    assert_eq!(j["passed"], false);
    let o = run(os!("check", &plain, "--max-listed", "3"));
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    // Each hit is listed as (row, column, detector, masked excerpt), never the raw value.
    assert!(out.contains("row 1, column body, email: "), "{out}");
    assert!(out.contains("***@***."), "{out}");
    assert!(out.contains("NOT scrubbed"), "{out}");
    // And the leak proof catches the unscrubbed copy.
    let o = run(os!("check", &plain, "--against", &raw));
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).0.contains("leak proof: "), "{:?}", text(&o));
    // It counts distinct raw values found, of those searched, and every find apart.
    let o = run(os!("check", &plain, "--against", &raw, "--format", "json"));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let l = &j["leaks"];
    let (found, searched) = (l["values_found"].as_u64(), l["values_searched"].as_u64());
    let finds = l["survivors"]["total"].as_u64().unwrap();
    assert!(
        found > Some(0) && found <= searched && Some(finds) > found,
        "{l}"
    );
    assert_eq!(l["by_chance"]["total"], 0, "{l}");
}

#[test]
fn reversal_self_test_recovers_plain_hashes_and_not_esr_pseudonyms() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path());
    let naive = dir.path().join("naive.parquet");
    let o = run(os!(
        "ingest",
        &fx("plain_sha256_ips.csv"),
        "-o",
        &naive,
        "--no-scrub"
    ));
    assert!(o.status.success(), "{:?}", text(&o));
    let o = run(os!("check", &naive));
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("recovered 50 of 50"), "{out}");

    let ours = dir.path().join("ours.parquet");
    let o = run(os!(
        "ingest",
        &fx("private_ips.csv"),
        "-o",
        &ours,
        "--key-file",
        &key
    ));
    assert!(o.status.success(), "{:?}", text(&o));
    let o = run(os!("check", &ours, "--format", "json"));
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(j["reversal"]["targets"].as_u64().unwrap() > 0);
    assert_eq!(j["reversal"]["recovered"], 0);
}

fn column(trace: &Path, name: &str) -> Vec<Option<String>> {
    let r = TraceReader::open(trace).unwrap();
    let i = r.extra_columns().iter().position(|c| c == name);
    r.records()
        .unwrap()
        .map(|rec| {
            let rec = rec.unwrap();
            match (name, i) {
                ("session", _) => rec.session,
                (_, Some(i)) => rec.extra[i].clone(),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn one_key_links_across_files_another_key_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path());
    let raw = fx("pii_everywhere.csv");
    let (a, b, c) = (
        dir.path().join("a.parquet"),
        dir.path().join("b.parquet"),
        dir.path().join("c.parquet"),
    );
    assert!(
        run(os!("ingest", &raw, "-o", &a, "--key-file", &key))
            .status
            .success()
    );
    // The same key through the environment gives the same pseudonyms.
    let k = std::fs::read_to_string(&key).unwrap();
    let o = esr()
        .env("ESR_SCRUB_KEY", k.trim())
        .args([std::ffi::OsStr::new("ingest"), raw.as_os_str()])
        .arg("-o")
        .arg(&b)
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(
        run(os!("ingest", &raw, "-o", &c, "--ephemeral-key"))
            .status
            .success()
    );
    let (sa, sb, sc) = (
        column(&a, "session"),
        column(&b, "session"),
        column(&c, "session"),
    );
    assert_eq!(sa, sb);
    assert_eq!(sa[0], sa[2], "a session keeps its pseudonym across rows");
    assert_ne!(sa[0], sc[0]);
    let ea = column(&a, "email");
    assert!(ea[0].as_deref().unwrap().ends_with(".invalid"));
    let meta = |p: &Path| TraceReader::open(p).unwrap().meta().clone();
    assert_eq!(meta(&a).key_id, meta(&b).key_id);
    assert_ne!(meta(&a).key_id, meta(&c).key_id);
    assert!(meta(&a).is_scrubbed());
}

#[test]
fn scrub_command_cleans_an_unscrubbed_trace_with_a_policy() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path());
    let plain = dir.path().join("plain.parquet");
    assert!(
        run(os!(
            "ingest",
            &fx("pii_everywhere.csv"),
            "-o",
            &plain,
            "--no-scrub"
        ))
        .status
        .success()
    );
    let policy = dir.path().join("policy.toml");
    let o = run(os!("scrub", "--print-default-policy"));
    let default = String::from_utf8(o.stdout).unwrap();
    std::fs::write(
        &policy,
        default.replace("[columns]\n", "[columns]\nnotes = \"drop\"\n"),
    )
    .unwrap();
    let out = dir.path().join("clean.parquet");
    let scrub = || {
        run(os!(
            "scrub",
            &plain,
            "-o",
            &out,
            "--policy",
            &policy,
            "--key-file",
            &key
        ))
    };
    let o = scrub();
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("dropped columns: notes"), "{stdout}");
    assert!(dir.path().join("clean.parquet.scrub.json").exists());
    assert!(
        !TraceReader::open(&out)
            .unwrap()
            .extra_columns()
            .contains(&"notes".to_string())
    );
    let o = run(os!("check", &out, "--against", &fx("pii_everywhere.csv")));
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    // A policy naming a column the trace lacks is bad input.
    std::fs::write(
        &policy,
        default.replace("[columns]\n", "[columns]\nnope = \"drop\"\n"),
    )
    .unwrap();
    let o = scrub();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("`nope`"), "{:?}", text(&o));
    // No key: refused with directions.
    let o = run(os!("scrub", &plain, "-o", &out));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("esr keygen -o FILE"));
}

#[test]
fn k_anonymity_over_quasi_identifiers() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path());
    let t = dir.path().join("t.parquet");
    assert!(
        run(os!(
            "ingest",
            &root().join("traces/flood_rerate.csv"),
            "-o",
            &t,
            "--key-file",
            &key
        ))
        .status
        .success()
    );
    let o = run(os!("check", &t, "--quasi", "method,status", "--k", "1"));
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(text(&o).0.contains("k-anonymity over method, status"));
    let o = run(os!(
        "check", &t, "--quasi", "session", "--k", "5", "--format", "json"
    ));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "sessions of fewer than 5 requests exist"
    );
    assert!(j["k_anonymity"]["rows_below_k"].as_u64().unwrap() > 0);
    let o = run(os!("check", &t, "--quasi", "nope"));
    assert_eq!(o.status.code(), Some(2));
}

/// Every readable trace's fields as one text, for searching past Parquet's compression.
fn trace_text(p: &Path) -> Option<String> {
    let r = TraceReader::open(p).ok()?;
    let mut s = String::new();
    for rec in r.records().ok()? {
        let rec = rec.ok()?;
        s.push_str(&format!(
            "{} {} {:?} {:?} {} {:?} {:?}\n",
            rec.method,
            rec.path,
            rec.host,
            rec.headers,
            String::from_utf8_lossy(rec.body.as_deref().unwrap_or_default()),
            rec.session,
            rec.extra
        ));
    }
    Some(s)
}

#[test]
fn no_raw_value_in_any_output_of_any_command() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = key_file(d);
    let raw = fx("pii_everywhere.csv");
    let values: Vec<String> = std::fs::read_to_string(fx("pii_everywhere.values.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let bad_policy = d.join("bad.toml");
    std::fs::write(&bad_policy, "[defaults]\n[columns]\nmissing = \"hash\"\n").unwrap();
    let (t1, t2, plain, t3) = (
        d.join("t1.parquet"),
        d.join("t2.parquet"),
        d.join("plain.parquet"),
        d.join("t3.parquet"),
    );
    let mut outputs: Vec<(String, Output)> = Vec::new();
    let mut go = |name: &str, args: &[&std::ffi::OsStr]| {
        outputs.push((name.to_string(), run(args)));
    };
    go("ingest", os!("ingest", &raw, "-o", &t1, "--key-file", &key));
    go(
        "ingest no key",
        os!("ingest", &raw, "-o", &d.join("x.parquet")),
    );
    go(
        "ingest bad policy",
        os!(
            "ingest",
            &raw,
            "-o",
            &d.join("y.parquet"),
            "--key-file",
            &key,
            "--policy",
            &bad_policy
        ),
    );
    go(
        "ingest ephemeral",
        os!("ingest", &raw, "-o", &t2, "--ephemeral-key"),
    );
    go(
        "ingest no-scrub",
        os!("ingest", &raw, "-o", &plain, "--no-scrub"),
    );
    go("scrub", os!("scrub", &plain, "-o", &t3, "--key-file", &key));
    go(
        "scrub bad policy",
        os!(
            "scrub",
            &plain,
            "-o",
            &d.join("z.parquet"),
            "--key-file",
            &key,
            "--policy",
            &bad_policy
        ),
    );
    go("check", os!("check", &t1));
    go("check json", os!("check", &t3, "--format", "json"));
    go("check against", os!("check", &t1, "--against", &raw));
    go("check raw", os!("check", &plain));
    go(
        "check raw json",
        os!(
            "check",
            &plain,
            "--format",
            "json",
            "--quasi",
            "session,email"
        ),
    );
    go("check raw against", os!("check", &plain, "--against", &raw));
    go("inspect", os!("inspect", &t1));
    go("default policy", os!("scrub", "--print-default-policy"));
    for (name, o) in &outputs {
        let (out, err) = text(o);
        for v in &values {
            assert!(
                !out.contains(v.as_str()),
                "`{name}` stdout holds a raw value (line of values.txt: {})",
                values.iter().position(|x| x == v).unwrap() + 1
            );
            assert!(
                !err.contains(v.as_str()),
                "`{name}` stderr holds a raw value (line {})",
                values.iter().position(|x| x == v).unwrap() + 1
            );
        }
    }
    assert_eq!(outputs[0].1.status.code(), Some(0));
    assert_eq!(outputs[1].1.status.code(), Some(2));
    assert_eq!(outputs[2].1.status.code(), Some(2));
    assert_eq!(outputs[10].1.status.code(), Some(1));
    // Every file written, but the trace written on purpose with --no-scrub.
    let mut searched = 0;
    for entry in std::fs::read_dir(d).unwrap() {
        let p = entry.unwrap().path();
        if p == plain || p == key || p == bad_policy {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let content = trace_text(&p).unwrap_or_default() + &String::from_utf8_lossy(&bytes);
        for v in &values {
            assert!(
                !content.contains(v.as_str()),
                "{} holds a raw value (line {})",
                p.display(),
                values.iter().position(|x| x == v).unwrap() + 1
            );
        }
        searched += 1;
    }
    assert!(searched >= 5, "searched {searched} files");
}
