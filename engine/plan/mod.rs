//! Turning a loaded scenario into a runnable plan.

mod aws;
mod compile;
mod distribution;
mod model;
mod template;
mod threshold;
mod units;

pub use aws::{AwsParams, ClaimsParams, CloudWatchParams, ContainersParams, ReplyParams, WorkParams};
pub use compile::{compile, load_and_compile};
pub(crate) use compile::{field_name, instruction_name};
pub use distribution::Distribution;
pub use model::*;
pub(crate) use template::explain as explain_template_error;
pub(crate) use template::render_once as render_once_public;
pub use template::{
    MessageContext, MessageVars, OwnedPhase, OwnedSession, PhaseVars, SessionContext, TargetContext, TargetMessageVars,
    Templates,
};
pub use threshold::{Aggregate, Cmp, TagFilter};
pub use units::{format_bytes, format_duration};
