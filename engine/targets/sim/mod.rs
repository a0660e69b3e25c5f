//! The simulated target: an in-process model of the architecture on the virtual clock.

mod compile;
mod model;
mod spec;

pub use compile::{InterruptPolicy, SimParams};
pub use model::SimTarget;
pub use spec::*;
