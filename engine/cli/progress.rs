//! What a run shows while it goes on, and the journal that survives a crash.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use herd::plan::{Plan, format_duration};
use herd::report::{JournalWriter, RunInfo};
use herd::runtime::{ClockKind, FaultRecord, Progress, RunObserver, TimelinePoint};
use indicatif::{ProgressBar, ProgressStyle};

/// Progress on the terminal (a live line on a TTY, plain lines otherwise) plus the journal.
pub(crate) struct Reporter {
    bar: Option<ProgressBar>,
    journal: JournalWriter,
    phase: String,
    /// Whether the generator was behind at the last update, so the change is said once.
    behind: bool,
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
        Ok(Self { bar, journal, phase: String::new(), behind: false })
    }

    fn line(&mut self, text: String) {
        // Fault details name containers a worker reported itself: escaped like any user text.
        let text = herd::text::printable_text(&text).into_owned();
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Updates the live line: phase, elapsed time, totals and latency so far, and whether the
    /// generator keeps up; says in a line of its own when it falls behind or catches up.
    fn show(&mut self, p: &Progress<'_>) {
        let behind = p.behind.is_some();
        if behind != self.behind {
            self.behind = behind;
            let at = format_duration(Duration::from_secs_f64(p.at.max(0.0)));
            match p.behind {
                Some(why) => self.line(format!("  {at:>8}  warning: {why}")),
                None => self.line(format!("  {at:>8}  the generator is keeping up again")),
            }
        }
        let Some(bar) = &self.bar else { return };
        let lat = p
            .latency
            .map(|(p50, p99)| {
                format!(
                    " p50 {} p99 {}",
                    format_duration(Duration::from_micros(p50)),
                    format_duration(Duration::from_micros(p99))
                )
            })
            .unwrap_or_default();
        let behind = if behind { "  BEHIND SCHEDULE" } else { "" };
        let stopping = p
            .stopping
            .map(|s| {
                format!(
                    "  STOPPING: {} in flight, {} left",
                    s.in_flight,
                    format_duration(Duration::from_secs(s.left.max(0.0).ceil() as u64))
                )
            })
            .unwrap_or_default();
        bar.set_message(format!(
            "{} t={} sent {} replied {} failed {} lost {}{lat}{behind}{stopping}",
            self.phase,
            format_duration(Duration::from_secs_f64(p.at.max(0.0))),
            p.totals.sent,
            p.totals.replied,
            p.totals.failed,
            p.totals.lost
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
    fn sample(&mut self, point: &TimelinePoint, progress: &Progress<'_>) {
        self.journal.sample(point, progress);
        self.show(progress);
    }

    fn tick(&mut self, progress: &Progress<'_>) {
        self.show(progress);
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
