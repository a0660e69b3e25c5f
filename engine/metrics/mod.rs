//! What the engine measures: the metric catalogue and the recorder.

mod catalogue;
mod recorder;
mod threshold;

pub use catalogue::{Metric, MetricKind, Unit};
pub use recorder::{
    GaugePoint, HistStats, Outcome, Recorder, SeriesKey, Tag, decode_histogram, encode_histogram, new_histogram, stats,
};
pub(crate) use threshold::resolve_tags;
pub use threshold::{aborting_rule, measure, rule_holds};
