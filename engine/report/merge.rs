//! `herd merge`: one summary from the summaries of runs of one scenario that ran side by side
//! (the slices of a distributed run, or the same scenario started on several machines).
//!
//! What adds up is added exactly: counters, accounting, rates (successes and totals), and every
//! distribution through its lossless HdrHistogram, so the merged percentiles are those of all
//! the values together, not an average of percentiles. Timelines are lined up on the wall
//! clock (each run's `started_at`), faults are listed once, and the thresholds are judged again
//! on the merged data. What a summary cannot give back exactly is said where it is kept: a
//! timeline point's percentiles and a breaking-point step's percentiles are upper bounds (the
//! larger of the slices'), and a windowed rule fails when any slice failed it.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use hdrhistogram::Histogram;

use super::summary::{
    MetricSummary, RunInfo, RunSummary, SUMMARY_VERSION, SliceRecord, Verdict, counter_summary, histogram_summary,
    nothing_proven, rate_summary, sort_metrics,
};
use super::verdict::{ThresholdResult, format_value};
use crate::metrics::{Metric, MetricKind, decode_histogram, histogram_statistic};
use crate::plan::{Aggregate, TagFilter, parse_threshold_key, parse_threshold_rule};
use crate::runtime::{
    Accounting, EndReason, FaultRecord, OwnershipChange, PhaseRecord, SessionRecord, StepRecord, TimelinePoint,
    combine_timeline_points,
};

/// Why summaries cannot be merged. Each names the summary at fault.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// No summary was given.
    #[error("nothing to merge: give summary.json files, or folders that hold them")]
    Empty,
    /// A summary of another scenario.
    #[error(
        "{file}: scenario `{found}` is not `{expected}` (the scenario of {first}); only runs of one scenario merge"
    )]
    OtherScenario {
        /// The summary at fault.
        file: String,
        /// Its scenario.
        found: String,
        /// The first summary's scenario.
        expected: String,
        /// The first summary.
        first: String,
    },
    /// A summary in another format.
    #[error("{file}: summary format {found}; this herd reads format {SUMMARY_VERSION}")]
    Version {
        /// The summary at fault.
        file: String,
        /// Its format version.
        found: u32,
    },
    /// Runs on different clocks.
    #[error("{file}: ran on the {found} clock, {first} on the {expected} clock; only runs on one clock merge")]
    Clock {
        /// The summary at fault.
        file: String,
        /// Its clock.
        found: String,
        /// The first summary's clock.
        expected: String,
        /// The first summary.
        first: String,
    },
    /// A start time that is not RFC 3339.
    #[error("{file}: run.started_at {value:?} is not an RFC 3339 time such as 2026-01-01T00:00:00.000Z")]
    StartedAt {
        /// The summary at fault.
        file: String,
        /// What it says.
        value: String,
    },
    /// Slices of a segmented run that do not make up the whole run.
    #[error("{file}: {why}")]
    Segments {
        /// The summary at fault.
        file: String,
        /// What is wrong.
        why: String,
    },
    /// A metric this herd does not know, or a distribution without its histogram.
    #[error("{file}: metric `{metric}` {why}")]
    Metric {
        /// The summary at fault.
        file: String,
        /// The metric.
        metric: String,
        /// What is wrong with it.
        why: String,
    },
}

fn clock_name(c: crate::runtime::ClockKind) -> String {
    serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_else(|| format!("{c:?}"))
}

/// A series: metric name, tag key, tag value.
type SeriesId = (String, Option<String>, Option<String>);

/// A series being added up.
enum Acc {
    Hist { metric: Metric, h: Histogram<u64>, growth: Option<f64> },
    Counter(u64),
    Rate { ok: u64, total: u64 },
}

/// Merges `runs` (each with the place it was read from, which names it in errors and in the
/// per-slice table) into one summary. `command_line` is what the merged summary says made it.
pub fn merge_summaries(runs: &[(String, RunSummary)], command_line: &str) -> Result<RunSummary, MergeError> {
    let Some((first_source, first)) = runs.first() else { return Err(MergeError::Empty) };
    let mut starts = Vec::with_capacity(runs.len());
    for (source, s) in runs {
        if s.summary_version != SUMMARY_VERSION {
            return Err(MergeError::Version { file: source.clone(), found: s.summary_version });
        }
        if s.scenario.name != first.scenario.name {
            return Err(MergeError::OtherScenario {
                file: source.clone(),
                found: s.scenario.name.clone(),
                expected: first.scenario.name.clone(),
                first: first_source.clone(),
            });
        }
        if s.clock != first.clock {
            return Err(MergeError::Clock {
                file: source.clone(),
                found: clock_name(s.clock),
                expected: clock_name(first.clock),
                first: first_source.clone(),
            });
        }
        let at = humantime::parse_rfc3339_weak(&s.run.started_at)
            .map_err(|_| MergeError::StartedAt { file: source.clone(), value: s.run.started_at.clone() })?;
        starts.push(at);
    }
    check_segments(runs)?;
    let earliest = starts.iter().copied().min().unwrap_or(SystemTime::UNIX_EPOCH);
    // On the virtual clock every run starts at its own zero: the runs are lined up on it.
    let skews: Vec<f64> = if first.clock == crate::runtime::ClockKind::Virtual {
        vec![0.0; runs.len()]
    } else {
        starts.iter().map(|t| t.duration_since(earliest).map_or(0.0, |d| d.as_secs_f64())).collect()
    };
    let earliest_text = runs
        .iter()
        .zip(&starts)
        .find(|(_, t)| **t == earliest)
        .map_or_else(|| first.run.started_at.clone(), |((_, s), _)| s.run.started_at.clone());

    let mut accounting = Accounting::default();
    for (_, s) in runs {
        add_accounting(&mut accounting, &s.accounting);
    }
    let (metrics, histograms) = merge_metrics(runs)?;
    let phases = merge_phases(runs, &skews);
    let faults = merge_faults(runs, &skews);
    let end_reason = [EndReason::Interrupted, EndReason::Aborted, EndReason::MaxDuration]
        .into_iter()
        .find(|e| runs.iter().any(|(_, s)| s.end_reason == *e))
        .unwrap_or(EndReason::Completed);
    let thresholds: Vec<ThresholdResult> =
        first.thresholds.iter().map(|t| rejudge(t, runs, &metrics, &histograms)).collect();
    let failures = match end_reason {
        EndReason::Completed | EndReason::MaxDuration => nothing_proven(&phases, &faults, &accounting),
        EndReason::Aborted | EndReason::Interrupted => Vec::new(),
    };
    let verdict = match end_reason {
        EndReason::Interrupted => Verdict::Interrupted,
        EndReason::Aborted => Verdict::Aborted,
        _ if thresholds.iter().any(|t| !t.passed) || !failures.is_empty() => Verdict::Failed,
        _ => Verdict::Passed,
    };
    let (timeline, samples_per_point) = merge_timelines(runs, &skews);
    let duration = runs.iter().zip(&skews).map(|((_, s), k)| k + s.duration_seconds).fold(0.0, f64::max);
    let wall = runs.iter().zip(&skews).map(|((_, s), k)| k + s.run.wall_seconds).fold(0.0, f64::max);
    let mut slowest: Vec<SessionRecord> = runs.iter().flat_map(|(_, s)| s.slowest_sessions.clone()).collect();
    slowest.sort_by(|a, b| b.max_latency_us.cmp(&a.max_latency_us).then_with(|| a.thread.cmp(&b.thread)));
    slowest.truncate(10);
    let mut cleanup_failures: Vec<String> = Vec::new();
    for (source, s) in runs {
        cleanup_failures.extend(s.cleanup_failures.iter().map(|c| format!("{source}: {c}")));
    }
    let slices = runs.iter().zip(&skews).map(|((source, s), skew)| slice_record(source, s, *skew)).collect();
    let sent_in_all = accounting.sent;
    Ok(RunSummary {
        summary_version: SUMMARY_VERSION,
        scenario: first.scenario.clone(),
        target: first.target.clone(),
        clock: first.clock,
        verdict,
        end_reason,
        abort_reason: runs.iter().find_map(|(_, s)| s.abort_reason.clone()),
        failures,
        first_send_error: runs.iter().find_map(|(_, s)| s.first_send_error.clone()),
        duration_seconds: duration,
        accounting,
        unrecovered_kills: runs.iter().map(|(_, s)| s.unrecovered_kills).sum(),
        behind: runs
            .iter()
            .zip(&skews)
            .filter_map(|((_, s), k)| {
                s.behind.clone().map(|mut b| {
                    b.first_at += k;
                    b
                })
            })
            .min_by(|a, b| a.first_at.total_cmp(&b.first_at)),
        cleanup_failures,
        files: runs
            .iter()
            .flat_map(|(source, s)| {
                let dir = std::path::Path::new(source).parent().map(std::path::Path::to_path_buf).unwrap_or_default();
                s.files.iter().map(move |f| dir.join(f).display().to_string())
            })
            .collect(),
        ownership_changes: merge_ownership(runs, &skews),
        thresholds,
        metrics,
        phases,
        faults,
        slowest_sessions: slowest,
        timeline,
        samples_per_point,
        comparison: None,
        run: RunInfo {
            engine_version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: earliest_text,
            wall_seconds: wall,
            command_line: command_line.to_owned(),
            host: None,
            segment: None,
        },
        slices,
        cost: merged_cost(runs, sent_in_all),
    })
}

/// The runs' usage added up and priced again (with the first run's prices), per 1,000 of all
/// the messages they sent; none when no run had an estimate.
fn merged_cost(runs: &[(String, RunSummary)], sent: u64) -> Option<crate::cost::CostEstimate> {
    let mut with = runs.iter().filter_map(|(_, s)| s.cost.as_ref());
    let first = with.next()?;
    let mut usage = first.usage.clone();
    for c in with {
        usage.absorb(&c.usage);
    }
    Some(crate::cost::estimate(&usage, &first.params, sent))
}

/// Slices of a segmented run merge only as a whole: every slice of one cut, each once, and no
/// run that is not a slice of it (a merge missing a slice would look like a whole run that sent
/// less).
fn check_segments(runs: &[(String, RunSummary)]) -> Result<(), MergeError> {
    let Some((_, cut)) = runs.iter().find_map(|(f, s)| s.run.segment.as_ref().map(|g| (f, g))) else { return Ok(()) };
    let count = |label: &str| label.split_once('/').and_then(|(_, n)| n.parse::<u32>().ok());
    let n = count(cut).unwrap_or(0);
    let mut seen: Vec<&str> = Vec::new();
    for (file, s) in runs {
        let bad = |why: String| MergeError::Segments { file: file.clone(), why };
        let Some(label) = s.run.segment.as_deref() else {
            return Err(bad(format!(
                "is a whole run, merged with slices of a run cut in {n}; merge the slices of one run only"
            )));
        };
        if count(label) != Some(n) {
            return Err(bad(format!("is slice {label}, merged with slices of a run cut in {n}")));
        }
        if seen.contains(&label) {
            return Err(bad(format!("is slice {label} a second time")));
        }
        seen.push(label);
    }
    let missing: Vec<String> = (1..=n).map(|i| format!("{i}/{n}")).filter(|l| !seen.contains(&l.as_str())).collect();
    if !missing.is_empty() {
        let (file, _) = &runs[0];
        return Err(MergeError::Segments {
            file: file.clone(),
            why: format!(
                "slice{} {} of this run {} missing; merge all {n} slices (a slice that failed can be run again alone with --segment)",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", "),
                if missing.len() == 1 { "is" } else { "are" }
            ),
        });
    }
    Ok(())
}

fn add_accounting(to: &mut Accounting, a: &Accounting) {
    // Destructured so that a new counter cannot be forgotten here.
    let Accounting {
        sent,
        replied,
        failed,
        lost,
        duplicated,
        out_of_order,
        interrupts,
        contradictory,
        interrupts_sent,
        claims_sent,
        claims_seen,
        dropped_arrivals,
        late_replies,
        target_errors,
        malformed_replies,
        unknown_replies,
        send_errors,
        unconfirmed,
    } = a;
    to.sent += sent;
    to.replied += replied;
    to.failed += failed;
    to.lost += lost;
    to.duplicated += duplicated;
    to.out_of_order += out_of_order;
    to.interrupts += interrupts;
    to.contradictory += contradictory;
    to.interrupts_sent += interrupts_sent;
    to.claims_sent += claims_sent;
    to.claims_seen += claims_seen;
    to.dropped_arrivals += dropped_arrivals;
    to.late_replies += late_replies;
    to.target_errors += target_errors;
    to.malformed_replies += malformed_replies;
    to.unknown_replies += unknown_replies;
    to.send_errors += send_errors;
    to.unconfirmed += unconfirmed;
}

/// Adds every series up: histograms exactly, counters and rates by their counts.
#[expect(clippy::type_complexity, reason = "a private pair of the summaries and the histograms they came from")]
fn merge_metrics(
    runs: &[(String, RunSummary)],
) -> Result<(Vec<MetricSummary>, HashMap<SeriesId, Histogram<u64>>), MergeError> {
    let mut acc: BTreeMap<SeriesId, Acc> = BTreeMap::new();
    for (source, s) in runs {
        for m in &s.metrics {
            let bad =
                |why: &str| MergeError::Metric { file: source.clone(), metric: m.name.clone(), why: why.to_owned() };
            let Some(metric) = Metric::from_name(&m.name) else {
                return Err(bad("is not one this herd knows; merge with the herd that wrote the summary"));
            };
            let id = (m.name.clone(), m.tag_key.clone(), m.tag_value.clone());
            match m.kind.as_str() {
                "counter" => {
                    if let Acc::Counter(n) = acc.entry(id).or_insert(Acc::Counter(0)) {
                        *n += m.count;
                    }
                }
                "rate" => {
                    let ok = (m.rate.unwrap_or(0.0) * m.count as f64).round() as u64;
                    if let Acc::Rate { ok: o, total } = acc.entry(id).or_insert(Acc::Rate { ok: 0, total: 0 }) {
                        *o += ok;
                        *total += m.count;
                    }
                }
                _ => {
                    let Some(mut h) = m.histogram.as_deref().and_then(decode_histogram) else {
                        return Err(bad(
                            "has no readable histogram (a summary rebuilt from a journal keeps none); merge the runs' own summary.json",
                        ));
                    };
                    // A decoded histogram is sized for its own values: the sum must grow to
                    // hold every run's.
                    h.auto(true);
                    match acc.entry(id) {
                        std::collections::btree_map::Entry::Vacant(v) => {
                            v.insert(Acc::Hist { metric, h, growth: m.growth });
                        }
                        std::collections::btree_map::Entry::Occupied(mut o) => {
                            if let Acc::Hist { h: total, growth, .. } = o.get_mut() {
                                total.add(&h).map_err(|e| bad(&format!("cannot be added: {e}")))?;
                                *growth = match (*growth, m.growth) {
                                    (Some(a), Some(b)) => Some(a.max(b)),
                                    (a, b) => a.or(b),
                                };
                            }
                        }
                    }
                }
            }
        }
    }
    let mut out = Vec::with_capacity(acc.len());
    let mut histograms = HashMap::new();
    for (id, a) in acc {
        let tag = (id.1.clone(), id.2.clone());
        match a {
            Acc::Counter(n) => out.push(counter_summary(&id.0, tag, n)),
            Acc::Rate { ok, total } => out.push(rate_summary(&id.0, tag, ok, total)),
            Acc::Hist { metric, h, growth } => {
                out.push(histogram_summary(metric, tag, &h, growth));
                histograms.insert(id, h);
            }
        }
    }
    sort_metrics(&mut out);
    Ok((out, histograms))
}

/// The series a rule's tag filters name, as the summary writes it.
fn series_of(metric: Metric, tags: &[TagFilter]) -> SeriesId {
    let value = |key: &str| tags.iter().find(|t| t.key == key).map(|t| t.value.clone());
    let (key, val) = match (value("outcome"), value("phase"), value("group")) {
        (Some(o), _, _) => (Some("outcome".to_owned()), Some(o)),
        (None, Some(p), Some(g)) => (Some("phase,group".to_owned()), Some(format!("{p},{g}"))),
        (None, Some(p), None) => (Some("phase".to_owned()), Some(p)),
        (None, None, Some(g)) => (Some("group".to_owned()), Some(g)),
        (None, None, None) => (None, None),
    };
    (metric.name().to_owned(), key, val)
}

/// Judges a threshold again on the merged data; a windowed rule fails when a run failed it.
fn rejudge(
    t: &ThresholdResult,
    runs: &[(String, RunSummary)],
    metrics: &[MetricSummary],
    histograms: &HashMap<SeriesId, Histogram<u64>>,
) -> ThresholdResult {
    let same = |r: &&ThresholdResult| r.key == t.key && r.rule == t.rule;
    let parsed = parse_threshold_key(&t.key)
        .and_then(|(metric, tags)| Ok((metric, tags, parse_threshold_rule(metric, &t.rule)?)));
    let Some((metric, tags, rule)) = parsed.ok().filter(|_| !t.windowed) else {
        // Judged at every sample in each run: the merged rule fails when any run failed it.
        let judged: Vec<&ThresholdResult> = runs.iter().filter_map(|(_, s)| s.thresholds.iter().find(same)).collect();
        let failed = judged.iter().find(|r| !r.passed);
        let pick = failed.or(judged.first()).copied().unwrap_or(t);
        return ThresholdResult { passed: failed.is_none() && !judged.is_empty() && pick.passed, ..pick.clone() };
    };
    let id = series_of(metric, &tags);
    let summary = metrics.iter().find(|m| m.name == id.0 && m.tag_key == id.1 && m.tag_value == id.2);
    let measured = match (metric.kind(), rule.aggregate) {
        (MetricKind::Counter, _) => Some(summary.map_or(0, |m| m.count) as f64),
        (MetricKind::Rate, _) => summary.and_then(|m| m.rate),
        (_, Aggregate::Growth) => summary.and_then(|m| m.growth),
        (_, Aggregate::Count) => Some(histograms.get(&id).map_or(0, Histogram::len) as f64),
        (_, agg) => histograms.get(&id).and_then(|h| histogram_statistic(h, agg)),
    };
    ThresholdResult {
        passed: measured.is_some_and(|m| rule.cmp.holds(m, rule.limit)),
        measured,
        measured_text: measured.map_or_else(|| "no data".to_owned(), |m| format_value(metric, Some(rule.aggregate), m)),
        ..t.clone()
    }
}

/// Phases by name, in the first run's order: counts added, started at the earliest start,
/// finished at the latest finish (unfinished while any run did not finish it).
fn merge_phases(runs: &[(String, RunSummary)], skews: &[f64]) -> Vec<PhaseRecord> {
    let mut out: Vec<PhaseRecord> = Vec::new();
    for ((_, s), skew) in runs.iter().zip(skews) {
        for p in &s.phases {
            let shifted = |t: Option<f64>| t.map(|t| t + skew);
            match out.iter_mut().find(|o| o.name == p.name) {
                None => {
                    let mut first = p.clone();
                    first.started = shifted(p.started);
                    first.finished = shifted(p.finished);
                    out.push(first);
                }
                Some(o) => {
                    o.sent += p.sent;
                    o.replied += p.replied;
                    o.failed += p.failed;
                    o.lost += p.lost;
                    o.send_errors += p.send_errors;
                    o.busy_drops += p.busy_drops;
                    o.started = match (o.started, shifted(p.started)) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    o.finished = o.finished.zip(shifted(p.finished)).map(|(a, b)| a.max(b));
                    merge_steps(&mut o.steps, &p.steps, *skew);
                }
            }
        }
    }
    out
}

/// A breaking point's steps, step by step: each slice ran its share of the step's rate, so the
/// rates add; counts add; the percentiles keep the larger (an upper bound); a step held only if
/// it held in every slice.
fn merge_steps(into: &mut Vec<StepRecord>, more: &[StepRecord], skew: f64) {
    for (i, b) in more.iter().enumerate() {
        let Some(a) = into.get_mut(i) else {
            let mut b = b.clone();
            b.started += skew;
            into.push(b);
            continue;
        };
        let (na, nb) = ((a.replied + a.failed + a.lost) as f64, (b.replied + b.failed + b.lost) as f64);
        a.success = match (a.success, b.success) {
            (Some(x), Some(y)) if na + nb > 0.0 => Some((x * na + y * nb) / (na + nb)),
            (x, y) => x.or(y),
        };
        a.rate += b.rate;
        a.started = a.started.min(b.started + skew);
        a.replied += b.replied;
        a.failed += b.failed;
        a.lost += b.lost;
        a.p50_us = a.p50_us.max(b.p50_us);
        a.p99_us = a.p99_us.max(b.p99_us);
        if a.held && !b.held {
            a.broke_on = b.broke_on.clone();
        }
        a.held &= b.held;
    }
}

/// Faults by name, listed once: the record of the run that carried it out (with the
/// containers and pairs of every run that struck with it), at the earliest time it struck.
fn merge_faults(runs: &[(String, RunSummary)], skews: &[f64]) -> Vec<FaultRecord> {
    let mut out: Vec<FaultRecord> = Vec::new();
    for ((_, s), skew) in runs.iter().zip(skews) {
        for f in &s.faults {
            let mut f = f.clone();
            f.at = f.at.map(|t| t + skew);
            match out.iter_mut().find(|o| o.name == f.name) {
                None => out.push(f),
                Some(o) if !o.struck() => {
                    // The record of the slice that carries the fault out says what happened,
                    // even when it struck nothing; another slice's only says whose it was.
                    if f.struck() || (elsewhere(o) && !elsewhere(&f)) {
                        *o = f;
                    }
                }
                Some(o) => {
                    if f.struck() {
                        o.at = o.at.zip(f.at).map(|(a, b)| a.min(b)).or(o.at);
                        for c in f.containers {
                            if !o.containers.contains(&c) {
                                o.containers.push(c);
                            }
                        }
                        for p in f.pairs {
                            if !o.pairs.contains(&p) {
                                o.pairs.push(p);
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// Whether a fault record is a slice's note that another slice carries the fault out.
fn elsewhere(f: &FaultRecord) -> bool {
    f.at.is_none() && f.detail.starts_with("carried out by slice ")
}

/// Ownership changes of every run on one clock, in time order; a change two runs both saw (they
/// watch one table) is kept once.
fn merge_ownership(runs: &[(String, RunSummary)], skews: &[f64]) -> Vec<OwnershipChange> {
    let mut all: Vec<OwnershipChange> = runs
        .iter()
        .zip(skews)
        .flat_map(|((_, s), k)| {
            s.ownership_changes.iter().map(move |c| {
                let mut c = c.clone();
                c.t += k;
                c
            })
        })
        .collect();
    all.sort_by(|a, b| a.t.total_cmp(&b.t));
    let mut owner: HashMap<String, Option<String>> = HashMap::new();
    all.retain(|c| {
        let seen = owner.get(&c.pair).is_some_and(|o| *o == c.to);
        owner.insert(c.pair.clone(), c.to.clone());
        !seen
    });
    all
}

/// The runs' timelines on one wall clock: each point moved by its run's start skew into the
/// interval of the coarsest timeline, and the points that land in one interval combined.
fn merge_timelines(runs: &[(String, RunSummary)], skews: &[f64]) -> (Vec<TimelinePoint>, u64) {
    let width = runs
        .iter()
        .filter_map(|(_, s)| match s.timeline.as_slice() {
            [] => None,
            [only] => Some(only.t),
            [a, b, ..] => Some(b.t - a.t),
        })
        .filter(|w| *w > 0.0)
        .fold(0.0, f64::max);
    if width <= 0.0 {
        return (Vec::new(), 1);
    }
    let mut slots: BTreeMap<u64, TimelinePoint> = BTreeMap::new();
    for ((_, s), skew) in runs.iter().zip(skews) {
        for p in &s.timeline {
            // A point covers the interval that ends at its `t`; it goes to the slot that holds
            // that end (a hair of tolerance keeps a point that ends exactly on a boundary there).
            let end = p.t + skew;
            let slot = ((end / width) - 1e-9).ceil().max(1.0) as u64;
            let mut point = p.clone();
            point.t = slot as f64 * width;
            slots.entry(slot).and_modify(|have| *have = combine_timeline_points(have, &point)).or_insert(point);
        }
    }
    let samples = runs.iter().map(|(_, s)| s.samples_per_point).max().unwrap_or(1);
    (slots.into_values().collect(), samples)
}

fn slice_record(source: &str, s: &RunSummary, skew: f64) -> SliceRecord {
    let latency = s.metrics.iter().find(|m| m.name == "message_latency" && m.tag_key.is_none());
    let ms = |v: Option<f64>| v.map(|us| us / 1e3);
    SliceRecord {
        source: source.to_owned(),
        segment: s.run.segment.clone(),
        host: s.run.host.clone(),
        started_at: s.run.started_at.clone(),
        start_skew_seconds: skew,
        duration_seconds: s.duration_seconds,
        sent: s.accounting.sent,
        replied: s.accounting.replied,
        lost: s.accounting.lost,
        achieved_rate: if s.duration_seconds > 0.0 { s.accounting.sent as f64 / s.duration_seconds } else { 0.0 },
        latency_p50_ms: ms(latency.and_then(|m| m.p50)),
        latency_p99_ms: ms(latency.and_then(|m| m.p99)),
        verdict: s.verdict,
    }
}
