//! The scenario file: serde types, loading with locations, and diagnostics.

mod diagnostic;
mod load;
mod schema_check;
mod spec;

pub use diagnostic::{Diagnostic, FileDiagnostics, KeyPath, PathSeg};
pub use load::{
    LoadFailure, LoadedScenario, load_bytes, load_bytes_recovering, load_file, load_file_recovering, scenario_schema,
};
pub(crate) use schema_check::nearest;
pub use spec::*;
