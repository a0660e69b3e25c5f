//! The boundary between the runtime and a system under test.

use serde::Serialize;

use crate::plan::ContainerSelector;

/// Microseconds since the start of the run, on whichever clock drives it.
pub type Micros = u64;

/// A message the runtime asks the target to deliver.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// The engine's id for the message; replies are reported against it.
    pub id: u64,
    /// Index of the session in the plan.
    pub session: usize,
    /// The correlation id placed in the body (commandId / messageId).
    pub correlation: String,
    /// The rendered instruction.
    pub instruction: String,
    /// Extra rendered body fields.
    pub fields: Vec<(String, String)>,
}

/// Something the target observed, reported back to the runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// A reply for a message.
    Reply {
        /// The message id.
        id: u64,
        /// Whether it succeeded.
        success: bool,
        /// Whether it was interrupted (preempted).
        interrupted: bool,
    },
    /// A container became ready.
    ContainerStarted {
        /// Its id.
        container: u64,
        /// How long it took.
        took: Micros,
    },
    /// A container switched threads before processing a message.
    SessionSwitch {
        /// The message that caused it.
        id: u64,
        /// How long the switch took.
        took: Micros,
    },
    /// A call to the system under test failed after its retries (throttling, 5xx, network).
    TargetError {
        /// What failed.
        detail: String,
    },
    /// A reply that could not be read (not JSON, or without a correlation id).
    MalformedReply {
        /// Why.
        detail: String,
    },
    /// A reply whose correlation id herd never sent.
    UnknownReply,
    /// A preview page loaded after a reply.
    PreviewLoad {
        /// The message whose reply produced the page.
        id: u64,
        /// How long it took.
        took: Micros,
    },
}

/// The target's outputs from one call: timers to arm and observations to record.
#[derive(Debug, Default)]
pub struct TargetIo {
    /// (time, token) pairs; the runtime calls `on_timer` with the token at that time.
    pub timers: Vec<(Micros, u64)>,
    /// Observations, all at the current time.
    pub observations: Vec<Observation>,
}

impl TargetIo {
    /// Arms a timer.
    pub fn timer(&mut self, at: Micros, token: u64) {
        self.timers.push((at, token));
    }

    /// Reports an observation.
    pub fn observe(&mut self, o: Observation) {
        self.observations.push(o);
    }
}

/// What a fault did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FaultOutcome {
    /// Containers struck.
    pub containers: Vec<u64>,
    /// Project+user pairs whose container was struck.
    pub pairs: Vec<String>,
    /// A sentence saying what happened, for reports.
    pub detail: String,
}

/// Gauges sampled at one instant.
#[derive(Debug, Clone, Default)]
pub struct GaugeSample {
    /// (container id, memory bytes, CPU hundredths of a percent) per running container.
    pub containers: Vec<(u64, u64, u64)>,
    /// Messages visible in the work queues.
    pub queue_depth: u64,
    /// Containers running or starting.
    pub running: u64,
}

/// A system under test. Calls are made by one dispatcher, in time order.
pub trait Target {
    /// Delivers a message.
    fn send(&mut self, now: Micros, msg: &Outbound, io: &mut TargetIo);
    /// A timer armed through `TargetIo` fired.
    fn on_timer(&mut self, now: Micros, token: u64, io: &mut TargetIo);
    /// Kills containers.
    fn kill(&mut self, now: Micros, select: &ContainerSelector, io: &mut TargetIo) -> FaultOutcome;
    /// Freezes containers for `duration` microseconds.
    fn pause(&mut self, now: Micros, select: &ContainerSelector, duration: Micros, io: &mut TargetIo) -> FaultOutcome;
    /// Interrupts the message the session's container is processing.
    fn interrupt(&mut self, now: Micros, session: usize, io: &mut TargetIo) -> FaultOutcome;
    /// Samples gauges.
    fn sample(&mut self, now: Micros) -> GaugeSample;
    /// How often the runtime must call `poll`, for targets whose events come from outside.
    fn poll_every(&self) -> Option<Micros> {
        None
    }
    /// Collects what arrived from outside since the last call.
    fn poll(&mut self, _now: Micros, _io: &mut TargetIo) {}
    /// Called once after the run, also when it was interrupted: release what the target holds
    /// (provisioned queues, started processes).
    fn finish(&mut self) {}
}
