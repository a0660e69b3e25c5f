//! `breaking-point`: the open model with a rate stepped up until a step fails its `until`
//! rules. Each step is judged when it ends, on the answers that came in during it; the first
//! failing step ends the phase, and the highest rate whose step held is the system's capacity
//! for this workload.

use std::time::Duration;

use hdrhistogram::Histogram;
use rand_chacha::ChaCha8Rng;

use super::rate_schedule::{OpenArrivals, RateSchedule};
use super::registry::{ExecCx, Executor};
use crate::metrics::{Metric, histogram_statistic, new_histogram};
use crate::plan::{Aggregate, StepRule};
use crate::runtime::StepRecord;
use crate::targets::Micros;

/// Wake-up tokens with this bit are step ends (the step's index below it); the others are
/// arrivals.
const STEP_END: u64 = 1 << 63;

/// The answers of the step under way.
#[derive(Default)]
struct StepStats {
    latency: Option<Histogram<u64>>,
    replied: u64,
    failed: u64,
    lost: u64,
}

/// A breaking-point phase.
pub(crate) struct BreakingPoint {
    arrivals: OpenArrivals,
    start: Micros,
    step_len: Micros,
    rates: Vec<f64>,
    until: Vec<StepRule>,
    current: StepStats,
    steps: Vec<StepRecord>,
    /// A step failed: no more arrivals.
    broken: bool,
}

impl BreakingPoint {
    pub(crate) fn new(
        sessions: Vec<usize>,
        start: Micros,
        rates: Vec<f64>,
        step: Duration,
        until: Vec<StepRule>,
        poisson: bool,
        max_in_flight: u64,
    ) -> Self {
        let step_len = step.as_micros() as Micros;
        let stages =
            rates.iter().enumerate().map(|(k, r)| (k as Micros * step_len, step_len, r / 1e6, r / 1e6)).collect();
        Self {
            arrivals: OpenArrivals::new(sessions, start, RateSchedule { stages }, poisson, max_in_flight),
            start,
            step_len,
            rates,
            until,
            current: StepStats::default(),
            steps: Vec::new(),
            broken: false,
        }
    }

    /// What a rule measures on a step; `None` when the step gave it no data.
    fn measure(rule: &StepRule, s: &StepStats) -> Option<f64> {
        let answered = s.replied + s.failed + s.lost;
        match rule.metric {
            Metric::MessageSuccess => (answered > 0).then(|| s.replied as f64 / answered as f64),
            Metric::MessagesFailed => Some(s.failed as f64),
            Metric::MessagesLost => Some(s.lost as f64),
            _ => match &s.latency {
                Some(h) => histogram_statistic(h, rule.aggregate),
                None => (rule.aggregate == Aggregate::Count).then_some(0.0),
            },
        }
    }

    /// Judges step `k` on the answers that came in during it, and starts the next.
    fn judge(&mut self, k: usize) {
        let stats = std::mem::take(&mut self.current);
        // A step whose rules have no data (no successful answer at all) did not hold: the
        // system answered nothing useful at that rate.
        let broke_on = self.until.iter().find_map(|rule| match Self::measure(rule, &stats) {
            Some(m) if rule.cmp.holds(m, rule.limit) => None,
            Some(m) => Some(format!(
                "{} {}: measured {}",
                rule.key,
                rule.rule,
                crate::report::format_value(rule.metric, Some(rule.aggregate), m)
            )),
            None => Some(format!("{} {}: no data in the step", rule.key, rule.rule)),
        });
        let answered = stats.replied + stats.failed + stats.lost;
        let h = stats.latency.as_ref().filter(|h| !h.is_empty());
        self.steps.push(StepRecord {
            rate: self.rates.get(k).copied().unwrap_or_default(),
            started: (k as Micros * self.step_len) as f64 / 1e6,
            replied: stats.replied,
            failed: stats.failed,
            lost: stats.lost,
            p50_us: h.map(|h| h.value_at_quantile(0.5)),
            p99_us: h.map(|h| h.value_at_quantile(0.99)),
            success: (answered > 0).then(|| stats.replied as f64 / answered as f64),
            held: broke_on.is_none(),
            broke_on: broke_on.clone(),
        });
        if let Some(why) = broke_on {
            tracing::info!(target: "herd::runtime", "breaking point: the step at {}/s failed {why}", self.rates[k]);
            self.broken = true;
        }
    }
}

impl Executor for BreakingPoint {
    fn start(&mut self, now: Micros, rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        for k in 0..self.rates.len() {
            cx.wakes.push((self.start + (k as Micros + 1) * self.step_len, STEP_END | k as u64));
        }
        self.arrivals.start(now, rng, cx);
    }

    fn wake(&mut self, now: Micros, token: u64, rng: &mut ChaCha8Rng, cx: &mut ExecCx) {
        if token & STEP_END != 0 {
            if !self.broken {
                self.judge((token & !STEP_END) as usize);
            }
            return;
        }
        if !self.broken {
            self.arrivals.wake(now, token, rng, cx);
        }
    }

    fn answered(&mut self, latency: Option<Micros>, success: bool) {
        match latency {
            Some(l) if success => {
                self.current.replied += 1;
                let _ = self.current.latency.get_or_insert_with(new_histogram).record(l);
            }
            Some(_) => self.current.failed += 1,
            None => self.current.lost += 1,
        }
    }

    fn finished_sending(&self) -> bool {
        // Done when a step broke, or when every step was sent and judged.
        self.broken || (self.arrivals.finished_sending() && self.steps.len() == self.rates.len())
    }

    fn planned_rate(&self, now: Micros) -> Option<f64> {
        if self.broken { None } else { self.arrivals.planned_rate(now) }
    }

    fn max_in_flight(&self) -> u64 {
        self.arrivals.max_in_flight()
    }

    /// The steps are judged at their ends, and the runtime takes every answer before that.
    fn waits_for_answers(&self) -> bool {
        false
    }

    fn steps(&self) -> Vec<StepRecord> {
        self.steps.clone()
    }
}
