//! Executors: each phase's arrival generator. An executor owns its state (next arrival, each
//! session's iteration) and talks to the dispatcher only through `ExecCx`: it asks for sends and
//! wake-ups, and is told when one of its messages is resolved.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, Exp1};

use crate::plan::{Distribution, ExecutorPlan, PhasePlan};
use crate::target::Micros;

fn us(d: std::time::Duration) -> Micros {
    d.as_micros() as Micros
}

/// What an executor asks of the dispatcher in one call.
#[derive(Debug, Default)]
pub(crate) struct ExecCx {
    /// (session, intended send time, whether the in-flight cap applies).
    pub sends: Vec<(usize, Micros, bool)>,
    /// (time, token) wake-ups.
    pub wakes: Vec<(Micros, u64)>,
}

/// A running phase's arrival generator.
pub(crate) struct Executor {
    phase_sessions: Vec<usize>,
    kind: Kind,
    /// Whether the executor will ask for no more sends.
    pub finished_sending: bool,
    start: Micros,
}

enum Kind {
    Open { schedule: RateSchedule, poisson: bool, next_index: u64, cumulative: f64, rr: usize },
    Closed { iterations: u64, round_robin: bool, think: Distribution, sent: Vec<u64>, rr_sent: u64, pending: u64 },
    Burst,
    Soak { interval: Micros, end: Micros },
}

/// A piecewise-linear rate over time, with the expected arrival count integrated exactly.
struct RateSchedule {
    /// (start offset, duration, rate at start, rate at end), rates per microsecond.
    stages: Vec<(Micros, Micros, f64, f64)>,
}

impl RateSchedule {
    fn total_len(&self) -> Micros {
        self.stages.last().map_or(0, |s| s.0 + s.1)
    }

    /// The offset at which the cumulative expected count reaches `target`, if within the phase.
    fn time_for_count(&self, target: f64) -> Option<Micros> {
        let mut acc = 0.0;
        for &(start, len, r0, r1) in &self.stages {
            let lenf = len as f64;
            let area = (r0 + r1) / 2.0 * lenf;
            if acc + area >= target && area > 0.0 {
                let need = target - acc;
                // Solve r0 t + (r1 - r0) t^2 / (2 len) = need for t in [0, len].
                let a = (r1 - r0) / (2.0 * lenf);
                let t = if a.abs() < 1e-18 {
                    need / r0
                } else {
                    let disc = (r0 * r0 + 4.0 * a * need).max(0.0);
                    (-r0 + disc.sqrt()) / (2.0 * a)
                };
                return Some(start + t.clamp(0.0, lenf).round() as Micros);
            }
            acc += area;
        }
        None
    }
}

impl Executor {
    pub(crate) fn new(phase: &PhasePlan, start: Micros) -> Self {
        let kind = match &phase.executor {
            ExecutorPlan::ConstantArrivalRate { rate, duration, poisson, .. } => {
                let r = rate / 1e6;
                Kind::Open {
                    schedule: RateSchedule { stages: vec![(0, us(*duration), r, r)] },
                    poisson: *poisson,
                    next_index: 0,
                    cumulative: 0.0,
                    rr: 0,
                }
            }
            ExecutorPlan::RampingArrivalRate { start_rate, stages, poisson, .. } => {
                let mut at = 0;
                let mut from = start_rate / 1e6;
                let mut out = Vec::new();
                for (target, d) in stages {
                    let to = target / 1e6;
                    out.push((at, us(*d), from, to));
                    at += us(*d);
                    from = to;
                }
                Kind::Open {
                    schedule: RateSchedule { stages: out },
                    poisson: *poisson,
                    next_index: 0,
                    cumulative: 0.0,
                    rr: 0,
                }
            }
            ExecutorPlan::PerSessionIterations { iterations, round_robin, think_time } => Kind::Closed {
                iterations: *iterations,
                round_robin: *round_robin,
                think: *think_time,
                sent: vec![0; phase.sessions.len()],
                rr_sent: 0,
                pending: 0,
            },
            ExecutorPlan::Burst { .. } => Kind::Burst,
            ExecutorPlan::Soak { interval, duration } => {
                Kind::Soak { interval: us(*interval), end: start + us(*duration) }
            }
        };
        Self { phase_sessions: phase.sessions.clone(), kind, finished_sending: false, start }
    }

    /// Called once when the phase starts.
    pub(crate) fn start(&mut self, phase: &PhasePlan, rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        let now = self.start;
        let n = self.phase_sessions.len();
        if n == 0 {
            self.finished_sending = true;
            return;
        }
        match &mut self.kind {
            Kind::Open { .. } => self.schedule_next_open(rng, cx),
            Kind::Closed { round_robin, sent, rr_sent, .. } => {
                if *round_robin {
                    sent[0] += 1;
                    *rr_sent = 1;
                    cx.sends.push((self.phase_sessions[0], now, false));
                } else {
                    for (i, s) in self.phase_sessions.iter().enumerate() {
                        sent[i] += 1;
                        cx.sends.push((*s, now, false));
                    }
                }
                self.closed_check();
            }
            Kind::Burst => {
                if let ExecutorPlan::Burst { count, to } = &phase.executor {
                    let targets: Vec<usize> = match to {
                        Some(s) => vec![*s],
                        None => self.phase_sessions.clone(),
                    };
                    for _ in 0..*count {
                        for s in &targets {
                            cx.sends.push((*s, now, false));
                        }
                    }
                }
                self.finished_sending = true;
            }
            Kind::Soak { interval, .. } => {
                // Spread the sessions over one interval so they do not all fire at once.
                for i in 0..n {
                    let offset = *interval * i as u64 / n as u64;
                    cx.wakes.push((now + offset, i as u64));
                }
            }
        }
    }

    fn schedule_next_open(&mut self, rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        let Kind::Open { schedule, poisson, next_index, cumulative, .. } = &mut self.kind else { return };
        // Arrival k happens when the expected count reaches k (even spacing) or a running sum of
        // Exp(1) draws (a Poisson process, time-changed to follow the rate).
        let target = if *poisson {
            let gap: f64 = Exp1.sample(rng);
            *cumulative + gap
        } else {
            *next_index as f64 + 0.5
        };
        match schedule.time_for_count(target) {
            Some(offset) if offset < schedule.total_len() || schedule.total_len() == 0 => {
                *cumulative = target;
                cx.wakes.push((self.start + offset, *next_index));
                *next_index += 1;
            }
            _ => self.finished_sending = true,
        }
    }

    /// A wake-up the executor asked for.
    pub(crate) fn wake(&mut self, now: Micros, token: u64, rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        let n = self.phase_sessions.len();
        match &mut self.kind {
            Kind::Open { rr, .. } => {
                let session = self.phase_sessions[*rr % n];
                *rr += 1;
                cx.sends.push((session, now, true));
                self.schedule_next_open(rng, cx);
            }
            Kind::Soak { interval, end } => {
                if now >= *end {
                    return;
                }
                cx.sends.push((self.phase_sessions[token as usize], now, false));
                let next = now + *interval;
                if next < *end {
                    cx.wakes.push((next, token));
                }
            }
            Kind::Closed { pending, .. } => {
                // A think time ended: send the session's next message.
                *pending = pending.saturating_sub(1);
                let slot = token as usize;
                cx.sends.push((self.phase_sessions[slot], now, false));
                self.closed_check();
            }
            Kind::Burst => {}
        }
    }

    /// A closed phase has finished sending once every message is sent and no think time is
    /// still running.
    fn closed_check(&mut self) {
        if let Kind::Closed { iterations, round_robin, sent, rr_sent, pending, .. } = &self.kind {
            let n = self.phase_sessions.len() as u64;
            let all_sent =
                if *round_robin { *rr_sent >= *iterations * n } else { sent.iter().all(|s| s >= iterations) };
            if all_sent && *pending == 0 {
                self.finished_sending = true;
            }
        }
    }

    /// Marks a soak phase finished once its end time has passed.
    pub(crate) fn tick(&mut self, now: Micros) {
        if let Kind::Soak { end, .. } = &self.kind
            && now >= *end
        {
            self.finished_sending = true;
        }
    }

    /// The end time of a soak phase, for the dispatcher to arm.
    pub(crate) fn soak_end(&self) -> Option<Micros> {
        match &self.kind {
            Kind::Soak { end, .. } => Some(*end),
            _ => None,
        }
    }

    /// One of this phase's messages for `session` was answered or lost.
    pub(crate) fn resolved(&mut self, now: Micros, session: usize, rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        let Kind::Closed { iterations, round_robin, think, sent, rr_sent, pending } = &mut self.kind else { return };
        let n = self.phase_sessions.len();
        let slot = if *round_robin {
            let total = *iterations * n as u64;
            (*rr_sent < total).then(|| {
                let slot = (*rr_sent % n as u64) as usize;
                *rr_sent += 1;
                slot
            })
        } else {
            self.phase_sessions.iter().position(|s| *s == session).filter(|slot| sent[*slot] < *iterations)
        };
        if let Some(slot) = slot {
            sent[slot] += 1;
            *pending += 1;
            let wait = us(think.sample(rng));
            cx.wakes.push((now + wait, slot as u64));
        }
        self.closed_check();
    }
}

/// Draws a uuid from the run's seeded generator so message ids are reproducible.
pub(crate) fn seeded_uuid(rng: &mut ChaCha8Rng) -> String {
    let bytes: [u8; 16] = rng.random();
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_schedule_spaces_constant_arrivals_evenly() {
        let r = 10.0 / 1e6; // 10 per second
        let s = RateSchedule { stages: vec![(0, 10_000_000, r, r)] };
        assert_eq!(s.time_for_count(0.5), Some(50_000));
        assert_eq!(s.time_for_count(99.5), Some(9_950_000));
        assert_eq!(s.time_for_count(100.5), None);
    }

    #[test]
    fn ramp_from_zero_integrates_to_the_triangle_area() {
        // 0 to 20/s over 10 s: 100 arrivals expected.
        let s = RateSchedule { stages: vec![(0, 10_000_000, 0.0, 20.0 / 1e6)] };
        let t = s.time_for_count(100.0).unwrap();
        assert!((t as i64 - 10_000_000).abs() < 10, "t = {t}");
        // Half the arrivals come in the last 29% of the time: t^2 scaling.
        let half = s.time_for_count(50.0).unwrap() as f64 / 1e6;
        assert!((half - 50f64.sqrt()).abs() < 0.01, "half = {half}");
    }
}
