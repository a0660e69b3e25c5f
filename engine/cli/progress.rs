//! What a run shows while it goes on, and the journal that survives a crash.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use herd::plan::format_duration;
use herd::runtime::{Accounting, FaultRecord, RunObserver, TimelinePoint};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

/// Progress on the terminal (a live line on a TTY, plain lines otherwise) plus the journal.
pub(crate) struct Reporter {
    bar: Option<ProgressBar>,
    journal: Option<BufWriter<File>>,
    phase: String,
}

impl Reporter {
    /// Opens the journal in `dir` and decides how to show progress.
    pub(crate) fn new(dir: &Path, scenario: &str, seed: u64, quiet: bool) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        // A summary left from an earlier run would be mistaken for this run's if it crashed.
        let stale = dir.join("summary.json");
        if stale.exists() {
            std::fs::remove_file(&stale)?;
        }
        let mut journal = BufWriter::new(File::create(dir.join("journal.jsonl"))?);
        let started = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        writeln!(journal, "{}", json!({"type": "start", "scenario": scenario, "seed": seed, "started_at": started}))?;
        journal.flush()?;
        let live = !quiet && std::io::stderr().is_terminal();
        let bar = live.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(scenario.to_owned());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Ok(Self { bar, journal: Some(journal), phase: String::new() })
    }

    fn line(&mut self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn journal(&mut self, value: serde_json::Value) {
        // The journal is best effort during the run: a full disk must not stop the run, and the
        // summary is written at the end regardless.
        if let Some(j) = self.journal.as_mut()
            && (writeln!(j, "{value}").is_err() || j.flush().is_err())
        {
            self.journal = None;
        }
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
        self.journal(json!({"type": "sample", "point": point}));
        if let Some(bar) = &self.bar {
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
                format_duration(Duration::from_secs_f64(point.t)),
                totals.sent,
                totals.replied,
                totals.failed,
                totals.lost
            ));
        }
    }

    fn phase_started(&mut self, name: &str, at: f64) {
        self.phase = name.to_owned();
        self.journal(json!({"type": "phase", "name": name, "at": at}));
        self.line(format!("  {:>8}  phase {name} started", format_duration(Duration::from_secs_f64(at))));
    }

    fn fault(&mut self, record: &FaultRecord) {
        self.journal(json!({"type": "fault", "fault": record}));
        let at = format_duration(Duration::from_secs_f64(record.at.unwrap_or(0.0)));
        self.line(format!("  {at:>8}  fault {}: {}", record.name, record.detail));
    }
}
