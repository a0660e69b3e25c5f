//! The aws target: real SQS, DynamoDB and ECS (or any AWS-compatible endpoint) through the
//! official SDK (SQS's four data-plane calls spoken directly, `wire.rs`). The synchronous side
//! (`target.rs`) only hands work to tasks on its own tokio runtime, which the run's thread drives
//! while it waits for its next event (`drive.rs`); the tasks (senders, reply readers, the
//! callback listener, the router that matches replies, fault and sampling tasks) report stamped
//! observations back.

mod callback;
mod clients;
mod compile;
mod containers;
mod drive;
mod local;
mod needs;
mod provision;
mod router;
mod session_queues;
mod sigv4;
mod spec;
mod sqs;
mod target;
mod wire;

pub(crate) use clients::{explain, sdk_config};
pub use compile::{
    AwsParams, ClaimsParams, ContainersParams, IdSource, LocalParams, ReplyParams, RouterParams, Timeouts, WorkParams,
};
pub use spec::*;
pub use target::AwsTarget;
