//! Evaluating threshold rules against what was recorded: during the run (for `abort_on_fail`)
//! and after it (for the verdicts).

use super::catalogue::MetricKind;
use super::recorder::{Outcome, Recorder, SeriesKey, Tag};
use crate::plan::{Aggregate, Plan, TagFilter, ThresholdPlan};

/// The series a rule's tag filters name, resolved against the plan: `None` for the whole run.
pub(crate) fn resolve_tags(plan: &Plan, tags: &[TagFilter]) -> Option<Tag> {
    if let Some(o) = tags.iter().find(|t| t.key == "outcome") {
        return match o.value.as_str() {
            "interrupted" => Some(Tag::Outcome(Outcome::Interrupted)),
            _ => Some(Tag::Outcome(Outcome::Failed)),
        };
    }
    let find = |key: &str| {
        let value = &tags.iter().find(|t| t.key == key)?.value;
        if key == "phase" {
            plan.phases.iter().position(|p| &p.name == value)
        } else {
            plan.groups.iter().position(|g| &g.name == value)
        }
    };
    match (find("phase"), find("group")) {
        (Some(p), Some(g)) => Some(Tag::PhaseGroup(p, g)),
        (Some(p), None) => Some(Tag::Phase(p)),
        (None, Some(g)) => Some(Tag::Group(g)),
        (None, None) => None,
    }
}

/// Measures what a rule looks at; `None` when the metric has no data.
pub fn measure(t: &ThresholdPlan, rec: &Recorder, plan: &Plan) -> Option<f64> {
    let key = SeriesKey { metric: t.metric, tag: resolve_tags(plan, &t.tags) };
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

/// The first `abort_on_fail` rule that has data and fails, as (key, rule). A rule with no data
/// yet cannot fail early: it waits for data.
pub fn aborting_rule(plan: &Plan, rec: &Recorder) -> Option<(String, String)> {
    plan.thresholds.iter().filter(|t| t.abort_on_fail).find_map(|t| {
        let (held, measured) = rule_holds(t, rec, plan);
        (measured.is_some() && !held).then(|| (t.key.clone(), t.rule.clone()))
    })
}
