//! Field-level diff of two response bodies: JSON bodies are walked side by side and every
//! differing leaf is named by its path (`$.premium`, `$.items[3].id`); other bodies differ
//! as a whole (`$`). Values only ever leave this module masked.

use serde::Serialize;
use serde_json::Value;

/// Numeric differences at or under either threshold are not differences.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Thresholds {
    /// Largest relative change ignored (0.01 = 1 % of the larger magnitude).
    pub relative: f64,
    /// Largest absolute change ignored.
    pub absolute: f64,
}

impl Thresholds {
    fn same(&self, a: f64, b: f64) -> bool {
        let d = (a - b).abs();
        d <= self.absolute || d <= self.relative * a.abs().max(b.abs())
    }
}

/// How a field differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Both have it, with other values.
    Changed,
    /// Only the baseline has it.
    Missing,
    /// Only the candidate has it.
    Added,
    /// Both have it, with values of different JSON types.
    TypeChanged,
}

/// One differing field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDiff {
    /// `$.items[3].id`.
    pub path: String,
    /// How it differs.
    pub change: Change,
    /// Both values masked (`7**** -> 7****, delta +100`).
    pub example: String,
}

/// Every differing field of two bodies (empty when they are equal).
pub fn diff_bodies(a: &[u8], b: &[u8], t: &Thresholds) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    if a == b {
        return out;
    }
    match (
        serde_json::from_slice::<Value>(a),
        serde_json::from_slice::<Value>(b),
    ) {
        (Ok(va), Ok(vb)) => walk(&mut "$".to_string(), &va, &vb, t, &mut out),
        _ => out.push(FieldDiff {
            path: "$".into(),
            change: Change::Changed,
            example: format!("bodies differ ({} -> {} bytes)", a.len(), b.len()),
        }),
    }
    out
}

fn walk(path: &mut String, a: &Value, b: &Value, t: &Thresholds, out: &mut Vec<FieldDiff>) {
    let len = path.len();
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            for (k, va) in ma {
                push_key(path, k);
                match mb.get(k) {
                    Some(vb) => walk(path, va, vb, t, out),
                    None => out.push(one(
                        path,
                        Change::Missing,
                        format!("{} -> (none)", mask(va)),
                    )),
                }
                path.truncate(len);
            }
            for (k, vb) in mb.iter().filter(|(k, _)| !ma.contains_key(*k)) {
                push_key(path, k);
                out.push(one(path, Change::Added, format!("(none) -> {}", mask(vb))));
                path.truncate(len);
            }
        }
        (Value::Array(xa), Value::Array(xb)) => {
            for i in 0..xa.len().max(xb.len()) {
                path.push_str(&format!("[{i}]"));
                match (xa.get(i), xb.get(i)) {
                    (Some(va), Some(vb)) => walk(path, va, vb, t, out),
                    (Some(va), None) => out.push(one(
                        path,
                        Change::Missing,
                        format!("{} -> (none)", mask(va)),
                    )),
                    (None, Some(vb)) => {
                        out.push(one(path, Change::Added, format!("(none) -> {}", mask(vb))))
                    }
                    (None, None) => {}
                }
                path.truncate(len);
            }
        }
        (Value::Number(na), Value::Number(nb)) => {
            let (x, y) = (na.as_f64().unwrap_or(0.0), nb.as_f64().unwrap_or(0.0));
            if na != nb && !t.same(x, y) {
                let d = y - x;
                let rel = if x != 0.0 {
                    format!(" ({:+.2}%)", d / x.abs() * 100.0)
                } else {
                    String::new()
                };
                out.push(one(
                    path,
                    Change::Changed,
                    format!("{} -> {}, delta {}{rel}", mask(a), mask(b), fmt_delta(d)),
                ));
            }
        }
        _ if a == b => {}
        _ if std::mem::discriminant(a) == std::mem::discriminant(b) => out.push(one(
            path,
            Change::Changed,
            format!("{} -> {}", mask(a), mask(b)),
        )),
        _ => out.push(one(
            path,
            Change::TypeChanged,
            format!("{} -> {}", mask(a), mask(b)),
        )),
    }
}

fn fmt_delta(d: f64) -> String {
    if d.fract() == 0.0 && d.abs() < 1e15 {
        format!("{:+}", d as i64)
    } else {
        format!("{d:+.4}")
    }
}

fn one(path: &str, change: Change, example: String) -> FieldDiff {
    FieldDiff {
        path: path.to_string(),
        change,
        example,
    }
}

fn push_key(path: &mut String, k: &str) {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        path.push('.');
        path.push_str(k);
    } else {
        path.push_str(&format!("[{}]", serde_json::Value::from(k)));
    }
}

/// A value with its content hidden: its type and length show, and the first character of
/// text and numbers (`"j*******"`, `7****`); booleans and null are not personal and show.
pub fn mask(v: &Value) -> String {
    fn stars(s: &str) -> String {
        let mut c = s.chars();
        match c.next() {
            Some(first) if s.chars().count() > 3 => {
                format!("{first}{}", "*".repeat(c.count()))
            }
            _ => "*".repeat(s.chars().count()),
        }
    }
    match v {
        Value::Null | Value::Bool(_) => v.to_string(),
        Value::Number(n) => stars(&n.to_string()),
        Value::String(s) => format!("\"{}\"", stars(s)),
        Value::Array(a) => format!("[{} items]", a.len()),
        Value::Object(o) => format!("{{{} keys}}", o.len()),
    }
}

/// The path with array indices as `[*]`, so a noisy `$.items[3].ts` covers every item.
pub fn wildcard(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find(']') {
            Some(j) if j > 0 && after[..j].bytes().all(|b| b.is_ascii_digit()) => {
                out.push_str("[*]");
                rest = &after[j + 1..];
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(a: &str, b: &str, t: Thresholds) -> Vec<(String, Change)> {
        diff_bodies(a.as_bytes(), b.as_bytes(), &t)
            .into_iter()
            .map(|d| (d.path, d.change))
            .collect()
    }

    #[test]
    fn fields_are_named_by_path() {
        let a = r#"{"premium":74200,"items":[{"id":1},{"id":2}],"old":true,"who":"x"}"#;
        let b = r#"{"premium":74300,"items":[{"id":1},{"id":3},{"id":4}],"new":null,"who":5}"#;
        let got = paths(a, b, Thresholds::default());
        assert_eq!(
            got,
            vec![
                // Keys in sorted order (serde_json's map), added keys last.
                ("$.items[1].id".into(), Change::Changed),
                ("$.items[2]".into(), Change::Added),
                ("$.old".into(), Change::Missing),
                ("$.premium".into(), Change::Changed),
                ("$.who".into(), Change::TypeChanged),
                ("$.new".into(), Change::Added),
            ]
        );
        assert!(paths(a, a, Thresholds::default()).is_empty());
        assert_eq!(paths("plain", "text", Thresholds::default())[0].0, "$");
        assert_eq!(
            paths(r#"{"a b":1}"#, r#"{"a b":2}"#, Thresholds::default())[0].0,
            "$[\"a b\"]"
        );
    }

    #[test]
    fn numeric_thresholds_absorb_small_changes() {
        let rel = Thresholds {
            relative: 0.01,
            absolute: 0.0,
        };
        assert!(paths(r#"{"p":74200}"#, r#"{"p":74300}"#, rel).is_empty());
        assert_eq!(paths(r#"{"p":74200}"#, r#"{"p":80000}"#, rel).len(), 1);
        let abs = Thresholds {
            relative: 0.0,
            absolute: 0.5,
        };
        assert!(paths(r#"{"p":1.0}"#, r#"{"p":1.4}"#, abs).is_empty());
        assert!(paths(r#"{"p":1}"#, r#"{"p":1.0}"#, Thresholds::default()).is_empty());
    }

    #[test]
    fn examples_are_masked() {
        let d = diff_bodies(
            br#"{"premium":74200,"email":"jane@example.com"}"#,
            br#"{"premium":74300,"email":"john@example.com"}"#,
            &Thresholds::default(),
        );
        assert_eq!(d[0].example, "\"j***************\" -> \"j***************\"");
        assert_eq!(d[1].example, "7**** -> 7****, delta +100 (+0.13%)");
        assert!(
            !d.iter()
                .any(|x| x.example.contains("jane") || x.example.contains("742"))
        );
    }

    #[test]
    fn wildcards_cover_every_index() {
        assert_eq!(wildcard("$.items[3].id[12]"), "$.items[*].id[*]");
        assert_eq!(wildcard("$[\"a[1]\"]"), "$[\"a[*]\"]");
        assert_eq!(wildcard("$.a"), "$.a");
    }
}
