//! Threshold evaluation: what each rule measured and whether it held.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::{Metric, MetricKind, Recorder, Unit, rule_holds};
use crate::plan::{Aggregate, Plan, format_bytes, format_duration};

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
    /// Whether the rule was judged over a sliding window or after a delay, at every sample,
    /// rather than once over the whole run. `herd merge` cannot judge such a rule again from
    /// summaries (each window's data stays in its own run's journal): it fails when any merged
    /// run failed it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub windowed: bool,
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
        .enumerate()
        .map(|(i, t)| {
            let text = |m: f64| format_value(t.metric, Some(t.aggregate), m);
            // A windowed or delayed rule was judged at every sample: it held if it was judged
            // on data and never failed; a failure says when.
            let (passed, measured, measured_text) = match rec.judgement(i) {
                Some(j) => match j.failed {
                    Some((at, m)) => (false, Some(m), format!("{} at {:.0}s", text(m), at as f64 / 1e6)),
                    None if j.judged => (true, j.last, j.last.map_or_else(|| "no data".to_owned(), text)),
                    None => (false, None, "no data (never judged)".to_owned()),
                },
                None => {
                    let (passed, measured) = rule_holds(t, rec, plan);
                    (passed, measured, measured.map_or_else(|| "no data".to_owned(), text))
                }
            };
            ThresholdResult {
                key: t.key.clone(),
                metric: t.metric.name().to_owned(),
                rule: t.rule.clone(),
                passed,
                measured,
                measured_text,
                abort_on_fail: t.abort_on_fail,
                windowed: crate::metrics::is_windowed(t),
            }
        })
        .collect()
}
