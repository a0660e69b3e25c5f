//! The recorder: HdrHistograms per metric and tag, counters, success rates and gauge series.
//!
//! Values are recorded in integer units (microseconds, bytes, hundredths of a percent, counts),
//! so histograms stay exact to three significant figures and merge without loss.

use std::collections::BTreeMap;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer as _, V2Serializer};
use serde::Serialize;

use super::catalogue::Metric;
use super::window::{Judgement, Windows};

/// Which part of the run a value belongs to, besides the run as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Tag {
    /// A phase, by index.
    Phase(usize),
    /// A session group, by index.
    Group(usize),
    /// A phase and a session group together (recorded only for pairs a threshold names).
    PhaseGroup(usize, usize),
    /// Answers that were not successes (`message_latency` only).
    Outcome(Outcome),
    /// Not a series: a value with this tag is left out of the run's own series (a setup or
    /// teardown phase's), and recorded only in its other tags' series.
    Unmeasured,
}

/// How a message was answered, when it was not a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A failure answer.
    Failed,
    /// An answer that said the message was interrupted (preempted).
    Interrupted,
}

impl Outcome {
    /// The name written in threshold keys: `{outcome="failed"}`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// A metric, optionally narrowed by a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// The metric.
    pub metric: Metric,
    /// The tag, or `None` for the whole run.
    pub tag: Option<Tag>,
}

/// Statistics of one histogram, in recording units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct HistStats {
    /// Number of values.
    pub count: u64,
    /// Smallest value.
    pub min: u64,
    /// Largest value.
    pub max: u64,
    /// Mean.
    pub avg: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
}

/// Creates an empty auto-resizing histogram with three significant figures.
pub fn new_histogram() -> Histogram<u64> {
    // Three significant figures, auto-resizing: any value from 1 µs to days fits.
    let mut h = Histogram::<u64>::new(3).unwrap_or_else(|_| unreachable_histogram());
    h.auto(true);
    h
}

#[cold]
fn unreachable_histogram() -> Histogram<u64> {
    // `Histogram::new(3)` only fails for sigfig > 5; keep a safe fallback rather than panic.
    Histogram::<u64>::new_with_bounds(1, u64::MAX / 2, 2).unwrap_or_else(|_| std::process::abort())
}

/// Statistics of a histogram.
pub fn stats(h: &Histogram<u64>) -> HistStats {
    if h.is_empty() {
        return HistStats::default();
    }
    HistStats {
        count: h.len(),
        min: h.min(),
        max: h.max(),
        avg: h.mean(),
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
    }
}

/// Serialises a histogram in the HdrHistogram V2 format, base64-encoded.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    match V2Serializer::new().serialize(h, &mut buf) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(&buf),
        Err(_) => String::new(),
    }
}

/// Decodes a histogram written by [`encode_histogram`].
pub fn decode_histogram(text: &str) -> Option<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).ok()?;
    let mut d = hdrhistogram::serialization::Deserializer::new();
    d.deserialize(&mut std::io::Cursor::new(bytes)).ok()
}

/// One sample of a gauge series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GaugePoint {
    /// Microseconds since the start of the run.
    pub t: u64,
    /// The value in recording units.
    pub value: u64,
}

/// Everything measured during a run.
#[derive(Debug, Default)]
pub struct Recorder {
    histograms: BTreeMap<SeriesKey, Histogram<u64>>,
    counters: BTreeMap<SeriesKey, u64>,
    rates: BTreeMap<SeriesKey, (u64, u64)>,
    /// Per (metric, group tag or none for the fleet, instance), its first and latest sample:
    /// all `growth` needs, and the same size after a day as after a minute (the samples
    /// themselves are in the histograms and the timeline).
    gauges: BTreeMap<(Metric, Option<Tag>, String), [GaugePoint; 2]>,
    /// Series watched by windowed or delayed threshold rules, and their judgements.
    pub(crate) windows: Windows,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    fn keys(metric: Metric, tags: &[Tag]) -> impl Iterator<Item = SeriesKey> + '_ {
        let measured = !tags.contains(&Tag::Unmeasured);
        measured
            .then_some(SeriesKey { metric, tag: None })
            .into_iter()
            .chain(tags.iter().filter(|t| **t != Tag::Unmeasured).map(move |t| SeriesKey { metric, tag: Some(*t) }))
    }

    /// Records a value of a trend metric for the run and for each tag.
    pub fn record(&mut self, metric: Metric, value: u64, tags: &[Tag]) {
        for key in Self::keys(metric, tags) {
            // A saturating record: auto-resize makes out-of-range impossible in practice.
            let _ = self.histograms.entry(key).or_insert_with(new_histogram).record(value);
            if !self.windows.is_empty() {
                self.windows.feed(&key, |b| {
                    let _ = b.hist.get_or_insert_with(new_histogram).record(value);
                });
            }
        }
    }

    /// Watches a series for the windowed or delayed threshold `rule`, keeping `span` µs.
    pub(crate) fn watch(&mut self, rule: usize, key: SeriesKey, span: u64) {
        self.windows.watch(rule, key, span);
    }

    /// The judgement of a windowed or delayed threshold rule, if it has one.
    pub fn judgement(&self, rule: usize) -> Option<Judgement> {
        self.windows.rules.iter().find(|(r, _, _)| *r == rule).map(|(_, _, j)| *j)
    }

    /// Records a value of a trend metric in one tagged series only (not in the run's).
    pub fn record_only(&mut self, metric: Metric, value: u64, tag: Tag) {
        let key = SeriesKey { metric, tag: Some(tag) };
        let _ = self.histograms.entry(key).or_insert_with(new_histogram).record(value);
        if !self.windows.is_empty() {
            self.windows.feed(&key, |b| {
                let _ = b.hist.get_or_insert_with(new_histogram).record(value);
            });
        }
    }

    /// Adds to a counter for the run and for each tag.
    pub fn add(&mut self, metric: Metric, n: u64, tags: &[Tag]) {
        for key in Self::keys(metric, tags) {
            *self.counters.entry(key).or_default() += n;
            if !self.windows.is_empty() {
                self.windows.feed(&key, |b| b.count += n);
            }
        }
    }

    /// Records one outcome of a rate metric.
    pub fn outcome(&mut self, metric: Metric, ok: bool, tags: &[Tag]) {
        for key in Self::keys(metric, tags) {
            let e = self.rates.entry(key).or_default();
            e.0 += u64::from(ok);
            e.1 += 1;
            if !self.windows.is_empty() {
                self.windows.feed(&key, |b| {
                    b.ok += u64::from(ok);
                    b.total += 1;
                });
            }
        }
    }

    /// Records a gauge sample of one instance (a container id, or `all`).
    pub fn gauge(&mut self, metric: Metric, instance: &str, t: u64, value: u64) {
        self.record(metric, value, &[]);
        self.gauge_ends(metric, None, instance, GaugePoint { t, value });
    }

    /// A gauge sample of `instance` in one tagged series only (a session group's share of the
    /// fleet), not in the fleet's.
    pub fn gauge_only(&mut self, metric: Metric, tag: Tag, instance: &str, t: u64, value: u64) {
        self.record_only(metric, value, tag);
        self.gauge_ends(metric, Some(tag), instance, GaugePoint { t, value });
    }

    fn gauge_ends(&mut self, metric: Metric, tag: Option<Tag>, instance: &str, p: GaugePoint) {
        match self.gauges.get_mut(&(metric, tag, instance.to_owned())) {
            Some(ends) => ends[1] = p,
            None => {
                self.gauges.insert((metric, tag, instance.to_owned()), [p, p]);
            }
        }
    }

    /// A histogram, if anything was recorded.
    pub fn histogram(&self, key: &SeriesKey) -> Option<&Histogram<u64>> {
        self.histograms.get(key)
    }

    /// Every histogram.
    pub fn histograms(&self) -> impl Iterator<Item = (&SeriesKey, &Histogram<u64>)> {
        self.histograms.iter()
    }

    /// A counter's total (0 when nothing was counted).
    pub fn counter(&self, key: &SeriesKey) -> u64 {
        self.counters.get(key).copied().unwrap_or(0)
    }

    /// Every counter.
    pub fn counters(&self) -> impl Iterator<Item = (&SeriesKey, &u64)> {
        self.counters.iter()
    }

    /// A rate metric's (successes, total).
    pub fn rate(&self, key: &SeriesKey) -> (u64, u64) {
        self.rates.get(key).copied().unwrap_or((0, 0))
    }

    /// Every rate metric.
    pub fn rates(&self) -> impl Iterator<Item = (&SeriesKey, &(u64, u64))> {
        self.rates.iter()
    }

    /// The gauge series of a metric, by instance: its first and latest sample.
    pub fn gauge_series(&self, metric: Metric) -> impl Iterator<Item = (&str, &[GaugePoint])> {
        self.tagged_gauge_series(metric, None)
    }

    /// The series of a gauge metric in one tag (`None`: the fleet's), per instance: its first and
    /// latest sample.
    pub fn tagged_gauge_series(&self, metric: Metric, tag: Option<Tag>) -> impl Iterator<Item = (&str, &[GaugePoint])> {
        self.gauges
            .iter()
            .filter(move |((m, t, _), _)| *m == metric && *t == tag)
            .map(|((_, _, i), s)| (i.as_str(), s.as_slice()))
    }

    /// The largest rise from first to last sample over the metric's series, with the instance.
    pub fn growth(&self, metric: Metric) -> Option<(i128, String)> {
        self.tagged_growth(metric, None)
    }

    /// [`Recorder::growth`] within one tag (`None`: the fleet's).
    pub fn tagged_growth(&self, metric: Metric, tag: Option<Tag>) -> Option<(i128, String)> {
        self.tagged_gauge_series(metric, tag)
            .filter(|(_, s)| !s.is_empty())
            .map(|(i, s)| (i128::from(s[s.len() - 1].value) - i128::from(s[0].value), i.to_owned()))
            .max_by_key(|(g, _)| *g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_round_trip_through_v2_base64() {
        let mut r = Recorder::new();
        for v in [1_000u64, 2_000, 3_000, 250_000] {
            r.record(Metric::MessageLatency, v, &[Tag::Phase(0)]);
        }
        let key = SeriesKey { metric: Metric::MessageLatency, tag: None };
        let h = r.histogram(&key).unwrap();
        let decoded = decode_histogram(&encode_histogram(h)).unwrap();
        assert_eq!(stats(&decoded), stats(h));
        assert_eq!(stats(h).count, 4);
        let tagged = SeriesKey { metric: Metric::MessageLatency, tag: Some(Tag::Phase(0)) };
        assert_eq!(r.histogram(&tagged).map(|h| h.len()), Some(4));
    }

    #[test]
    fn growth_is_last_minus_first_of_the_worst_series() {
        let mut r = Recorder::new();
        r.gauge(Metric::ContainerMemory, "c0", 0, 100);
        r.gauge(Metric::ContainerMemory, "c0", 10, 180);
        r.gauge(Metric::ContainerMemory, "c1", 0, 100);
        r.gauge(Metric::ContainerMemory, "c1", 10, 90);
        assert_eq!(r.growth(Metric::ContainerMemory), Some((80, "c0".to_owned())));
    }
}
