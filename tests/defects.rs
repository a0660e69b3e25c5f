//! The engine's detectors against a model that really loses and really duplicates: each defect
//! switch is run next to the same scenario without it.

mod common;

use std::path::Path;

fn run(file: &str) -> herd::report::RunSummary {
    let summary = common::run_plan(&common::plan(Path::new(file)));
    common::assert_accounting(&summary);
    summary
}

#[test]
fn deleting_before_processing_loses_the_messages_of_killed_containers() {
    let lossy = run("tests/defects/lossy-delete-before-processing.toml");
    let kills = lossy.faults.iter().filter(|f| !f.containers.is_empty()).count();
    assert_eq!(kills, 3, "every kill struck a container: {:?}", lossy.faults);
    assert!(lossy.accounting.lost > 0, "the lossy model lost nothing: {:?}", lossy.accounting);
    assert!(lossy.accounting.lost <= 3, "at most one message per kill can be lost: {:?}", lossy.accounting);
    assert_eq!(lossy.accounting.out_of_order, 0, "a lost message does not reorder the ones after it");
}

#[test]
fn without_the_defect_a_killed_message_is_delivered_again() {
    let healthy = run("tests/defects/redelivered-after-kill.toml");
    assert!(healthy.faults.iter().all(|f| !f.containers.is_empty()), "every kill struck: {:?}", healthy.faults);
    assert_eq!(healthy.accounting.lost, 0, "{:?}", healthy.accounting);
    assert_eq!(healthy.accounting.sent, healthy.accounting.replied);
}

#[test]
fn a_success_after_a_preempted_failure_is_counted_as_a_contradiction() {
    let dup = run("tests/defects/double-reply-on-interrupt.toml");
    assert!(dup.accounting.interrupts > 0, "no interrupt landed: {:?}", dup.faults);
    // The second answer (success) contradicts the first (PREEMPTED failure): not a duplicate.
    assert_eq!(dup.accounting.contradictory, dup.accounting.interrupts, "{:?}", dup.accounting);
    assert_eq!(dup.accounting.duplicated, 0, "{:?}", dup.accounting);
    assert!(dup.accounting.interrupts_sent >= dup.accounting.interrupts, "{:?}", dup.accounting);
    // The duplicate does not change the first verdict on the message: it stays failed.
    assert_eq!(dup.accounting.failed, dup.accounting.interrupts);
}

#[test]
fn single_replies_to_interrupted_messages_are_not_duplicates() {
    let single = run("tests/defects/single-reply-on-interrupt.toml");
    assert!(single.accounting.interrupts > 0);
    assert_eq!(single.accounting.duplicated, 0, "{:?}", single.accounting);
    assert_eq!(single.accounting.contradictory, 0, "{:?}", single.accounting);
}
