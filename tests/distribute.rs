//! `herd run --distribute local --workers N`: real worker processes of this herd, each running
//! its slice, stopped and merged by the coordinator.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use herd::report::{RunSummary, Verdict, read_summary};

fn herd(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herd")).args(args).current_dir(dir).output().expect("herd runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name)
}

#[test]
fn local_workers_of_a_simulated_run_merge_into_exactly_the_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario("load-100-sessions.toml");
    let o =
        herd(dir.path(), &["run", file.to_str().unwrap(), "--distribute", "local", "--workers", "3", "--out", "out"]);
    let merged = read_summary(&dir.path().join("out/load-100-sessions/summary.json"))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", text(&o.stdout), text(&o.stderr)));
    assert_eq!(o.status.code(), Some(merged.verdict.exit_code()), "{}", text(&o.stderr));
    let whole = common::run_plan(&common::plan(&file));
    assert_eq!(merged.accounting, whole.accounting);
    let hist = |s: &RunSummary| {
        s.metrics
            .iter()
            .map(|m| {
                let h = m.histogram.as_deref().and_then(herd::metrics::decode_histogram);
                (m.name.clone(), m.tag_value.clone(), m.count, h)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(hist(&merged), hist(&whole));
    assert_eq!(merged.verdict, whole.verdict);
    assert_eq!(merged.slices.iter().filter_map(|s| s.segment.clone()).collect::<Vec<_>>(), ["1/3", "2/3", "3/3"]);
    for i in 1..=3 {
        let slice = dir.path().join(format!("out/load-100-sessions/segment-{i}-of-3"));
        assert!(slice.join("summary.json").is_file() && slice.join("journal.jsonl").is_file(), "slice {i}");
        assert!(dir.path().join(format!("out/load-100-sessions/worker-{i}-of-3.log")).is_file());
    }
    // Merging the folder again reads the slices, not the merged summary beside them.
    let again = herd(dir.path(), &["merge", "out/load-100-sessions", "--out", "again"]);
    let m2 = read_summary(&dir.path().join("again/load-100-sessions/summary.json"))
        .unwrap_or_else(|e| panic!("{e}\n{}", text(&again.stderr)));
    assert_eq!(m2.accounting, whole.accounting, "{}", text(&again.stderr));
}

#[test]
fn a_worker_that_fails_stops_the_run_with_exit_3_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: every worker fails to reach its target.
    let toml = r#"
name = "unreachable"
max_duration = "1m"
[target]
kind = "aws"
endpoint_url = "http://127.0.0.1:1"
region = "us-east-1"
allowed_accounts = ["123456789012"]
provision = false
timeouts = { operation = "2s", attempt = "1s" }
work = { queue = "http://127.0.0.1:1/000000000000/w-{{ session.project }}", body = '{"commandId": "{{ message.id }}"}' }
reply = { kind = "sqs", queue = "http://127.0.0.1:1/000000000000/r-{{ session.project }}", match_pointer = "/commandId", success_pointer = "/success" }
[[sessions]]
count = 4
project = "p{{ i }}"
[[phases]]
executor = "constant-arrival-rate"
rate = "1/s"
duration = "5s"
"#;
    let file = dir.path().join("unreachable.toml");
    std::fs::write(&file, toml).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(["run", file.to_str().unwrap(), "--distribute", "local", "--workers", "2", "--out", "out"])
        .current_dir(dir.path())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("worker ") && err.contains(" of 2") && err.contains("worker-"), "{err}");
    assert!(!dir.path().join("out/unreachable/summary.json").exists(), "no merged summary from a failed run");
}

#[test]
fn stopping_the_coordinator_stops_every_worker_and_merges_what_they_did() {
    let dir = tempfile::tempdir().unwrap();
    // A real-clock simulated run long enough to be stopped in the middle.
    let toml = r#"
name = "stopped"
max_duration = "5m"
[target]
kind = "sim"
containers = { max = 4, warm = 4 }
processing = "fixed(50ms)"
[[sessions]]
count = 8
project = "p-{{ i % 4 }}"
[[phases]]
executor = "constant-arrival-rate"
rate = "20/s"
duration = "2m"
"#;
    let file = dir.path().join("stopped.toml");
    std::fs::write(&file, toml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args([
            "run",
            file.to_str().unwrap(),
            "--clock",
            "real",
            "--distribute",
            "local",
            "--workers",
            "2",
            "--out",
            "out",
        ])
        .args(["--stop-grace", "2s", "--quiet"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (bounded) until both workers are running: their journals have a sample.
    let journals = (1..=2).map(|i| dir.path().join(format!("out/stopped/segment-{i}-of-2/journal.jsonl")));
    let journals: Vec<PathBuf> = journals.collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !journals.iter().all(|j| std::fs::read_to_string(j).is_ok_and(|t| t.contains("\"sample\""))) {
        assert!(Instant::now() < deadline, "the workers never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGTERM to the coordinator alone, as a CI runner's timeout would send it.
    // SAFETY: kill(2) on our own child's pid.
    #[expect(unsafe_code, reason = "the test sends the coordinator SIGTERM")]
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the coordinator did not end after SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    let o = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(130), "{}", text(&o.stderr));
    let merged = read_summary(&dir.path().join("out/stopped/summary.json")).expect("a merged summary");
    assert_eq!(merged.verdict, Verdict::Interrupted);
    assert!(merged.accounting.sent > 0 && merged.accounting.sent < 2400, "{:?}", merged.accounting);
    for s in &merged.slices {
        assert_eq!(s.verdict, Verdict::Interrupted, "{s:?}");
    }
}
