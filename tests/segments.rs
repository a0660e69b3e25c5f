//! Execution segments (`--segment i/n`): the slices of a plan together are the plan, each
//! project+user pair in one slice only.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use herd::plan::{Plan, Segment, apply_segment, load_and_compile};
use herd::runtime::{NoObserver, RunOptions, run};
use herd::targets::{Micros, Observation, Outbound, Target, TargetIo};
use proptest::prelude::*;

/// A target that records every message it is handed and answers each a fixed time later, so
/// that what a run sends depends on the plan alone.
struct Recording {
    latency: Micros,
    /// (phase, session, iteration, time it was handed over).
    sent: Vec<(usize, usize, u64, Micros)>,
}

impl Target for Recording {
    fn send(&mut self, now: Micros, msg: &Outbound, io: &mut TargetIo) {
        self.sent.push((msg.phase, msg.session, msg.iteration, now));
        io.timer(now + self.latency, msg.id);
    }

    fn on_timer(&mut self, _now: Micros, token: u64, io: &mut TargetIo) {
        io.observe(Observation::Reply { id: token, success: true, interrupted: false });
    }

    fn sample(&mut self, _now: Micros, _io: &mut TargetIo) {}
}

fn compile(text: &str) -> Plan {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("segments.toml");
    std::fs::write(&path, text).unwrap();
    load_and_compile(&path).unwrap_or_else(|d| panic!("{}\n{text}", d.render()))
}

/// Every message a run of `plan` sends, in order.
fn sends(plan: &Plan) -> Vec<(usize, usize, u64, Micros)> {
    let mut target = Recording { latency: 20_000, sent: Vec::new() };
    let _ = run(plan, &mut target, &RunOptions::default(), &mut NoObserver);
    target.sent
}

/// Slice `index/count` of `plan` as a real target runs it: sending only its own share (the
/// scenarios here are simulated, whose slices would otherwise run the whole model).
fn segmented(plan: &Plan, index: u32, count: u32) -> Option<Plan> {
    let mut p = plan.clone();
    apply_segment(&mut p, Segment { index, count }).ok()?;
    if let Some(seg) = p.segment.as_mut() {
        seg.whole_model = false;
    }
    Some(p)
}

/// Slice `index/count` of `plan` as herd runs it on the simulated target: the whole model,
/// recording only its own share.
fn simulated_slice(plan: &Plan, index: u32, count: u32) -> Option<Plan> {
    let mut p = plan.clone();
    apply_segment(&mut p, Segment { index, count }).ok()?;
    assert!(p.segment.as_ref().unwrap().whole_model, "a simulated slice runs the whole model");
    Some(p)
}

fn scenario_file(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name)
}

#[test]
fn merged_slices_of_a_simulated_run_equal_the_whole_run_exactly() {
    let mut merges = Vec::new();
    for name in ["load-100-sessions.toml", "burst-100.toml", "interrupts-10-per-hour.toml", "session-switching.toml"] {
        let plan = common::plan(&scenario_file(name));
        let whole = common::run_plan(&plan);
        for n in [2, 3, 5] {
            let runs: Vec<(String, herd::report::RunSummary)> = (1..=n)
                .filter_map(|i| simulated_slice(&plan, i, n).map(|p| (format!("{i}/{n}"), common::run_plan(&p))))
                .collect();
            if runs.len() < 2 {
                continue;
            }
            // Slices that would hold no pair are refused, so the merged runs hold every pair
            // only when every slice ran.
            if runs.len() < n as usize {
                continue;
            }
            let merged = herd::report::merge_summaries(&runs, "herd merge").unwrap();
            let at = format!("{name} in {n} slices");
            merges.push(at.clone());
            assert_eq!(merged.accounting, whole.accounting, "{at}");
            assert_eq!(merged.unrecovered_kills, whole.unrecovered_kills, "{at}");
            // The system's cost is counted once (slice 1 runs and bills the whole model).
            assert_eq!(merged.cost, whole.cost, "{at}");
            // Every series, its count and its histogram, exactly.
            let series = |s: &herd::report::RunSummary| {
                s.metrics
                    .iter()
                    .map(|m| {
                        (
                            (m.name.clone(), m.tag_key.clone(), m.tag_value.clone()),
                            (m.count, m.histogram.clone(), m.rate),
                        )
                    })
                    .collect::<BTreeMap<_, _>>()
            };
            let (got, want) = (series(&merged), series(&whole));
            assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{at}");
            for (k, w) in &want {
                let g = &got[k];
                assert_eq!(g.0, w.0, "{at}: count of {k:?}");
                assert_eq!(g.2, w.2, "{at}: rate of {k:?}");
                let decode = |h: &Option<String>| h.as_deref().and_then(herd::metrics::decode_histogram);
                assert_eq!(decode(&g.1), decode(&w.1), "{at}: histogram of {k:?}");
            }
            for (m, w) in merged.thresholds.iter().zip(&whole.thresholds) {
                assert_eq!((m.passed, m.measured), (w.passed, w.measured), "{at}: {} {}", w.key, w.rule);
            }
            assert_eq!(merged.verdict, whole.verdict, "{at}");
            let phases = |s: &herd::report::RunSummary| {
                s.phases.iter().map(|p| (p.name.clone(), p.sent, p.replied, p.failed, p.lost)).collect::<Vec<_>>()
            };
            assert_eq!(phases(&merged), phases(&whole), "{at}");
            assert_eq!(
                merged.faults.iter().map(|f| f.at).collect::<Vec<_>>(),
                whole.faults.iter().map(|f| f.at).collect::<Vec<_>>(),
                "{at}"
            );
        }
    }
}

/// One phase of a generated scenario: its TOML and whether its sends' times are exact in a
/// slice (a round-robin loop over every session is not: a slice loops over its own).
fn phase() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        (1u32..40, 1u32..6, any::<bool>()).prop_map(|(rate, secs, poisson)| (
            format!(
                "executor = \"constant-arrival-rate\"\nrate = \"{rate}/s\"\nduration = \"{secs}s\"\narrivals = \"{}\"\n",
                if poisson { "poisson" } else { "uniform" }
            ),
            true
        )),
        (1u32..30, 1u32..4).prop_map(|(rate, secs)| (
            format!(
                "executor = \"ramping-arrival-rate\"\nstart_rate = \"0/s\"\nstages = [{{ target = \"{rate}/s\", duration = \"{secs}s\" }}, {{ target = \"1/s\", duration = \"{secs}s\" }}]\n"
            ),
            true
        )),
        (1u32..30).prop_map(|count| (format!("executor = \"burst\"\ncount = {count}\n"), true)),
        (1u32..4, 2u32..8).prop_map(|(interval, secs)| (
            format!("executor = \"soak\"\ninterval = \"{interval}s\"\nduration = \"{secs}s\"\n"),
            true
        )),
        (1u32..4, prop_oneof![Just("concurrent"), Just("per-user-round-robin"), Just("round-robin")]).prop_map(
            |(iterations, order)| (
                format!(
                    "executor = \"per-session-iterations\"\niterations = {iterations}\norder = \"{order}\"\nthink_time = \"fixed(300ms)\"\n"
                ),
                order != "round-robin"
            )
        ),
    ]
}

/// A scenario: groups of sessions over a few project+user pairs, and phases at fixed starts.
fn scenario() -> impl Strategy<Value = (String, bool)> {
    let groups = prop::collection::vec((1u32..12, 1u32..6), 1..4);
    let phases = prop::collection::vec((phase(), 0u32..5), 1..4);
    (groups, phases).prop_map(|(groups, phases)| {
        let mut text = String::from(
            "name = \"segments\"\nmax_duration = \"5m\"\nreply_timeout = \"10s\"\n[target]\nkind = \"sim\"\n",
        );
        for (g, (count, pairs)) in groups.iter().enumerate() {
            text.push_str(&format!(
                "[[sessions]]\nname = \"g{g}\"\ncount = {count}\nproject = \"p{g}-{{{{ i % {pairs} }}}}\"\nthread = \"t{g}-{{{{ i }}}}\"\n"
            ));
        }
        let mut exact = true;
        for (p, ((body, times_exact), start)) in phases.iter().enumerate() {
            text.push_str(&format!("[[phases]]\nname = \"ph{p}\"\nstart = \"{start}s\"\n{body}"));
            exact &= times_exact;
        }
        (text, exact)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_slices_together_are_the_plan((text, times_exact) in scenario(), n in 1u32..17) {
        let plan = compile(&text);
        let full = sends(&plan);
        let mut union: Vec<(usize, usize, u64, Micros)> = Vec::new();
        let mut slice_of_pair: BTreeMap<String, u32> = BTreeMap::new();
        for i in 1..=n {
            // A slice that would hold no pair is refused: fewer pairs than slices.
            let Some(p) = segmented(&plan, i, n) else { continue };
            let seg = p.segment.as_ref().unwrap();
            for (s, session) in plan.sessions.iter().enumerate() {
                if seg.owns(s) {
                    let before = slice_of_pair.insert(session.pair_key(), i);
                    prop_assert!(before.is_none_or(|b| b == i), "pair {} in slices {before:?} and {i}", session.pair_key());
                }
            }
            for sent in sends(&p) {
                prop_assert!(seg.owns(sent.1), "slice {i}/{n} sent for session {} of another slice", sent.1);
                union.push(sent);
            }
        }
        // Every pair is in a slice.
        let pairs: BTreeSet<String> = plan.sessions.iter().map(|s| s.pair_key()).collect();
        prop_assert_eq!(pairs.len(), slice_of_pair.len());
        // The same messages per (phase, session), none twice, none missing; and, where the
        // schedule alone sets them, at the same intended times. (A session's iteration counts
        // its messages over every phase, so where two phases overlap it follows their order,
        // which a closed loop over every session changes in a slice.)
        let key = |v: &[(usize, usize, u64, Micros)], with_time: bool| {
            let mut k: Vec<(usize, usize, Micros)> =
                v.iter().map(|&(p, s, _, t)| (p, s, if with_time { t } else { 0 })).collect();
            k.sort_unstable();
            k
        };
        prop_assert_eq!(key(&union, false), key(&full, false));
        if times_exact {
            prop_assert_eq!(key(&union, true), key(&full, true));
        }
        // Each session's iterations are 0, 1, 2, ... in every slice, as in the plan.
        let iterations = |v: &[(usize, usize, u64, Micros)]| {
            let mut k: Vec<(usize, u64)> = v.iter().map(|&(_, s, i, _)| (s, i)).collect();
            k.sort_unstable();
            k
        };
        prop_assert_eq!(iterations(&union), iterations(&full));
    }
}

#[test]
fn a_fault_is_carried_out_by_the_slice_that_holds_its_session_only() {
    let plan = common::plan(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/interrupts-10-per-hour.toml"));
    let n = 2;
    let mut carried = 0;
    let mut runs = Vec::new();
    for i in 1..=n {
        let Some(p) = segmented(&plan, i, n) else { continue };
        let s = common::run_plan(&p);
        runs.push((format!("slice {i}"), s.clone()));
        for (f, record) in s.faults.iter().enumerate() {
            if p.segment.as_ref().unwrap().carries_fault(f) {
                carried += 1;
            } else {
                assert!(record.at.is_none() && record.detail.contains("carried out by slice"), "{record:?}");
                assert!(record.allow_empty, "another slice's fault is no failure here");
            }
        }
    }
    assert_eq!(carried, plan.faults.len(), "each fault in exactly one slice");
    // Merged, each fault is listed once, as the slice that carried it out saw it.
    let merged = herd::report::merge_summaries(&runs, "herd merge").unwrap();
    assert_eq!(merged.faults.len(), plan.faults.len());
    for f in &merged.faults {
        assert!(f.at.is_some() && !f.detail.contains("carried out by slice"), "{f:?}");
    }
}

#[test]
fn a_slice_without_a_pair_is_refused_and_says_how_many_slices_fit() {
    let plan = common::plan(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/container-failure.toml"));
    let refused: Vec<String> =
        (1..=3).filter_map(|i| apply_segment(&mut plan.clone(), Segment { index: i, count: 3 }).err()).collect();
    assert_eq!(refused.len(), 2, "one pair fills one slice of three");
    assert!(refused[0].contains("no project+user pair") && refused[0].contains("at most 1 slice"), "{}", refused[0]);
}

#[test]
fn the_command_runs_a_slice_and_the_plan_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/load-100-sessions.toml");
    let herd = |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_herd")).args(args).output().unwrap();
    let plan = herd(&["plan", file.to_str().unwrap(), "--segment", "2/4"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains("segment 2/4:") && text.contains("project+user pairs"), "{text}");
    let bad = herd(&["plan", file.to_str().unwrap(), "--segment", "5/4"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`i/n`"));

    let out = dir.path().join("out");
    let mut sent = 0;
    for i in 1..=2 {
        let seg = format!("{i}/2");
        let o = herd(&["run", file.to_str().unwrap(), "--segment", &seg, "--out", out.to_str().unwrap(), "--quiet"]);
        assert!(o.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&o.stderr));
        let s =
            herd::report::read_summary(&out.join(format!("load-100-sessions/segment-{i}-of-2/summary.json"))).unwrap();
        assert_eq!(s.run.segment.as_deref(), Some(seg.as_str()));
        assert!(s.run.command_line.contains(&format!("--segment {seg}")), "{}", s.run.command_line);
        sent += s.accounting.sent;
    }
    let whole = common::run_plan(&common::plan(&file));
    assert_eq!(sent, whole.accounting.sent, "the two slices send the plan's messages");
    // `herd merge` finds both slices under the scenario's folder.
    let merged = dir.path().join("merged");
    let o = herd(&["merge", out.join("load-100-sessions").to_str().unwrap(), "--out", merged.to_str().unwrap()]);
    let m = herd::report::read_summary(&merged.join("load-100-sessions/summary.json"))
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(m.accounting.sent, whole.accounting.sent);
    assert_eq!(m.slices.iter().filter_map(|s| s.segment.clone()).collect::<Vec<_>>(), ["1/2", "2/2"]);
}
