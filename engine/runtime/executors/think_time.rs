//! Think time for the executors that do not wait for replies (the open-model ones and `soak`):
//! a layer over the phase's executor that lets each session hold one message at a time and rest
//! after its reply before it takes another, as a person reads an answer before typing again.
//!
//! The schedule stays the inner executor's; this layer only decides who takes each send. For an
//! open model any rested session may take an arrival (the one that has rested longest, so the
//! sessions still take turns), and an arrival that finds none is dropped, as k6 drops an
//! iteration when no virtual user is free. For `soak` a send belongs to its session, so a send
//! due while that session is busy is skipped.

use std::collections::{HashMap, VecDeque};

use rand_chacha::ChaCha8Rng;

use super::registry::{ExecCx, Executor};
use crate::plan::Distribution;
use crate::runtime::StepRecord;
use crate::targets::Micros;

/// The bit that marks this layer's own wake-ups (a rest that ended). The inner executors use
/// bit 63 (the breaking-point step ends) and small numbers.
const REST_END: u64 = 1 << 62;

/// Who takes a send the inner executor asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taker {
    /// Any rested session, the longest rested first (open-model arrivals).
    AnyRested,
    /// The session the send names, only if it is rested (`soak`).
    Named,
}

/// Where a session is in its send, wait, rest cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready,
    Waiting,
    Resting,
}

/// An executor whose sessions rest between their messages.
pub(crate) struct ThinkTime {
    inner: Box<dyn Executor>,
    think: Distribution,
    taker: Taker,
    /// Per session of the phase (an index into the plan's sessions), its state.
    state: HashMap<usize, State>,
    /// The ready sessions, longest ready first (only kept for `Taker::AnyRested`).
    ready: VecDeque<usize>,
}

impl ThinkTime {
    pub(crate) fn new(inner: Box<dyn Executor>, sessions: &[usize], think: Distribution, taker: Taker) -> Self {
        let state = sessions.iter().map(|s| (*s, State::Ready)).collect();
        let ready = if taker == Taker::AnyRested { sessions.iter().copied().collect() } else { VecDeque::new() };
        Self { inner, think, taker, state, ready }
    }

    /// Hands the inner executor's sends to sessions that are ready, and drops the others.
    fn assign(&mut self, inner: ExecCx, cx: &mut ExecCx) {
        cx.wakes.extend(inner.wakes);
        cx.dropped.extend(inner.dropped);
        for (session, at, capped) in inner.sends {
            let taker = match self.taker {
                Taker::AnyRested => self.ready.pop_front(),
                Taker::Named => (self.state.get(&session) == Some(&State::Ready)).then_some(session),
            };
            match taker {
                Some(s) => {
                    self.state.insert(s, State::Waiting);
                    cx.sends.push((s, at, capped));
                }
                None => cx.dropped.push(session),
            }
        }
    }

    fn make_ready(&mut self, session: usize, first: bool) {
        self.state.insert(session, State::Ready);
        if self.taker == Taker::AnyRested {
            if first {
                self.ready.push_front(session);
            } else {
                self.ready.push_back(session);
            }
        }
    }
}

impl Executor for ThinkTime {
    fn start(&mut self, now: Micros, rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        let mut inner = ExecCx::default();
        self.inner.start(now, rng, &mut inner);
        self.assign(inner, cx);
    }

    fn wake(&mut self, now: Micros, token: u64, rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        if token & REST_END != 0 {
            let session = (token & !REST_END) as usize;
            if self.state.get(&session) == Some(&State::Resting) {
                self.make_ready(session, false);
            }
            return;
        }
        let mut inner = ExecCx::default();
        self.inner.wake(now, token, rng, &mut inner);
        self.assign(inner, cx);
    }

    fn resolved(&mut self, now: Micros, session: usize, rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        // Only the message the session waits for starts its rest; a message sent for it by a
        // fault is not one of the phase's turns.
        if self.state.get(&session) == Some(&State::Waiting) {
            let rest = self.think.sample(rng).as_micros() as Micros;
            if rest == 0 {
                self.make_ready(session, false);
            } else {
                self.state.insert(session, State::Resting);
                cx.wakes.push((now + rest, REST_END | session as u64));
            }
        }
        let mut inner = ExecCx::default();
        self.inner.resolved(now, session, rng, &mut inner);
        self.assign(inner, cx);
    }

    fn refused(&mut self, session: usize) {
        // The send never left (the in-flight cap): the session did not get a turn, so it is
        // the first to take the next one.
        if self.state.get(&session) == Some(&State::Waiting) {
            self.make_ready(session, true);
        }
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
        self.inner.planned_rate(now)
    }

    fn max_in_flight(&self) -> u64 {
        self.inner.max_in_flight()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rand::SeedableRng;

    use super::*;
    use crate::runtime::executors::constant_arrival_rate::constant_arrival_rate;
    use crate::runtime::executors::soak::Soak;

    fn fixed(secs: u64) -> Distribution {
        Distribution::Fixed { value: Duration::from_secs(secs) }
    }

    #[test]
    fn an_arrival_goes_to_the_longest_rested_session_and_is_dropped_when_none_is() {
        // 10/s for 1 s over two sessions that rest 1 s after each reply.
        let inner = Box::new(constant_arrival_rate(vec![4, 7], 0, 10.0, Duration::from_secs(1), false, 100));
        let mut ex = ThinkTime::new(inner, &[4, 7], fixed(1), Taker::AnyRested);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut cx = ExecCx::default();
        ex.start(0, &mut rng, &mut cx);
        let (at, token) = cx.wakes[0];
        let mut cx = ExecCx::default();
        ex.wake(at, token, &mut rng, &mut cx);
        assert_eq!(cx.sends.iter().map(|s| s.0).collect::<Vec<_>>(), vec![4]);
        let (at, token) = cx.wakes[0];
        let mut cx = ExecCx::default();
        ex.wake(at, token, &mut rng, &mut cx);
        assert_eq!(cx.sends.iter().map(|s| s.0).collect::<Vec<_>>(), vec![7]);
        // Both wait for replies: the third arrival has nobody.
        let (at, token) = cx.wakes[0];
        let mut cx = ExecCx::default();
        ex.wake(at, token, &mut rng, &mut cx);
        assert!(cx.sends.is_empty());
        assert_eq!(cx.dropped.len(), 1);
        // Session 7's reply starts its rest of 1 s; the rest's end makes it ready again.
        let mut rest = ExecCx::default();
        ex.resolved(300_000, 7, &mut rng, &mut rest);
        assert_eq!(rest.wakes, vec![(1_300_000, REST_END | 7)]);
        let (at, token) = cx.wakes[0];
        let mut cx = ExecCx::default();
        ex.wake(at, token, &mut rng, &mut cx);
        assert!(cx.sends.is_empty(), "7 still rests");
        let mut none = ExecCx::default();
        ex.wake(1_300_000, REST_END | 7, &mut rng, &mut none);
        let (at, token) = cx.wakes[0];
        let mut cx = ExecCx::default();
        ex.wake(at, token, &mut rng, &mut cx);
        assert_eq!(cx.sends.iter().map(|s| s.0).collect::<Vec<_>>(), vec![7]);
    }

    #[test]
    fn a_refused_send_gives_the_session_back_first_and_a_stray_reply_changes_nothing() {
        let inner = Box::new(constant_arrival_rate(vec![1, 2], 0, 10.0, Duration::from_secs(1), false, 100));
        let mut ex = ThinkTime::new(inner, &[1, 2], fixed(0), Taker::AnyRested);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut cx = ExecCx::default();
        ex.start(0, &mut rng, &mut cx);
        let (at, token) = cx.wakes[0];
        let mut cx = ExecCx::default();
        ex.wake(at, token, &mut rng, &mut cx);
        assert_eq!(cx.sends[0].0, 1);
        ex.refused(1);
        // A reply for session 2, which waits for nothing, must not make it ready twice.
        ex.resolved(at, 2, &mut rng, &mut ExecCx::default());
        assert_eq!(ex.ready, VecDeque::from([1, 2]));
    }

    #[test]
    fn a_soak_send_due_while_its_session_waits_is_skipped() {
        let inner = Box::new(Soak::new(vec![3], 0, Duration::from_secs(1), Duration::from_secs(10)));
        let mut ex = ThinkTime::new(inner, &[3], fixed(2), Taker::Named);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut cx = ExecCx::default();
        ex.start(0, &mut rng, &mut cx);
        let mut first = ExecCx::default();
        ex.wake(0, cx.wakes[0].1, &mut rng, &mut first);
        assert_eq!(first.sends.len(), 1);
        let mut second = ExecCx::default();
        ex.wake(1_000_000, first.wakes[0].1, &mut rng, &mut second);
        assert!(second.sends.is_empty());
        assert_eq!(second.dropped, vec![3]);
    }
}
