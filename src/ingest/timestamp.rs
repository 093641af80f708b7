//! Timestamp forms accepted on input: RFC 3339, epoch seconds/milliseconds/microseconds/
//! nanoseconds (given with `--ts-unit` or detected from the magnitude), and the Apache
//! `%d/%b/%Y:%H:%M:%S %z` form. Everything becomes microseconds since the Unix epoch, UTC.
//!
//! Errors are short static descriptions: they never quote the value.

use std::fmt;
use std::str::FromStr;

/// The unit of an epoch timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsUnit {
    /// Seconds (fractions allowed: `1700000000.25`).
    Seconds,
    /// Milliseconds.
    Millis,
    /// Microseconds.
    Micros,
    /// Nanoseconds.
    Nanos,
}

impl TsUnit {
    /// Microseconds per unit, or for nanoseconds the divisor (see [`TsUnit::to_micros`]).
    fn scale(self) -> f64 {
        match self {
            TsUnit::Seconds => 1e6,
            TsUnit::Millis => 1e3,
            TsUnit::Micros => 1.0,
            TsUnit::Nanos => 1e-3,
        }
    }

    /// The unit an integer epoch value most plausibly has, from its magnitude: seconds up
    /// to 1e11 (year 5138), milliseconds up to 1e14, microseconds up to 1e17, then nanoseconds.
    pub fn guess(value: f64) -> TsUnit {
        let v = value.abs();
        if v < 1e11 {
            TsUnit::Seconds
        } else if v < 1e14 {
            TsUnit::Millis
        } else if v < 1e17 {
            TsUnit::Micros
        } else {
            TsUnit::Nanos
        }
    }

    /// Converts an integer epoch value in this unit to microseconds, exactly.
    pub fn to_micros(self, v: i64) -> Option<i64> {
        match self {
            TsUnit::Seconds => v.checked_mul(1_000_000),
            TsUnit::Millis => v.checked_mul(1_000),
            TsUnit::Micros => Some(v),
            TsUnit::Nanos => Some(v.div_euclid(1_000)),
        }
    }

    /// Converts a fractional epoch value in this unit to microseconds.
    pub fn float_to_micros(self, v: f64) -> Option<i64> {
        let us = (v * self.scale()).round();
        (us.is_finite() && us.abs() < 9.0e18).then_some(us as i64)
    }
}

impl fmt::Display for TsUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TsUnit::Seconds => "s",
            TsUnit::Millis => "ms",
            TsUnit::Micros => "us",
            TsUnit::Nanos => "ns",
        })
    }
}

impl FromStr for TsUnit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "s" | "sec" | "seconds" => Ok(TsUnit::Seconds),
            "ms" | "millis" | "milliseconds" => Ok(TsUnit::Millis),
            "us" | "µs" | "micros" | "microseconds" => Ok(TsUnit::Micros),
            "ns" | "nanos" | "nanoseconds" => Ok(TsUnit::Nanos),
            _ => Err(format!(
                "`{s}` is not a timestamp unit; use s, ms, us or ns"
            )),
        }
    }
}

/// The epoch unit of one input: fixed by `--ts-unit`, or detected from the first epoch value
/// and then held, so that one input never mixes units silently.
#[derive(Debug, Clone, Default)]
pub struct UnitState {
    /// The unit given with `--ts-unit`.
    pub fixed: Option<TsUnit>,
    /// The unit detected from the first epoch value, with its 1-based row.
    pub detected: Option<(TsUnit, u64)>,
}

/// Earliest and latest accepted instants (1970-01-01 and 2300-01-01): a value outside is a
/// wrong unit or a wrong column, not a request time.
const MIN_US: i64 = 0;
const MAX_US: i64 = 10_413_792_000_000_000;

impl UnitState {
    /// Converts an epoch number (integer or fractional) seen on `row` to microseconds.
    pub fn epoch(&mut self, v: f64, int: Option<i64>, row: u64) -> Result<i64, String> {
        let unit = match (self.fixed, self.detected) {
            (Some(u), _) => u,
            (None, Some((u, first))) => {
                let g = TsUnit::guess(v);
                if g != u {
                    return Err(format!(
                        "epoch value looks like {g} but this input's unit was detected as {u} \
                         at row {first}; pass `--ts-unit`"
                    ));
                }
                u
            }
            (None, None) => {
                let g = TsUnit::guess(v);
                self.detected = Some((g, row));
                g
            }
        };
        let us = match int {
            Some(i) => unit.to_micros(i),
            None => unit.float_to_micros(v),
        };
        match us {
            Some(us) if (MIN_US..MAX_US).contains(&us) => Ok(us),
            _ => Err(format!(
                "epoch value read as {unit} falls outside 1970..2300; is `--ts-unit` right?"
            )),
        }
    }

    /// Parses a timestamp written as text in any accepted form.
    pub fn parse_text(&mut self, s: &str, row: u64) -> Result<i64, String> {
        // The form nearly every log writes, read at fixed positions; anything else (and an
        // out-of-range date, whose error the general path words) takes the general path.
        if let Some(us) = parse_utc_z(s.as_bytes()).filter(|us| (MIN_US..MAX_US).contains(us)) {
            return Ok(us);
        }
        let s = s.trim();
        if s.is_empty() {
            return Err("timestamp is empty".into());
        }
        let b = s.as_bytes();
        if b.iter()
            .all(|c| c.is_ascii_digit() || *c == b'.' || *c == b'-')
            && b.iter().filter(|c| **c == b'-').count() <= usize::from(b[0] == b'-')
        {
            let int = s.parse::<i64>().ok();
            let v: f64 = s
                .parse()
                .map_err(|_| format!("timestamp is not a number nor a date ({})", shape(s)))?;
            return self.epoch(v, int, row);
        }
        let us = if b.len() >= 11 && b[2] == b'/' {
            parse_apache(s)
        } else {
            parse_rfc3339(s)
        }
        .ok_or_else(|| {
            format!(
                "timestamp is in no accepted form ({}); expected RFC 3339, epoch s/ms/us/ns or \
                 `%d/%b/%Y:%H:%M:%S %z`",
                shape(s)
            )
        })?;
        if (MIN_US..MAX_US).contains(&us) {
            Ok(us)
        } else {
            Err("timestamp falls outside 1970..2300".into())
        }
    }
}

/// A masked excerpt of a value for error messages: digits become `9`, letters `a`, other
/// characters stay, at most 40 characters. Shows the shape of a bad value without its content.
pub fn shape(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_digit() {
                '9'
            } else if c.is_alphabetic() {
                'a'
            } else {
                c
            }
        })
        .collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    format!("shape `{out}`")
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Formats microseconds since the epoch as RFC 3339 UTC with millisecond precision.
pub fn format_rfc3339(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let ms = us.rem_euclid(1_000_000) / 1000;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<i64> {
        let end = self.i.checked_add(n)?;
        let part = self.b.get(self.i..end)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i = end;
        Some(part.iter().fold(0, |a, c| a * 10 + i64::from(c - b'0')))
    }
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    /// Fraction of a second after a `.` or `,`, as microseconds (extra digits truncated).
    fn fraction(&mut self) -> i64 {
        if !matches!(self.peek(), Some(b'.' | b',')) {
            return 0;
        }
        self.i += 1;
        let mut us = 0;
        let mut n = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            if n < 6 {
                us = us * 10 + i64::from(c - b'0');
                n += 1;
            }
            self.i += 1;
        }
        us * 10i64.pow(6 - n)
    }
    /// `Z`, `±HH:MM`, `±HHMM`, `±HH` or nothing (UTC); returns the offset in seconds.
    fn offset(&mut self) -> Option<i64> {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
        match self.peek() {
            None => Some(0),
            Some(b'Z' | b'z') => {
                self.i += 1;
                Some(0)
            }
            Some(sign @ (b'+' | b'-')) => {
                self.i += 1;
                let h = self.digits(2)?;
                self.eat(b':');
                let m = if self.peek().is_some() {
                    self.digits(2)?
                } else {
                    0
                };
                let off = h * 3600 + m * 60;
                Some(if sign == b'-' { -off } else { off })
            }
            _ => None,
        }
    }

    /// The rest of a timestamp after its date, the same in RFC 3339 and Apache form:
    /// `HH:MM:SS`, an optional fraction, an optional offset, then nothing more.
    fn clock_to_end(&mut self, [y, mo, d]: [i64; 3]) -> Option<i64> {
        let h = self.digits(2)?;
        self.eat(b':')?;
        let mi = self.digits(2)?;
        self.eat(b':')?;
        let sec = self.digits(2)?;
        let frac = self.fraction();
        let off = self.offset()?;
        if self.i != self.b.len() || !valid(mo, d, h, mi, sec) {
            return None;
        }
        Some(to_us([y, mo, d, h, mi, sec], frac, off))
    }
}

fn valid(mo: i64, d: i64, h: i64, mi: i64, s: i64) -> bool {
    (1..=12).contains(&mo) && (1..=31).contains(&d) && h < 24 && mi < 60 && s <= 60
}

/// Microseconds of a civil date and time: `[year, month, day, hour, minute, second]`, the
/// fraction of the second in microseconds, and the UTC offset in seconds.
fn to_us([y, mo, d, h, mi, s]: [i64; 6], frac: i64, off: i64) -> i64 {
    let days = days_from_civil(y, mo as u32, d as u32);
    (days * 86_400 + h * 3600 + mi * 60 + s - off) * 1_000_000 + frac
}

/// `2026-11-26T22:00:00.123Z`, `+01:00` offsets, a space instead of `T`; no offset means UTC.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let y = c.digits(4)?;
    c.eat(b'-')?;
    let mo = c.digits(2)?;
    c.eat(b'-')?;
    let d = c.digits(2)?;
    if !matches!(c.peek(), Some(b'T' | b't' | b' ')) {
        return None;
    }
    c.i += 1;
    c.clock_to_end([y, mo, d])
}

/// `YYYY-MM-DDTHH:MM:SSZ` with an optional fraction of up to nine digits before the `Z`:
/// what [`parse_rfc3339`] gives for that form (checked by a test), read without a cursor.
/// `None` for any other text, which [`parse_rfc3339`] then reads.
fn parse_utc_z(b: &[u8]) -> Option<i64> {
    let (&b'Z', head) = b.split_last()? else {
        return None;
    };
    let (clock, frac) = head.split_at_checked(19)?;
    let &[
        y0,
        y1,
        y2,
        y3,
        b'-',
        mo0,
        mo1,
        b'-',
        d0,
        d1,
        b'T',
        h0,
        h1,
        b':',
        mi0,
        mi1,
        b':',
        s0,
        s1,
    ] = clock
    else {
        return None;
    };
    let digits = [y0, y1, y2, y3, mo0, mo1, d0, d1, h0, h1, mi0, mi1, s0, s1];
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |hi: u8, lo: u8| i64::from(hi - b'0') * 10 + i64::from(lo - b'0');
    let (y, mo, d) = (n(y0, y1) * 100 + n(y2, y3), n(mo0, mo1), n(d0, d1));
    let (h, mi, sec) = (n(h0, h1), n(mi0, mi1), n(s0, s1));
    let frac = match frac {
        [] => 0,
        [b'.', ds @ ..] if (1..=9).contains(&ds.len()) && ds.iter().all(u8::is_ascii_digit) => {
            // Microseconds: digits past the sixth are dropped, as the cursor drops them.
            let kept = &ds[..ds.len().min(6)];
            let us = kept.iter().fold(0, |a, c| a * 10 + i64::from(c - b'0'));
            us * 10i64.pow(6 - kept.len() as u32)
        }
        _ => return None,
    };
    if !valid(mo, d, h, mi, sec) {
        return None;
    }
    Some(to_us([y, mo, d, h, mi, sec], frac, 0))
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Apache/nginx `10/Oct/2000:13:55:36 -0700` (fractional seconds tolerated).
pub fn parse_apache(s: &str) -> Option<i64> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let d = c.digits(2)?;
    c.eat(b'/')?;
    let mon = c.b.get(c.i..c.i + 3)?;
    let mo = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))? as i64 + 1;
    c.i += 3;
    c.eat(b'/')?;
    let y = c.digits(4)?;
    c.eat(b':')?;
    c.clock_to_end([y, mo, d])
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_764_194_400_000_000; // 2025-11-26T22:00:00Z

    #[test]
    fn rfc3339_forms() {
        assert_eq!(parse_rfc3339("2025-11-26T22:00:00Z"), Some(T0));
        assert_eq!(parse_rfc3339("2025-11-26 22:00:00"), Some(T0));
        assert_eq!(parse_rfc3339("2025-11-26T23:00:00+01:00"), Some(T0));
        assert_eq!(parse_rfc3339("2025-11-26T21:30:00-0030"), Some(T0));
        assert_eq!(
            parse_rfc3339("2025-11-26T22:00:00.123456789Z"),
            Some(T0 + 123_456)
        );
        assert_eq!(parse_rfc3339("2025-11-26T22:00:00.5Z"), Some(T0 + 500_000));
        assert_eq!(parse_rfc3339("2025-13-26T22:00:00Z"), None);
        assert_eq!(parse_rfc3339("2025-11-26T22:00:00Zjunk"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn the_fixed_form_reads_as_the_general_parser_reads_it() {
        let texts = [
            "2026-11-20T14:00:00.011Z",
            "2025-11-26T22:00:00Z",
            "2025-11-26T22:00:00.5Z",
            "2025-11-26T22:00:00.123456789Z",
            "2024-02-29T23:59:60.999Z",
            "1970-01-01T00:00:00.000Z",
            "2025-13-26T22:00:00.000Z",
            "2025-11-32T22:00:00.000Z",
            "2025-11-26T24:00:00.000Z",
            "2025-11-26T22:00:00.Z",
            "2025-11-26T22:00:00.1234567890Z",
            "2025-11-26T22:00:00.0a0Z",
            "2025-11-26t22:00:00.000Z",
            "2025-11-26T22:00:00.000z",
            "2025-11-26T22:00:00.000+00:00",
            "2025-1a-26T22:00:00.000Z",
            "Z",
            "",
        ];
        for t in texts {
            let fixed = parse_utc_z(t.as_bytes());
            assert!(fixed.is_none() || fixed == parse_rfc3339(t), "{t}");
        }
        // Every digit of the common form changed one at a time: the same as the cursor.
        let base = *b"2026-11-20T14:00:00.011Z";
        for pos in 0..base.len() {
            for c in [b'0', b'1', b'2', b'3', b'5', b'9', b'x', b'.'] {
                let mut t = base;
                t[pos] = c;
                let t = std::str::from_utf8(&t).unwrap();
                let fixed = parse_utc_z(t.as_bytes());
                assert!(fixed.is_none() || fixed == parse_rfc3339(t), "{t}");
                if base[pos].is_ascii_digit() && c.is_ascii_digit() {
                    assert_eq!(fixed.is_some(), parse_rfc3339(t).is_some(), "{t}");
                }
            }
        }
        let mut u = UnitState::default();
        assert_eq!(
            u.parse_text("2025-11-26T22:00:00.250Z", 1),
            Ok(T0 + 250_000)
        );
        assert_eq!(
            u.parse_text("2301-01-01T00:00:00.000Z", 1),
            Err("timestamp falls outside 1970..2300".into())
        );
    }

    #[test]
    fn apache_form() {
        assert_eq!(parse_apache("26/Nov/2025:22:00:00 +0000"), Some(T0));
        assert_eq!(parse_apache("26/Nov/2025:14:00:00 -0800"), Some(T0));
        assert_eq!(parse_apache("26/Foo/2025:14:00:00 -0800"), None);
    }

    #[test]
    fn epoch_units_are_detected_and_held() {
        let mut u = UnitState::default();
        assert_eq!(u.parse_text("1764194400", 1), Ok(T0));
        assert_eq!(u.detected, Some((TsUnit::Seconds, 1)));
        assert_eq!(u.parse_text("1764194400.5", 2), Ok(T0 + 500_000));
        let err = u.parse_text("1764194400000", 3).unwrap_err();
        assert!(err.contains("--ts-unit"), "{err}");
        for (text, unit) in [
            ("1764194400000", TsUnit::Millis),
            ("1764194400000000", TsUnit::Micros),
            ("1764194400000000000", TsUnit::Nanos),
        ] {
            let mut u = UnitState::default();
            assert_eq!(u.parse_text(text, 1), Ok(T0));
            assert_eq!(u.detected.unwrap().0, unit);
        }
    }

    #[test]
    fn fixed_unit_wins_and_range_is_checked() {
        let mut u = UnitState {
            fixed: Some(TsUnit::Seconds),
            detected: None,
        };
        let err = u.parse_text("1764194400000", 1).unwrap_err();
        assert!(err.contains("1970..2300"), "{err}");
        assert!(u.parse_text("-5", 1).is_err());
    }

    #[test]
    fn errors_never_quote_the_value() {
        let mut u = UnitState::default();
        let err = u.parse_text("jane@example.com", 1).unwrap_err();
        assert!(!err.contains("jane"), "{err}");
        assert!(err.contains("shape `aaaa@aaaaaaa.aaa`"), "{err}");
    }

    #[test]
    fn civil_round_trip() {
        for days in [-1000, 0, 1, 59, 60, 365, 10_957, 20_418, 100_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(format_rfc3339(T0 + 7_000), "2025-11-26T22:00:00.007Z");
    }
}
