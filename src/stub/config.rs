//! The stub's config: routes, their responses, latency models and fault windows, read from
//! TOML or JSON and checked before a socket is opened.
//!
//! Errors name the file, the field (`routes[2].latency`) and the problem, so a user can fix
//! the config without reading code.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::pattern::PathPattern;

/// A whole stub config. Every field has a default, so `{}` is a valid config (only the
/// catch-all answers).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StubConfig {
    /// Answer requests no route matches with 200 `{}` (default true), so any trace replays.
    #[serde(default = "yes")]
    pub catch_all: bool,
    /// Seed of the random numbers behind latency, error rates and status mixes (default 0).
    #[serde(default)]
    pub seed: u64,
    /// The routes, tried in order; routes with a `host` are tried before routes without one.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Named faults that point at a route by `route = "METHOD /path"` (or its `name`).
    #[serde(default)]
    pub faults: Vec<FaultConfig>,
}

impl Default for StubConfig {
    /// No routes; the catch-all on.
    fn default() -> Self {
        StubConfig {
            catch_all: true,
            seed: 0,
            routes: Vec::new(),
            faults: Vec::new(),
        }
    }
}

/// One route: what it matches and how it answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// A name for metrics and fault references; default `METHOD /path`.
    #[serde(default)]
    pub name: Option<String>,
    /// HTTP method, or `*` for any (default `*`).
    #[serde(default = "any_method")]
    pub method: String,
    /// Path pattern: literal segments, `{param}` segments, and a final `*` for any tail.
    pub path: String,
    /// Only requests whose `Host` (port ignored, case-insensitive) equals this match.
    #[serde(default)]
    pub host: Option<String>,
    /// Response status (default 200).
    #[serde(default = "ok_status")]
    pub status: u16,
    /// A weighted mix of statuses, used instead of `status` when set.
    #[serde(default)]
    pub status_mix: Vec<StatusWeight>,
    /// Response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Response body: a JSON value (sent as JSON) or a string (sent as text). `{{param}}` in
    /// it is replaced by that path parameter. Default `{}`.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// Injected latency model (default none: answer at once).
    #[serde(default)]
    pub latency: Option<LatencyConfig>,
    /// Share of requests (0 to 1) answered with `error_status` instead.
    #[serde(default)]
    pub error_rate: f64,
    /// Status of the `error_rate` answers (default 500).
    #[serde(default = "error_status")]
    pub error_status: u16,
    /// Fault windows on this route.
    #[serde(default)]
    pub faults: Vec<FaultConfig>,
}

/// One status of a status mix and its weight.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusWeight {
    /// The status.
    pub status: u16,
    /// Its relative weight (a count or a share).
    pub weight: f64,
}

/// A latency model; times in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "lowercase", deny_unknown_fields)]
pub enum LatencyConfig {
    /// Always `ms`.
    Fixed {
        /// The latency.
        ms: f64,
    },
    /// Uniform between `min_ms` and `max_ms`.
    Uniform {
        /// Lower bound.
        min_ms: f64,
        /// Upper bound.
        max_ms: f64,
    },
    /// Normal, cut at 0.
    Normal {
        /// Mean.
        mean_ms: f64,
        /// Standard deviation.
        sd_ms: f64,
    },
    /// Log-normal given by its median and 99th percentile.
    Lognormal {
        /// Median.
        p50_ms: f64,
        /// 99th percentile (at least the median).
        p99_ms: f64,
    },
    /// Drawn from a list of recorded latencies.
    Empirical {
        /// The recorded latencies.
        samples_ms: Vec<f64>,
    },
}

/// What a fault does to the requests of its route while active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// Answer with the fault's status at once.
    #[default]
    Status,
    /// Close the connection without an answer.
    Reset,
    /// Never answer; hold the connection until the client gives up.
    Hang,
}

/// A fault window: a named fault on a route, active from `at` for `for` on the replay clock,
/// or (without `at`) inactive until scheduled or switched on by `POST /__esr/faults`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    /// The fault's name (`ACH_DOWN`); `POST /__esr/faults` switches it by this name.
    #[serde(default)]
    pub name: Option<String>,
    /// Target route, `METHOD /path` or a route's `name`; only at the top level.
    #[serde(default)]
    pub route: Option<String>,
    /// Start on the original timeline (`15m`, `90s`, `1h30m`, `250ms`).
    #[serde(default)]
    pub at: Option<String>,
    /// Length on the original timeline; required with `at`.
    #[serde(default, rename = "for")]
    pub for_: Option<String>,
    /// `status` (default), `reset` or `hang`.
    #[serde(default)]
    pub kind: FaultKind,
    /// Status answered by a `status` fault (default 503).
    #[serde(default = "fault_status")]
    pub status: u16,
}

fn yes() -> bool {
    true
}
fn any_method() -> String {
    "*".to_string()
}
fn ok_status() -> u16 {
    200
}
fn error_status() -> u16 {
    500
}
fn fault_status() -> u16 {
    503
}

/// A config problem: the file (or `<preset hms>`), the field and what is wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{file}`: field `{field}`: {problem}")]
pub struct ConfigError {
    /// The config file, or a description of where the config came from.
    pub file: String,
    /// The field path, `routes[2].latency`.
    pub field: String,
    /// What is wrong and what to do.
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(file: &str, field: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_string(),
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl RouteConfig {
    /// A route answering `method path` with 200 and `{}` at once.
    pub fn new(method: &str, path: &str) -> Self {
        RouteConfig {
            name: None,
            method: method.to_string(),
            path: path.to_string(),
            host: None,
            status: 200,
            status_mix: Vec::new(),
            headers: BTreeMap::new(),
            body: None,
            latency: None,
            error_rate: 0.0,
            error_status: 500,
            faults: Vec::new(),
        }
    }

    /// The route's name: its `name`, or `METHOD /path` (with `@host` when it has one).
    pub fn display_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        match &self.host {
            Some(h) => format!("{} {}@{}", self.method, self.path, h),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

impl FaultConfig {
    /// A named `status` fault (503) with no window yet.
    pub fn named(name: &str) -> Self {
        FaultConfig {
            name: Some(name.to_string()),
            route: None,
            at: None,
            for_: None,
            kind: FaultKind::Status,
            status: 503,
        }
    }
}

impl StubConfig {
    /// Reads a TOML or JSON config (by extension; `.json` is JSON, anything else TOML) and
    /// checks it. Errors name the file, the field and the problem.
    pub fn load(path: &Path) -> Result<StubConfig, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(&file, "(file)", format!("cannot read the config: {e}"))
        })?;
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let cfg = if json {
            Self::parse_json(&text, &file)?
        } else {
            Self::parse_toml(&text, &file)?
        };
        cfg.validate(&file)?;
        Ok(cfg)
    }

    /// Parses TOML text (not yet validated); `file` names it in errors.
    pub fn parse_toml(text: &str, file: &str) -> Result<StubConfig, ConfigError> {
        let de = toml::Deserializer::parse(text)
            .map_err(|e| ConfigError::new(file, "(syntax)", toml_problem(text, &e)))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            ConfigError::new(file, field, toml_problem(text, e.inner()))
        })
    }

    /// Parses JSON text (not yet validated); `file` names it in errors.
    pub fn parse_json(text: &str, file: &str) -> Result<StubConfig, ConfigError> {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            ConfigError::new(
                file,
                field,
                format!("{inner}"), // serde_json already says line and column
            )
        })
    }

    /// Checks everything a parse cannot: patterns, models, rates, fault windows. `file`
    /// names the config in errors.
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        super::compile::compile(self, file).map(|_| ())
    }

    /// Schedules the named fault at `at` for `length` on the original timeline: fills the
    /// window of a fault of that name that has none, or adds a window beside its others.
    /// Fails when no fault has that name.
    pub fn schedule_fault(
        &mut self,
        name: &str,
        at: Duration,
        length: Duration,
    ) -> Result<(), ConfigError> {
        let (at, length) = (format_duration(at), format_duration(length));
        let mut template: Option<(Option<usize>, FaultConfig)> = None;
        let top = self.faults.iter_mut().map(|f| (None, f));
        let inner = self
            .routes
            .iter_mut()
            .enumerate()
            .flat_map(|(i, r)| r.faults.iter_mut().map(move |f| (Some(i), f)));
        for (route, f) in top.chain(inner) {
            if f.name.as_deref() != Some(name) {
                continue;
            }
            if f.at.is_none() {
                f.at = Some(at);
                f.for_ = Some(length);
                return Ok(());
            }
            template.get_or_insert((route, f.clone()));
        }
        let Some((route, mut f)) = template else {
            let known = self.fault_names().join(", ");
            return Err(ConfigError::new(
                "(schedule)",
                "faults",
                format!("no fault named `{name}` (defined: {known})"),
            ));
        };
        f.at = Some(at);
        f.for_ = Some(length);
        match route {
            Some(i) => self.routes[i].faults.push(f),
            None => self.faults.push(f),
        }
        Ok(())
    }

    /// Names of every named fault, in order, without repeats.
    pub fn fault_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let all = self
            .faults
            .iter()
            .chain(self.routes.iter().flat_map(|r| r.faults.iter()));
        for f in all {
            if let Some(n) = &f.name
                && !names.contains(n)
            {
                names.push(n.clone());
            }
        }
        names
    }
}

/// A TOML error's message with its line (shared with scenario files).
pub(crate) fn toml_problem(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_string();
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("{msg} (line {line})")
        }
        None => msg,
    }
}

/// Parses `15m`, `90s`, `1h30m`, `250ms`, `1.5s` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("`{s}` is not a duration; write it like `15m`, `90s`, `1h30m` or `250ms`");
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<f64>() {
        // try_: a finite number can still be too large for a Duration (`1e30`).
        return if secs >= 0.0 {
            Duration::try_from_secs_f64(secs).map_err(|_| bad())
        } else {
            Err(bad())
        };
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// The shortest of `1h30m`, `15m`, `90s`, `250ms` that [`parse_duration`] reads back.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 || out.is_empty() {
        out.push_str(&format!("{sec}s"));
    }
    out
}

/// Checks a path pattern, for the config's own errors.
pub(crate) fn check_pattern(p: &str) -> Result<PathPattern, String> {
    PathPattern::parse(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `scenario` fuzz target: a duration too large for a `Duration` panicked.
    #[test]
    fn huge_durations_are_refused_not_a_panic() {
        assert!(parse_duration("3111111111111111111111111110m").is_err());
        assert!(parse_duration("1e30").is_err());
        assert!(parse_duration("inf").is_err());
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
    }

    #[test]
    fn durations_round_trip() {
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("").is_err());
        for d in ["15m", "1h30m", "250ms", "45s", "2h"] {
            assert_eq!(format_duration(parse_duration(d).unwrap()), d);
        }
    }

    #[test]
    fn unknown_model_names_the_field() {
        let text = "[[routes]]\npath = \"/x\"\nlatency = { model = \"gamma\", ms = 3 }\n";
        let e = StubConfig::parse_toml(text, "s.toml").unwrap_err();
        assert_eq!(e.file, "s.toml");
        assert!(e.field.starts_with("routes[0].latency"), "{e}");
        assert!(e.problem.contains("gamma"), "{e}");
    }

    #[test]
    fn schedule_fills_then_adds_windows() {
        let mut c = StubConfig::default();
        let mut r = RouteConfig::new("POST", "/ach/transfer");
        r.faults.push(FaultConfig::named("ACH_DOWN"));
        c.routes.push(r);
        c.schedule_fault(
            "ACH_DOWN",
            Duration::from_secs(900),
            Duration::from_secs(300),
        )
        .unwrap();
        assert_eq!(c.routes[0].faults[0].at.as_deref(), Some("15m"));
        c.schedule_fault(
            "ACH_DOWN",
            Duration::from_secs(3600),
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(c.routes[0].faults.len(), 2);
        assert!(
            c.schedule_fault("NOPE", Duration::ZERO, Duration::ZERO)
                .is_err()
        );
        c.validate("x").unwrap();
    }
}
