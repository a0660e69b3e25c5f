//! What the engine measures: the metric catalogue and the recorder.

mod catalogue;
mod recorder;
mod threshold;
mod window;

pub use catalogue::{Metric, MetricKind, Unit};
pub use recorder::{
    GaugePoint, HistStats, Outcome, Recorder, SeriesKey, Tag, decode_histogram, encode_histogram, new_histogram, stats,
};
pub use threshold::{aborting_rule, is_windowed, judge_windows, measure, rule_holds};
pub(crate) use threshold::{histogram_statistic, resolve_tags, watch_windows};
pub use window::Judgement;
