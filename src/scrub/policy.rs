//! The scrub policy (TOML): what happens to each column and header, which detectors apply
//! where, and which values are kept as they are.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::detect::{Detector, DetectorSet};

/// The safe default policy, as printed by `esr scrub --print-default-policy`.
pub const DEFAULT_POLICY: &str = r#"# esr scrub policy. Actions: "detect" (replace what the detectors find with keyed
# pseudonyms), "hash" (replace the whole value with its keyed pseudonym), "drop",
# "mask" (letters become x, digits 0), "keep" (leave as is: only for data you know is clean).

[defaults]
# Text columns the policy does not name.
action = "detect"
# Headers the policy does not name.
header_action = "detect"
# Extra columns whose name contains one of these words (split on `_`, `-`, `.`, spaces and
# case changes) are hashed whole: identifiers, and the names and addresses no detector finds.
hash_columns_like = [
  "user", "userid", "username", "uid", "actor", "account", "customer", "member", "login",
  "email", "mail", "ip", "ipaddr", "addr", "address", "street", "name", "firstname",
  "lastname", "surname", "phone", "mobile", "tel", "ssn", "dob", "birth", "birthdate",
]

[columns]
session = "hash"

[headers]
authorization = "hash"
proxy-authorization = "hash"
cookie = "hash"
set-cookie = "hash"
x-api-key = "hash"
x-auth-token = "hash"
x-csrf-token = "hash"
x-forwarded-for = "detect"
x-real-ip = "hash"

[detectors]
# Detectors switched off everywhere, by name: email, phone, ssn, card, iban, ipv4, ipv6,
# jwt, credential, secret.
off = []

[detectors.columns]
# Detectors switched off in one column, for example: notes = ["phone"]

[allow]
# Values kept exactly as they are wherever they appear (public addresses of your own services).
values = []
"#;

/// What to do with a column or a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Replace what the detectors find.
    Detect,
    /// Replace the whole value with its keyed pseudonym.
    Hash,
    /// Remove the value (the column, for an extra column).
    Drop,
    /// Letters become `x`, digits `0`, the rest stays.
    Mask,
    /// Leave the value as it is.
    Keep,
}

/// Policy defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Action for text columns the policy does not name.
    #[serde(default = "detect")]
    pub action: Action,
    /// Action for headers the policy does not name.
    #[serde(default = "detect")]
    pub header_action: Action,
    /// Words that make an extra column hashed whole.
    #[serde(default)]
    pub hash_columns_like: Vec<String>,
}

fn detect() -> Action {
    Action::Detect
}

/// Which detectors are switched off.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorRules {
    /// Switched off everywhere.
    #[serde(default)]
    pub off: Vec<String>,
    /// Switched off per column.
    #[serde(default)]
    pub columns: BTreeMap<String, Vec<String>>,
}

/// Values kept as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    /// Exact values.
    #[serde(default)]
    pub values: Vec<String>,
}

/// A scrub policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Defaults for what the policy does not name.
    pub defaults: Defaults,
    /// Per-column actions.
    #[serde(default)]
    pub columns: BTreeMap<String, Action>,
    /// Per-header actions (names compared case-insensitively).
    #[serde(default)]
    pub headers: BTreeMap<String, Action>,
    /// Detectors switched off.
    #[serde(default)]
    pub detectors: DetectorRules,
    /// Values kept as they are.
    #[serde(default)]
    pub allow: Allow,
}

/// Errors of reading a policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy `{path}`: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(
        "policy `{path}` is not valid: {reason}; print a valid one with `esr scrub --print-default-policy`"
    )]
    Invalid {
        path: std::path::PathBuf,
        reason: String,
    },
}

impl Default for Policy {
    fn default() -> Self {
        Policy::parse(DEFAULT_POLICY).expect("the default policy parses")
    }
}

impl Policy {
    /// Parses policy TOML; the message says what is wrong (no value is quoted).
    pub fn parse(text: &str) -> Result<Policy, String> {
        let mut p: Policy = toml::from_str(text).map_err(|e| e.message().to_string())?;
        for name in p
            .detectors
            .off
            .iter()
            .chain(p.detectors.columns.values().flatten())
        {
            if Detector::from_name(name).is_none() {
                return Err(format!(
                    "unknown detector `{name}` (known: {})",
                    Detector::ALL.map(Detector::name).join(", ")
                ));
            }
        }
        p.headers = std::mem::take(&mut p.headers)
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        Ok(p)
    }

    /// Reads a policy file.
    pub fn load(path: &std::path::Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Policy::parse(&text).map_err(|reason| PolicyError::Invalid {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// A short digest of the policy's content (not its formatting), recorded in the trace.
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(self).expect("a policy serializes");
        let d = Sha256::digest(&json);
        super::pseudonym::hex(&d[..8])
    }

    /// The detectors that apply in `column`.
    pub fn detectors_for(&self, column: &str) -> DetectorSet {
        let mut set = DetectorSet::ALL;
        let names = self
            .detectors
            .off
            .iter()
            .chain(self.detectors.columns.get(column).into_iter().flatten());
        for d in names.filter_map(|n| Detector::from_name(n)) {
            set = set.without(d);
        }
        set
    }

    /// The action for extra column `column`: named, else hashed when its name looks like an
    /// identifier, else the default.
    pub fn action_for(&self, column: &str) -> Action {
        if let Some(a) = self.columns.get(column) {
            return *a;
        }
        let words = name_words(column);
        if self
            .defaults
            .hash_columns_like
            .iter()
            .any(|w| words.iter().any(|x| x.eq_ignore_ascii_case(w)))
        {
            return Action::Hash;
        }
        self.defaults.action
    }

    /// The action for header `name` (any case).
    pub fn header_action(&self, name: &str) -> Action {
        // Most names come lower-cased already: no copy for them.
        let lower = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(name.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(name)
        };
        self.headers
            .get(lower.as_ref())
            .copied()
            .unwrap_or(self.defaults.header_action)
    }

    /// The allow-list as a set.
    pub fn allowed(&self) -> HashSet<String> {
        self.allow.values.iter().cloned().collect()
    }
}

/// Splits a column name into words: on `_`, `-`, `.`, spaces and lower-to-upper case changes
/// (`clientIp` -> `client`, `ip`), plus the whole name.
fn name_words(name: &str) -> Vec<String> {
    let mut words = vec![name.to_ascii_lowercase()];
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if (!c.is_alphanumeric() || (c.is_uppercase() && prev_lower)) && !cur.is_empty() {
            words.push(std::mem::take(&mut cur).to_lowercase());
        }
        if c.is_alphanumeric() {
            cur.push(c);
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
    }
    if !cur.is_empty() {
        words.push(cur.to_lowercase());
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_safe() {
        let p = Policy::default();
        assert_eq!(p.columns["session"], Action::Hash);
        for col in [
            "user_id",
            "client_ip",
            "customerEmail",
            "full_name",
            "remote-addr",
            "phone",
        ] {
            assert_eq!(p.action_for(col), Action::Hash, "{col}");
        }
        for col in ["notes", "zip", "description", "referrer"] {
            assert_eq!(p.action_for(col), Action::Detect, "{col}");
        }
        assert_eq!(p.header_action("Authorization"), Action::Hash);
        assert_eq!(p.header_action("Cookie"), Action::Hash);
        assert_eq!(p.header_action("Accept"), Action::Detect);
        assert_eq!(p.detectors_for("path"), DetectorSet::ALL);
    }

    #[test]
    fn policies_parse_and_are_checked() {
        let p = Policy::parse(
            "[defaults]\naction = \"keep\"\n[columns]\nnotes = \"drop\"\n[headers]\nX-Trace = \"keep\"\n[detectors]\noff = [\"ipv6\"]\n[detectors.columns]\nnotes = [\"phone\"]\n",
        )
        .unwrap();
        assert_eq!(p.action_for("notes"), Action::Drop);
        assert_eq!(p.action_for("other"), Action::Keep);
        assert_eq!(p.header_action("x-trace"), Action::Keep);
        let set = p.detectors_for("notes");
        assert!(!set.contains(Detector::Phone) && !set.contains(Detector::Ipv6));
        assert!(set.contains(Detector::Email));
        assert!(Policy::parse("[defaults]\n[detectors]\noff = [\"names\"]\n").is_err());
        assert!(Policy::parse("[defaults]\nbogus = 1\n").is_err());
        assert_ne!(p.digest(), Policy::default().digest());
        assert_eq!(Policy::default().digest(), Policy::default().digest());
    }
}
