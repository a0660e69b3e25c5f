//! The report model: one serialisable structure, built from a summary alone, that feeds every
//! template. Because nothing here reads the clock or the file system, re-rendering a saved
//! summary gives byte-identical reports.

use std::time::Duration;

use serde::Serialize;

use super::charts::{
    BLUE, Backdrop, Chart, GREEN, ORANGE, PURPLE, Series, Style, VERMILION, YFormat, rate_chart, spectrum_chart,
    timeline_chart,
};
use super::compare::Comparison;
use super::summary::RunSummary;
use crate::metrics::decode_histogram;
use crate::plan::format_duration;
use crate::runtime::Accounting;

/// Everything a report template can show.
#[derive(Debug, Clone, Serialize)]
pub struct ReportData {
    /// Scenario name.
    pub name: String,
    /// Scenario description.
    pub description: String,
    /// The scenario file.
    pub file: String,
    /// Seed.
    pub seed: u64,
    /// The parameters used, `name = value`.
    pub vars: Vec<String>,
    /// `passed`, `failed`, `aborted` or `interrupted`.
    pub verdict: String,
    /// The verdict in capitals, for headings.
    pub verdict_label: String,
    /// Target kind.
    pub target: String,
    /// herd's version.
    pub engine_version: String,
    /// Wall-clock start.
    pub started_at: String,
    /// Length of the run on its clock, formatted.
    pub duration: String,
    /// Length of the run on its clock, in seconds.
    pub duration_seconds: f64,
    /// `virtual` or `real`.
    pub clock: String,
    /// Wall time the run took, formatted.
    pub wall: String,
    /// The command that reproduces the run.
    pub command_line: String,
    /// Why the run ended, in one sentence (the abort or interruption reason included).
    pub end_reason: String,
    /// The threshold that aborted the run.
    pub abort_reason: Option<String>,
    /// Why the run proved nothing (a phase that sent nothing, a fault that struck nothing).
    pub failures: Vec<String>,
    /// What a reader must know before trusting the figures: the generator fell behind its
    /// schedule, the clean-up left something behind.
    pub warnings: Vec<String>,
    /// Files beside the summary (worker logs), relative paths.
    pub files: Vec<String>,
    /// Ownership changes: (time, pair, from, to) for people.
    pub ownership_changes: Vec<(String, String, String, String)>,
    /// Threshold rows, failures first.
    pub thresholds: Vec<ThresholdRow>,
    /// How many thresholds failed.
    pub thresholds_failed: usize,
    /// Message accounting.
    pub accounting: Accounting,
    /// Kills never recovered from.
    pub unrecovered_kills: u64,
    /// Statistics rows in the seed's monitor shape.
    pub stats: Vec<StatsRow>,
    /// Phases.
    pub phases: Vec<PhaseRow>,
    /// The runs a merged summary was made from (`herd merge`), one row each; empty otherwise.
    pub slices: Vec<SliceRow>,
    /// What the run cost at list prices, when the target counted its usage.
    pub cost: Option<CostView>,
    /// The ten slowest sessions.
    pub slowest_sessions: Vec<SessionRow>,
    /// Faults in time order.
    pub faults: Vec<FaultRow>,
    /// Timeline charts.
    pub charts: Vec<Chart>,
    /// Said under the charts when each timeline point covers several samples.
    pub timeline_note: Option<String>,
    /// Breaking-point phases: the sentence, the steps, and the charts against the rate.
    pub breaking_points: Vec<BreakingPointRow>,
    /// Percentile spectra of the latency metrics.
    pub spectra: Vec<Chart>,
    /// The comparison with a baseline, when there is one.
    pub comparison: Option<Comparison>,
}

/// One threshold rule.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdRow {
    /// Position in the scenario file.
    pub index: usize,
    /// Metric key.
    pub key: String,
    /// Rule.
    pub rule: String,
    /// Measured value, formatted.
    pub measured: String,
    /// Whether it held.
    pub passed: bool,
    /// Whether a failure stops the run.
    pub abort_on_fail: bool,
}

/// One metric's statistics.
#[derive(Debug, Clone, Serialize)]
pub struct StatsRow {
    /// Metric name, with its tag when it has one.
    pub metric: String,
    /// Count.
    pub count: u64,
    /// Formatted statistics.
    pub min: String,
    /// Largest.
    pub max: String,
    /// Mean.
    pub avg: String,
    /// Median.
    pub p50: String,
    /// 90th percentile.
    pub p90: String,
    /// 99th percentile.
    pub p99: String,
}

/// One phase.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseRow {
    /// Name.
    pub name: String,
    /// Executor.
    pub executor: String,
    /// Start, formatted.
    pub started: String,
    /// End, formatted.
    pub finished: String,
    /// Sent.
    pub sent: u64,
    /// Replied.
    pub replied: u64,
    /// Failed.
    pub failed: u64,
    /// Lost.
    pub lost: u64,
    /// Median latency of the phase.
    pub p50: String,
    /// 99th percentile latency of the phase.
    pub p99: String,
}

/// The cost estimate, formatted.
#[derive(Debug, Clone, Serialize)]
pub struct CostView {
    /// US dollars in all, e.g. `$0.0123`.
    pub total: String,
    /// Per 1,000 messages sent, or `-`.
    pub per_1000: String,
    /// The system's side alone, per 1,000 messages, or `-`.
    pub system_per_1000: String,
    /// Where and when the prices were read, and from where.
    pub prices: String,
    /// Whether any line is modelled rather than measured.
    pub any_modelled: bool,
    /// One row per item.
    pub lines: Vec<CostRow>,
}

/// One item of the estimate.
#[derive(Debug, Clone, Serialize)]
pub struct CostRow {
    /// The item.
    pub item: String,
    /// `herd` or `system`.
    pub by: String,
    /// How much, with its unit.
    pub quantity: String,
    /// The list price, e.g. `$0.40 per 1,000,000 requests`.
    pub price: String,
    /// US dollars.
    pub amount: String,
    /// `measured` or `modelled`.
    pub basis: String,
}

/// Dollars with enough digits for small amounts.
fn dollars(v: f64) -> String {
    if v >= 100.0 {
        format!("${v:.2}")
    } else if v >= 0.01 {
        format!("${v:.4}")
    } else {
        format!("${v:.6}")
    }
}

/// The estimate for the report.
fn cost_view(c: &crate::cost::CostEstimate) -> CostView {
    let per = |p: f64| match p {
        p if p >= 1e6 => "1,000,000",
        p if p >= 1e3 => "1,000",
        _ => "1",
    };
    CostView {
        total: dollars(c.total),
        per_1000: c.per_1000_messages.map_or_else(|| "-".to_owned(), dollars),
        system_per_1000: c.system_per_1000_messages.map_or_else(|| "-".to_owned(), dollars),
        prices: format!("{} list prices as of {} ({})", c.region, c.prices_as_of, c.prices_source),
        any_modelled: c.lines.iter().any(|l| l.basis == crate::cost::Basis::Modelled),
        lines: c
            .lines
            .iter()
            .map(|l| CostRow {
                item: l.item.clone(),
                by: l.by.clone(),
                quantity: if l.quantity.fract() == 0.0 {
                    format!("{} {}", l.quantity, l.unit)
                } else {
                    format!("{:.4} {}", l.quantity, l.unit)
                },
                price: if l.per > 1.0 {
                    format!("${} per {} {}", l.price, per(l.per), l.unit)
                } else {
                    format!("${} per {}", l.price, l.unit.trim_end_matches('s'))
                },
                amount: dollars(l.amount),
                basis: match l.basis {
                    crate::cost::Basis::Measured => "measured",
                    crate::cost::Basis::Modelled => "modelled",
                }
                .to_owned(),
            })
            .collect(),
    }
}

/// One of the runs a merged summary was made from.
#[derive(Debug, Clone, Serialize)]
pub struct SliceRow {
    /// Its segment (`2/4`) or, when it ran none, its position in the merge (`#2`).
    pub slice: String,
    /// The machine it ran on, or an empty string.
    pub host: String,
    /// Where its summary was read from.
    pub source: String,
    /// How long after the earliest run it started, formatted (`+0.012s`).
    pub start_skew: String,
    /// Messages it sent.
    pub sent: u64,
    /// Messages answered successfully.
    pub replied: u64,
    /// Messages lost.
    pub lost: u64,
    /// Messages sent per second, formatted.
    pub rate: String,
    /// Its median latency, formatted.
    pub p50: String,
    /// Its 99th percentile latency, formatted.
    pub p99: String,
    /// Its own verdict.
    pub verdict: String,
}

/// One session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionRow {
    /// Thread id.
    pub thread: String,
    /// Project+user.
    pub pair: String,
    /// Sent.
    pub sent: u64,
    /// Lost.
    pub lost: u64,
    /// Largest latency.
    pub max: String,
    /// Mean latency.
    pub avg: String,
}

/// One fault.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRow {
    /// When, formatted, or `not reached`.
    pub at: String,
    /// Label.
    pub name: String,
    /// Action.
    pub action: String,
    /// What happened.
    pub detail: String,
}

fn secs(s: f64) -> String {
    format_duration(Duration::from_secs_f64(s.max(0.0)))
}

fn micros(us: u64) -> String {
    format_duration(Duration::from_micros(us))
}

impl ReportData {
    /// Builds the report model of a summary.
    pub fn from_summary(s: &RunSummary) -> Self {
        let mut thresholds: Vec<ThresholdRow> = s
            .thresholds
            .iter()
            .enumerate()
            .map(|(index, t)| ThresholdRow {
                index,
                key: t.key.clone(),
                rule: t.rule.clone(),
                measured: t.measured_text.clone(),
                passed: t.passed,
                abort_on_fail: t.abort_on_fail,
            })
            .collect();
        // Failures first; otherwise keep the file's order.
        thresholds.sort_by_key(|t| t.passed);
        let stats = s
            .metrics
            .iter()
            .filter(|m| m.histogram.is_some() && m.count > 0 && m.tag_key.is_none())
            .map(|m| StatsRow {
                metric: m.name.clone(),
                count: m.count,
                min: m.display.min.clone(),
                max: m.display.max.clone(),
                avg: m.display.avg.clone(),
                p50: m.display.p50.clone(),
                p90: m.display.p90.clone(),
                p99: m.display.p99.clone(),
            })
            .collect();
        let phase_latency = |name: &str| {
            s.metrics.iter().find(|m| {
                m.name == "message_latency"
                    && m.tag_key.as_deref() == Some("phase")
                    && m.tag_value.as_deref() == Some(name)
            })
        };
        let phases = s
            .phases
            .iter()
            .map(|p| {
                let lat = phase_latency(&p.name);
                PhaseRow {
                    name: p.name.clone(),
                    executor: p.executor.clone(),
                    started: p.started.map_or_else(|| "not started".into(), secs),
                    finished: p.finished.map_or_else(|| "not finished".into(), secs),
                    sent: p.sent,
                    replied: p.replied,
                    failed: p.failed,
                    lost: p.lost,
                    p50: lat.map_or_else(|| "-".into(), |m| m.display.p50.clone()),
                    p99: lat.map_or_else(|| "-".into(), |m| m.display.p99.clone()),
                }
            })
            .collect();
        let slowest_sessions = s
            .slowest_sessions
            .iter()
            .filter(|r| r.answered > 0 || r.lost > 0)
            .map(|r| SessionRow {
                thread: r.thread.clone(),
                pair: r.pair.clone(),
                sent: r.sent,
                lost: r.lost,
                max: micros(r.max_latency_us),
                avg: r.total_latency_us.checked_div(r.answered).map_or_else(|| "-".into(), micros),
            })
            .collect();
        let mut faults: Vec<FaultRow> = s
            .faults
            .iter()
            .map(|f| FaultRow {
                at: f.at.map_or_else(|| "not reached".into(), secs),
                name: f.name.clone(),
                action: f.action.clone(),
                detail: f.detail.clone(),
            })
            .collect();
        let order = |name: &str| s.faults.iter().find(|f| f.name == name).and_then(|f| f.at).unwrap_or(f64::MAX);
        faults.sort_by(|a, b| order(&a.name).total_cmp(&order(&b.name)));
        Self {
            name: s.scenario.name.clone(),
            description: s.scenario.description.clone(),
            file: s.scenario.file.clone(),
            seed: s.scenario.seed,
            vars: s.scenario.vars.iter().map(|(k, v)| format!("{k} = {v}")).collect(),
            verdict: s.verdict.name().to_owned(),
            verdict_label: s.verdict.name().to_uppercase(),
            target: s.target.get("kind").and_then(|k| k.as_str()).unwrap_or("unknown").to_owned(),
            engine_version: s.run.engine_version.clone(),
            started_at: s.run.started_at.clone(),
            duration: secs(s.duration_seconds),
            duration_seconds: s.duration_seconds,
            clock: match s.clock {
                crate::runtime::ClockKind::Virtual => "virtual".into(),
                crate::runtime::ClockKind::Real => "real".into(),
            },
            wall: format!("{:.2}s", s.run.wall_seconds),
            command_line: s.run.command_line.clone(),
            end_reason: s.end_text(),
            abort_reason: s.abort_reason.clone(),
            failures: s.failures.clone(),
            warnings: s.warnings(),
            files: s.files.clone(),
            ownership_changes: s
                .ownership_changes
                .iter()
                .map(|c| {
                    let who = |o: &Option<String>| o.clone().unwrap_or_else(|| "none".into());
                    (secs(c.t), c.pair.clone(), who(&c.from), who(&c.to))
                })
                .collect(),
            thresholds_failed: thresholds.iter().filter(|t| !t.passed).count(),
            thresholds,
            accounting: s.accounting.clone(),
            unrecovered_kills: s.unrecovered_kills,
            stats,
            phases,
            slices: s
                .slices
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    let ms = |v: Option<f64>| {
                        v.map_or_else(
                            || "-".to_owned(),
                            |m| format_duration(Duration::from_micros((m * 1e3).round() as u64)),
                        )
                    };
                    SliceRow {
                        slice: x.segment.clone().unwrap_or_else(|| format!("#{}", i + 1)),
                        host: x.host.clone().unwrap_or_default(),
                        source: x.source.clone(),
                        start_skew: format!("+{:.3}s", x.start_skew_seconds),
                        sent: x.sent,
                        replied: x.replied,
                        lost: x.lost,
                        rate: format!("{:.1}/s", x.achieved_rate),
                        p50: ms(x.latency_p50_ms),
                        p99: ms(x.latency_p99_ms),
                        verdict: x.verdict.name().to_owned(),
                    }
                })
                .collect(),
            cost: s.cost.as_ref().map(cost_view),
            slowest_sessions,
            faults,
            charts: timeline_charts(s),
            timeline_note: (s.samples_per_point > 1).then(|| {
                format!(
                    "The run took more samples than a timeline keeps, so each point covers {} of them: counts add up, \
                     latency percentiles and gauges show the largest of the samples (journal.jsonl keeps every one).",
                    s.samples_per_point
                )
            }),
            breaking_points: breaking_point_rows(s),
            spectra: spectra(s),
            comparison: s.comparison.clone(),
        }
    }
}

/// A breaking-point phase for reports.
#[derive(Debug, Clone, Serialize)]
pub struct BreakingPointRow {
    /// The phase.
    pub phase: String,
    /// What it found, in one sentence.
    pub verdict: String,
    /// One row per step: rate, replied, failed, lost, p50, p99, success, result.
    pub steps: Vec<[String; 8]>,
    /// p99 latency and success rate against the arrival rate.
    pub charts: Vec<Chart>,
}

fn breaking_point_rows(s: &RunSummary) -> Vec<BreakingPointRow> {
    let verdicts = s.breaking_points();
    s.phases
        .iter()
        .filter(|p| !p.steps.is_empty())
        .zip(verdicts)
        .enumerate()
        .map(|(i, (p, verdict))| {
            let ms = |us: Option<u64>| us.map_or_else(|| "-".to_owned(), |v| format_duration(Duration::from_micros(v)));
            let steps = p
                .steps
                .iter()
                .map(|st| {
                    [
                        format!("{}/s", (st.rate * 1000.0).round() / 1000.0),
                        st.replied.to_string(),
                        st.failed.to_string(),
                        st.lost.to_string(),
                        ms(st.p50_us),
                        ms(st.p99_us),
                        st.success.map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0)),
                        st.broke_on.clone().unwrap_or_else(|| "held".to_owned()),
                    ]
                })
                .collect();
            let p99: Vec<(f64, f64)> =
                p.steps.iter().filter_map(|st| st.p99_us.map(|v| (st.rate, v as f64 / 1e3))).collect();
            let p50: Vec<(f64, f64)> =
                p.steps.iter().filter_map(|st| st.p50_us.map(|v| (st.rate, v as f64 / 1e3))).collect();
            let success: Vec<(f64, f64)> =
                p.steps.iter().filter_map(|st| st.success.map(|r| (st.rate, r * 100.0))).collect();
            let charts = [
                rate_chart(
                    &format!("breaking-latency-{i}"),
                    &format!("Latency against rate: {}", p.name),
                    "arrival rate (messages/s)",
                    "latency of successful replies",
                    YFormat::Millis,
                    &[Series::line("p50", BLUE, p50), Series::line("p99", VERMILION, p99).styled(Style::Dashed)],
                ),
                rate_chart(
                    &format!("breaking-success-{i}"),
                    &format!("Success rate against rate: {}", p.name),
                    "arrival rate (messages/s)",
                    "successful answers (%)",
                    YFormat::Percent,
                    &[Series::line("success", GREEN, success)],
                ),
            ]
            .into_iter()
            .flatten()
            .collect();
            BreakingPointRow { phase: p.name.clone(), verdict, steps, charts }
        })
        .collect()
}

fn timeline_charts(s: &RunSummary) -> Vec<Chart> {
    let tl = &s.timeline;
    let x_max = s.duration_seconds.max(tl.last().map_or(0.0, |p| p.t));
    let faults: Vec<(f64, String)> = s.faults.iter().filter_map(|f| f.at.map(|at| (at, f.name.clone()))).collect();
    let phases: Vec<(f64, f64, String)> = s
        .phases
        .iter()
        .filter_map(|p| p.started.map(|start| (start, p.finished.unwrap_or(x_max).max(start), p.name.clone())))
        .collect();
    let backdrop = Backdrop { phases: &phases, faults: &faults, x_max };
    let pts = |f: &dyn Fn(&crate::runtime::TimelinePoint) -> Option<f64>| -> Vec<(f64, f64)> {
        tl.iter().filter_map(|p| f(p).map(|v| (p.t, v))).collect()
    };
    let line = Series::line;
    // A count per interval as a rate: divided by the interval's length.
    let per_second = |f: &dyn Fn(&crate::runtime::TimelinePoint) -> u64| -> Vec<(f64, f64)> {
        let mut prev = 0.0;
        tl.iter()
            .map(|p| {
                let len = (p.t - prev).max(1e-9);
                prev = p.t;
                (p.t, f(p) as f64 / len)
            })
            .collect()
    };
    let mib = (1u64 << 20) as f64;
    let b = &backdrop;
    [
        timeline_chart(
            "latency",
            "Message latency per interval (successful replies)",
            "latency",
            YFormat::Millis,
            &[
                line("p50", BLUE, pts(&|p| p.latency_p50_ms)),
                line("p90", ORANGE, pts(&|p| p.latency_p90_ms)).styled(Style::Dashed),
                line("p99", VERMILION, pts(&|p| p.latency_p99_ms)).styled(Style::Dotted),
            ],
            b,
        ),
        timeline_chart(
            "arrival-rate",
            "Arrival rate: asked for and sent",
            "messages per second",
            YFormat::Number,
            &[
                line("intended", BLUE, pts(&|p| p.intended_rate)).styled(Style::Dashed),
                line("achieved", GREEN, per_second(&|p| p.sent)),
            ],
            b,
        ),
        rate_chart(
            "latency-throughput",
            "Latency against throughput (one point per interval)",
            "successful replies per second",
            "p99 latency",
            YFormat::Millis,
            &[line(
                "interval",
                VERMILION,
                tl.iter()
                    .zip(per_second(&|p| p.replied))
                    .filter_map(|(p, (_, r))| p.latency_p99_ms.map(|l| (r, l)))
                    .collect(),
            )
            .styled(Style::Points)],
        ),
        timeline_chart(
            "messages",
            "Messages per interval",
            "messages per interval",
            YFormat::Number,
            &[
                line("replied", GREEN, pts(&|p| Some(p.replied as f64))).styled(Style::Bars),
                line("failed", ORANGE, pts(&|p| Some(p.failed as f64))).styled(Style::Bars),
                line("lost", VERMILION, pts(&|p| Some(p.lost as f64))).styled(Style::Bars),
                line("sent", BLUE, pts(&|p| Some(p.sent as f64))),
            ],
            b,
        ),
        timeline_chart(
            "containers",
            "Containers",
            "containers",
            YFormat::Number,
            &[
                line("running (ready)", PURPLE, pts(&|p| Some(p.containers as f64))),
                line("starting", ORANGE, pts(&|p| Some(p.containers_starting as f64))).styled(Style::Dashed),
            ],
            b,
        ),
        timeline_chart(
            "memory",
            "Container memory (largest container)",
            "memory",
            YFormat::Mebibytes,
            &[line("memory", BLUE, pts(&|p| p.memory_max_bytes.map(|b| b as f64 / mib)))],
            b,
        ),
        timeline_chart(
            "cpu",
            "Container CPU (mean over containers)",
            "CPU",
            YFormat::Percent,
            &[line("cpu", ORANGE, pts(&|p| p.cpu_avg_pct))],
            b,
        ),
        timeline_chart(
            "queue-depth",
            "Queue depth",
            "messages waiting",
            YFormat::Number,
            &[line("queue depth", GREEN, pts(&|p| Some(p.queue_depth as f64)))],
            b,
        ),
        // How late sends left and how many arrivals the in-flight cap dropped: drawn when the
        // run is on the real clock (where lag can happen) or when anything was late or dropped.
        (s.clock == crate::runtime::ClockKind::Real
            || tl.iter().any(|p| p.schedule_lag_p99_ms.is_some_and(|l| l > 0.0) || p.dropped > 0))
        .then(|| {
            timeline_chart(
                "schedule-lag",
                "Schedule lag p99 per interval (how late sends left)",
                "lag",
                YFormat::Millis,
                &[line("schedule lag p99", VERMILION, pts(&|p| p.schedule_lag_p99_ms))],
                b,
            )
        })
        .flatten(),
        tl.iter()
            .any(|p| p.dropped > 0)
            .then(|| {
                timeline_chart(
                    "dropped-arrivals",
                    "Arrivals dropped by the in-flight cap per interval",
                    "arrivals dropped",
                    YFormat::Number,
                    &[line("dropped", ORANGE, pts(&|p| Some(p.dropped as f64))).styled(Style::Bars)],
                    b,
                )
            })
            .flatten(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn spectra(s: &RunSummary) -> Vec<Chart> {
    ["message_latency", "session_switch", "container_start", "recovery_time"]
        .iter()
        .filter_map(|name| {
            let m = s.metrics.iter().find(|m| m.name == *name && m.tag_key.is_none())?;
            let h = decode_histogram(m.histogram.as_deref()?)?;
            spectrum_chart(&format!("spectrum-{name}"), &format!("{name} percentile spectrum"), &h)
        })
        .collect()
}
