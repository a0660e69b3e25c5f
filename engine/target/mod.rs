//! The system under test, behind one trait.

mod api;
pub mod aws;
mod build;
mod sim;

pub use api::{FaultOutcome, GaugeSample, Micros, Observation, Outbound, Target, TargetIo};
pub use build::{TargetError, build_target, build_target_with};
pub use sim::SimTarget;
