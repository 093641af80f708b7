//! k-anonymity over quasi-identifier columns: the smallest group of rows that share the same
//! values in those columns, and how many rows sit in groups smaller than k.

use std::collections::HashMap;

use serde::Serialize;

use crate::trace::TraceRecord;

/// The k-anonymity figure (and, while counting, the groups).
#[derive(Debug, Clone, Serialize)]
pub struct KAnonymity {
    /// The quasi-identifier columns.
    pub columns: Vec<String>,
    /// The k asked for.
    pub k: u64,
    /// Distinct groups.
    pub groups: u64,
    /// Size of the smallest group (0 for an empty trace).
    pub smallest_group: u64,
    /// Rows in groups smaller than k.
    pub rows_below_k: u64,
    #[serde(skip)]
    fields: Vec<Field>,
    #[serde(skip)]
    counts: HashMap<Vec<Option<String>>, u64>,
}

#[derive(Debug, Clone, Copy)]
enum Field {
    Method,
    Path,
    Host,
    Session,
    Status,
    Extra(usize),
}

impl KAnonymity {
    /// Prepares counting over `columns`; an unknown column is an error naming it.
    pub fn new(columns: &[String], extra: &[String], k: u64) -> Result<KAnonymity, String> {
        let fields = columns
            .iter()
            .map(|c| match c.as_str() {
                "method" => Ok(Field::Method),
                "path" => Ok(Field::Path),
                "host" => Ok(Field::Host),
                "session" => Ok(Field::Session),
                "status" => Ok(Field::Status),
                _ => extra
                    .iter()
                    .position(|e| e == c)
                    .map(Field::Extra)
                    .ok_or_else(|| {
                        format!(
                            "--quasi names column `{c}`, which the trace does not have (usable: \
                             method, path, host, session, status{}{})",
                            if extra.is_empty() { "" } else { ", " },
                            extra.join(", ")
                        )
                    }),
            })
            .collect::<Result<_, _>>()?;
        Ok(KAnonymity {
            columns: columns.to_vec(),
            k,
            groups: 0,
            smallest_group: 0,
            rows_below_k: 0,
            fields,
            counts: HashMap::new(),
        })
    }

    /// Counts one row.
    pub fn observe(&mut self, r: &TraceRecord) {
        let key: Vec<Option<String>> = self
            .fields
            .iter()
            .map(|f| match f {
                Field::Method => Some(r.method.clone()),
                Field::Path => Some(r.path.clone()),
                Field::Host => r.host.clone(),
                Field::Session => r.session.clone(),
                Field::Status => r.status.map(|s| s.to_string()),
                Field::Extra(i) => r.extra.get(*i).cloned().flatten(),
            })
            .collect();
        *self.counts.entry(key).or_default() += 1;
    }

    /// The figure.
    pub fn finish(mut self) -> KAnonymity {
        self.groups = self.counts.len() as u64;
        self.smallest_group = self.counts.values().copied().min().unwrap_or(0);
        self.rows_below_k = self.counts.values().filter(|&&n| n < self.k).sum();
        self.counts = HashMap::new();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_group_and_rows_below_k() {
        let mut k = KAnonymity::new(&["zip".into(), "method".into()], &["zip".into()], 3).unwrap();
        for (zip, n) in [("10115", 5), ("10117", 2), ("10119", 1)] {
            for _ in 0..n {
                k.observe(&TraceRecord {
                    method: "GET".into(),
                    extra: vec![Some(zip.into())],
                    ..Default::default()
                });
            }
        }
        let k = k.finish();
        assert_eq!((k.groups, k.smallest_group, k.rows_below_k), (3, 1, 3));
        assert!(KAnonymity::new(&["nope".into()], &[], 5).is_err());
    }
}
