//! Turns a [`StubConfig`] into the checked plan the server runs: parsed patterns, models,
//! header values and fault windows. Every problem found here names its field.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method};

use super::config::{
    ConfigError, FaultConfig, FaultKind, RouteConfig, StubConfig, check_pattern, parse_duration,
};
use super::latency::LatencyModel;
use super::pattern::PathPattern;

/// The checked, ready-to-serve form of a config.
#[derive(Debug, Clone)]
pub struct Plan {
    pub catch_all: bool,
    pub seed: u64,
    pub routes: Vec<Route>,
    pub faults: Vec<Fault>,
}

/// A checked route.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    /// `None` matches any method.
    pub method: Option<Method>,
    pub host: Option<String>,
    pub pattern: PathPattern,
    /// One status, or a cumulative weighted mix `(upper bound in [0,1], status)`.
    pub statuses: Vec<(f64, u16)>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Body,
    pub latency: Option<LatencyModel>,
    pub error_rate: f64,
    pub error_status: u16,
}

/// A response body, with `{{param}}` placeholders when it has any.
#[derive(Debug, Clone)]
pub struct Body {
    pub text: String,
    pub json: bool,
    pub templated: bool,
}

/// A checked fault (one window, or none yet) on a route.
#[derive(Debug, Clone)]
pub struct Fault {
    pub name: String,
    pub route: usize,
    pub kind: FaultKind,
    pub status: u16,
    /// `(at, for)` on the original timeline.
    pub window: Option<(Duration, Duration)>,
}

/// The route answering requests no configured route matches: any method, any path, 200 `{}`.
pub fn catch_all_route() -> Route {
    Route {
        name: "catch-all".into(),
        method: None,
        host: None,
        pattern: PathPattern::parse("/*").expect("`/*` is a valid pattern"),
        statuses: vec![(1.0, 200)],
        headers: Vec::new(),
        body: Body {
            text: "{}".into(),
            json: true,
            templated: false,
        },
        latency: None,
        error_rate: 0.0,
        error_status: 500,
    }
}

/// Checks and compiles `cfg`; `file` names it in errors.
pub fn compile(cfg: &StubConfig, file: &str) -> Result<Plan, ConfigError> {
    let mut routes = Vec::with_capacity(cfg.routes.len());
    let mut faults = Vec::new();
    let mut fields = Vec::new(); // the config field of each fault, for overlap errors
    for (i, r) in cfg.routes.iter().enumerate() {
        routes.push(route(r, file, &format!("routes[{i}]"))?);
        for (j, f) in r.faults.iter().enumerate() {
            let field = format!("routes[{i}].faults[{j}]");
            if f.route.is_some() {
                return Err(ConfigError::new(
                    file,
                    format!("{field}.route"),
                    "a fault inside a route already targets that route; remove `route`",
                ));
            }
            faults.push(fault(f, i, &routes[i].name, file, &field)?);
            fields.push(field);
        }
    }
    for (j, f) in cfg.faults.iter().enumerate() {
        let field = format!("faults[{j}]");
        let Some(target) = &f.route else {
            return Err(ConfigError::new(
                file,
                format!("{field}.route"),
                "a top-level fault needs `route = \"METHOD /path\"` (or a route's name)",
            ));
        };
        let Some(i) = find_route(cfg, target) else {
            let known: Vec<String> = cfg.routes.iter().map(|r| r.display_name()).collect();
            return Err(ConfigError::new(
                file,
                format!("{field}.route"),
                format!("no route `{target}` (routes: {})", known.join(", ")),
            ));
        };
        if f.name.is_none() {
            return Err(ConfigError::new(
                file,
                format!("{field}.name"),
                "a top-level fault needs a `name`",
            ));
        }
        faults.push(fault(f, i, &routes[i].name, file, &field)?);
        fields.push(field);
    }
    check_overlaps(&faults, &fields, &routes, file)?;
    Ok(Plan {
        catch_all: cfg.catch_all,
        seed: cfg.seed,
        routes,
        faults,
    })
}

fn find_route(cfg: &StubConfig, target: &str) -> Option<usize> {
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let t = norm(target);
    cfg.routes.iter().position(|r| {
        r.name.as_deref() == Some(target)
            || norm(&format!("{} {}", r.method, r.path)).eq_ignore_ascii_case(&t)
            || norm(&r.display_name()).eq_ignore_ascii_case(&t)
    })
}

fn status(v: u16, file: &str, field: String) -> Result<u16, ConfigError> {
    if (100..=599).contains(&v) {
        Ok(v)
    } else {
        Err(ConfigError::new(
            file,
            field,
            format!("`{v}` is not an HTTP status (100 to 599)"),
        ))
    }
}

fn route(r: &RouteConfig, file: &str, field: &str) -> Result<Route, ConfigError> {
    let err = |f: &str, p: String| ConfigError::new(file, format!("{field}.{f}"), p);
    let pattern = check_pattern(&r.path).map_err(|p| err("path", p))?;
    let method = if r.method == "*" {
        None
    } else {
        let m = r.method.to_ascii_uppercase();
        Some(
            Method::from_bytes(m.as_bytes())
                .map_err(|_| err("method", format!("`{}` is not an HTTP method", r.method)))?,
        )
    };
    let mut statuses = Vec::new();
    if r.status_mix.is_empty() {
        statuses.push((1.0, status(r.status, file, format!("{field}.status"))?));
    } else {
        let total: f64 = r.status_mix.iter().map(|s| s.weight).sum();
        if !(total.is_finite() && total > 0.0) || r.status_mix.iter().any(|s| s.weight < 0.0) {
            return Err(err(
                "status_mix",
                "weights must be >= 0 with a positive sum".into(),
            ));
        }
        let mut acc = 0.0;
        for (k, s) in r.status_mix.iter().enumerate() {
            acc += s.weight / total;
            statuses.push((
                acc,
                status(s.status, file, format!("{field}.status_mix[{k}].status"))?,
            ));
        }
        if let Some(last) = statuses.last_mut() {
            last.0 = 1.0; // rounding must never leave a gap at the top
        }
    }
    let mut headers = Vec::new();
    for (k, v) in &r.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| err("headers", format!("`{k}` is not a header name")))?;
        let value = HeaderValue::from_str(v).map_err(|_| {
            err(
                "headers",
                format!("the value of `{k}` is not a header value"),
            )
        })?;
        headers.push((name, value));
    }
    let body = match &r.body {
        None => Body {
            text: "{}".into(),
            json: true,
            templated: false,
        },
        Some(serde_json::Value::String(s)) => Body {
            templated: s.contains("{{"),
            text: s.clone(),
            json: false,
        },
        Some(v) => {
            let text = v.to_string();
            Body {
                templated: text.contains("{{"),
                text,
                json: true,
            }
        }
    };
    let latency = match &r.latency {
        None => None,
        Some(l) => Some(LatencyModel::from_config(l).map_err(|p| err("latency", p))?),
    };
    if !(0.0..=1.0).contains(&r.error_rate) {
        return Err(err(
            "error_rate",
            format!(
                "`{}` is not a share between 0 and 1 (0.005 is 0.5 %)",
                r.error_rate
            ),
        ));
    }
    Ok(Route {
        name: r.display_name(),
        method,
        host: r.host.clone(),
        pattern,
        statuses,
        headers,
        body,
        latency,
        error_rate: r.error_rate,
        error_status: status(r.error_status, file, format!("{field}.error_status"))?,
    })
}

fn fault(
    f: &FaultConfig,
    route: usize,
    route_name: &str,
    file: &str,
    field: &str,
) -> Result<Fault, ConfigError> {
    let dur = |name: &str, v: &str| {
        parse_duration(v).map_err(|p| ConfigError::new(file, format!("{field}.{name}"), p))
    };
    let window = match (&f.at, &f.for_) {
        (None, None) => None,
        (Some(at), Some(len)) => Some((dur("at", at)?, dur("for", len)?)),
        (Some(_), None) => {
            return Err(ConfigError::new(
                file,
                format!("{field}.for"),
                "a fault with `at` needs `for` (how long it lasts)",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                file,
                format!("{field}.at"),
                "a fault with `for` needs `at` (when it starts)",
            ));
        }
    };
    Ok(Fault {
        name: f
            .name
            .clone()
            .unwrap_or_else(|| format!("{route_name} fault")),
        route,
        kind: f.kind,
        status: status(f.status, file, format!("{field}.status"))?,
        window,
    })
}

fn check_overlaps(
    faults: &[Fault],
    fields: &[String],
    routes: &[Route],
    file: &str,
) -> Result<(), ConfigError> {
    for (a_i, a) in faults.iter().enumerate() {
        for (b_i, b) in faults.iter().enumerate().skip(a_i + 1) {
            let (Some((a0, al)), Some((b0, bl))) = (a.window, b.window) else {
                continue;
            };
            if a.route == b.route && a0 < b0 + bl && b0 < a0 + al {
                return Err(ConfigError::new(
                    file,
                    &fields[b_i],
                    format!(
                        "fault window `{}` ({} for {}, at `{}`) and `{}` ({} for {}) overlap on route `{}`; \
                         one route can be in one fault at a time",
                        a.name,
                        super::config::format_duration(a0),
                        super::config::format_duration(al),
                        fields[a_i],
                        b.name,
                        super::config::format_duration(b0),
                        super::config::format_duration(bl),
                        routes[a.route].name
                    ),
                ));
            }
        }
    }
    Ok(())
}
