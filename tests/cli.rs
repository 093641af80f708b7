//! The command-line contract.

use crate::util::{esr, text};

#[test]
fn help_lists_the_contract_commands() {
    let out = esr().arg("--help").output().unwrap();
    assert!(out.status.success());
    let (stdout, _) = text(&out);
    for cmd in [
        "ingest",
        "scrub",
        "check",
        "inspect",
        "stub",
        "replay",
        "scorecard",
        "diff",
        "compare",
        "demo",
        "scenario",
        "serve",
        "runs",
        "merge",
    ] {
        assert!(stdout.contains(cmd), "`{cmd}` missing from help:\n{stdout}");
    }
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let out = esr().arg("--no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
