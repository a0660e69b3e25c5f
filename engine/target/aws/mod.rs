//! The aws target: real SQS, DynamoDB, ECS and CloudWatch through the official SDK.

mod callback;
mod clients;
mod cloudwatch;
mod containers;
mod inbox;
mod provision;
mod sqs;
mod target;

pub use cloudwatch::CloudWatchPublisher;
pub use target::{AwsOptions, AwsTarget, dry_run};
