//! Choosing and building the target a plan names.

use super::api::Target;
use super::aws::{AwsOptions, AwsTarget};
use super::sim::SimTarget;
use crate::plan::{Plan, TargetPlan};

/// Why a target could not be set up (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The target could not be reached.
    #[error("target unreachable: {0}")]
    Unreachable(String),
    /// The credentials belong to an account the scenario does not allow.
    #[error("account {account} is not in allowed_accounts ({}); nothing was sent", allowed.join(", "))]
    AccountNotAllowed {
        /// The caller's account.
        account: String,
        /// The scenario's list.
        allowed: Vec<String>,
    },
    /// Queues, tables, the callback listener or local containers could not be set up.
    #[error("target setup failed: {0}")]
    Setup(String),
}

/// Builds the target a plan names.
pub fn build_target(plan: &Plan) -> Result<Box<dyn Target>, TargetError> {
    build_target_with(plan, &AwsOptions::default())
}

/// Builds the target a plan names, with command-line options for the aws target.
pub fn build_target_with(plan: &Plan, options: &AwsOptions) -> Result<Box<dyn Target>, TargetError> {
    match &plan.target {
        TargetPlan::Sim(params) => Ok(Box::new(SimTarget::new((**params).clone(), &plan.sessions, plan.seed))),
        TargetPlan::Aws(params) => {
            let target = AwsTarget::connect(plan, params, options)?;
            if let Some(addr) = target.callback_addr {
                eprintln!("herd: Step Functions callbacks: point workers at http://{addr}");
            }
            Ok(Box::new(target))
        }
    }
}
