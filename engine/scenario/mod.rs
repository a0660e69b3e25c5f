//! The scenario file: serde types, loading with locations, and diagnostics.

mod compose;
mod diagnostic;
mod load;
mod params;
mod schema_check;
mod spec;

pub use compose::Written;
pub use diagnostic::{Diagnostic, FileDiagnostics, KeyPath, PathSeg, SourceFile};
pub(crate) use load::sort_items;
pub use load::{
    LoadFailure, LoadedScenario, load_bytes, load_bytes_recovering, load_bytes_with, load_file, load_file_recovering,
    load_file_with, published_schema, scenario_schema,
};
pub use params::{Overrides, ParamOrigins, Params, VarValue};
pub(crate) use schema_check::nearest;
pub use spec::*;
