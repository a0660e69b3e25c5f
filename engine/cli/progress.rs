//! What a run shows while it goes on, and the journal that survives a crash.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use herd::plan::{Plan, format_duration};
use herd::report::{JournalWriter, RunInfo};
use herd::runtime::{Accounting, ClockKind, FaultRecord, RunObserver, TimelinePoint};
use indicatif::{ProgressBar, ProgressStyle};

/// Progress on the terminal (a live line on a TTY, plain lines otherwise) plus the journal.
pub(crate) struct Reporter {
    bar: Option<ProgressBar>,
    journal: JournalWriter,
    phase: String,
}

impl Reporter {
    /// Opens the journal in `dir` and decides how to show progress.
    pub(crate) fn new(dir: &Path, plan: &Plan, clock: ClockKind, run: RunInfo, quiet: bool) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        // A summary left from an earlier run would be mistaken for this run's if it crashed.
        for stale in ["summary.json", "report.html", "report.md", "junit.xml"] {
            let path = dir.join(stale);
            if path.exists() {
                std::fs::remove_file(&path)?;
            }
        }
        let journal = JournalWriter::create(dir, plan, clock, run)?;
        let live = !quiet && std::io::stderr().is_terminal();
        let bar = live.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(plan.name.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Ok(Self { bar, journal, phase: String::new() })
    }

    fn line(&mut self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Updates the live line: phase, elapsed time, totals and latency so far.
    fn show(&self, at: f64, totals: &Accounting, latency: Option<(u64, u64)>) {
        let Some(bar) = &self.bar else { return };
        let lat = latency
            .map(|(p50, p99)| {
                format!(
                    " p50 {} p99 {}",
                    format_duration(Duration::from_micros(p50)),
                    format_duration(Duration::from_micros(p99))
                )
            })
            .unwrap_or_default();
        bar.set_message(format!(
            "{} t={} sent {} replied {} failed {} lost {}{lat}",
            self.phase,
            format_duration(Duration::from_secs_f64(at.max(0.0))),
            totals.sent,
            totals.replied,
            totals.failed,
            totals.lost
        ));
    }

    /// Clears the live line.
    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl RunObserver for Reporter {
    fn sample(&mut self, point: &TimelinePoint, totals: &Accounting, latency: Option<(u64, u64)>) {
        self.journal.sample(point, totals, latency);
        self.show(point.t, totals, latency);
    }

    fn tick(&mut self, at: f64, totals: &Accounting, latency: Option<(u64, u64)>) {
        self.show(at, totals, latency);
    }

    fn phase_started(&mut self, name: &str, at: f64) {
        self.phase = name.to_owned();
        self.journal.phase_started(name, at);
        self.line(format!("  {:>8}  phase {name} started", format_duration(Duration::from_secs_f64(at))));
    }

    fn fault(&mut self, record: &FaultRecord) {
        self.journal.fault(record);
        let at = format_duration(Duration::from_secs_f64(record.at.unwrap_or(0.0)));
        self.line(format!("  {at:>8}  fault {}: {}", record.name, record.detail));
    }
}
