//! `constant-arrival-rate`: a fixed rate for a fixed time (open model).

use std::time::Duration;

use super::rate_schedule::{OpenArrivals, RateSchedule};
use crate::targets::Micros;

/// `rate` arrivals per second for `duration`.
pub(crate) fn constant_arrival_rate(
    sessions: Vec<usize>,
    start: Micros,
    rate: f64,
    duration: Duration,
    poisson: bool,
    max_in_flight: u64,
) -> OpenArrivals {
    let r = rate / 1e6;
    let schedule = RateSchedule { stages: vec![(0, duration.as_micros() as Micros, r, r)] };
    OpenArrivals::new(sessions, start, schedule, poisson, max_in_flight)
}
