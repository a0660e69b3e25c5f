//! The open model shared by the arrival-rate executors: a piecewise-linear rate over time whose
//! expected arrival count is integrated exactly, walked either evenly or as a Poisson process.

use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, Exp1};

use super::registry::{ExecCx, Executor};
use crate::targets::Micros;

/// A piecewise-linear rate over time.
pub(crate) struct RateSchedule {
    /// (start offset, duration, rate at start, rate at end), rates per microsecond.
    pub stages: Vec<(Micros, Micros, f64, f64)>,
}

impl RateSchedule {
    fn total_len(&self) -> Micros {
        self.stages.last().map_or(0, |s| s.0 + s.1)
    }

    /// The rate at `offset`, per microsecond.
    fn rate_at(&self, offset: Micros) -> Option<f64> {
        self.stages.iter().find(|(start, len, _, _)| offset >= *start && offset < start + len).map(
            |&(start, len, r0, r1)| {
                let f = if len == 0 { 0.0 } else { (offset - start) as f64 / len as f64 };
                r0 + (r1 - r0) * f
            },
        )
    }

    /// The offset at which the cumulative expected count reaches `target`, if within the phase.
    pub fn time_for_count(&self, target: f64) -> Option<Micros> {
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

/// An open-model executor: arrivals follow the schedule whatever the system does; the sessions
/// take turns.
pub(crate) struct OpenArrivals {
    sessions: Vec<usize>,
    start: Micros,
    schedule: RateSchedule,
    poisson: bool,
    max_in_flight: u64,
    next_index: u64,
    cumulative: f64,
    turn: usize,
    finished: bool,
}

impl OpenArrivals {
    pub(crate) fn new(
        sessions: Vec<usize>,
        start: Micros,
        schedule: RateSchedule,
        poisson: bool,
        max_in_flight: u64,
    ) -> Self {
        Self {
            sessions,
            start,
            schedule,
            poisson,
            max_in_flight,
            next_index: 0,
            cumulative: 0.0,
            turn: 0,
            finished: false,
        }
    }

    fn schedule_next(&mut self, rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        // Arrival k happens when the expected count reaches k (even spacing) or a running sum of
        // Exp(1) draws (a Poisson process, time-changed to follow the rate).
        let target = if self.poisson {
            let gap: f64 = Exp1.sample(rng);
            self.cumulative + gap
        } else {
            self.next_index as f64 + 0.5
        };
        let len = self.schedule.total_len();
        match self.schedule.time_for_count(target) {
            Some(offset) if offset < len || len == 0 => {
                self.cumulative = target;
                cx.wakes.push((self.start + offset, self.next_index));
                self.next_index += 1;
            }
            _ => self.finished = true,
        }
    }
}

impl Executor for OpenArrivals {
    fn start(&mut self, _now: Micros, rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        if self.sessions.is_empty() {
            self.finished = true;
            return;
        }
        self.schedule_next(rng, cx);
    }

    fn wake(&mut self, now: Micros, _token: u64, rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        let session = self.sessions[self.turn % self.sessions.len()];
        self.turn += 1;
        cx.sends.push((session, now, true));
        self.schedule_next(rng, cx);
    }

    fn finished_sending(&self) -> bool {
        self.finished
    }

    fn planned_rate(&self, now: Micros) -> Option<f64> {
        if self.finished {
            return None;
        }
        self.schedule.rate_at(now.saturating_sub(self.start)).map(|r| r * 1e6)
    }

    fn max_in_flight(&self) -> u64 {
        self.max_in_flight
    }

    fn waits_for_answers(&self) -> bool {
        false
    }
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
        assert_eq!(s.rate_at(5_000_000).map(|r| (r * 1e6).round()), Some(10.0));
        assert_eq!(s.rate_at(10_000_000), None);
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
        assert_eq!(s.rate_at(5_000_000).map(|r| (r * 1e6).round()), Some(10.0));
    }
}
