//! The scenario as users write it (JSON or TOML) and as the API stores it: every field of
//! DESIGN.md "HTTP API and scenarios". Unknown fields are refused; durations keep the text the
//! user wrote, so what the API returns reads like what was posted.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A parsed, validated scenario (synthetic or trace-based). Serialize gives back JSON the API
/// stores and returns; Deserialize rejects unknown fields.
///
/// Synthetic: `name`, `actors`, `script`, `duration` (and the options). Trace-based: `name`,
/// `trace` (and the options); `actors`, `script`, `arrival`, `think_time` and `catalog` then
/// have no meaning and are refused.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name: letters, digits, `_`, `-`, `.` (it prefixes the synthetic session ids).
    pub name: String,
    /// Number of actors (sessions); each walks the script once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actors: Option<u64>,
    /// The steps every actor walks, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub script: Vec<Step>,
    /// Synthetic: the window actors arrive in. Trace-based: cut the replay after this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Dur>,
    /// Trace-based: the canonical trace to replay (a path on the machine that runs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// Faults switched on in the in-process stubs on the scenario's own clock.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultSpec>,
    /// Speed-up of the scenario's timing (default 1: real time); a run's `speed` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    /// Seed of every random draw (arrivals, branches, think times); default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// How actors arrive over `duration` (default `poisson`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<Arrival>,
    /// The pause between an actor's steps (default lognormal, p50 2 s, p99 20 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_time: Option<ThinkTime>,
    /// The in-process stubs to run against when there is no `target` (default preset `hms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stubs: Option<StubsSpec>,
    /// Base URL of a sandbox to run against instead of the in-process stubs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Pass/fail rules as `--threshold` takes them (`p95<500ms`, `success>=97.5%`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<String>,
    /// Extra actions, or replacements of the built-in ones: action → request (`null`: the
    /// action sends nothing, like the built-in `ABANDON`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub catalog: BTreeMap<String, Option<CatalogEntry>>,
}

/// One step of the script.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The action (a key of the catalog: `LOGIN`, `FETCH_PREMIUM`, `PAY`, `ACH`, `ABANDON`).
    pub action: String,
    /// Share of the actors reaching this point that take the step (default 1).
    #[serde(default = "one")]
    pub ratio: f64,
}

fn one() -> f64 {
    1.0
}

/// A fault window: the stubs' fault named `action` is on from `at` for `for`, on the
/// scenario's clock (scaled by the speed like everything else).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// The stubs' fault name (`ACH_DOWN` in the `hms` preset).
    pub action: String,
    /// Start, from the scenario's start.
    pub at: Dur,
    /// Length.
    #[serde(rename = "for")]
    pub for_: Dur,
}

/// How actors arrive over the duration.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// Independent arrivals at a constant mean rate (exactly `actors` of them).
    #[default]
    Poisson,
    /// Evenly spaced.
    Uniform,
    /// A rate rising linearly from zero to twice the mean by the end.
    Ramp,
}

impl Arrival {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Arrival::Poisson => "poisson",
            Arrival::Uniform => "uniform",
            Arrival::Ramp => "ramp",
        }
    }
}

/// Think time: a fixed duration (`"2s"`) or a distribution.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum ThinkTime {
    /// Always this long.
    Fixed(Dur),
    /// Drawn per step.
    Dist(ThinkDist),
}

/// A think-time distribution, written `{"lognormal":{"p50":"2s","p99":"20s"}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum ThinkDist {
    /// Log-normal given by its median and 99th percentile.
    Lognormal {
        /// Median.
        p50: Dur,
        /// 99th percentile (at least the median).
        p99: Dur,
    },
    /// Uniform between `min` and `max`.
    Uniform {
        /// Lower bound.
        min: Dur,
        /// Upper bound.
        max: Dur,
    },
    /// Always `value`.
    Fixed {
        /// The pause.
        value: Dur,
    },
}

impl<'de> Deserialize<'de> for ThinkTime {
    // By hand rather than `untagged`: an untagged enum's error ("did not match any variant")
    // would hide which part of a distribution is wrong.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ThinkTime;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a duration (\"2s\") or a distribution ({\"lognormal\":{\"p50\":\"2s\",\"p99\":\"20s\"}}, uniform {min,max}, fixed {value})",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ThinkTime, E> {
                Dur::parse(v).map(ThinkTime::Fixed).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ThinkTime, E> {
                Ok(ThinkTime::Fixed(Dur::secs(v as f64)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ThinkTime, E> {
                DurVisitor.visit_i64(v).map(ThinkTime::Fixed)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ThinkTime, E> {
                DurVisitor.visit_f64(v).map(ThinkTime::Fixed)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ThinkTime, A::Error> {
                ThinkDist::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ThinkTime::Dist)
            }
        }
        d.deserialize_any(V)
    }
}

/// Which stubs run in-process: a preset, or a stub config (a file path or written inline).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StubsSpec {
    /// A built-in config (`hms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// A stub config: a path to a TOML/JSON file, or the config itself (as `esr stub
    /// --config` reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
}

/// The request an action sends. `{{session}}` and `{{card}}` in the body (or headers) are
/// replaced by the actor's synthetic session id and its synthetic test card number.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    /// HTTP method (default `POST`).
    #[serde(default = "post")]
    pub method: String,
    /// Path and query, origin-form (`/pay`).
    pub path: String,
    /// JSON body (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// Request headers (a JSON body adds `content-type: application/json` unless given).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

fn post() -> String {
    "POST".to_string()
}

/// A duration as the user wrote it (`"30m"`, `"90s"`, `"1h30m"`, `"250ms"`, or a number of
/// seconds), with its value. Serializes back to the same text.
#[derive(Clone, PartialEq)]
pub struct Dur {
    text: String,
    value: Duration,
}

impl Dur {
    /// Parses `30m`, `90s`, `1h30m`, `250ms` or a bare number of seconds.
    pub fn parse(s: &str) -> Result<Dur, String> {
        let value = crate::stub::parse_duration(s)?;
        Ok(Dur {
            text: s.trim().to_string(),
            value,
        })
    }

    /// A whole duration of `secs` seconds, written the shortest way (`15m`).
    pub fn secs(secs: f64) -> Dur {
        // Saturates: a JSON number too large for a Duration must not panic (fuzzing).
        let value = Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX);
        Dur {
            text: crate::stub::format_duration(value),
            value,
        }
    }

    /// The value.
    pub fn get(&self) -> Duration {
        self.value
    }

    /// The text as written.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.text)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

struct DurVisitor;

impl Visitor<'_> for DurVisitor {
    type Value = Dur;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration like \"30m\", \"90s\", \"1h30m\" or \"250ms\"")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
        Dur::parse(v).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
        Ok(Dur::secs(v as f64))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
        if v < 0 {
            return Err(E::custom(format!(
                "`{v}` is negative; a duration is at least 0"
            )));
        }
        Ok(Dur::secs(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
        if !v.is_finite() || v < 0.0 {
            return Err(E::custom(format!(
                "`{v}` is not a duration of at least 0 s"
            )));
        }
        Ok(Dur::secs(v))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurVisitor)
    }
}

impl Scenario {
    /// True when the scenario replays a trace rather than generating traffic.
    pub fn is_trace_based(&self) -> bool {
        self.trace.is_some()
    }

    /// The seed of every random draw (default 1).
    pub fn seed(&self) -> u64 {
        self.seed.unwrap_or(1)
    }

    /// The arrival process (default Poisson).
    pub fn arrival(&self) -> Arrival {
        self.arrival.unwrap_or_default()
    }

    /// The think time (default lognormal, p50 2 s, p99 20 s).
    pub fn think_time(&self) -> ThinkTime {
        self.think_time.clone().unwrap_or_else(|| {
            ThinkTime::Dist(ThinkDist::Lognormal {
                p50: Dur::secs(2.0),
                p99: Dur::secs(20.0),
            })
        })
    }

    /// The actors' arrival window (zero for a trace-based scenario without `duration`).
    pub fn duration(&self) -> Duration {
        self.duration.as_ref().map_or(Duration::ZERO, Dur::get)
    }
}
