//! Reports: Markdown and JUnit snapshots, HTML in a real browser, byte-identical re-rendering,
//! template overrides, JUnit schema validation, and baseline comparison.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use herd::report::{Renderer, ReportData, RunSummary, junit, read_summary, write_summary};

const HOSTILE: &str = "tests/reports/hostile.toml";

fn herd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herd")).args(args).output().expect("herd runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn hostile_summary() -> RunSummary {
    common::run_plan(&common::plan(Path::new(HOSTILE)))
}

/// Runs the hostile scenario through the binary into `out`, returning its folder.
fn run_hostile(out: &Path) -> std::path::PathBuf {
    let o = herd(&["run", HOSTILE, "--out", out.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(1), "the scenario fails two thresholds on purpose: {}", text(&o.stderr));
    out.join("hostile-text")
}

#[test]
fn markdown_report_snapshot() {
    let md = Renderer::new(None).unwrap().markdown(&ReportData::from_summary(&hostile_summary())).unwrap();
    assert!(md.lines().count() < 200, "report.md has {} lines", md.lines().count());
    // Failures come first in the thresholds table.
    let first_row = md.lines().find(|l| l.starts_with("| pass") || l.starts_with("| **FAIL**")).unwrap();
    assert!(first_row.starts_with("| **FAIL**"), "{first_row}");
    insta::with_settings!({
        snapshot_path => "reports/snapshots",
        prepend_module_to_snapshot => false,
        filters => vec![
            (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "[started-at]"),
            (r"--out \S+", "--out [path]"),
        ],
    }, {
        insta::assert_snapshot!("report-md", md);
    });
}

#[test]
fn junit_snapshot_and_schema() {
    let summary = hostile_summary();
    let xml = junit(&[&ReportData::from_summary(&summary)]).unwrap();
    assert!(xml.contains(r#"<testsuite name="hostile-text" tests="5""#), "{xml}");
    assert!(xml.contains("measured 3.58s, required p(50) &lt; 1ms"), "{xml}");
    insta::with_settings!({
        snapshot_path => "reports/snapshots",
        prepend_module_to_snapshot => false,
        filters => vec![(r#"value="[^"]*\.toml""#, r#"value="[path]""#)],
    }, {
        insta::assert_snapshot!("junit-xml", xml);
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, &xml).unwrap();
    let o = Command::new("xmllint")
        .args(["--noout", "--schema", "tests/junit/junit.xsd"])
        .arg(&file)
        .output()
        .expect("xmllint is installed (Debian libxml2-utils; .ci/run installs it)");
    assert!(o.status.success(), "junit.xml does not validate:\n{}", text(&o.stderr));
}

#[test]
fn an_aborted_run_fails_its_run_testcase() {
    let summary = common::run_plan(&common::plan(Path::new("tests/engine/abort-on-fail.toml")));
    let xml = junit(&[&ReportData::from_summary(&summary)]).unwrap();
    assert!(xml.contains(r#"<testcase name="run completes""#));
    assert!(xml.contains("the run did not complete: aborted: container_memory: max &lt; 400MiB failed"), "{xml}");
    assert!(xml.contains(r#"<property name="end_reason" value="aborted: container_memory"#), "{xml}");
}

#[test]
fn the_html_report_renders_in_chromium_offline_without_running_report_text() {
    let out = tempfile::tempdir().unwrap();
    let dir = run_hostile(out.path());
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    // minijinja escapes `/` too, which browsers read back as text.
    assert!(html.contains("&lt;script&gt;window.__herd_injected = true&lt;&#x2f;script&gt;"), "escaped description");
    assert!(!html.contains("<script"), "the report has no script of its own, and report text is escaped");
    let shot = out.path().join("report.png");
    let o = Command::new("python3")
        .arg("tests/browser/check_report.py")
        .arg(dir.join("report.html"))
        .arg(&shot)
        .output()
        .expect("python3 runs");
    assert!(
        o.status.success(),
        "browser check failed (needs Debian chromium and pip playwright; .ci/run installs both):\n{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let found: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(found["failed_rows"], 2);
    assert!(found["charts"].as_u64().unwrap() >= 6, "{found}");
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 50_000, "a real screenshot");
}

#[test]
fn herd_report_reproduces_the_reports_byte_for_byte() {
    let out = tempfile::tempdir().unwrap();
    let dir = run_hostile(out.path());
    let again = tempfile::tempdir().unwrap();
    let o = herd(&["report", dir.join("summary.json").to_str().unwrap(), "--out", again.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    for name in ["report.html", "report.md", "junit.xml"] {
        let a = std::fs::read(dir.join(name)).unwrap();
        let b = std::fs::read(again.path().join("hostile-text").join(name)).unwrap();
        assert!(a == b, "{name} differs when rendered again from summary.json");
    }
}

#[test]
fn a_folder_run_writes_an_index_linking_every_report() {
    let out = tempfile::tempdir().unwrap();
    let o = herd(&["run", "tests/engine/arrivals-closed.toml", HOSTILE, "--out", out.path().to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(1));
    let index = std::fs::read_to_string(out.path().join("index.html")).unwrap();
    assert!(index.contains("1 of 2 scenarios passed"), "{index}");
    for name in ["arrivals-closed", "hostile-text"] {
        assert!(index.contains(&format!("href=\"{name}&#x2f;report.html\"")), "{index}");
        assert!(out.path().join(name).join("report.html").exists());
    }
    let md = std::fs::read_to_string(out.path().join("index.md")).unwrap();
    assert!(md.contains("[hostile-text](hostile-text/report.md) | **failed**"), "{md}");
    let all = std::fs::read_to_string(out.path().join("junit.xml")).unwrap();
    assert_eq!(all.matches("<testsuite ").count(), 2);
}

#[test]
fn templates_can_be_overridden_and_broken_ones_are_refused() {
    let out = tempfile::tempdir().unwrap();
    let dir = run_hostile(out.path());
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(templates.path().join("report.md"), "# Team report for {{ r.name }}: {{ r.verdict_label }}\n")
        .unwrap();
    let summary = dir.join("summary.json");
    let o = herd(&[
        "report",
        summary.to_str().unwrap(),
        "--format",
        "md",
        "--templates",
        templates.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(dir.join("report.md")).unwrap(), "# Team report for hostile-text: FAILED\n");
    std::fs::write(templates.path().join("report.md"), "{{ r.no_such_field }}\n").unwrap();
    let o = herd(&[
        "report",
        summary.to_str().unwrap(),
        "--format",
        "md",
        "--templates",
        templates.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "a template that fails while rendering is bad input");
    assert!(text(&o.stderr).contains("report.md"), "{}", text(&o.stderr));
    std::fs::write(templates.path().join("report.md"), "{% if %}\n").unwrap();
    let o = herd(&["report", summary.to_str().unwrap(), "--templates", templates.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "a template with a syntax error is refused before anything is written");
    assert!(text(&o.stderr).contains("report.md") && text(&o.stderr).contains("line 1"), "{}", text(&o.stderr));
}

#[test]
fn compare_passes_on_an_identical_run_and_catches_a_planted_regression() {
    let out = tempfile::tempdir().unwrap();
    let o = herd(&["run", "scenarios/load-100-sessions.toml", "--out", out.path().to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(0));
    let base = out.path().join("load-100-sessions/summary.json");
    let o = herd(&["compare", base.to_str().unwrap(), base.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("no regression"));

    // Plant a regression: p99 latency up by half, and a passing threshold now failing.
    let mut worse = read_summary(&base).unwrap();
    let lat = worse.metrics.iter_mut().find(|m| m.name == "message_latency" && m.tag_key.is_none()).unwrap();
    lat.p99 = lat.p99.map(|v| v * 1.5);
    let t = worse.thresholds.iter_mut().find(|t| t.rule == "p(99) < 15s").unwrap();
    t.passed = false;
    let worse_dir = out.path().join("worse");
    write_summary(&worse_dir, &worse).unwrap();
    let worse_path = worse_dir.join("summary.json");
    let o = herd(&["compare", base.to_str().unwrap(), worse_path.to_str().unwrap(), "--tolerance", "10%"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    let stdout = text(&o.stdout);
    assert!(stdout.contains("message_latency        p99") && stdout.contains("+50.0%  REGRESSED"), "{stdout}");
    assert!(stdout.contains("threshold message_latency p(99) < 15s: FAILS now"), "{stdout}");
    let md = std::fs::read_to_string(worse_dir.join("compare.md")).unwrap();
    assert!(md.contains("**Regressed**") && md.contains("**+50.0% regressed**"), "{md}");
    // A wider tolerance forgives the latency but not the threshold.
    let o = herd(&["compare", base.to_str().unwrap(), worse_path.to_str().unwrap(), "--tolerance", "60%"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!text(&o.stdout).contains("+50.0%  REGRESSED"), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("FAILS now"));
}

#[test]
fn run_with_a_baseline_puts_the_comparison_in_the_reports() {
    let out = tempfile::tempdir().unwrap();
    let first = herd(&["run", "scenarios/session-switching.toml", "--out", out.path().to_str().unwrap(), "-q"]);
    assert_eq!(first.status.code(), Some(0));
    let base = out.path().join("session-switching/summary.json");
    let next = tempfile::tempdir().unwrap();
    let o = herd(&[
        "run",
        "scenarios/session-switching.toml",
        "--seed",
        "99",
        "--baseline",
        base.to_str().unwrap(),
        "--out",
        next.path().to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("baseline session-switching"), "{}", text(&o.stdout));
    let dir = next.path().join("session-switching");
    let s = read_summary(&dir.join("summary.json")).unwrap();
    let c = s.comparison.expect("the comparison is kept in summary.json");
    assert!(c.rows.iter().any(|r| r.metric == "message_latency" && r.stat == "p99"));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"comparison\""));
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("### Compared with the baseline"));
}

/// Two hundred faults in a run: the charts draw them as a strip of ticks with their count
/// instead of two hundred labels, and every chart keeps its axis titles and hover titles.
#[test]
fn a_run_with_200_faults_renders_readable_charts() {
    let out = tempfile::tempdir().unwrap();
    let o = herd(&["run", "tests/reports/many-faults.toml", "--out", out.path().to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let report = out.path().join("many-faults/report.html");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("200 faults"), "the fault strip says how many");
    assert!(html.matches("<title>").count() > 200, "hover titles on the points and faults");
    let o = Command::new("python3")
        .arg("tests/browser/check_report.py")
        .arg(&report)
        .arg(out.path().join("shot.png"))
        .output()
        .expect("python3 runs");
    assert!(o.status.success(), "{}\n{}", text(&o.stdout), text(&o.stderr));
    let found: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(found["fault_strip"], true, "{found}");
    assert_eq!(found["untitled_charts"], serde_json::json!([]), "{found}");
    assert_eq!(found["charts_without_hover"], serde_json::json!([]), "{found}");
}
