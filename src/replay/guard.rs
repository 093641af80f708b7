//! The sandbox guard: a replay only talks to loopback or to hosts the user allowed by name,
//! so production is never touched by accident. Checked before the first request.

use std::net::IpAddr;

use reqwest::Url;

use super::ReplayError;

/// The hosts a replay may talk to besides loopback (`--allow-host`): an exact host name or IP,
/// or `*.suffix` for any subdomain of `suffix`.
#[derive(Debug, Clone, Default)]
pub struct SandboxGuard {
    allowed: Vec<String>,
}

impl SandboxGuard {
    /// A guard that lets loopback and the given `--allow-host` patterns through.
    pub fn new(allowed: &[String]) -> SandboxGuard {
        SandboxGuard {
            allowed: allowed
                .iter()
                .map(|a| a.trim().trim_end_matches('.').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Parses `url` (what `--target` or `--host-map` gave, under `what`) and checks its host.
    pub fn check(&self, what: &str, url: &str) -> Result<Url, ReplayError> {
        let parsed = Url::parse(url).map_err(|e| {
            ReplayError::Usage(format!(
                "{what} `{url}` is not a URL ({e}); write it like http://127.0.0.1:8080"
            ))
        })?;
        if parsed.scheme() != "http" {
            return Err(ReplayError::Usage(format!(
                "{what} `{url}` must be plain http:// (sandbox targets only)"
            )));
        }
        let host = parsed.host_str().unwrap_or("").to_string();
        if host.is_empty() {
            return Err(ReplayError::Usage(format!("{what} `{url}` has no host")));
        }
        if !self.allows(&host) {
            return Err(ReplayError::Refused { host });
        }
        Ok(parsed)
    }

    /// True for loopback (127.0.0.0/8, ::1, `localhost`) and for allow-listed hosts.
    pub fn allows(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let loopback = match host.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback() || is_mapped_loopback(ip),
            Err(_) => host == "localhost" || host.ends_with(".localhost"),
        };
        loopback
            || self.allowed.iter().any(|pat| match pat.strip_prefix("*.") {
                Some(suffix) => host
                    .strip_suffix(suffix)
                    .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
                None => *pat == host,
            })
    }
}

/// `::ffff:127.0.0.1` is loopback too.
fn is_mapped_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        IpAddr::V4(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_passes_and_the_rest_is_refused() {
        let g = SandboxGuard::new(&[]);
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9/",
            "http://[::1]:80",
            "http://localhost:3000",
            "http://LOCALHOST.:3000",
            "http://[::ffff:127.0.0.1]:1",
        ] {
            assert!(g.check("--target", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1",
            "http://api.example.com",
            "http://128.0.0.1",
            "http://localhost.example.com",
        ] {
            match g.check("--target", bad) {
                Err(ReplayError::Refused { host }) => assert!(bad.contains(&host)),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(matches!(
            g.check("--target", "https://127.0.0.1"),
            Err(ReplayError::Usage(_))
        ));
        assert!(matches!(
            g.check("--target", "not a url"),
            Err(ReplayError::Usage(_))
        ));
    }

    #[test]
    fn allow_host_matches_exact_names_and_suffixes() {
        let g = SandboxGuard::new(&["staging.internal".into(), "*.sandbox.test".into()]);
        assert!(g.allows("staging.internal"));
        assert!(g.allows("a.sandbox.test"));
        assert!(g.allows("x.y.sandbox.test"));
        assert!(!g.allows("sandbox.test"));
        assert!(!g.allows("evilsandbox.test"));
        assert!(!g.allows("prod.internal"));
    }
}
