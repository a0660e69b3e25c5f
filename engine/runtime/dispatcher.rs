//! The dispatcher: the event loop. It owns the clock, the queue of events, the executors and
//! the target; it routes arrivals from executors to the target and observations from the target
//! to the ledger, and tells the outputs. Counting is the ledger's, threshold rules are the
//! metrics' threshold code's, and the target's I/O runs in the target's own tasks.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;

use super::clock::{Clock, ClockKind, Woke};
use super::deadlines::{Added, Deadlines};
use super::executors::{ExecCx, Executor, new_executor, phase_rng, seeded_uuid};
use super::ledger::{Ledger, Resolved};
use super::observer::{Progress, RunObserver, Stopping};
use super::pace::{Behind, Pace};
use super::records::{BehindRecord, EndReason, FaultRecord, RunResult};
use crate::metrics::{aborting_rule, judge_windows};
use crate::plan::{
    DataOrder, FaultAction, FaultTrigger, MessageVars, PhaseStart, Plan, field_name, instruction_name, message_lookup,
    message_value, phase_value,
};
use crate::targets::{FaultOutcome, Inbox, Micros, Observation, Outbound, Stamped, Target, TargetIo};

fn us(d: Duration) -> Micros {
    d.as_micros() as Micros
}

fn secs(t: Micros) -> f64 {
    t as f64 / 1e6
}

/// A message table's instruction template name and its (field, template name) pairs.
/// A message table: its owner (`phases[0]`, `faults[2]`), the instruction's template name, and
/// (field, template name) pairs.
struct MessageTemplates {
    owner: String,
    instruction: String,
    fields: Vec<(String, String)>,
}

/// How long in-flight messages may still be answered after Ctrl-C.
/// How long a stopped run waits for the replies in flight, unless `RunOptions` says otherwise.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// How many send failures are logged as warnings before the rest go to the debug level.
const WARNED_SEND_FAILURES: u32 = 10;

/// How often, in wall time, outputs are told how the run stands on the real clock.
const TICK: Duration = Duration::from_millis(250);

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Which clock drives the run.
    pub clock: ClockKind,
    /// Set from outside (Ctrl-C) to stop arrivals and finish early.
    pub stop: Arc<AtomicBool>,
    /// Set from outside (a second Ctrl-C) to skip the wait for in-flight replies; the run still
    /// finishes properly (the target cleans up).
    pub hurry: Arc<AtomicBool>,
    /// Once stopped, how long the run waits for the replies in flight before it cleans up.
    pub stop_grace: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            clock: ClockKind::Virtual,
            stop: Arc::new(AtomicBool::new(false)),
            hurry: Arc::new(AtomicBool::new(false)),
            stop_grace: DEFAULT_STOP_GRACE,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    PhaseStart(usize),
    ExecWake(usize, u64),
    PhaseEnd(usize),
    Target(u64),
    Fault(usize),
    Sample,
    /// The reply deadline of one message sent out of order (see `Deadlines`).
    Timeout(u64),
    /// The earliest reply deadline of a phase is due.
    Deadlines(usize),
}

/// A phase that has started: its executor and its own random streams.
struct Running {
    executor: Box<dyn Executor>,
    /// Draws of the executor (Poisson gaps, think times).
    rng: ChaCha8Rng,
    /// Message ids (correlation uuids) of the phase.
    ids: ChaCha8Rng,
}

struct Dispatcher<'a> {
    plan: &'a Plan,
    target: &'a mut dyn Target,
    inbox: Option<Inbox>,
    observer: &'a mut dyn RunObserver,
    clock: Clock,
    stop: Arc<AtomicBool>,
    hurry: Arc<AtomicBool>,
    queue: BinaryHeap<Reverse<(Micros, u64, Ev)>>,
    seq: u64,
    /// Reply deadlines, kept per phase in the order they fall due instead of one heap entry per
    /// message.
    deadlines: Deadlines,
    ledger: Ledger<'a>,
    pace: Pace,
    behind_now: Option<String>,
    behind: Option<BehindRecord>,
    iterations: Vec<u64>,
    running: Vec<Option<Running>>,
    /// Per phase: the instruction's template name and (field, template name) pairs, worked out
    /// once rather than for every message.
    /// Shared, so a send takes a reference-counted handle instead of copying the names.
    phase_templates: Vec<Arc<MessageTemplates>>,
    /// `phase.*` and `group` of the message templates, made once.
    phase_values: Vec<minijinja::Value>,
    group_values: Vec<minijinja::Value>,
    phase_done: Vec<bool>,
    faults: Vec<FaultRecord>,
    fault_fired: Vec<bool>,
    arrivals_stopped: bool,
    abort_reason: Option<String>,
    /// The first send that failed, for the summary's warning.
    first_send_error: Option<String>,
    /// Send failures logged as warnings so far: the first few are, the rest only at debug
    /// level (a server that refuses everything at 50,000 messages a second must not cost a
    /// line each; the summary counts them all).
    send_failures_warned: u32,
    /// Per message table with sequential data: the next row.
    data_cursor: std::collections::HashMap<String, u64>,
    last_tick: std::time::Instant,
    /// Whether the inbox wakes the dispatcher for answers, as last told.
    answers_wake: bool,
    stop_grace: Micros,
    /// Once stopped: when the wait for the replies in flight ends (wall time).
    grace_deadline: Option<Micros>,
}

/// Runs a plan against a target to the end and returns what was measured.
pub fn run(plan: &Plan, target: &mut dyn Target, options: &RunOptions, observer: &mut dyn RunObserver) -> RunResult {
    let inbox = target.take_inbox();
    let d = Dispatcher {
        plan,
        inbox,
        target,
        observer,
        clock: Clock::new(options.clock),
        stop: options.stop.clone(),
        hurry: options.hurry.clone(),
        queue: BinaryHeap::new(),
        seq: 0,
        deadlines: Deadlines::new(plan.phases.len()),
        ledger: Ledger::new(plan),
        pace: Pace::default(),
        behind_now: None,
        behind: None,
        iterations: vec![0; plan.sessions.len()],
        running: plan.phases.iter().map(|_| None).collect(),
        phase_templates: (0..plan.phases.len())
            .map(|p| Arc::new(message_templates(plan, &format!("phases[{p}]"))))
            .collect(),
        phase_values: plan.phases.iter().map(|p| phase_value(&p.name)).collect(),
        group_values: plan.groups.iter().map(|g| minijinja::Value::from(g.name.as_str())).collect(),
        phase_done: vec![false; plan.phases.len()],
        faults: plan
            .faults
            .iter()
            .enumerate()
            .map(|(i, f)| {
                // A fault another slice carries out proves nothing here, and is no failure.
                let elsewhere = plan.segment.as_ref().filter(|seg| !seg.carries_fault(i));
                FaultRecord {
                    name: f.name.clone(),
                    at: None,
                    action: f.action.kind().name().to_owned(),
                    detail: match elsewhere {
                        Some(seg) => format!(
                            "carried out by slice {}/{}, not this one",
                            seg.fault_slices.get(i).copied().unwrap_or(1),
                            seg.count
                        ),
                        None => "not reached: the run ended first".into(),
                    },
                    containers: Vec::new(),
                    pairs: Vec::new(),
                    allow_empty: f.allow_empty || elsewhere.is_some(),
                }
            })
            .collect(),
        fault_fired: vec![false; plan.faults.len()],
        arrivals_stopped: false,
        abort_reason: None,
        first_send_error: None,
        send_failures_warned: 0,
        data_cursor: std::collections::HashMap::new(),
        last_tick: std::time::Instant::now(),
        // The inbox starts out waking for answers.
        answers_wake: true,
        stop_grace: us(options.stop_grace),
        grace_deadline: None,
    };
    d.run()
}

/// A message table's template names; `compile` names field templates with `field_name`, so the
/// field keys are what follows that prefix.
fn message_templates(plan: &Plan, owner: &str) -> MessageTemplates {
    let prefix = field_name(owner, "");
    let fields =
        plan.templates.names_with_prefix(&prefix).into_iter().map(|n| (n[prefix.len()..].to_owned(), n)).collect();
    MessageTemplates { owner: owner.to_owned(), instruction: instruction_name(owner), fields }
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
        let mut end = EndReason::Completed;

        // Once every phase is done, a target whose answers come from outside may still be sent
        // second answers; the run listens that long before it finishes.
        let mut settle_deadline: Option<Micros> = None;
        loop {
            if self.stop.load(Ordering::Relaxed) && self.grace_deadline.is_none() {
                self.arrivals_stopped = true;
                self.grace_deadline = Some(self.clock.wall() + self.stop_grace);
                end = EndReason::Interrupted;
            }
            let grace_deadline = self.grace_deadline;
            if let Some(deadline) = grace_deadline
                && (self.ledger.total_in_flight() == 0
                    || self.clock.wall() >= deadline
                    || self.hurry.load(Ordering::Relaxed))
            {
                break;
            }
            if self.abort_reason.is_some() {
                end = EndReason::Aborted;
                break;
            }
            if grace_deadline.is_none() && self.phase_done.iter().all(|d| *d) {
                let settle = self.target.settle();
                if !self.clock.is_real() || settle == 0 {
                    break;
                }
                let deadline = *settle_deadline.get_or_insert(self.clock.wall() + settle);
                if self.clock.wall() >= deadline {
                    break;
                }
            }
            let limit = [grace_deadline, settle_deadline].into_iter().flatten().fold(max, Micros::min);
            // On the real clock the limit is wall time: a loop that fell behind its events
            // still stops at `max_duration`.
            if self.clock.is_real() && self.clock.wall() >= limit {
                if grace_deadline.is_none() && settle_deadline.is_none() {
                    end = EndReason::MaxDuration;
                }
                break;
            }
            let next = self.queue.peek().map(|Reverse((at, _, _))| *at);
            let until = next.map_or(limit, |at| at.min(limit));
            if next.is_none() && !self.clock.is_real() {
                break;
            }
            match self.clock.wait_until(until, &self.stop, self.inbox.as_ref()) {
                Woke::Reached => {}
                Woke::Observed(stamped) => {
                    self.observe_stamped(stamped);
                    self.drain_inbox();
                    self.after_event();
                    continue;
                }
                Woke::Slice | Woke::Stopped => {
                    self.maybe_tick();
                    self.tell_inbox_what_wakes();
                    continue;
                }
            }
            // Whatever arrived before this moment is handled before the event, so a reply that
            // came in time is never counted lost by a timeout that fires after it.
            self.drain_inbox();
            if next.is_none_or(|at| at > limit) {
                if self.clock.is_real() {
                    // Keep waiting (and handling observations) until the limit on the wall.
                    continue;
                }
                self.clock.wait_until(limit, &self.stop, None);
                if grace_deadline.is_none() && settle_deadline.is_none() {
                    end = EndReason::MaxDuration;
                }
                break;
            }
            let Some(Reverse((_, _, ev))) = self.queue.pop() else { break };
            self.handle(ev);
            self.after_event();
        }
        self.finish(end)
    }

    fn timeout(&mut self, id: u64) {
        if let Some(r) = self.ledger.timeout(id) {
            self.resolved(r);
        }
    }

    fn after_event(&mut self) {
        self.start_chained_phases();
        self.maybe_tick();
        self.tell_inbox_what_wakes();
    }

    /// Answers must wake the dispatcher while a decision waits on them: a closed-model phase
    /// sends again when one comes, a phase that has sent everything ends with its last one, and
    /// an interrupted or finished run ends when none is left in flight. Otherwise (open-model
    /// phases still sending) they wait in the inbox for the next event, which takes them first.
    fn tell_inbox_what_wakes(&mut self) {
        let Some(inbox) = self.inbox.as_ref() else { return };
        let wake = self.grace_deadline.is_some()
            || self.phase_done.iter().all(|d| *d)
            || self.running.iter().zip(&self.phase_done).any(|(r, done)| {
                !*done && r.as_ref().is_some_and(|r| r.executor.waits_for_answers() || r.executor.finished_sending())
            });
        if wake != self.answers_wake {
            inbox.wake_for_answers(wake);
            self.answers_wake = wake;
        }
    }

    fn drain_inbox(&mut self) {
        while let Some(stamped) = self.inbox.as_ref().and_then(|i| i.try_recv().ok()) {
            self.observe_stamped(stamped);
        }
    }

    fn observe_stamped(&mut self, stamped: Stamped) {
        let at = self.clock.stamp(stamped.at);
        self.observe(at, stamped.observation);
    }

    /// Tells the outputs how the run is going, at most four times a second of wall time; on
    /// the virtual clock the samples are enough.
    fn maybe_tick(&mut self) {
        if !self.clock.is_real() || self.last_tick.elapsed() < TICK {
            return;
        }
        self.last_tick = std::time::Instant::now();
        self.judge_pace();
        let latency = self.ledger.latency_so_far();
        let stopping = self.grace_deadline.map(|deadline| Stopping {
            in_flight: self.ledger.total_in_flight(),
            left: secs(deadline.saturating_sub(self.clock.wall())),
        });
        let progress = Progress {
            at: secs(self.clock.wall()),
            totals: &self.ledger.acct,
            latency,
            behind: self.behind_now.as_deref(),
            stopping,
        };
        self.observer.tick(&progress);
    }

    /// Whether the generator is behind its schedule now; remembers the worst window.
    /// Arrivals per second the running phases' schedules ask for now, if any has a rate.
    fn planned_rate(&self) -> Option<f64> {
        self.running
            .iter()
            .zip(&self.phase_done)
            .filter(|(_, done)| !**done)
            .filter_map(|(r, _)| r.as_ref().and_then(|r| r.executor.planned_rate(self.clock.now())))
            .reduce(|a, b| a + b)
    }

    fn judge_pace(&mut self) {
        let wall = self.clock.wall();
        let planned = self.planned_rate();
        let judged = self.pace.judge(wall, planned);
        self.behind_now = judged.as_ref().map(Behind::message);
        if let Some(b) = judged {
            if self.behind.is_none() {
                tracing::info!(target: "herd::runtime", "{}", b.message());
            }
            let worse = self.behind.as_ref().is_none_or(|w| b.lag_p99 as f64 / 1e3 > w.worst_lag_p99_ms);
            let first_at = self.behind.as_ref().map_or(secs(wall), |w| w.first_at);
            if worse {
                self.behind = Some(BehindRecord {
                    first_at,
                    worst_lag_p99_ms: b.lag_p99 as f64 / 1e3,
                    sent_per_second: b.sent_per_second,
                    planned_per_second: b.planned_per_second,
                    dropped_arrivals: 0,
                    message: b.message(),
                });
            }
        }
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
                if let Some(r) = self.running[p].as_mut() {
                    r.executor.wake(now, token, &mut r.rng, &mut cx);
                }
                self.apply(p, cx);
            }
            Ev::PhaseEnd(p) => {
                if let Some(r) = self.running[p].as_mut() {
                    r.executor.reached_end(now);
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
            Ev::Deadlines(p) => {
                let mut due = Vec::new();
                let next = self.deadlines.due(p, now, |id| due.push(id));
                for id in due {
                    self.timeout(id);
                }
                if let Some(at) = next {
                    self.push(at, Ev::Deadlines(p));
                }
            }
        }
    }

    fn start_phase(&mut self, p: usize) {
        if self.running[p].is_some() || self.arrivals_stopped {
            return;
        }
        let now = self.clock.now();
        let phase = &self.plan.phases[p];
        let mut running = Running {
            executor: new_executor(self.plan, p, now),
            rng: phase_rng(self.plan.seed, &phase.name, "arrivals"),
            ids: phase_rng(self.plan.seed, &phase.name, "message ids"),
        };
        let mut cx = ExecCx::default();
        running.executor.start(now, &mut running.rng, &mut cx);
        if let Some(end) = running.executor.end_time() {
            self.push(end, Ev::PhaseEnd(p));
        }
        self.running[p] = Some(running);
        self.ledger.phases[p].started = Some(secs(now));
        self.observer.phase_started(&phase.name, secs(now));
        self.apply(p, cx);
        self.check_phase_done(p);
    }

    /// Starts every phase that waits for its predecessor once that one is done.
    fn start_chained_phases(&mut self) {
        for p in 1..self.plan.phases.len() {
            if self.plan.phases[p].start == PhaseStart::AfterPrevious
                && self.running[p].is_none()
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
        let Some(r) = self.running[p].as_ref() else { return };
        let sending_done = r.executor.finished_sending() || self.arrivals_stopped;
        if sending_done && self.ledger.in_flight(p) == 0 {
            self.phase_done[p] = true;
            self.ledger.phases[p].finished = Some(secs(self.clock.now()));
            self.ledger.phases[p].steps = r.executor.steps();
        }
    }

    fn apply(&mut self, p: usize, cx: ExecCx) {
        for (at, token) in cx.wakes {
            self.push(at, Ev::ExecWake(p, token));
        }
        for session in cx.dropped {
            // Every session was busy: the generator kept its schedule, so this is not lag.
            self.ledger.dropped_busy(p, session);
        }
        for (session, intended, capped) in cx.sends {
            self.send(p, session, intended, capped);
        }
        self.check_phase_done(p);
    }

    fn send(&mut self, p: usize, session: usize, intended: Micros, capped: bool) {
        if self.arrivals_stopped {
            return;
        }
        if capped {
            let cap = self.running[p].as_ref().map_or(u64::MAX, |r| r.executor.max_in_flight());
            if self.ledger.in_flight(p) >= cap || !self.target.accepts(session) {
                self.ledger.dropped(p, session);
                self.pace.dropped(self.clock.wall());
                if let Some(r) = self.running[p].as_mut() {
                    r.executor.refused(session);
                }
                return;
            }
        }
        let Some(correlation) = self.correlation(p) else { return };
        let templates = Arc::clone(&self.phase_templates[p]);
        self.send_message(p, session, intended, correlation, &templates, false);
    }

    /// A new correlation id (commandId, task token) for a message of phase `p`. An in-process
    /// model draws it from the phase's seeded stream, so a run repeats exactly; a real system
    /// gets one from the operating system's randomness, so nobody can know the tokens in advance
    /// (or collide with another run of the same seed).
    fn correlation(&mut self, p: usize) -> Option<String> {
        let running = self.running[p].as_mut()?;
        if self.plan.target.supports_virtual_clock() {
            Some(seeded_uuid(&mut running.ids))
        } else {
            let bytes: [u8; 16] = rand::random();
            let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
            // A slice's ids (and so its task tokens) say which slice they belong to, so a
            // callback that reaches another slice's listener is forwarded to this one.
            Some(match &self.plan.segment {
                Some(seg) => format!("s{}-{id}", seg.index),
                None => id.to_string(),
            })
        }
    }

    /// Sends one message of phase `p` (the phase it is counted in) rendered from `templates`;
    /// with `interrupt_first` the target sends an INTERRUPT for the session's container before
    /// it. Returns the message's id.
    fn send_message(
        &mut self,
        p: usize,
        session: usize,
        intended: Micros,
        correlation: String,
        templates: &MessageTemplates,
        interrupt_first: bool,
    ) -> u64 {
        let now = self.clock.now();
        let lag = self.clock.wall().saturating_sub(intended);
        let iteration = self.iterations[session];
        self.iterations[session] += 1;
        let id = self.ledger.handed(p, session, intended, lag, self.clock.is_real());
        // On the virtual clock every send leaves on time by construction; only the real clock
        // can fall behind.
        if self.clock.is_real() {
            self.pace.sent(self.clock.wall(), lag);
        }
        let data = self.message_row(p, &templates.owner, iteration);
        let s = &self.plan.sessions[session];
        let vars = MessageVars { seq: id, iteration, id: correlation.clone(), data };
        // The engine's context is made only for a template that needs the engine: most are
        // text and lookups, read straight from the session and the message.
        let value = std::cell::OnceCell::new();
        let ctx = || {
            value
                .get_or_init(|| {
                    message_value(
                        &self.plan.sessions,
                        session,
                        &self.group_values[s.group],
                        &vars,
                        &self.phase_values[p],
                    )
                })
                .clone()
        };
        let group = self.plan.groups.get(s.group).map_or("", |g| g.name.as_str());
        let lookup = |path: &[Box<str>]| message_lookup(s, group, &vars, &self.plan.phases[p].name, path);
        let (instruction_template, field_templates) = (&templates.instruction, &templates.fields);
        // Templates were rendered once at compile time, but a template can still fail for one
        // message only (`{% if vars.iteration == 2 %}{{ fail() }}`). Such a message is never
        // sent with an error text as its body: it counts in `send_errors` and stops the run.
        let rendered = (|| {
            let render = |name: &str| {
                self.plan.templates.render_with(name, lookup, ctx).map_err(|e| format!("template `{name}` failed: {e}"))
            };
            let instruction = render(instruction_template)?;
            let mut fields = Vec::with_capacity(field_templates.len());
            for (k, name) in field_templates.iter() {
                fields.push((k.clone(), render(name)?));
            }
            Ok::<_, String>((instruction, fields))
        })();
        let (instruction, fields) = match rendered {
            Ok(r) => r,
            Err(e) => {
                self.template_failed(id, e);
                return id;
            }
        };
        let msg = Outbound {
            id,
            session,
            phase: p,
            correlation,
            instruction,
            fields,
            iteration,
            data: vars.data,
            interrupt_first,
        };
        let deadline = intended + us(self.plan.phases[p].reply_timeout);
        match self.deadlines.add(p, deadline, id) {
            Added::Queued => {}
            Added::Wake(at) => self.push(at, Ev::Deadlines(p)),
            Added::OutOfOrder => self.push(deadline, Ev::Timeout(id)),
        }
        let mut io = TargetIo::default();
        self.target.send(now, &msg, &mut io);
        self.absorb(io);
        if !self.target.acknowledges_sends() {
            // Handed over is sent (a failure seen on the spot has already said otherwise).
            self.ledger.acknowledged(id);
        }
        self.fire_message_faults();
        id
    }

    /// The row of the message table's data file the next message of `owner` gets (empty when
    /// it has none): the phase's next row, a seeded random one, or the session's `iteration`-th.
    fn message_row(&mut self, p: usize, owner: &str, iteration: u64) -> std::collections::BTreeMap<String, String> {
        let Some(data) = self.plan.message_data.get(owner) else { return Default::default() };
        let n = data.rows.len().max(1) as u64;
        let k = match data.order {
            DataOrder::Sequential => {
                let cursor = self.data_cursor.entry(owner.to_owned()).or_insert(0);
                *cursor += 1;
                *cursor - 1
            }
            DataOrder::Random => match self.running[p].as_mut() {
                Some(r) => rand::Rng::random_range(&mut r.ids, 0..n),
                None => 0,
            },
            DataOrder::PerSession => iteration,
        };
        data.rows.get((k % n) as usize).cloned().unwrap_or_default()
    }

    /// Message `id` could not be rendered: it is not sent, and the run stops with the reason.
    fn template_failed(&mut self, id: u64, detail: String) {
        self.ledger.send_failed(id);
        let where_ = self.ledger.describe_message(id);
        tracing::error!(target: "herd::runtime", "message {id} ({where_}): {detail}");
        if self.abort_reason.is_none() {
            self.abort_reason = Some(format!(
                "message {id} ({where_}) could not be rendered at {:.1}s: {detail}",
                secs(self.clock.now())
            ));
        }
    }

    /// An interrupt fault that carries a message: the INTERRUPT and the new work go out as the
    /// router sends them, in that order. The message is counted in the phase running now (the
    /// latest started that has not finished, else the latest started).
    fn interrupt_with_message(&mut self, f: usize, session: usize, owner: &str) {
        let started: Vec<usize> = (0..self.running.len()).filter(|p| self.running[*p].is_some()).collect();
        let Some(p) = started.iter().rev().find(|p| !self.phase_done[**p]).or(started.last()).copied() else {
            let outcome =
                FaultOutcome { detail: "no phase had started; nothing was sent".into(), ..FaultOutcome::default() };
            self.observe(self.clock.now(), Observation::FaultDone { fault: f, outcome });
            return;
        };
        let Some(correlation) = self.correlation(p) else { return };
        let templates = message_templates(self.plan, owner);
        let id = self.send_message(p, session, self.clock.now(), correlation, &templates, true);
        let s = &self.plan.sessions[session];
        let outcome = FaultOutcome {
            containers: Vec::new(),
            pairs: vec![s.pair_key()],
            detail: format!(
                "sent an INTERRUPT, then message {id} for {} (counted in phase {})",
                s.thread, self.plan.phases[p].name
            ),
        };
        self.observe(self.clock.wall().max(self.clock.now()), Observation::FaultDone { fault: f, outcome });
    }

    fn fire_message_faults(&mut self) {
        for f in 0..self.plan.faults.len() {
            if let FaultTrigger::AfterMessages(n) = self.plan.faults[f].trigger
                && !self.fault_fired[f]
                && self.ledger.total_sent() >= n
            {
                self.fire_fault(f);
            }
        }
    }

    fn absorb(&mut self, io: TargetIo) {
        for (at, token) in io.timers {
            self.push(at, Ev::Target(token));
        }
        // Observations made on the spot are seen now; on the real clock that is the wall time,
        // which is later than the event's time when the loop is behind.
        let seen = self.clock.wall().max(self.clock.now());
        for o in io.observations {
            self.observe(seen, o);
        }
    }

    /// An observation made at `at` on the run's clock.
    fn observe(&mut self, at: Micros, o: Observation) {
        match o {
            Observation::Reply { id, success, interrupted } => {
                if let Some(r) = self.ledger.reply(at, id, success, interrupted) {
                    self.resolved(r);
                }
            }
            Observation::ContainerStarted { took, .. } => self.ledger.container_started(took),
            Observation::SessionSwitch { id, took } => self.ledger.switch(id, took),
            Observation::TargetError { detail } => {
                tracing::debug!(target: "herd::runtime", "target error: {detail}");
                self.ledger.target_error();
            }
            Observation::Acknowledged { ids } => {
                for id in ids {
                    self.ledger.acknowledged(id);
                }
                self.fire_message_faults();
            }
            Observation::SendFailed { id, detail } => {
                match self.send_failures_warned {
                    0..WARNED_SEND_FAILURES => {
                        tracing::warn!(target: "herd::runtime", "message {id} was not sent: {detail}");
                    }
                    WARNED_SEND_FAILURES => tracing::warn!(
                        target: "herd::runtime",
                        "message {id} was not sent: {detail} (further send failures are logged at debug level)"
                    ),
                    _ => tracing::debug!(target: "herd::runtime", "message {id} was not sent: {detail}"),
                }
                self.send_failures_warned = self.send_failures_warned.saturating_add(1);
                self.first_send_error.get_or_insert(format!("message {id}: {detail}"));
                if let Some(r) = self.ledger.send_failed(id) {
                    self.resolved(r);
                }
            }
            Observation::TemplateFailed { id, detail } => self.template_failed(id, detail),
            Observation::MalformedReply { detail } => {
                tracing::debug!(target: "herd::runtime", "malformed reply: {detail}");
                self.ledger.malformed_reply();
            }
            Observation::UnknownReply => self.ledger.unknown_reply(),
            Observation::PreviewLoad { id, took } => self.ledger.preview_load(id, took),
            Observation::Gauges(g) => self.ledger.gauges(at, g),
            Observation::InterruptSent { session } => self.ledger.interrupt_sent(session),
            Observation::ClaimSent => self.ledger.claim_sent(),
            Observation::OwnerChanged { pair, from, to } => {
                tracing::info!(target: "herd::runtime", "{pair}: owner {} -> {}", from.as_deref().unwrap_or("none"), to.as_deref().unwrap_or("none"));
                self.ledger.owner_changed(at, pair, from, to);
            }
            Observation::FaultDone { fault, outcome } => {
                if fault >= self.faults.len() {
                    return;
                }
                let kill = matches!(
                    self.plan.faults[fault].action,
                    FaultAction::KillContainer { .. } | FaultAction::StopContainer { .. }
                );
                if self.plan.segment.as_ref().is_some_and(|seg| !seg.carries_fault(fault)) {
                    // A slice of a simulated run carries out every fault, for the model's sake,
                    // and leaves the record to the slice that holds it; the pairs it hit still
                    // wait for their recovery.
                    let mut scratch = self.faults[fault].clone();
                    self.ledger.fault_done(&mut scratch, at, outcome, kill);
                    return;
                }
                let record = &mut self.faults[fault];
                self.ledger.fault_done(record, at, outcome, kill);
                let record = record.clone();
                tracing::info!(target: "herd::runtime", "fault {}: {}", record.name, record.detail);
                self.observer.fault(&record);
            }
        }
    }

    /// A message was answered or lost: its executor may send the next one.
    fn resolved(&mut self, r: Resolved) {
        self.target.resolved(r.id);
        let now = self.clock.now();
        if !self.arrivals_stopped {
            let mut cx = ExecCx::default();
            if let Some(running) = self.running[r.phase].as_mut() {
                running.executor.answered(r.latency, r.success);
                running.executor.resolved(now, r.session, &mut running.rng, &mut cx);
            }
            self.apply(r.phase, cx);
        }
        self.check_phase_done(r.phase);
    }

    fn fire_fault(&mut self, f: usize) {
        if self.fault_fired[f] {
            return;
        }
        self.fault_fired[f] = true;
        // Another slice carries the fault out; a slice of a simulated run carries it out too,
        // since it runs the whole model, and records nothing of it.
        if self.plan.segment.as_ref().is_some_and(|seg| !seg.carries_fault(f) && !seg.whole_model) {
            return;
        }
        let now = self.clock.now();
        let mut io = TargetIo::default();
        match &self.plan.faults[f].action {
            FaultAction::KillContainer { select } => self.target.kill(now, f, select, &mut io),
            FaultAction::StopContainer { select } => self.target.stop(now, f, select, &mut io),
            FaultAction::PauseContainer { select, duration } => {
                self.target.pause(now, f, select, us(*duration), &mut io);
            }
            FaultAction::Interrupt { session, message: None } => self.target.interrupt(now, f, *session, &mut io),
            FaultAction::Interrupt { session, message: Some(owner) } => {
                let (session, owner) = (*session, owner.clone());
                self.interrupt_with_message(f, session, &owner);
            }
        }
        self.absorb(io);
    }

    fn sample(&mut self) {
        let now = self.clock.now();
        let mut io = TargetIo::default();
        self.target.sample(now, &mut io);
        self.absorb(io);
        self.judge_pace();
        let latency = self.ledger.latency_so_far();
        let intended = self.planned_rate();
        let point = self.ledger.point(now, intended);
        let progress = Progress {
            at: point.t,
            totals: &self.ledger.acct,
            latency,
            behind: self.behind_now.as_deref(),
            stopping: None,
        };
        self.observer.sample(&point, &progress);
        if self.abort_reason.is_none() {
            self.abort_reason = aborting_rule(self.plan, &self.ledger.recorder)
                .map(|(key, rule)| format!("{key}: {rule} failed at {:.0}s", secs(now)));
        }
        // Windowed and delayed rules are judged at every sample, on the latest data.
        if let Some((key, rule, measured)) = judge_windows(self.plan, &mut self.ledger.recorder, now)
            && self.abort_reason.is_none()
        {
            let t = self.plan.thresholds.iter().find(|t| t.key == key && t.rule == rule);
            let measured = t.map_or_else(
                || measured.to_string(),
                |t| crate::report::format_value(t.metric, Some(t.aggregate), measured),
            );
            self.abort_reason = Some(format!("{key}: {rule} failed at {:.0}s (measured {measured})", secs(now)));
        }
    }

    fn finish(mut self, end: EndReason) -> RunResult {
        // Replies that are already in let the last messages count as answered.
        self.drain_inbox();
        let unconfirmed = self.ledger.lose_in_flight();
        if unconfirmed > 0 {
            self.first_send_error.get_or_insert(format!(
                "{unconfirmed} message{} never acknowledged by the system before the run ended (still in herd's sender, or the call unfinished)",
                if unconfirmed == 1 { " was" } else { "s were" }
            ));
        }
        // A final sample so the timeline and gauges cover the end of the run.
        let last_t = self.ledger.timeline.last_t();
        if last_t.is_none_or(|t| t < secs(self.clock.now())) {
            self.sample();
        }
        let usage = self.target.usage(self.clock.now());
        let cleanup_failures = self.target.finish();
        let files = self.target.files();
        for left in &cleanup_failures {
            tracing::warn!(target: "herd::runtime", "clean-up: {left}");
        }
        let mut behind = self.behind.take();
        if let Some(b) = behind.as_mut() {
            b.dropped_arrivals = self.ledger.acct.dropped_arrivals;
        }
        let unrecovered = self.ledger.unrecovered();
        let ledger = self.ledger;
        RunResult {
            recorder: ledger.recorder,
            accounting: ledger.acct,
            samples_per_point: ledger.timeline.stride(),
            timeline: ledger.timeline.into_points(),
            faults: self.faults,
            phases: ledger.phases,
            sessions: ledger.sessions,
            end: if self.abort_reason.is_some() { EndReason::Aborted } else { end },
            abort_reason: self.abort_reason,
            first_send_error: self.first_send_error,
            duration: Duration::from_micros(self.clock.now()),
            unrecovered,
            behind,
            cleanup_failures,
            files,
            ownership_changes: ledger.ownership_changes,
            usage,
        }
    }
}
