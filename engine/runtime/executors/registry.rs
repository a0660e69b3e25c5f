//! The executor trait, the one place that maps a phase's executor to its implementation, and
//! the per-phase random streams.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::breaking_point::BreakingPoint;
use super::burst::Burst;
use super::constant_arrival_rate::constant_arrival_rate;
use super::per_session_iterations::PerSessionIterations;
use super::ramping_arrival_rate::ramping_arrival_rate;
use super::segmented::Segmented;
use super::soak::Soak;
use super::think_time::{Taker, ThinkTime};
use crate::plan::{ExecutorPlan, IterationOrder, Plan};
use crate::runtime::StepRecord;
use crate::targets::Micros;

/// What an executor asks of the dispatcher in one call.
#[derive(Debug, Default)]
pub(crate) struct ExecCx {
    /// (session, intended send time, whether the in-flight cap applies).
    pub sends: Vec<(usize, Micros, bool)>,
    /// (time, token) wake-ups.
    pub wakes: Vec<(Micros, u64)>,
    /// Sessions whose arrival found no session free to take it: counted in `dropped_arrivals`.
    pub dropped: Vec<usize>,
}

/// A running phase's arrival generator.
pub(crate) trait Executor: Send {
    /// Called once when the phase starts, at `now`.
    fn start(&mut self, now: Micros, rng: &mut ChaCha8Rng, cx: &mut ExecCx);
    /// A wake-up the executor asked for.
    fn wake(&mut self, now: Micros, token: u64, rng: &mut ChaCha8Rng, cx: &mut ExecCx);
    /// One of this phase's messages for `session` was answered or lost.
    fn resolved(&mut self, _now: Micros, _session: usize, _rng: &mut ChaCha8Rng, _cx: &mut ExecCx) {}
    /// A send the executor asked for for `session` never left (the phase's in-flight cap).
    fn refused(&mut self, _session: usize) {}
    /// How that message was resolved: the answer's latency (`None` when lost or never sent)
    /// and whether it was a success. Called just before `resolved`.
    fn answered(&mut self, _latency: Option<Micros>, _success: bool) {}
    /// The steps a stepping executor judged, for the phase's record.
    fn steps(&self) -> Vec<StepRecord> {
        Vec::new()
    }
    /// The phase's end time, for executors that run for a fixed time whatever they sent.
    fn end_time(&self) -> Option<Micros> {
        None
    }
    /// The end time has come.
    fn reached_end(&mut self, _now: Micros) {}
    /// Whether the executor will ask for no more sends.
    fn finished_sending(&self) -> bool;
    /// Arrivals per second the schedule asks for at `now`, for executors with a rate.
    fn planned_rate(&self, _now: Micros) -> Option<f64> {
        None
    }
    /// The in-flight cap of capped sends.
    fn max_in_flight(&self) -> u64 {
        u64::MAX
    }
    /// Whether what it sends next depends on when its messages are answered (a closed model:
    /// an answer frees a session to send again), so the runtime must take each answer the
    /// moment it comes. An open model's schedule does not wait for answers, and the runtime
    /// takes them before its next event. An executor that overrides `resolved` must say yes.
    fn waits_for_answers(&self) -> bool {
        true
    }
}

/// The executor of phase `p` of `plan`, starting at `start`.
///
/// A segmented plan (`--segment i/n`) runs each phase's full schedule and sends only what falls
/// to its own sessions ([`Segmented`]); the sessions that take turns after a think time, and a
/// closed model's loops, are its own sessions only.
pub(crate) fn new_executor(plan: &Plan, p: usize, start: Micros) -> Box<dyn Executor> {
    let phase = &plan.phases[p];
    let mut inner = schedule(plan, p, start);
    let mut sessions = std::borrow::Cow::Borrowed(&phase.sessions);
    // A slice of a simulated run runs the whole model: its ledger records only its own share.
    if let Some(seg) = plan.segment.as_ref().filter(|seg| !seg.whole_model) {
        let mine: Vec<usize> = phase.sessions.iter().copied().filter(|s| seg.owns(*s)).collect();
        let share = if phase.sessions.is_empty() { 0.0 } else { mine.len() as f64 / phase.sessions.len() as f64 };
        // A closed model's loops were cut to this slice's sessions already.
        if !matches!(phase.executor, ExecutorPlan::PerSessionIterations { .. }) {
            inner = Box::new(Segmented::new(inner, seg.owned.clone(), share));
        }
        sessions = std::borrow::Cow::Owned(mine);
    }
    match &phase.think_time {
        Some(think) => {
            let taker = match phase.executor {
                ExecutorPlan::Soak { .. } => Taker::Named,
                _ => Taker::AnyRested,
            };
            Box::new(ThinkTime::new(inner, &sessions, *think, taker))
        }
        None => inner,
    }
}

/// The executor that makes phase `p`'s schedule, before any think time.
fn schedule(plan: &Plan, p: usize, start: Micros) -> Box<dyn Executor> {
    let phase = &plan.phases[p];
    let sessions = phase.sessions.clone();
    match &phase.executor {
        ExecutorPlan::ConstantArrivalRate { rate, duration, poisson, max_in_flight } => {
            Box::new(constant_arrival_rate(sessions, start, *rate, *duration, *poisson, *max_in_flight))
        }
        ExecutorPlan::RampingArrivalRate { start_rate, stages, poisson, max_in_flight } => {
            Box::new(ramping_arrival_rate(sessions, start, *start_rate, stages, *poisson, *max_in_flight))
        }
        ExecutorPlan::PerSessionIterations { iterations, order, think_time } => {
            let mut loops = loops(plan, &sessions, *order);
            if let Some(seg) = plan.segment.as_ref().filter(|seg| !seg.whole_model) {
                // A slice loops over its own sessions only: each session still sends its
                // iterations, in the order the unsegmented loop gives them.
                for slots in &mut loops {
                    slots.retain(|slot| seg.owns(sessions[*slot]));
                }
                loops.retain(|slots| !slots.is_empty());
            }
            Box::new(PerSessionIterations::new(sessions, loops, *iterations, *think_time))
        }
        ExecutorPlan::Burst { count, to } => Box::new(Burst::new(sessions, *count, *to)),
        ExecutorPlan::Soak { interval, duration } => Box::new(Soak::new(sessions, start, *interval, *duration)),
        ExecutorPlan::BreakingPoint { step_duration, until, poisson, max_in_flight, .. } => {
            Box::new(BreakingPoint::new(
                sessions,
                start,
                phase.executor.step_rates(),
                *step_duration,
                until.clone(),
                *poisson,
                *max_in_flight,
            ))
        }
    }
}

/// The loops of a closed-model phase: lists of slots (indices into `sessions`), each visited in
/// turn, one message in flight per loop.
fn loops(plan: &Plan, sessions: &[usize], order: IterationOrder) -> Vec<Vec<usize>> {
    match order {
        IterationOrder::Concurrent => (0..sessions.len()).map(|slot| vec![slot]).collect(),
        IterationOrder::RoundRobin => vec![(0..sessions.len()).collect()],
        IterationOrder::PerUserRoundRobin => {
            // Pairs in the order their first session appears, sessions in phase order.
            let mut pairs: Vec<(String, Vec<usize>)> = Vec::new();
            for (slot, s) in sessions.iter().enumerate() {
                let key = plan.sessions[*s].pair_key();
                match pairs.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, slots)) => slots.push(slot),
                    None => pairs.push((key, vec![slot])),
                }
            }
            pairs.into_iter().map(|(_, slots)| slots).collect()
        }
    }
}

/// FNV-1a: a stable hash of a phase's name, the same on every machine and every release.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A phase's own random stream: derived from the run's seed and the phase's name (and a purpose,
/// so arrivals and message ids do not share a stream), so that adding, removing or reordering
/// other phases leaves this phase's draws unchanged.
pub(crate) fn phase_rng(seed: u64, phase: &str, purpose: &str) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(fnv1a(phase) ^ fnv1a(purpose).rotate_left(1));
    rng
}

/// Draws a uuid from a seeded generator so message ids are reproducible.
pub(crate) fn seeded_uuid(rng: &mut ChaCha8Rng) -> String {
    let bytes: [u8; 16] = rng.random();
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_streams_depend_on_the_name_and_purpose_only() {
        let a: u64 = phase_rng(7, "steady", "arrivals").random();
        let again: u64 = phase_rng(7, "steady", "arrivals").random();
        let other_phase: u64 = phase_rng(7, "spike", "arrivals").random();
        let ids: u64 = phase_rng(7, "steady", "ids").random();
        let other_seed: u64 = phase_rng(8, "steady", "arrivals").random();
        assert_eq!(a, again);
        assert_ne!(a, other_phase);
        assert_ne!(a, ids);
        assert_ne!(a, other_seed);
    }
}
