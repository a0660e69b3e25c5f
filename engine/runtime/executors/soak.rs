//! `soak`: each session sends at a fixed interval for a fixed time.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;

use super::registry::{ExecCx, Executor};
use crate::targets::Micros;

/// Every session every `interval` until `end`.
pub(crate) struct Soak {
    sessions: Vec<usize>,
    interval: Micros,
    end: Micros,
    finished: bool,
}

impl Soak {
    pub(crate) fn new(sessions: Vec<usize>, start: Micros, interval: Duration, duration: Duration) -> Self {
        let (interval, duration) = (interval.as_micros() as Micros, duration.as_micros() as Micros);
        Self { finished: sessions.is_empty(), sessions, interval, end: start + duration }
    }
}

impl Executor for Soak {
    fn start(&mut self, now: Micros, _rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        // Spread the sessions over one interval so they do not all fire at once.
        let n = self.sessions.len();
        for i in 0..n {
            let offset = self.interval * i as u64 / n as u64;
            cx.wakes.push((now + offset, i as u64));
        }
    }

    fn wake(&mut self, now: Micros, token: u64, _rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        if now >= self.end {
            return;
        }
        cx.sends.push((self.sessions[token as usize], now, false));
        let next = now + self.interval;
        if next < self.end {
            cx.wakes.push((next, token));
        }
    }

    fn end_time(&self) -> Option<Micros> {
        Some(self.end)
    }

    fn reached_end(&mut self, now: Micros) {
        if now >= self.end {
            self.finished = true;
        }
    }

    fn finished_sending(&self) -> bool {
        self.finished
    }

    fn waits_for_answers(&self) -> bool {
        false
    }

    fn planned_rate(&self, now: Micros) -> Option<f64> {
        (!self.finished && now < self.end && self.interval > 0)
            .then(|| self.sessions.len() as f64 / (self.interval as f64 / 1e6))
    }
}
