//! The open-model schedule: when each request of a trace is due, as a pure function of the
//! trace's rows and the timing options. Original, scaled and fixed-rate timing are values of
//! one [`Timing`]; loops, the `--duration` cut and `--shard K/N` apply to all three alike.

use super::ReplayError;

/// How the recorded arrival times turn into due times on the replay clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Timing {
    /// The recorded gaps, as they were (`--speed 1`).
    Original,
    /// The recorded gaps divided by `speed` (`--speed 10` is ten times faster).
    Scaled {
        /// Speed-up factor, > 0.
        speed: f64,
    },
    /// `rps` requests per second in trace order, ignoring the recorded gaps (`--rate`).
    FixedRate {
        /// Requests per second, > 0.
        rps: f64,
    },
}

impl Timing {
    /// Resolves `--speed` and `--rate` (at most one of them) into a timing.
    pub fn from_options(speed: Option<f64>, rate: Option<f64>) -> Result<Timing, ReplayError> {
        match (speed, rate) {
            (Some(_), Some(_)) => Err(ReplayError::Usage(
                "`--speed` and `--rate` exclude each other; pick one".into(),
            )),
            (Some(s), None) if !(s.is_finite() && s > 0.0) => Err(ReplayError::Usage(format!(
                "`--speed {s}` must be a number above 0"
            ))),
            (Some(1.0), None) => Ok(Timing::Original),
            (Some(speed), None) => Ok(Timing::Scaled { speed }),
            (None, Some(r)) if !(r.is_finite() && r > 0.0) => Err(ReplayError::Usage(format!(
                "`--rate {r}` must be a number of requests per second above 0"
            ))),
            (None, Some(rps)) => Ok(Timing::FixedRate { rps }),
            (None, None) => Ok(Timing::Original),
        }
    }

    /// The speed-up factor for recorded gaps (1 for original timing, none for fixed rate).
    pub fn speed(self) -> Option<f64> {
        match self {
            Timing::Original => Some(1.0),
            Timing::Scaled { speed } => Some(speed),
            Timing::FixedRate { .. } => None,
        }
    }

    /// The fixed rate, if any.
    pub fn rate(self) -> Option<f64> {
        match self {
            Timing::FixedRate { rps } => Some(rps),
            _ => None,
        }
    }
}

/// One shard of `N`: `index` counts from 1 (`--shard 2/4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based shard number.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

impl Shard {
    /// Parses `K/N` with 1 <= K <= N.
    pub fn parse(s: &str) -> Result<Shard, ReplayError> {
        let bad = || {
            ReplayError::Usage(format!(
                "`--shard {s}` should be K/N with 1 <= K <= N, for example `--shard 1/4`"
            ))
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// True when the request at `row` (0-based row of the trace) with `session` belongs to this
    /// shard: a session's requests all go to the shard of its hash (so a session stays in
    /// order on one machine); rows without a session go by row number.
    pub fn owns(&self, session: Option<&str>, row: u64) -> bool {
        let key = match session {
            Some(s) => session_hash(s),
            None => row,
        };
        key % u64::from(self.count) == u64::from(self.index - 1)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A stable 64-bit FNV-1a hash of a session key. Stable across builds, machines and versions
/// (unlike `std`'s `DefaultHasher`), because shards on different machines must agree.
pub fn session_hash(session: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in session.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Timing options of a replay, as the user gave them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScheduleOptions {
    /// Original, scaled or fixed-rate timing.
    pub timing: Timing,
    /// Replay the trace again and again (until `duration_us`, or until stopped).
    pub looped: bool,
    /// Nothing is due at or after this point of the replay clock.
    pub duration_us: Option<i64>,
    /// Send only this shard's requests, on the global schedule.
    pub shard: Option<Shard>,
}

/// What the schedule needs to know about the whole trace before the first request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceSpan {
    /// `ts` of the first row.
    pub first_ts_us: i64,
    /// `ts` of the last row.
    pub last_ts_us: i64,
    /// Number of rows.
    pub rows: u64,
}

/// The part of a trace row the schedule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowKey<'a> {
    /// Recorded arrival time, µs since the epoch.
    pub ts_us: i64,
    /// Session key, if any.
    pub session: Option<&'a str>,
}

/// One planned request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// Position in the global schedule (the same in every shard): `pass * rows + row`.
    pub seq: u64,
    /// Which pass over the trace (0 without `--loop`).
    pub pass: u64,
    /// Row of the trace, 0-based.
    pub row: u64,
    /// Due time on the replay clock, µs since the run's start.
    pub due_us: i64,
}

/// A schedule: the timing options bound to one trace's span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    opts: ScheduleOptions,
    span: TraceSpan,
    period_us: i64,
}

impl Schedule {
    /// Binds options to a trace. A loop needs an end: `--duration`, or Ctrl-C.
    pub fn new(opts: ScheduleOptions, span: TraceSpan) -> Schedule {
        let period_us = match opts.timing {
            Timing::FixedRate { rps } => (span.rows as f64 * 1e6 / rps).round() as i64,
            t => {
                let speed = t.speed().unwrap_or(1.0);
                let width = (span.last_ts_us - span.first_ts_us).max(0);
                // A pass ends one mean gap after its last request, so pass p+1's first request
                // does not land on pass p's last one; at least 1 ms so a loop always advances.
                let gap = if span.rows > 1 {
                    width / (span.rows as i64 - 1)
                } else {
                    1_000_000
                };
                ((width + gap.max(1_000)) as f64 / speed).round() as i64
            }
        };
        Schedule {
            opts,
            span,
            period_us: period_us.max(1),
        }
    }

    /// The options this schedule was built from.
    pub fn options(&self) -> &ScheduleOptions {
        &self.opts
    }

    /// The trace's span.
    pub fn span(&self) -> &TraceSpan {
        &self.span
    }

    /// Length of one pass over the trace on the replay clock.
    pub fn period_us(&self) -> i64 {
        self.period_us
    }

    /// Due time of `row` (recorded at `ts_us`) in pass `pass`, before any cut.
    pub fn due_us(&self, pass: u64, row: u64, ts_us: i64) -> i64 {
        let base = match self.opts.timing {
            Timing::Original => ts_us - self.span.first_ts_us,
            Timing::Scaled { speed } => {
                ((ts_us - self.span.first_ts_us) as f64 / speed).round() as i64
            }
            Timing::FixedRate { rps } => (row as f64 * 1e6 / rps).round() as i64,
        };
        pass as i64 * self.period_us + base.max(0)
    }

    /// True when a request due at `due_us` falls inside the `--duration` window.
    pub fn within(&self, due_us: i64) -> bool {
        self.opts.duration_us.is_none_or(|d| due_us < d)
    }

    /// True when pass `pass` may still hold due requests (it starts inside the window, and
    /// it is pass 0 or the schedule loops).
    pub fn pass_open(&self, pass: u64) -> bool {
        (pass == 0 || self.opts.looped) && self.within(pass as i64 * self.period_us)
    }

    /// True when the request belongs to this replay's shard (always, without `--shard`).
    pub fn owns(&self, session: Option<&str>, row: u64) -> bool {
        self.opts.shard.is_none_or(|s| s.owns(session, row))
    }

    /// Plans one row of one pass: `Some` when this replay sends it.
    pub fn plan_row(&self, pass: u64, row: u64, key: RowKey<'_>) -> Option<Planned> {
        if !self.owns(key.session, row) {
            return None;
        }
        let due_us = self.due_us(pass, row, key.ts_us);
        self.within(due_us).then_some(Planned {
            seq: pass * self.span.rows + row,
            pass,
            row,
            due_us,
        })
    }

    /// The whole schedule over `rows` (the trace's rows in order), lazily: pass after pass
    /// while passes are open. Endless for a loop without `--duration`; take what you need.
    pub fn plan<'a>(&'a self, rows: &'a [RowKey<'a>]) -> impl Iterator<Item = Planned> + 'a {
        (0u64..)
            .take_while(move |&p| !rows.is_empty() && self.pass_open(p))
            .flat_map(move |pass| {
                rows.iter()
                    .enumerate()
                    .filter_map(move |(row, key)| self.plan_row(pass, row as u64, *key))
            })
    }

    /// How many requests the schedule plans, given the pass-0 due times of the rows this
    /// replay owns (before the cut, in any order). `None` for an endless loop.
    pub fn intended(&self, owned_base_dues: &[i64]) -> Option<u64> {
        if self.opts.looped && self.opts.duration_us.is_none() {
            return None;
        }
        let mut total = 0u64;
        let mut pass = 0u64;
        while self.pass_open(pass) && !owned_base_dues.is_empty() {
            let offset = pass as i64 * self.period_us;
            total += owned_base_dues
                .iter()
                .filter(|&&d| self.within(offset + d))
                .count() as u64;
            pass += 1;
        }
        Some(total)
    }

    /// The span of the schedule on the replay clock: the last due time of a complete run
    /// (capped by `--duration`), in seconds.
    pub fn intended_duration_s(&self) -> f64 {
        let one = self.due_us(0, self.span.rows.saturating_sub(1), self.span.last_ts_us);
        let end = match (self.opts.looped, self.opts.duration_us) {
            (_, Some(d)) if !self.opts.looped => one.min(d),
            (true, Some(d)) => d,
            _ => one,
        };
        end.max(0) as f64 / 1e6
    }
}

/// Parses `--start-at`: RFC 3339 (`2026-11-27T00:30:00Z`) or unix seconds (`1795739400`,
/// fractions allowed). Returns µs since the epoch.
pub fn parse_start_at(s: &str) -> Result<i64, ReplayError> {
    let bad = || {
        ReplayError::Usage(format!(
            "`--start-at {s}` is neither RFC 3339 (2026-11-27T00:30:00Z) nor unix seconds"
        ))
    };
    if let Ok(secs) = s.trim().parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err(bad());
        }
        return Ok((secs * 1e6).round() as i64);
    }
    rfc3339_us(s.trim()).ok_or_else(bad)
}

/// A small RFC 3339 parser (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`), to avoid a date crate
/// for one option.
fn rfc3339_us(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut frac_us = 0i64;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let digits = &r[..n];
        let padded: String = digits
            .chars()
            .chain(std::iter::repeat('0'))
            .take(6)
            .collect();
        frac_us = padded.parse().ok()?;
        rest = &r[n..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            sign * (rest[1..3].parse::<i64>().ok()? * 3600 + rest[4..6].parse::<i64>().ok()? * 60)
        }
    };
    // Days since the epoch for a proleptic Gregorian date (Howard Hinnant's algorithm).
    let (y, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_s;
    Some(secs * 1_000_000 + frac_us)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ts: &[i64], sessions: &[Option<&'static str>]) -> Vec<RowKey<'static>> {
        ts.iter()
            .zip(sessions)
            .map(|(&ts_us, &session)| RowKey { ts_us, session })
            .collect()
    }

    fn opts(timing: Timing) -> ScheduleOptions {
        ScheduleOptions {
            timing,
            looped: false,
            duration_us: None,
            shard: None,
        }
    }

    fn span(rows: &[RowKey<'_>]) -> TraceSpan {
        TraceSpan {
            first_ts_us: rows[0].ts_us,
            last_ts_us: rows[rows.len() - 1].ts_us,
            rows: rows.len() as u64,
        }
    }

    const T0: i64 = 1_700_000_000_000_000;

    #[test]
    fn original_timing_keeps_the_recorded_gaps() {
        let rows = keys(&[T0, T0 + 1_000, T0 + 1_000, T0 + 250_000], &[None; 4]);
        let s = Schedule::new(opts(Timing::Original), span(&rows));
        let dues: Vec<i64> = s.plan(&rows).map(|p| p.due_us).collect();
        assert_eq!(dues, [0, 1_000, 1_000, 250_000]);
        let seqs: Vec<u64> = s.plan(&rows).map(|p| p.seq).collect();
        assert_eq!(seqs, [0, 1, 2, 3]);
        assert_eq!(s.intended(&dues), Some(4));
    }

    #[test]
    fn scaled_timing_divides_the_gaps() {
        let rows = keys(&[T0, T0 + 1_000_000, T0 + 3_000_000], &[None; 3]);
        let s = Schedule::new(opts(Timing::Scaled { speed: 10.0 }), span(&rows));
        let dues: Vec<i64> = s.plan(&rows).map(|p| p.due_us).collect();
        assert_eq!(dues, [0, 100_000, 300_000]);
        assert_eq!(s.intended_duration_s(), 0.3);
        let slow = Schedule::new(opts(Timing::Scaled { speed: 0.5 }), span(&rows));
        assert_eq!(slow.plan(&rows).last().unwrap().due_us, 6_000_000);
    }

    #[test]
    fn fixed_rate_ignores_the_recorded_gaps() {
        let rows = keys(&[T0, T0 + 5, T0 + 9_000_000, T0 + 9_000_001], &[None; 4]);
        let s = Schedule::new(opts(Timing::FixedRate { rps: 4.0 }), span(&rows));
        let dues: Vec<i64> = s.plan(&rows).map(|p| p.due_us).collect();
        assert_eq!(dues, [0, 250_000, 500_000, 750_000]);
    }

    #[test]
    fn loop_repeats_passes_until_the_duration_cut() {
        let rows = keys(&[T0, T0 + 100_000, T0 + 200_000], &[None; 3]);
        let mut o = opts(Timing::Original);
        o.looped = true;
        o.duration_us = Some(700_000);
        let s = Schedule::new(o, span(&rows));
        // One pass is 200 ms wide plus one mean gap (100 ms).
        assert_eq!(s.period_us(), 300_000);
        let planned: Vec<(u64, i64)> = s.plan(&rows).map(|p| (p.seq, p.due_us)).collect();
        assert_eq!(
            planned,
            [
                (0, 0),
                (1, 100_000),
                (2, 200_000),
                (3, 300_000),
                (4, 400_000),
                (5, 500_000),
                (6, 600_000)
            ]
        );
        let base: Vec<i64> = rows
            .iter()
            .enumerate()
            .map(|(i, k)| s.due_us(0, i as u64, k.ts_us))
            .collect();
        assert_eq!(s.intended(&base), Some(7));

        // Fixed rate loops continue the sequence at the same rate.
        let mut o = opts(Timing::FixedRate { rps: 10.0 });
        o.looped = true;
        o.duration_us = Some(500_000);
        let s = Schedule::new(o, span(&rows));
        let dues: Vec<i64> = s.plan(&rows).map(|p| p.due_us).collect();
        assert_eq!(dues, [0, 100_000, 200_000, 300_000, 400_000]);

        // A loop without an end is endless; the plan is lazy.
        let mut o = opts(Timing::Original);
        o.looped = true;
        let s = Schedule::new(o, span(&rows));
        assert_eq!(s.plan(&rows).take(1000).count(), 1000);
        assert_eq!(s.intended(&base), None);
    }

    #[test]
    fn duration_cuts_without_loop() {
        let rows = keys(&[T0, T0 + 100, T0 + 200], &[None; 3]);
        let mut o = opts(Timing::Original);
        o.duration_us = Some(150);
        let s = Schedule::new(o, span(&rows));
        assert_eq!(s.plan(&rows).count(), 2);
    }

    #[test]
    fn shards_partition_the_schedule_exactly_and_keep_global_times() {
        let sessions: Vec<Option<&'static str>> = (0..500)
            .map(|i| match i % 7 {
                0 => None,
                n => Some(["a", "b", "c", "dd", "eee", "ffff"][n - 1]),
            })
            .collect();
        let ts: Vec<i64> = (0..500).map(|i| T0 + i * 1_000).collect();
        let rows = keys(&ts, &sessions);
        let whole: Vec<Planned> = Schedule::new(opts(Timing::Original), span(&rows))
            .plan(&rows)
            .collect();
        let mut union = Vec::new();
        for k in 1..=3 {
            let mut o = opts(Timing::Original);
            o.shard = Some(Shard { index: k, count: 3 });
            let part: Vec<Planned> = Schedule::new(o, span(&rows)).plan(&rows).collect();
            assert!(!part.is_empty(), "shard {k} is empty");
            // A session never spans two shards.
            for p in &part {
                if let Some(s) = sessions[p.row as usize] {
                    assert!(Shard { index: k, count: 3 }.owns(Some(s), 0));
                }
            }
            union.extend(part);
        }
        union.sort_by_key(|p| p.seq);
        assert_eq!(
            union, whole,
            "the shards' union is the trace, with no overlap"
        );
    }

    #[test]
    fn session_hash_is_stable() {
        // Fixed values: shards on other machines and later versions must agree.
        assert_eq!(session_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(session_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn options_are_checked() {
        assert!(Shard::parse("0/3").is_err());
        assert!(Shard::parse("4/3").is_err());
        assert!(Shard::parse("x").is_err());
        assert_eq!(Shard::parse("2/3").unwrap(), Shard { index: 2, count: 3 });
        assert!(Timing::from_options(Some(2.0), Some(5.0)).is_err());
        assert!(Timing::from_options(Some(0.0), None).is_err());
        assert!(Timing::from_options(None, Some(-1.0)).is_err());
        assert_eq!(Timing::from_options(None, None).unwrap(), Timing::Original);
    }

    #[test]
    fn start_at_accepts_rfc3339_and_unix_seconds() {
        assert_eq!(parse_start_at("0").unwrap(), 0);
        assert_eq!(parse_start_at("1.5").unwrap(), 1_500_000);
        assert_eq!(
            parse_start_at("1970-01-02T00:00:00Z").unwrap(),
            86_400_000_000
        );
        assert_eq!(
            parse_start_at("2026-11-27T00:30:00.25+01:00").unwrap(),
            parse_start_at("2026-11-26T23:30:00.25Z").unwrap()
        );
        assert_eq!(
            parse_start_at("2000-03-01T00:00:00Z").unwrap(),
            951_868_800_000_000
        );
        assert!(parse_start_at("yesterday").is_err());
        assert!(parse_start_at("2026-13-01T00:00:00Z").is_err());
    }
}
