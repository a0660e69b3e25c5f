//! Runs spread over many workers: the settings of `[distribute.ecs]`, the files shipped to the
//! workers, the S3 folder they share with the coordinator, and the ECS tasks that run them.

mod bundle;
mod ecs;
mod error;
mod settings;
mod spec;
mod store;

pub use bundle::{Bundle, bundle};
pub use ecs::{Fleet, TaskState};
pub use error::DistributeError;
pub(crate) use settings::compile_ecs;
pub use settings::{
    EcsDistribution, EcsSettings, check_bucket, check_name, check_prefix, check_security_group, check_subnet,
};
pub use spec::{DistributeSpec, EcsDistributeSpec};
pub use store::{RunStore, S3Location, WorkerProgress, slice_folder};
