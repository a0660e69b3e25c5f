//! The ledger: the one place that counts. Every message's life (sent, answered, failed, lost,
//! answered twice, answered late) goes through it, per phase, per session and in total, with
//! one path for a message being resolved. The dispatcher decides when things happen; the
//! ledger decides what they count as.

use std::collections::HashMap;

use hdrhistogram::Histogram;

use super::records::{Accounting, FaultRecord, OwnershipChange, PhaseRecord, SessionCounters, TimelinePoint};
use super::window::Window;
use crate::metrics::{Metric, MetricKind, Outcome, Recorder, SeriesKey, Tag, new_histogram, stats};
use crate::plan::Plan;
use crate::targets::{FaultOutcome, GaugeSample, Micros};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MsgState {
    /// Handed to a target that acknowledges sends, and not acknowledged yet: in flight, but not
    /// counted as sent.
    Handed,
    /// Sent (acknowledged, or handed to a target that does not acknowledge), waiting for its
    /// answer.
    InFlight,
    Replied,
    Failed,
    Lost,
    /// Never reached the system (the send failed, or its template did).
    NotSent,
    /// Never acknowledged by the system before its reply timeout or the end of the run: counted
    /// with the send errors, and an answer for it later is a late reply.
    Unconfirmed,
}

struct MsgInfo {
    session: usize,
    phase: usize,
    intended: Micros,
    state: MsgState,
    /// A session switch seen for the message before it was resolved; kept only if a reply
    /// resolves it.
    switch: Option<Micros>,
}

/// A kill whose pair has not yet answered successfully since.
#[derive(Debug, Clone)]
struct PendingRecovery {
    pair: String,
    since: Micros,
}

#[derive(Default)]
struct Interval {
    sent: u64,
    replied: u64,
    failed: u64,
    lost: u64,
    dropped: u64,
    latency: Option<Histogram<u64>>,
    lag: Option<Histogram<u64>>,
}

/// The tags a value is recorded under: its phase, its group, and the two together when a
/// threshold names that pair (so a run pays for the combined series it is judged on only).
#[derive(Clone, Copy)]
struct Tags {
    items: [Tag; 3],
    len: usize,
}

impl std::ops::Deref for Tags {
    type Target = [Tag];
    fn deref(&self) -> &[Tag] {
        &self.items[..self.len]
    }
}

/// A message the ledger resolved: its phase and session, for the executor that waits on it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Resolved {
    pub id: u64,
    pub phase: usize,
    pub session: usize,
    /// Latency of the answer that resolved it; `None` when it was lost or never sent.
    pub latency: Option<Micros>,
    /// Whether that answer was a success.
    pub success: bool,
}

fn secs(t: Micros) -> f64 {
    t as f64 / 1e6
}

pub(crate) struct Ledger<'a> {
    plan: &'a Plan,
    /// (phase, group) pairs a threshold judges together.
    combined: std::collections::HashSet<(usize, usize)>,
    pub recorder: Recorder,
    pub acct: Accounting,
    messages: Window<MsgInfo>,
    /// How long after it was due a resolved message is kept, µs: a minute past the longest
    /// reply timeout, so its late and second answers are still counted against it.
    horizon: Micros,
    last_answered: Vec<Option<u64>>,
    phase_in_flight: Vec<u64>,
    pub phases: Vec<PhaseRecord>,
    pub sessions: Vec<SessionCounters>,
    recoveries: Vec<PendingRecovery>,
    interval: Interval,
    pub timeline: super::timeline::Timeline,
    gauges: GaugeSample,
    /// The session groups of each project+user pair, when the gauges are split by group: the
    /// plan has more than one group, or a threshold names a group's gauge.
    pair_groups: HashMap<String, Vec<usize>>,
    pub ownership_changes: Vec<OwnershipChange>,
    /// In a slice of a simulated run: what this slice does not record (other slices' messages,
    /// and the system's own observations unless this is the first slice) goes here instead.
    shadow: Option<Box<Shadow>>,
}

/// The sinks of a ledger, swapped in while it handles what its slice does not record, so that
/// every count and every metric has one code path whether or not it is recorded.
#[derive(Default)]
struct Shadow {
    recorder: Recorder,
    acct: Accounting,
    interval: Interval,
    phases: Vec<PhaseRecord>,
    sessions: Vec<SessionCounters>,
    ownership_changes: Vec<OwnershipChange>,
    /// Which sessions this slice records.
    owned: std::sync::Arc<[bool]>,
    /// The pairs of those sessions.
    owned_pairs: std::collections::HashSet<String>,
    /// Whether this slice records the system's own observations (containers, gauges, claims,
    /// errors that name no message): the first slice does.
    system: bool,
    /// Whether the sinks are swapped now.
    active: bool,
}

impl<'a> Ledger<'a> {
    /// Swaps the real sinks with the shadow's (and back).
    fn swap_shadow(&mut self) {
        let Some(s) = self.shadow.as_deref_mut() else { return };
        std::mem::swap(&mut self.recorder, &mut s.recorder);
        std::mem::swap(&mut self.acct, &mut s.acct);
        std::mem::swap(&mut self.interval, &mut s.interval);
        std::mem::swap(&mut self.phases, &mut s.phases);
        std::mem::swap(&mut self.sessions, &mut s.sessions);
        std::mem::swap(&mut self.ownership_changes, &mut s.ownership_changes);
        s.active = !s.active;
    }

    /// Runs `f` with the shadow's sinks when `recorded` is false (only in a slice of a
    /// simulated run; otherwise everything is recorded).
    fn recording<R>(&mut self, recorded: bool, f: impl FnOnce(&mut Self) -> R) -> R {
        let swap = !recorded && self.shadow.as_ref().is_some_and(|s| !s.active);
        if swap {
            self.swap_shadow();
        }
        let out = f(self);
        if swap {
            self.swap_shadow();
        }
        out
    }

    /// Whether this ledger records what concerns `session`.
    fn records_session(&self, session: usize) -> bool {
        self.shadow.as_ref().is_none_or(|s| s.owned.get(session).copied().unwrap_or(false))
    }

    /// Whether this ledger records what concerns message `id` (a forgotten message's answer is
    /// the system's).
    fn records_message(&self, id: u64) -> bool {
        match self.messages.get(id) {
            Some(m) => self.records_session(m.session),
            None => self.records_system(),
        }
    }

    /// Whether this ledger records the system's own observations.
    fn records_system(&self) -> bool {
        self.shadow.as_ref().is_none_or(|s| s.system)
    }

    /// Messages sent, recorded here or not: what a fault triggered by a message count counts.
    pub(crate) fn total_sent(&self) -> u64 {
        self.acct.sent + self.shadow.as_ref().map_or(0, |s| s.acct.sent)
    }

    pub(crate) fn new(plan: &'a Plan) -> Self {
        let combined = plan
            .thresholds
            .iter()
            .filter_map(|t| match crate::metrics::resolve_tags(plan, &t.tags) {
                Some(Tag::PhaseGroup(p, g)) => Some((p, g)),
                _ => None,
            })
            .collect();
        let mut recorder = Recorder::new();
        crate::metrics::watch_windows(plan, &mut recorder);
        Self {
            plan,
            combined,
            recorder,
            acct: Accounting::default(),
            messages: Window::new(),
            horizon: plan.phases.iter().map(|p| p.reply_timeout).max().unwrap_or_default().as_micros() as Micros
                + 60_000_000,
            last_answered: vec![None; plan.sessions.len()],
            phase_in_flight: vec![0; plan.phases.len()],
            phases: plan
                .phases
                .iter()
                .map(|p| PhaseRecord {
                    unmeasured: p.unmeasured,
                    ..PhaseRecord::new(p.name.clone(), p.executor.name().to_owned(), p.allow_empty)
                })
                .collect(),
            sessions: vec![SessionCounters::default(); plan.sessions.len()],
            recoveries: Vec::new(),
            interval: Interval::default(),
            timeline: super::timeline::Timeline::default(),
            gauges: GaugeSample::default(),
            pair_groups: if plan.groups.len() > 1
                || plan.thresholds.iter().any(|t| t.metric.kind() == MetricKind::Gauge && !t.tags.is_empty())
            {
                let mut map: HashMap<String, Vec<usize>> = HashMap::new();
                for session in plan.sessions.iter() {
                    let groups = map.entry(session.pair_key()).or_default();
                    if !groups.contains(&session.group) {
                        groups.push(session.group);
                    }
                }
                map
            } else {
                HashMap::new()
            },
            ownership_changes: Vec::new(),
            shadow: plan.segment.as_ref().filter(|seg| seg.whole_model).map(|seg| {
                Box::new(Shadow {
                    phases: plan.phases.iter().map(|p| PhaseRecord::new(p.name.clone(), String::new(), true)).collect(),
                    sessions: vec![SessionCounters::default(); plan.sessions.len()],
                    owned: seg.owned.clone(),
                    owned_pairs: plan
                        .sessions
                        .iter()
                        .zip(seg.owned.iter())
                        .filter(|(_, o)| **o)
                        .map(|(s, _)| s.pair_key())
                        .collect(),
                    system: seg.index == 1,
                    ..Shadow::default()
                })
            }),
        }
    }

    fn tags(&self, phase: usize, session: usize) -> Tags {
        // A setup or teardown phase's values stay out of the run's series: its own tag only.
        if self.plan.phases[phase].unmeasured {
            return Tags { items: [Tag::Phase(phase), Tag::Unmeasured, Tag::Unmeasured], len: 2 };
        }
        let group = self.plan.sessions[session].group;
        let both = self.combined.contains(&(phase, group));
        Tags {
            items: [Tag::Phase(phase), Tag::Group(group), Tag::PhaseGroup(phase, group)],
            len: 2 + usize::from(both),
        }
    }

    fn message_tags(&self, id: u64) -> Option<Tags> {
        self.messages.get(id).map(|m| self.tags(m.phase, m.session))
    }

    pub(crate) fn in_flight(&self, phase: usize) -> u64 {
        self.phase_in_flight[phase]
    }

    pub(crate) fn total_in_flight(&self) -> u64 {
        self.phase_in_flight.iter().sum()
    }

    /// The id the next message will get.
    pub(crate) fn next_id(&self) -> u64 {
        self.messages.next_id()
    }

    /// An arrival dropped by the in-flight cap.
    pub(crate) fn dropped(&mut self, phase: usize, session: usize) {
        let recorded = self.records_session(session);
        self.recording(recorded, |l| l.dropped_inner(phase, session));
    }

    fn dropped_inner(&mut self, phase: usize, session: usize) {
        let tags = self.tags(phase, session);
        self.acct.dropped_arrivals += 1;
        self.interval.dropped += 1;
        self.recorder.add(Metric::DroppedArrivals, 1, &tags);
    }

    /// An arrival that found every session of phase `phase` busy (think time).
    pub(crate) fn dropped_busy(&mut self, phase: usize, session: usize) {
        let recorded = self.records_session(session);
        self.recording(recorded, |l| {
            l.dropped_inner(phase, session);
            l.phases[phase].busy_drops += 1;
        });
    }

    /// A message handed to the target, `lag` after its intended time; returns its id. It counts
    /// as sent once [`Ledger::acknowledged`] says the system took it. The interval's lag
    /// percentiles are kept for the timeline when `timed` (the real clock).
    pub(crate) fn handed(&mut self, phase: usize, session: usize, intended: Micros, lag: Micros, timed: bool) -> u64 {
        let recorded = self.records_session(session);
        self.recording(recorded, |l| l.handed_inner(phase, session, intended, lag, timed))
    }

    fn handed_inner(&mut self, phase: usize, session: usize, intended: Micros, lag: Micros, timed: bool) -> u64 {
        let id = self.next_id();
        let tags = self.tags(phase, session);
        self.messages.push(MsgInfo { session, phase, intended, state: MsgState::Handed, switch: None });
        // Messages resolved and due longer ago than the horizon are forgotten.
        let horizon = self.horizon;
        self.messages.forget_while(|m| {
            !matches!(m.state, MsgState::Handed | MsgState::InFlight) && m.intended.saturating_add(horizon) < intended
        });
        self.phase_in_flight[phase] += 1;
        self.recorder.record(Metric::ScheduleLag, lag, &tags);
        if timed {
            self.interval.lag.get_or_insert_with(new_histogram).record(lag).ok();
        }
        id
    }

    /// The system acknowledged message `id` (or the target hands messages over without
    /// acknowledging): from now it counts as sent. Later acknowledgements change nothing.
    pub(crate) fn acknowledged(&mut self, id: u64) {
        let recorded = self.records_message(id);
        self.recording(recorded, |l| l.acknowledged_inner(id));
    }

    fn acknowledged_inner(&mut self, id: u64) {
        let Some(info) = self.messages.get_mut(id) else { return };
        if info.state != MsgState::Handed {
            return;
        }
        info.state = MsgState::InFlight;
        let (phase, session) = (info.phase, info.session);
        let tags = self.tags(phase, session);
        self.phases[phase].sent += 1;
        self.sessions[session].sent += 1;
        self.acct.sent += 1;
        self.interval.sent += 1;
        self.recorder.add(Metric::MessagesSent, 1, &tags);
    }

    /// A reply for message `id`, seen at `at`. Returns the message when this reply resolved it.
    pub(crate) fn reply(&mut self, at: Micros, id: u64, success: bool, interrupted: bool) -> Option<Resolved> {
        let recorded = self.records_message(id);
        self.recording(recorded, |l| l.reply_inner(at, id, success, interrupted))
    }

    fn reply_inner(&mut self, at: Micros, id: u64, success: bool, interrupted: bool) -> Option<Resolved> {
        // An answer proves the message was sent, even if its acknowledgement is still on the way.
        self.acknowledged_inner(id);
        if self.messages.forgotten(id) {
            // Answered long after its message was resolved (past the horizon): late.
            self.acct.late_replies += 1;
            self.recorder.add(Metric::LateReplies, 1, &[]);
            return None;
        }
        let info = self.messages.get(id)?;
        let (session, phase, intended, state) = (info.session, info.phase, info.intended, info.state);
        // herd never sent it, so the system cannot have answered it.
        if state == MsgState::NotSent {
            self.unknown_reply_inner();
            return None;
        }
        let tags = self.tags(phase, session);
        // A PREEMPTED answer says the message was interrupted whether or not it came first.
        if interrupted {
            self.acct.interrupts += 1;
            self.recorder.add(Metric::MessagesInterrupted, 1, &tags);
            self.recorder.add(Metric::Interrupts, 1, &tags);
        }
        // The first answer is the message's outcome; every later one agrees with it (a
        // duplicate) or contradicts it.
        match state {
            MsgState::Replied | MsgState::Failed => {
                if (state == MsgState::Replied) == success {
                    self.acct.duplicated += 1;
                    self.recorder.add(Metric::MessagesDuplicated, 1, &tags);
                } else {
                    self.acct.contradictory += 1;
                    self.recorder.add(Metric::MessagesContradictory, 1, &tags);
                }
                return None;
            }
            MsgState::Lost | MsgState::Unconfirmed => {
                self.acct.late_replies += 1;
                self.recorder.add(Metric::LateReplies, 1, &tags);
                return None;
            }
            MsgState::NotSent | MsgState::InFlight | MsgState::Handed => {}
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
        let latency = at.saturating_sub(intended);
        // `message_latency` is the latency of work done: successful replies only. An overloaded
        // system that fails fast must not look fast; failed and interrupted answers keep their
        // own series (`message_latency{outcome="failed"}`, `{outcome="interrupted"}`).
        if success {
            self.recorder.record(Metric::MessageLatency, latency, &tags);
            self.interval.latency.get_or_insert_with(new_histogram).record(latency).ok();
        } else {
            let outcome = if interrupted { Outcome::Interrupted } else { Outcome::Failed };
            self.recorder.record_only(Metric::MessageLatency, latency, Tag::Outcome(outcome));
        }
        self.recorder.outcome(Metric::MessageSuccess, success, &tags);
        let rec = &mut self.sessions[session];
        rec.answered += 1;
        rec.max_latency_us = rec.max_latency_us.max(latency);
        rec.total_latency_us += latency;
        if success {
            self.messages[id].state = MsgState::Replied;
            self.acct.replied += 1;
            self.interval.replied += 1;
            self.phases[phase].replied += 1;
            self.recorder.add(Metric::MessagesReplied, 1, &tags);
            // Only after a fault is anything waiting to recover; the common reply costs nothing.
            if !self.recoveries.is_empty() {
                let pair = self.plan.sessions[session].pair_key();
                let (done, keep): (Vec<_>, Vec<_>) =
                    std::mem::take(&mut self.recoveries).into_iter().partition(|r| r.pair == pair);
                self.recoveries = keep;
                for r in done {
                    self.recorder.record(Metric::RecoveryTime, at.saturating_sub(r.since), &[]);
                }
            }
        } else {
            self.messages[id].state = MsgState::Failed;
            self.acct.failed += 1;
            self.interval.failed += 1;
            self.phases[phase].failed += 1;
            self.recorder.add(Metric::MessagesFailed, 1, &tags);
        }
        if let Some(took) = self.messages[id].switch.take() {
            self.recorder.record(Metric::SessionSwitch, took, &tags);
        }
        let mut resolved = self.resolve(id, phase, session);
        resolved.latency = Some(latency);
        resolved.success = success;
        Some(resolved)
    }

    /// Message `id` timed out. Returns the message when it was still in flight.
    pub(crate) fn timeout(&mut self, id: u64) -> Option<Resolved> {
        let recorded = self.records_message(id);
        self.recording(recorded, |l| l.timeout_inner(id))
    }

    fn timeout_inner(&mut self, id: u64) -> Option<Resolved> {
        let info = self.messages.get(id)?;
        let (session, phase, state) = (info.session, info.phase, info.state);
        match state {
            MsgState::InFlight => self.mark_lost(id),
            // Never acknowledged: herd cannot say the system ever had it.
            MsgState::Handed => self.mark_not_sent(id, MsgState::Unconfirmed),
            _ => return None,
        }
        Some(self.resolve(id, phase, session))
    }

    /// Message `id` never reached the system as far as herd knows: `state` says why (refused,
    /// or never acknowledged). Either way it is a send error, not a sent message.
    fn mark_not_sent(&mut self, id: u64, state: MsgState) {
        let m = &mut self.messages[id];
        m.state = state;
        m.switch = None;
        let (phase, session) = (m.phase, m.session);
        let tags = self.tags(phase, session);
        self.acct.send_errors += 1;
        if state == MsgState::Unconfirmed {
            self.acct.unconfirmed += 1;
        }
        self.phases[phase].send_errors += 1;
        self.recorder.add(Metric::SendErrors, 1, &tags);
        self.recorder.outcome(Metric::MessageSuccess, false, &tags);
    }

    /// Where message `id` belongs, for error messages: its thread and phase.
    pub(crate) fn describe_message(&self, id: u64) -> String {
        match self.messages.get(id) {
            Some(m) => {
                format!("thread {}, phase {}", self.plan.sessions[m.session].thread, self.plan.phases[m.phase].name)
            }
            None => "unknown".to_owned(),
        }
    }

    /// Message `id` never reached the system. Returns the message when it was still in flight;
    /// a reply for it later (which would be a bug of the target) counts as unknown.
    pub(crate) fn send_failed(&mut self, id: u64) -> Option<Resolved> {
        let recorded = self.records_message(id);
        self.recording(recorded, |l| l.send_failed_inner(id))
    }

    fn send_failed_inner(&mut self, id: u64) -> Option<Resolved> {
        let info = self.messages.get(id)?;
        // Only a message not yet counted as sent can fail to be sent.
        if info.state != MsgState::Handed {
            return None;
        }
        let (phase, session) = (info.phase, info.session);
        self.mark_not_sent(id, MsgState::NotSent);
        Some(self.resolve(id, phase, session))
    }

    fn mark_lost(&mut self, id: u64) {
        let m = &mut self.messages[id];
        m.state = MsgState::Lost;
        m.switch = None;
        let (phase, session) = (m.phase, m.session);
        let tags = self.tags(phase, session);
        self.acct.lost += 1;
        self.interval.lost += 1;
        self.phases[phase].lost += 1;
        self.sessions[session].lost += 1;
        self.recorder.add(Metric::MessagesLost, 1, &tags);
        self.recorder.outcome(Metric::MessageSuccess, false, &tags);
    }

    fn resolve(&mut self, id: u64, phase: usize, session: usize) -> Resolved {
        self.phase_in_flight[phase] = self.phase_in_flight[phase].saturating_sub(1);
        Resolved { id, phase, session, latency: None, success: false }
    }

    /// Every message still in flight when the run stops never got its reply in time.
    /// Messages never acknowledged (still in herd's sender, or their send call unfinished) are
    /// not proven sent: they count with the send errors. Returns how many there were.
    pub(crate) fn lose_in_flight(&mut self) -> u64 {
        let mut unconfirmed = 0;
        for id in self.messages.ids() {
            let (phase, session, state) = (self.messages[id].phase, self.messages[id].session, self.messages[id].state);
            let recorded = self.records_session(session);
            match state {
                MsgState::InFlight => self.recording(recorded, |l| l.mark_lost(id)),
                MsgState::Handed => {
                    self.recording(recorded, |l| l.mark_not_sent(id, MsgState::Unconfirmed));
                    unconfirmed += usize::from(recorded) as u64;
                }
                _ => continue,
            }
            self.resolve(id, phase, session);
        }
        unconfirmed
    }

    /// A session switch for message `id`. It counts only for a message resolved by a reply:
    /// kept until then, recorded at once if the reply came first, dropped if the message was
    /// lost (a reply after the message was counted lost proves no switch time).
    pub(crate) fn switch(&mut self, id: u64, took: Micros) {
        let recorded = self.records_message(id);
        self.recording(recorded, |l| l.switch_inner(id, took));
    }

    fn switch_inner(&mut self, id: u64, took: Micros) {
        let Some(tags) = self.message_tags(id) else { return };
        let m = &mut self.messages[id];
        match m.state {
            MsgState::InFlight | MsgState::Handed => m.switch = Some(took),
            MsgState::Replied | MsgState::Failed => self.recorder.record(Metric::SessionSwitch, took, &tags),
            MsgState::Lost | MsgState::NotSent | MsgState::Unconfirmed => {}
        }
    }

    /// herd sent an INTERRUPT for `session` (a fault, or the router's interrupt on a switch).
    pub(crate) fn interrupt_sent(&mut self, session: Option<usize>) {
        let recorded = session.map_or_else(|| self.records_system(), |s| self.records_session(s));
        self.recording(recorded, |l| l.interrupt_sent_inner(session));
    }

    fn interrupt_sent_inner(&mut self, session: Option<usize>) {
        self.acct.interrupts_sent += 1;
        let tags = session.map(|s| [Tag::Group(self.plan.sessions[s].group)]);
        self.recorder.add(Metric::InterruptsSent, 1, tags.as_ref().map_or(&[][..], |t| &t[..]));
    }

    /// A project+user changed hands at `at`; a new owner is a claim seen taken.
    pub(crate) fn owner_changed(&mut self, at: Micros, pair: String, from: Option<String>, to: Option<String>) {
        let recorded = self.records_system();
        self.recording(recorded, |l| {
            if to.is_some() {
                l.acct.claims_seen += 1;
            }
            l.ownership_changes.push(OwnershipChange { t: secs(at), pair, from, to });
        });
    }

    /// herd sent a CLAIM_REQUEST.
    pub(crate) fn claim_sent(&mut self) {
        let recorded = self.records_system();
        self.recording(recorded, |l| {
            l.acct.claims_sent += 1;
            l.recorder.add(Metric::ClaimsSent, 1, &[]);
        });
    }

    pub(crate) fn container_started(&mut self, took: Micros) {
        let recorded = self.records_system();
        self.recording(recorded, |l| l.recorder.record(Metric::ContainerStart, took, &[]));
    }

    pub(crate) fn target_error(&mut self) {
        let recorded = self.records_system();
        self.recording(recorded, |l| {
            l.acct.target_errors += 1;
            l.recorder.add(Metric::TargetErrors, 1, &[]);
        });
    }

    pub(crate) fn malformed_reply(&mut self) {
        let recorded = self.records_system();
        self.recording(recorded, |l| {
            l.acct.malformed_replies += 1;
            l.recorder.add(Metric::MalformedReplies, 1, &[]);
        });
    }

    pub(crate) fn unknown_reply(&mut self) {
        let recorded = self.records_system();
        self.recording(recorded, Self::unknown_reply_inner);
    }

    fn unknown_reply_inner(&mut self) {
        self.acct.unknown_replies += 1;
        self.recorder.add(Metric::UnknownReplies, 1, &[]);
    }

    pub(crate) fn preview_load(&mut self, id: u64, took: Micros) {
        let recorded = self.records_message(id);
        self.recording(recorded, |l| {
            let tags = l.message_tags(id);
            l.recorder.record(Metric::PreviewLoad, took, tags.as_ref().map_or(&[][..], |t| &t[..]));
        });
    }

    /// A fault was carried out at `at`: its record is filled in, and every pair whose container
    /// it killed waits for its next successful reply (`recovery_time`).
    pub(crate) fn fault_done(&mut self, record: &mut FaultRecord, at: Micros, outcome: FaultOutcome, kill: bool) {
        if kill {
            for pair in &outcome.pairs {
                self.recoveries.push(PendingRecovery { pair: pair.clone(), since: at });
            }
        }
        record.at = Some(secs(at));
        record.detail = outcome.detail;
        record.containers = outcome.containers;
        record.pairs = outcome.pairs;
    }

    /// Gauges sampled at `at`; the next timeline point shows them.
    pub(crate) fn gauges(&mut self, at: Micros, g: GaugeSample) {
        let recorded = self.records_system();
        self.recording(recorded, |l| l.gauges_inner(at, g));
    }

    fn gauges_inner(&mut self, at: Micros, g: GaugeSample) {
        for (c, mem, cpu) in &g.containers {
            let instance = format!("container-{c}");
            self.recorder.gauge(Metric::ContainerMemory, &instance, at, *mem);
            self.recorder.gauge(Metric::ContainerCpu, &instance, at, *cpu);
        }
        self.recorder.gauge(Metric::QueueDepth, "all", at, g.queue_depth);
        self.recorder.gauge(Metric::ContainersRunning, "all", at, g.running);
        self.group_gauges(at, &g);
        self.gauges = g;
    }

    /// Each session group's share of the fleet: the depth of the work queues its pairs use (a
    /// queue shared by groups counts for each), and the running containers that own its pairs,
    /// when the target says which ones do.
    fn group_gauges(&mut self, at: Micros, g: &GaugeSample) {
        if self.pair_groups.is_empty() {
            return;
        }
        let groups = self.plan.groups.len();
        let mut depth: Vec<Option<u64>> = vec![None; groups];
        for q in &g.queues {
            let mut of: Vec<usize> = q.pairs.iter().flat_map(|p| self.pair_groups.get(p)).flatten().copied().collect();
            of.sort_unstable();
            of.dedup();
            for group in of {
                *depth[group].get_or_insert(0) += q.depth;
            }
        }
        for (group, d) in depth.into_iter().enumerate() {
            if let Some(d) = d {
                self.recorder.gauge_only(Metric::QueueDepth, Tag::Group(group), "all", at, d);
            }
        }
        if !g.owners_known {
            return;
        }
        let mut owned: Vec<Vec<u64>> = vec![Vec::new(); groups];
        for (pair, container) in &g.owners {
            for group in self.pair_groups.get(pair).into_iter().flatten() {
                if !owned[*group].contains(container) {
                    owned[*group].push(*container);
                }
            }
        }
        for (group, containers) in owned.iter().enumerate() {
            let tag = Tag::Group(group);
            self.recorder.gauge_only(Metric::ContainersRunning, tag, "all", at, containers.len() as u64);
            for (c, mem, cpu) in g.containers.iter().filter(|(c, _, _)| containers.contains(c)) {
                let instance = format!("container-{c}");
                self.recorder.gauge_only(Metric::ContainerMemory, tag, &instance, at, *mem);
                self.recorder.gauge_only(Metric::ContainerCpu, tag, &instance, at, *cpu);
            }
        }
    }

    /// Closes the interval with a timeline point at `now`, with the rate the schedule asked for
    /// then.
    pub(crate) fn point(&mut self, now: Micros, intended_rate: Option<f64>) -> TimelinePoint {
        let interval = std::mem::take(&mut self.interval);
        let lat = interval.latency.as_ref().map(stats);
        let lag = interval.lag.as_ref().map(stats);
        let ms = |v: u64| v as f64 / 1e3;
        let g = &self.gauges;
        let point = TimelinePoint {
            intended_rate,
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
            containers_starting: g.starting,
            memory_max_bytes: g.containers.iter().map(|c| c.1).max(),
            cpu_avg_pct: (!g.containers.is_empty())
                .then(|| g.containers.iter().map(|c| c.2 as f64 / 100.0).sum::<f64>() / g.containers.len() as f64),
            queue_depth: g.queue_depth,
            schedule_lag_p99_ms: lag.map(|s| ms(s.p99)),
            dropped: interval.dropped,
        };
        self.timeline.push(point.clone());
        point
    }

    /// `message_latency` p50 and p99 so far.
    pub(crate) fn latency_so_far(&self) -> Option<(u64, u64)> {
        self.recorder
            .histogram(&SeriesKey { metric: Metric::MessageLatency, tag: None })
            .map(|h| (h.value_at_quantile(0.5), h.value_at_quantile(0.99)))
    }

    /// Kills whose pair never answered successfully again.
    pub(crate) fn unrecovered(&self) -> u64 {
        match &self.shadow {
            Some(s) => self.recoveries.iter().filter(|r| s.owned_pairs.contains(&r.pair)).count() as u64,
            None => self.recoveries.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::SeriesKey;

    fn plan() -> Plan {
        let text = "name = \"l\"\n[[sessions]]\ncount = 2\n[[phases]]\nexecutor = \"burst\"\ncount = 1\n";
        let loaded = crate::scenario::load_bytes("l.toml", text.as_bytes()).expect("loads");
        crate::plan::compile(&loaded).expect("compiles")
    }

    /// A message handed over and acknowledged at once, as on a target that does not acknowledge.
    fn sent(l: &mut Ledger<'_>, session: usize) -> u64 {
        let id = l.handed(0, session, 0, 0, false);
        l.acknowledged(id);
        id
    }

    fn switches(l: &Ledger<'_>) -> u64 {
        l.recorder.histogram(&SeriesKey { metric: Metric::SessionSwitch, tag: None }).map_or(0, |h| h.len())
    }

    #[test]
    fn a_switch_counts_only_for_a_message_a_reply_resolves() {
        let plan = plan();
        let mut l = Ledger::new(&plan);
        // Seen before the reply: kept, and recorded when the reply resolves the message.
        let a = sent(&mut l, 0);
        l.switch(a, 400);
        assert_eq!(switches(&l), 0);
        assert!(l.reply(1_000, a, true, false).is_some());
        assert_eq!(switches(&l), 1);
        // Seen after the reply (a target that reports it later): recorded at once.
        let b = sent(&mut l, 1);
        assert!(l.reply(2_000, b, true, false).is_some());
        l.switch(b, 300);
        assert_eq!(switches(&l), 2);
        // The message was lost: neither the switch seen before nor one seen with its late reply
        // counts.
        let c = sent(&mut l, 0);
        l.switch(c, 500);
        assert!(l.timeout(c).is_some());
        assert!(l.reply(90_000_000, c, true, false).is_none());
        l.switch(c, 500);
        assert_eq!(switches(&l), 2);
        assert_eq!(l.acct.late_replies, 1);
        // A second answer resolves nothing: the same outcome is a duplicate, another outcome a
        // contradiction; a PREEMPTED answer counts as interrupted either way.
        assert!(l.reply(3_000, a, true, false).is_none());
        assert_eq!((l.acct.duplicated, l.acct.contradictory), (1, 0));
        assert!(l.reply(3_000, a, false, true).is_none());
        assert_eq!((l.acct.duplicated, l.acct.contradictory, l.acct.interrupts), (1, 1, 1));
        assert_eq!(l.acct.sent, l.acct.replied + l.acct.failed + l.acct.lost);
    }

    #[test]
    fn a_message_counts_as_sent_once_acknowledged_and_never_acknowledged_is_a_send_error() {
        let plan = plan();
        let mut l = Ledger::new(&plan);
        let a = l.handed(0, 0, 0, 0, false);
        let b = l.handed(0, 1, 0, 0, false);
        let c = l.handed(0, 0, 0, 0, false);
        let d = l.handed(0, 1, 0, 0, false);
        assert_eq!((l.acct.sent, l.in_flight(0)), (0, 4), "handed is in flight, not sent");
        l.acknowledged(a);
        l.acknowledged(a);
        assert_eq!(l.acct.sent, 1, "a second acknowledgement changes nothing");
        // An answer proves the message left, even before its acknowledgement.
        assert!(l.reply(1_000, b, true, false).is_some());
        l.acknowledged(b);
        assert_eq!((l.acct.sent, l.acct.replied), (2, 1));
        // Not acknowledged before its timeout: a send error, and its answer later is late.
        assert!(l.timeout(c).is_some());
        assert_eq!((l.acct.lost, l.acct.send_errors, l.acct.unconfirmed), (0, 1, 1));
        assert!(l.reply(2_000, c, true, false).is_none());
        assert_eq!(l.acct.late_replies, 1);
        // At the end: the acknowledged message is lost, the unacknowledged one a send error.
        assert_eq!(l.lose_in_flight(), 1);
        assert_eq!((l.acct.lost, l.acct.send_errors, l.acct.unconfirmed), (1, 2, 2));
        assert!(l.send_failed(d).is_none(), "already resolved");
        assert_eq!(l.acct.sent, l.acct.replied + l.acct.failed + l.acct.lost);
        assert_eq!(l.in_flight(0), 0);
    }

    #[test]
    fn resolved_messages_are_forgotten_after_the_horizon_and_their_answers_count_late() {
        let plan = plan();
        let mut l = Ledger::new(&plan);
        // One message a second for an hour, each answered at once.
        for t in 0..3_600u64 {
            let id = l.handed(0, (t % 2) as usize, t * 1_000_000, 0, false);
            l.acknowledged(id);
            assert!(l.reply(t * 1_000_000 + 1_000, id, true, false).is_some());
        }
        // The window holds the horizon (the reply timeout and a minute) and not the hour.
        let kept = l.messages.ids().count() as u64;
        let horizon_s = l.horizon / 1_000_000;
        assert!(kept <= horizon_s + 2, "kept {kept} of 3600 (horizon {horizon_s} s)");
        // A message in flight holds the window open behind it until it is resolved.
        let stuck = l.handed(0, 0, 3_600_000_000, 0, false);
        l.acknowledged(stuck);
        for t in 3_601..3_900u64 {
            let id = l.handed(0, 1, t * 1_000_000, 0, false);
            l.acknowledged(id);
            l.reply(t * 1_000_000 + 1_000, id, true, false);
        }
        assert!(l.messages.get(stuck).is_some());
        assert!(l.reply(3_950_000_000, stuck, true, false).is_some(), "still counted against its message");
        // An answer for a forgotten message is a late reply, not an unknown one.
        assert!(l.reply(3_950_000_000, 0, true, false).is_none());
        assert_eq!((l.acct.late_replies, l.acct.unknown_replies, l.acct.duplicated), (1, 0, 0));
        assert_eq!(l.acct.sent, l.acct.replied + l.acct.failed + l.acct.lost);
    }
}
