//! Summaries and verdicts: what a run measured, whether its thresholds held, and the plain-text
//! summary for the terminal.

mod summary;
mod terminal;
mod verdict;

pub use summary::{
    DisplayStats, MetricSummary, RunInfo, RunSummary, SUMMARY_VERSION, ScenarioInfo, Verdict, read_summary, summarize,
    write_summary,
};
pub use terminal::terminal_summary;
pub use verdict::{ThresholdResult, evaluate, format_value, measure, rule_holds};
