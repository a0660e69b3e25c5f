//! The compiled plan: every value parsed, every reference resolved. The runtime reads nothing
//! else.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::distribution::Distribution;
use super::template::Templates;
use super::threshold::{Aggregate, Cmp, TagFilter};
use crate::metrics::Metric;
use crate::targets::CompiledTarget;

/// A scenario ready to run.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Scenario name (also the output folder name).
    pub name: String,
    /// What the scenario proves.
    pub description: String,
    /// The file the plan came from.
    pub file: String,
    /// Labels for choosing scenarios (`--tag`, `--skip-tag`).
    pub tags: Vec<String>,
    /// Seed for every random choice.
    pub seed: u64,
    /// Hard limit on the run's length.
    pub max_duration: Duration,
    /// Gauge sampling and timeline interval.
    pub sample_interval: Duration,
    /// The system under test, compiled by its own folder under `targets/`.
    #[serde(serialize_with = "crate::targets::serialize_target")]
    pub target: Arc<dyn CompiledTarget>,
    /// Session groups.
    pub groups: Vec<GroupPlan>,
    /// Every session of every group, in order.
    /// Shared, so a target holds the sessions without a copy of a million of them.
    pub sessions: std::sync::Arc<Vec<Session>>,
    /// Load phases.
    pub phases: Vec<PhasePlan>,
    /// Scheduled faults, one entry per strike.
    pub faults: Vec<FaultPlan>,
    /// Threshold rules.
    pub thresholds: Vec<ThresholdPlan>,
    /// CloudWatch publishing, when asked for.
    pub cloudwatch: Option<crate::outputs::CloudWatchParams>,
    /// The parameters the plan was compiled with (`vars.*`, after `--set`), name and value as
    /// text, in file order. `env.*` values are not kept: they may be secrets.
    pub vars: Vec<(String, String)>,
    /// Rows that feed messages (`message.from`), by the template owner (`phases[0]`).
    pub message_data: std::collections::BTreeMap<String, MessageData>,
    /// The message templates of every phase.
    #[serde(skip)]
    pub templates: Arc<Templates>,
    /// The slice of the plan this run carries out (`--segment i/n`), or `None` for all of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<super::segment::SegmentPlan>,
    /// Every file the plan was read from: the scenario, what it extends and includes, its data
    /// files (what a distributed run ships to its workers).
    #[serde(skip)]
    pub inputs: Vec<std::path::PathBuf>,
    /// The what-if sweep (`[matrix]`), when the scenario has one.
    #[serde(skip)]
    pub matrix: Option<super::matrix::MatrixPlan>,
    /// How the run's cost is estimated (`[cost]`).
    #[serde(skip)]
    pub cost: crate::cost::CostParams,
    /// `[distribute.ecs]`: where `--distribute ecs` runs its workers.
    #[serde(skip)]
    pub distribute: Option<crate::distribute::EcsDistribution>,
}

impl Plan {
    /// The target's kind and compiled parameters, as summaries and journals record them.
    pub fn target_json(&self) -> serde_json::Value {
        crate::targets::target_json(self.target.as_ref())
    }
}

/// A session group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupPlan {
    /// Group name.
    pub name: String,
    /// Index of its first session in `Plan::sessions`.
    pub first: usize,
    /// Number of sessions.
    pub count: usize,
}

/// One session (chat thread).
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// Index in `Plan::sessions`.
    pub index: usize,
    /// Index of its group.
    pub group: usize,
    /// Index within its group (the `i` of the templates).
    pub group_index: usize,
    /// Client id. Client, project and user ids repeat across sessions, so each distinct one is
    /// held once and shared (a million sessions over a hundred pairs).
    pub client: std::sync::Arc<str>,
    /// Project id.
    pub project: std::sync::Arc<str>,
    /// User id.
    pub user: std::sync::Arc<str>,
    /// Thread id (unique in the scenario).
    pub thread: String,
    /// Its row of the group's data file (`from`), if any.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub data: std::collections::BTreeMap<String, String>,
}

impl Session {
    /// The identity of its client, project and user ids: sessions of one plan with the same ids
    /// share them (the compile step interns them), so equal keys mean equal ids. Cheaper to hash
    /// than the text when a million sessions are grouped by pair.
    pub(crate) fn ids_key(&self) -> (usize, usize, usize) {
        (
            std::sync::Arc::as_ptr(&self.client) as *const u8 as usize,
            std::sync::Arc::as_ptr(&self.project) as *const u8 as usize,
            std::sync::Arc::as_ptr(&self.user) as *const u8 as usize,
        )
    }

    /// The project+user key that decides which container serves the session.
    pub fn pair_key(&self) -> String {
        format!("{}#{}", self.project, self.user)
    }
}

/// When a phase starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "offset", rename_all = "snake_case")]
pub enum PhaseStart {
    /// At a fixed offset from the run's start.
    At(Duration),
    /// When the previous phase has finished.
    AfterPrevious,
}

/// A rule a breaking-point step must hold, judged on the answers of the step.
#[derive(Debug, Clone, Serialize)]
pub struct StepRule {
    /// The metric, as written.
    pub key: String,
    /// The rule as written.
    pub rule: String,
    /// The metric.
    pub metric: Metric,
    /// The statistic.
    pub aggregate: Aggregate,
    /// The comparison.
    pub cmp: Cmp,
    /// The limit in the metric's recording unit.
    pub limit: f64,
}

/// Rows of a data file that feed a message table, and which row a message gets.
#[derive(Debug, Clone, Serialize)]
pub struct MessageData {
    /// The rows, column to value.
    #[serde(skip)]
    pub rows: Arc<Vec<std::collections::BTreeMap<String, String>>>,
    /// How many rows there are (shown in plans).
    pub count: usize,
    /// Which row a message gets.
    pub order: DataOrder,
}

/// Which row of a message data file a message gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataOrder {
    /// The phase walks the rows in turn.
    Sequential,
    /// A seeded random row.
    Random,
    /// Each session walks the rows from the first.
    PerSession,
}

/// Which sessions of a closed-model phase share a loop (one message in flight per loop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IterationOrder {
    /// A loop per session.
    Concurrent,
    /// One loop over every session.
    RoundRobin,
    /// A loop per project+user over its sessions.
    PerUserRoundRobin,
}

impl IterationOrder {
    /// The name written in scenarios.
    pub fn name(self) -> &'static str {
        match self {
            IterationOrder::Concurrent => "concurrent",
            IterationOrder::RoundRobin => "round-robin",
            IterationOrder::PerUserRoundRobin => "per-user-round-robin",
        }
    }
}

/// A load phase.
#[derive(Debug, Clone, Serialize)]
pub struct PhasePlan {
    /// Phase name.
    pub name: String,
    /// When it starts.
    pub start: PhaseStart,
    /// Sessions it sends for (indices into `Plan::sessions`).
    pub sessions: Vec<usize>,
    /// Reply timeout for its messages.
    pub reply_timeout: Duration,
    /// How arrivals are generated.
    pub executor: ExecutorPlan,
    /// Sending nothing does not fail the run.
    pub allow_empty: bool,
    /// A setup or teardown phase: its messages are left out of the run's metrics.
    pub unmeasured: bool,
    /// For the open-model and soak executors: each session holds one message at a time and
    /// rests this long after its reply before it takes another.
    pub think_time: Option<Distribution>,
}

/// How a phase generates arrivals.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ExecutorPlan {
    /// Fixed rate (open model).
    ConstantArrivalRate {
        /// Arrivals per second.
        rate: f64,
        /// Length of the phase.
        duration: Duration,
        /// Exponential gaps instead of even ones.
        poisson: bool,
        /// In-flight cap.
        max_in_flight: u64,
    },
    /// Linearly changing rate (open model).
    RampingArrivalRate {
        /// Rate at the start, per second.
        start_rate: f64,
        /// (target rate per second, stage length).
        stages: Vec<(f64, Duration)>,
        /// Exponential gaps instead of even ones.
        poisson: bool,
        /// In-flight cap.
        max_in_flight: u64,
    },
    /// Closed model.
    PerSessionIterations {
        /// Messages per session.
        iterations: u64,
        /// Which sessions share a loop.
        order: IterationOrder,
        /// Pause after each reply.
        think_time: Distribution,
    },
    /// Everything at once.
    Burst {
        /// Messages per receiving session.
        count: u64,
        /// The one receiving session, if not all.
        to: Option<usize>,
    },
    /// Periodic sends per session.
    Soak {
        /// Gap between sends.
        interval: Duration,
        /// Length of the phase.
        duration: Duration,
    },
    /// A rate stepped up until a step fails its rules.
    BreakingPoint {
        /// Rate of the first step, per second.
        start_rate: f64,
        /// Rise per step, per second.
        step: f64,
        /// Length of a step.
        step_duration: Duration,
        /// Highest rate tried, per second.
        max_rate: f64,
        /// What a step must hold.
        until: Vec<StepRule>,
        /// Exponential gaps instead of even ones.
        poisson: bool,
        /// In-flight cap.
        max_in_flight: u64,
    },
}

impl ExecutorPlan {
    /// The rates of a breaking-point phase's steps, per second (empty for other executors).
    pub fn step_rates(&self) -> Vec<f64> {
        let ExecutorPlan::BreakingPoint { start_rate, step, max_rate, .. } = self else { return Vec::new() };
        let mut rates = Vec::new();
        let mut r = *start_rate;
        // A small tolerance so that 0.1 + 0.1 + ... reaches a max of 1.0.
        while r <= max_rate * (1.0 + 1e-9) && rates.len() < 10_000 {
            rates.push(r);
            r += step;
        }
        rates
    }
}

impl ExecutorPlan {
    /// The executor's name as written in scenarios.
    pub fn name(&self) -> &'static str {
        match self {
            ExecutorPlan::ConstantArrivalRate { .. } => "constant-arrival-rate",
            ExecutorPlan::RampingArrivalRate { .. } => "ramping-arrival-rate",
            ExecutorPlan::PerSessionIterations { .. } => "per-session-iterations",
            ExecutorPlan::Burst { .. } => "burst",
            ExecutorPlan::Soak { .. } => "soak",
            ExecutorPlan::BreakingPoint { .. } => "breaking-point",
        }
    }
}

/// What a fault does.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FaultAction {
    /// Kill containers.
    KillContainer {
        /// Which.
        select: ContainerSelector,
    },
    /// Stop containers gracefully.
    StopContainer {
        /// Which.
        select: ContainerSelector,
    },
    /// Interrupt a session's container.
    Interrupt {
        /// Session index.
        session: usize,
        /// When the interrupt carries a message (as the router sends the new work after the
        /// INTERRUPT): the owner of its templates, `faults[N]`.
        message: Option<String>,
    },
    /// Freeze containers.
    PauseContainer {
        /// Which.
        select: ContainerSelector,
        /// For how long.
        duration: Duration,
    },
}

impl FaultAction {
    /// The kind of fault, without its parameters.
    pub fn kind(&self) -> FaultKind {
        match self {
            FaultAction::KillContainer { .. } => FaultKind::KillContainer,
            FaultAction::StopContainer { .. } => FaultKind::StopContainer,
            FaultAction::Interrupt { .. } => FaultKind::Interrupt,
            FaultAction::PauseContainer { .. } => FaultKind::PauseContainer,
        }
    }
}

/// The kinds of fault, as a target's capabilities name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// `kill-container`.
    KillContainer,
    /// `stop-container`.
    StopContainer,
    /// `interrupt`.
    Interrupt,
    /// `pause-container`.
    PauseContainer,
}

impl FaultKind {
    /// The action's name as written in scenarios.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::KillContainer => "kill-container",
            FaultKind::StopContainer => "stop-container",
            FaultKind::Interrupt => "interrupt",
            FaultKind::PauseContainer => "pause-container",
        }
    }
}

/// Which containers a fault strikes: its blast radius.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum ContainerSelector {
    /// The container owning this session's project+user.
    OwnerOf(usize),
    /// The container with this start-order index.
    Index(u64),
    /// This many chosen at random.
    Random(u64),
}

/// When a fault strikes.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum FaultTrigger {
    /// At an offset from the run's start.
    At(Duration),
    /// When this many messages have been sent.
    AfterMessages(u64),
}

/// One strike of a fault.
#[derive(Debug, Clone, Serialize)]
pub struct FaultPlan {
    /// Label for charts and reports.
    pub name: String,
    /// When.
    pub trigger: FaultTrigger,
    /// What.
    pub action: FaultAction,
    /// Striking nothing does not fail the run.
    pub allow_empty: bool,
}

/// One threshold rule.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdPlan {
    /// The key as written (`message_latency{phase="burst"}`).
    pub key: String,
    /// The rule as written (`p(99) < 15s`).
    pub rule: String,
    /// The metric.
    pub metric: Metric,
    /// Tag filters: none (the whole run), a phase, a group, or both.
    pub tags: Vec<TagFilter>,
    /// The statistic.
    pub aggregate: Aggregate,
    /// The comparison.
    pub cmp: Cmp,
    /// The limit in the metric's recording unit.
    pub limit: f64,
    /// Stop the run when it fails.
    pub abort_on_fail: bool,
    /// Judge it at every sample over only this much of the latest data.
    pub window: Option<Duration>,
    /// Do not judge it before this time (and leave out the data before it).
    pub delay: Duration,
}
