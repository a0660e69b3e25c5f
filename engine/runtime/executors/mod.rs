//! Executors: each phase's arrival generator, one file each, chosen by the phase's executor
//! name (as k6 registers its executors). An executor owns its state and its random stream, and
//! talks to the dispatcher only through [`ExecCx`]: it asks for sends and wake-ups, and is told
//! when one of its messages is resolved.

mod breaking_point;
mod burst;
mod constant_arrival_rate;
mod per_session_iterations;
mod ramping_arrival_rate;
mod rate_schedule;
mod registry;
mod segmented;
mod soak;
mod think_time;

pub(crate) use registry::{ExecCx, Executor, new_executor, phase_rng, seeded_uuid};
