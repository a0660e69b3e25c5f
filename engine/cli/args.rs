//! The command-line interface, declared with clap.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use herd::runtime::ClockKind;

/// Declarative performance, stress, soak and fault scenarios for queue-driven multi-session
/// systems.
///
/// Exit codes: 0 every threshold held; 1 a threshold failed or the run was aborted; 2 invalid
/// scenario or command line; 3 the target could not be reached or set up; 130 interrupted.
#[derive(Debug, Parser)]
#[command(name = "herd", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run scenarios (files or folders of *.toml) one after another and write their summaries.
    Run(RunArgs),
    /// Validate scenarios without running them; every error of every file is listed.
    Check {
        /// Scenario files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print the compiled plan of a scenario: sessions, arrivals, faults, thresholds.
    Plan {
        /// The scenario file.
        path: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
    },
    /// Print the JSON Schema of scenario files.
    Schema,
}

/// Options of `herd run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Scenario files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Folder for results; each scenario writes `<out>/<name>/summary.json`.
    #[arg(long, default_value = "herd-out")]
    pub out: PathBuf,
    /// Override every scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// The clock that drives the run.
    #[arg(long, value_enum, default_value_t = ClockKind::Virtual)]
    pub clock: ClockKind,
    /// No live progress line; plain lines only.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PlanFormat {
    /// For people.
    Text,
    /// For tools.
    Json,
}
