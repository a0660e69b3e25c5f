//! Turning a loaded scenario into a runnable plan.

mod compile;
mod data;
mod distribution;
mod matrix;
mod model;
#[cfg(test)]
mod parser_props;
mod segment;
mod simple_template;
mod template;
mod threshold;
mod units;

pub(crate) use compile::Compiler;
pub use compile::{CompileOptions, compile, compile_with, load_and_compile, load_and_compile_with};
pub(crate) use compile::{field_name, instruction_name};
pub use distribution::Distribution;
pub(crate) use matrix::compile_matrix;
pub use matrix::{MAX_VARIANTS, MatrixPlan, Variant};
pub use model::*;
pub use segment::{MAX_SEGMENTS, Segment, SegmentPlan, apply_segment, slice_of_sessions};
pub(crate) use template::explain as explain_template_error;
pub(crate) use template::render_once as render_once_public;
pub use template::{
    MessageContext, MessageVars, OwnedPhase, OwnedSession, PhaseVars, SessionContext, TargetContext, TargetMessageVars,
    Templates,
};
pub(crate) use template::{TargetLookup, message_lookup, message_value, phase_value, target_lookup};
pub use threshold::{Aggregate, Cmp, TagFilter};
pub(crate) use threshold::{parse_key as parse_threshold_key, parse_rule as parse_threshold_rule};
pub(crate) use units::parse_duration as parse_duration_text;
pub(crate) use units::parse_size as parse_size_public;
pub use units::{format_bytes, format_duration};
