//! Threshold keys (`message_latency{phase="burst"}`) and rules (`p(99) < 15s`).

use std::fmt;

use serde::Serialize;

use crate::metrics::{Metric, MetricKind, Unit};

use super::units::{parse_duration, parse_percent, parse_size};

/// A tag that narrows a threshold to part of the run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TagFilter {
    /// `phase` or `group`.
    pub key: String,
    /// The phase or session group name.
    pub value: String,
}

/// The statistic a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "percentile", rename_all = "snake_case")]
pub enum Aggregate {
    /// A percentile, `p(99)`.
    Percentile(f64),
    /// The mean.
    Avg,
    /// The median.
    Med,
    /// The smallest value.
    Min,
    /// The largest value.
    Max,
    /// The number of values, or a counter's total.
    Count,
    /// The success fraction of a rate metric.
    Rate,
    /// The largest increase from a gauge series' first sample to its last.
    Growth,
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aggregate::Percentile(p) => write!(f, "p({p})"),
            Aggregate::Avg => f.write_str("avg"),
            Aggregate::Med => f.write_str("med"),
            Aggregate::Min => f.write_str("min"),
            Aggregate::Max => f.write_str("max"),
            Aggregate::Count => f.write_str("count"),
            Aggregate::Rate => f.write_str("rate"),
            Aggregate::Growth => f.write_str("growth"),
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Cmp {
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `==`
    #[serde(rename = "==")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
}

impl Cmp {
    /// Applies the comparison.
    pub fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Cmp::Lt => measured < limit,
            Cmp::Le => measured <= limit,
            Cmp::Gt => measured > limit,
            Cmp::Ge => measured >= limit,
            Cmp::Eq => (measured - limit).abs() < 1e-9,
            Cmp::Ne => (measured - limit).abs() >= 1e-9,
        }
    }
}

/// Parses a threshold key: a metric name with an optional `{tag="value"}`.
pub(crate) fn parse_key(key: &str) -> Result<(Metric, Vec<TagFilter>), String> {
    let key = key.trim();
    let (name, tags) = match key.find('{') {
        Some(open) => {
            let Some(body) = key[open + 1..].strip_suffix('}') else {
                return Err(format!(
                    "`{key}`: the tag is not closed with `}}`; write e.g. 'message_latency{{phase=\"burst\"}}'"
                ));
            };
            (&key[..open], parse_tags(key, body)?)
        }
        None => (key, Vec::new()),
    };
    let Some(metric) = Metric::from_name(name.trim()) else {
        let names = Metric::ALL.iter().map(|m| m.name());
        let hint =
            crate::scenario::nearest(name, names.clone()).map(|n| format!("did you mean `{n}`? ")).unwrap_or_default();
        return Err(format!(
            "unknown metric `{name}`; {hint}accepted: {}",
            names.map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        ));
    };
    if !tags.is_empty() && !metric.group_taggable() {
        return Err(format!("`{}` describes the whole fleet and has no phase or group tags", metric.name()));
    }
    if tags.iter().any(|t| t.key == "phase") && !metric.taggable() {
        return Err(format!(
            "`{}` samples the fleet over time and has no `phase` tag; it splits by `group` only, e.g. '{}{{group=\"a\"}}'",
            metric.name(),
            metric.name()
        ));
    }
    if tags.iter().any(|t| t.key == "outcome") && metric != Metric::MessageLatency {
        return Err(format!("`{}` has no `outcome` tag; only `message_latency` does", metric.name()));
    }
    Ok((metric, tags))
}

/// The tags of a key, `phase="p1",group="a"`: each of `phase` and `group` at most once, values
/// in double quotes (which may hold commas) or bare.
fn parse_tags(key: &str, body: &str) -> Result<Vec<TagFilter>, String> {
    let shape = "a tag is written `{phase=\"name\"}`, `{group=\"name\"}` or both: `{phase=\"p1\",group=\"a\"}`";
    let mut tags: Vec<TagFilter> = Vec::new();
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else {
            return Err(format!("`{key}`: {shape}"));
        };
        let k = k.trim();
        if k != "phase" && k != "group" && k != "outcome" {
            return Err(format!("`{key}`: unknown tag `{k}`; accepted tags: `phase`, `group`, `outcome`"));
        }
        if tags.iter().any(|t| t.key == k) {
            return Err(format!("`{key}`: the tag `{k}` is given twice"));
        }
        let after = after.trim_start();
        let (value, tail) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((v, tail)) => (v, tail),
                None => return Err(format!("`{key}`: the value of `{k}` has no closing `\"`")),
            },
            None => match after.split_once(',') {
                Some((v, tail)) => (v.trim_end(), &after[after.len() - tail.len() - 1..]),
                None => (after.trim_end(), ""),
            },
        };
        tags.push(TagFilter { key: k.to_owned(), value: value.to_owned() });
        let tail = tail.trim_start();
        rest = match tail.strip_prefix(',') {
            Some(next) => next.trim_start(),
            None if tail.is_empty() => "",
            None => return Err(format!("`{key}`: expected `,` or `}}` after the value of `{k}`; {shape}")),
        };
    }
    if tags.is_empty() {
        return Err(format!("`{key}`: {shape}"));
    }
    if let Some(outcome) = tags.iter().find(|t| t.key == "outcome") {
        if !["failed", "interrupted"].contains(&outcome.value.as_str()) {
            return Err(format!(
                "`{key}`: unknown outcome \"{}\"; accepted: \"failed\", \"interrupted\" (plain `message_latency` is the successful replies)",
                outcome.value
            ));
        }
        if tags.len() > 1 {
            return Err(format!("`{key}`: `outcome` cannot be combined with `phase` or `group`"));
        }
    }
    Ok(tags)
}

/// A parsed rule before it is attached to its metric.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParsedRule {
    pub aggregate: Aggregate,
    pub cmp: Cmp,
    /// The limit in the metric's recording unit (µs, bytes, hundredths of a percent, count).
    pub limit: f64,
}

/// Parses a rule such as `p(99) < 15s` for `metric`, checking that the aggregate applies to it
/// and that the value carries the metric's unit.
pub(crate) fn parse_rule(metric: Metric, text: &str) -> Result<ParsedRule, String> {
    let t = text.trim();
    let ops = ["<=", ">=", "==", "!=", "<", ">"];
    let Some((pos, op)) =
        ops.iter().filter_map(|op| t.find(op).map(|p| (p, *op))).min_by_key(|(p, op)| (*p, -(op.len() as i64)))
    else {
        return Err(format!(
            "\"{text}\" has no comparison; write e.g. \"p(99) < 15s\" with one of <, <=, >, >=, ==, !="
        ));
    };
    let agg_text = t[..pos].trim();
    let value_text = t[pos + op.len()..].trim();
    let cmp = match op {
        "<=" => Cmp::Le,
        ">=" => Cmp::Ge,
        "==" => Cmp::Eq,
        "!=" => Cmp::Ne,
        "<" => Cmp::Lt,
        _ => Cmp::Gt,
    };
    let aggregate = parse_aggregate(agg_text)?;
    let kind = metric.kind();
    let allowed: &[&str] = match kind {
        MetricKind::Trend => &["p(N)", "avg", "med", "min", "max", "count"],
        MetricKind::Gauge => &["p(N)", "avg", "med", "min", "max", "count", "growth"],
        MetricKind::Counter => &["count"],
        MetricKind::Rate => &["rate"],
    };
    let ok = match (kind, aggregate) {
        (MetricKind::Counter, Aggregate::Count) | (MetricKind::Rate, Aggregate::Rate) => true,
        (MetricKind::Trend | MetricKind::Gauge, Aggregate::Rate | Aggregate::Growth) => {
            kind == MetricKind::Gauge && aggregate == Aggregate::Growth
        }
        (MetricKind::Trend | MetricKind::Gauge, _) => true,
        _ => false,
    };
    if !ok {
        return Err(format!(
            "`{}` has no `{aggregate}`; for this metric use {}",
            metric.name(),
            allowed.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    let limit = if aggregate == Aggregate::Count || kind == MetricKind::Counter {
        value_text.parse::<u64>().map(|v| v as f64).map_err(|_| {
            format!("\"{value_text}\" is not a whole number; `count` compares with a number such as 0 or 100")
        })?
    } else if aggregate == Aggregate::Rate {
        parse_fraction(value_text)?
    } else {
        match metric.unit() {
            Unit::Duration => {
                let d = parse_duration(value_text).map_err(|e| format!("`{}` is a duration: {e}", metric.name()))?;
                d.as_secs_f64() * 1e6
            }
            Unit::Bytes => {
                let b = parse_size(value_text).map_err(|e| format!("`{}` is a size: {e}", metric.name()))?;
                b as f64
            }
            Unit::Percent => {
                parse_percent(value_text).map_err(|e| format!("`{}` is a percentage: {e}", metric.name()))? * 100.0
            }
            Unit::Count => value_text.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                format!("\"{value_text}\" is not a number; `{}` compares with a number such as 10", metric.name())
            })?,
        }
    };
    Ok(ParsedRule { aggregate, cmp, limit })
}

fn parse_aggregate(text: &str) -> Result<Aggregate, String> {
    let accepted = "accepted: p(N), avg, med, min, max, count, rate, growth";
    match text {
        "avg" => Ok(Aggregate::Avg),
        "med" => Ok(Aggregate::Med),
        "min" => Ok(Aggregate::Min),
        "max" => Ok(Aggregate::Max),
        "count" => Ok(Aggregate::Count),
        "rate" => Ok(Aggregate::Rate),
        "growth" => Ok(Aggregate::Growth),
        t if t.starts_with("p(") && t.ends_with(')') => {
            let p: f64 = t[2..t.len() - 1]
                .trim()
                .parse()
                .map_err(|_| format!("\"{t}\": the percentile must be a number, e.g. p(99) or p(99.9)"))?;
            if !(0.0..=100.0).contains(&p) {
                return Err(format!("\"{t}\": the percentile must be between 0 and 100"));
            }
            Ok(Aggregate::Percentile(p))
        }
        "" => Err(format!("the rule has nothing before its comparison; {accepted}")),
        other => {
            let near = crate::scenario::nearest(other, ["avg", "med", "min", "max", "count", "rate", "growth"]);
            let hint = near.map(|n| format!("did you mean `{n}`? ")).unwrap_or_default();
            Err(format!("unknown aggregate \"{other}\"; {hint}{accepted}"))
        }
    }
}

/// A fraction written `0.95` or `95%`.
fn parse_fraction(text: &str) -> Result<f64, String> {
    let v = match text.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => text.parse::<f64>(),
    }
    .map_err(|_| format!("\"{text}\" is not a fraction; `rate` compares with e.g. 0.95 or 95%"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("\"{text}\" is outside 0 to 1 (0% to 100%)"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_with_units() {
        let r = parse_rule(Metric::MessageLatency, "p(99) < 15s").unwrap();
        assert_eq!(r.aggregate, Aggregate::Percentile(99.0));
        assert_eq!(r.cmp, Cmp::Lt);
        assert_eq!(r.limit, 15e6);
        let r = parse_rule(Metric::ContainerMemory, "growth < 100MiB").unwrap();
        assert_eq!(r.limit, (100u64 << 20) as f64);
        let r = parse_rule(Metric::MessageSuccess, "rate > 95%").unwrap();
        assert!((r.limit - 0.95).abs() < 1e-12);
        assert_eq!(parse_rule(Metric::MessagesLost, "count == 0").unwrap().cmp, Cmp::Eq);
        assert_eq!(parse_rule(Metric::MessageLatency, "avg <= 2s").unwrap().cmp, Cmp::Le);
    }

    #[test]
    fn rules_reject_mismatches() {
        assert!(parse_rule(Metric::MessageLatency, "p(99) < 15").unwrap_err().contains("no unit"));
        assert!(parse_rule(Metric::MessagesLost, "p(99) < 1").unwrap_err().contains("has no `p(99)`"));
        assert!(parse_rule(Metric::MessageLatency, "growth < 1s").unwrap_err().contains("has no `growth`"));
        assert!(parse_rule(Metric::MessageLatency, "p99 < 1s").unwrap_err().contains("unknown aggregate"));
        assert!(parse_rule(Metric::MessageLatency, "p(99) 15s").unwrap_err().contains("no comparison"));
    }

    #[test]
    fn keys_parse_with_tags() {
        let (m, t) = parse_key("message_latency{phase=\"burst\"}").unwrap();
        assert_eq!(m, Metric::MessageLatency);
        assert_eq!(t, vec![TagFilter { key: "phase".into(), value: "burst".into() }]);
        // Both tags at once; quoted values may hold commas, bare ones may not.
        let (_, t) = parse_key("message_latency{ phase = \"p,1\" , group=a }").unwrap();
        assert_eq!(
            t,
            vec![
                TagFilter { key: "phase".into(), value: "p,1".into() },
                TagFilter { key: "group".into(), value: "a".into() }
            ]
        );
        assert!(parse_key("message_latency{phase=\"a\",phase=\"b\"}").unwrap_err().contains("given twice"));
        assert!(parse_key("message_latency{phase=\"a\" group=\"b\"}").unwrap_err().contains("expected `,`"));
        assert!(parse_key("message_latency{phase=\"a}").unwrap_err().contains("no closing"));
        assert!(parse_key("message_latency{}").is_err());
        assert!(parse_key("message_latncy").unwrap_err().contains("did you mean `message_latency`"));
        assert!(parse_key("queue_depth{phase=\"x\"}").is_err());
    }
}
