//! The serde types of the `sim` target's `[target]` table.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Parameters of the simulated target. Every field has a default taken from the real system's
/// figures (warm message about 3 s, cold start 30-60 s, 75 MiB at rest).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SimTargetSpec {
    /// The container pool: its size, warm containers at start and cold-start time.
    #[serde(default)]
    pub containers: Option<SimContainersSpec>,
    /// Time to process one message once the container has switched to its thread, as a
    /// distribution: `"fixed(3s)"`, `"uniform(1s, 5s)"`, `"normal(mean = 3s, stddev = 500ms)"`,
    /// `"lognormal(p50 = 3s, p99 = 9s)"`, `"exponential(mean = 3s)"`. Default
    /// `"lognormal(p50 = 3s, p99 = 9s)"`.
    #[serde(default)]
    pub processing: Option<String>,
    /// Extra time a container spends when a message's thread differs from the thread it served
    /// last (checking out the thread's branch), as a distribution. Default
    /// `"lognormal(p50 = 400ms, p99 = 1500ms)"`.
    #[serde(default)]
    pub switch_cost: Option<String>,
    /// Probability, from 0 to 1, that processing a message fails and the container replies with
    /// `success = false`. Default 0.
    #[serde(default)]
    pub failure_rate: Option<f64>,
    /// What a new message does to a busy container of the same project+user: `"never"` queues
    /// it, `"other-thread"` interrupts the current message when the new one is for another thread
    /// (the real system's behaviour), `"always"` interrupts on every new message. Default
    /// `"other-thread"`.
    #[serde(default)]
    pub interrupt_policy: Option<InterruptPolicySpec>,
    /// How long a received message stays hidden from other containers; a message whose container
    /// dies is delivered again after it. Default `"30s"`.
    #[serde(default)]
    pub visibility_timeout: Option<String>,
    /// Time a preview page takes to load after a successful reply, as a distribution; sampled as
    /// `preview_load`. Default `"lognormal(p50 = 250ms, p99 = 800ms)"`.
    #[serde(default)]
    pub preview_load: Option<String>,
    /// Memory model of one container, sampled as `container_memory`.
    #[serde(default)]
    pub memory: Option<SimMemorySpec>,
    /// CPU model of one container, sampled as `container_cpu` (percent of its vCPUs).
    #[serde(default)]
    pub cpu: Option<SimCpuSpec>,
    /// Switches that reproduce known defects of the real system, so the engine's detectors can be
    /// shown to catch them.
    #[serde(default)]
    pub defects: Option<SimDefectsSpec>,
}

/// The interrupt policy of the simulated containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InterruptPolicySpec {
    /// A new message waits in the queue until the current one is done.
    Never,
    /// A new message for another thread of the same project+user interrupts the current one.
    OtherThread,
    /// Every new message interrupts the current one.
    Always,
}

/// The simulated container pool.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SimContainersSpec {
    /// Most containers that may run at once (the ECS service's maximum). Default 10.
    #[serde(default)]
    pub max: Option<u32>,
    /// Containers already running and unclaimed when the run starts. Default 0 (a cold fleet).
    #[serde(default)]
    pub warm: Option<u32>,
    /// Time from asking for a container to its being ready, as a distribution; recorded as
    /// `container_start`. Default `"lognormal(p50 = 35s, p99 = 60s)"`.
    #[serde(default)]
    pub cold_start: Option<String>,
    /// An idle container releases its project+user claim after this long, so another pair can
    /// claim it. Default `"5m"`.
    #[serde(default)]
    pub idle_release: Option<String>,
    /// Start a replacement when a container is killed, as an ECS service does. Default true.
    #[serde(default)]
    pub replace_killed: Option<bool>,
}

/// Memory model of one simulated container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SimMemorySpec {
    /// Memory at rest, e.g. `"75MiB"`. Default `"75MiB"`.
    #[serde(default)]
    pub base: Option<String>,
    /// Memory added for each distinct thread the container has served since it claimed its
    /// project+user. Default `"8MiB"`.
    #[serde(default)]
    pub per_session: Option<String>,
    /// Memory added per processed message and never given back (a leak). Default `"0B"`.
    #[serde(default)]
    pub leak_per_message: Option<String>,
    /// Extra memory while a message is being processed. Default `"60MiB"`.
    #[serde(default)]
    pub busy: Option<String>,
}

/// CPU model of one simulated container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SimCpuSpec {
    /// CPU use while idle, e.g. `"2%"`. Default `"2%"`.
    #[serde(default)]
    pub idle: Option<String>,
    /// CPU use while processing a message, e.g. `"40%"`. Default `"40%"`.
    #[serde(default)]
    pub busy: Option<String>,
}

/// Known defects of the real system, as switches.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SimDefectsSpec {
    /// Delete a message from the queue when it is received instead of after it is processed, so
    /// a container killed mid-message loses it. Default false.
    #[serde(default)]
    pub delete_before_processing: Option<bool>,
    /// An interrupted message gets both a failure (`PREEMPTED`) and, later, a success reply for
    /// the same correlation id. Default false.
    #[serde(default)]
    pub double_reply_on_interrupt: Option<bool>,
}
