//! The boundary between the runtime and a system under test.
//!
//! The dispatcher calls a [`Target`] in time order and never waits for it: every method returns
//! at once. What a target learns comes back as an [`Observation`] stamped with the time it was
//! seen: on the spot through [`TargetIo`] (an in-process model on the virtual clock), or later
//! through the target's [`Inbox`] (a background task that read a reply, a process watcher, a
//! fault carried out against a remote service). The runtime measures with the stamp, never with
//! the moment it happened to drain the observation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

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
    /// Index of the phase it is counted in.
    pub phase: usize,
    /// The correlation id placed in the body (commandId / messageId).
    pub correlation: String,
    /// The rendered instruction.
    pub instruction: String,
    /// Extra rendered body fields.
    pub fields: Vec<(String, String)>,
    /// The session's count of messages before this one (`message.iteration`).
    pub iteration: u64,
    /// The message's row of its message table's data file (`message.data.*`), empty without one.
    pub data: std::collections::BTreeMap<String, String>,
    /// Send an INTERRUPT for the session's container before the message, as the router does
    /// for new work that must preempt the current job (an interrupt fault with a message).
    pub interrupt_first: bool,
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
    /// A container switched threads for a message. The runtime keeps it only if that message is
    /// resolved by a reply (not if it is lost, or answered after it was counted lost).
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
    /// The system acknowledged messages `ids` (a `SendMessage` or `SendMessageBatch` entry that
    /// succeeded): they count in `messages_sent` from now. Only targets whose
    /// [`Target::acknowledges_sends`] is true report it.
    Acknowledged {
        /// The message ids.
        ids: Vec<u64>,
    },
    /// Message `id` never reached the system: its send call failed after the retries. It is
    /// counted in `send_errors`, never as lost.
    SendFailed {
        /// The message id.
        id: u64,
        /// What failed.
        detail: String,
    },
    /// Message `id` could not be rendered (a template failed at run time). The run stops: the
    /// scenario is wrong, and what it would send from here is not the workload it describes.
    TemplateFailed {
        /// The message id.
        id: u64,
        /// The template's error.
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
    /// herd (playing the router, or carrying out an interrupt fault) sent an INTERRUPT.
    InterruptSent {
        /// The session whose new message or fault caused it, when known.
        session: Option<usize>,
    },
    /// herd (playing the router) sent a CLAIM_REQUEST.
    ClaimSent,
    /// The ownership table says a project+user changed hands (a claim taken, a row released).
    OwnerChanged {
        /// `{project}#{user}`.
        pair: String,
        /// The owner before, if any.
        from: Option<String>,
        /// The owner now, if any.
        to: Option<String>,
    },
    /// Gauges sampled at the observation's time.
    Gauges(GaugeSample),
    /// A fault the runtime asked for has been carried out (or could not be).
    FaultDone {
        /// The fault's index in the plan.
        fault: usize,
        /// What it did.
        outcome: FaultOutcome,
    },
}

impl Observation {
    /// Whether it answers a message: a reply (with the switch before it), or word that it was
    /// never sent or that a reply could not be matched. A closed-model executor waits for these
    /// to send again; an open-model one does not.
    pub fn is_answer(&self) -> bool {
        matches!(
            self,
            Self::Reply { .. }
                | Self::SessionSwitch { .. }
                | Self::SendFailed { .. }
                | Self::MalformedReply { .. }
                | Self::UnknownReply
        )
    }

    /// Whether it must wake a runtime waiting for its next event: never an acknowledgement (it
    /// changes no decision, only what `messages_sent` says), an answer when `answers` is set,
    /// and everything else always.
    fn wakes(&self, answers: bool) -> bool {
        match self {
            Self::Acknowledged { .. } => false,
            o if o.is_answer() => answers,
            _ => true,
        }
    }
}

/// An observation with the wall-clock instant at which it was seen.
#[derive(Debug, Clone)]
pub struct Stamped {
    /// When the observing task saw it.
    pub at: Instant,
    /// What it saw.
    pub observation: Observation,
}

/// How the runtime's thread waits for its next event when a target wants that wait to do the
/// target's own work: a target whose background tasks run on an async runtime of one thread
/// lends that thread's wait to the dispatcher, so that sending a message and reading its reply
/// cost no hand-off between two threads (the switch between them was a fifth of what a message
/// cost herd at low rates).
pub trait Parker: Send + Sync + std::fmt::Debug {
    /// Waits until `deadline` or until [`Parker::unpark`] is called, whichever comes first,
    /// doing the target's work meanwhile. A call to `unpark` made before the wait makes it
    /// return at once (as [`std::thread::park`] does); a spurious return is allowed.
    fn park_until(&self, deadline: Instant);
    /// Ends a [`Parker::park_until`], from any thread.
    fn unpark(&self);
    /// Lets the target do what is ready without waiting. The dispatcher calls it when it has
    /// an event due at once, so that a run that is behind its schedule does not starve the
    /// target's work; an implementation may do nothing when it last ran very recently.
    fn turn(&self);
}

/// Whom an observation has to wake, shared by the senders and the inbox.
#[derive(Debug, Default)]
struct Wake {
    /// The thread waiting in [`Inbox::recv_timeout`], once one has.
    waiter: std::sync::Mutex<Option<std::thread::Thread>>,
    /// What the waiting thread waits through instead, when the target lends it one.
    parker: Option<Arc<dyn Parker>>,
    /// Whether answers ([`Observation::is_answer`]) wake the waiter: the runtime says so while
    /// something it decides depends on them at once.
    answers: AtomicBool,
    /// Wake-ups sent, for the tests.
    #[cfg(test)]
    sent: std::sync::atomic::AtomicU64,
}

impl Wake {
    fn wake(&self) {
        #[cfg(test)]
        self.sent.fetch_add(1, Ordering::Relaxed);
        if let Some(parker) = &self.parker {
            parker.unpark();
        } else if let Ok(waiter) = self.waiter.lock()
            && let Some(thread) = waiter.as_ref()
        {
            thread.unpark();
        }
    }
}

/// Where a target's background tasks send what they see; cheap to clone.
#[derive(Debug, Clone)]
pub struct ObservationSender {
    tx: Sender<Stamped>,
    wake: Arc<Wake>,
}

impl ObservationSender {
    /// Stamps `observation` with the present instant and sends it. A closed inbox means the run
    /// has ended, and a late observation has nowhere to go.
    pub fn send(&self, observation: Observation) {
        self.send_stamped(Instant::now(), observation);
    }

    /// Sends an observation stamped earlier (a reply read before it could be matched).
    pub fn send_stamped(&self, at: Instant, observation: Observation) {
        let wakes = observation.wakes(self.wake.answers.load(Ordering::Relaxed));
        if self.tx.send(Stamped { at, observation }).is_ok() && wakes {
            self.wake.wake();
        }
    }
}

/// The receiving end of a target's observations.
///
/// Not every observation wakes the runtime. Acknowledgements never do, and answers only while
/// the runtime asks for them ([`Inbox::wake_for_answers`]): the runtime takes whatever is
/// waiting before each of its own events, and the stamps, not the moment they are taken, are
/// what it measures with, so an open-model run decides exactly as it would have. Waking the
/// runtime's thread for each of them was most of what a message cost at low rates (two thread
/// switches out of eight).
#[derive(Debug)]
pub struct Inbox {
    rx: Receiver<Stamped>,
    wake: Arc<Wake>,
}

impl Inbox {
    /// An observation waiting, if there is one.
    pub fn try_recv(&self) -> Result<Stamped, TryRecvError> {
        self.rx.try_recv()
    }

    /// The first observation waiting, or, when there is none, waits up to `timeout` for one that
    /// wakes the runtime (an observation that does not is returned with the next one that does,
    /// or on the next call).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Stamped, RecvTimeoutError> {
        let deadline = Instant::now() + timeout;
        if self.wake.parker.is_none()
            && let Ok(mut waiter) = self.wake.waiter.lock()
            && waiter.as_ref().is_none_or(|t| t.id() != std::thread::current().id())
        {
            *waiter = Some(std::thread::current());
        }
        loop {
            match self.rx.try_recv() {
                Ok(s) => return Ok(s),
                Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
                Err(TryRecvError::Empty) => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(RecvTimeoutError::Timeout);
            }
            // A wake that came before the park makes it return at once, so none is lost; a
            // spurious return only goes round the loop again.
            match &self.wake.parker {
                Some(parker) => parker.park_until(deadline),
                None => std::thread::park_timeout(deadline - now),
            }
        }
    }

    /// Lets the target do what is ready, when it lends the runtime its wait ([`Parker`]); the
    /// runtime calls it when an event is due at once and it will not wait.
    pub fn turn(&self) {
        if let Some(parker) = &self.wake.parker {
            parker.turn();
        }
    }

    /// Whether answers wake the runtime from now on.
    pub fn wake_for_answers(&self, on: bool) {
        self.wake.answers.store(on, Ordering::Relaxed);
    }
}

/// A new channel for a target's background observations. Answers wake the runtime until it
/// says otherwise.
pub fn observation_channel() -> (ObservationSender, Inbox) {
    observation_channel_with(None)
}

/// A new channel whose inbox waits through `parker` (see [`Parker`]) when one is given.
pub fn observation_channel_with(parker: Option<Arc<dyn Parker>>) -> (ObservationSender, Inbox) {
    let (tx, rx) = std::sync::mpsc::channel();
    let wake = Arc::new(Wake { answers: AtomicBool::new(true), parker, ..Wake::default() });
    (ObservationSender { tx, wake: wake.clone() }, Inbox { rx, wake })
}

/// The target's outputs from one call: timers to arm and observations made on the spot.
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

    /// Reports that fault `fault` is done.
    pub fn fault_done(&mut self, fault: usize, outcome: FaultOutcome) {
        self.observations.push(Observation::FaultDone { fault, outcome });
    }
}

/// What a fault did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FaultOutcome {
    /// Containers struck.
    pub containers: Vec<u64>,
    /// Project+user pairs whose container was struck.
    pub pairs: Vec<String>,
    /// A sentence saying what happened, for reports.
    pub detail: String,
}

impl FaultOutcome {
    /// The outcome of a fault this target cannot carry out. The compile step refuses such faults
    /// (see [`crate::targets::CompiledTarget::check_fault`]), so this is a last line of defence.
    pub fn unsupported(action: &str) -> Self {
        Self { detail: format!("{action} is not supported by this target"), ..Self::default() }
    }
}

/// Gauges sampled at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GaugeSample {
    /// (container id, memory bytes, CPU hundredths of a percent) per running container.
    pub containers: Vec<(u64, u64, u64)>,
    /// Messages visible in the work queues.
    pub queue_depth: u64,
    /// Containers ready for work (a container still cold-starting is not running yet).
    pub running: u64,
    /// Containers started but not yet ready (cold-starting).
    pub starting: u64,
    /// Per work queue, its depth and the project+user pairs it serves (`project/user`), so
    /// `queue_depth{group="a"}` can be told apart. Empty when the target cannot say.
    pub queues: Vec<QueueGauge>,
    /// (pair, container id) for each pair owned by a running container, so the container
    /// gauges can be split by group.
    pub owners: Vec<(String, u64)>,
    /// Whether `owners` is complete (the target knows which container owns which pair); when
    /// false the container gauges are not split by group.
    pub owners_known: bool,
}

/// One work queue's depth at a sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueGauge {
    /// The project+user pairs whose work goes through this queue.
    pub pairs: Vec<String>,
    /// Messages visible in it.
    pub depth: u64,
}

/// A system under test, driven by one dispatcher in time order. No method may block: work that
/// takes time (a network call, a process to stop) runs in the target's own tasks and reports
/// back through the [`Inbox`].
pub trait Target: Send {
    /// The channel of observations made by the target's background tasks, stamped where they
    /// were seen. The runtime takes it once, at the start of the run. Targets that observe
    /// everything on the spot (through [`TargetIo`]) have none.
    fn take_inbox(&mut self) -> Option<Inbox> {
        None
    }
    /// Whether a message for `session` would be taken now. An open-model executor asks before
    /// it builds a message: a target whose own backlog is full (a queue that takes messages
    /// slower than the rate) refuses, and the arrival counts as dropped, so that a system
    /// slower than the rate shows as `dropped_arrivals`, at almost no cost, instead of as
    /// messages built only to be refused.
    fn accepts(&self, _session: usize) -> bool {
        true
    }
    /// Delivers a message.
    fn send(&mut self, now: Micros, msg: &Outbound, io: &mut TargetIo);
    /// Message `id` was resolved (answered, or counted lost): the target no longer waits on it.
    fn resolved(&mut self, _id: u64) {}
    /// A timer armed through `TargetIo` fired.
    fn on_timer(&mut self, _now: Micros, _token: u64, _io: &mut TargetIo) {}
    /// Kills containers; reports [`Observation::FaultDone`] for `fault` when done.
    fn kill(&mut self, _now: Micros, fault: usize, _select: &ContainerSelector, io: &mut TargetIo) {
        io.fault_done(fault, FaultOutcome::unsupported("kill-container"));
    }
    /// Stops containers gracefully (they may finish their work and release what they own);
    /// reports [`Observation::FaultDone`] for `fault` when done.
    fn stop(&mut self, _now: Micros, fault: usize, _select: &ContainerSelector, io: &mut TargetIo) {
        io.fault_done(fault, FaultOutcome::unsupported("stop-container"));
    }
    /// Freezes containers for `duration` microseconds; reports [`Observation::FaultDone`].
    fn pause(&mut self, _now: Micros, fault: usize, _select: &ContainerSelector, _duration: Micros, io: &mut TargetIo) {
        io.fault_done(fault, FaultOutcome::unsupported("pause-container"));
    }
    /// Interrupts the message the session's container is processing; reports
    /// [`Observation::FaultDone`].
    fn interrupt(&mut self, _now: Micros, fault: usize, _session: usize, io: &mut TargetIo) {
        io.fault_done(fault, FaultOutcome::unsupported("interrupt"));
    }
    /// Asks for a gauge sample, reported as [`Observation::Gauges`] now or later.
    fn sample(&mut self, now: Micros, io: &mut TargetIo);
    /// Called once after the run, also when it was interrupted: release what the target holds
    /// (provisioned queues, started processes) within the target's cleanup deadline. Returns
    /// what could not be released, one line each, naming it.
    fn finish(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// Whether the target says when the system acknowledged a message
    /// ([`Observation::Acknowledged`]). When it does, a message counts as sent only then, and a
    /// message never acknowledged (still waiting in herd's sender when the run ended) counts in
    /// `send_errors`; when it does not, a message counts as sent when it is handed to the
    /// target.
    fn acknowledges_sends(&self) -> bool {
        false
    }
    /// How long the run keeps listening after its last message is resolved, for second answers
    /// that come right after the first (the runtime counts them as duplicates or late replies).
    fn settle(&self) -> Micros {
        0
    }
    /// What the run used of each billed item so far (SQS requests, container time, DynamoDB
    /// units...), counted where the target can count it and modelled where it cannot, for the
    /// cost estimate; called once, at `now`, before `finish`.
    fn usage(&self, _now: Micros) -> crate::cost::Usage {
        crate::cost::Usage::default()
    }
    /// Files the target wrote for the report to link (worker logs), known after `finish`.
    fn files(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
    /// Lines for the person running herd, said once the target is set up (where to point
    /// workers, for example).
    fn announcements(&self) -> Vec<String> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wakes(inbox: &Inbox) -> u64 {
        inbox.wake.sent.load(Ordering::Relaxed)
    }

    #[test]
    fn acknowledgements_never_wake_and_answers_only_when_asked() {
        let (tx, inbox) = observation_channel();
        tx.send(Observation::Acknowledged { ids: vec![1] });
        assert_eq!(wakes(&inbox), 0, "an acknowledgement woke the runtime");
        tx.send(Observation::Reply { id: 1, success: true, interrupted: false });
        assert_eq!(wakes(&inbox), 1, "answers wake by default");
        inbox.wake_for_answers(false);
        tx.send(Observation::Reply { id: 2, success: true, interrupted: false });
        tx.send(Observation::SendFailed { id: 3, detail: "refused".into() });
        tx.send(Observation::UnknownReply);
        assert_eq!(wakes(&inbox), 1, "an answer woke the runtime while it said not to");
        tx.send(Observation::TargetError { detail: "throttled".into() });
        assert_eq!(wakes(&inbox), 2, "everything else always wakes");
        inbox.wake_for_answers(true);
        tx.send(Observation::SessionSwitch { id: 4, took: 5 });
        assert_eq!(wakes(&inbox), 3);
        // Nothing is lost or reordered on the way, woken for or not.
        let got: Vec<Observation> = std::iter::from_fn(|| inbox.try_recv().ok()).map(|s| s.observation).collect();
        assert_eq!(got.len(), 7);
        assert!(matches!(got[0], Observation::Acknowledged { .. }));
        assert!(matches!(got[6], Observation::SessionSwitch { id: 4, .. }));
    }

    #[test]
    fn a_waking_observation_ends_the_wait_and_brings_what_waited_before_it() {
        let (tx, inbox) = observation_channel();
        inbox.wake_for_answers(false);
        let waiter = std::thread::spawn(move || {
            let started = Instant::now();
            let first = inbox.recv_timeout(Duration::from_secs(120));
            (started.elapsed(), first, inbox.try_recv().ok())
        });
        // Whether the waiter starts before these or after, it must return long before its two
        // minutes: at once with what is waiting, or, parked, when the error wakes it (neither
        // the acknowledgement nor the answer would). It returns the oldest observation first.
        tx.send(Observation::Acknowledged { ids: vec![1] });
        tx.send(Observation::Reply { id: 1, success: true, interrupted: false });
        std::thread::sleep(Duration::from_millis(50));
        tx.send(Observation::TargetError { detail: "throttled".into() });
        let (waited, first, second) = waiter.join().expect("the waiter ends");
        assert!(waited < Duration::from_secs(60), "the wait ran to its end ({waited:?}): the error did not wake it");
        assert!(matches!(first.expect("an observation").observation, Observation::Acknowledged { .. }));
        assert!(matches!(second.expect("the reply").observation, Observation::Reply { id: 1, .. }));
    }
}
