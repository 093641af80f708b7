//! Faults on the replay clock.
//!
//! A fault window `at 15m for 5m` is on the original timeline; with `--speed 2` it starts
//! 7.5 minutes after the stub's clock start and lasts 2.5. The clock start is the stub's start,
//! or `--start-at` to line it up with a replay's start. The clock itself is injectable
//! ([`ManualClock`]) so tests move through a 20-minute timeline without waiting.

use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::compile::{Fault, Route};
use super::config::{FaultKind, parse_duration};

/// A source of wall-clock time, in µs since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// Now, µs since the Unix epoch.
    fn now_unix_us(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_us(&self) -> i64 {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        d.as_micros() as i64
    }
}

/// A clock that moves only when told to; clones share one time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock reading `unix_us`.
    pub fn new(unix_us: i64) -> Self {
        ManualClock(Arc::new(AtomicI64::new(unix_us)))
    }
    /// Sets the time.
    pub fn set_unix_us(&self, unix_us: i64) {
        self.0.store(unix_us, Ordering::SeqCst);
    }
    /// Moves the time forward.
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_micros() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix_us(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

const MANUAL_NONE: u8 = 0;
const MANUAL_ON: u8 = 1;
const MANUAL_OFF: u8 = 2;

/// The live state of every fault: windows on the scaled timeline plus manual switches.
pub struct FaultBoard {
    clock: Arc<dyn Clock>,
    start_us: AtomicI64,
    speed: f64,
    faults: Vec<Fault>,
    route_names: Vec<String>,
    route_hosts: Vec<Option<String>>,
    manual: Vec<AtomicU8>,
    by_route: Vec<Vec<usize>>,
    /// Manual switch-ons: (fault index, on, off), µs since the epoch; reported as windows so
    /// a scorecard can split a run around a fault switched by hand.
    switched: Mutex<Vec<(usize, i64, Option<i64>)>>,
}

/// What a request's route must do because of an active fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveFault<'a> {
    /// The fault's name.
    pub name: &'a str,
    /// What it does.
    pub kind: FaultKind,
    /// The status of a `status` fault.
    pub status: u16,
}

impl FaultBoard {
    /// A board for `faults` over `routes`, its clock starting at `start_us` (µs since the
    /// epoch) and its windows scaled by `speed`.
    pub fn new(
        faults: Vec<Fault>,
        routes: &[Route],
        clock: Arc<dyn Clock>,
        start_us: i64,
        speed: f64,
    ) -> Self {
        let mut by_route = vec![Vec::new(); routes.len()];
        for (i, f) in faults.iter().enumerate() {
            by_route[f.route].push(i);
        }
        FaultBoard {
            clock,
            start_us: AtomicI64::new(start_us),
            speed,
            manual: faults.iter().map(|_| AtomicU8::new(MANUAL_NONE)).collect(),
            route_names: routes.iter().map(|r| r.name.clone()).collect(),
            route_hosts: routes.iter().map(|r| r.host.clone()).collect(),
            faults,
            by_route,
            switched: Mutex::new(Vec::new()),
        }
    }

    /// Moves the clock start (µs since the epoch), to line up with a replay's start.
    pub fn set_start_unix_us(&self, us: i64) {
        self.start_us.store(us, Ordering::SeqCst);
    }

    /// The clock start, µs since the epoch.
    pub fn start_unix_us(&self) -> i64 {
        self.start_us.load(Ordering::SeqCst)
    }

    /// The scaled window of fault `i`: `(start, end)` in µs since the epoch.
    fn window_us(&self, i: usize) -> Option<(i64, i64)> {
        let (at, len) = self.faults[i].window?;
        let start = self.start_unix_us();
        let scale = |d: Duration| (d.as_secs_f64() * 1e6 / self.speed).round() as i64;
        Some((start + scale(at), start + scale(at + len)))
    }

    fn is_active(&self, i: usize, now_us: i64) -> bool {
        match self.manual[i].load(Ordering::Relaxed) {
            MANUAL_ON => true,
            MANUAL_OFF => false,
            _ => self
                .window_us(i)
                .is_some_and(|(s, e)| s <= now_us && now_us < e),
        }
    }

    /// The fault active on `route` now, if any. Routes without faults never read the clock.
    pub fn active(&self, route: usize) -> Option<ActiveFault<'_>> {
        let list = self.by_route.get(route)?;
        if list.is_empty() {
            return None;
        }
        let now = self.clock.now_unix_us();
        list.iter().find(|&&i| self.is_active(i, now)).map(|&i| {
            let f = &self.faults[i];
            ActiveFault {
                name: &f.name,
                kind: f.kind,
                status: f.status,
            }
        })
    }

    /// Switches every fault called `name` on (`Some(true)`), off (`Some(false)`), or back to
    /// its windows (`None`). Returns false when no fault has that name.
    pub fn set_manual(&self, name: &str, on: Option<bool>) -> bool {
        let v = match on {
            Some(true) => MANUAL_ON,
            Some(false) => MANUAL_OFF,
            None => MANUAL_NONE,
        };
        let Some(first) = self.faults.iter().position(|f| f.name == name) else {
            return false;
        };
        for (i, f) in self.faults.iter().enumerate() {
            if f.name == name {
                self.manual[i].store(v, Ordering::SeqCst);
            }
        }
        let now = self.clock.now_unix_us();
        let mut sw = self.switched.lock().unwrap_or_else(|p| p.into_inner());
        let open = sw
            .iter_mut()
            .find(|(i, _, off)| *i == first && off.is_none());
        match (on, open) {
            (Some(true), None) => sw.push((first, now, None)),
            (Some(true), Some(_)) => {}
            (_, Some(interval)) => interval.2 = Some(now),
            (_, None) => {}
        }
        true
    }

    /// The `GET /__esr/faults` document (see the replay–tap interface).
    pub fn to_json(&self) -> serde_json::Value {
        let now = self.clock.now_unix_us();
        let faults: Vec<serde_json::Value> = self
            .faults
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let scaled = f.window.map(|(at, len)| {
                    (
                        at.as_secs_f64() / self.speed,
                        len.as_secs_f64() / self.speed,
                    )
                });
                let abs = self.window_us(i);
                let manual = match self.manual[i].load(Ordering::Relaxed) {
                    MANUAL_ON => json!(true),
                    MANUAL_OFF => json!(false),
                    _ => serde_json::Value::Null,
                };
                json!({
                    "name": f.name,
                    "route": self.route_names[f.route],
                    "host": self.route_hosts[f.route],
                    "at_s": scaled.map(|s| s.0),
                    "for_s": scaled.map(|s| s.1),
                    "start_unix_ms": abs.map(|w| w.0 / 1000),
                    "end_unix_ms": abs.map(|w| w.1 / 1000),
                    "kind": f.kind,
                    "status": f.status,
                    "active": self.is_active(i, now),
                    "manual": manual,
                })
            })
            .collect();
        let mut faults = faults;
        let start = self.start_unix_us();
        for &(i, on, off) in self
            .switched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let f = &self.faults[i];
            // Still on: the window so far, ending now.
            let end = off.unwrap_or(now).max(on);
            faults.push(json!({
                "name": f.name,
                "route": self.route_names[f.route],
                "host": self.route_hosts[f.route],
                "at_s": (on - start) as f64 / 1e6,
                "for_s": (end - on) as f64 / 1e6,
                "start_unix_ms": on / 1000,
                "end_unix_ms": end / 1000,
                "kind": f.kind,
                "status": f.status,
                "active": off.is_none(),
                "manual": true,
                "switched": true,
            }));
        }
        json!({
            "clock_start_unix_ms": self.start_unix_us() / 1000,
            "speed": self.speed,
            "faults": faults,
        })
    }

    /// The faults, as compiled.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }
}

/// Parses `--fault NAME@AT+FOR` (`ACH_DOWN@15m+5m`).
pub fn parse_fault_spec(s: &str) -> Result<(String, Duration, Duration), String> {
    let bad = |why: String| format!("`--fault {s}`: {why}; write it like `ACH_DOWN@15m+5m`");
    let (name, when) = s
        .split_once('@')
        .ok_or_else(|| bad("no `@` between the name and the time".into()))?;
    let (at, len) = when
        .split_once('+')
        .ok_or_else(|| bad("no `+` between the start and the length".into()))?;
    if name.trim().is_empty() {
        return Err(bad("the name is empty".into()));
    }
    Ok((
        name.trim().to_string(),
        parse_duration(at).map_err(bad)?,
        parse_duration(len).map_err(bad)?,
    ))
}

/// Parses `--start-at`: RFC 3339 (`2026-11-27T00:30:00Z`) or unix seconds (fractions
/// allowed). Returns µs since the epoch.
pub fn parse_start_at(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Ok((secs * 1e6).round() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_micros())
        .map_err(|_| {
            format!("`--start-at {s}` is neither RFC 3339 (2026-11-27T00:30:00Z) nor unix seconds")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs() {
        let (n, at, len) = parse_fault_spec("ACH_DOWN@15m+5m").unwrap();
        assert_eq!(
            (n.as_str(), at.as_secs(), len.as_secs()),
            ("ACH_DOWN", 900, 300)
        );
        assert!(parse_fault_spec("ACH_DOWN15m+5m").is_err());
        assert!(parse_fault_spec("ACH_DOWN@15m").is_err());
        assert!(parse_fault_spec("@15m+5m").is_err());
        assert!(parse_fault_spec("X@soon+5m").is_err());
    }

    #[test]
    fn start_at_forms() {
        assert_eq!(parse_start_at("1.5").unwrap(), 1_500_000);
        assert_eq!(
            parse_start_at("1970-01-02T00:00:00Z").unwrap(),
            86_400_000_000
        );
        assert!(parse_start_at("yesterday").is_err());
    }
}
