//! `herd merge`: summaries of runs side by side become one, exactly where a summary allows it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hdrhistogram::Histogram;
use herd::metrics::decode_histogram;
use herd::report::{RunSummary, Verdict, merge_summaries, read_summary, write_summary};

fn scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/think-time.toml")
}

/// The think-time example run on the virtual clock with `seed`.
fn run_seed(seed: u64) -> RunSummary {
    let mut plan = common::plan(&scenario());
    plan.seed = seed;
    common::run_plan(&plan)
}

fn histogram(s: &RunSummary, name: &str) -> Histogram<u64> {
    let m = s.metrics.iter().find(|m| m.name == name && m.tag_key.is_none()).expect("the metric is in the summary");
    decode_histogram(m.histogram.as_deref().expect("a distribution keeps its histogram")).expect("a readable histogram")
}

fn herd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herd")).args(args).output().expect("herd runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn counts_and_histograms_add_up_exactly() {
    let (a, b, c) = (run_seed(1), run_seed(2), run_seed(3));
    let runs = vec![("a".to_owned(), a.clone()), ("b".to_owned(), b.clone()), ("c".to_owned(), c.clone())];
    let merged = merge_summaries(&runs, "herd merge a b c").unwrap();

    let sum = |f: fn(&RunSummary) -> u64| f(&a) + f(&b) + f(&c);
    assert_eq!(merged.accounting.sent, sum(|s| s.accounting.sent));
    assert_eq!(merged.accounting.replied, sum(|s| s.accounting.replied));
    assert_eq!(merged.accounting.dropped_arrivals, sum(|s| s.accounting.dropped_arrivals));
    assert_eq!(merged.accounting.claims_sent, sum(|s| s.accounting.claims_sent));

    // The merged distribution is the distribution of every value, not a mix of percentiles.
    let mut all = histogram(&a, "message_latency");
    all.add(histogram(&b, "message_latency")).unwrap();
    all.add(histogram(&c, "message_latency")).unwrap();
    let got = histogram(&merged, "message_latency");
    assert_eq!(got, all);
    let latency = merged.metrics.iter().find(|m| m.name == "message_latency" && m.tag_key.is_none()).unwrap();
    assert_eq!(latency.count, all.len());
    assert_eq!(latency.p99, Some(all.value_at_quantile(0.99) as f64));
    assert_eq!(latency.max, Some(all.max() as f64));

    // Tagged series and rates merge too.
    for (name, key) in [("message_latency", Some("group")), ("message_success", None)] {
        let count = |s: &RunSummary| {
            s.metrics.iter().filter(|m| m.name == name && m.tag_key.as_deref() == key).map(|m| m.count).sum::<u64>()
        };
        assert_eq!(count(&merged), count(&a) + count(&b) + count(&c), "{name} {key:?}");
    }

    // Phases add up by name; the timeline carries every message once.
    for p in &merged.phases {
        let part = |s: &RunSummary| s.phases.iter().find(|x| x.name == p.name).map_or(0, |x| x.sent);
        assert_eq!(p.sent, part(&a) + part(&b) + part(&c), "phase {}", p.name);
    }
    assert_eq!(merged.timeline.iter().map(|t| t.sent).sum::<u64>(), merged.accounting.sent);
    assert_eq!(merged.slices.len(), 3);
    assert_eq!(merged.slices[1].source, "b");
    assert_eq!(merged.slices[1].sent, b.accounting.sent);
}

#[test]
fn thresholds_are_judged_again_on_the_merged_data() {
    let (a, b) = (run_seed(1), run_seed(2));
    let rule = |s: &RunSummary| {
        s.thresholds.iter().find(|t| t.key == r#"dropped_arrivals{phase="editing"}"#).cloned().expect("the rule")
    };
    let merged = merge_summaries(&[("a".into(), a.clone()), ("b".into(), b.clone())], "herd merge").unwrap();
    let m = rule(&merged);
    // The count over both runs, not either run's.
    assert_eq!(m.measured, Some((rule(&a).measured.unwrap() + rule(&b).measured.unwrap()).round()));
    assert_eq!(m.passed, m.measured.unwrap() < 200.0);
    // A latency percentile is judged on the merged histogram.
    let p99 = merged.thresholds.iter().find(|t| t.key == r#"message_latency{group="editors"}"#).unwrap();
    let editors = merged
        .metrics
        .iter()
        .find(|x| x.name == "message_latency" && x.tag_value.as_deref() == Some("editors"))
        .unwrap();
    assert_eq!(p99.measured, editors.p99);
    assert_eq!(
        merged.verdict == Verdict::Passed,
        merged.thresholds.iter().all(|t| t.passed) && merged.failures.is_empty()
    );
}

#[test]
fn real_clock_runs_are_lined_up_on_their_start_times() {
    let mut a = run_seed(1);
    let mut b = run_seed(1);
    a.clock = herd::runtime::ClockKind::Real;
    b.clock = herd::runtime::ClockKind::Real;
    a.run.started_at = "2026-11-29T10:00:00.000Z".into();
    b.run.started_at = "2026-11-29T10:00:05.000Z".into();
    let merged = merge_summaries(&[("a".into(), a.clone()), ("b".into(), b.clone())], "herd merge").unwrap();
    assert_eq!(merged.run.started_at, "2026-11-29T10:00:00.000Z");
    assert_eq!(merged.slices[1].start_skew_seconds, 5.0);
    assert_eq!(merged.duration_seconds, b.duration_seconds + 5.0);
    // b's first point lands five seconds later than a's.
    let width = a.timeline[1].t - a.timeline[0].t;
    let first_b = b.timeline[0].t + 5.0;
    let slot = merged.timeline.iter().find(|p| (p.t - (first_b / width).ceil() * width).abs() < 1e-9).unwrap();
    assert!(slot.sent >= b.timeline[0].sent);
    assert_eq!(merged.timeline.iter().map(|p| p.sent).sum::<u64>(), a.accounting.sent + b.accounting.sent);
    // A phase started when its first run started it.
    let start = |s: &RunSummary| s.phases[0].started.unwrap();
    assert_eq!(merged.phases[0].started, Some(start(&a)));
    assert_eq!(merged.phases[0].finished, b.phases[0].finished.map(|f| f + 5.0));
}

#[test]
fn runs_of_other_scenarios_or_clocks_are_refused_by_name() {
    let a = run_seed(1);
    let mut other = run_seed(1);
    other.scenario.name = "another".into();
    let e = merge_summaries(&[("a.json".into(), a.clone()), ("b.json".into(), other)], "").unwrap_err().to_string();
    assert!(e.contains("b.json") && e.contains("`another`") && e.contains("a.json"), "{e}");
    let mut real = run_seed(1);
    real.clock = herd::runtime::ClockKind::Real;
    let e = merge_summaries(&[("a.json".into(), a.clone()), ("c.json".into(), real)], "").unwrap_err().to_string();
    assert!(e.contains("c.json") && e.contains("clock"), "{e}");
    let mut bad_time = run_seed(1);
    bad_time.run.started_at = "yesterday".into();
    let e = merge_summaries(&[("a.json".into(), a), ("d.json".into(), bad_time)], "").unwrap_err().to_string();
    assert!(e.contains("d.json") && e.contains("yesterday") && e.contains("RFC 3339"), "{e}");
    assert!(merge_summaries(&[], "").is_err());
}

#[test]
fn the_command_merges_folders_once_and_writes_every_report() {
    let dir = tempfile::tempdir().unwrap();
    for (seed, name) in [(1, "w1"), (2, "w2")] {
        write_summary(&dir.path().join("runs").join(name), &run_seed(seed)).unwrap();
    }
    let runs = dir.path().join("runs");
    let out = dir.path().join("runs").join("merged");
    // The folder and one of its files: the file is read once.
    let w1 = runs.join("w1/summary.json");
    let o = herd(&["merge", runs.to_str().unwrap(), w1.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let merged = read_summary(&out.join("think-time/summary.json")).unwrap();
    assert_eq!(merged.slices.len(), 2, "{}", text(&o.stderr));
    assert_eq!(o.status.code(), Some(merged.verdict.exit_code()));
    for f in ["report.html", "report.md", "junit.xml"] {
        assert!(out.join("think-time").join(f).is_file(), "{f}");
    }
    let md = std::fs::read_to_string(out.join("think-time/report.md")).unwrap();
    assert!(md.contains("### Slices") && md.contains("w2/summary.json"), "{md}");
    let html = std::fs::read_to_string(out.join("think-time/report.html")).unwrap();
    assert!(html.contains(r#"<section id="slices">"#));
    // Merging again does not read the merged summary under --out.
    let o = herd(&["merge", runs.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(read_summary(&out.join("think-time/summary.json")).unwrap().slices.len(), 2, "{}", text(&o.stderr));
}

#[test]
fn bad_inputs_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let missing = dir.path().join("nope.json");
    let o = herd(&["merge", missing.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("nope.json"), "{}", text(&o.stderr));

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = herd(&["merge", empty.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no summary.json"), "{}", text(&o.stderr));

    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{ not json").unwrap();
    let o = herd(&["merge", broken.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("broken.json"), "{}", text(&o.stderr));

    // A distribution without its histogram cannot be added exactly: refused, not guessed.
    let mut s = run_seed(1);
    for m in &mut s.metrics {
        m.histogram = None;
    }
    write_summary(&dir.path().join("nohist"), &s).unwrap();
    let good = dir.path().join("good");
    write_summary(&good, &run_seed(2)).unwrap();
    let o = herd(&[
        "merge",
        good.join("summary.json").to_str().unwrap(),
        dir.path().join("nohist/summary.json").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("nohist") && err.contains("histogram"), "{err}");
    assert!(!out.exists(), "nothing is written when the merge is refused");
}

#[test]
fn slices_of_a_segmented_run_merge_only_as_a_whole() {
    let slice = |label: &str| {
        let mut s = run_seed(1);
        s.run.segment = Some(label.to_owned());
        s
    };
    let err = |runs: Vec<(String, RunSummary)>| merge_summaries(&runs, "").unwrap_err().to_string();
    // A missing slice.
    let e = err(vec![("a".into(), slice("1/3")), ("b".into(), slice("3/3"))]);
    assert!(e.contains("2/3") && e.contains("missing"), "{e}");
    // The same slice twice.
    let e = err(vec![("a".into(), slice("1/2")), ("b".into(), slice("1/2"))]);
    assert!(e.starts_with("b:") && e.contains("second time"), "{e}");
    // Slices of two different cuts.
    let e = err(vec![("a".into(), slice("1/2")), ("b".into(), slice("2/3"))]);
    assert!(e.starts_with("b:") && e.contains("cut in 2"), "{e}");
    // A whole run among slices.
    let e = err(vec![("a".into(), slice("1/2")), ("w".into(), run_seed(1))]);
    assert!(e.starts_with("w:") && e.contains("whole run"), "{e}");
    // Every slice once: merged, in any order.
    let m = merge_summaries(&[("b".into(), slice("2/2")), ("a".into(), slice("1/2"))], "").unwrap();
    assert_eq!(m.slices.len(), 2);
}
