//! Outputs watch a run through [`RunObserver`]: the journal, the progress line, CloudWatch. The
//! dispatcher feeds one [`Outputs`] list, so adding an output never touches the loop.

use super::records::{Accounting, FaultRecord, TimelinePoint};

/// How the run stands: what a progress line or a journal needs at a sample or a tick.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// Seconds since the start.
    pub at: f64,
    /// Totals so far.
    pub totals: &'a Accounting,
    /// `message_latency` p50 and p99 so far, microseconds.
    pub latency: Option<(u64, u64)>,
    /// Set while the generator is behind its schedule: the sentence to show.
    pub behind: Option<&'a str>,
    /// Set once the run was stopped and waits for the replies in flight.
    pub stopping: Option<Stopping>,
}

/// A stopped run waiting for the replies in flight.
#[derive(Debug, Clone, Copy)]
pub struct Stopping {
    /// Messages still unanswered.
    pub in_flight: u64,
    /// Seconds of the wait left.
    pub left: f64,
}

/// Receives what happens while a run goes on.
pub trait RunObserver {
    /// A timeline point was taken.
    fn sample(&mut self, _point: &TimelinePoint, _progress: &Progress<'_>) {}
    /// On the real clock, a few times a second: for a live progress line.
    fn tick(&mut self, _progress: &Progress<'_>) {}
    /// A phase started.
    fn phase_started(&mut self, _name: &str, _at: f64) {}
    /// A fault struck (or could not).
    fn fault(&mut self, _record: &FaultRecord) {}
}

/// Every output of a run, fed the same events in order.
#[derive(Default)]
pub struct Outputs<'a>(pub Vec<&'a mut dyn RunObserver>);

impl<'a> Outputs<'a> {
    /// An empty list.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Adds an output.
    pub fn with(mut self, output: &'a mut dyn RunObserver) -> Self {
        self.0.push(output);
        self
    }
}

impl RunObserver for Outputs<'_> {
    fn sample(&mut self, point: &TimelinePoint, progress: &Progress<'_>) {
        self.0.iter_mut().for_each(|o| o.sample(point, progress));
    }
    fn tick(&mut self, progress: &Progress<'_>) {
        self.0.iter_mut().for_each(|o| o.tick(progress));
    }
    fn phase_started(&mut self, name: &str, at: f64) {
        self.0.iter_mut().for_each(|o| o.phase_started(name, at));
    }
    fn fault(&mut self, record: &FaultRecord) {
        self.0.iter_mut().for_each(|o| o.fault(record));
    }
}

/// An observer that ignores everything.
pub struct NoObserver;
impl RunObserver for NoObserver {}
