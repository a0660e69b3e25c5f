//! Reply deadlines kept out of the event queue.
//!
//! Every message has a deadline (its intended send time plus its phase's reply timeout), and
//! almost every message is answered long before it. One event per message in the dispatcher's
//! heap made the heap hold every message sent in the last reply timeout (300,000 entries at
//! 1,000/s and five minutes), and popping from a heap that size was the largest single cost of a
//! simulated run. Within a phase the timeout is one constant and messages are sent in order of
//! their intended time, so the deadlines arrive sorted: a FIFO per phase holds them, and the heap
//! holds one wake-up per phase, for the earliest deadline.

use std::collections::VecDeque;

use crate::targets::Micros;

/// What a caller does after adding a deadline.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Added {
    /// The deadline is behind others of its phase; the phase's wake-up covers it.
    Queued,
    /// The phase had no deadline waiting: wake the phase at this time.
    Wake(Micros),
    /// The deadline is earlier than one already queued (a send out of order): the caller keeps
    /// it as an event of its own so that no deadline is ever late.
    OutOfOrder,
}

/// Per phase, the deadlines of messages not yet timed out, in the order they fall due.
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    phases: Vec<VecDeque<(Micros, u64)>>,
}

impl Deadlines {
    pub(crate) fn new(phases: usize) -> Self {
        Self { phases: (0..phases).map(|_| VecDeque::new()).collect() }
    }

    pub(crate) fn add(&mut self, phase: usize, at: Micros, id: u64) -> Added {
        let q = &mut self.phases[phase];
        match q.back() {
            Some((last, _)) if at < *last => Added::OutOfOrder,
            Some(_) => {
                q.push_back((at, id));
                Added::Queued
            }
            None => {
                q.push_back((at, id));
                Added::Wake(at)
            }
        }
    }

    /// Takes every deadline of `phase` due at `now` or before, in order, and says when the
    /// phase must be woken next (its earliest remaining deadline).
    pub(crate) fn due(&mut self, phase: usize, now: Micros, mut each: impl FnMut(u64)) -> Option<Micros> {
        let q = &mut self.phases[phase];
        while let Some(&(at, id)) = q.front() {
            if at > now {
                return Some(at);
            }
            q.pop_front();
            each(id);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_deadline_of_a_phase_asks_for_a_wake_up_and_later_ones_queue_behind_it() {
        let mut d = Deadlines::new(2);
        assert_eq!(d.add(0, 100, 1), Added::Wake(100));
        assert_eq!(d.add(0, 100, 2), Added::Queued);
        assert_eq!(d.add(0, 150, 3), Added::Queued);
        assert_eq!(d.add(1, 120, 4), Added::Wake(120));
        assert_eq!(d.add(0, 90, 5), Added::OutOfOrder);
        let mut fired = Vec::new();
        assert_eq!(d.due(0, 99, |id| fired.push(id)), Some(100));
        assert!(fired.is_empty());
        assert_eq!(d.due(0, 120, |id| fired.push(id)), Some(150));
        assert_eq!(fired, [1, 2]);
        assert_eq!(d.due(0, 150, |id| fired.push(id)), None);
        assert_eq!(fired, [1, 2, 3]);
        // Empty again: the next deadline asks for a wake-up of its own.
        assert_eq!(d.add(0, 200, 6), Added::Wake(200));
        assert_eq!(d.due(1, 1_000, |id| fired.push(id)), None);
        assert_eq!(fired, [1, 2, 3, 4]);
    }
}
