//! Summaries, verdicts and reports: what a run measured, whether its thresholds held, the
//! comparison with a baseline, and the HTML, Markdown and JUnit renderings.

mod charts;
mod compare;
mod journal;
mod merge;
mod model;
mod render;
mod summary;
mod sweep;
mod terminal;
mod verdict;

pub use charts::Chart;
pub use compare::{CompareRow, Comparison, ThresholdChange, compare, parse_tolerance};
pub use journal::{JournalLine, JournalWriter, last_totals, read_journal};
pub use merge::{MergeError, merge_summaries};
pub use model::{CostRow, CostView, FaultRow, PhaseRow, ReportData, SessionRow, SliceRow, StatsRow, ThresholdRow};
pub use render::{Format, IndexEntry, RenderError, Renderer, SkippedScenario, junit, write_reports};
pub use summary::{
    DisplayStats, MetricSummary, RunInfo, RunSummary, SUMMARY_VERSION, ScenarioInfo, SliceRecord, Verdict,
    read_summary, summarize, write_summary,
};
pub use sweep::{Sweep, SweepRow, pick_best, sweep, sweep_row};
pub use terminal::terminal_summary;
pub use verdict::{ThresholdResult, evaluate, format_value};
