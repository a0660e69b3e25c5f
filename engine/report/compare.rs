//! Comparing a run with a baseline: every shared metric's p50/p90/p99/avg with its change, the
//! regressions beyond a tolerance, and thresholds that passed before and fail now.

use serde::{Deserialize, Serialize};

use super::summary::{MetricSummary, RunSummary};
use super::verdict::format_value;
use crate::metrics::{Metric, Unit};

/// One statistic of one metric in both runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CompareRow {
    /// Metric name.
    pub metric: String,
    /// `p50`, `p90`, `p99` or `avg`.
    pub stat: String,
    /// Baseline value, recording units.
    pub baseline: f64,
    /// Current value, recording units.
    pub current: f64,
    /// Baseline, formatted.
    pub baseline_text: String,
    /// Current, formatted.
    pub current_text: String,
    /// Change in percent, when the baseline is not zero.
    pub change_pct: Option<f64>,
    /// The change, formatted (`+12.3%`).
    pub change_text: String,
    /// Worse than the tolerance allows.
    pub regressed: bool,
    /// Whether the metric is a latency (a regression fails `herd compare`).
    pub latency: bool,
}

/// A threshold whose verdict changed between the runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ThresholdChange {
    /// The threshold key.
    pub key: String,
    /// The rule.
    pub rule: String,
    /// Passed in the baseline.
    pub baseline_passed: bool,
    /// Passed now.
    pub current_passed: bool,
    /// Measured now, formatted.
    pub measured_text: String,
}

/// The comparison of a run with its baseline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Comparison {
    /// Baseline scenario name.
    pub baseline_name: String,
    /// When the baseline ran.
    pub baseline_started_at: String,
    /// Current scenario name.
    pub current_name: String,
    /// Allowed worsening in percent.
    pub tolerance_pct: f64,
    /// Every statistic of every shared metric.
    pub rows: Vec<CompareRow>,
    /// Thresholds whose verdict changed.
    pub threshold_changes: Vec<ThresholdChange>,
    /// Rows that regressed.
    pub regressions: usize,
    /// Latency rows that regressed.
    pub latency_regressions: usize,
    /// Thresholds that passed in the baseline and fail now.
    pub newly_failing: usize,
}

impl Comparison {
    /// Whether the comparison should fail a CI step: a latency regressed or a threshold that
    /// passed now fails.
    pub fn failed(&self) -> bool {
        self.latency_regressions > 0 || self.newly_failing > 0
    }
}

/// The smallest worsening that counts, so that noise on tiny values (1 µs to 2 µs is +100%)
/// is not called a regression.
fn floor(unit: Unit) -> f64 {
    match unit {
        Unit::Duration => 1_000.0,
        Unit::Bytes => (1u64 << 20) as f64,
        Unit::Percent => 100.0,
        Unit::Count => 1.0,
    }
}

fn shared(summary: &RunSummary) -> impl Iterator<Item = &MetricSummary> {
    summary.metrics.iter().filter(|m| m.tag_key.is_none() && m.histogram.is_some() && m.count > 0)
}

/// Compares `current` with `baseline`; a statistic regresses when it grows by more than
/// `tolerance_pct` percent (and by more than a small absolute floor).
pub fn compare(baseline: &RunSummary, current: &RunSummary, tolerance_pct: f64) -> Comparison {
    let mut rows = Vec::new();
    for cur in shared(current) {
        let Some(base) = shared(baseline).find(|m| m.name == cur.name) else { continue };
        let Some(metric) = Metric::from_name(&cur.name) else { continue };
        let unit = metric.unit();
        let latency = unit == Unit::Duration;
        for (stat, b, c) in [
            ("p50", base.p50, cur.p50),
            ("p90", base.p90, cur.p90),
            ("p99", base.p99, cur.p99),
            ("avg", base.avg, cur.avg),
        ] {
            let (Some(b), Some(c)) = (b, c) else { continue };
            let change_pct = (b > 0.0).then(|| (c - b) / b * 100.0);
            let regressed = c - b > floor(unit)
                && match change_pct {
                    Some(p) => p > tolerance_pct,
                    None => true,
                };
            rows.push(CompareRow {
                metric: cur.name.clone(),
                stat: stat.to_owned(),
                baseline: b,
                current: c,
                baseline_text: format_value(metric, None, b),
                current_text: format_value(metric, None, c),
                change_pct,
                change_text: match change_pct {
                    Some(p) => format!("{p:+.1}%"),
                    None if c > 0.0 => "new".to_owned(),
                    None => "0%".to_owned(),
                },
                regressed,
                latency,
            });
        }
    }
    let mut threshold_changes = Vec::new();
    for t in &current.thresholds {
        if let Some(b) = baseline.thresholds.iter().find(|b| b.key == t.key && b.rule == t.rule)
            && b.passed != t.passed
        {
            threshold_changes.push(ThresholdChange {
                key: t.key.clone(),
                rule: t.rule.clone(),
                baseline_passed: b.passed,
                current_passed: t.passed,
                measured_text: t.measured_text.clone(),
            });
        }
    }
    Comparison {
        baseline_name: baseline.scenario.name.clone(),
        baseline_started_at: baseline.run.started_at.clone(),
        current_name: current.scenario.name.clone(),
        tolerance_pct,
        regressions: rows.iter().filter(|r| r.regressed).count(),
        latency_regressions: rows.iter().filter(|r| r.regressed && r.latency).count(),
        newly_failing: threshold_changes.iter().filter(|t| t.baseline_passed && !t.current_passed).count(),
        rows,
        threshold_changes,
    }
}

/// Parses a tolerance such as `10%` or `10` (percent).
pub fn parse_tolerance(text: &str) -> Result<f64, String> {
    let t = text.trim().trim_end_matches('%').trim();
    match t.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("invalid tolerance \"{text}\"; write a percentage such as 10%")),
    }
}
