//! Time distributions written as `lognormal(p50 = 3s, p99 = 9s)` and friends.

use std::fmt;
use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution as _, Exp, LogNormal, Normal};
use serde::Serialize;

use super::units::{format_duration, parse_duration};

/// The z-score of the 99th percentile of a standard normal distribution.
const Z99: f64 = 2.326_347_874_040_841;

/// A distribution of durations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Distribution {
    /// Always the same value.
    Fixed {
        /// The value.
        value: Duration,
    },
    /// Uniform between two values.
    Uniform {
        /// Lower bound.
        min: Duration,
        /// Upper bound.
        max: Duration,
    },
    /// Normal, truncated at zero.
    Normal {
        /// Mean.
        mean: Duration,
        /// Standard deviation.
        stddev: Duration,
    },
    /// Log-normal, given by its median and 99th percentile.
    LogNormal {
        /// Median.
        p50: Duration,
        /// 99th percentile.
        p99: Duration,
    },
    /// Exponential with the given mean.
    Exponential {
        /// Mean.
        mean: Duration,
    },
}

const ACCEPTED: &str = "accepted: \"fixed(3s)\", \"uniform(1s, 5s)\", \"normal(mean = 3s, stddev = 500ms)\", \"lognormal(p50 = 3s, p99 = 9s)\", \"exponential(mean = 3s)\"";

impl Distribution {
    /// Parses the textual form; a bare duration such as `"3s"` means `fixed(3s)`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let Some(open) = t.find('(') else {
            return match parse_duration(t) {
                Ok(value) => Ok(Self::Fixed { value }),
                Err(_) => Err(format!("\"{text}\" is not a distribution; {ACCEPTED}")),
            };
        };
        if !t.ends_with(')') {
            return Err(format!("\"{text}\" is missing its closing parenthesis; {ACCEPTED}"));
        }
        let name = t[..open].trim();
        let args = &t[open + 1..t.len() - 1];
        let mut positional = Vec::new();
        let mut named = Vec::new();
        for arg in args.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let (key, value) = match arg.split_once('=') {
                Some((k, v)) => (Some(k.trim()), v.trim()),
                None => (None, arg),
            };
            let d = parse_duration(value).map_err(|e| format!("in \"{text}\": {e}"))?;
            match key {
                Some(k) => named.push((k, d)),
                None => positional.push(d),
            }
        }
        let get = |key: &str, pos: usize| -> Result<Duration, String> {
            named
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, d)| *d)
                .or_else(|| positional.get(pos).copied())
                .ok_or_else(|| format!("\"{text}\" needs `{key}`; {ACCEPTED}"))
        };
        let known: &[&str] = match name {
            "fixed" => &["value"],
            "uniform" => &["min", "max"],
            "normal" => &["mean", "stddev"],
            "lognormal" => &["p50", "p99"],
            "exponential" => &["mean"],
            other => {
                let near = crate::scenario::nearest(other, ["fixed", "uniform", "normal", "lognormal", "exponential"]);
                let hint = near.map(|n| format!("did you mean `{n}`? ")).unwrap_or_default();
                return Err(format!("unknown distribution \"{other}\"; {hint}{ACCEPTED}"));
            }
        };
        if let Some((bad, _)) = named.iter().find(|(k, _)| !known.contains(k)) {
            return Err(format!("`{name}` has no parameter `{bad}`; it takes {}", known.join(", ")));
        }
        if positional.len() + named.len() > known.len() {
            return Err(format!("`{name}` takes {} parameter(s): {}", known.len(), known.join(", ")));
        }
        let dist = match name {
            "fixed" => Self::Fixed { value: get("value", 0)? },
            "uniform" => Self::Uniform { min: get("min", 0)?, max: get("max", 1)? },
            "normal" => Self::Normal { mean: get("mean", 0)?, stddev: get("stddev", 1)? },
            "lognormal" => Self::LogNormal { p50: get("p50", 0)?, p99: get("p99", 1)? },
            _ => Self::Exponential { mean: get("mean", 0)? },
        };
        match dist {
            Self::Uniform { min, max } if min > max => Err(format!("in \"{text}\": min is above max")),
            Self::LogNormal { p50, p99 } if p99 < p50 => Err(format!("in \"{text}\": p99 is below p50")),
            Self::LogNormal { p50, .. } if p50.is_zero() => Err(format!("in \"{text}\": p50 must be above zero")),
            d => Ok(d),
        }
    }

    /// Draws one value.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let secs = match *self {
            Self::Fixed { value } => return value,
            Self::Uniform { min, max } => {
                if min == max {
                    return min;
                }
                rng.random_range(min.as_secs_f64()..=max.as_secs_f64())
            }
            Self::Normal { mean, stddev } => match Normal::new(mean.as_secs_f64(), stddev.as_secs_f64()) {
                Ok(n) => n.sample(rng).max(0.0),
                Err(_) => mean.as_secs_f64(),
            },
            Self::LogNormal { p50, p99 } => {
                let mu = p50.as_secs_f64().ln();
                let sigma = (p99.as_secs_f64().ln() - mu) / Z99;
                match LogNormal::new(mu, sigma) {
                    Ok(d) => d.sample(rng),
                    Err(_) => p50.as_secs_f64(),
                }
            }
            Self::Exponential { mean } => {
                if mean.is_zero() {
                    return Duration::ZERO;
                }
                match Exp::new(1.0 / mean.as_secs_f64()) {
                    Ok(d) => d.sample(rng),
                    Err(_) => mean.as_secs_f64(),
                }
            }
        };
        // Guard against pathological tails so one draw cannot stall a run for days.
        Duration::from_secs_f64(secs.clamp(0.0, 86_400.0))
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = format_duration;
        match *self {
            Self::Fixed { value } => write!(f, "fixed({})", d(value)),
            Self::Uniform { min, max } => write!(f, "uniform({}, {})", d(min), d(max)),
            Self::Normal { mean, stddev } => write!(f, "normal(mean = {}, stddev = {})", d(mean), d(stddev)),
            Self::LogNormal { p50, p99 } => write!(f, "lognormal(p50 = {}, p99 = {})", d(p50), d(p99)),
            Self::Exponential { mean } => write!(f, "exponential(mean = {})", d(mean)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parses_every_form() {
        assert_eq!(Distribution::parse("3s").unwrap(), Distribution::Fixed { value: Duration::from_secs(3) });
        assert_eq!(
            Distribution::parse("uniform(1s, 5s)").unwrap(),
            Distribution::Uniform { min: Duration::from_secs(1), max: Duration::from_secs(5) }
        );
        assert!(matches!(
            Distribution::parse("lognormal(p50 = 3s, p99 = 9s)").unwrap(),
            Distribution::LogNormal { .. }
        ));
        assert!(Distribution::parse("lognormal(p50 = 9s, p99 = 3s)").is_err());
        assert!(Distribution::parse("gamma(3s)").unwrap_err().contains("unknown distribution"));
        assert!(Distribution::parse("normal(mean = 3s, sd = 1s)").unwrap_err().contains("no parameter `sd`"));
    }

    #[test]
    fn lognormal_quantiles_match_their_parameters() {
        let d = Distribution::parse("lognormal(p50 = 3s, p99 = 9s)").unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut xs: Vec<f64> = (0..20_000).map(|_| d.sample(&mut rng).as_secs_f64()).collect();
        xs.sort_by(f64::total_cmp);
        let p50 = xs[10_000];
        let p99 = xs[19_800];
        assert!((p50 - 3.0).abs() < 0.15, "p50 was {p50}");
        assert!((p99 - 9.0).abs() < 0.8, "p99 was {p99}");
    }
}
