//! The serde types that mirror a scenario file one to one.
//!
//! Nothing here interprets text: durations, rates, distributions, templates and threshold rules
//! stay strings until `plan::compile` turns them into meaning, so that every mistake in a file can
//! be reported at once with its location. Every field carries a doc comment because schemars turns
//! it into the description an editor shows when completing the key.

use indexmap::IndexMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A herd scenario: who the sessions are, how fast they send, which faults strike when, and which
/// thresholds must hold.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(title = "herd scenario")]
pub struct ScenarioSpec {
    /// Name of the scenario; reports are written under `<out>/<name>/`. Lower-case letters, digits,
    /// `-` and `_`.
    pub name: String,
    /// What the scenario proves, in a sentence or two. Shown at the top of every report.
    #[serde(default)]
    pub description: Option<String>,
    /// A scenario file this one builds on, relative to this file: its keys are the defaults and
    /// this file's keys win (tables merge key by key, arrays are replaced whole). Errors about a
    /// key point into the file that wrote it.
    #[serde(default)]
    pub extends: Option<String>,
    /// Fragments merged in order before this file's own keys (which win), e.g.
    /// `["fragments/thresholds.toml"]`, relative to this file.
    #[serde(default)]
    pub include: Vec<String>,
    /// Labels for choosing scenarios in a folder run, e.g. `["smoke", "nightly"]`:
    /// `herd run scenarios/ --tag nightly --skip-tag slow`. Lower-case letters, digits, `-`, `_`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Seed for every random choice (processing times, Poisson arrivals, random kills). The same
    /// seed gives the same summary on the virtual clock. Overridden by `herd run --seed`.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Hard limit on the run's length, e.g. `"10m"`. Arrivals stop and messages still in flight are
    /// counted as lost when it is reached. Default `"1h"`.
    #[serde(default)]
    pub max_duration: Option<String>,
    /// How long a message may wait for its reply before it counts as lost, e.g. `"2m"`. Phases can
    /// override it. Default `"5m"`.
    #[serde(default)]
    pub reply_timeout: Option<String>,
    /// How often gauges (memory, CPU, queue depth, containers) are sampled and a timeline point is
    /// written, e.g. `"10s"`. Default `"10s"`.
    #[serde(default)]
    pub sample_interval: Option<String>,
    /// The system under test. Default: the simulated target with its default parameters.
    #[serde(default)]
    pub target: Option<crate::targets::TargetSpec>,
    /// Groups of sessions (chat threads). At least one group is required.
    #[serde(default)]
    pub sessions: Vec<SessionGroupSpec>,
    /// Load phases, run in order unless a phase gives its own `start`. At least one is required.
    #[serde(default)]
    pub phases: Vec<PhaseSpec>,
    /// Scheduled faults: container kills, interrupts, pauses.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// A what-if sweep: the scenario runs once per variant (the cross product of `values`, or
    /// the listed `combinations`), side by side on the machine's cores, and a comparison report
    /// picks the best variant. Simulated target only.
    #[serde(default)]
    pub matrix: Option<MatrixSpec>,
    /// How the run's cost is estimated: the container's size and any list price to replace.
    #[serde(default)]
    pub cost: Option<crate::cost::CostSpec>,
    /// Where `herd run --distribute` runs its workers (`[distribute.ecs]`).
    #[serde(default)]
    pub distribute: Option<crate::distribute::DistributeSpec>,
    /// Where results go besides the files in the output folder.
    #[serde(default)]
    pub output: Option<crate::outputs::OutputSpec>,
    /// Pass/fail rules per metric, k6 style: `message_latency = ["p(50) < 5s", "p(99) < 15s"]`. A
    /// key may select a phase, a session group, or both: `'message_latency{phase="burst"}'`,
    /// `'message_success{phase="burst",group="vip"}'`. `message_latency` is successful replies;
    /// `'message_latency{outcome="failed"}'` and `{outcome="interrupted"}` are the others.
    #[serde(default)]
    pub thresholds: IndexMap<String, Vec<ThresholdRuleSpec>>,
    /// Parameters with their defaults, e.g. `rate = "20/s"`, `sessions = 50`. Any string in the
    /// scenario can use them: `"{{ vars.rate }}"` alone takes the variable's own type (a
    /// number for `count = "{{ vars.sessions }}"`), inside longer text its text
    /// (`"{{ vars.per_minute }}/m"`), and templates can compute with them
    /// (`"project-{{ i % vars.pairs }}"`). `herd run --set vars.rate=50/s` or `--vars file.toml`
    /// overrides them; reports show the values used.
    #[serde(default)]
    pub vars: IndexMap<String, VarSpec>,
    /// Environment variables the scenario may read as `{{ env.NAME }}`. Only these are visible,
    /// so a scenario cannot read a secret by accident; using one that is not set is an error.
    #[serde(default)]
    pub env_allow: Vec<String>,
    /// Allow a plan over herd's safety limits: more than 50,000,000 messages, more than
    /// 1,000,000 sessions, or a `max_duration` over 31 days. Such plans are usually a typo
    /// (`"1e9/s"`, `"10000000h"`), so they are refused unless this is true (or the command line
    /// says `--allow-large`). Default false.
    #[serde(default)]
    pub allow_large: Option<bool>,
}

/// A what-if sweep over model and load parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct MatrixSpec {
    /// The values to try per parameter, by the path `--set` takes:
    /// `{ "target.containers.max" = [2, 4, 8], "vars.rate" = ["10/s", "20/s"] }`. Every
    /// combination runs (the cross product), unless `combinations` lists them.
    #[serde(default)]
    pub values: IndexMap<String, Vec<VarSpec>>,
    /// The variants to run instead of the cross product, each a table of path to value:
    /// `[{ "target.containers.max" = 2 }, { "target.containers.max" = 8, "vars.rate" = "5/s" }]`.
    #[serde(default)]
    pub combinations: Vec<IndexMap<String, VarSpec>>,
    /// How many variants run at once. Default: the machine's cores.
    #[serde(default)]
    pub parallel: Option<i64>,
}

/// A parameter's default value: text, a whole number, a number or a boolean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum VarSpec {
    /// true or false.
    Bool(bool),
    /// A whole number.
    Integer(i64),
    /// A number with a fraction.
    Float(f64),
    /// Text, e.g. `"20/s"`.
    Text(String),
}

/// A group of sessions whose names come from templates over the session index `i`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SessionGroupSpec {
    /// Name of the group, used by phases (`sessions = ["name"]`) and tags (`{group="name"}`).
    /// Default `"sessions"` for the first group, `"sessions-2"` and so on for the others.
    #[serde(default)]
    pub name: Option<String>,
    /// How many sessions the group has. Default 1, or one per row of `from`.
    #[serde(default)]
    pub count: Option<i64>,
    /// A data file with one session per row, relative to the scenario file: `.csv` (with a
    /// header row), `.json` (an array of objects) or `.jsonl`. The row's columns are `data.*` in
    /// the group's templates (`user = "{{ data.user }}"`) and `session.data.*` in message
    /// templates.
    #[serde(default)]
    pub from: Option<String>,
    /// Client id template. Default `"herd"`.
    #[serde(default)]
    pub client: Option<String>,
    /// Project id template, e.g. `"project-{{ i % 10 }}"`. Default `"project"`.
    #[serde(default)]
    pub project: Option<String>,
    /// User id template, e.g. `"user-{{ i // 10 }}"`. Default `"user"`.
    #[serde(default)]
    pub user: Option<String>,
    /// Thread id template; thread ids must be unique in the scenario because faults and reports
    /// name sessions by them. Default `"{{ group }}-thread-{{ i }}"`.
    #[serde(default)]
    pub thread: Option<String>,
}

/// The message every arrival of a phase sends.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct MessageSpec {
    /// Instruction template (minijinja). Available: `session.client`, `session.project`,
    /// `session.user`, `session.thread`, `session.index`, `session.group`, `message.seq` (run-wide
    /// count from 0), `message.iteration` (per session), `message.id` (a fresh uuid), `phase.name`.
    /// Default `"herd message {{ message.seq }}"`.
    #[serde(default)]
    pub instruction: Option<String>,
    /// Extra body fields, each a template with the same variables as `instruction`.
    #[serde(default)]
    pub fields: IndexMap<String, String>,
    /// A data file that feeds the messages, relative to the scenario file: `.csv` (with a header
    /// row), `.json` or `.jsonl`. Each message gets a row, its columns as `message.data.*`.
    #[serde(default)]
    pub from: Option<String>,
    /// Which row a message gets: `"sequential"` (the phase walks the rows in turn),
    /// `"random"` (seeded) or `"per-session"` (each session walks the rows from the first).
    /// Default `"sequential"`.
    #[serde(default)]
    pub order: Option<DataOrderSpec>,
}

/// Which row of a message data file a message gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DataOrderSpec {
    /// The phase walks the rows in turn, wrapping round.
    Sequential,
    /// A row drawn at random (seeded) for each message.
    Random,
    /// Each session walks the rows in turn from the first.
    PerSession,
}

/// A load phase. `executor` chooses how arrivals are generated.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "executor", rename_all = "kebab-case")]
pub enum PhaseSpec {
    /// Open model: messages arrive at a fixed rate whatever the replies do.
    ConstantArrivalRate(ConstantRateSpec),
    /// Open model: the rate moves linearly through stages.
    RampingArrivalRate(RampingRateSpec),
    /// Closed model: each session sends its next message only after the previous reply.
    PerSessionIterations(IterationsSpec),
    /// Many messages at the same instant.
    Burst(BurstSpec),
    /// Every session sends one message every interval for a long time.
    Soak(SoakSpec),
    /// Steps the arrival rate up until a rule fails over a step: how much the system can take.
    BreakingPoint(BreakingPointSpec),
}

/// A breaking-point phase: the rate starts at `start_rate` and rises by `step` every
/// `step_duration` up to `max_rate`; at the end of each step the `until` rules are judged on the
/// answers that came in during that step, and the first step that fails them ends the phase.
/// The report gives the highest rate whose step held.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct BreakingPointSpec {
    /// Name of the phase, used in reports and tags (`{phase="name"}`). Default `"phase-N"`.
    #[serde(default)]
    pub name: Option<String>,
    /// Start offset from the beginning of the run, e.g. `"30s"`. Default: when the previous phase
    /// ends.
    #[serde(default)]
    pub start: Option<String>,
    /// Session groups this phase sends for. Default: every group.
    #[serde(default)]
    pub sessions: Option<Vec<String>>,
    /// The message to send.
    #[serde(default)]
    pub message: Option<MessageSpec>,
    /// Reply timeout for this phase's messages; overrides the scenario's `reply_timeout`.
    #[serde(default)]
    pub reply_timeout: Option<String>,
    /// Let this phase send nothing without failing the run. Default false.
    #[serde(default)]
    pub allow_empty: Option<bool>,
    /// `"setup"` (before the measured phases: warming caches, claiming containers) or
    /// `"teardown"` (after them). Their messages are counted but left out of every metric of
    /// the run, so thresholds judge only the measured phases; a key with their tag
    /// (`{phase="warm-up"}`) still sees them. Default `"measured"`.
    #[serde(default)]
    pub role: Option<PhaseRoleSpec>,
    /// Rate of the first step, e.g. `"1/s"`. Default: `step`.
    #[serde(default)]
    pub start_rate: Option<String>,
    /// How much the rate rises at each step, e.g. `"1/s"`.
    pub step: String,
    /// How long each step lasts, e.g. `"30s"`. Long enough for the system to settle at a rate.
    pub step_duration: String,
    /// The highest rate tried, e.g. `"50/s"`; reaching it with every step held means the system
    /// took all of it.
    pub max_rate: String,
    /// The rules a step must hold, judged on the answers that came in during the step, as
    /// thresholds are written: `until = { message_latency = ["p(99) < 15s"], message_success =
    /// ["rate > 0.95"] }`. Metrics: `message_latency`, `message_success`, `messages_failed`,
    /// `messages_lost`.
    pub until: IndexMap<String, Vec<String>>,
    /// Spacing of arrivals: `"uniform"` or `"poisson"`. Default `"uniform"`.
    #[serde(default)]
    pub arrivals: Option<ArrivalsSpec>,
    /// Most messages of this phase in flight at once; an arrival beyond it is dropped and counted
    /// in `dropped_arrivals`. Default 10000.
    #[serde(default)]
    pub max_in_flight: Option<i64>,
    /// Pause each session takes after its reply before it takes another message, as a
    /// distribution (`"uniform(1s, 3s)"`). With it, a session holds one message at a time and
    /// rests after each answer, like a person who reads the reply before typing again; an arrival
    /// that finds every session busy or resting is dropped and counted in `dropped_arrivals`, so
    /// the phase needs enough sessions for its rate (about rate x (latency + think time)).
    /// Default: none (arrivals go to the sessions in turn, however many are in flight).
    #[serde(default)]
    pub think_time: Option<String>,
}

/// A constant arrival rate phase.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ConstantRateSpec {
    /// Name of the phase, used in reports and tags (`{phase="name"}`). Default `"phase-N"`.
    #[serde(default)]
    pub name: Option<String>,
    /// Start offset from the beginning of the run, e.g. `"30s"`. Default: when the previous phase
    /// ends.
    #[serde(default)]
    pub start: Option<String>,
    /// Session groups this phase sends for. Default: every group.
    #[serde(default)]
    pub sessions: Option<Vec<String>>,
    /// The message to send.
    #[serde(default)]
    pub message: Option<MessageSpec>,
    /// Reply timeout for this phase's messages; overrides the scenario's `reply_timeout`.
    #[serde(default)]
    pub reply_timeout: Option<String>,
    /// Let this phase send nothing without failing the run. By default a phase that sends no
    /// message (it never started, or its sessions never got to send) makes the verdict `failed`:
    /// a run that sent nothing proves nothing. Default false.
    #[serde(default)]
    pub allow_empty: Option<bool>,
    /// `"setup"` (before the measured phases: warming caches, claiming containers) or
    /// `"teardown"` (after them). Their messages are counted but left out of every metric of
    /// the run, so thresholds judge only the measured phases; a key with their tag
    /// (`{phase="warm-up"}`) still sees them. Default `"measured"`.
    #[serde(default)]
    pub role: Option<PhaseRoleSpec>,
    /// Arrivals per unit of time: `"1000/h"`, `"20/s"`, `"5/m"`.
    pub rate: String,
    /// How long the phase sends, e.g. `"5m"`.
    pub duration: String,
    /// Spacing of arrivals: `"uniform"` (evenly spaced) or `"poisson"` (random, exponential gaps).
    /// Default `"uniform"`.
    #[serde(default)]
    pub arrivals: Option<ArrivalsSpec>,
    /// Most messages of this phase in flight at once; an arrival beyond it is dropped and counted
    /// in `dropped_arrivals`. Default 10000.
    #[serde(default)]
    pub max_in_flight: Option<i64>,
    /// Pause each session takes after its reply before it takes another message, as a
    /// distribution (`"uniform(1s, 3s)"`). With it, a session holds one message at a time and
    /// rests after each answer, like a person who reads the reply before typing again; an arrival
    /// that finds every session busy or resting is dropped and counted in `dropped_arrivals`, so
    /// the phase needs enough sessions for its rate (about rate x (latency + think time)).
    /// Default: none (arrivals go to the sessions in turn, however many are in flight).
    #[serde(default)]
    pub think_time: Option<String>,
}

/// A ramping arrival rate phase.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RampingRateSpec {
    /// Name of the phase, used in reports and tags (`{phase="name"}`). Default `"phase-N"`.
    #[serde(default)]
    pub name: Option<String>,
    /// Start offset from the beginning of the run, e.g. `"30s"`. Default: when the previous phase
    /// ends.
    #[serde(default)]
    pub start: Option<String>,
    /// Session groups this phase sends for. Default: every group.
    #[serde(default)]
    pub sessions: Option<Vec<String>>,
    /// The message to send.
    #[serde(default)]
    pub message: Option<MessageSpec>,
    /// Reply timeout for this phase's messages; overrides the scenario's `reply_timeout`.
    #[serde(default)]
    pub reply_timeout: Option<String>,
    /// Let this phase send nothing without failing the run. By default a phase that sends no
    /// message (it never started, or its sessions never got to send) makes the verdict `failed`:
    /// a run that sent nothing proves nothing. Default false.
    #[serde(default)]
    pub allow_empty: Option<bool>,
    /// `"setup"` (before the measured phases: warming caches, claiming containers) or
    /// `"teardown"` (after them). Their messages are counted but left out of every metric of
    /// the run, so thresholds judge only the measured phases; a key with their tag
    /// (`{phase="warm-up"}`) still sees them. Default `"measured"`.
    #[serde(default)]
    pub role: Option<PhaseRoleSpec>,
    /// Rate at the start of the first stage. Default `"0/s"`.
    #[serde(default)]
    pub start_rate: Option<String>,
    /// Stages: the rate moves linearly to each stage's `target` over its `duration`.
    pub stages: Vec<StageSpec>,
    /// Spacing of arrivals: `"uniform"` or `"poisson"`. Default `"uniform"`.
    #[serde(default)]
    pub arrivals: Option<ArrivalsSpec>,
    /// Most messages of this phase in flight at once; an arrival beyond it is dropped and counted
    /// in `dropped_arrivals`. Default 10000.
    #[serde(default)]
    pub max_in_flight: Option<i64>,
    /// Pause each session takes after its reply before it takes another message, as a
    /// distribution (`"uniform(1s, 3s)"`). With it, a session holds one message at a time and
    /// rests after each answer, like a person who reads the reply before typing again; an arrival
    /// that finds every session busy or resting is dropped and counted in `dropped_arrivals`, so
    /// the phase needs enough sessions for its rate (about rate x (latency + think time)).
    /// Default: none (arrivals go to the sessions in turn, however many are in flight).
    #[serde(default)]
    pub think_time: Option<String>,
}

/// One stage of a ramping phase.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct StageSpec {
    /// Rate reached at the end of the stage, e.g. `"20/s"`.
    pub target: String,
    /// Length of the stage, e.g. `"1m"`.
    pub duration: String,
}

/// How arrivals are spaced in an open-model phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ArrivalsSpec {
    /// Evenly spaced arrivals.
    Uniform,
    /// Exponentially distributed gaps (a Poisson process) with the same mean rate.
    Poisson,
}

/// A closed-model phase: sessions send, wait for the reply, think, and send again.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct IterationsSpec {
    /// Name of the phase, used in reports and tags (`{phase="name"}`). Default `"phase-N"`.
    #[serde(default)]
    pub name: Option<String>,
    /// Start offset from the beginning of the run, e.g. `"30s"`. Default: when the previous phase
    /// ends.
    #[serde(default)]
    pub start: Option<String>,
    /// Session groups this phase sends for. Default: every group.
    #[serde(default)]
    pub sessions: Option<Vec<String>>,
    /// The message to send.
    #[serde(default)]
    pub message: Option<MessageSpec>,
    /// Reply timeout for this phase's messages; overrides the scenario's `reply_timeout`.
    #[serde(default)]
    pub reply_timeout: Option<String>,
    /// Let this phase send nothing without failing the run. By default a phase that sends no
    /// message (it never started, or its sessions never got to send) makes the verdict `failed`:
    /// a run that sent nothing proves nothing. Default false.
    #[serde(default)]
    pub allow_empty: Option<bool>,
    /// `"setup"` (before the measured phases: warming caches, claiming containers) or
    /// `"teardown"` (after them). Their messages are counted but left out of every metric of
    /// the run, so thresholds judge only the measured phases; a key with their tag
    /// (`{phase="warm-up"}`) still sees them. Default `"measured"`.
    #[serde(default)]
    pub role: Option<PhaseRoleSpec>,
    /// Messages each session sends.
    pub iterations: i64,
    /// `"concurrent"`: every session runs its own loop at the same time. `"round-robin"`: one loop
    /// visits the sessions in turn (session 0, 1, 2, ... 0, 1, ...), one message at a time, which
    /// is the rapid session-switching test. `"per-user-round-robin"`: one such loop per
    /// project+user, all at once, so every user switches among their own threads. Default
    /// `"concurrent"`.
    #[serde(default)]
    pub order: Option<IterationOrderSpec>,
    /// Pause after each reply before the next send, as a distribution. Default `"fixed(0s)"`.
    #[serde(default)]
    pub think_time: Option<String>,
}

/// What a phase is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseRoleSpec {
    /// Before the measured phases; left out of the run's metrics.
    Setup,
    /// Judged by the thresholds.
    Measured,
    /// After the measured phases; left out of the run's metrics.
    Teardown,
}

/// Order of a closed-model phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IterationOrderSpec {
    /// Every session loops on its own, all at once.
    Concurrent,
    /// One loop visits the sessions in turn.
    RoundRobin,
    /// One loop per project+user visits that pair's sessions in turn; the pairs run at once.
    PerUserRoundRobin,
}

/// A burst phase: `count` messages sent at the same instant.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct BurstSpec {
    /// Name of the phase, used in reports and tags (`{phase="name"}`). Default `"phase-N"`.
    #[serde(default)]
    pub name: Option<String>,
    /// Start offset from the beginning of the run, e.g. `"30s"`. Default: when the previous phase
    /// ends.
    #[serde(default)]
    pub start: Option<String>,
    /// Session groups this phase sends for. Default: every group.
    #[serde(default)]
    pub sessions: Option<Vec<String>>,
    /// The message to send.
    #[serde(default)]
    pub message: Option<MessageSpec>,
    /// Reply timeout for this phase's messages; overrides the scenario's `reply_timeout`.
    #[serde(default)]
    pub reply_timeout: Option<String>,
    /// Let this phase send nothing without failing the run. By default a phase that sends no
    /// message (it never started, or its sessions never got to send) makes the verdict `failed`:
    /// a run that sent nothing proves nothing. Default false.
    #[serde(default)]
    pub allow_empty: Option<bool>,
    /// `"setup"` (before the measured phases: warming caches, claiming containers) or
    /// `"teardown"` (after them). Their messages are counted but left out of every metric of
    /// the run, so thresholds judge only the measured phases; a key with their tag
    /// (`{phase="warm-up"}`) still sees them. Default `"measured"`.
    #[serde(default)]
    pub role: Option<PhaseRoleSpec>,
    /// Messages per receiving session.
    pub count: i64,
    /// Thread id of the one session that receives the burst. Default: every session of the phase
    /// receives `count` messages.
    #[serde(default)]
    pub to: Option<String>,
}

/// A soak phase: each session sends one message every `interval` for `duration`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SoakSpec {
    /// Name of the phase, used in reports and tags (`{phase="name"}`). Default `"phase-N"`.
    #[serde(default)]
    pub name: Option<String>,
    /// Start offset from the beginning of the run, e.g. `"30s"`. Default: when the previous phase
    /// ends.
    #[serde(default)]
    pub start: Option<String>,
    /// Session groups this phase sends for. Default: every group.
    #[serde(default)]
    pub sessions: Option<Vec<String>>,
    /// The message to send.
    #[serde(default)]
    pub message: Option<MessageSpec>,
    /// Reply timeout for this phase's messages; overrides the scenario's `reply_timeout`.
    #[serde(default)]
    pub reply_timeout: Option<String>,
    /// Let this phase send nothing without failing the run. By default a phase that sends no
    /// message (it never started, or its sessions never got to send) makes the verdict `failed`:
    /// a run that sent nothing proves nothing. Default false.
    #[serde(default)]
    pub allow_empty: Option<bool>,
    /// `"setup"` (before the measured phases: warming caches, claiming containers) or
    /// `"teardown"` (after them). Their messages are counted but left out of every metric of
    /// the run, so thresholds judge only the measured phases; a key with their tag
    /// (`{phase="warm-up"}`) still sees them. Default `"measured"`.
    #[serde(default)]
    pub role: Option<PhaseRoleSpec>,
    /// Gap between two sends of one session, e.g. `"5s"`.
    pub interval: String,
    /// How long the phase lasts, e.g. `"30m"`.
    pub duration: String,
    /// Pause each session takes after its reply before its next send may go, as a distribution
    /// (`"uniform(1s, 3s)"`). With it, a session holds one message at a time: a send due while
    /// the session still waits for its reply or rests is skipped and counted in
    /// `dropped_arrivals`. Default: none (every send goes on time).
    #[serde(default)]
    pub think_time: Option<String>,
}

/// A scheduled fault. `action` chooses what happens.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum FaultSpec {
    /// Kill containers at once (SIGKILL for a local process, `StopTask` on ECS).
    KillContainer(KillContainerSpec),
    /// Stop containers gracefully: SIGTERM, then SIGKILL after the containers' `grace` for a
    /// local process (`StopTask` on ECS, which does the same). A container that handles SIGTERM
    /// finishes or hands back its work and releases its ownership.
    StopContainer(KillContainerSpec),
    /// Interrupt the message a session's container is processing, as a new message from another
    /// thread would.
    Interrupt(InterruptSpec),
    /// Freeze containers for a while; their messages wait and may outlive the visibility timeout.
    PauseContainer(PauseContainerSpec),
}

/// Kill or stop one or more containers. Exactly one of `owner_of`, `container` and `random`
/// chooses them (the blast radius).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct KillContainerSpec {
    /// Label shown on charts and in reports. Default: the action and its target.
    #[serde(default)]
    pub name: Option<String>,
    /// When the fault strikes, as an offset from the run's start, e.g. `"2m"`.
    #[serde(default)]
    pub at: Option<String>,
    /// Strike after this many messages have been sent instead of at a time.
    #[serde(default)]
    pub after_messages: Option<i64>,
    /// Strike again every this long after the first time, e.g. `"6m"`.
    #[serde(default)]
    pub every: Option<String>,
    /// How many times the fault strikes in all when `every` is set. Default 1.
    #[serde(default)]
    pub times: Option<i64>,
    /// Let this fault strike nothing without failing the run. By default a fault that never
    /// struck (the run ended first) or found nothing to strike (no such container, no owner, not
    /// supported) makes the verdict `failed`. Default false.
    #[serde(default)]
    pub allow_empty: Option<bool>,
    /// Kill the container that owns this session's project+user (a thread id).
    #[serde(default)]
    pub owner_of: Option<String>,
    /// Kill the container with this index in start order (0 is the first started).
    #[serde(default)]
    pub container: Option<i64>,
    /// Kill this many running containers chosen at random (seeded).
    #[serde(default)]
    pub random: Option<i64>,
}

/// Interrupt a session's current message.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct InterruptSpec {
    /// Label shown on charts and in reports. Default: the action and its target.
    #[serde(default)]
    pub name: Option<String>,
    /// When the fault strikes, as an offset from the run's start, e.g. `"2m"`.
    #[serde(default)]
    pub at: Option<String>,
    /// Strike after this many messages have been sent instead of at a time.
    #[serde(default)]
    pub after_messages: Option<i64>,
    /// Strike again every this long after the first time, e.g. `"6m"`.
    #[serde(default)]
    pub every: Option<String>,
    /// How many times the fault strikes in all when `every` is set. Default 1.
    #[serde(default)]
    pub times: Option<i64>,
    /// Let this fault strike nothing without failing the run. By default a fault that never
    /// struck (the run ended first) or found nothing to strike (no such container, no owner, not
    /// supported) makes the verdict `failed`. Default false.
    #[serde(default)]
    pub allow_empty: Option<bool>,
    /// Thread id of the session whose container is interrupted.
    pub session: String,
    /// A message for that session, sent right after the INTERRUPT as the router sends the new
    /// work that caused it (counted and timed like any message). Without it, only the
    /// INTERRUPT is sent.
    #[serde(default)]
    pub message: Option<MessageSpec>,
}

/// Pause containers for a while. Exactly one of `owner_of`, `container` and `random` chooses
/// them.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct PauseContainerSpec {
    /// Label shown on charts and in reports. Default: the action and its target.
    #[serde(default)]
    pub name: Option<String>,
    /// When the fault strikes, as an offset from the run's start, e.g. `"2m"`.
    #[serde(default)]
    pub at: Option<String>,
    /// Strike after this many messages have been sent instead of at a time.
    #[serde(default)]
    pub after_messages: Option<i64>,
    /// Strike again every this long after the first time, e.g. `"6m"`.
    #[serde(default)]
    pub every: Option<String>,
    /// How many times the fault strikes in all when `every` is set. Default 1.
    #[serde(default)]
    pub times: Option<i64>,
    /// Let this fault strike nothing without failing the run. By default a fault that never
    /// struck (the run ended first) or found nothing to strike (no such container, no owner, not
    /// supported) makes the verdict `failed`. Default false.
    #[serde(default)]
    pub allow_empty: Option<bool>,
    /// Pause the container that owns this session's project+user (a thread id).
    #[serde(default)]
    pub owner_of: Option<String>,
    /// Pause the container with this index in start order (0 is the first started).
    #[serde(default)]
    pub container: Option<i64>,
    /// Pause this many running containers chosen at random (seeded).
    #[serde(default)]
    pub random: Option<i64>,
    /// How long the containers stay frozen, e.g. `"45s"`.
    pub duration: String,
}

/// One threshold rule: either a string such as `"p(99) < 15s"`, or a table
/// `{ rule = "max < 1GiB", abort_on_fail = true }`.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdRuleSpec {
    /// The rule text.
    pub rule: String,
    /// Stop the run as soon as the rule fails (checked at every sample).
    pub abort_on_fail: bool,
    /// Judge the rule at every sample over only the latest data of this length.
    pub window: Option<String>,
    /// Do not judge the rule before this time, and leave out the data before it.
    pub delay: Option<String>,
}

/// The table form of a threshold rule.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(title = "threshold rule")]
struct ThresholdRuleTable {
    /// The rule, e.g. `"max < 1GiB"`: an aggregate (`p(N)`, `avg`, `med`, `min`, `max`, `count`,
    /// `rate`, `growth`), a comparison (`<`, `<=`, `>`, `>=`, `==`, `!=`) and a value with its
    /// unit.
    rule: String,
    /// Stop the run as soon as the rule fails (checked at every sample). Default false.
    #[serde(default)]
    abort_on_fail: bool,
    /// Judge the rule at every sample over only the latest data of this length, e.g. `"30s"`,
    /// like a stop condition: it fails if it fails in any window. A window with no data is not
    /// judged. Default: the rule is judged once, over the whole run.
    #[serde(default)]
    window: Option<String>,
    /// Do not judge the rule before this time, and leave out the data recorded before it, e.g.
    /// `"1m"` for a warm-up (k6's `delayAbortEval`, for the verdict as well). Default `"0s"`.
    #[serde(default)]
    delay: Option<String>,
}

impl<'de> Deserialize<'de> for ThresholdRuleSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A hand-written visitor rather than `untagged`: it accepts exactly the two documented
        // shapes and its error names both of them.
        struct RuleVisitor;
        impl<'de> serde::de::Visitor<'de> for RuleVisitor {
            type Value = ThresholdRuleSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a rule string such as \"p(99) < 15s\" or a table { rule = \"...\", abort_on_fail = true, window = \"30s\", delay = \"1m\" }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ThresholdRuleSpec { rule: v.to_owned(), abort_on_fail: false, window: None, delay: None })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let table = ThresholdRuleTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(ThresholdRuleSpec {
                    rule: table.rule,
                    abort_on_fail: table.abort_on_fail,
                    window: table.window,
                    delay: table.delay,
                })
            }
        }
        deserializer.deserialize_any(RuleVisitor)
    }
}

impl JsonSchema for ThresholdRuleSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ThresholdRule".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let table = generator.subschema_for::<ThresholdRuleTable>();
        schemars::json_schema!({
            "description": "A threshold rule: a string such as \"p(99) < 15s\", or a table { rule = \"...\", abort_on_fail = true, window = \"30s\", delay = \"1m\" }.",
            "anyOf": [
                { "type": "string", "description": "The rule, e.g. \"p(99) < 15s\"." },
                table
            ]
        })
    }
}
/// Whether a scenario name can be a folder name: lower-case letters, digits, `-` and `_`.
pub fn valid_scenario_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}
