//! The system under test, behind one trait.

mod api;
mod build;
mod sim;

pub use api::{FaultOutcome, GaugeSample, Micros, Observation, Outbound, Target, TargetIo};
pub use build::{TargetError, build_target};
pub use sim::SimTarget;
