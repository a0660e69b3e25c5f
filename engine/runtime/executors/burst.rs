//! `burst`: every message at once.

use rand_chacha::ChaCha8Rng;

use super::registry::{ExecCx, Executor};
use crate::targets::Micros;

/// `count` messages to each session (or to one) at the phase's start.
pub(crate) struct Burst {
    sessions: Vec<usize>,
    count: u64,
    to: Option<usize>,
    finished: bool,
}

impl Burst {
    pub(crate) fn new(sessions: Vec<usize>, count: u64, to: Option<usize>) -> Self {
        Self { sessions, count, to, finished: false }
    }
}

impl Executor for Burst {
    fn start(&mut self, now: Micros, _rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        self.finished = true;
        if self.sessions.is_empty() {
            return;
        }
        let targets: Vec<usize> = match self.to {
            Some(s) => vec![s],
            None => self.sessions.clone(),
        };
        for _ in 0..self.count {
            for s in &targets {
                cx.sends.push((*s, now, false));
            }
        }
    }

    fn wake(&mut self, _now: Micros, _token: u64, _rng: &mut ChaCha8Rng, _cx: &mut ExecCx) {}

    fn finished_sending(&self) -> bool {
        self.finished
    }

    fn waits_for_answers(&self) -> bool {
        false
    }
}
