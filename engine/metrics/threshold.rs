//! Evaluating threshold rules against what was recorded: during the run (for `abort_on_fail`)
//! and after it (for the verdicts).

use super::catalogue::MetricKind;
use super::recorder::{Outcome, Recorder, SeriesKey, Tag};
use super::window::Bucket;
use crate::plan::{Aggregate, Plan, TagFilter, ThresholdPlan};
use hdrhistogram::Histogram;

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

/// A distribution statistic (`p(N)`, `avg`, `med`, `min`, `max`, `count`) of a histogram, in
/// its recording unit; `None` for an empty histogram (except `count`) or an aggregate that is
/// not a statistic of one.
pub(crate) fn histogram_statistic(h: &Histogram<u64>, agg: Aggregate) -> Option<f64> {
    if agg == Aggregate::Count {
        return Some(h.len() as f64);
    }
    if h.is_empty() {
        return None;
    }
    Some(match agg {
        Aggregate::Percentile(p) => h.value_at_quantile(p / 100.0) as f64,
        Aggregate::Avg => h.mean(),
        Aggregate::Med => h.value_at_quantile(0.5) as f64,
        Aggregate::Min => h.min() as f64,
        Aggregate::Max => h.max() as f64,
        Aggregate::Count | Aggregate::Rate | Aggregate::Growth => return None,
    })
}

/// What a rule measures on one window's merged bucket; `None` when it holds no data.
fn measure_bucket(t: &ThresholdPlan, b: &Bucket) -> Option<f64> {
    match (t.metric.kind(), t.aggregate) {
        (MetricKind::Counter, _) => Some(b.count as f64),
        (MetricKind::Rate, _) => (b.total > 0).then(|| b.ok as f64 / b.total as f64),
        (_, Aggregate::Count) => Some(b.hist.as_ref().map_or(0, |h| h.len()) as f64),
        (_, agg) => histogram_statistic(b.hist.as_ref()?, agg),
    }
}

/// Whether a rule is judged over a window or after a delay (at every sample) rather than once
/// over the whole run.
pub fn is_windowed(t: &ThresholdPlan) -> bool {
    t.window.is_some() || !t.delay.is_zero()
}

/// Watches the series of every windowed or delayed rule (called once, before the run).
pub(crate) fn watch_windows(plan: &Plan, rec: &mut Recorder) {
    for (i, t) in plan.thresholds.iter().enumerate().filter(|(_, t)| is_windowed(t)) {
        let key = SeriesKey { metric: t.metric, tag: resolve_tags(plan, &t.tags) };
        let span = t.window.unwrap_or(plan.max_duration).as_micros() as u64;
        rec.watch(i, key, span);
    }
}

/// Closes the sample interval ending at `now` (µs) and judges every windowed or delayed rule on
/// the data its window covers. Returns the first `abort_on_fail` rule that failed just now, as
/// (key, rule, what it measured).
pub fn judge_windows(plan: &Plan, rec: &mut Recorder, now: u64) -> Option<(String, String, f64)> {
    if rec.windows.is_empty() {
        return None;
    }
    rec.windows.close(now);
    let mut abort = None;
    let rules = std::mem::take(&mut rec.windows.rules);
    let mut judged = Vec::with_capacity(rules.len());
    for (i, w, mut j) in rules {
        let Some(t) = plan.thresholds.get(i) else { continue };
        let delay = t.delay.as_micros() as u64;
        if now >= delay {
            let from = t.window.map_or(delay, |win| now.saturating_sub(win.as_micros() as u64).max(delay));
            // A window with no data says nothing: it is not judged.
            if let Some(m) = measure_bucket(t, &rec.windows.since(w, from)) {
                j.judged = true;
                j.last = Some(m);
                if !t.cmp.holds(m, t.limit) && j.failed.is_none() {
                    j.failed = Some((now, m));
                    if t.abort_on_fail && abort.is_none() {
                        abort = Some((t.key.clone(), t.rule.clone(), m));
                    }
                }
            }
        }
        judged.push((i, w, j));
    }
    rec.windows.rules = judged;
    abort
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
        (_, Aggregate::Growth) => rec.tagged_growth(t.metric, key.tag).map(|(g, _)| g as f64),
        (_, Aggregate::Count) => Some(rec.histogram(&key).map_or(0, |h| h.len()) as f64),
        (_, agg) => histogram_statistic(rec.histogram(&key)?, agg),
    }
}

/// Whether a rule holds, and what it measured. A rule over a metric with no data fails: a
/// threshold on `recovery_time` when no container was ever killed proves nothing.
pub fn rule_holds(t: &ThresholdPlan, rec: &Recorder, plan: &Plan) -> (bool, Option<f64>) {
    let measured = measure(t, rec, plan);
    (measured.is_some_and(|m| t.cmp.holds(m, t.limit)), measured)
}

/// The first `abort_on_fail` rule over the whole run that has data and fails, as (key, rule).
/// A rule with no data yet cannot fail early: it waits for data. Windowed and delayed rules are
/// judged by [`judge_windows`].
pub fn aborting_rule(plan: &Plan, rec: &Recorder) -> Option<(String, String)> {
    plan.thresholds.iter().filter(|t| t.abort_on_fail && !is_windowed(t)).find_map(|t| {
        let (held, measured) = rule_holds(t, rec, plan);
        (measured.is_some() && !held).then(|| (t.key.clone(), t.rule.clone()))
    })
}
