//! Parsing of the small value languages used in scenario files: durations, rates, sizes and
//! percentages. Each parser returns an error text that names the accepted forms.

use std::time::Duration;

/// Parses a duration such as `"5m"`, `"30s"`, `"250ms"` or `"1h 30m"`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration; write e.g. \"30s\", \"5m\", \"250ms\" or \"1h 30m\"".into());
    }
    if t.starts_with('-') {
        return Err(format!("\"{text}\" is negative; durations are zero or more"));
    }
    if t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!("\"{text}\" has no unit; write e.g. \"{t}s\" or \"{t}ms\""));
    }
    // humantime does not take fractions ("1.5s"), which QA write often; handle a single
    // fractional value ourselves and hand the rest to humantime.
    if let Some(d) = parse_fractional(t) {
        return d
            .ok_or_else(|| format!("\"{text}\" is too long a duration; durations go up to about 584 billion years"));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("\"{text}\" is not a duration ({e}); write e.g. \"30s\", \"5m\", \"250ms\" or \"1h 30m\""))
}

/// A single fractional value with a unit: `None` when `t` is not one, `Some(None)` when it is
/// one but too large for a duration.
fn parse_fractional(t: &str) -> Option<Option<Duration>> {
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = t.split_at(split);
    if !num.contains('.') {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ns" => value / 1e9,
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "s" | "sec" | "secs" => value,
        "m" | "min" | "mins" => value * 60.0,
        "h" | "hr" | "hour" | "hours" => value * 3600.0,
        "d" | "day" | "days" => value * 86400.0,
        _ => return None,
    };
    // `Duration::from_secs_f64` panics past `u64::MAX` seconds: "99999999999999999999.5h" must
    // be an error.
    Some(Duration::try_from_secs_f64(secs).ok())
}

/// Parses a rate such as `"1000/h"`, `"20/s"` or `"5/m"` into arrivals per second.
pub(crate) fn parse_rate(text: &str) -> Result<f64, String> {
    let accepted = "write a count per unit of time, e.g. \"20/s\", \"300/m\" or \"1000/h\"";
    let Some((count, unit)) = text.trim().split_once('/') else {
        return Err(format!("\"{text}\" is not a rate; {accepted}"));
    };
    let count: f64 =
        count.trim().parse().map_err(|_| format!("\"{text}\": \"{}\" is not a number; {accepted}", count.trim()))?;
    if count.is_nan() {
        return Err(format!("\"{text}\": NaN is not a number of messages; {accepted}"));
    }
    if count.is_infinite() {
        return Err(format!("\"{text}\": an infinite rate cannot be sent; {accepted}"));
    }
    if count < 0.0 {
        return Err(format!("\"{text}\" is negative; rates are zero or more"));
    }
    let per = match unit.trim() {
        "s" | "sec" | "second" => 1.0,
        "m" | "min" | "minute" => 60.0,
        "h" | "hour" => 3600.0,
        "d" | "day" => 86400.0,
        other => {
            // Also accept a duration denominator such as "10s" in "1/10s".
            match parse_duration(other) {
                Ok(d) if d > Duration::ZERO => d.as_secs_f64(),
                _ => return Err(format!("\"{text}\": unknown time unit \"{other}\"; {accepted}")),
            }
        }
    };
    let rate = count / per;
    if !rate.is_finite() {
        return Err(format!("\"{text}\" is too large a rate to send; {accepted}"));
    }
    Ok(rate)
}

/// Parses a size such as `"1GiB"`, `"75MiB"`, `"512 KB"` or `"0B"` into bytes.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!("\"{text}\" is negative; sizes are zero or more"));
    }
    if t.chars().all(|c| c.is_ascii_digit()) && !t.is_empty() {
        return Err(format!("\"{text}\" has no unit; write e.g. \"{t}MiB\" or \"{t}B\""));
    }
    t.parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| format!("\"{text}\" is not a size; write e.g. \"75MiB\", \"1GiB\", \"512KB\" or \"0B\""))
}

/// Parses a percentage such as `"40%"` (or a bare number) into percent.
pub(crate) fn parse_percent(text: &str) -> Result<f64, String> {
    let t = text.trim().trim_end_matches('%').trim();
    let v: f64 = t.parse().map_err(|_| format!("\"{text}\" is not a percentage; write e.g. \"40%\""))?;
    if !(0.0..=100.0).contains(&v) {
        return Err(format!("\"{text}\" is outside 0% to 100%"));
    }
    Ok(v)
}

/// Formats a duration compactly for plans and reports: `3.2s`, `250ms`, `4m 10s`.
pub fn format_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us == 0 {
        return "0s".into();
    }
    if us < 1_000 {
        return format!("{us}µs");
    }
    if us < 1_000_000 {
        return trim_float(us as f64 / 1e3, "ms");
    }
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        return trim_float(secs, "s");
    }
    let total = d.as_secs();
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    match (h, m, s) {
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, 0) => format!("{h}h {m}m"),
        (h, m, s) => format!("{h}h {m}m {s}s"),
    }
}

fn trim_float(v: f64, unit: &str) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{unit}")
}

/// Formats a byte count with binary units: `75 MiB`, `1.2 GiB`.
pub fn format_bytes(b: u64) -> String {
    bytesize::ByteSize::b(b).display().iec().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
        assert!(parse_duration("five minutes").is_err());
    }

    #[test]
    fn rates() {
        assert!((parse_rate("1000/h").unwrap() - 1000.0 / 3600.0).abs() < 1e-12);
        assert_eq!(parse_rate("20/s").unwrap(), 20.0);
        assert_eq!(parse_rate("1/10s").unwrap(), 0.1);
        assert!(parse_rate("20").is_err());
        assert!(parse_rate("20/fortnight").unwrap_err().contains("unknown time unit"));
    }

    #[test]
    fn sizes_and_percent() {
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("75MiB").unwrap(), 75 << 20);
        assert!(parse_size("75").unwrap_err().contains("no unit"));
        assert_eq!(parse_percent("40%").unwrap(), 40.0);
        assert!(parse_percent("140%").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_duration(Duration::from_millis(3200)), "3.2s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_secs(250)), "4m 10s");
        assert_eq!(format_bytes(75 << 20), "75.0 MiB");
    }
}
