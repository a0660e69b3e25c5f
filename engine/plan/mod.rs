//! Turning a loaded scenario into a runnable plan.

mod compile;
mod distribution;
mod model;
mod template;
mod threshold;
mod units;

pub use compile::{compile, load_and_compile};
pub(crate) use compile::{field_name, instruction_name};
pub use distribution::Distribution;
pub use model::*;
pub(crate) use template::explain as explain_template_error;
pub use template::{MessageContext, MessageVars, PhaseVars, SessionContext, Templates};
pub use threshold::{Aggregate, Cmp, TagFilter};
pub use units::{format_bytes, format_duration};
