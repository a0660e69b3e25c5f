//! The runtime: the dispatcher (the event loop), the ledger that counts, the executors that
//! generate each phase's arrivals, the pace judge, and the observer seam the outputs plug into.

mod clock;
mod deadlines;
mod dispatcher;
mod executors;
mod ledger;
mod observer;
mod pace;
mod records;
mod timeline;
mod window;

pub use clock::ClockKind;
pub use dispatcher::{RunOptions, run};
pub use observer::{NoObserver, Outputs, Progress, RunObserver, Stopping};
pub use records::{
    Accounting, BehindRecord, EndReason, FaultRecord, OwnershipChange, PhaseRecord, RunResult, SessionCounters,
    SessionRecord, StepRecord, TimelinePoint,
};
pub(crate) use timeline::Timeline;
pub use timeline::combine as combine_timeline_points;
