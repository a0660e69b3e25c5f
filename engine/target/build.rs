//! Choosing and building the target a plan names.

use super::api::Target;
use super::sim::SimTarget;
use crate::plan::{Plan, TargetPlan};

/// Why a target could not be set up (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The target could not be reached.
    #[error("target unreachable: {0}")]
    Unreachable(String),
}

/// Builds the target a plan names.
pub fn build_target(plan: &Plan) -> Result<Box<dyn Target>, TargetError> {
    match &plan.target {
        TargetPlan::Sim(params) => Ok(Box::new(SimTarget::new(params.clone(), &plan.sessions, plan.seed))),
    }
}
