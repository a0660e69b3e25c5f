//! Helpers shared by the integration tests.

#![allow(dead_code, reason = "each test target uses a different subset of the helpers")]

pub mod moto;

use std::path::Path;

use herd::plan::{Plan, load_and_compile};
use herd::report::{RunInfo, RunSummary, summarize};
use herd::runtime::{ClockKind, NoObserver, RunOptions, run};
use herd::targets::build_target;

/// Loads and compiles a scenario, panicking with the rendered diagnostics if it is invalid.
pub fn plan(path: &Path) -> Plan {
    load_and_compile(path).unwrap_or_else(|d| panic!("{}", d.render()))
}

/// Runs a plan on the virtual clock and summarises it.
pub fn run_plan(plan: &Plan) -> RunSummary {
    let mut target = build_target(plan).expect("the simulated target always builds");
    let result = run(plan, target.as_mut(), &RunOptions::default(), &mut NoObserver);
    let info = RunInfo {
        engine_version: "test".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        wall_seconds: 0.0,
        command_line: String::new(),
        host: None,
        segment: None,
    };
    summarize(plan, &result, ClockKind::Virtual, info)
}

/// The summary as JSON without the wall-clock facts, for determinism comparisons.
pub fn comparable(summary: &RunSummary) -> serde_json::Value {
    let mut v = serde_json::to_value(summary).expect("summaries serialise");
    v.as_object_mut().expect("a summary is an object").remove("run");
    v
}

/// Asserts that sent = replied + failed + lost, and that the counters agree with it.
pub fn assert_accounting(summary: &RunSummary) {
    let a = &summary.accounting;
    assert_eq!(
        a.sent,
        a.replied + a.failed + a.lost,
        "{}: sent {} != replied {} + failed {} + lost {} (send errors {} apart)",
        summary.scenario.name,
        a.sent,
        a.replied,
        a.failed,
        a.lost,
        a.send_errors
    );
    let counter =
        |name: &str| summary.metrics.iter().find(|m| m.name == name && m.tag_key.is_none()).map_or(0, |m| m.count);
    // Setup and teardown phases are counted in the accounting but not in the run's metrics.
    let unmeasured = |f: fn(&herd::runtime::PhaseRecord) -> u64| -> u64 {
        summary.phases.iter().filter(|p| p.unmeasured).map(f).sum()
    };
    assert_eq!(counter("messages_sent"), a.sent - unmeasured(|p| p.sent), "messages_sent counter");
    assert_eq!(counter("messages_replied"), a.replied - unmeasured(|p| p.replied), "messages_replied counter");
    assert_eq!(counter("messages_failed"), a.failed - unmeasured(|p| p.failed), "messages_failed counter");
    assert_eq!(counter("messages_lost"), a.lost - unmeasured(|p| p.lost), "messages_lost counter");
    let phase_sent: u64 = summary.phases.iter().map(|p| p.sent).sum();
    assert_eq!(phase_sent, a.sent, "phase totals add up to the run's");
}
