//! `ramping-arrival-rate`: a rate that changes linearly from stage to stage (open model).

use std::time::Duration;

use super::rate_schedule::{OpenArrivals, RateSchedule};
use crate::targets::Micros;

/// From `start_rate` per second, through each stage's (target rate, length).
pub(crate) fn ramping_arrival_rate(
    sessions: Vec<usize>,
    start: Micros,
    start_rate: f64,
    stages: &[(f64, Duration)],
    poisson: bool,
    max_in_flight: u64,
) -> OpenArrivals {
    let mut at = 0;
    let mut from = start_rate / 1e6;
    let mut out = Vec::new();
    for (target, d) in stages {
        let to = target / 1e6;
        let len = d.as_micros() as Micros;
        out.push((at, len, from, to));
        at += len;
        from = to;
    }
    OpenArrivals::new(sessions, start, RateSchedule { stages: out }, poisson, max_in_flight)
}
