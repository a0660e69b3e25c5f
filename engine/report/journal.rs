//! `journal.jsonl`: one JSON line per sample, phase and fault, flushed as the run goes, so that a
//! run that crashes or is killed still leaves a timeline that `herd report` can render.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::summary::{RunInfo, RunSummary, SUMMARY_VERSION, ScenarioInfo, Verdict};
use crate::plan::Plan;
use crate::runtime::{
    Accounting, ClockKind, EndReason, FaultRecord, PhaseRecord, Progress, RunObserver, TimelinePoint,
};

/// One line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JournalLine {
    /// The first line: what is running.
    Start {
        /// The scenario.
        scenario: ScenarioInfo,
        /// The target's kind and parameters.
        target: serde_json::Value,
        /// The clock.
        clock: ClockKind,
        /// Run facts known at the start.
        run: RunInfo,
        /// Phase names and executors, in plan order.
        phases: Vec<(String, String)>,
    },
    /// A sample: the timeline point and the totals so far.
    Sample {
        /// The point.
        point: TimelinePoint,
        /// Totals so far.
        totals: Accounting,
    },
    /// A phase started.
    Phase {
        /// Its name.
        name: String,
        /// Seconds since the start.
        at: f64,
    },
    /// A fault struck.
    Fault {
        /// What it did.
        fault: FaultRecord,
    },
}

/// Appends journal lines to a file, flushing each one.
pub struct JournalWriter {
    out: Option<BufWriter<File>>,
}

impl JournalWriter {
    /// Creates `dir/journal.jsonl` and writes its first line.
    pub fn create(dir: &Path, plan: &Plan, clock: ClockKind, run: RunInfo) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut w = Self { out: Some(BufWriter::new(File::create(dir.join("journal.jsonl"))?)) };
        w.write(&JournalLine::Start {
            scenario: ScenarioInfo::of(plan),
            target: plan.target_json(),
            clock,
            run,
            phases: plan.phases.iter().map(|p| (p.name.clone(), p.executor.name().to_owned())).collect(),
        });
        if w.out.is_none() {
            return Err(std::io::Error::other("cannot write the journal"));
        }
        Ok(w)
    }

    fn write(&mut self, line: &JournalLine) {
        // Best effort during the run: a full disk must not stop the run, and the summary is
        // still written at the end.
        let ok = match (self.out.as_mut(), serde_json::to_string(line)) {
            (Some(out), Ok(text)) => writeln!(out, "{text}").and_then(|()| out.flush()).is_ok(),
            _ => false,
        };
        if !ok {
            self.out = None;
        }
    }
}

impl RunObserver for JournalWriter {
    fn sample(&mut self, point: &TimelinePoint, progress: &Progress<'_>) {
        self.write(&JournalLine::Sample { point: point.clone(), totals: progress.totals.clone() });
    }

    fn phase_started(&mut self, name: &str, at: f64) {
        self.write(&JournalLine::Phase { name: name.to_owned(), at });
    }

    fn fault(&mut self, record: &FaultRecord) {
        self.write(&JournalLine::Fault { fault: record.clone() });
    }
}

/// The totals of a journal's last sample, read from its end (a journal being written is read
/// as far as it goes): how a coordinator follows a worker without a protocol of its own.
pub fn last_totals(path: &Path) -> Option<Accounting> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024))).ok()?;
    let mut tail = String::new();
    f.read_to_string(&mut tail).ok()?;
    tail.lines().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        serde_json::from_value(v.get("sample")?.get("totals")?.clone()).ok()
    })
}

/// Rebuilds what can be known of a run from its journal: the timeline, the totals at the last
/// sample, phases and faults. Histograms and thresholds are not journalled, so the summary says
/// the run did not finish and carries no verdicts.
pub fn read_journal(path: &Path) -> Result<RunSummary, String> {
    let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut start = None;
    // Compacted as the run compacts it, so a day-long journal renders in bounded memory.
    let mut timeline = crate::runtime::Timeline::default();
    let mut totals = Accounting::default();
    let mut phases: Vec<PhaseRecord> = Vec::new();
    let mut faults = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        // A process killed mid-write leaves a torn last line; everything before it is good.
        let Ok(entry) = serde_json::from_str::<JournalLine>(&line) else {
            if n == 0 {
                return Err(format!("{} is not a herd journal", path.display()));
            }
            break;
        };
        match entry {
            JournalLine::Start { scenario, target, clock, run, phases: names } => {
                phases = names.into_iter().map(|(name, executor)| PhaseRecord::new(name, executor, false)).collect();
                start = Some((scenario, target, clock, run));
            }
            JournalLine::Sample { point, totals: t } => {
                timeline.push(point);
                totals = t;
            }
            JournalLine::Phase { name, at } => {
                if let Some(p) = phases.iter_mut().find(|p| p.name == name) {
                    p.started = Some(at);
                }
            }
            JournalLine::Fault { fault } => faults.push(fault),
        }
    }
    let Some((scenario, target, clock, run)) = start else {
        return Err(format!("{} is not a herd journal", path.display()));
    };
    Ok(RunSummary {
        summary_version: SUMMARY_VERSION,
        scenario,
        target,
        clock,
        verdict: Verdict::Interrupted,
        end_reason: EndReason::Interrupted,
        abort_reason: Some(format!(
            "the run stopped without writing its summary; this report is rebuilt from {} up to its last sample",
            path.file_name().map_or_else(|| path.display().to_string(), |f| f.to_string_lossy().into_owned())
        )),
        failures: Vec::new(),
        first_send_error: None,
        duration_seconds: timeline.last_t().unwrap_or(0.0),
        // Messages in flight at the last sample never got an answer the journal saw.
        accounting: Accounting { lost: totals.sent.saturating_sub(totals.replied + totals.failed), ..totals },
        unrecovered_kills: 0,
        behind: None,
        cleanup_failures: Vec::new(),
        files: Vec::new(),
        ownership_changes: Vec::new(),
        thresholds: Vec::new(),
        metrics: Vec::new(),
        phases,
        faults,
        slowest_sessions: Vec::new(),
        samples_per_point: timeline.stride(),
        timeline: timeline.into_points(),
        comparison: None,
        run,
        slices: Vec::new(),
        cost: None,
    })
}
