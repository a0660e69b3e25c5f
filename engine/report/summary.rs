//! `summary.json`: everything a run measured, the verdicts, and the lossless histograms that
//! reports and later merges are rebuilt from.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::compare::Comparison;
use super::verdict::{ThresholdResult, evaluate, format_value};
use crate::metrics::{Metric, MetricKind, Recorder, Tag, encode_histogram, stats};
use crate::plan::Plan;
use crate::runtime::{
    Accounting, BehindRecord, ClockKind, EndReason, FaultRecord, OwnershipChange, PhaseRecord, RunResult,
    SessionRecord, TimelinePoint,
};

/// The version of the summary format; bumped on incompatible changes.
pub const SUMMARY_VERSION: u32 = 1;

/// The overall result of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every threshold held.
    Passed,
    /// A threshold failed.
    Failed,
    /// An `abort_on_fail` threshold stopped the run.
    Aborted,
    /// The user stopped the run.
    Interrupted,
}

impl Verdict {
    /// The verdict as written in summaries and reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Aborted => "aborted",
            Verdict::Interrupted => "interrupted",
        }
    }

    /// The process exit code for this verdict.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Passed => 0,
            Verdict::Failed | Verdict::Aborted => 1,
            Verdict::Interrupted => 130,
        }
    }
}

/// Which scenario ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioInfo {
    /// Scenario name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// The file it came from.
    pub file: String,
    /// The seed used.
    pub seed: u64,
    /// The parameters used (`vars.*` after `--set`), name and value, in file order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<(String, String)>,
}

impl ScenarioInfo {
    /// The scenario facts of a plan.
    pub fn of(plan: &Plan) -> Self {
        Self {
            name: plan.name.clone(),
            description: plan.description.clone(),
            file: plan.file.clone(),
            seed: plan.seed,
            vars: plan.vars.clone(),
        }
    }
}

/// How and when the run happened. Everything that changes between two identical runs lives
/// here, so the rest of the summary can be compared for determinism.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// herd's version.
    pub engine_version: String,
    /// Wall-clock start, RFC 3339.
    pub started_at: String,
    /// Wall-clock length in seconds.
    pub wall_seconds: f64,
    /// The command line that reproduces the run.
    pub command_line: String,
    /// The machine that ran it (its host name), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The slice of the plan it ran (`2/4`), when it ran one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
}

/// Summary statistics of one metric (optionally for one tag), in the seed's monitor shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetricSummary {
    /// Metric name.
    pub name: String,
    /// `phase` or `group`, when this is a tagged series.
    pub tag_key: Option<String>,
    /// The phase or group name.
    pub tag_value: Option<String>,
    /// `trend`, `gauge`, `counter` or `rate`.
    pub kind: String,
    /// `duration` (µs), `bytes`, `percent` (hundredths) or `count`.
    pub unit: String,
    /// Number of values, or the counter's total.
    pub count: u64,
    /// Smallest value (recording units).
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Mean.
    pub avg: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// 99.9th percentile.
    pub p999: Option<f64>,
    /// Success fraction, for rate metrics.
    pub rate: Option<f64>,
    /// Largest first-to-last rise over the gauge's series.
    pub growth: Option<f64>,
    /// The same figures formatted for people.
    pub display: DisplayStats,
    /// The histogram in HdrHistogram V2 format, base64.
    pub histogram: Option<String>,
}

/// Formatted statistics.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DisplayStats {
    /// Formatted minimum.
    pub min: String,
    /// Formatted maximum.
    pub max: String,
    /// Formatted mean.
    pub avg: String,
    /// Formatted median.
    pub p50: String,
    /// Formatted 90th percentile.
    pub p90: String,
    /// Formatted 99th percentile.
    pub p99: String,
}

/// Everything `summary.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    /// Format version.
    pub summary_version: u32,
    /// The scenario.
    pub scenario: ScenarioInfo,
    /// The target's kind and parameters.
    pub target: serde_json::Value,
    /// The clock that drove the run.
    pub clock: ClockKind,
    /// The overall verdict.
    pub verdict: Verdict,
    /// Why the run ended.
    pub end_reason: EndReason,
    /// The threshold that aborted the run.
    pub abort_reason: Option<String>,
    /// Why the run proved nothing, when it did not: a phase that sent nothing, a fault that
    /// struck nothing. Each makes the verdict `failed` (unless the phase or fault says
    /// `allow_empty = true`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// The first message herd could not send, when one could not be sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_send_error: Option<String>,
    /// Length of the run on its own clock, seconds.
    pub duration_seconds: f64,
    /// Message accounting.
    pub accounting: Accounting,
    /// Kills whose project+user never answered successfully afterwards.
    pub unrecovered_kills: u64,
    /// When and how far the generator fell behind its schedule, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behind: Option<BehindRecord>,
    /// What the target could not release after the run (queues, tables, processes), by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cleanup_failures: Vec<String>,
    /// Files the target wrote, such as each local worker's log (`containers/<id>.log`),
    /// relative to the summary's folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Every change of a project+user's owner seen in the ownership table, in time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ownership_changes: Vec<OwnershipChange>,
    /// Threshold verdicts, in file order.
    pub thresholds: Vec<ThresholdResult>,
    /// Every metric with data.
    pub metrics: Vec<MetricSummary>,
    /// Phases.
    pub phases: Vec<PhaseRecord>,
    /// Faults.
    pub faults: Vec<FaultRecord>,
    /// The ten sessions with the largest latency.
    pub slowest_sessions: Vec<SessionRecord>,
    /// One point per sample interval, or per `samples_per_point` intervals: a run with more
    /// samples than 2,048 keeps its timeline in bounded memory by merging neighbouring points
    /// (counts add up; gauges, latency and lag percentiles keep the largest; the journal keeps
    /// every sample).
    pub timeline: Vec<TimelinePoint>,
    /// Sample intervals per timeline point (1 unless the timeline was compacted).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub samples_per_point: u64,
    /// The comparison with a baseline run, when one was given.
    #[serde(default)]
    pub comparison: Option<Comparison>,
    /// Wall-clock facts that differ between identical runs.
    pub run: RunInfo,
    /// The runs a merged summary was made from (`herd merge`), one per slice, in the order
    /// given; empty for a single run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slices: Vec<SliceRecord>,
    /// What the run cost at list prices, item by item, measured or modelled; none when the
    /// target counted nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::cost::CostEstimate>,
}

/// One of the runs a merged summary was made from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SliceRecord {
    /// Where its summary was read from.
    pub source: String,
    /// The slice of the plan it ran (`2/4`), when it ran one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// The machine it ran on, when its summary says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Its wall-clock start, RFC 3339.
    pub started_at: String,
    /// How many seconds after the earliest run it started.
    pub start_skew_seconds: f64,
    /// Length of its run on its clock, seconds.
    pub duration_seconds: f64,
    /// Messages it sent.
    pub sent: u64,
    /// Messages answered successfully.
    pub replied: u64,
    /// Messages lost.
    pub lost: u64,
    /// Messages sent per second of its run.
    pub achieved_rate: f64,
    /// Its median `message_latency`, milliseconds.
    pub latency_p50_ms: Option<f64>,
    /// Its 99th percentile `message_latency`, milliseconds.
    pub latency_p99_ms: Option<f64>,
    /// Its own verdict.
    pub verdict: Verdict,
}

fn kind_name(k: MetricKind) -> &'static str {
    match k {
        MetricKind::Trend => "trend",
        MetricKind::Gauge => "gauge",
        MetricKind::Counter => "counter",
        MetricKind::Rate => "rate",
    }
}

fn unit_name(m: Metric) -> &'static str {
    match m.unit() {
        crate::metrics::Unit::Duration => "duration",
        crate::metrics::Unit::Bytes => "bytes",
        crate::metrics::Unit::Percent => "percent",
        crate::metrics::Unit::Count => "count",
    }
}

fn tag_parts(plan: &Plan, tag: Option<Tag>) -> (Option<String>, Option<String>) {
    match tag {
        None => (None, None),
        Some(Tag::Phase(p)) => (Some("phase".into()), plan.phases.get(p).map(|p| p.name.clone())),
        Some(Tag::Group(g)) => (Some("group".into()), plan.groups.get(g).map(|g| g.name.clone())),
        Some(Tag::Outcome(o)) => (Some("outcome".into()), Some(o.name().to_owned())),
        Some(Tag::Unmeasured) => (None, None),
        Some(Tag::PhaseGroup(p, g)) => (
            Some("phase,group".into()),
            plan.phases.get(p).zip(plan.groups.get(g)).map(|(p, g)| format!("{},{}", p.name, g.name)),
        ),
    }
}

impl MetricSummary {
    /// A summary with only a count, for counters and rates.
    fn counted(name: &str, tag: (Option<String>, Option<String>), kind: &str, count: u64) -> Self {
        Self {
            name: name.to_owned(),
            tag_key: tag.0,
            tag_value: tag.1,
            kind: kind.to_owned(),
            unit: "count".to_owned(),
            count,
            min: None,
            max: None,
            avg: None,
            p50: None,
            p90: None,
            p99: None,
            p999: None,
            rate: None,
            growth: None,
            display: DisplayStats::default(),
            histogram: None,
        }
    }
}

/// The summary of one distribution (a trend or a gauge) and its lossless histogram.
pub(crate) fn histogram_summary(
    metric: Metric,
    tag: (Option<String>, Option<String>),
    h: &hdrhistogram::Histogram<u64>,
    growth: Option<f64>,
) -> MetricSummary {
    let s = stats(h);
    let f = |v: f64| format_value(metric, None, v);
    MetricSummary {
        name: metric.name().to_owned(),
        tag_key: tag.0,
        tag_value: tag.1,
        kind: kind_name(metric.kind()).to_owned(),
        unit: unit_name(metric).to_owned(),
        count: s.count,
        min: Some(s.min as f64),
        max: Some(s.max as f64),
        avg: Some(s.avg),
        p50: Some(s.p50 as f64),
        p90: Some(s.p90 as f64),
        p99: Some(s.p99 as f64),
        p999: Some(s.p999 as f64),
        rate: None,
        growth,
        display: DisplayStats {
            min: f(s.min as f64),
            max: f(s.max as f64),
            avg: f(s.avg),
            p50: f(s.p50 as f64),
            p90: f(s.p90 as f64),
            p99: f(s.p99 as f64),
        },
        histogram: Some(encode_histogram(h)),
    }
}

/// The summary of a counter.
pub(crate) fn counter_summary(name: &str, tag: (Option<String>, Option<String>), total: u64) -> MetricSummary {
    MetricSummary::counted(name, tag, "counter", total)
}

/// The summary of a rate: `ok` of `total` succeeded.
pub(crate) fn rate_summary(name: &str, tag: (Option<String>, Option<String>), ok: u64, total: u64) -> MetricSummary {
    let mut m = MetricSummary::counted(name, tag, "rate", total);
    m.rate = (total > 0).then(|| ok as f64 / total as f64);
    m
}

/// Catalogue order, then the untagged series first: the order people read them in.
pub(crate) fn sort_metrics(out: &mut [MetricSummary]) {
    out.sort_by_key(|m| {
        let order = Metric::ALL.iter().position(|x| x.name() == m.name).unwrap_or(usize::MAX);
        (order, m.tag_key.clone(), m.tag_value.clone())
    });
}

fn metric_summaries(plan: &Plan, rec: &Recorder) -> Vec<MetricSummary> {
    let mut out = Vec::new();
    for (key, h) in rec.histograms() {
        let growth = if key.metric.kind() == MetricKind::Gauge {
            rec.tagged_growth(key.metric, key.tag).map(|(g, _)| g as f64)
        } else {
            None
        };
        out.push(histogram_summary(key.metric, tag_parts(plan, key.tag), h, growth));
    }
    for (key, total) in rec.counters() {
        out.push(counter_summary(key.metric.name(), tag_parts(plan, key.tag), *total));
    }
    for (key, (ok, total)) in rec.rates() {
        out.push(rate_summary(key.metric.name(), tag_parts(plan, key.tag), *ok, *total));
    }
    sort_metrics(&mut out);
    out
}

impl RunSummary {
    /// Why the run ended, in one sentence for people: every report and the terminal say it.
    pub fn end_text(&self) -> String {
        let at = crate::plan::format_duration(std::time::Duration::from_secs_f64(self.duration_seconds.max(0.0)));
        match (self.end_reason, &self.abort_reason) {
            (EndReason::Completed, _) => format!("every phase finished, after {at}"),
            (EndReason::MaxDuration, _) => format!("max_duration was reached at {at}"),
            (EndReason::Aborted, Some(reason)) => format!("aborted: {reason}"),
            (EndReason::Aborted, None) => format!("aborted by an abort_on_fail threshold at {at}"),
            (EndReason::Interrupted, Some(reason)) => format!("interrupted: {reason}"),
            (EndReason::Interrupted, None) => format!("interrupted (Ctrl-C, SIGTERM or SIGHUP) at {at}"),
        }
    }

    /// For each breaking-point phase, one sentence: the highest rate whose step held, and what
    /// broke the next one.
    pub fn breaking_points(&self) -> Vec<String> {
        self.phases
            .iter()
            .filter(|p| !p.steps.is_empty())
            .map(|p| {
                let held = p.steps.iter().take_while(|s| s.held).last();
                let broke = p.steps.iter().find(|s| !s.held);
                let rate = |r: f64| format!("{}/s", (r * 1000.0).round() / 1000.0);
                match (held, broke) {
                    (Some(h), Some(b)) => format!(
                        "phase `{}` held {} and broke at {} ({})",
                        p.name,
                        rate(h.rate),
                        rate(b.rate),
                        b.broke_on.as_deref().unwrap_or("a rule failed")
                    ),
                    (None, Some(b)) => format!(
                        "phase `{}` broke at its first step, {} ({})",
                        p.name,
                        rate(b.rate),
                        b.broke_on.as_deref().unwrap_or("a rule failed")
                    ),
                    (Some(h), None) => {
                        format!("phase `{}` held every step up to {}: no breaking point below it", p.name, rate(h.rate))
                    }
                    (None, None) => format!("phase `{}` judged no step", p.name),
                }
            })
            .collect()
    }

    /// The sentences a reader must see before trusting the figures.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(b) = &self.behind {
            out.push(format!("{} (first at {:.0}s)", b.message, b.first_at));
        }
        if let Some(e) = &self.first_send_error {
            out.push(format!(
                "{} message{} could not be sent (counted in send_errors, not lost); the first: {e}",
                self.accounting.send_errors,
                if self.accounting.send_errors == 1 { "" } else { "s" }
            ));
        }
        for p in self.phases.iter().filter(|p| p.busy_drops > 0) {
            out.push(format!(
                "phase `{}`: {} arrival{} found every session waiting for a reply or resting (think_time) and {} dropped; a rate needs about rate x (latency + think time) sessions",
                p.name,
                p.busy_drops,
                if p.busy_drops == 1 { "" } else { "s" },
                if p.busy_drops == 1 { "was" } else { "were" },
            ));
        }
        for left in &self.cleanup_failures {
            out.push(format!("clean-up: {left}"));
        }
        out
    }
}

/// Why a run that ran to its end proved nothing: phases that sent nothing to the system, and
/// faults that struck nothing, unless they say `allow_empty`.
pub fn nothing_proven(phases: &[PhaseRecord], faults: &[FaultRecord], acct: &Accounting) -> Vec<String> {
    let mut out = Vec::new();
    for p in phases.iter().filter(|p| !p.allow_empty && p.sent == 0) {
        out.push(match (p.started, p.send_errors) {
            (None, _) => format!("phase `{}` never started, so it sent nothing", p.name),
            (Some(_), 0) => format!("phase `{}` sent no message", p.name),
            (Some(_), n) => format!("phase `{}` sent nothing: all {n} of its sends failed", p.name),
        });
    }
    if !out.is_empty() && acct.sent == 0 {
        out.insert(0, "the run sent no message to the system".to_owned());
    }
    for f in faults.iter().filter(|f| !f.allow_empty && !f.struck()) {
        out.push(match f.at {
            None => format!("fault `{}` never struck: the run ended first", f.name),
            Some(at) => format!("fault `{}` at {at:.1}s struck nothing: {}", f.name, f.detail),
        });
    }
    if !out.is_empty() {
        out.push("set `allow_empty = true` on a phase or fault that may rightly do nothing".to_owned());
    }
    out
}

/// Builds the summary of a finished run.
/// The `n` sessions with the largest latency, largest first (ties by thread id), found without
/// sorting every session.
fn slowest_sessions(plan: &Plan, counters: &[crate::runtime::SessionCounters], n: usize) -> Vec<SessionRecord> {
    let order = |a: &usize, b: &usize| {
        counters[*b]
            .max_latency_us
            .cmp(&counters[*a].max_latency_us)
            .then_with(|| plan.sessions[*a].thread.cmp(&plan.sessions[*b].thread))
    };
    let mut idx: Vec<usize> = (0..counters.len().min(plan.sessions.len())).collect();
    if idx.len() > n {
        idx.select_nth_unstable_by(n, order);
        idx.truncate(n);
    }
    idx.sort_by(order);
    idx.into_iter().map(|i| counters[i].record(&plan.sessions[i])).collect()
}

fn one() -> u64 {
    1
}

fn is_one(n: &u64) -> bool {
    *n == 1
}

pub fn summarize(plan: &Plan, result: &RunResult, clock: ClockKind, run: RunInfo) -> RunSummary {
    let thresholds = evaluate(plan, &result.recorder);
    let failures = match result.end {
        // A slice may rightly send nothing in a phase (its pairs are not in it, or its share of
        // a short phase is empty): whether the run proved something is judged on the merge.
        EndReason::Completed | EndReason::MaxDuration if plan.segment.is_some() => {
            let phases: Vec<PhaseRecord> =
                result.phases.iter().cloned().map(|p| PhaseRecord { allow_empty: true, ..p }).collect();
            nothing_proven(&phases, &result.faults, &result.accounting)
        }
        EndReason::Completed | EndReason::MaxDuration => {
            nothing_proven(&result.phases, &result.faults, &result.accounting)
        }
        EndReason::Aborted | EndReason::Interrupted => Vec::new(),
    };
    let verdict = match result.end {
        EndReason::Interrupted => Verdict::Interrupted,
        EndReason::Aborted => Verdict::Aborted,
        _ if thresholds.iter().any(|t| !t.passed) || !failures.is_empty() => Verdict::Failed,
        _ => Verdict::Passed,
    };
    let slowest = slowest_sessions(plan, &result.sessions, 10);
    RunSummary {
        summary_version: SUMMARY_VERSION,
        scenario: ScenarioInfo::of(plan),
        target: plan.target_json(),
        clock,
        verdict,
        end_reason: result.end,
        abort_reason: result.abort_reason.clone(),
        failures,
        first_send_error: result.first_send_error.clone(),
        duration_seconds: result.duration.as_secs_f64(),
        accounting: result.accounting.clone(),
        unrecovered_kills: result.unrecovered,
        behind: result.behind.clone(),
        cleanup_failures: result.cleanup_failures.clone(),
        files: result.files.iter().map(|f| f.to_string_lossy().into_owned()).collect(),
        ownership_changes: result.ownership_changes.clone(),
        thresholds,
        metrics: metric_summaries(plan, &result.recorder),
        phases: result.phases.clone(),
        faults: result.faults.clone(),
        slowest_sessions: slowest,
        timeline: result.timeline.clone(),
        samples_per_point: result.samples_per_point,
        comparison: None,
        run,
        slices: Vec::new(),
        cost: cost_of(plan, result),
    }
}

/// The run's cost estimate. A simulated slice runs the whole model, so only slice 1 carries
/// the system's (and herd's) usage: the merge then counts it once.
fn cost_of(plan: &Plan, result: &RunResult) -> Option<crate::cost::CostEstimate> {
    if plan.segment.as_ref().is_some_and(|s| s.whole_model && s.index != 1) {
        return None;
    }
    let mut usage = result.usage.clone();
    // The system's workflow, where the scenario says how many transitions a message makes.
    usage.add(
        crate::cost::UsageKind::StepFunctionsTransitions,
        result.accounting.sent as f64 * plan.cost.step_functions_transitions_per_message,
        crate::cost::Basis::Modelled,
        "system",
    );
    if usage.items.is_empty() {
        return None;
    }
    Some(crate::cost::estimate(&usage, &plan.cost, result.accounting.sent))
}

/// Writes `summary.json` atomically (temporary file, then rename) so a crash mid-write never
/// leaves a truncated summary behind.
pub fn write_summary(dir: &Path, summary: &RunSummary) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("summary.json");
    let tmp = dir.join(".summary.json.tmp");
    let written = (|| {
        // Streamed rather than built as one string first: a day-long run's summary is written
        // without holding a second copy of it.
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        serde_json::to_writer_pretty(&mut f, summary).map_err(std::io::Error::other)?;
        f.write_all(b"\n")?;
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        // A full disk must not leave a half-written temporary file behind.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(path)
}

/// Reads a `summary.json`.
pub fn read_summary(path: &Path) -> Result<RunSummary, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not a herd summary: {e}", path.display()))
}
