//! The reversal self-test: plays an attacker without the key. For every column value that
//! looks like a pseudonymized IPv4 address — esr's (in 240.0.0.0/4) or a naive tool's (a plain
//! SHA-256 of the address, as hex) — it enumerates candidate addresses under the unkeyed
//! construction a naive tool uses (plain SHA-256 of the address, as hex) and counts the values
//! it recovers. esr's keyed output must give 0; a plain SHA-256 column gives them all back (the
//! tests prove the test can fail).
//!
//! Why not also try esr's own construction with an empty key: its IPv4 pseudonyms live in a
//! 2^28 space, so enumerating 2^17+ candidates against a few hundred pseudonyms collides by
//! chance, and a chance collision is not a recovery. A 256-bit digest never collides.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Ranges enumerated by default: the private /16s most logs are full of (196,608 addresses,
/// a second or two). `--reversal-range` adds more; with `--against`, every IPv4 address of the
/// raw input is a candidate too (a dictionary attack).
pub const DEFAULT_RANGES: [(Ipv4Addr, u8); 3] = [
    (Ipv4Addr::new(10, 0, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 16),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
];

/// At most this many distinct values are kept as targets.
const MAX_TARGETS: usize = 1 << 20;

/// The self-test's outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reversal {
    /// Distinct pseudonymized IPv4 values found (esr's and plain SHA-256 hex).
    pub targets: u64,
    /// Candidate addresses tried.
    pub candidates: u64,
    /// Targets recovered without the key.
    pub recovered: u64,
    /// Per column: (targets, recovered).
    pub per_column: BTreeMap<String, (u64, u64)>,
    /// The constructions tried.
    pub constructions: Vec<String>,
}

/// Collects targets while the trace streams by.
#[derive(Default)]
pub(crate) struct Collector {
    sha: HashMap<[u8; 32], String>,
    ip: HashMap<u32, String>,
}

impl Collector {
    pub fn observe(&mut self, column: &str, v: &str) {
        if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
            if self.sha.len() < MAX_TARGETS {
                let mut d = [0u8; 32];
                for (i, pair) in v.as_bytes().chunks(2).enumerate() {
                    let h = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                    d[i] = h(pair[0]) * 16 + h(pair[1]);
                }
                self.sha.entry(d).or_insert_with(|| column.to_string());
            }
        } else if v.len() <= 15
            && let Ok(ip) = v.parse::<Ipv4Addr>()
            && ip.octets()[0] >= 240
            && self.ip.len() < MAX_TARGETS
        {
            self.ip
                .entry(u32::from(ip))
                .or_insert_with(|| column.to_string());
        }
    }

    /// Enumerates the candidates and counts what they recover.
    pub fn run(self, ranges: &[(Ipv4Addr, u8)], extra: &[Ipv4Addr]) -> Reversal {
        let mut out = Reversal {
            targets: (self.sha.len() + self.ip.len()) as u64,
            constructions: vec!["plain SHA-256 of the address, as hex".into()],
            ..Default::default()
        };
        for col in self.sha.values().chain(self.ip.values()) {
            out.per_column.entry(col.clone()).or_default().0 += 1;
        }
        if out.targets == 0 {
            return out;
        }
        let mut found: HashMap<&str, u64> = HashMap::new();
        let mut seen_sha = std::collections::HashSet::new();
        let mut try_ip = |ip: Ipv4Addr, out: &mut Reversal| {
            out.candidates += 1;
            if !self.sha.is_empty() {
                let d: [u8; 32] = Sha256::digest(ip.to_string().as_bytes()).into();
                if let Some(col) = self.sha.get(&d)
                    && seen_sha.insert(d)
                {
                    *found.entry(col.as_str()).or_default() += 1;
                }
            }
        };
        for &(net, prefix) in ranges {
            let prefix = prefix.min(32);
            let size = 1u64 << (32 - prefix);
            let base = u32::from(net) & (u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0));
            for i in 0..size {
                try_ip(Ipv4Addr::from(base.wrapping_add(i as u32)), &mut out);
            }
        }
        for &ip in extra {
            try_ip(ip, &mut out);
        }
        for (col, n) in found {
            out.recovered += n;
            out.per_column.entry(col.to_string()).or_default().1 += n;
        }
        out
    }
}

/// Parses `10.0.0.0/16`.
pub fn parse_range(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (ip, prefix) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not a CIDR range like 10.0.0.0/16"))?;
    let ip: Ipv4Addr = ip
        .parse()
        .map_err(|_| format!("`{s}` does not start with an IPv4 address"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| (8..=32).contains(p))
        .ok_or_else(|| format!("`{s}`: the prefix length must be 8 to 32"))?;
    Ok((ip, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::pseudonym::Pseudonymizer;
    use crate::scrub::{Detector, ScrubKey};

    fn sha_hex(s: &str) -> String {
        crate::scrub::pseudonym::hex(&Sha256::digest(s.as_bytes()))
    }

    #[test]
    fn recovers_plain_hashes_but_not_keyed_pseudonyms() {
        let key = ScrubKey::from_bytes(b"reversal test key 0123", "t").unwrap();
        let mut ps = Pseudonymizer::new(&key);
        let mut c = Collector::default();
        for i in 0..20u8 {
            let ip = format!("192.168.7.{i}");
            c.observe("naive_ip", &sha_hex(&ip));
            c.observe("client_ip", ps.detected(Detector::Ipv4, &ip));
        }
        let r = c.run(&[(Ipv4Addr::new(192, 168, 7, 0), 24)], &[]);
        assert_eq!(r.targets, 40);
        assert_eq!(r.recovered, 20);
        assert_eq!(r.per_column["naive_ip"], (20, 20));
        assert_eq!(r.per_column["client_ip"], (20, 0));
    }

    #[test]
    fn ranges_parse() {
        assert_eq!(
            parse_range("10.0.0.0/16").unwrap(),
            (Ipv4Addr::new(10, 0, 0, 0), 16)
        );
        assert!(parse_range("10.0.0.0").is_err());
        assert!(parse_range("10.0.0.0/4").is_err());
    }
}
