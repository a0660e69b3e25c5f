//! Whether the generator keeps up with its schedule. Over a sliding 10-second window of wall
//! time it keeps the schedule lag of every send (HdrHistogram per second), the sends and the
//! dropped arrivals; the generator is behind when the window's lag p99 is above 100 ms or an
//! arrival was dropped in it.

use std::collections::VecDeque;

use hdrhistogram::Histogram;

use crate::metrics::new_histogram;
use crate::plan::format_duration;
use crate::targets::Micros;

/// The window judged.
const WINDOW: Micros = 10_000_000;
/// The lag p99 above which the generator is behind.
const LAG_LIMIT: Micros = 100_000;

struct Second {
    index: u64,
    lag: Histogram<u64>,
    sent: u64,
    dropped: u64,
}

/// One judgement of the window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Behind {
    /// The window's lag p99, microseconds.
    pub lag_p99: Micros,
    /// Sends per second in the window.
    pub sent_per_second: f64,
    /// What the schedule asked for, per second, when known.
    pub planned_per_second: Option<f64>,
    /// Arrivals dropped in the window.
    pub dropped: u64,
}

impl Behind {
    /// The sentence reports and the progress line show.
    pub(crate) fn message(&self) -> String {
        let rate = match self.planned_per_second {
            Some(p) => format!("sent {:.1}/s of {:.1}/s", self.sent_per_second, p),
            None => format!("sent {:.1}/s", self.sent_per_second),
        };
        let mut why = Vec::new();
        if self.lag_p99 > LAG_LIMIT {
            why.push(format!(
                "sends left up to {} late (schedule_lag p99 over 10s)",
                format_duration(std::time::Duration::from_micros(self.lag_p99))
            ));
        }
        if self.dropped > 0 {
            why.push(format!("{} arrivals dropped by the in-flight cap", self.dropped));
        }
        format!("the generator fell behind: {rate}; {}", why.join(", "))
    }
}

/// The sliding window.
#[derive(Default)]
pub(crate) struct Pace {
    seconds: VecDeque<Second>,
}

impl Pace {
    fn second(&mut self, wall: Micros) -> &mut Second {
        let index = wall / 1_000_000;
        if self.seconds.back().is_none_or(|s| s.index != index) {
            self.seconds.push_back(Second { index, lag: new_histogram(), sent: 0, dropped: 0 });
        }
        while self.seconds.front().is_some_and(|s| s.index + WINDOW / 1_000_000 <= index) {
            self.seconds.pop_front();
        }
        let last = self.seconds.len() - 1;
        &mut self.seconds[last]
    }

    /// A send left at `wall`, `lag` after its intended time.
    pub(crate) fn sent(&mut self, wall: Micros, lag: Micros) {
        let s = self.second(wall);
        s.sent += 1;
        // `record` grows the auto-resizing histogram; `saturating_record` would clamp instead.
        s.lag.record(lag).ok();
    }

    /// An arrival was dropped at `wall`.
    pub(crate) fn dropped(&mut self, wall: Micros) {
        self.second(wall).dropped += 1;
    }

    /// The window ending at `wall`, if the generator is behind in it.
    pub(crate) fn judge(&mut self, wall: Micros, planned_per_second: Option<f64>) -> Option<Behind> {
        self.second(wall);
        // Most of the time nothing in the window comes near the limit: the largest lag of each
        // second (as the histogram holds it, so no larger than the p99 merged below could be)
        // settles it without merging ten histograms four times a second.
        if self.seconds.iter().all(|s| s.dropped == 0 && (s.lag.is_empty() || s.lag.max() <= LAG_LIMIT)) {
            return None;
        }
        let mut lag = new_histogram();
        let (mut sent, mut dropped) = (0, 0);
        for s in &self.seconds {
            lag.add(&s.lag).ok();
            sent += s.sent;
            dropped += s.dropped;
        }
        let lag_p99 = if lag.is_empty() { 0 } else { lag.value_at_quantile(0.99) };
        if lag_p99 <= LAG_LIMIT && dropped == 0 {
            return None;
        }
        // The window runs from the start of its oldest second to now.
        let oldest = self.seconds.front().map_or(0, |s| s.index * 1_000_000);
        let span = wall.saturating_sub(oldest).max(100_000) as f64 / 1e6;
        Some(Behind { lag_p99, sent_per_second: sent as f64 / span, planned_per_second, dropped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_sends_and_drops_make_the_generator_behind_until_they_leave_the_window() {
        let mut pace = Pace::default();
        for i in 0..100 {
            pace.sent(i * 100_000, 1_000);
        }
        assert_eq!(pace.judge(10_000_000, Some(10.0)), None, "1 ms of lag is on schedule");
        // Under 1 % of the sends late is not behind either (the p99 is still on time), though
        // the quick check on the largest lag cannot say so alone; 2 in 152 is.
        let mut few = Pace::default();
        for i in 0..150 {
            few.sent(8_000_000 + i * 10_000, 1_000);
        }
        few.sent(9_600_000, 5_000_000);
        assert_eq!(few.judge(9_700_000, Some(100.0)), None, "one late send in 151 is under the p99");
        few.sent(9_650_000, 5_000_000);
        assert!(few.judge(9_700_000, Some(100.0)).is_some(), "two late sends in 152 are over it");
        for i in 0..20 {
            pace.sent(10_000_000 + i * 50_000, 2_000_000);
        }
        let judged = pace.judge(11_000_000, Some(20.0));
        let behind = judged.expect("2 s of lag is behind");
        assert!(behind.lag_p99 >= 1_900_000, "{behind:?}");
        assert!(behind.message().contains("of 20.0/s"), "{}", behind.message());
        // Ten seconds later the late sends have left the window.
        pace.sent(22_000_000, 0);
        assert_eq!(pace.judge(22_000_000, Some(20.0)), None);
        pace.dropped(23_000_000);
        let behind = pace.judge(23_000_000, None).expect("a dropped arrival is behind");
        assert!(behind.message().contains("1 arrivals dropped"), "{}", behind.message());
    }
}
