//! The cost estimate: a run whose usage can be reckoned by hand costs what the reckoning says,
//! prices and the container's size come from `[cost]`, and reports show it.

mod common;

use std::path::Path;

use herd::cost::{Basis, CostEstimate, PriceTable};

fn run(dir: &Path, toml: &str) -> herd::report::RunSummary {
    let file = dir.join("s.toml");
    std::fs::write(&file, toml).unwrap();
    common::run_plan(&common::plan(&file))
}

fn line(c: &CostEstimate, by: &str, item: &str) -> f64 {
    c.lines.iter().filter(|l| l.by == by && l.item == item).map(|l| l.quantity).sum()
}

/// One warm container, one session, ten messages of exactly one second, one after another:
/// ten seconds of work, and every call the model makes can be counted on fingers.
const KNOWN: &str = r#"
name = "known-cost"
[target]
kind = "sim"
containers = { max = 1, warm = 1 }
processing = "fixed(1s)"
switch_cost = "fixed(0s)"
preview_load = "fixed(0s)"
[[sessions]]
count = 1
[[phases]]
executor = "burst"
count = 10
"#;

#[test]
fn a_run_reckoned_by_hand_costs_what_the_reckoning_says() {
    let dir = tempfile::tempdir().unwrap();
    let s = run(dir.path(), KNOWN);
    assert_eq!(s.accounting.sent, 10);
    assert_eq!(s.duration_seconds, 10.0);
    let c = s.cost.as_ref().expect("the sim counts its usage");
    let p = PriceTable::default();
    // herd: the ten messages are due at once for one queue, so one SendMessageBatch, and a
    // ReceiveMessage per 10 replies.
    assert_eq!(line(c, "herd", "SQS requests"), 2.0);
    // The container: a receive and a delete per message, a reply each, and its one claim (the
    // CLAIM_REQUEST and its receipt); no idle long poll in ten busy seconds.
    assert_eq!(line(c, "system", "SQS requests"), 32.0);
    // One container for ten seconds is billed its one-minute minimum: 1 vCPU and 2 GB.
    assert_eq!(line(c, "system", "Fargate vCPU-hours"), 60.0 / 3600.0);
    assert_eq!(line(c, "system", "Fargate GB-hours"), 120.0 / 3600.0);
    assert_eq!(line(c, "system", "DynamoDB write units"), 1.0);
    assert_eq!(line(c, "system", "DynamoDB read units"), 10.0);
    let by_hand = 34.0 * p.sqs_per_million_requests / 1e6
        + 60.0 / 3600.0 * p.fargate_per_vcpu_hour
        + 120.0 / 3600.0 * p.fargate_per_gb_hour
        + p.dynamodb_per_million_write_units / 1e6
        + 10.0 * p.dynamodb_per_million_read_units / 1e6;
    assert!((c.total - by_hand).abs() < 1e-12, "{} != {by_hand}", c.total);
    assert!((c.per_1000_messages.unwrap() - by_hand / 10.0 * 1000.0).abs() < 1e-12);
    assert!(c.lines.iter().all(|l| l.basis == Basis::Modelled), "the sim's figures are all modelled");
    assert_eq!(c.prices_as_of, p.as_of);
}

#[test]
fn the_scenario_sets_prices_and_the_containers_size_and_idle_containers_poll() {
    let dir = tempfile::tempdir().unwrap();
    // Two messages a minute apart (at 30 s and 90 s): the container idles 89 of its 91 seconds
    // (four long polls of 20 s), billed by the second past its first minute.
    let toml = KNOWN.replace(
        "executor = \"burst\"\ncount = 10",
        "executor = \"constant-arrival-rate\"\nrate = \"1/m\"\nduration = \"2m\"",
    ) + "\n[cost]\ntask_vcpu = 0.5\ntask_memory = \"1GiB\"\nprices = { sqs_per_million_requests = 1.0, fargate_per_vcpu_hour = 0.1, as_of = \"2026-11\" }\n";
    let s = run(dir.path(), &toml);
    assert_eq!(s.accounting.sent, 2);
    assert_eq!(s.duration_seconds, 91.0);
    let c = s.cost.as_ref().unwrap();
    assert_eq!(line(c, "system", "SQS requests"), 2.0 * 2.0 + 2.0 + 2.0 + 4.0);
    assert_eq!(line(c, "system", "Fargate vCPU-hours"), 91.0 * 0.5 / 3600.0);
    assert_eq!(line(c, "system", "Fargate GB-hours"), 91.0 * 1.0 / 3600.0);
    let p = PriceTable::default();
    let by_hand = (3.0 + 12.0) * 1.0 / 1e6
        + 91.0 * 0.5 / 3600.0 * 0.1
        + 91.0 / 3600.0 * p.fargate_per_gb_hour
        + p.dynamodb_per_million_write_units / 1e6
        + 2.0 * p.dynamodb_per_million_read_units / 1e6;
    assert!((c.total - by_hand).abs() < 1e-12, "{} != {by_hand}", c.total);
    assert_eq!(c.prices_as_of, "2026-11");
    assert!(c.prices_source.contains("[cost.prices]"), "{}", c.prices_source);
    // A workflow of 4 transitions a message, modelled: 8 transitions at $0.025 per 1,000.
    let with_sfn = run(dir.path(), &(toml.clone() + "step_functions_transitions_per_message = 4\n"));
    let c2 = with_sfn.cost.as_ref().unwrap();
    assert_eq!(line(c2, "system", "Step Functions transitions"), 8.0);
    assert!((c2.total - c.total - 8.0 * p.step_functions_per_thousand_transitions / 1e3).abs() < 1e-12);
}

#[test]
fn every_report_shows_the_cost_and_what_is_modelled() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), KNOWN).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(["run", "s.toml", "--out", "out", "--quiet"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(dir.path().join("out/known-cost/report.md")).unwrap();
    assert!(md.contains("### Cost") && md.contains("per 1,000 messages") && md.contains("| modelled |"), "{md}");
    let html = std::fs::read_to_string(dir.path().join("out/known-cost/report.html")).unwrap();
    assert!(html.contains("id=\"cost\"") && html.contains("us-east-1 list prices"), "cost section missing");
}
