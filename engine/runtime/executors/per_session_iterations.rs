//! `per-session-iterations`: the closed model. Sessions are grouped into loops (one per session,
//! one over every session, or one per project+user); a loop has one message in flight, and sends
//! its next message, to the next session of the loop in turn, when the previous one is resolved
//! and a think time has passed.

use rand_chacha::ChaCha8Rng;

use super::registry::{ExecCx, Executor};
use crate::plan::Distribution;
use crate::targets::Micros;

/// A closed-model phase.
pub(crate) struct PerSessionIterations {
    sessions: Vec<usize>,
    /// Slots (indices into `sessions`) of each loop, visited in turn.
    loops: Vec<Vec<usize>>,
    /// Per slot, its loop.
    loop_of: Vec<usize>,
    /// Per loop, how many messages it has sent.
    sent: Vec<u64>,
    iterations: u64,
    think: Distribution,
    /// Think times still running.
    pending: u64,
    finished: bool,
}

impl PerSessionIterations {
    pub(crate) fn new(sessions: Vec<usize>, loops: Vec<Vec<usize>>, iterations: u64, think: Distribution) -> Self {
        let mut loop_of = vec![0; sessions.len()];
        for (l, slots) in loops.iter().enumerate() {
            for slot in slots {
                loop_of[*slot] = l;
            }
        }
        let n = loops.len();
        Self { sessions, loops, loop_of, sent: vec![0; n], iterations, think, pending: 0, finished: false }
    }

    /// Every session of a loop sends `iterations` messages.
    fn total(&self, l: usize) -> u64 {
        self.iterations * self.loops[l].len() as u64
    }

    /// The slot that sends loop `l`'s next message, counting it as sent; `None` when the loop
    /// is done.
    fn next_slot(&mut self, l: usize) -> Option<usize> {
        if self.sent[l] >= self.total(l) {
            return None;
        }
        let slots = &self.loops[l];
        let slot = slots[(self.sent[l] % slots.len() as u64) as usize];
        self.sent[l] += 1;
        Some(slot)
    }

    /// Finished once every loop has sent everything and no think time is still running.
    fn check(&mut self) {
        if self.pending == 0 && (0..self.loops.len()).all(|l| self.sent[l] >= self.total(l)) {
            self.finished = true;
        }
    }
}

impl Executor for PerSessionIterations {
    fn start(&mut self, now: Micros, _rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        for l in 0..self.loops.len() {
            if let Some(slot) = self.next_slot(l) {
                cx.sends.push((self.sessions[slot], now, false));
            }
        }
        self.check();
    }

    fn wake(&mut self, now: Micros, token: u64, _rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        // A think time ended: send the slot's message.
        self.pending = self.pending.saturating_sub(1);
        cx.sends.push((self.sessions[token as usize], now, false));
        self.check();
    }

    fn resolved(&mut self, now: Micros, session: usize, rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        let Some(slot) = self.sessions.iter().position(|s| *s == session) else { return };
        let l = self.loop_of[slot];
        if let Some(next) = self.next_slot(l) {
            self.pending += 1;
            let wait = self.think.sample(rng).as_micros() as Micros;
            cx.wakes.push((now + wait, next as u64));
        }
        self.check();
    }

    fn finished_sending(&self) -> bool {
        self.finished
    }
}
