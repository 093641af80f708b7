use super::*;

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(files(&p));
        } else {
            v.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    v.sort();
    v
}

#[test]
fn ids_keep_counting_across_restarts_and_deletes() {
    let t = tempfile::tempdir().unwrap();
    {
        let s = Store::open(t.path()).unwrap();
        assert_eq!(s.add_scenario("a", "{}").unwrap(), "SCN-1");
        assert_eq!(s.add_scenario("b", "{}").unwrap(), "SCN-2");
        assert!(s.delete_scenario("SCN-2").unwrap());
        assert!(!s.delete_scenario("SCN-2").unwrap());
        let (r, f) = s.create_run("SCN-1", None, RunState::Started).unwrap();
        assert_eq!((r.id.as_str(), f.id.as_str()), ("RUN-0001", "RUN-0001"));
        assert!(f.dir.is_dir());
    }
    let s = Store::open(t.path()).unwrap();
    assert_eq!(s.add_scenario("c", "{}").unwrap(), "SCN-3");
    // `esr replay` in the same data folder takes the next folder; the store moves past it.
    crate::replay::run::allocate(t.path()).unwrap();
    let (r, _) = s.create_run("SCN-1", Some(2.0), RunState::Queued).unwrap();
    assert_eq!(r.id, "RUN-0003");
    assert_eq!((r.state, r.speed), (RunState::Queued, Some(2.0)));
    assert!(s.scenario("SCN-2").unwrap().is_none());
    assert!(s.scenario("nope").unwrap().is_none());
    assert_eq!(s.scenarios().unwrap().len(), 2);
}

#[test]
fn a_run_cut_off_by_a_crash_is_failed_at_the_next_open() {
    let t = tempfile::tempdir().unwrap();
    let (started, queued, done);
    {
        let (s, _lock) = Store::open_for_server(t.path()).unwrap();
        // While a server holds the folder, a reader must not fail its running runs, and a
        // second server is refused.
        started = s.create_run("SCN-1", None, RunState::Started).unwrap().0;
        std::fs::write(started.folder.join("metrics.parquet"), b"partial").unwrap();
        queued = s.create_run("SCN-1", None, RunState::Queued).unwrap().0;
        done = s.create_run("SCN-1", None, RunState::Started).unwrap().0;
        s.finish(&done.id, RunState::Done, None, None).unwrap();
        let reader = Store::open(t.path()).unwrap();
        assert_eq!(
            reader.run(&started.id).unwrap().unwrap().state,
            RunState::Started
        );
        assert!(matches!(
            Store::open_for_server(t.path()),
            Err(StoreError::Busy(_))
        ));
        // The server "crashes": the lock goes with the process, the rows stay.
    }
    let (s, _lock) = Store::open_for_server(t.path()).unwrap();
    let r = s.run(&started.id).unwrap().unwrap();
    assert_eq!(r.state, RunState::Failed);
    assert!(
        r.error
            .unwrap()
            .contains("stopped while the run was started")
    );
    assert!(r.finished_at.is_some());
    assert_eq!(
        std::fs::read(r.folder.join("metrics.parquet")).unwrap(),
        b"partial"
    );
    assert_eq!(s.run(&queued.id).unwrap().unwrap().state, RunState::Failed);
    assert_eq!(s.run(&done.id).unwrap().unwrap().state, RunState::Done);
}

#[test]
fn archive_then_restore_gives_the_folder_back_byte_identical() {
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(t.path()).unwrap();
    let (r, f) = s.create_run("SCN-1", None, RunState::Started).unwrap();
    std::fs::write(f.dir.join("scorecard.json"), b"{\"requests\":3}\n").unwrap();
    std::fs::write(
        f.dir.join("metrics.parquet"),
        (0..200_000u32)
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let card = serde_json::json!({"requests": 3, "latency_p95_ms": 4.5, "verdict": "PASS",
        "notes": "Ready for production!", "payment_success": 98.0});
    s.finish(
        &r.id,
        RunState::Done,
        Some(&Summary::of_scorecard(&card)),
        None,
    )
    .unwrap();
    let before = files(&f.dir);
    let (other, _) = s.create_run("SCN-1", None, RunState::Started).unwrap();

    // A finished run whose folder was deleted by hand is skipped, not fatal.
    let (gone, gf) = s.create_run("SCN-1", None, RunState::Started).unwrap();
    s.finish(&gone.id, RunState::Failed, None, Some("x"))
        .unwrap();
    std::fs::remove_dir(&gf.dir).unwrap();
    // Nothing is old enough at 30 days; everything finished is at 0; a running run never.
    assert!(s.archive_older_than(30.0).unwrap().is_empty());
    assert_eq!(s.archive_older_than(0.0).unwrap(), vec![r.id.clone()]);
    assert!(!f.dir.exists());
    assert!(s.archive_path(&r.id).is_file());
    let row = s.run(&r.id).unwrap().unwrap();
    assert!(row.archived);
    let sum = row.summary.unwrap();
    assert_eq!((sum.requests, sum.payment_success), (3, Some(98.0)));
    assert_eq!(sum.notes, "Ready for production!");
    assert!(s.run(&other.id).unwrap().unwrap().folder.is_dir());

    // An archived run's number is never handed out again, even after a restart.
    let s = Store::open(t.path()).unwrap();
    let (next, _) = s.create_run("SCN-1", None, RunState::Queued).unwrap();
    assert_eq!(next.id, "RUN-0004");

    let back = s.restore(&r.id).unwrap();
    assert!(!back.archived);
    assert_eq!(files(&f.dir), before);
    assert!(!s.archive_path(&r.id).exists());
    // Restoring again is harmless.
    assert!(!s.restore(&r.id).unwrap().archived);
    assert!(matches!(
        s.restore("RUN-9999"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(s.archive(&next.id), Err(StoreError::Conflict(_))));
}

#[test]
fn a_newer_layout_is_refused() {
    let t = tempfile::tempdir().unwrap();
    drop(Store::open(t.path()).unwrap());
    let c = Connection::open(t.path().join(DB_FILE)).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    let err = Store::open(t.path()).unwrap_err().to_string();
    assert!(err.contains("newer than this esr knows"), "{err}");
}

#[test]
fn run_folders_follow_a_moved_data_folder() {
    let t = tempfile::tempdir().unwrap();
    let (old, new) = (t.path().join("a"), t.path().join("b"));
    {
        let s = Store::open(&old).unwrap();
        let (_, f) = s.create_run("SCN-1", None, RunState::Queued).unwrap();
        std::fs::write(f.dir.join("scorecard.json"), b"{}").unwrap();
    }
    std::fs::rename(&old, &new).unwrap();
    let s = Store::open(&new).unwrap();
    let r = s.run("RUN-0001").unwrap().unwrap();
    assert_eq!(r.folder, new.join("runs/RUN-0001"));
    assert!(r.folder.join("scorecard.json").is_file());
}

#[test]
fn runs_a_command_wrote_are_listed_beside_the_apis_and_failed_folders_show_failed() {
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(t.path()).unwrap();
    let (api, _) = s.create_run("SCN-1", None, RunState::Started).unwrap();
    // `esr replay --data` takes the next folder and writes run.json and scorecard.json.
    let cli = crate::replay::run::allocate(t.path()).unwrap();
    std::fs::write(
        cli.dir.join("run.json"),
        r#"{"run_id":"RUN-0002","started_at":"2026-11-27T05:00:00.000Z",
            "started_at_unix_us":1795755600000000,"timing":{"speed":2.0}}"#,
    )
    .unwrap();
    std::fs::write(
        cli.dir.join(crate::scorecard::SCORECARD_FILE),
        r#"{"requests":10,"completed":10,"verdict":"PASS","latency_p95_ms":4.5}"#,
    )
    .unwrap();
    // A folder allocated but not yet written is not a run.
    crate::replay::run::allocate(t.path()).unwrap();
    let runs = s.runs().unwrap();
    let ids: Vec<(&str, RunOrigin, RunState)> = runs
        .iter()
        .map(|r| (r.id.as_str(), r.origin, r.state))
        .collect();
    assert_eq!(
        ids,
        [
            ("RUN-0001", RunOrigin::Api, RunState::Started),
            ("RUN-0002", RunOrigin::Cli, RunState::Done)
        ]
    );
    let r = s.run("RUN-0002").unwrap().unwrap();
    assert_eq!(
        (r.speed, r.created_at.as_str()),
        (Some(2.0), "2026-11-27T05:00:00.000Z")
    );
    assert_eq!(r.summary.unwrap().requests, 10);
    assert!(matches!(
        s.archive("RUN-0002"),
        Err(StoreError::Conflict(_))
    ));
    assert!(s.run("RUN-0003").unwrap().is_none());
    assert!(s.run("../RUN-0002").unwrap().is_none());
    // The engine marks a run failed in its folder; both origins show it.
    crate::replay::run::mark_failed(&api.folder, "the target refused");
    crate::replay::run::mark_failed(&cli.dir, "disk full");
    let r = s.run("RUN-0001").unwrap().unwrap();
    assert_eq!(
        (r.state, r.error.as_deref()),
        (RunState::Failed, Some("the target refused"))
    );
    let r = s.run("RUN-0002").unwrap().unwrap();
    assert_eq!(
        (r.state, r.error.as_deref()),
        (RunState::Failed, Some("disk full"))
    );
    assert!(r.summary.is_none(), "mark_failed removes the scorecard");
}
