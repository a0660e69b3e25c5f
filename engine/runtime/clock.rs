//! The two clocks a run can use. The dispatcher asks the clock to advance to the next event;
//! the virtual clock jumps there at once, the real clock sleeps until the wall time arrives.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::target::Micros;

/// Which clock drives a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    /// Simulated time: a 30-minute soak finishes in moments and is deterministic.
    Virtual,
    /// Wall-clock time: watch the run as it happens.
    Real,
}

pub(crate) struct Clock {
    kind: ClockKind,
    origin: Instant,
    now: Micros,
}

impl Clock {
    pub(crate) fn new(kind: ClockKind) -> Self {
        Self { kind, origin: Instant::now(), now: 0 }
    }

    pub(crate) fn is_real(&self) -> bool {
        self.kind == ClockKind::Real
    }

    pub(crate) fn now(&self) -> Micros {
        self.now
    }

    /// Moves to `t`. On the real clock this sleeps in short slices so that a stop request is
    /// noticed quickly; it returns false if it was stopped before reaching `t`.
    pub(crate) fn advance_to(&mut self, t: Micros, stop: &Arc<AtomicBool>) -> bool {
        if t <= self.now {
            return true;
        }
        if self.kind == ClockKind::Real {
            let target = self.origin + Duration::from_micros(t);
            loop {
                if stop.load(Ordering::Relaxed) {
                    self.now = self.wall();
                    return false;
                }
                let now = Instant::now();
                if now >= target {
                    break;
                }
                std::thread::sleep((target - now).min(Duration::from_millis(50)));
            }
        }
        self.now = t;
        true
    }

    /// Time since the start on the wall clock (equals `now` on the virtual clock).
    pub(crate) fn wall(&self) -> Micros {
        match self.kind {
            ClockKind::Virtual => self.now,
            ClockKind::Real => self.origin.elapsed().as_micros() as Micros,
        }
    }
}
