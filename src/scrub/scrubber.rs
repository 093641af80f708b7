//! The scrubber as a [`RecordTransform`]: the policy resolved against the input's columns,
//! applied to every record, counted into a [`ScrubReport`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::detect::{Detector, DetectorSet};
use super::key::ScrubKey;
use super::policy::{Action, Policy};
use super::pseudonym::Pseudonymizer;
use super::report::ScrubReport;
use super::rewrite::{Counts, Rewriter, mask};
use super::ruled::RuledHeaders;
use crate::trace::{RecordTransform, TraceMeta, TraceRecord};

/// Canonical text columns the scrubber rewrites, in slot order; extra columns follow.
const TEXT_COLUMNS: [&str; 5] = ["path", "host", "headers", "body", "session"];
/// Canonical columns that are not free text; a policy may only `keep` them.
const FIXED_COLUMNS: [&str; 4] = ["ts", "method", "status", "latency_ms"];

#[derive(Debug, Clone, Copy)]
struct Plan {
    action: Action,
    set: DetectorSet,
}

/// What a scrubber counted: summed over its workers into one report.
#[derive(Debug, Default)]
struct Tally {
    rows: u64,
    /// Per column slot.
    counts: Vec<Counts>,
    /// Per column slot: values replaced whole (hash or mask).
    hashed: Vec<u64>,
    per_header: BTreeMap<String, u64>,
}

impl Tally {
    fn new(columns: usize) -> Tally {
        Tally {
            rows: 0,
            counts: vec![[0; Detector::ALL.len()]; columns],
            hashed: vec![0; columns],
            per_header: BTreeMap::new(),
        }
    }

    fn add(&mut self, other: &Tally) {
        self.rows += other.rows;
        if self.counts.len() < other.counts.len() {
            self.counts
                .resize(other.counts.len(), [0; Detector::ALL.len()]);
            self.hashed.resize(other.hashed.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
        for (a, b) in self.hashed.iter_mut().zip(&other.hashed) {
            *a += b;
        }
        for (h, n) in &other.per_header {
            *self.per_header.entry(h.clone()).or_default() += n;
        }
    }
}

/// Scrubs records by a policy under a key. Create one per output trace; for more threads,
/// take [`RecordTransform::worker`]s from it after `begin`.
pub struct Scrubber {
    policy: Policy,
    digest: String,
    ephemeral: bool,
    rw: Rewriter,
    names: Vec<String>,
    plans: Vec<Plan>,
    keep_extra: Vec<bool>,
    header_names: Option<RuledHeaders>,
    tally: Tally,
    /// Where workers leave their tallies when they are dropped; the report adds them in.
    merged: Arc<Mutex<Tally>>,
    /// True for a worker: its tally goes into `merged` when it is dropped.
    is_worker: bool,
    published: Arc<Mutex<Option<ScrubReport>>>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Scrubber(policy {}, key {})",
            self.digest,
            self.rw.ps.key_id()
        )
    }
}

impl Scrubber {
    /// A scrubber applying `policy` under `key`.
    pub fn new(policy: Policy, key: &ScrubKey) -> Scrubber {
        let allow = policy.allowed();
        Scrubber {
            digest: policy.digest(),
            ephemeral: key.is_ephemeral(),
            rw: Rewriter::new(Pseudonymizer::new(key), allow),
            policy,
            names: Vec::new(),
            plans: Vec::new(),
            keep_extra: Vec::new(),
            header_names: None,
            tally: Tally::default(),
            merged: Arc::default(),
            is_worker: false,
            published: Arc::default(),
        }
    }

    /// A handle on the report, filled in when the writer asks for the trace's metadata (after
    /// the last record); lets the caller read it after handing the scrubber over as a
    /// `Box<dyn RecordTransform>`.
    pub fn report_handle(&self) -> Arc<Mutex<Option<ScrubReport>>> {
        self.published.clone()
    }

    /// The report so far (this scrubber's rows and those of its dropped workers).
    pub fn report(&self) -> ScrubReport {
        let mut t = Tally::new(self.names.len());
        t.add(&self.tally);
        if let Ok(m) = self.merged.lock() {
            t.add(&m);
        }
        let mut r = ScrubReport {
            rows: t.rows,
            key_id: self.rw.ps.key_id().to_string(),
            ephemeral_key: self.ephemeral,
            policy_digest: self.digest.clone(),
            ..Default::default()
        };
        for (i, name) in self.names.iter().enumerate() {
            let plan = self.plans[i];
            let action = serde_json::to_value(plan.action).expect("actions serialize");
            r.columns
                .insert(name.clone(), action.as_str().unwrap_or("").to_string());
            if plan.action == Action::Drop && i >= TEXT_COLUMNS.len() {
                r.dropped_columns.push(name.clone());
            }
            for d in Detector::ALL {
                let n = t.counts[i][d as usize];
                if n > 0 {
                    r.detected
                        .entry(name.clone())
                        .or_default()
                        .insert(d.name().to_string(), n);
                    *r.detected_total.entry(d.name().to_string()).or_default() += n;
                }
            }
            if t.hashed[i] > 0 {
                r.hashed.insert(name.clone(), t.hashed[i]);
            }
        }
        r.headers = t.per_header;
        r
    }

    fn check_policy(&self, extra: &[String]) -> Result<(), String> {
        let known = |c: &str| {
            TEXT_COLUMNS.contains(&c) || FIXED_COLUMNS.contains(&c) || extra.iter().any(|e| e == c)
        };
        let named = self
            .policy
            .columns
            .keys()
            .chain(self.policy.detectors.columns.keys());
        for c in named {
            if !known(c) {
                return Err(format!(
                    "the scrub policy names column `{c}`, which the input does not have (its \
                     columns: {}); fix the policy",
                    TEXT_COLUMNS
                        .iter()
                        .map(|s| s.to_string())
                        .chain(extra.iter().cloned())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        for (c, a) in &self.policy.columns {
            if FIXED_COLUMNS.contains(&c.as_str()) && *a != Action::Keep {
                return Err(format!(
                    "the scrub policy says `{c}` = {a:?}, but `{c}` is not free text; only \
                     \"keep\" applies to it"
                ));
            }
        }
        if self.policy.columns.get("path") == Some(&Action::Drop) {
            return Err(
                "the scrub policy drops `path`, which every trace needs; use \"mask\" or \
                 \"hash\" instead"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Rewrites one optional text value by its plan.
fn text_value(
    rw: &mut Rewriter,
    plan: Plan,
    counts: &mut Counts,
    hashed: &mut u64,
    v: &mut Option<String>,
) {
    let Some(s) = v.as_mut() else { return };
    match plan.action {
        Action::Keep => {}
        Action::Drop => *v = None,
        Action::Detect => {
            if let Some(n) = rw.text(s, plan.set, counts) {
                put(s, n);
            }
        }
        Action::Hash => {
            rw.hash_in_place(s);
            *hashed += 1;
        }
        Action::Mask => {
            *s = mask(s);
            *hashed += 1;
        }
    }
}

/// Puts a rewritten value in the record: into the value's own buffer when it fits. The
/// buffer came from the reader's thread and goes on to the writer's; a new one from this
/// thread would cost an allocation here and a free of the old one across threads, and
/// `rewrite` makes its output in this thread, where freeing it is cheap and its memory is
/// reused by the next row.
fn put(dst: &mut String, new: String) {
    if new.len() <= dst.capacity() {
        dst.clear();
        dst.push_str(&new);
    } else {
        *dst = new;
    }
}

/// [`put`] for bytes.
fn put_bytes(dst: &mut Vec<u8>, new: Vec<u8>) {
    if new.len() <= dst.capacity() {
        dst.clear();
        dst.extend_from_slice(&new);
    } else {
        *dst = new;
    }
}

impl RecordTransform for Scrubber {
    fn begin(&mut self, extra: &[String]) -> Result<Vec<String>, String> {
        self.check_policy(extra)?;
        self.names = TEXT_COLUMNS
            .iter()
            .map(|s| s.to_string())
            .chain(extra.iter().cloned())
            .collect();
        self.plans = self
            .names
            .iter()
            .enumerate()
            .map(|(i, name)| Plan {
                action: if i < TEXT_COLUMNS.len() {
                    self.policy
                        .columns
                        .get(name)
                        .copied()
                        .unwrap_or(self.policy.defaults.action)
                } else {
                    self.policy.action_for(name)
                },
                set: self.policy.detectors_for(name),
            })
            .collect();
        self.keep_extra = self.plans[TEXT_COLUMNS.len()..]
            .iter()
            .map(|p| p.action != Action::Drop)
            .collect();
        self.tally = Tally::new(self.names.len());
        // Finds the `"name"` keys of headers with a rule of their own, so header objects are
        // rewritten in place rather than parsed.
        self.header_names = RuledHeaders::new(
            self.policy
                .headers
                .iter()
                .filter(|(_, a)| **a != self.policy.defaults.header_action)
                .map(|(h, _)| h.as_str()),
        );
        Ok(extra
            .iter()
            .zip(&self.keep_extra)
            .filter(|(_, k)| **k)
            .map(|(n, _)| n.clone())
            .collect())
    }

    fn apply(&mut self, r: &mut TraceRecord) {
        self.tally.rows += 1;
        let rw = &mut self.rw;
        let t = &mut self.tally;
        let (plans, counts, hashed) = (&self.plans, &mut t.counts, &mut t.hashed);
        // path: detection decodes percent-encoding.
        let p = plans[0];
        match p.action {
            Action::Detect => {
                if let Some(n) = rw.path(&r.path, p.set, &mut counts[0]) {
                    put(&mut r.path, n);
                }
            }
            Action::Hash => {
                rw.hash_in_place(&mut r.path);
                hashed[0] += 1;
            }
            Action::Mask => {
                r.path = mask(&r.path);
                hashed[0] += 1;
            }
            Action::Keep | Action::Drop => {}
        }
        text_value(rw, plans[1], &mut counts[1], &mut hashed[1], &mut r.host);
        // headers: per-header rules, then the detectors.
        let p = plans[2];
        match p.action {
            Action::Detect | Action::Hash => {
                if let Some(h) = r.headers.as_mut()
                    && let Some(n) = rw.headers(
                        h,
                        &self.policy,
                        self.header_names.as_ref(),
                        p.set,
                        &mut counts[2],
                        &mut t.per_header,
                    )
                {
                    put(h, n);
                }
            }
            _ => text_value(rw, p, &mut counts[2], &mut hashed[2], &mut r.headers),
        }
        // body: bytes.
        let p = plans[3];
        if let Some(b) = r.body.as_mut() {
            match p.action {
                Action::Keep => {}
                Action::Drop => r.body = None,
                Action::Detect => {
                    if let Some(n) = rw.body(b, p.set, &mut counts[3]) {
                        put_bytes(b, n);
                    }
                }
                Action::Hash => {
                    let mut out = String::new();
                    rw.whole_into(&String::from_utf8_lossy(b), &mut out);
                    *b = out.into_bytes();
                    hashed[3] += 1;
                }
                Action::Mask => {
                    *b = mask(&String::from_utf8_lossy(b)).into_bytes();
                    hashed[3] += 1;
                }
            }
        }
        text_value(rw, plans[4], &mut counts[4], &mut hashed[4], &mut r.session);
        let base = TEXT_COLUMNS.len();
        for (i, v) in r.extra.iter_mut().enumerate() {
            let slot = base + i;
            if slot < plans.len() {
                text_value(rw, plans[slot], &mut counts[slot], &mut hashed[slot], v);
            }
        }
        if self.keep_extra.iter().any(|k| !k) {
            let mut keep = self.keep_extra.iter();
            r.extra.retain(|_| *keep.next().unwrap_or(&true));
        }
    }

    fn worker(&self) -> Option<Box<dyn RecordTransform>> {
        Some(Box::new(Scrubber {
            policy: self.policy.clone(),
            digest: self.digest.clone(),
            ephemeral: self.ephemeral,
            rw: self.rw.fork(),
            names: self.names.clone(),
            plans: self.plans.clone(),
            keep_extra: self.keep_extra.clone(),
            header_names: self.header_names.clone(),
            tally: Tally::new(self.names.len()),
            merged: self.merged.clone(),
            is_worker: true,
            published: self.published.clone(),
        }))
    }

    fn meta(&self) -> TraceMeta {
        let report = self.report();
        if let Ok(mut slot) = self.published.lock() {
            *slot = Some(report);
        }
        let mut meta = TraceMeta {
            policy_digest: Some(self.digest.clone()),
            key_id: Some(self.rw.ps.key_id().to_string()),
            ..Default::default()
        };
        if self.ephemeral {
            meta.other
                .insert("esr.scrub.ephemeral_key".into(), "true".into());
        }
        meta
    }
}

impl Drop for Scrubber {
    fn drop(&mut self) {
        if self.is_worker
            && let Ok(mut m) = self.merged.lock()
        {
            m.add(&self.tally);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ScrubKey {
        ScrubKey::from_bytes(b"scrubber test key 01234", "t").unwrap()
    }

    fn rec() -> TraceRecord {
        TraceRecord {
            ts_us: 1,
            method: "POST".into(),
            path: "/users/jane%40example.com/pay?card=4111111111111111&password=hunter2".into(),
            host: Some("api.example.com".into()),
            headers: Some(
                r#"{"authorization":"Bearer abcdefghijkl1234","x-forwarded-for":"203.0.113.9"}"#
                    .into(),
            ),
            body: Some(br#"{"ssn":"123-45-6789","phone":"(415) 555-2671"}"#.to_vec()),
            status: Some(200),
            latency_ms: Some(1.0),
            session: Some("user-42".into()),
            extra: vec![
                Some("10.1.2.3".into()),
                Some("call 415-555-2671".into()),
                Some("x".into()),
            ],
        }
    }

    #[test]
    fn scrubs_every_column_and_counts() {
        let mut s = Scrubber::new(
            Policy::parse(&format!(
                "{}\n",
                crate::scrub::policy::DEFAULT_POLICY.replace(
                    "session = \"hash\"",
                    "session = \"hash\"\nsecret_col = \"drop\""
                )
            ))
            .unwrap(),
            &key(),
        );
        let out = s
            .begin(&["client_ip".into(), "notes".into(), "secret_col".into()])
            .unwrap();
        assert_eq!(out, ["client_ip", "notes"]);
        let mut r = rec();
        s.apply(&mut r);
        let all = format!(
            "{} {:?} {:?} {:?} {:?}",
            r.path,
            r.headers,
            String::from_utf8_lossy(r.body.as_ref().unwrap()),
            r.session,
            r.extra
        );
        for raw in [
            "jane",
            "4111111111111111",
            "hunter2",
            "abcdefghijkl1234",
            "203.0.113.9",
            "123-45-6789",
            "555-2671",
            "user-42",
            "10.1.2.3",
        ] {
            assert!(!all.contains(raw), "`{raw}` survived: {all}");
        }
        assert_eq!(r.extra.len(), 2);
        assert_eq!(r.host.as_deref(), Some("api.example.com"));
        let meta = s.meta();
        assert_eq!(meta.key_id, Some(key().id()));
        let rep = s.report_handle().lock().unwrap().clone().unwrap();
        assert_eq!(rep.rows, 1);
        assert_eq!(rep.detected["path"]["email"], 1);
        assert_eq!(rep.detected["body"]["secret"], 1); // `"ssn": ...` names its value
        assert_eq!(rep.hashed["session"], 1);
        assert_eq!(rep.hashed["client_ip"], 1);
        assert_eq!(rep.headers["authorization"], 1);
        assert_eq!(rep.dropped_columns, ["secret_col"]);
        let json = serde_json::to_string(&rep).unwrap();
        assert!(!json.contains("jane") && !json.contains("4111"));
    }

    #[test]
    fn same_value_same_pseudonym_across_columns_and_scrubbers() {
        let mut a = Scrubber::new(Policy::default(), &key());
        let mut b = Scrubber::new(Policy::default(), &key());
        a.begin(&["email".into()]).unwrap();
        b.begin(&[]).unwrap();
        let mut r1 = TraceRecord {
            path: "/x".into(),
            session: Some("jane@example.com".into()),
            extra: vec![Some("jane@example.com".into())],
            ..Default::default()
        };
        let mut r2 = TraceRecord {
            path: "/u/jane@example.com".into(),
            ..Default::default()
        };
        a.apply(&mut r1);
        b.apply(&mut r2);
        let p = r1.session.clone().unwrap();
        assert!(p.ends_with(".invalid"));
        assert_eq!(r1.extra[0].as_deref(), Some(p.as_str()));
        assert_eq!(r2.path, format!("/u/{p}"));
    }

    /// A rewrite that fits goes into the value's own buffer: no allocation here and no free
    /// of the reader's buffer on this thread.
    #[test]
    fn rewrites_that_fit_stay_in_the_values_buffers() {
        let mut s = Scrubber::new(Policy::default(), &key());
        s.begin(&["email".into()]).unwrap();
        let roomy = |v: &str| {
            let mut s = String::with_capacity(64);
            s.push_str(v);
            s
        };
        let mut body = Vec::with_capacity(128);
        body.extend_from_slice(br#"{"email":"jane@example.com","password":"hunter2"}"#);
        let mut r = TraceRecord {
            path: "/login".into(),
            session: Some(roomy("user-42")),
            body: Some(body),
            extra: vec![Some(roomy("jane@example.com"))],
            ..Default::default()
        };
        let before = (
            r.session.as_ref().unwrap().as_ptr(),
            r.body.as_ref().unwrap().as_ptr(),
            r.extra[0].as_ref().unwrap().as_ptr(),
        );
        s.apply(&mut r);
        let body = String::from_utf8(r.body.clone().unwrap()).unwrap();
        assert!(
            !body.contains("jane") && !body.contains("hunter2"),
            "{body}"
        );
        assert_ne!(r.session.as_deref(), Some("user-42"));
        let after = (
            r.session.as_ref().unwrap().as_ptr(),
            r.body.as_ref().unwrap().as_ptr(),
            r.extra[0].as_ref().unwrap().as_ptr(),
        );
        assert_eq!(before, after);
    }

    #[test]
    fn policies_naming_missing_columns_are_refused() {
        let p = Policy::parse("[defaults]\n[columns]\nnope = \"drop\"\n").unwrap();
        let err = Scrubber::new(p, &key()).begin(&[]).unwrap_err();
        assert!(err.contains("`nope`"), "{err}");
        let p = Policy::parse("[defaults]\n[columns]\npath = \"drop\"\n").unwrap();
        assert!(Scrubber::new(p, &key()).begin(&[]).is_err());
    }
}
