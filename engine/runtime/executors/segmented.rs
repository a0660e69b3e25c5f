//! A slice of a schedule (`--segment i/n`): the full schedule runs, and only the arrivals that
//! fall to this slice's sessions are sent. So every slice keeps the exact intended send times
//! of the unsegmented plan, and the slices together send each arrival once.

use std::sync::Arc;

use rand_chacha::ChaCha8Rng;

use super::registry::{ExecCx, Executor};
use crate::runtime::StepRecord;
use crate::targets::Micros;

pub(crate) struct Segmented {
    inner: Box<dyn Executor>,
    /// Which sessions (by index in the plan) are this slice's.
    owned: Arc<[bool]>,
    /// This slice's share of the phase's sessions, for its share of the rate and the cap.
    share: f64,
}

impl Segmented {
    pub(crate) fn new(inner: Box<dyn Executor>, owned: Arc<[bool]>, share: f64) -> Self {
        Self { inner, owned, share }
    }

    /// Drops what the inner executor asked for other slices' sessions, past `from` (what was
    /// already in `cx` before it was asked).
    fn keep(&self, cx: &mut ExecCx, from: (usize, usize)) {
        let owned = |s: usize| self.owned.get(s).copied().unwrap_or(false);
        let mut i = 0;
        cx.sends.retain(|(s, _, _)| {
            i += 1;
            i <= from.0 || owned(*s)
        });
        let mut i = 0;
        cx.dropped.retain(|s| {
            i += 1;
            i <= from.1 || owned(*s)
        });
    }
}

impl Executor for Segmented {
    fn start(&mut self, now: Micros, rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        let from = (cx.sends.len(), cx.dropped.len());
        self.inner.start(now, rng, cx);
        self.keep(cx, from);
    }

    fn wake(&mut self, now: Micros, token: u64, rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        let from = (cx.sends.len(), cx.dropped.len());
        self.inner.wake(now, token, rng, cx);
        self.keep(cx, from);
    }

    fn resolved(&mut self, now: Micros, session: usize, rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        let from = (cx.sends.len(), cx.dropped.len());
        self.inner.resolved(now, session, rng, cx);
        self.keep(cx, from);
    }

    fn refused(&mut self, session: usize) {
        self.inner.refused(session);
    }

    fn answered(&mut self, latency: Option<Micros>, success: bool) {
        self.inner.answered(latency, success);
    }

    fn steps(&self) -> Vec<StepRecord> {
        self.inner.steps()
    }

    fn end_time(&self) -> Option<Micros> {
        self.inner.end_time()
    }

    fn reached_end(&mut self, now: Micros) {
        self.inner.reached_end(now);
    }

    fn finished_sending(&self) -> bool {
        self.inner.finished_sending()
    }

    fn planned_rate(&self, now: Micros) -> Option<f64> {
        self.inner.planned_rate(now).map(|r| r * self.share)
    }

    fn max_in_flight(&self) -> u64 {
        match self.inner.max_in_flight() {
            u64::MAX => u64::MAX,
            // At least one, so that a slice with a small share can still send.
            cap => ((cap as f64 * self.share).ceil() as u64).max(1),
        }
    }

    fn waits_for_answers(&self) -> bool {
        self.inner.waits_for_answers()
    }
}
