//! The scrub key: where it comes from, its public id, and how a new one is made.
//!
//! The key never prints (its `Debug` is `[redacted]`), never enters a report or the trace;
//! only its id does, a short digest from which the key cannot be recovered, so a reader can
//! tell whether two traces were scrubbed with the same key.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::sensitive::Sensitive;

/// The environment variable that may hold the key.
pub const KEY_ENV: &str = "ESR_SCRUB_KEY";

/// Shortest key accepted, in bytes: a shorter secret could be guessed.
pub const MIN_KEY_BYTES: usize = 16;

/// Errors of finding or making a key. Messages never quote the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "no scrub key: esr refuses to scrub without one, because unkeyed hashes of emails, IPs or \
         phone numbers are reversed by enumeration; create a key with `esr keygen -o FILE` and \
         pass `--key-file FILE` (or set {KEY_ENV}), or pass `--ephemeral-key` for a one-off \
         random key (pseudonyms then do not link across runs)"
    )]
    Missing,
    #[error(
        "scrub key from {source_name} is too short ({len} bytes); use at least {MIN_KEY_BYTES} bytes, for example a key from `esr keygen -o FILE`"
    )]
    TooShort { source_name: String, len: usize },
    #[error("cannot read key file `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write key file `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "`{path}` already exists; esr does not overwrite a key (pseudonyms made with it would stop linking); pick another path or delete it first"
    )]
    Exists { path: PathBuf },
}

/// A secret scrub key. Cloning is allowed (each worker needs one); printing is not.
#[derive(Clone)]
pub struct ScrubKey {
    bytes: Sensitive<Vec<u8>>,
    ephemeral: bool,
}

impl std::fmt::Debug for ScrubKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScrubKey({})", self.id())
    }
}

impl ScrubKey {
    /// A key from raw bytes (surrounding whitespace of a text key is not part of it).
    pub fn from_bytes(bytes: &[u8], source_name: &str) -> Result<ScrubKey, KeyError> {
        let bytes = bytes.trim_ascii();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort {
                source_name: source_name.to_string(),
                len: bytes.len(),
            });
        }
        Ok(ScrubKey {
            bytes: Sensitive::new(bytes.to_vec()),
            ephemeral: false,
        })
    }

    /// Reads a key file.
    pub fn from_file(path: &Path) -> Result<ScrubKey, KeyError> {
        let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        ScrubKey::from_bytes(&bytes, &format!("`{}`", path.display()))
    }

    /// A random key for this run only.
    pub fn ephemeral() -> ScrubKey {
        let mut bytes = vec![0u8; 32];
        rand::fill(&mut bytes[..]);
        ScrubKey {
            bytes: Sensitive::new(bytes),
            ephemeral: true,
        }
    }

    /// Resolves the key of a command: `--key-file` first, then `ESR_SCRUB_KEY`, then
    /// `--ephemeral-key`; none of them is an error that says how to get a key.
    pub fn resolve(key_file: Option<&Path>, ephemeral: bool) -> Result<ScrubKey, KeyError> {
        if let Some(path) = key_file {
            return ScrubKey::from_file(path);
        }
        if let Some(v) = std::env::var_os(KEY_ENV).filter(|v| !v.is_empty()) {
            return ScrubKey::from_bytes(v.as_encoded_bytes(), KEY_ENV);
        }
        if ephemeral {
            return Ok(ScrubKey::ephemeral());
        }
        Err(KeyError::Missing)
    }

    /// The key's public id: `k` and 12 hex digits of a domain-separated SHA-256 of the key.
    /// It names the key without revealing it.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"esr scrub key id\0");
        h.update(self.bytes.expose());
        let d = h.finalize();
        let mut s = String::from(if self.ephemeral { "e" } else { "k" });
        for b in &d[..6] {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// True for a key made for this run only.
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// The key bytes, for the HMAC only.
    pub(crate) fn expose(&self) -> &[u8] {
        self.bytes.expose()
    }
}

/// Writes a new random key (64 hex digits, from 32 random bytes) to `path`, readable by its
/// owner only (0600), and returns its id. Refuses to overwrite a file.
pub fn write_new_key(path: &Path) -> Result<String, KeyError> {
    let mut raw = [0u8; 32];
    rand::fill(&mut raw[..]);
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let werr = |source| KeyError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            werr(e)
        }
    })?;
    f.write_all(hex.as_bytes()).map_err(werr)?;
    f.write_all(b"\n").map_err(werr)?;
    f.sync_all().map_err(werr)?;
    Ok(ScrubKey::from_bytes(hex.as_bytes(), "new key")?.id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_names_the_key_without_revealing_it() {
        let k = ScrubKey::from_bytes(b"0123456789abcdef0123", "test").unwrap();
        let id = k.id();
        assert_eq!(id.len(), 13);
        assert!(!format!("{k:?}").contains("0123456789"));
        assert_eq!(
            id,
            ScrubKey::from_bytes(b" 0123456789abcdef0123\n", "t")
                .unwrap()
                .id()
        );
        assert_ne!(
            id,
            ScrubKey::from_bytes(b"0123456789abcdef0124", "t")
                .unwrap()
                .id()
        );
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(matches!(
            ScrubKey::from_bytes(b"short", "t"),
            Err(KeyError::TooShort { .. })
        ));
    }

    #[test]
    fn new_key_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let id = write_new_key(&p).unwrap();
        assert_eq!(ScrubKey::from_file(&p).unwrap().id(), id);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(write_new_key(&p), Err(KeyError::Exists { .. })));
    }

    #[test]
    fn ephemeral_keys_differ() {
        assert_ne!(ScrubKey::ephemeral().id(), ScrubKey::ephemeral().id());
        assert!(ScrubKey::ephemeral().id().starts_with('e'));
    }
}
