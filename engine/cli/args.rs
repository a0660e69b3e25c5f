//! The command-line interface, declared with clap.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use herd::report::Format;
use herd::runtime::ClockKind;

/// Declarative performance, stress, soak and fault scenarios for queue-driven multi-session
/// systems.
///
/// Exit codes: 0 every threshold held; 1 a threshold failed or the run was aborted; 2 invalid
/// scenario or command line; 3 the target could not be reached or set up; 4 the results could
/// not be written; 130 interrupted.
#[derive(Debug, Parser)]
#[command(name = "herd", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log output on stderr: -v for what herd does, -vv for every call it makes. `RUST_LOG`
    /// (e.g. `RUST_LOG=herd=debug`) overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// How log lines are written: `text` for people, `json` (one object a line) for CI.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Show every error of an invalid scenario (by default the first 50 of each file).
    #[arg(long, global = true)]
    pub all_errors: bool,
    /// Lift the safety limits (50,000,000 messages, 1,000,000 sessions, 31 days) for every
    /// scenario, as `allow_large = true` in a file does.
    #[arg(long, global = true)]
    pub allow_large: bool,
    /// Override a value of every scenario: `vars.rate=20/s`, `phases.load.duration=10m`,
    /// `target.containers.max=20` (phases, sessions and faults by name or index). Repeatable;
    /// checked like the file itself.
    #[arg(long, global = true, value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// A TOML file of variables (`rate = "20/s"`), each applied as `--set vars.name=value`.
    /// Repeatable; `--set` wins over it.
    #[arg(long, global = true, value_name = "FILE")]
    pub vars: Vec<PathBuf>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Plain lines.
    Text,
    /// One JSON object a line.
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run scenarios (files or folders of *.toml) one after another and write their summaries.
    Run(Box<RunArgs>),
    /// Validate scenarios without running them; every error of every file is listed.
    Check {
        /// Scenario files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format: `text` for people, `json` for tools (every error of every file, with
        /// line, column and key; never capped).
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
    },
    /// Print the compiled plan of a scenario: sessions, arrivals, faults, thresholds.
    Plan {
        /// The scenario file.
        path: PathBuf,
        /// Show only slice `i/n` of the plan (the project+user pairs, sessions and faults that
        /// `herd run --segment i/n` carries out).
        #[arg(long, value_parser = parse_segment)]
        segment: Option<herd::plan::Segment>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
    },
    /// Print the JSON Schema of scenario files.
    Schema,
    /// Render reports again from saved summaries, with no re-run.
    Report(ReportArgs),
    /// Merge the summaries of runs of one scenario that ran side by side (its slices on several
    /// machines or processes) into one summary and its reports: histograms added exactly,
    /// counters summed, timelines lined up on the wall clock, thresholds judged again on the
    /// merged data. Exits as `run` does on the merged verdict.
    Merge(MergeArgs),
    /// Compare a run with a baseline; exit 1 when a latency regressed or a threshold that passed
    /// now fails.
    Compare {
        /// The baseline's summary.json.
        baseline: PathBuf,
        /// The current run's summary.json.
        current: PathBuf,
        /// How much worse a statistic may get before it counts as a regression.
        #[arg(long, default_value = "10%")]
        tolerance: String,
        /// Where to write the comparison as Markdown (default: compare.md beside the current
        /// summary).
        #[arg(long)]
        md: Option<PathBuf>,
    },
}

/// Options of `herd report`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// summary.json files.
    #[arg(required = true)]
    pub summaries: Vec<PathBuf>,
    /// Formats to write.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Format::Html, Format::Md, Format::Junit])]
    pub format: Vec<Format>,
    /// A folder whose report.html, report.md, index.html, index.md or compare.md replace the
    /// built-in templates.
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// Write into `<out>/<scenario-name>/` instead of beside each summary.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Options of `herd merge`.
#[derive(Debug, clap::Args)]
pub(crate) struct MergeArgs {
    /// summary.json files, folders searched (recursively) for them, or the S3 folder of a
    /// `--distribute ecs` run (`s3://bucket/prefix/run/`, as its coordinator printed it), whose
    /// slices are downloaded first.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Write the merged summary and its reports into `<out>/<scenario-name>/`; summaries
    /// already under it are not read again when a folder is searched.
    #[arg(long)]
    pub out: PathBuf,
    /// Formats to write.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Format::Html, Format::Md, Format::Junit])]
    pub format: Vec<Format>,
    /// A folder whose report.html or report.md replace the built-in templates.
    #[arg(long)]
    pub templates: Option<PathBuf>,
}

/// Options of `herd run`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RunArgs {
    /// Scenario files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Folder for results; each scenario writes `<out>/<name>/summary.json`.
    #[arg(long, default_value = "herd-out")]
    pub out: PathBuf,
    /// Run only slice `i/n` of each plan: its share of the project+user pairs (a pair is never
    /// split), with every phase's full schedule sending only to them, so that `n` workers with
    /// `--segment 1/n` to `n/n` together run the whole plan once (on the simulated target a
    /// slice runs the whole model and records only its own share). Writes into
    /// `<out>/<scenario>/segment-<i>-of-<n>/`; `herd merge <out>/<scenario>` joins the slices.
    #[arg(long, value_parser = parse_segment)]
    pub segment: Option<herd::plan::Segment>,
    /// Spread each scenario over workers, each running `--segment i/N` from one start time,
    /// followed on one line and merged into `<out>/<scenario>/` (each worker's own folder
    /// beside it). `local` starts processes of this herd on this machine; `ecs` starts ECS
    /// tasks of the herd image (see `[distribute.ecs]` and the `--ecs-*` flags), passing the
    /// scenario, progress and results through S3. A worker that fails stops the others (exit
    /// 3, naming it); Ctrl-C stops every worker.
    #[arg(long, value_enum, requires = "workers", conflicts_with = "segment")]
    pub distribute: Option<Distribute>,
    /// How many workers `--distribute` starts (at most 256 local processes).
    #[arg(long, requires = "distribute", value_parser = clap::value_parser!(u32).range(1..=i64::from(super::distribute::MAX_WORKERS)))]
    pub workers: Option<u32>,
    /// Where `--distribute ecs` runs its workers; each flag wins over `[distribute.ecs]`.
    #[command(flatten)]
    pub ecs: EcsArgs,
    /// This run is a worker of `--distribute ecs`: its scenario is read from `input/` under
    /// this S3 folder, and its progress and results are left there (set by the coordinator).
    #[arg(long, value_name = "S3_URL", requires = "segment")]
    pub s3_run: Option<String>,
    /// A worker's run folder as its peer book (set by the worker itself, never on the command
    /// line).
    #[arg(skip)]
    pub peers_s3: Option<herd::targets::PeerBook>,
    /// A folder the slices of one run share (with `--segment`): each leaves the address of its
    /// Step Functions callback listener there, and a callback that carries another slice's task
    /// token is forwarded to that slice's listener, so containers can call back to any slice.
    /// `--distribute` sets it for its workers.
    #[arg(long, requires = "segment")]
    pub peers: Option<PathBuf>,
    /// Start the run at this wall-clock time (RFC 3339, e.g. 2026-11-29T10:00:00Z), so that
    /// workers started one by one begin together; a run that starts late says by how much.
    #[arg(long, value_parser = parse_start_at)]
    pub start_at: Option<std::time::SystemTime>,
    /// Override every scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// The clock that drives the run. Default: virtual for the simulated target, real for aws.
    #[arg(long, value_enum)]
    pub clock: Option<ClockKind>,
    /// Print every call that would change something on the target, make none, and exit.
    #[arg(long)]
    pub dry_run: bool,
    /// Address for the Step Functions callback listener (overrides the scenario's).
    #[arg(long)]
    pub callback_listen: Option<String>,
    /// No live progress line; plain lines only.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run only scenarios with one of these tags (`tags = [...]` in the file). Repeatable.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Skip scenarios with any of these tags. Repeatable; wins over `--tag`.
    #[arg(long = "skip-tag", value_name = "TAG")]
    pub skip_tags: Vec<String>,
    /// Run only scenarios whose name matches one of these globs, e.g. `'load-*'`. Repeatable.
    #[arg(long = "only", value_name = "GLOB")]
    pub only: Vec<String>,
    /// Once stopped (Ctrl-C, SIGTERM, SIGHUP), how long to wait for the replies in flight
    /// before cleaning up, e.g. `30s`; a second signal skips the wait.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub stop_grace: std::time::Duration,
    /// A baseline to compare with: a summary.json, or a folder of `<name>/summary.json`.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Tolerance for the baseline comparison.
    #[arg(long, default_value = "10%")]
    pub tolerance: String,
    /// A folder whose templates replace the built-in ones.
    #[arg(long)]
    pub templates: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PlanFormat {
    /// For people.
    Text,
    /// For tools.
    Json,
}

fn parse_segment(text: &str) -> Result<herd::plan::Segment, String> {
    text.parse()
}

fn parse_start_at(text: &str) -> Result<std::time::SystemTime, String> {
    humantime::parse_rfc3339_weak(text).map_err(|_| {
        format!("{text:?} is not a time; write RFC 3339 such as 2026-11-29T10:00:00Z or 2026-11-29T10:00:00.250Z")
    })
}

/// Where `--distribute` runs the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Distribute {
    /// Processes of this herd on this machine.
    Local,
    /// ECS tasks of the herd image (Fargate), with S3 between them and the coordinator.
    Ecs,
}

/// `--distribute ecs` settings from the command line.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "ECS workers (--distribute ecs)")]
pub(crate) struct EcsArgs {
    /// The cluster the workers run in.
    #[arg(long, value_name = "NAME_OR_ARN")]
    pub ecs_cluster: Option<String>,
    /// The task definition that runs the herd image.
    #[arg(long, value_name = "FAMILY[:REVISION]")]
    pub ecs_task_definition: Option<String>,
    /// The container of the task definition that runs herd (default: its only one).
    #[arg(long, value_name = "NAME")]
    pub ecs_container: Option<String>,
    /// Subnets of the tasks, comma-separated.
    #[arg(long, value_name = "SUBNET,...", value_delimiter = ',')]
    pub ecs_subnets: Vec<String>,
    /// Security groups of the tasks, comma-separated.
    #[arg(long, value_name = "SG,...", value_delimiter = ',')]
    pub ecs_security_groups: Vec<String>,
    /// Give the tasks public IP addresses.
    #[arg(long)]
    pub ecs_public_ip: bool,
    /// Run the tasks on Fargate Spot.
    #[arg(long)]
    pub ecs_spot: bool,
    /// How far ahead of the common start the tasks are started, e.g. `2m` (default 90s).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub ecs_lead: Option<std::time::Duration>,
    /// The S3 bucket between the coordinator and the workers.
    #[arg(long, value_name = "BUCKET")]
    pub s3_bucket: Option<String>,
    /// Key prefix in the bucket (default `herd/`).
    #[arg(long, value_name = "PREFIX")]
    pub s3_prefix: Option<String>,
}
