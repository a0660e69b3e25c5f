//! The two clocks a run can use. The dispatcher asks the clock to wait for the next event; the
//! virtual clock jumps there at once, the real clock waits for the wall time to arrive and wakes
//! early for every observation a target's background tasks report, and for a stop request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::targets::{Inbox, Micros, Stamped};

/// Which clock drives a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    /// Simulated time: a 30-minute soak finishes in moments and is deterministic.
    Virtual,
    /// Wall-clock time: watch the run as it happens.
    Real,
}

/// The longest the real clock waits without returning, so that progress ticks and stop
/// requests are handled promptly.
const SLICE: Duration = Duration::from_millis(50);

/// Why a wait returned.
pub(crate) enum Woke {
    /// The time asked for has come.
    Reached,
    /// An observation arrived first.
    Observed(Stamped),
    /// A slice passed without either (real clock only): time for a tick.
    Slice,
    /// A stop was requested.
    Stopped,
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

    /// Waits until `t` or for at most one slice, whichever comes first. Once `t` is reached the
    /// present is `t`, the event's scheduled time, even when the wall clock is past it (a loop
    /// that fell behind): executors schedule from it, and `wall()` measures how late it is.
    pub(crate) fn wait_until(&mut self, t: Micros, stop: &Arc<AtomicBool>, inbox: Option<&Inbox>) -> Woke {
        if self.kind == ClockKind::Virtual {
            self.now = self.now.max(t);
            return Woke::Reached;
        }
        if stop.load(Ordering::Relaxed) {
            return Woke::Stopped;
        }
        let wall = self.wall();
        if wall >= t {
            // No wait: a target that does its work in the runtime's waits gets a turn anyway, or
            // a run behind its schedule would never let it send.
            if let Some(inbox) = inbox {
                inbox.turn();
            }
            self.now = self.now.max(t);
            return Woke::Reached;
        }
        let wait = Duration::from_micros(t - wall).min(SLICE);
        let woke = match inbox {
            Some(inbox) => match inbox.recv_timeout(wait) {
                Ok(s) => Woke::Observed(s),
                Err(RecvTimeoutError::Timeout) => Woke::Slice,
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(wait);
                    Woke::Slice
                }
            },
            None => {
                std::thread::sleep(wait);
                Woke::Slice
            }
        };
        self.now = self.now.max(self.wall().min(t));
        if matches!(woke, Woke::Slice) && self.wall() >= t {
            self.now = self.now.max(t);
            return Woke::Reached;
        }
        woke
    }

    /// Time since the start on the wall clock (equals `now` on the virtual clock).
    pub(crate) fn wall(&self) -> Micros {
        match self.kind {
            ClockKind::Virtual => self.now,
            ClockKind::Real => self.origin.elapsed().as_micros() as Micros,
        }
    }

    /// An observation's stamp on the run's clock. On the virtual clock every observation is
    /// made at the present.
    pub(crate) fn stamp(&self, at: Instant) -> Micros {
        match self.kind {
            ClockKind::Virtual => self.now,
            ClockKind::Real => at.saturating_duration_since(self.origin).as_micros() as Micros,
        }
    }
}
