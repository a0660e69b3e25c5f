//! Threshold evaluation: what each rule measured and whether it held.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::{Metric, MetricKind, Recorder, SeriesKey, Tag, Unit};
use crate::plan::{Aggregate, Plan, TagFilter, ThresholdPlan, format_bytes, format_duration};

/// The outcome of one threshold rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ThresholdResult {
    /// The key as written, e.g. `message_latency{phase="burst"}`.
    pub key: String,
    /// The metric name.
    pub metric: String,
    /// The rule as written, e.g. `p(99) < 15s`.
    pub rule: String,
    /// Whether it held.
    pub passed: bool,
    /// The measured value in the metric's recording unit, or `None` when there was no data.
    pub measured: Option<f64>,
    /// The measured value for people, e.g. `3.2s`, `96.0%`, `no data`.
    pub measured_text: String,
    /// Whether a failure stops the run.
    pub abort_on_fail: bool,
}

/// The tag a filter names, resolved against the plan.
fn resolve_tag(plan: &Plan, tag: &Option<TagFilter>) -> Option<Tag> {
    let tag = tag.as_ref()?;
    if tag.key == "phase" {
        plan.phases.iter().position(|p| p.name == tag.value).map(Tag::Phase)
    } else {
        plan.groups.iter().position(|g| g.name == tag.value).map(Tag::Group)
    }
}

/// Measures what a rule looks at; `None` when the metric has no data.
pub fn measure(t: &ThresholdPlan, rec: &Recorder, plan: &Plan) -> Option<f64> {
    let key = SeriesKey { metric: t.metric, tag: resolve_tag(plan, &t.tag) };
    match (t.metric.kind(), t.aggregate) {
        (MetricKind::Counter, _) => Some(rec.counter(&key) as f64),
        (MetricKind::Rate, _) => {
            let (ok, total) = rec.rate(&key);
            (total > 0).then(|| ok as f64 / total as f64)
        }
        (_, Aggregate::Growth) => rec.growth(t.metric).map(|(g, _)| g as f64),
        (_, Aggregate::Count) => Some(rec.histogram(&key).map_or(0, |h| h.len()) as f64),
        (_, agg) => {
            let h = rec.histogram(&key).filter(|h| !h.is_empty())?;
            Some(match agg {
                Aggregate::Percentile(p) => h.value_at_quantile(p / 100.0) as f64,
                Aggregate::Avg => h.mean(),
                Aggregate::Med => h.value_at_quantile(0.5) as f64,
                Aggregate::Min => h.min() as f64,
                Aggregate::Max => h.max() as f64,
                Aggregate::Count | Aggregate::Rate | Aggregate::Growth => return None,
            })
        }
    }
}

/// Whether a rule holds, and what it measured. A rule over a metric with no data fails: a
/// threshold on `recovery_time` when no container was ever killed proves nothing.
pub fn rule_holds(t: &ThresholdPlan, rec: &Recorder, plan: &Plan) -> (bool, Option<f64>) {
    let measured = measure(t, rec, plan);
    (measured.is_some_and(|m| t.cmp.holds(m, t.limit)), measured)
}

/// Formats a value of `metric` in recording units for people.
pub fn format_value(metric: Metric, aggregate: Option<Aggregate>, value: f64) -> String {
    if metric.kind() == MetricKind::Rate {
        return format!("{:.2}%", value * 100.0);
    }
    if metric.kind() == MetricKind::Counter || aggregate == Some(Aggregate::Count) {
        return format!("{}", value.round() as i64);
    }
    match metric.unit() {
        Unit::Duration => {
            let sign = if value < 0.0 { "-" } else { "" };
            format!("{sign}{}", format_duration(Duration::from_micros(value.abs().round() as u64)))
        }
        Unit::Bytes => {
            let sign = if value < 0.0 { "-" } else { "" };
            format!("{sign}{}", format_bytes(value.abs().round() as u64))
        }
        Unit::Percent => format!("{:.1}%", value / 100.0),
        Unit::Count => {
            if (value - value.round()).abs() < 1e-9 {
                format!("{}", value.round() as i64)
            } else {
                format!("{value:.2}")
            }
        }
    }
}

/// Evaluates every threshold of the plan.
pub fn evaluate(plan: &Plan, rec: &Recorder) -> Vec<ThresholdResult> {
    plan.thresholds
        .iter()
        .map(|t| {
            let (passed, measured) = rule_holds(t, rec, plan);
            ThresholdResult {
                key: t.key.clone(),
                metric: t.metric.name().to_owned(),
                rule: t.rule.clone(),
                passed,
                measured,
                measured_text: measured
                    .map_or_else(|| "no data".to_owned(), |m| format_value(t.metric, Some(t.aggregate), m)),
                abort_on_fail: t.abort_on_fail,
            }
        })
        .collect()
}
