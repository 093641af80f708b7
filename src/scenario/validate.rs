//! Everything a parse cannot check: required fields of each kind of scenario, ratios and the
//! end split, the catalog, durations, faults against the stubs, thresholds. Every problem is
//! reported (not only the first), each naming its field.

use std::collections::BTreeMap;

use super::FieldError;
use super::catalog::{self, Request};
use super::model::{Scenario, ThinkDist, ThinkTime};
use crate::scorecard::Threshold;
use crate::stub::{StubConfig, preset};

/// Ratios within this of each other are equal (0.98 + 0.02 is not exactly 1.0 in binary).
const EPS: f64 = 1e-9;
/// More actors than this is a typo, not a rehearsal.
pub const MAX_ACTORS: u64 = 100_000_000;

fn err(errors: &mut Vec<FieldError>, field: impl Into<String>, message: impl Into<String>) {
    errors.push(FieldError {
        field: field.into(),
        message: message.into(),
    });
}

/// The steps at the end of the script that split the actors reaching them: the trailing run
/// of steps whose ratio is below 1. Returns the index of the first such step (the script's
/// length when the last step has ratio 1).
pub fn end_group_start(script: &[super::model::Step]) -> usize {
    let mut i = script.len();
    while i > 0 && script[i - 1].ratio < 1.0 - EPS {
        i -= 1;
    }
    i
}

/// Checks a parsed scenario; empty when it is valid.
pub fn validate(s: &Scenario) -> Vec<FieldError> {
    let mut e = Vec::new();
    check_name(s, &mut e);
    if s.is_trace_based() {
        check_trace_based(s, &mut e);
    } else {
        check_synthetic(s, &mut e);
    }
    if let Some(speed) = s.speed
        && !(speed.is_finite() && speed > 0.0 && speed <= 1e6)
    {
        err(
            &mut e,
            "speed",
            "must be a number above 0 (1 is real time, 60 sixty times faster)",
        );
    }
    check_think_time(s, &mut e);
    check_stubs_and_faults(s, &mut e);
    if let Some(t) = &s.target
        && !(t.starts_with("http://") || t.starts_with("https://"))
    {
        err(
            &mut e,
            "target",
            "must be a base URL like http://127.0.0.1:8080 (or leave it out to run against the in-process stubs)",
        );
    }
    for (i, t) in s.thresholds.iter().enumerate() {
        if let Err(x) = Threshold::parse(t) {
            err(&mut e, format!("thresholds[{i}]"), x.to_string());
        }
    }
    e
}

fn check_name(s: &Scenario, e: &mut Vec<FieldError>) {
    let ok = !s.name.is_empty()
        && s.name.len() <= 64
        && s.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        err(
            e,
            "name",
            "must be 1 to 64 letters, digits, `_`, `-` or `.` (like `flood_rerate_wave1`)",
        );
    }
}

fn check_trace_based(s: &Scenario, e: &mut Vec<FieldError>) {
    if s.trace.as_deref().is_some_and(|t| t.trim().is_empty()) {
        err(
            e,
            "trace",
            "must be the path of a canonical trace (.parquet)",
        );
    }
    let why = "a trace-based scenario replays its trace; remove this field or remove `trace`";
    if s.actors.is_some() {
        err(e, "actors", why);
    }
    if !s.script.is_empty() {
        err(e, "script", why);
    }
    if s.arrival.is_some() {
        err(e, "arrival", why);
    }
    if s.think_time.is_some() {
        err(e, "think_time", why);
    }
    if !s.catalog.is_empty() {
        err(e, "catalog", why);
    }
    if s.duration.as_ref().is_some_and(|d| d.get().is_zero()) {
        err(
            e,
            "duration",
            "must be above 0 (it cuts the replay after this long)",
        );
    }
}

fn check_synthetic(s: &Scenario, e: &mut Vec<FieldError>) {
    match s.actors {
        None => err(
            e,
            "actors",
            "is required: how many actors (sessions) walk the script, e.g. 10000 (or give `trace` to replay a trace)",
        ),
        Some(0) => err(e, "actors", "must be at least 1"),
        Some(n) if n > MAX_ACTORS => err(
            e,
            "actors",
            format!("must be at most {MAX_ACTORS}; split the rehearsal into several scenarios"),
        ),
        _ => {}
    }
    match &s.duration {
        None => err(
            e,
            "duration",
            "is required: the window actors arrive in, e.g. \"30m\"",
        ),
        Some(d) if d.get().is_zero() => err(e, "duration", "must be above 0, e.g. \"30m\""),
        _ => {}
    }
    if s.script.is_empty() {
        err(
            e,
            "script",
            "is required: the steps each actor walks, e.g. [{\"action\":\"LOGIN\",\"ratio\":1.0}]",
        );
        return;
    }
    let cat = catalog::effective(s);
    check_catalog(s, e);
    for (i, step) in s.script.iter().enumerate() {
        if !cat.contains_key(&step.action) {
            let known: Vec<&str> = cat.keys().map(String::as_str).collect();
            err(
                e,
                format!("script[{i}].action"),
                format!(
                    "unknown action `{}`; known: {}; add it to `catalog` to define its request",
                    step.action,
                    known.join(", ")
                ),
            );
        }
        if !(step.ratio.is_finite() && step.ratio > 0.0 && step.ratio <= 1.0 + EPS) {
            err(
                e,
                format!("script[{i}].ratio"),
                "must be above 0 and at most 1: the share of the actors reaching this step that take it",
            );
        }
    }
    let g = end_group_start(&s.script);
    if g < s.script.len() {
        let group = &s.script[g..];
        let sum: f64 = group.iter().map(|st| st.ratio).sum();
        if group.len() > 1 && sum > 1.0 + EPS {
            let names: Vec<&str> = group.iter().map(|st| st.action.as_str()).collect();
            err(
                e,
                format!("script[{g}].ratio"),
                format!(
                    "sibling end steps {} have ratios summing to {}; they split the actors that reach them, so they must sum to at most 1",
                    names.join(", "),
                    crate::scorecard::fmt_num((sum * 1e6).round() / 1e6)
                ),
            );
        }
    }
    // Per-action figures come from the tap's per-endpoint counts: two actions on one
    // endpoint could not be told apart.
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (i, step) in s.script.iter().enumerate() {
        let Some(Some(entry)) = cat.get(&step.action) else {
            continue;
        };
        let ep = Request::new(entry).endpoint;
        match seen.get(&ep) {
            Some(other) if *other != step.action => err(
                e,
                format!("script[{i}].action"),
                format!(
                    "actions `{other}` and `{}` both send `{ep}`; per-action figures could not tell them apart; give one its own path in `catalog`",
                    step.action
                ),
            ),
            _ => {
                seen.insert(ep, &step.action);
            }
        }
    }
}

fn check_catalog(s: &Scenario, e: &mut Vec<FieldError>) {
    for (name, entry) in &s.catalog {
        if name.is_empty() || name.chars().any(|c| c.is_whitespace()) {
            err(
                e,
                format!("catalog.{name}"),
                "an action name is one word, like `RENEW`",
            );
        }
        let Some(entry) = entry else { continue };
        if entry.method.is_empty() || !entry.method.chars().all(|c| c.is_ascii_alphabetic()) {
            err(
                e,
                format!("catalog.{name}.method"),
                "must be an HTTP method such as POST or GET",
            );
        }
        if !entry.path.starts_with('/') {
            err(
                e,
                format!("catalog.{name}.path"),
                "must start with `/`, e.g. /renew",
            );
        }
    }
}

fn check_think_time(s: &Scenario, e: &mut Vec<FieldError>) {
    let Some(ThinkTime::Dist(d)) = &s.think_time else {
        return;
    };
    match d {
        ThinkDist::Lognormal { p50, p99 } => {
            if p50.get().is_zero() {
                err(e, "think_time.lognormal.p50", "must be above 0");
            }
            if p99.get() < p50.get() {
                err(e, "think_time.lognormal.p99", "must be at least p50");
            }
        }
        ThinkDist::Uniform { min, max } => {
            if max.get() < min.get() {
                err(e, "think_time.uniform.max", "must be at least min");
            }
        }
        ThinkDist::Fixed { .. } => {}
    }
}

/// The stub config a scenario's `stubs` names when it can be known without reading a file:
/// `Ok(None)` for a config file (read at run time).
pub fn stub_config(s: &Scenario) -> Result<Option<StubConfig>, FieldError> {
    let Some(spec) = &s.stubs else {
        return Ok(Some(crate::stub::hms()));
    };
    match (&spec.preset, &spec.config) {
        (Some(_), Some(_)) | (None, None) => Err(FieldError {
            field: "stubs".into(),
            message: "give either `preset` (e.g. \"hms\") or `config` (a stub config file or the config itself)".into(),
        }),
        (Some(p), None) => preset(p).map(Some).map_err(|x| FieldError {
            field: "stubs.preset".into(),
            message: x.to_string(),
        }),
        (None, Some(serde_json::Value::String(_))) => Ok(None),
        (None, Some(v)) => {
            let text = v.to_string();
            let cfg = StubConfig::parse_json(&text, "<stubs.config>")
                .and_then(|c| c.validate("<stubs.config>").map(|()| c))
                .map_err(|x| FieldError {
                    field: format!("stubs.config.{}", x.field).replace("config..", "config"),
                    message: x.problem,
                })?;
            Ok(Some(cfg))
        }
    }
}

fn check_stubs_and_faults(s: &Scenario, e: &mut Vec<FieldError>) {
    if s.target.is_some() {
        if s.stubs.is_some() {
            err(
                e,
                "stubs",
                "`target` and `stubs` exclude each other: with a target there are no in-process stubs",
            );
        }
        for i in 0..s.faults.len() {
            err(
                e,
                format!("faults[{i}].action"),
                "faults switch the in-process stubs' fault windows; with `target` there are none (remove `target` or the fault)",
            );
        }
        return;
    }
    let cfg = match stub_config(s) {
        Ok(c) => c,
        Err(x) => {
            e.push(x);
            None
        }
    };
    for (i, f) in s.faults.iter().enumerate() {
        if f.for_.get().is_zero() {
            err(
                e,
                format!("faults[{i}].for"),
                "must be above 0, e.g. \"5m\"",
            );
        }
        if let Some(cfg) = &cfg {
            let names = cfg.fault_names();
            if !names.contains(&f.action) {
                err(
                    e,
                    format!("faults[{i}].action"),
                    format!(
                        "the stubs define no fault `{}` (defined: {}); name one of them or add it to the stub config",
                        f.action,
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                );
            }
        }
    }
}
