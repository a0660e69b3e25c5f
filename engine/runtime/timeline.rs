//! The run's timeline, held in bounded memory.
//!
//! One point per sample interval grows without end in a soak (8,640 points a day at the default
//! 10 s), and no chart is wider than a thousand pixels. The timeline keeps at most
//! `MAX_POINTS`: when it would hold more, neighbouring points are merged in pairs and every later
//! point covers twice as many samples. The journal keeps every sample as it was taken; the
//! summary and the charts get the compacted timeline, which covers the same run with coarser
//! steps.
//!
//! A merged point is exact for what adds up (counts, latency count, sum, min and max) and for
//! time-weighted means (intended rate, mean CPU); for gauges it keeps the largest sample
//! (containers, memory, queue depth, messages in flight), so a peak is never smoothed away; for
//! latency and lag percentiles it keeps the largest of the merged intervals' percentiles, which
//! bounds the merged interval's percentile from above (a percentile of a union lies between the
//! smallest and the largest of the parts' percentiles).

use super::records::TimelinePoint;

/// The most points a timeline holds; more are merged.
pub(crate) const MAX_POINTS: usize = 2048;

#[derive(Debug)]
pub(crate) struct Timeline {
    points: Vec<TimelinePoint>,
    cap: usize,
    /// Samples per point (a power of two).
    stride: u64,
    /// The point being filled: its samples so far, and how many.
    pending: Option<(TimelinePoint, u64)>,
    /// When the last complete point ends (the start of `pending`), seconds.
    last_end: f64,
}

impl Default for Timeline {
    fn default() -> Self {
        Self::with_cap(MAX_POINTS)
    }
}

impl Timeline {
    pub(crate) fn with_cap(cap: usize) -> Self {
        Self { points: Vec::new(), cap: cap.max(2), stride: 1, pending: None, last_end: 0.0 }
    }

    /// Adds the point of one sample interval (ending at `point.t`).
    pub(crate) fn push(&mut self, point: TimelinePoint) {
        let merged = match self.pending.take() {
            None => (point, 1),
            Some((sofar, n)) => {
                let start = self.last_end;
                (merge(&sofar, &point, sofar.t - start, point.t - sofar.t), n + 1)
            }
        };
        if merged.1 < self.stride {
            self.pending = Some(merged);
            return;
        }
        self.last_end = merged.0.t;
        // Grown by hand so the buffer never passes `cap + 1` points (doubling would reserve
        // twice the cap); halving reuses it.
        if self.points.len() == self.points.capacity() {
            let want = (self.points.len() * 2).max(16).min(self.cap + 1);
            self.points.reserve_exact(want.saturating_sub(self.points.len()));
        }
        self.points.push(merged.0);
        if self.points.len() > self.cap {
            self.halve();
        }
    }

    /// Merges neighbouring points in pairs; an odd last point becomes the half-filled pending
    /// point of the doubled stride.
    fn halve(&mut self) {
        let n = self.points.len();
        let mut start = 0.0;
        for i in 0..n / 2 {
            let (a, b) = (&self.points[2 * i], &self.points[2 * i + 1]);
            let m = merge(a, b, a.t - start, b.t - a.t);
            start = m.t;
            self.points[i] = m;
        }
        if n % 2 == 1 {
            self.pending = Some((self.points[n - 1].clone(), self.stride));
        }
        self.points.truncate(n / 2);
        self.last_end = start;
        self.stride *= 2;
    }

    /// The end of the last sample taken, seconds.
    pub(crate) fn last_t(&self) -> Option<f64> {
        self.pending.as_ref().map(|(p, _)| p.t).or_else(|| self.points.last().map(|p| p.t))
    }

    /// Samples per point: 1 until the timeline was compacted.
    pub(crate) fn stride(&self) -> u64 {
        self.stride
    }

    /// The points, the last one possibly covering fewer samples than the others.
    pub(crate) fn into_points(mut self) -> Vec<TimelinePoint> {
        if let Some((p, _)) = self.pending.take() {
            self.points.push(p);
        }
        self.points
    }
}

/// `f` of two readings when both exist, else whichever exists.
fn both(f: fn(f64, f64) -> f64, x: Option<f64>, y: Option<f64>) -> Option<f64> {
    match (x, y) {
        (Some(x), Some(y)) => Some(f(x, y)),
        (x, y) => x.or(y),
    }
}

/// One point for the intervals of `a` then `b`, `a_len` and `b_len` seconds long.
fn merge(a: &TimelinePoint, b: &TimelinePoint, a_len: f64, b_len: f64) -> TimelinePoint {
    let (wa, wb) = (a_len.max(0.0), b_len.max(0.0));
    let weighted = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) if wa + wb > 0.0 => Some((x * wa + y * wb) / (wa + wb)),
        (Some(x), Some(y)) => Some((x + y) / 2.0),
        (x, y) => x.or(y),
    };
    TimelinePoint {
        t: b.t,
        intended_rate: weighted(a.intended_rate, b.intended_rate),
        sent: a.sent + b.sent,
        replied: a.replied + b.replied,
        failed: a.failed + b.failed,
        lost: a.lost + b.lost,
        in_flight: a.in_flight.max(b.in_flight),
        latency_p50_ms: both(f64::max, a.latency_p50_ms, b.latency_p50_ms),
        latency_p90_ms: both(f64::max, a.latency_p90_ms, b.latency_p90_ms),
        latency_p99_ms: both(f64::max, a.latency_p99_ms, b.latency_p99_ms),
        latency_count: a.latency_count + b.latency_count,
        latency_sum_ms: a.latency_sum_ms + b.latency_sum_ms,
        latency_min_ms: both(f64::min, a.latency_min_ms, b.latency_min_ms),
        latency_max_ms: both(f64::max, a.latency_max_ms, b.latency_max_ms),
        containers: a.containers.max(b.containers),
        containers_starting: a.containers_starting.max(b.containers_starting),
        memory_max_bytes: a.memory_max_bytes.max(b.memory_max_bytes),
        cpu_avg_pct: weighted(a.cpu_avg_pct, b.cpu_avg_pct),
        queue_depth: a.queue_depth.max(b.queue_depth),
        schedule_lag_p99_ms: both(f64::max, a.schedule_lag_p99_ms, b.schedule_lag_p99_ms),
        dropped: a.dropped + b.dropped,
    }
}

/// One point for the same interval of two runs that ran side by side (`herd merge`): what adds
/// up adds (counts, the intended rates of two shares of one schedule, messages in flight); the
/// latency and lag percentiles keep the larger of the two, an upper bound as in [`merge`]; what
/// both runs observed of the one system they share (containers, memory, CPU, queue depth)
/// keeps the larger reading, since two slices sampling the same cluster see the same
/// containers.
pub fn combine(a: &TimelinePoint, b: &TimelinePoint) -> TimelinePoint {
    TimelinePoint {
        t: a.t.max(b.t),
        intended_rate: both(std::ops::Add::add, a.intended_rate, b.intended_rate),
        sent: a.sent + b.sent,
        replied: a.replied + b.replied,
        failed: a.failed + b.failed,
        lost: a.lost + b.lost,
        in_flight: a.in_flight + b.in_flight,
        latency_p50_ms: both(f64::max, a.latency_p50_ms, b.latency_p50_ms),
        latency_p90_ms: both(f64::max, a.latency_p90_ms, b.latency_p90_ms),
        latency_p99_ms: both(f64::max, a.latency_p99_ms, b.latency_p99_ms),
        latency_count: a.latency_count + b.latency_count,
        latency_sum_ms: a.latency_sum_ms + b.latency_sum_ms,
        latency_min_ms: both(f64::min, a.latency_min_ms, b.latency_min_ms),
        latency_max_ms: both(f64::max, a.latency_max_ms, b.latency_max_ms),
        containers: a.containers.max(b.containers),
        containers_starting: a.containers_starting.max(b.containers_starting),
        memory_max_bytes: a.memory_max_bytes.max(b.memory_max_bytes),
        cpu_avg_pct: both(f64::max, a.cpu_avg_pct, b.cpu_avg_pct),
        queue_depth: a.queue_depth.max(b.queue_depth),
        schedule_lag_p99_ms: both(f64::max, a.schedule_lag_p99_ms, b.schedule_lag_p99_ms),
        dropped: a.dropped + b.dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: f64, sent: u64, p99: Option<f64>, depth: u64) -> TimelinePoint {
        TimelinePoint {
            t,
            intended_rate: Some(t),
            sent,
            replied: sent,
            failed: 0,
            lost: 0,
            in_flight: 0,
            latency_p50_ms: p99.map(|v| v / 2.0),
            latency_p90_ms: p99,
            latency_p99_ms: p99,
            latency_count: sent,
            latency_sum_ms: sent as f64,
            latency_min_ms: p99.map(|_| 1.0),
            latency_max_ms: p99,
            containers: 1,
            containers_starting: 0,
            memory_max_bytes: None,
            cpu_avg_pct: Some(10.0),
            queue_depth: depth,
            schedule_lag_p99_ms: None,
            dropped: 0,
        }
    }

    #[test]
    fn a_short_timeline_is_kept_as_sampled() {
        let mut tl = Timeline::with_cap(8);
        for i in 1..=8u32 {
            tl.push(sample(f64::from(i), u64::from(i), Some(f64::from(i)), 0));
        }
        assert_eq!(tl.stride(), 1);
        let points = tl.into_points();
        assert_eq!(points.len(), 8);
        assert_eq!(points.iter().map(|p| p.sent).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn a_long_timeline_stays_under_its_cap_and_loses_no_count_or_peak() {
        let mut tl = Timeline::with_cap(8);
        let n: u32 = 1000;
        for i in 1..=n {
            // One spike of latency and queue depth in the middle of the run.
            let spike = i == 517;
            let p99 = if spike { 9_000.0 } else { 10.0 };
            tl.push(sample(f64::from(i), 3, Some(p99), if spike { 77 } else { 1 }));
            assert!(tl.points.len() <= 8, "{} points after {i} samples", tl.points.len());
            assert!(tl.points.capacity() <= 9, "the buffer stays bounded: {}", tl.points.capacity());
        }
        let stride = tl.stride();
        let points = tl.into_points();
        assert!(points.len() <= 9, "{} points", points.len());
        assert_eq!(points.iter().map(|p| p.sent).sum::<u64>(), 3 * u64::from(n));
        assert_eq!(points.iter().map(|p| p.latency_count).sum::<u64>(), 3 * u64::from(n));
        assert_eq!(points.iter().filter_map(|p| p.latency_p99_ms).fold(0.0, f64::max), 9_000.0);
        assert_eq!(points.iter().map(|p| p.queue_depth).max(), Some(77));
        assert_eq!(points.last().map(|p| p.t), Some(f64::from(n)));
        // Every complete point covers `stride` one-second samples and ends where the next starts.
        for (i, p) in points.iter().enumerate().take(points.len() - 1) {
            assert_eq!(p.t, (i as u64 + 1) as f64 * stride as f64, "point {i}");
        }
        // The intended rate was t at every sample: a point's time-weighted mean is its middle.
        let first = &points[0];
        let expected = (1..=stride).map(|i| i as f64).sum::<f64>() / stride as f64;
        assert!((first.intended_rate.unwrap_or(0.0) - expected).abs() < 1e-9);
    }
}
