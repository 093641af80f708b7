//! Path patterns (`/users/{id}/orders`, `/static/*`) and host matching.

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    /// `*`: any rest of the path, including nothing; only last.
    Tail,
}

/// A parsed path pattern: literal segments, `{name}` segments that capture one segment, and
/// an optional final `*` that matches any rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    segments: Vec<Segment>,
}

impl PathPattern {
    /// Parses a pattern; the error says what is wrong with it.
    pub fn parse(p: &str) -> Result<PathPattern, String> {
        if !p.starts_with('/') {
            return Err(format!("path pattern `{p}` must start with `/`"));
        }
        if p.contains(['?', '#']) {
            return Err(format!(
                "path pattern `{p}` has a query or fragment; patterns match the path only"
            ));
        }
        let parts: Vec<&str> = p[1..].split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        let mut names: Vec<&str> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if *part == "*" {
                if !last {
                    return Err(format!(
                        "path pattern `{p}`: `*` may only be the last segment"
                    ));
                }
                segments.push(Segment::Tail);
            } else if let Some(inner) = part.strip_prefix('{') {
                let Some(name) = inner.strip_suffix('}') else {
                    return Err(format!(
                        "path pattern `{p}`: segment `{part}` opens `{{` without closing it"
                    ));
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!(
                        "path pattern `{p}`: parameter `{part}` needs a name of letters, digits or `_`"
                    ));
                }
                if names.contains(&name) {
                    return Err(format!(
                        "path pattern `{p}`: parameter `{name}` appears twice"
                    ));
                }
                names.push(name);
                segments.push(Segment::Param(name.to_string()));
            } else if part.contains(['{', '}', '*']) {
                return Err(format!(
                    "path pattern `{p}`: segment `{part}` mixes text with `{{`, `}}` or `*`; \
                     a parameter or `*` must be a whole segment"
                ));
            } else {
                segments.push(Segment::Literal(part.to_string()));
            }
        }
        Ok(PathPattern { segments })
    }

    /// Matches a request path (no query); on a match, returns the captured parameters.
    pub fn matches<'a>(&self, path: &'a str) -> Option<Vec<(&str, &'a str)>> {
        let rest = path.strip_prefix('/')?;
        let mut params = Vec::new();
        let mut parts = rest.split('/');
        for seg in &self.segments {
            match seg {
                Segment::Tail => return Some(params),
                Segment::Literal(l) => {
                    if parts.next()? != l {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    let v = parts.next()?;
                    if v.is_empty() {
                        return None;
                    }
                    params.push((name.as_str(), v));
                }
            }
        }
        parts.next().is_none().then_some(params)
    }
}

/// Whether a request's `Host` header (port ignored, case-insensitive) is `want`.
pub fn host_matches(want: &str, host_header: Option<&str>) -> bool {
    let Some(h) = host_header else {
        return false;
    };
    strip_port(h).eq_ignore_ascii_case(strip_port(want))
}

fn strip_port(h: &str) -> &str {
    // `[::1]:8080` keeps its brackets; `name:8080` loses the port.
    if let Some(end) = h.find(']') {
        return &h[..=end];
    }
    match h.rfind(':') {
        Some(i) if h[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &h[..i],
        _ => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_param_and_tail() {
        let p = PathPattern::parse("/users/{id}/orders").unwrap();
        assert_eq!(p.matches("/users/42/orders"), Some(vec![("id", "42")]));
        assert_eq!(p.matches("/users/42"), None);
        assert_eq!(p.matches("/users//orders"), None);
        assert_eq!(p.matches("/users/42/orders/x"), None);
        let t = PathPattern::parse("/static/*").unwrap();
        assert!(t.matches("/static/a/b.css").is_some());
        assert!(t.matches("/static").is_some());
        assert!(t.matches("/other").is_none());
        let all = PathPattern::parse("/*").unwrap();
        assert!(all.matches("/anything/at/all").is_some());
        let root = PathPattern::parse("/").unwrap();
        assert!(root.matches("/").is_some());
        assert!(root.matches("/x").is_none());
    }

    #[test]
    fn bad_patterns_say_why() {
        assert!(
            PathPattern::parse("users")
                .unwrap_err()
                .contains("start with")
        );
        assert!(PathPattern::parse("/a/*/b").unwrap_err().contains("last"));
        assert!(
            PathPattern::parse("/a/{id")
                .unwrap_err()
                .contains("without closing")
        );
        assert!(PathPattern::parse("/a/{}").unwrap_err().contains("name"));
        assert!(
            PathPattern::parse("/a/{x}/{x}")
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            PathPattern::parse("/a/x{id}")
                .unwrap_err()
                .contains("whole segment")
        );
        assert!(PathPattern::parse("/a?b=1").unwrap_err().contains("query"));
    }

    #[test]
    fn hosts_ignore_port_and_case() {
        assert!(host_matches("ach.svc", Some("ACH.svc:8080")));
        assert!(host_matches("ach.svc:9", Some("ach.svc")));
        assert!(!host_matches("ach.svc", Some("pay.svc")));
        assert!(!host_matches("ach.svc", None));
        assert!(host_matches("[::1]", Some("[::1]:80")));
    }
}
