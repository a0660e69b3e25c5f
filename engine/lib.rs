//! herd: declarative performance, stress, soak and fault scenarios for queue-driven,
//! multi-session systems.
//!
//! The flow of data runs one way: a scenario file is loaded (`scenario`), compiled into a `Plan`
//! (`plan`), run against a target (`runtime`, `target`) while a recorder collects metrics
//! (`metrics`), and summarised with threshold verdicts (`report`).

pub mod metrics;
pub mod plan;
pub mod report;
pub mod runtime;
pub mod scenario;
pub mod target;
