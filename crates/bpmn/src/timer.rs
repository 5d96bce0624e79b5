//! BPMN timer definitions (ISO 8601) into block-time milliseconds.
//!
//! Durations with years or months are refused: their length depends on the
//! calendar position, and a contract deadline should say what it means in
//! days. Repeating timers (`timeCycle`) are ISO 8601 repeating intervals
//! with a count; cron expressions are refused.

use crate::{machine::Timer, model::TimerDef};

const MS: [(char, u64); 4] = [
    ('D', 86_400_000),
    ('H', 3_600_000),
    ('M', 60_000),
    ('S', 1_000),
];
/// Longest timer accepted: ten years.
pub const MAX_TIMER_MS: u64 = 10 * 366 * 86_400_000;

/// A timer's due time. `timezone` (seconds east of UTC, from
/// `bindings.timezone`) places a `timeDate` written without a zone.
pub fn resolve(def: &TimerDef, timezone: Option<i64>) -> Result<Timer, String> {
    match def {
        TimerDef::Duration(d) => Ok(Timer {
            after_ms: Some(duration_ms(d)?),
            at_ms: None,
            every_ms: None,
            repeats: 1,
        }),
        TimerDef::Date(d) => Ok(Timer {
            after_ms: None,
            at_ms: Some(date_ms_in(d, timezone)?),
            every_ms: None,
            repeats: 1,
        }),
        TimerDef::Cycle(c) => cycle(c, timezone),
        TimerDef::Missing => Err("timer event has no timeDuration or timeDate".into()),
    }
}

/// Most firings of a repeating timer: an unbounded one would keep a
/// timer in the chain's index for as long as its activity waits.
pub const MAX_CYCLE_REPEATS: u32 = 1_000;
/// Shortest interval of a repeating timer (timers fire by block time,
/// walked second by second).
pub const MIN_CYCLE_MS: u64 = 60_000;

/// A repeating timer (BPMN 2.0 §10.5.5, ISO 8601 repeating interval):
/// `R3/PT1H` fires three times, an hour apart, the first an hour after it
/// is armed; `R5/2026-12-07T08:00:00+08:00/P1D` at that moment, then daily.
pub fn cycle(c: &str, timezone: Option<i64>) -> Result<Timer, String> {
    let c = c.trim();
    let bad = |why: &str| {
        format!("repeating timer `{c}`: {why} (ISO 8601 repeating interval with a count, e.g. R3/PT1H or R5/2026-12-07T08:00:00Z/P1D)")
    };
    if c.contains(' ') || c.contains('*') || c.contains('?') {
        return Err(bad("cron expressions are not supported"));
    }
    let parts: Vec<&str> = c.split('/').collect();
    let count = parts[0]
        .strip_prefix('R')
        .ok_or_else(|| bad("must start with R and the number of repetitions"))?;
    if count.is_empty() {
        return Err(bad(&format!(
            "give the number of repetitions, at most {MAX_CYCLE_REPEATS}; an unbounded one is refused"
        )));
    }
    let repeats = count
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_CYCLE_REPEATS).contains(n))
        .ok_or_else(|| bad(&format!("repetitions from 1 to {MAX_CYCLE_REPEATS}")))?;
    let (at_ms, every) = match parts[1..] {
        [every] => (None, every),
        [start, every] if !start.starts_with('P') => (Some(date_ms_in(start, timezone)?), every),
        _ => return Err(bad("expected R<n>/<duration> or R<n>/<start>/<duration>")),
    };
    let every_ms = duration_ms(every)?;
    if every_ms < MIN_CYCLE_MS {
        return Err(bad("the interval must be at least a minute"));
    }
    Ok(Timer {
        after_ms: at_ms.is_none().then_some(every_ms),
        at_ms,
        every_ms: Some(every_ms),
        repeats,
    })
}

/// `P2DT3H30M`, `PT48H`, `P1W`, `PT0.5S` is refused (whole units only).
pub fn duration_ms(s: &str) -> Result<u64, String> {
    let bad = |why: &str| format!("timer duration `{s}`: {why} (ISO 8601, e.g. PT48H or P3DT12H)");
    let rest = s
        .trim()
        .strip_prefix('P')
        .ok_or_else(|| bad("must start with P"))?;
    if rest.is_empty() {
        return Err(bad("no amount"));
    }
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, t),
        Some(_) => return Err(bad("nothing after T")),
        None => (rest, ""),
    };
    let mut total: u64 = 0;
    let mut add = |part: &str, units: &[(char, u64)]| -> Result<(), String> {
        let mut number = String::new();
        let mut last = 0usize;
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let pos = units
                .iter()
                .position(|(u, _)| *u == c)
                .ok_or_else(|| bad(&format!("unit `{c}` not allowed here")))?;
            if pos < last || number.is_empty() || number.len() > 12 {
                return Err(bad("units out of order or missing number"));
            }
            last = pos + 1;
            let n: u64 = number.parse().map_err(|_| bad("bad number"))?;
            total = n
                .checked_mul(units[pos].1)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| bad("too long"))?;
            number.clear();
        }
        if number.is_empty() {
            Ok(())
        } else {
            Err(bad("number without unit"))
        }
    };
    add(date, &[('W', 7 * 86_400_000), MS[0]])?;
    add(time, &MS[1..])?;
    if total > MAX_TIMER_MS {
        return Err(bad("longer than ten years"));
    }
    Ok(total)
}

/// A zone designator of ISO 8601: `Z`, `±hh:mm`, `±hhmm` or `±hh`, as
/// seconds east of UTC.
pub fn offset_s(tz: &str) -> Option<i64> {
    if tz == "Z" {
        return Some(0);
    }
    let sign = match tz.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = tz[1..].chars().filter(|c| *c != ':').collect();
    let colon_ok = tz.len() != 6 || tz.as_bytes()[3] == b':';
    if !colon_ok || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        2 => (digits.parse::<i64>().ok()?, 0),
        4 => (
            digits[..2].parse::<i64>().ok()?,
            digits[2..].parse::<i64>().ok()?,
        ),
        _ => return None,
    };
    (h <= 14 && m <= 59).then_some(sign * (h * 3600 + m * 60))
}

/// `2026-12-01T10:00:00Z` or with an offset `+08:00`; milliseconds since the epoch.
pub fn date_ms(s: &str) -> Result<u64, String> {
    date_ms_in(s, None)
}

/// An ISO 8601 date and time (extended format, seconds optionally with a
/// fraction, zone `Z`, `±hh:mm`, `±hhmm` or `±hh`); a time without a zone
/// is in `timezone` (seconds east of UTC), and refused without one: a
/// contract's deadline must not depend on where a validator runs.
pub fn date_ms_in(s: &str, timezone: Option<i64>) -> Result<u64, String> {
    let bad = || format!("timer date `{s}`: expected YYYY-MM-DDThh:mm:ss with Z or ±hh:mm");
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num = |from: usize, to: usize| -> Result<i64, String> {
        s.get(from..to)
            .filter(|p| p.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|p| p.parse().ok())
            .ok_or_else(bad)
    };
    let (y, mo, d, h, mi, sec) = (
        num(0, 4)?,
        num(5, 7)?,
        num(8, 10)?,
        num(11, 13)?,
        num(14, 16)?,
        num(17, 19)?,
    );
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59
    {
        return Err(bad());
    }
    // A fraction of a second: milliseconds kept, finer digits dropped.
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(fraction) = rest.strip_prefix(['.', ',']) {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let first3: String = fraction[..digits]
            .chars()
            .chain("000".chars())
            .take(3)
            .collect();
        millis = first3.parse().map_err(|_| bad())?;
        rest = &fraction[digits..];
    }
    let offset_s = match rest {
        "" => timezone.ok_or_else(|| {
            format!("timer date `{s}` has no time zone: add Z or an offset such as +08:00, or give the process's zone in bindings.timezone")
        })?,
        tz => offset_s(tz).ok_or_else(bad)?,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    u64::try_from(secs * 1000 + millis).map_err(|_| format!("timer date `{s}` is before 1970"))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_ms("PT48H").unwrap(), 48 * 3_600_000);
        assert_eq!(duration_ms("P1DT2H3M4S").unwrap(), 93_784_000);
        assert_eq!(duration_ms("P2W").unwrap(), 14 * 86_400_000);
        assert_eq!(duration_ms("P30D").unwrap(), 30 * 86_400_000);
        for bad in [
            "48H",
            "P",
            "PT",
            "P1Y",
            "P1M",
            "PT1.5S",
            "PT5",
            "PT1S2M",
            "P99999999999999D",
        ] {
            assert!(duration_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cycles() {
        let t = cycle("R3/PT1H", None).unwrap();
        assert_eq!(
            (t.after_ms, t.at_ms, t.every_ms, t.repeats),
            (Some(3_600_000), None, Some(3_600_000), 3)
        );
        let t = cycle("R5/2026-11-24T08:00:00+08:00/P1D", None).unwrap();
        assert_eq!(
            (t.after_ms, t.at_ms, t.every_ms, t.repeats),
            (None, Some(1_795_478_400_000), Some(86_400_000), 5)
        );
        for (bad, why) in [
            ("0/5 0/1 * 1/1 * ?", "cron"),
            ("R/PT1H", "unbounded"),
            ("R0/PT1H", "repetitions from 1"),
            ("R1001/PT1H", "repetitions from 1"),
            ("R3/PT30S", "at least a minute"),
            ("R3/PT1H/2026-11-24T08:00:00Z", "expected R<n>"),
            ("PT1H", "must start with R"),
            ("R3", "expected R<n>"),
            ("R3/2026-11-24T08:00:00/PT1H", "bindings.timezone"),
        ] {
            let e = cycle(bad, None).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(date_ms("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            date_ms("2026-11-24T08:00:00+08:00").unwrap(),
            1_795_478_400_000
        );
        assert_eq!(date_ms("2000-02-29T12:00:00Z").unwrap(), 951_825_600_000);
        // ISO 8601's other zone forms and fractions of a second.
        for same in [
            "2026-11-24T08:00:00+0800",
            "2026-11-24T08:00:00+08",
            "2026-11-24T00:00:00.000Z",
            "2026-11-24T00:00:00,0Z",
        ] {
            assert_eq!(date_ms(same).unwrap(), 1_795_478_400_000, "{same}");
        }
        assert_eq!(date_ms("1970-01-01T00:00:00.25Z").unwrap(), 250);
        // Without a zone: only in the process's zone.
        let local = "2026-11-24T08:00:00";
        assert!(date_ms(local).unwrap_err().contains("bindings.timezone"));
        assert_eq!(
            date_ms_in(local, Some(8 * 3600)).unwrap(),
            1_795_478_400_000
        );
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-11-24 08:00:00Z",
            "1969-12-31T23:59:59Z",
            "2026-11-24T08:00:00+8",
            "2026-11-24T08:00:00+08:0",
            "2026-11-24T08:00:00+15:00",
            "2026-11-24T08:00:00.Z",
            "2026-11-24T08:00:00X",
            "2026-11-24T08:00:00+0é00",
        ] {
            assert!(date_ms(bad).is_err(), "{bad}");
        }
    }
}
