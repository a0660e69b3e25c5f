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
    /// The work queue as the containers use it: receive batch size, the cost of a receive, and
    /// how FIFO message groups are cut.
    #[serde(default)]
    pub queue: Option<SimQueueSpec>,
    /// How the service decides how many containers run: `{ kind = "on-demand" }` (a container
    /// starts when a project+user waits for a claim and the pool has room: the real system's
    /// router; the default), `{ kind = "fixed" }` (`containers.max` run from the start,
    /// whatever the load) or `{ kind = "queue-depth", per_container = 5 }` (ECS service auto
    /// scaling tracking waiting messages per container, with cooldowns).
    #[serde(default)]
    pub scaling: Option<SimScalingSpec>,
    /// A cache of ownership lookups in front of DynamoDB: a container that looked its
    /// project+user up less than `ttl` ago does not read the table again.
    #[serde(default)]
    pub lookup_cache: Option<SimLookupCacheSpec>,
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
    /// Idle, unclaimed containers kept ready beyond the claimed ones (a warm pool), within
    /// `max`: ready at the start, and topped up with a cold start whenever one is claimed.
    /// Default 0.
    #[serde(default)]
    pub warm_pool: Option<u32>,
    /// A named cold-start profile instead of `cold_start`: `"standard"` (the real system's
    /// image, lognormal p50 35 s, p99 60 s), `"optimised"` (pre-compiled code and cached
    /// dependencies: p50 15 s, p99 25 s) or `"slim"` (a lighter image as well: p50 8 s, p99
    /// 14 s). The two faster profiles are planning assumptions, not measurements.
    #[serde(default)]
    pub image: Option<ImageProfileSpec>,
    /// Start a replacement when a container is killed, as an ECS service does. Default true.
    #[serde(default)]
    pub replace_killed: Option<bool>,
}

/// A named cold-start profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ImageProfileSpec {
    /// The real system's image: lognormal p50 35 s, p99 60 s.
    Standard,
    /// Pre-compiled code and cached dependencies: lognormal p50 15 s, p99 25 s.
    Optimised,
    /// A lighter image, pre-compiled: lognormal p50 8 s, p99 14 s.
    Slim,
}

impl ImageProfileSpec {
    /// The profile's cold-start distribution.
    pub fn cold_start(self) -> &'static str {
        match self {
            Self::Standard => "lognormal(p50 = 35s, p99 = 60s)",
            Self::Optimised => "lognormal(p50 = 15s, p99 = 25s)",
            Self::Slim => "lognormal(p50 = 8s, p99 = 14s)",
        }
    }
}

/// The work queue as the simulated containers use it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SimQueueSpec {
    /// Messages one ReceiveMessage may return, 1 to 10: a container with messages left from
    /// its last receive takes the next without a call. Default 1 (as the real containers do).
    #[serde(default)]
    pub receive_batch: Option<i64>,
    /// Time one ReceiveMessage call adds before the first message it returns is processed, as
    /// a distribution, e.g. `"fixed(20ms)"`. Default none.
    #[serde(default)]
    pub receive_overhead: Option<String>,
    /// How FIFO message groups are cut: `"pair"` (one group per project+user: a hidden message
    /// holds back every later one of its pair, and messages are taken in arrival order) or
    /// `"session"` (one group per thread: a hidden message holds back only its thread's, and
    /// a container takes its current thread's next message first). Default `"pair"`.
    #[serde(default)]
    pub fifo_group: Option<FifoGroupSpec>,
}

/// How FIFO message groups are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FifoGroupSpec {
    /// One group per project+user.
    Pair,
    /// One group per session (thread).
    Session,
}

/// How the service decides how many containers run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SimScalingSpec {
    /// A container starts when a project+user waits for a claim and the pool has room.
    OnDemand,
    /// `containers.max` containers run from the start (cold unless warm), whatever the load.
    Fixed,
    /// Target tracking on queue depth, as ECS service auto scaling does: every `period` the
    /// desired count is the waiting messages divided by `per_container`, within `min` and
    /// `containers.max`; the service scales out or in only after its cooldown.
    QueueDepth(QueueDepthScalingSpec),
}

/// Target tracking on queue depth.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct QueueDepthScalingSpec {
    /// Waiting messages one container should have, e.g. `5`. Default 5.
    #[serde(default)]
    pub per_container: Option<f64>,
    /// How often the desired count is worked out (the alarm's period), e.g. `"1m"`. Default
    /// `"1m"`.
    #[serde(default)]
    pub period: Option<String>,
    /// Least time between two scale-outs. Default `"1m"`.
    #[serde(default)]
    pub scale_out_cooldown: Option<String>,
    /// Least time between two scale-ins (only idle, unclaimed containers are stopped). Default
    /// `"5m"`.
    #[serde(default)]
    pub scale_in_cooldown: Option<String>,
    /// Fewest containers. Default 1.
    #[serde(default)]
    pub min: Option<u32>,
}

/// A cache of ownership lookups.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SimLookupCacheSpec {
    /// How long a lookup is reused, e.g. `"30s"`; `"0s"` turns the cache off. Default `"30s"`.
    #[serde(default)]
    pub ttl: Option<String>,
    /// Instead of a TTL, the share of lookups the cache answers, from 0 to 1 (each lookup hits
    /// with this probability), e.g. `0.9`.
    #[serde(default)]
    pub hit_ratio: Option<f64>,
    /// Time one DynamoDB lookup adds before a message is processed (a cache hit adds none), as
    /// a distribution, e.g. `"lognormal(p50 = 5ms, p99 = 20ms)"`. Default none.
    #[serde(default)]
    pub lookup: Option<String>,
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
