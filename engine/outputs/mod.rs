//! Outputs: observers of a run that send what it measures somewhere (CloudWatch), and the
//! `[output]` table that configures them. The summary writer, the journal and the progress line
//! are observers too; they live beside the report and the CLI that own their files and terminal.

mod cloudwatch;
mod spec;

pub(crate) use cloudwatch::compile_cloudwatch;
pub use cloudwatch::{CloudWatchParams, CloudWatchPublisher};
pub use spec::*;
