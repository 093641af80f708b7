//! Pass/fail thresholds: `p95<500ms`, `success>=97.5%`, `errors<1%`, `late_starts<10`,
//! `rate>=4950`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a threshold measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Latency-from-due percentile, in ms (p50, p90, p95, p99, p999) or the maximum.
    LatencyP50,
    LatencyP90,
    LatencyP95,
    LatencyP99,
    LatencyP999,
    LatencyMax,
    /// Success rate, %.
    Success,
    /// Failed requests (transport errors and statuses >= 400), % of requests.
    Errors,
    /// Requests sent more than 10 ms late, a count.
    LateStarts,
    /// Achieved send rate, requests per second.
    Rate,
    /// A scenario's `payment_success`, % (0 when the run has no payment step).
    PaymentSuccess,
}

impl Metric {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "p50" => Metric::LatencyP50,
            "p90" => Metric::LatencyP90,
            "p95" => Metric::LatencyP95,
            "p99" => Metric::LatencyP99,
            "p999" | "p99.9" => Metric::LatencyP999,
            "max" => Metric::LatencyMax,
            "success" | "success_rate" => Metric::Success,
            "errors" | "error_rate" => Metric::Errors,
            "late_starts" => Metric::LateStarts,
            "rate" => Metric::Rate,
            "payment_success" => Metric::PaymentSuccess,
            _ => return None,
        })
    }

    /// Whether the limit is a latency (and takes a time unit).
    pub fn is_latency(self) -> bool {
        matches!(
            self,
            Metric::LatencyP50
                | Metric::LatencyP90
                | Metric::LatencyP95
                | Metric::LatencyP99
                | Metric::LatencyP999
                | Metric::LatencyMax
        )
    }

    /// The unit of the limit and the measured value as stored.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Success | Metric::Errors | Metric::PaymentSuccess => "%",
            Metric::LateStarts => "requests",
            Metric::Rate => "req/s",
            _ => "ms",
        }
    }
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    /// Whether `measured OP limit` holds.
    pub fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Op::Lt => measured < limit,
            Op::Le => measured <= limit,
            Op::Gt => measured > limit,
            Op::Ge => measured >= limit,
        }
    }
}

/// One threshold, with its limit in the metric's unit (ms, %, count, req/s).
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// As the user wrote it (trimmed).
    pub text: String,
    /// What it measures.
    pub metric: Metric,
    /// The comparison.
    pub op: Op,
    /// The limit, in [`Metric::unit`].
    pub limit: f64,
}

/// A threshold that could not be parsed; the message names it and says what is accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("bad threshold `{text}`: {reason}")]
pub struct ThresholdError {
    /// The threshold as given.
    pub text: String,
    /// What is wrong and what to write instead.
    pub reason: String,
}

const FORMS: &str = "write METRIC OP VALUE, e.g. `p95<500ms`, `p99<=2s`, `max<800000us`, \
    `success>=97.5%`, `errors<1%`, `late_starts<10`, `rate>=4950`";

impl Threshold {
    /// Parses `p50/p90/p95/p99/p999/max` (with `ms`, `s` or `us`), `success` and `errors`
    /// (percent), `late_starts` (a count) and `rate` (req/s), with `<`, `<=`, `>` or `>=`.
    pub fn parse(text: &str) -> Result<Threshold, ThresholdError> {
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let bad = |reason: String| ThresholdError {
            text: text.trim().to_string(),
            reason,
        };
        let Some(at) = t.find(['<', '>', '=']) else {
            return Err(bad(format!(
                "no comparison (`<`, `<=`, `>`, `>=`) found; {FORMS}"
            )));
        };
        let (name, rest) = t.split_at(at);
        let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
            (Op::Le, v)
        } else if let Some(v) = rest.strip_prefix(">=") {
            (Op::Ge, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (Op::Lt, v)
        } else if let Some(v) = rest.strip_prefix('>') {
            (Op::Gt, v)
        } else {
            return Err(bad(format!("`{rest}` is not a comparison; {FORMS}")));
        };
        let metric = Metric::parse(&name.to_ascii_lowercase()).ok_or_else(|| {
            bad(format!(
                "unknown metric `{name}` (known: p50, p90, p95, p99, p999, max, success, \
                 errors, late_starts, rate, payment_success)"
            ))
        })?;
        let (num, unit) = split_number(value);
        let unit_lower = unit.to_lowercase();
        let unit = unit_lower.as_str();
        let n: f64 = num
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite() && *n >= 0.0)
            .ok_or_else(|| bad(format!("`{value}` is not a non-negative number; {FORMS}")))?;
        let limit = if metric.is_latency() {
            match unit {
                "ms" => n,
                "s" => n * 1000.0,
                "us" | "µs" => n / 1000.0,
                "" => return Err(bad(format!("`{value}` needs a unit: `ms`, `s` or `us`"))),
                u => return Err(bad(format!("unknown unit `{u}`; use `ms`, `s` or `us`"))),
            }
        } else {
            match (metric, unit) {
                (Metric::Success | Metric::Errors | Metric::PaymentSuccess, "%" | "") => {
                    if n > 100.0 {
                        return Err(bad(format!("`{value}` is more than 100 %")));
                    }
                    n
                }
                (Metric::LateStarts | Metric::Rate, "") => n,
                (Metric::Rate, "/s" | "rps") => n,
                (_, u) => {
                    return Err(bad(format!(
                        "unit `{u}` does not fit `{name}` (it is measured in {})",
                        metric.unit()
                    )));
                }
            }
        };
        Ok(Threshold {
            text: text.trim().to_string(),
            metric,
            op,
            limit,
        })
    }

    /// Judges a measured value.
    pub fn judge(&self, measured: f64) -> ThresholdResult {
        ThresholdResult {
            threshold: self.text.clone(),
            metric: self.metric,
            op: self.op,
            limit: self.limit,
            unit: self.metric.unit().to_string(),
            measured,
            passed: self.op.holds(measured, self.limit),
        }
    }
}

fn split_number(v: &str) -> (&str, &str) {
    let end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    v.split_at(end)
}

impl FromStr for Threshold {
    type Err = ThresholdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Threshold::parse(s)
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A judged threshold, as stored in `scorecard.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// As written by the user.
    pub threshold: String,
    /// What it measured.
    pub metric: Metric,
    /// The comparison.
    pub op: Op,
    /// The limit, in `unit`.
    pub limit: f64,
    /// `ms`, `%`, `requests` or `req/s`.
    pub unit: String,
    /// The run's value, in `unit`.
    pub measured: f64,
    /// Whether `measured op limit` held.
    pub passed: bool,
}

impl ThresholdResult {
    /// `p95<500ms: measured 123.4 ms (pass)`.
    pub fn describe(&self) -> String {
        format!(
            "{}: measured {} {} ({})",
            self.threshold,
            fmt_num(self.measured),
            self.unit,
            if self.passed { "pass" } else { "FAIL" }
        )
    }
}

/// Numbers for people: up to 3 decimals, no trailing zeros.
pub fn fmt_num(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_design_forms() {
        let t = Threshold::parse("p95<500ms").unwrap();
        assert_eq!(
            (t.metric, t.op, t.limit),
            (Metric::LatencyP95, Op::Lt, 500.0)
        );
        let t = Threshold::parse("p99 <= 2s").unwrap();
        assert_eq!(
            (t.metric, t.op, t.limit),
            (Metric::LatencyP99, Op::Le, 2000.0)
        );
        let t = Threshold::parse("max<2500us").unwrap();
        assert_eq!(t.limit, 2.5);
        let t = Threshold::parse("success>=97.5%").unwrap();
        assert_eq!((t.metric, t.op, t.limit), (Metric::Success, Op::Ge, 97.5));
        let t = Threshold::parse("errors<1%").unwrap();
        assert_eq!((t.metric, t.limit), (Metric::Errors, 1.0));
        let t = Threshold::parse("late_starts<10").unwrap();
        assert_eq!((t.metric, t.limit), (Metric::LateStarts, 10.0));
        let t: Threshold = "rate>=4950".parse().unwrap();
        assert_eq!((t.metric, t.op), (Metric::Rate, Op::Ge));
        assert_eq!(
            Threshold::parse("p999<1s").unwrap().metric,
            Metric::LatencyP999
        );
    }

    #[test]
    fn errors_name_the_threshold_and_the_problem() {
        for (bad, says) in [
            ("p95", "no comparison"),
            ("p96<5ms", "unknown metric `p96`"),
            ("p95<500", "needs a unit"),
            ("p95<500kg", "unknown unit `kg`"),
            ("success>=120%", "more than 100"),
            ("errors<abc%", "not a non-negative number"),
            ("late_starts<10ms", "does not fit"),
            ("p95=<5ms", "is not a comparison"),
        ] {
            let e = Threshold::parse(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn judging() {
        let t = Threshold::parse("p95<500ms").unwrap();
        assert!(t.judge(499.9).passed);
        assert!(!t.judge(500.0).passed);
        let t = Threshold::parse("success>=97.5%").unwrap();
        assert!(t.judge(97.5).passed);
        assert!(!t.judge(90.0).passed);
        assert!(t.judge(99.0).describe().contains("pass"));
        assert_eq!(fmt_num(2.0), "2");
        assert_eq!(fmt_num(97.25), "97.25");
    }
}
