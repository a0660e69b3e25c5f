//! Compiling the `sim` target: every parameter parsed with a default taken from the real
//! system's figures, and the compiled target's capabilities.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::model::SimTarget;
use super::spec::{FifoGroupSpec, InterruptPolicySpec, SimScalingSpec, SimTargetSpec};
use crate::plan::{Compiler, Distribution, FaultKind, Plan};
use crate::runtime::ClockKind;
use crate::scenario::KeyPath;
use crate::targets::{CompiledTarget, FaultRefusal, Target, TargetCompileCx, TargetConfig, TargetError, TargetOptions};

/// Interrupt behaviour of simulated containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterruptPolicy {
    /// New messages queue.
    Never,
    /// A message for another thread interrupts.
    OtherThread,
    /// Every new message interrupts.
    Always,
}

/// How the service decides how many containers run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Scaling {
    /// Start a container when a pair waits for a claim.
    OnDemand,
    /// `max` containers from the start.
    Fixed,
    /// Target tracking on waiting messages per container.
    QueueDepth {
        /// Waiting messages per container.
        per_container: f64,
        /// Evaluation period.
        period: Duration,
        /// Least time between scale-outs.
        out_cooldown: Duration,
        /// Least time between scale-ins.
        in_cooldown: Duration,
        /// Fewest containers.
        min: u32,
    },
}

/// Parameters of the simulated target.
#[derive(Debug, Clone, Serialize)]
pub struct SimParams {
    /// Pool size.
    pub max_containers: u32,
    /// Containers running at start.
    pub warm_containers: u32,
    /// Cold-start time.
    pub cold_start: Distribution,
    /// Idle time after which a claim is released.
    pub idle_release: Duration,
    /// Whether a killed container is replaced.
    pub replace_killed: bool,
    /// Processing time per message.
    pub processing: Distribution,
    /// Extra time when the thread changes.
    pub switch_cost: Distribution,
    /// Probability that processing fails.
    pub failure_rate: f64,
    /// Interrupt behaviour.
    pub interrupt_policy: InterruptPolicy,
    /// Queue visibility timeout.
    pub visibility_timeout: Duration,
    /// Preview page load time after a reply.
    pub preview_load: Distribution,
    /// Memory at rest, bytes.
    pub memory_base: u64,
    /// Memory per distinct thread served, bytes.
    pub memory_per_session: u64,
    /// Memory leaked per message, bytes.
    pub memory_leak_per_message: u64,
    /// Extra memory while busy, bytes.
    pub memory_busy: u64,
    /// CPU percent when idle.
    pub cpu_idle: f64,
    /// CPU percent when busy.
    pub cpu_busy: f64,
    /// Idle containers kept ready beyond the claimed ones.
    pub warm_pool: u32,
    /// How many containers run.
    pub scaling: Scaling,
    /// Messages one receive returns.
    pub receive_batch: u32,
    /// Time a receive call adds, if modelled.
    pub receive_overhead: Option<Distribution>,
    /// FIFO groups per session rather than per pair.
    pub fifo_per_session: bool,
    /// How long an ownership lookup is reused (none: every message reads the table).
    pub lookup_ttl: Option<Duration>,
    /// Instead, the probability that a lookup is answered by the cache.
    pub lookup_hit_ratio: Option<f64>,
    /// Time a lookup that misses the cache adds, if modelled.
    pub lookup_time: Option<Distribution>,
    /// Defect: delete before processing.
    pub delete_before_processing: bool,
    /// Defect: reply twice to an interrupted message.
    pub double_reply_on_interrupt: bool,
}

fn compile_sim(c: &mut Compiler, spec: &SimTargetSpec, path: &KeyPath) -> SimParams {
    let containers = spec.containers.clone().unwrap_or_default();
    let cpath = path.key("containers");
    let max_containers = c.count(cpath.key("max"), containers.max.map_or(10, i64::from), 1, 10_000) as u32;
    let warm_containers = c.count(cpath.key("warm"), containers.warm.map_or(0, i64::from), 0, 10_000) as u32;
    if warm_containers > max_containers {
        c.err_help(
            cpath.key("warm"),
            format!("`warm` = {warm_containers} is above `max` = {max_containers}"),
            "warm containers are part of the pool; raise `max` or lower `warm`",
        );
    }
    let failure_rate = spec.failure_rate.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&failure_rate) {
        c.err_help(
            path.key("failure_rate"),
            format!("`failure_rate` = {failure_rate} is not a probability"),
            "accepted: a number from 0 to 1, e.g. 0.02 for 2%",
        );
    }
    let memory = spec.memory.clone().unwrap_or_default();
    let mpath = path.key("memory");
    let cpu = spec.cpu.clone().unwrap_or_default();
    let defects = spec.defects.clone().unwrap_or_default();
    let warm_pool = c.count(cpath.key("warm_pool"), containers.warm_pool.map_or(0, i64::from), 0, 10_000) as u32;
    if warm_pool > max_containers {
        c.err_help(
            cpath.key("warm_pool"),
            format!("`warm_pool` = {warm_pool} is above `max` = {max_containers}"),
            "the warm pool is part of the pool; raise `max` or lower `warm_pool`",
        );
    }
    let cold_default = match (containers.image, &containers.cold_start) {
        (Some(_), Some(_)) => {
            c.err_help(
                cpath.key("image"),
                "`image` and `cold_start` both say how long a container takes to start",
                "keep one: `image` for a named profile, `cold_start` for a distribution of your own",
            );
            "lognormal(p50 = 35s, p99 = 60s)"
        }
        (Some(image), None) => image.cold_start(),
        (None, _) => "lognormal(p50 = 35s, p99 = 60s)",
    };
    let queue = spec.queue.clone().unwrap_or_default();
    let qpath = path.key("queue");
    let receive_batch = c.count(qpath.key("receive_batch"), queue.receive_batch.unwrap_or(1), 1, 10) as u32;
    let receive_overhead =
        queue.receive_overhead.as_deref().map(|t| c.distribution(qpath.key("receive_overhead"), Some(t), "fixed(0s)"));
    let (lookup_ttl, lookup_hit_ratio, lookup_time) = match &spec.lookup_cache {
        None => (None, None, None),
        Some(cache) => {
            let lpath = path.key("lookup_cache");
            let time = cache.lookup.as_deref().map(|t| c.distribution(lpath.key("lookup"), Some(t), "fixed(0s)"));
            match (cache.hit_ratio, &cache.ttl) {
                (Some(_), Some(_)) => {
                    c.err_help(
                        lpath.key("hit_ratio"),
                        "`hit_ratio` and `ttl` both say how often the cache answers",
                        "keep one: `ttl` to model the cache, `hit_ratio` to assume its hit ratio",
                    );
                    (None, None, time)
                }
                (Some(r), None) => {
                    if !(0.0..=1.0).contains(&r) {
                        c.err(
                            lpath.key("hit_ratio"),
                            format!("`hit_ratio` = {r} is not a share; write a number from 0 to 1, e.g. 0.9"),
                        );
                    }
                    (None, Some(r), time)
                }
                (None, ttl) => {
                    let ttl = c.duration(lpath.key("ttl"), ttl.as_deref(), Duration::from_secs(30));
                    ((!ttl.is_zero()).then_some(ttl), None, time)
                }
            }
        }
    };
    let scaling = match &spec.scaling {
        None | Some(SimScalingSpec::OnDemand) => Scaling::OnDemand,
        Some(SimScalingSpec::Fixed) => Scaling::Fixed,
        Some(SimScalingSpec::QueueDepth(q)) => {
            let spath = path.key("scaling");
            let per_container = q.per_container.unwrap_or(5.0);
            if !(per_container.is_finite() && per_container > 0.0) {
                c.err(
                    spath.key("per_container"),
                    format!(
                        "per_container is {per_container}; write the waiting messages one container should have, e.g. 5"
                    ),
                );
            }
            let min = q.min.unwrap_or(1);
            if min > max_containers {
                c.err(spath.key("min"), format!("`min` = {min} is above `containers.max` = {max_containers}"));
            }
            let minute = Duration::from_secs(60);
            Scaling::QueueDepth {
                per_container,
                period: match q.period.as_deref() {
                    Some(t) => c.positive_duration(spath.key("period"), t),
                    None => minute,
                },
                out_cooldown: c.duration(spath.key("scale_out_cooldown"), q.scale_out_cooldown.as_deref(), minute),
                in_cooldown: c.duration(spath.key("scale_in_cooldown"), q.scale_in_cooldown.as_deref(), 5 * minute),
                min,
            }
        }
    };
    SimParams {
        warm_pool,
        scaling,
        receive_batch,
        receive_overhead,
        fifo_per_session: queue.fifo_group == Some(FifoGroupSpec::Session),
        lookup_ttl,
        lookup_hit_ratio,
        lookup_time,
        max_containers,
        warm_containers,
        cold_start: c.distribution(cpath.key("cold_start"), containers.cold_start.as_deref(), cold_default),
        idle_release: c.duration(
            cpath.key("idle_release"),
            containers.idle_release.as_deref(),
            Duration::from_secs(300),
        ),
        replace_killed: containers.replace_killed.unwrap_or(true),
        processing: c.distribution(path.key("processing"), spec.processing.as_deref(), "lognormal(p50 = 3s, p99 = 9s)"),
        switch_cost: c.distribution(
            path.key("switch_cost"),
            spec.switch_cost.as_deref(),
            "lognormal(p50 = 400ms, p99 = 1500ms)",
        ),
        failure_rate,
        interrupt_policy: match spec.interrupt_policy.unwrap_or(InterruptPolicySpec::OtherThread) {
            InterruptPolicySpec::Never => InterruptPolicy::Never,
            InterruptPolicySpec::OtherThread => InterruptPolicy::OtherThread,
            InterruptPolicySpec::Always => InterruptPolicy::Always,
        },
        visibility_timeout: c.duration(
            path.key("visibility_timeout"),
            spec.visibility_timeout.as_deref(),
            Duration::from_secs(30),
        ),
        preview_load: c.distribution(
            path.key("preview_load"),
            spec.preview_load.as_deref(),
            "lognormal(p50 = 250ms, p99 = 800ms)",
        ),
        memory_base: c.size(mpath.key("base"), memory.base.as_deref(), 75 << 20),
        memory_per_session: c.size(mpath.key("per_session"), memory.per_session.as_deref(), 8 << 20),
        memory_leak_per_message: c.size(mpath.key("leak_per_message"), memory.leak_per_message.as_deref(), 0),
        memory_busy: c.size(mpath.key("busy"), memory.busy.as_deref(), 60 << 20),
        cpu_idle: c.percent(path.key("cpu").key("idle"), cpu.idle.as_deref(), 2.0),
        cpu_busy: c.percent(path.key("cpu").key("busy"), cpu.busy.as_deref(), 40.0),
        delete_before_processing: defects.delete_before_processing.unwrap_or(false),
        double_reply_on_interrupt: defects.double_reply_on_interrupt.unwrap_or(false),
    }
}

impl TargetConfig for SimTargetSpec {
    fn compile(&self, cx: &mut TargetCompileCx<'_>) -> Arc<dyn CompiledTarget> {
        Arc::new(compile_sim(cx.compiler, self, &cx.path))
    }
}

impl CompiledTarget for SimParams {
    fn kind(&self) -> &'static str {
        "sim"
    }

    fn default_clock(&self) -> ClockKind {
        ClockKind::Virtual
    }

    fn supports_virtual_clock(&self) -> bool {
        true
    }

    fn check_fault(&self, _action: FaultKind) -> Result<(), FaultRefusal> {
        // The model carries out every fault herd knows.
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "target sim: {} containers ({} warm), cold start {}, processing {}, switch {}, failure rate {}, interrupts {:?}",
            self.max_containers,
            self.warm_containers,
            self.cold_start,
            self.processing,
            self.switch_cost,
            self.failure_rate,
            self.interrupt_policy
        )
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    fn build(&self, plan: &Plan, _options: &TargetOptions) -> Result<Box<dyn Target>, TargetError> {
        let mut sim = SimTarget::new(self.clone(), &plan.sessions, plan.seed);
        sim.task_size = (plan.cost.task_vcpu, plan.cost.task_memory_gb);
        Ok(Box::new(sim))
    }
}
