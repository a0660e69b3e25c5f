//! The dispatcher: owns the clock and the order of events, routes arrivals from executors to the
//! target, replies from the target to the recorder and executors, and fires faults and samples.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::clock::{Clock, ClockKind};
use super::executor::{ExecCx, Executor, seeded_uuid};
use crate::metrics::{Metric, Recorder, Tag, new_histogram, stats};
use crate::plan::{
    ExecutorPlan, FaultAction, FaultTrigger, MessageContext, MessageVars, PhaseStart, Plan, field_name,
    instruction_name,
};
use crate::report::rule_holds;
use crate::target::{Micros, Observation, Outbound, Target, TargetIo};

fn us(d: Duration) -> Micros {
    d.as_micros() as Micros
}

/// How long in-flight messages may still be answered after Ctrl-C.
const INTERRUPT_GRACE: Micros = 5_000_000;

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Which clock drives the run.
    pub clock: ClockKind,
    /// Set from outside (Ctrl-C) to stop arrivals and finish early.
    pub stop: Arc<AtomicBool>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { clock: ClockKind::Virtual, stop: Arc::new(AtomicBool::new(false)) }
    }
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Every phase finished.
    Completed,
    /// `max_duration` was reached.
    MaxDuration,
    /// An `abort_on_fail` threshold failed.
    Aborted,
    /// The user stopped the run (Ctrl-C).
    Interrupted,
}

/// One point of the run's timeline, written at every sample.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Seconds since the start.
    pub t: f64,
    /// Messages sent in the interval.
    pub sent: u64,
    /// Successful replies in the interval.
    pub replied: u64,
    /// Failure replies in the interval.
    pub failed: u64,
    /// Messages lost in the interval.
    pub lost: u64,
    /// Messages in flight at the sample.
    pub in_flight: u64,
    /// Latency percentiles of replies in the interval, in milliseconds.
    pub latency_p50_ms: Option<f64>,
    /// 90th percentile, milliseconds.
    pub latency_p90_ms: Option<f64>,
    /// 99th percentile, milliseconds.
    pub latency_p99_ms: Option<f64>,
    /// Replies in the interval (for CloudWatch statistic sets).
    #[serde(default)]
    pub latency_count: u64,
    /// Sum of the interval's latencies, milliseconds.
    #[serde(default)]
    pub latency_sum_ms: f64,
    /// Smallest latency in the interval, milliseconds.
    #[serde(default)]
    pub latency_min_ms: Option<f64>,
    /// Largest latency in the interval, milliseconds.
    #[serde(default)]
    pub latency_max_ms: Option<f64>,
    /// Containers running or starting.
    pub containers: u64,
    /// Largest container memory, bytes.
    pub memory_max_bytes: Option<u64>,
    /// Mean container CPU, percent.
    pub cpu_avg_pct: Option<f64>,
    /// Messages waiting in the work queues.
    pub queue_depth: u64,
}

/// What a fault did, when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRecord {
    /// Its label.
    pub name: String,
    /// Seconds since the start when it struck, or `None` if the run ended first.
    pub at: Option<f64>,
    /// The action.
    pub action: String,
    /// What happened.
    pub detail: String,
    /// Containers struck.
    pub containers: Vec<u64>,
}

/// What happened in one phase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseRecord {
    /// Phase name.
    pub name: String,
    /// Executor name.
    pub executor: String,
    /// Seconds since the start when it began.
    pub started: Option<f64>,
    /// Seconds since the start when its last message was resolved.
    pub finished: Option<f64>,
    /// Messages sent.
    pub sent: u64,
    /// Successful replies.
    pub replied: u64,
    /// Failure replies.
    pub failed: u64,
    /// Lost messages.
    pub lost: u64,
}

impl PhaseRecord {
    /// A phase that has not started yet.
    pub fn new(name: String, executor: String) -> Self {
        Self { name, executor, started: None, finished: None, sent: 0, replied: 0, failed: 0, lost: 0 }
    }
}

/// Per-session latency figures, for the slowest-sessions table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Thread id.
    pub thread: String,
    /// Project+user.
    pub pair: String,
    /// Messages sent.
    pub sent: u64,
    /// Replies received (success or failure).
    pub answered: u64,
    /// Lost messages.
    pub lost: u64,
    /// Largest latency, microseconds.
    pub max_latency_us: u64,
    /// Sum of latencies, microseconds.
    pub total_latency_us: u64,
}

/// Message accounting: sent = replied + failed + lost.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Accounting {
    /// Messages sent.
    pub sent: u64,
    /// Successful replies.
    pub replied: u64,
    /// Failure replies (errors and interrupts).
    pub failed: u64,
    /// No reply within the timeout, or still unanswered when the run ended.
    pub lost: u64,
    /// Extra replies for already-answered messages.
    pub duplicated: u64,
    /// Replies that overtook an earlier message of their session.
    pub out_of_order: u64,
    /// Interrupted messages.
    pub interrupts: u64,
    /// Arrivals dropped by the in-flight cap.
    pub dropped_arrivals: u64,
    /// Replies that came after their message had been counted lost.
    pub late_replies: u64,
    /// Calls to the target that failed after their retries.
    #[serde(default)]
    pub target_errors: u64,
    /// Replies that could not be read.
    #[serde(default)]
    pub malformed_replies: u64,
    /// Replies with a correlation id herd never sent (another run's, or a worker's bug).
    #[serde(default)]
    pub unknown_replies: u64,
}

/// A kill whose pair has not yet answered successfully since.
#[derive(Debug, Clone)]
struct PendingRecovery {
    pair: String,
    since: Micros,
}

/// Everything a finished run hands to the summary.
pub struct RunResult {
    /// All metrics.
    pub recorder: Recorder,
    /// Accounting totals.
    pub accounting: Accounting,
    /// One point per sample interval.
    pub timeline: Vec<TimelinePoint>,
    /// Faults, in plan order.
    pub faults: Vec<FaultRecord>,
    /// Phases, in plan order.
    pub phases: Vec<PhaseRecord>,
    /// Sessions, in plan order.
    pub sessions: Vec<SessionRecord>,
    /// Why the run ended.
    pub end: EndReason,
    /// The threshold that aborted the run, if any.
    pub abort_reason: Option<String>,
    /// Length of the run on its own clock.
    pub duration: Duration,
    /// Kills whose project+user never answered successfully again.
    pub unrecovered: u64,
}

/// Receives progress while a run goes on (terminal progress, journal).
pub trait RunObserver {
    /// A timeline point was taken; `totals` are the run's totals so far.
    fn sample(&mut self, _point: &TimelinePoint, _totals: &Accounting, _latency: Option<(u64, u64)>) {}
    /// On the real clock, a few times a second: the time so far and the totals, for a live
    /// progress line.
    fn tick(&mut self, _at: f64, _totals: &Accounting, _latency: Option<(u64, u64)>) {}
    /// A phase started.
    fn phase_started(&mut self, _name: &str, _at: f64) {}
    /// A fault struck.
    fn fault(&mut self, _record: &FaultRecord) {}
}

/// Two observers fed the same events, in order.
pub struct Both<'a>(pub &'a mut dyn RunObserver, pub &'a mut dyn RunObserver);

impl RunObserver for Both<'_> {
    fn sample(&mut self, point: &TimelinePoint, totals: &Accounting, latency: Option<(u64, u64)>) {
        self.0.sample(point, totals, latency);
        self.1.sample(point, totals, latency);
    }
    fn tick(&mut self, at: f64, totals: &Accounting, latency: Option<(u64, u64)>) {
        self.0.tick(at, totals, latency);
        self.1.tick(at, totals, latency);
    }
    fn phase_started(&mut self, name: &str, at: f64) {
        self.0.phase_started(name, at);
        self.1.phase_started(name, at);
    }
    fn fault(&mut self, record: &FaultRecord) {
        self.0.fault(record);
        self.1.fault(record);
    }
}

/// An observer that ignores everything.
pub struct NoObserver;
impl RunObserver for NoObserver {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    PhaseStart(usize),
    ExecWake(usize, u64),
    PhaseEnd(usize),
    Target(u64),
    Fault(usize),
    Sample,
    Timeout(u64),
    Poll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MsgState {
    InFlight,
    Replied,
    Failed,
    Lost,
}

struct MsgInfo {
    session: usize,
    phase: usize,
    intended: Micros,
    state: MsgState,
}

struct Dispatcher<'a> {
    plan: &'a Plan,
    target: &'a mut dyn Target,
    observer: &'a mut dyn RunObserver,
    clock: Clock,
    stop: Arc<AtomicBool>,
    queue: BinaryHeap<Reverse<(Micros, u64, Ev)>>,
    seq: u64,
    rng: ChaCha8Rng,
    recorder: Recorder,
    acct: Accounting,
    messages: Vec<MsgInfo>,
    last_answered: Vec<Option<u64>>,
    iterations: Vec<u64>,
    executors: Vec<Option<Executor>>,
    /// Per phase: the instruction's template name and (field, template name) pairs, worked out
    /// once rather than for every message.
    phase_templates: Vec<(String, Vec<(String, String)>)>,
    phase_in_flight: Vec<u64>,
    phase_records: Vec<PhaseRecord>,
    phase_done: Vec<bool>,
    faults: Vec<FaultRecord>,
    fault_fired: Vec<bool>,
    sessions: Vec<SessionRecord>,
    recoveries: Vec<PendingRecovery>,
    timeline: Vec<TimelinePoint>,
    interval: Interval,
    arrivals_stopped: bool,
    abort_reason: Option<String>,
    last_tick: std::time::Instant,
}

#[derive(Default)]
struct Interval {
    sent: u64,
    replied: u64,
    failed: u64,
    lost: u64,
    latency: Option<Histogram<u64>>,
}

/// Runs a plan against a target to the end and returns what was measured.
pub fn run(plan: &Plan, target: &mut dyn Target, options: &RunOptions, observer: &mut dyn RunObserver) -> RunResult {
    let d = Dispatcher {
        plan,
        target,
        observer,
        clock: Clock::new(options.clock),
        stop: options.stop.clone(),
        queue: BinaryHeap::new(),
        seq: 0,
        rng: ChaCha8Rng::seed_from_u64(plan.seed),
        recorder: Recorder::new(),
        acct: Accounting::default(),
        messages: Vec::new(),
        last_answered: vec![None; plan.sessions.len()],
        iterations: vec![0; plan.sessions.len()],
        executors: plan.phases.iter().map(|_| None).collect(),
        phase_templates: (0..plan.phases.len()).map(|p| phase_templates(plan, p)).collect(),
        phase_in_flight: vec![0; plan.phases.len()],
        phase_records: plan
            .phases
            .iter()
            .map(|p| PhaseRecord::new(p.name.clone(), p.executor.name().to_owned()))
            .collect(),
        phase_done: vec![false; plan.phases.len()],
        faults: plan
            .faults
            .iter()
            .map(|f| FaultRecord {
                name: f.name.clone(),
                at: None,
                action: fault_action_name(&f.action).to_owned(),
                detail: "not reached: the run ended first".into(),
                containers: Vec::new(),
            })
            .collect(),
        fault_fired: vec![false; plan.faults.len()],
        sessions: plan
            .sessions
            .iter()
            .map(|s| SessionRecord { thread: s.thread.clone(), pair: s.pair_key(), ..SessionRecord::default() })
            .collect(),
        recoveries: Vec::new(),
        timeline: Vec::new(),
        interval: Interval::default(),
        arrivals_stopped: false,
        abort_reason: None,
        last_tick: std::time::Instant::now(),
    };
    d.run()
}

/// A phase's template names; `compile` names field templates with `field_name`, so the field
/// keys are what follows that prefix.
fn phase_templates(plan: &Plan, p: usize) -> (String, Vec<(String, String)>) {
    let prefix = field_name(p, "");
    let fields =
        plan.templates.names_with_prefix(&prefix).into_iter().map(|n| (n[prefix.len()..].to_owned(), n)).collect();
    (instruction_name(p), fields)
}

fn fault_action_name(a: &FaultAction) -> &'static str {
    match a {
        FaultAction::KillContainer { .. } => "kill-container",
        FaultAction::Interrupt { .. } => "interrupt",
        FaultAction::PauseContainer { .. } => "pause-container",
    }
}

fn secs(t: Micros) -> f64 {
    t as f64 / 1e6
}

impl Dispatcher<'_> {
    fn push(&mut self, at: Micros, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, ev)));
    }

    fn run(mut self) -> RunResult {
        let max = us(self.plan.max_duration);
        for (p, phase) in self.plan.phases.iter().enumerate() {
            if let PhaseStart::At(t) = phase.start {
                self.push(us(t), Ev::PhaseStart(p));
            }
        }
        for (f, fault) in self.plan.faults.iter().enumerate() {
            if let FaultTrigger::At(t) = fault.trigger {
                self.push(us(t), Ev::Fault(f));
            }
        }
        let interval = us(self.plan.sample_interval).max(1);
        self.push(interval, Ev::Sample);
        if let Some(every) = self.target.poll_every() {
            self.push(every, Ev::Poll);
        }
        let mut end = EndReason::Completed;
        let mut grace_deadline: Option<Micros> = None;
        loop {
            if self.stop.load(Ordering::Relaxed) && grace_deadline.is_none() {
                self.arrivals_stopped = true;
                grace_deadline = Some(self.clock.now() + INTERRUPT_GRACE);
                end = EndReason::Interrupted;
            }
            if let Some(deadline) = grace_deadline
                && (self.total_in_flight() == 0 || self.clock.now() >= deadline)
            {
                break;
            }
            if self.abort_reason.is_some() {
                end = EndReason::Aborted;
                break;
            }
            if grace_deadline.is_none() && self.phase_done.iter().all(|d| *d) {
                break;
            }
            let Some(Reverse((at, _, ev))) = self.queue.pop() else { break };
            let limit = grace_deadline.map_or(max, |d| d.min(max));
            if at > limit {
                // Keep the event for nobody: the run ends at the limit.
                self.clock.advance_to(limit, &self.stop);
                if grace_deadline.is_none() {
                    end = EndReason::MaxDuration;
                }
                break;
            }
            if !self.clock.advance_to(at, &self.stop) {
                // Stopped while waiting on the real clock: handle the stop at the loop's top.
                self.queue.push(Reverse((at, 0, ev)));
                continue;
            }
            self.handle(ev);
            self.start_chained_phases();
            self.maybe_tick();
        }
        self.finish(end)
    }

    /// Tells the observer how the run is going, at most four times a second of wall time; on
    /// the virtual clock the samples are enough.
    fn maybe_tick(&mut self) {
        if !self.clock.is_real() || self.last_tick.elapsed() < Duration::from_millis(250) {
            return;
        }
        self.last_tick = std::time::Instant::now();
        let overall = self
            .recorder
            .histogram(&crate::metrics::SeriesKey { metric: Metric::MessageLatency, tag: None })
            .map(|h| (h.value_at_quantile(0.5), h.value_at_quantile(0.99)));
        self.observer.tick(secs(self.clock.now()), &self.acct, overall);
    }

    fn total_in_flight(&self) -> u64 {
        self.phase_in_flight.iter().sum()
    }

    fn handle(&mut self, ev: Ev) {
        let now = self.clock.now();
        match ev {
            Ev::PhaseStart(p) => self.start_phase(p),
            Ev::ExecWake(p, token) => {
                if self.arrivals_stopped {
                    return;
                }
                let mut cx = ExecCx::default();
                if let Some(ex) = self.executors[p].as_mut() {
                    ex.wake(now, token, &mut self.rng, &mut cx);
                }
                self.apply(p, cx);
            }
            Ev::PhaseEnd(p) => {
                if let Some(ex) = self.executors[p].as_mut() {
                    ex.tick(now);
                }
                self.check_phase_done(p);
            }
            Ev::Target(token) => {
                let mut io = TargetIo::default();
                self.target.on_timer(now, token, &mut io);
                self.absorb(io);
            }
            Ev::Fault(f) => self.fire_fault(f),
            Ev::Sample => {
                self.sample();
                let interval = us(self.plan.sample_interval).max(1);
                self.push(now + interval, Ev::Sample);
            }
            Ev::Timeout(id) => self.timeout(id),
            Ev::Poll => {
                let mut io = TargetIo::default();
                self.target.poll(now, &mut io);
                self.absorb(io);
                if let Some(every) = self.target.poll_every() {
                    self.push(now + every.max(1), Ev::Poll);
                }
            }
        }
    }

    fn start_phase(&mut self, p: usize) {
        if self.executors[p].is_some() || self.arrivals_stopped {
            return;
        }
        let now = self.clock.now();
        let phase = &self.plan.phases[p];
        let mut ex = Executor::new(phase, now);
        let mut cx = ExecCx::default();
        ex.start(phase, &mut self.rng, &mut cx);
        if let Some(end) = ex.soak_end() {
            self.push(end, Ev::PhaseEnd(p));
        }
        self.executors[p] = Some(ex);
        self.phase_records[p].started = Some(secs(now));
        self.observer.phase_started(&phase.name, secs(now));
        self.apply(p, cx);
        self.check_phase_done(p);
    }

    /// Starts every phase that waits for its predecessor once that one is done.
    fn start_chained_phases(&mut self) {
        for p in 1..self.plan.phases.len() {
            if self.plan.phases[p].start == PhaseStart::AfterPrevious
                && self.executors[p].is_none()
                && self.phase_done[p - 1]
            {
                self.start_phase(p);
            }
        }
    }

    fn check_phase_done(&mut self, p: usize) {
        if self.phase_done[p] {
            return;
        }
        let sending_done = self.executors[p].as_ref().is_some_and(|e| e.finished_sending) || self.arrivals_stopped;
        if sending_done && self.phase_in_flight[p] == 0 && self.executors[p].is_some() {
            self.phase_done[p] = true;
            self.phase_records[p].finished = Some(secs(self.clock.now()));
        }
    }

    fn apply(&mut self, p: usize, cx: ExecCx) {
        for (at, token) in cx.wakes {
            self.push(at, Ev::ExecWake(p, token));
        }
        for (session, intended, capped) in cx.sends {
            self.send(p, session, intended, capped);
        }
        self.check_phase_done(p);
    }

    fn tags(&self, phase: usize, session: usize) -> [Tag; 2] {
        [Tag::Phase(phase), Tag::Group(self.plan.sessions[session].group)]
    }

    fn send(&mut self, p: usize, session: usize, intended: Micros, capped: bool) {
        if self.arrivals_stopped {
            return;
        }
        let tags = self.tags(p, session);
        if capped {
            let cap = match &self.plan.phases[p].executor {
                ExecutorPlan::ConstantArrivalRate { max_in_flight, .. }
                | ExecutorPlan::RampingArrivalRate { max_in_flight, .. } => *max_in_flight,
                _ => u64::MAX,
            };
            if self.phase_in_flight[p] >= cap {
                self.acct.dropped_arrivals += 1;
                self.recorder.add(Metric::DroppedArrivals, 1, &tags);
                return;
            }
        }
        let id = self.messages.len() as u64;
        let seq = id;
        let iteration = self.iterations[session];
        self.iterations[session] += 1;
        let correlation = seeded_uuid(&mut self.rng);
        let s = &self.plan.sessions[session];
        let vars = MessageVars { seq, iteration, id: correlation.clone() };
        let ctx = MessageContext::new(s, &self.plan.groups[s.group].name, vars, &self.plan.phases[p].name);
        let templates = &self.plan.templates;
        // Templates were rendered once at compile time, so a failure here is not expected; keep
        // the error text as the instruction rather than dropping the message.
        let (instruction_template, field_templates) = &self.phase_templates[p];
        let instruction =
            templates.render(instruction_template, &ctx).unwrap_or_else(|e| format!("<template error: {e}>"));
        let fields = field_templates
            .iter()
            .map(|(k, name)| {
                let v = templates.render(name, &ctx).unwrap_or_else(|e| format!("<template error: {e}>"));
                (k.clone(), v)
            })
            .collect();
        let msg = Outbound { id, session, correlation, instruction, fields };
        self.messages.push(MsgInfo { session, phase: p, intended, state: MsgState::InFlight });
        self.phase_in_flight[p] += 1;
        self.phase_records[p].sent += 1;
        self.sessions[session].sent += 1;
        self.acct.sent += 1;
        self.interval.sent += 1;
        self.recorder.add(Metric::MessagesSent, 1, &tags);
        let now = self.clock.now();
        let lag = self.clock.wall().saturating_sub(intended);
        self.recorder.record(Metric::ScheduleLag, lag, &tags);
        let timeout = us(self.plan.phases[p].reply_timeout);
        self.push(intended + timeout, Ev::Timeout(id));
        let mut io = TargetIo::default();
        self.target.send(now, &msg, &mut io);
        self.absorb(io);
        self.fire_message_faults();
    }

    fn fire_message_faults(&mut self) {
        for f in 0..self.plan.faults.len() {
            if let FaultTrigger::AfterMessages(n) = self.plan.faults[f].trigger
                && !self.fault_fired[f]
                && self.acct.sent >= n
            {
                self.fire_fault(f);
            }
        }
    }

    fn absorb(&mut self, io: TargetIo) {
        for (at, token) in io.timers {
            self.push(at, Ev::Target(token));
        }
        for o in io.observations {
            self.observe(o);
        }
    }

    fn observe(&mut self, o: Observation) {
        match o {
            Observation::Reply { id, success, interrupted } => self.reply(id, success, interrupted),
            Observation::ContainerStarted { took, .. } => self.recorder.record(Metric::ContainerStart, took, &[]),
            Observation::SessionSwitch { id, took } => {
                let tags = self.messages.get(id as usize).map(|m| self.tags(m.phase, m.session));
                self.recorder.record(Metric::SessionSwitch, took, tags.as_ref().map_or(&[][..], |t| &t[..]));
            }
            Observation::TargetError { .. } => {
                self.acct.target_errors += 1;
                self.recorder.add(Metric::TargetErrors, 1, &[]);
            }
            Observation::MalformedReply { .. } => {
                self.acct.malformed_replies += 1;
                self.recorder.add(Metric::MalformedReplies, 1, &[]);
            }
            Observation::UnknownReply => self.acct.unknown_replies += 1,
            Observation::PreviewLoad { id, took } => {
                let tags = self.messages.get(id as usize).map(|m| self.tags(m.phase, m.session));
                self.recorder.record(Metric::PreviewLoad, took, tags.as_ref().map_or(&[][..], |t| &t[..]));
            }
        }
    }

    fn reply(&mut self, id: u64, success: bool, interrupted: bool) {
        let now = self.clock.now();
        let Some(info) = self.messages.get(id as usize) else { return };
        let (session, phase, intended, state) = (info.session, info.phase, info.intended, info.state);
        let tags = self.tags(phase, session);
        match state {
            MsgState::Replied | MsgState::Failed => {
                self.acct.duplicated += 1;
                self.recorder.add(Metric::MessagesDuplicated, 1, &tags);
                return;
            }
            MsgState::Lost => {
                self.acct.late_replies += 1;
                return;
            }
            MsgState::InFlight => {}
        }
        // Out of order: an earlier message of the session is answered after a later one. A lost
        // message is never answered, so it cannot make the replies after it out of order.
        match self.last_answered[session] {
            Some(last) if last > id => {
                self.acct.out_of_order += 1;
                self.recorder.add(Metric::MessagesOutOfOrder, 1, &tags);
            }
            _ => self.last_answered[session] = Some(id),
        }
        let latency = self.clock.wall().max(now).saturating_sub(intended);
        self.recorder.record(Metric::MessageLatency, latency, &tags);
        self.interval.latency.get_or_insert_with(new_histogram).record(latency).ok();
        self.recorder.outcome(Metric::MessageSuccess, success, &tags);
        let rec = &mut self.sessions[session];
        rec.answered += 1;
        rec.max_latency_us = rec.max_latency_us.max(latency);
        rec.total_latency_us += latency;
        if success {
            self.messages[id as usize].state = MsgState::Replied;
            self.acct.replied += 1;
            self.interval.replied += 1;
            self.phase_records[phase].replied += 1;
            self.recorder.add(Metric::MessagesReplied, 1, &tags);
            let pair = self.plan.sessions[session].pair_key();
            let (done, keep): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.recoveries).into_iter().partition(|r| r.pair == pair);
            self.recoveries = keep;
            for r in done {
                self.recorder.record(Metric::RecoveryTime, now.saturating_sub(r.since), &[]);
            }
        } else {
            self.messages[id as usize].state = MsgState::Failed;
            self.acct.failed += 1;
            self.interval.failed += 1;
            self.phase_records[phase].failed += 1;
            self.recorder.add(Metric::MessagesFailed, 1, &tags);
        }
        if interrupted {
            self.acct.interrupts += 1;
            self.recorder.add(Metric::Interrupts, 1, &tags);
        }
        self.resolved(phase, session);
    }

    fn timeout(&mut self, id: u64) {
        let Some(info) = self.messages.get(id as usize) else { return };
        if info.state != MsgState::InFlight {
            return;
        }
        let (session, phase) = (info.session, info.phase);
        self.messages[id as usize].state = MsgState::Lost;
        self.mark_lost(phase, session);
        self.resolved(phase, session);
    }

    fn mark_lost(&mut self, phase: usize, session: usize) {
        let tags = self.tags(phase, session);
        self.acct.lost += 1;
        self.interval.lost += 1;
        self.phase_records[phase].lost += 1;
        self.sessions[session].lost += 1;
        self.recorder.add(Metric::MessagesLost, 1, &tags);
        self.recorder.outcome(Metric::MessageSuccess, false, &tags);
    }

    fn resolved(&mut self, phase: usize, session: usize) {
        self.phase_in_flight[phase] = self.phase_in_flight[phase].saturating_sub(1);
        let now = self.clock.now();
        if !self.arrivals_stopped {
            let mut cx = ExecCx::default();
            if let Some(ex) = self.executors[phase].as_mut() {
                ex.resolved(now, session, &mut self.rng, &mut cx);
            }
            self.apply(phase, cx);
        }
        self.check_phase_done(phase);
    }

    fn fire_fault(&mut self, f: usize) {
        if self.fault_fired[f] {
            return;
        }
        self.fault_fired[f] = true;
        let now = self.clock.now();
        let fault = &self.plan.faults[f];
        let mut io = TargetIo::default();
        let outcome = match &fault.action {
            FaultAction::KillContainer { select } => {
                let out = self.target.kill(now, select, &mut io);
                for pair in &out.pairs {
                    self.recoveries.push(PendingRecovery { pair: pair.clone(), since: now });
                }
                out
            }
            FaultAction::PauseContainer { select, duration } => self.target.pause(now, select, us(*duration), &mut io),
            FaultAction::Interrupt { session } => self.target.interrupt(now, *session, &mut io),
        };
        let record = &mut self.faults[f];
        record.at = Some(secs(now));
        record.detail = outcome.detail;
        record.containers = outcome.containers;
        let record = record.clone();
        self.observer.fault(&record);
        self.absorb(io);
    }

    fn sample(&mut self) {
        let now = self.clock.now();
        let g = self.target.sample(now);
        for (c, mem, cpu) in &g.containers {
            let instance = format!("container-{c}");
            self.recorder.gauge(Metric::ContainerMemory, &instance, now, *mem);
            self.recorder.gauge(Metric::ContainerCpu, &instance, now, *cpu);
        }
        self.recorder.gauge(Metric::QueueDepth, "all", now, g.queue_depth);
        self.recorder.gauge(Metric::ContainersRunning, "all", now, g.running);
        let interval = std::mem::take(&mut self.interval);
        let lat = interval.latency.as_ref().map(stats);
        let ms = |v: u64| v as f64 / 1e3;
        let point = TimelinePoint {
            t: secs(now),
            sent: interval.sent,
            replied: interval.replied,
            failed: interval.failed,
            lost: interval.lost,
            in_flight: self.total_in_flight(),
            latency_p50_ms: lat.map(|s| ms(s.p50)),
            latency_p90_ms: lat.map(|s| ms(s.p90)),
            latency_p99_ms: lat.map(|s| ms(s.p99)),
            latency_count: lat.map_or(0, |s| s.count),
            latency_sum_ms: lat.map_or(0.0, |s| s.avg * s.count as f64 / 1e3),
            latency_min_ms: lat.map(|s| ms(s.min)),
            latency_max_ms: lat.map(|s| ms(s.max)),
            containers: g.running,
            memory_max_bytes: g.containers.iter().map(|c| c.1).max(),
            cpu_avg_pct: (!g.containers.is_empty())
                .then(|| g.containers.iter().map(|c| c.2 as f64 / 100.0).sum::<f64>() / g.containers.len() as f64),
            queue_depth: g.queue_depth,
        };
        let overall = self
            .recorder
            .histogram(&crate::metrics::SeriesKey { metric: Metric::MessageLatency, tag: None })
            .map(|h| (h.value_at_quantile(0.5), h.value_at_quantile(0.99)));
        self.observer.sample(&point, &self.acct, overall);
        self.timeline.push(point);
        self.check_aborts();
    }

    fn check_aborts(&mut self) {
        if self.abort_reason.is_some() {
            return;
        }
        for t in self.plan.thresholds.iter().filter(|t| t.abort_on_fail) {
            let (held, measured) = rule_holds(t, &self.recorder, self.plan);
            // A rule with no data yet cannot fail early: wait for data.
            if measured.is_some() && !held {
                self.abort_reason = Some(format!("{}: {} failed at {:.0}s", t.key, t.rule, secs(self.clock.now())));
                return;
            }
        }
    }

    fn finish(mut self, end: EndReason) -> RunResult {
        // Replies that are already in let the last messages count as answered.
        let mut io = TargetIo::default();
        self.target.poll(self.clock.now(), &mut io);
        self.absorb(io);
        // Whatever is still unanswered when the run stops never got its reply in time.
        for id in 0..self.messages.len() {
            if self.messages[id].state == MsgState::InFlight {
                self.messages[id].state = MsgState::Lost;
                let (phase, session) = (self.messages[id].phase, self.messages[id].session);
                self.phase_in_flight[phase] = self.phase_in_flight[phase].saturating_sub(1);
                self.mark_lost(phase, session);
            }
        }
        // A final sample so the timeline and gauges cover the end of the run.
        let last_t = self.timeline.last().map(|p| p.t);
        if last_t.is_none_or(|t| t < secs(self.clock.now())) {
            self.sample();
        }
        self.target.finish();
        RunResult {
            recorder: self.recorder,
            accounting: self.acct,
            timeline: self.timeline,
            faults: self.faults,
            phases: self.phase_records,
            sessions: self.sessions,
            end: if self.abort_reason.is_some() { EndReason::Aborted } else { end },
            abort_reason: self.abort_reason,
            duration: Duration::from_micros(self.clock.now()),
            unrecovered: self.recoveries.len() as u64,
        }
    }
}
