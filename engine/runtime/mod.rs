//! The runtime: one dispatcher that owns the clock and the order of events, and the executors
//! that generate each phase's arrivals.

mod clock;
mod dispatcher;
mod executor;

pub use clock::ClockKind;
pub use dispatcher::{
    Accounting, Both, EndReason, FaultRecord, NoObserver, PhaseRecord, RunObserver, RunOptions, RunResult,
    SessionRecord, TimelinePoint, run,
};
