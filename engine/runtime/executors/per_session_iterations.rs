//! `per-session-iterations`: the closed model. Each session sends its next message when the
//! previous one is resolved and a think time has passed; with `round_robin`, one loop walks all
//! sessions in turn.

use rand_chacha::ChaCha8Rng;

use super::registry::{ExecCx, Executor};
use crate::plan::Distribution;
use crate::targets::Micros;

/// A closed-model phase.
pub(crate) struct PerSessionIterations {
    sessions: Vec<usize>,
    iterations: u64,
    round_robin: bool,
    think: Distribution,
    sent: Vec<u64>,
    rr_sent: u64,
    pending: u64,
    finished: bool,
}

impl PerSessionIterations {
    pub(crate) fn new(sessions: Vec<usize>, iterations: u64, round_robin: bool, think: Distribution) -> Self {
        let n = sessions.len();
        Self { sessions, iterations, round_robin, think, sent: vec![0; n], rr_sent: 0, pending: 0, finished: false }
    }

    /// Finished once every message is sent and no think time is still running.
    fn check(&mut self) {
        let n = self.sessions.len() as u64;
        let all_sent = if self.round_robin {
            self.rr_sent >= self.iterations * n
        } else {
            self.sent.iter().all(|s| *s >= self.iterations)
        };
        if all_sent && self.pending == 0 {
            self.finished = true;
        }
    }
}

impl Executor for PerSessionIterations {
    fn start(&mut self, now: Micros, _rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        if self.sessions.is_empty() {
            self.finished = true;
            return;
        }
        if self.round_robin {
            self.sent[0] += 1;
            self.rr_sent = 1;
            cx.sends.push((self.sessions[0], now, false));
        } else {
            for (i, s) in self.sessions.iter().enumerate() {
                self.sent[i] += 1;
                cx.sends.push((*s, now, false));
            }
        }
        self.check();
    }

    fn wake(&mut self, now: Micros, token: u64, _rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        // A think time ended: send the session's next message.
        self.pending = self.pending.saturating_sub(1);
        cx.sends.push((self.sessions[token as usize], now, false));
        self.check();
    }

    fn resolved(&mut self, now: Micros, session: usize, rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        let n = self.sessions.len();
        let slot = if self.round_robin {
            let total = self.iterations * n as u64;
            (self.rr_sent < total).then(|| {
                let slot = (self.rr_sent % n as u64) as usize;
                self.rr_sent += 1;
                slot
            })
        } else {
            self.sessions.iter().position(|s| *s == session).filter(|slot| self.sent[*slot] < self.iterations)
        };
        if let Some(slot) = slot {
            self.sent[slot] += 1;
            self.pending += 1;
            let wait = self.think.sample(rng).as_micros() as Micros;
            cx.wakes.push((now + wait, slot as u64));
        }
        self.check();
    }

    fn finished_sending(&self) -> bool {
        self.finished
    }
}
