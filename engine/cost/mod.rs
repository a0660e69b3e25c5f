//! What a run costs: a dated price table (overridable per scenario), what the run used of each
//! billed item (counted by herd, or worked out from the model), and the estimate that prices
//! one with the other.

mod estimate;
mod prices;
mod spec;
mod usage;

pub use estimate::{CostEstimate, CostLine, billed_seconds, estimate};
pub(crate) use prices::compile_cost;
pub use prices::{CostParams, PriceTable};
pub use spec::{CostSpec, PricesSpec};
pub use usage::{Basis, Usage, UsageItem, UsageKind};
