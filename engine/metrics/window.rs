//! Threshold rules judged over a sliding window (`window = "30s"`) or only after a warm-up
//! (`delay = "1m"`). The recorder feeds the series such rules watch into per-sample buckets;
//! at every sample each rule is judged on the buckets its window covers, like a stop condition,
//! and the first failure is kept for the verdict.

use std::collections::VecDeque;

use hdrhistogram::Histogram;

use super::recorder::{SeriesKey, new_histogram};

/// What one sample interval recorded for a watched series.
#[derive(Debug, Default, Clone)]
pub(crate) struct Bucket {
    /// Trend and gauge values.
    pub hist: Option<Histogram<u64>>,
    /// Counter total.
    pub count: u64,
    /// Rate successes and total.
    pub ok: u64,
    pub total: u64,
}

impl Bucket {
    fn merge(&mut self, other: &Bucket) {
        if let Some(h) = &other.hist {
            let _ = self.hist.get_or_insert_with(new_histogram).add(h);
        }
        self.count += other.count;
        self.ok += other.ok;
        self.total += other.total;
    }
}

#[derive(Debug)]
struct Watched {
    key: SeriesKey,
    current: Bucket,
    /// Closed buckets with the time (µs) their interval ended.
    closed: VecDeque<(u64, Bucket)>,
}

/// How a windowed or delayed rule fared over the run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Judgement {
    /// Whether it was judged at least once on data.
    pub judged: bool,
    /// When it first failed (µs since the start), and what it measured then.
    pub failed: Option<(u64, f64)>,
    /// What it measured the last time it was judged.
    pub last: Option<f64>,
}

/// The watched series and the judgements of the rules that watch them.
#[derive(Debug, Default)]
pub(crate) struct Windows {
    watched: Vec<Watched>,
    /// Per threshold index: the watched series it reads, and its judgement so far.
    pub rules: Vec<(usize, usize, Judgement)>,
    /// The longest span any rule looks back, in µs; older buckets are dropped.
    keep: u64,
}

impl Windows {
    /// Whether nothing is watched (the fast path of every record).
    pub fn is_empty(&self) -> bool {
        self.watched.is_empty()
    }

    /// Watches `key` for threshold `rule`, keeping `span` µs of buckets.
    pub fn watch(&mut self, rule: usize, key: SeriesKey, span: u64) {
        let w = match self.watched.iter().position(|w| w.key == key) {
            Some(w) => w,
            None => {
                self.watched.push(Watched { key, current: Bucket::default(), closed: VecDeque::new() });
                self.watched.len() - 1
            }
        };
        self.rules.push((rule, w, Judgement::default()));
        self.keep = self.keep.max(span);
    }

    /// Feeds a value into every watched series with this key.
    pub fn feed(&mut self, key: &SeriesKey, f: impl Fn(&mut Bucket)) {
        for w in self.watched.iter_mut().filter(|w| w.key == *key) {
            f(&mut w.current);
        }
    }

    /// Closes the current buckets at `now` and forgets what no rule can look at any more.
    pub fn close(&mut self, now: u64) {
        for w in &mut self.watched {
            let bucket = std::mem::take(&mut w.current);
            w.closed.push_back((now, bucket));
            while w.closed.front().is_some_and(|(end, _)| now.saturating_sub(*end) > self.keep) {
                w.closed.pop_front();
            }
        }
    }

    /// The merged buckets of watched series `w` that ended after `from` (µs).
    pub fn since(&self, w: usize, from: u64) -> Bucket {
        let mut out = Bucket::default();
        if let Some(watched) = self.watched.get(w) {
            for (_, b) in watched.closed.iter().filter(|(end, _)| *end > from) {
                out.merge(b);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metric;

    #[test]
    fn buckets_outside_the_longest_window_are_dropped() {
        let key = SeriesKey { metric: Metric::MessagesLost, tag: None };
        let mut w = Windows::default();
        w.watch(0, key, 20);
        for t in [10, 20, 30, 40] {
            w.feed(&key, |b| b.count += 1);
            w.close(t);
        }
        // At 40 the buckets ending at 20, 30 and 40 are within 20 µs; the one at 10 is gone.
        assert_eq!(w.since(0, 0).count, 3);
        assert_eq!(w.since(0, 25).count, 2);
    }
}
