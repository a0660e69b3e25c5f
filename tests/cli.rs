//! The `herd` binary end to end: exit codes, files written, Ctrl-C, the schema and the plan.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use herd::metrics::decode_histogram;
use herd::report::{RunSummary, Verdict, read_summary};

fn herd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herd")).args(args).output().expect("herd runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn out_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary folder")
}

fn summary(dir: &Path, name: &str) -> RunSummary {
    read_summary(&dir.join(name).join("summary.json")).expect("summary.json is readable")
}

#[test]
fn a_passing_run_exits_0_and_writes_a_lossless_summary() {
    let out = out_dir();
    let o = herd(&["run", "scenarios/burst-100.toml", "--out", out.path().to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{}\nstderr:\n{}", text(&o.stdout), text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(stdout.contains("burst-100  PASSED"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "no escape codes when not on a terminal");
    let s = summary(out.path(), "burst-100");
    assert_eq!(s.verdict, Verdict::Passed);
    assert_eq!(s.scenario.seed, 3);
    assert_eq!(s.accounting.sent, 100);
    let latency = s.metrics.iter().find(|m| m.name == "message_latency" && m.tag_key.is_none()).expect("latency");
    let h = decode_histogram(latency.histogram.as_deref().expect("histogram")).expect("V2 base64 decodes");
    assert_eq!(h.len(), latency.count);
    assert_eq!(h.max() as f64, latency.max.unwrap());
    assert!(out.path().join("burst-100/journal.jsonl").exists());
    assert!(s.run.command_line.contains("herd run scenarios/burst-100.toml --seed 3"), "{}", s.run.command_line);
}

#[test]
fn a_failed_threshold_exits_1() {
    let out = out_dir();
    let o = herd(&["run", "tests/failing/memory-leak.toml", "--out", out.path().to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let s = summary(out.path(), "memory-leak");
    assert_eq!(s.verdict, Verdict::Failed);
    let growth = s.thresholds.iter().find(|t| t.rule == "growth < 100MiB").expect("growth rule");
    assert!(!growth.passed);
    // 360 messages at 1 MiB each: the growth is about 360 MiB.
    let measured = growth.measured.expect("measured") / (1 << 20) as f64;
    assert!((300.0..400.0).contains(&measured), "growth {measured} MiB");
    assert!(s.thresholds.iter().find(|t| t.rule == "max < 1GiB").unwrap().passed);
    assert!(text(&o.stdout).contains("FAIL container_memory"));
}

#[test]
fn invalid_scenarios_exit_2_with_locations_and_run_nothing() {
    let out = out_dir();
    let o = herd(&[
        "run",
        "scenarios/burst-100.toml",
        "tests/invalid/unknown-metric.toml",
        "tests/invalid/negative-count.toml",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = text(&o.stderr);
    assert!(stderr.contains("tests/invalid/unknown-metric.toml:16:18: unknown metric `message_latncy`"), "{stderr}");
    assert!(stderr.contains("tests/invalid/negative-count.toml:4:9"), "{stderr}");
    // Nothing ran, not even the valid scenario given first.
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "no partial side effect");
}

#[test]
fn check_lists_every_valid_file_and_exits_0() {
    let o = herd(&["check", "scenarios/"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let files = std::fs::read_dir("scenarios")
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "toml"))
        .count();
    assert_eq!(text(&o.stdout).lines().filter(|l| l.starts_with("ok: ")).count(), files);
}

#[test]
fn bad_command_lines_exit_2() {
    assert_eq!(herd(&["run"]).status.code(), Some(2));
    assert_eq!(herd(&["run", "--frobnicate", "scenarios/"]).status.code(), Some(2));
    let o = herd(&["check", "no/such/file.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no such file or folder"));
}

#[test]
fn the_checked_in_schema_is_fresh() {
    let o = herd(&["schema"]);
    assert_eq!(o.status.code(), Some(0));
    let checked_in = std::fs::read_to_string("schemas/scenario.schema.json").expect("schema file");
    assert!(
        text(&o.stdout) == checked_in,
        "schemas/scenario.schema.json is stale; regenerate it with `cargo run -- schema > schemas/scenario.schema.json`"
    );
}

/// Editors see what herd accepts: a number or boolean key written as a template string is
/// valid, any other string in its place is not.
#[test]
fn the_published_schema_takes_a_template_in_a_number_key_and_nothing_else() {
    let schema: serde_json::Value = serde_json::from_slice(&herd(&["schema"]).stdout).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let doc = |count: serde_json::Value, allow: serde_json::Value| {
        serde_json::json!({
            "name": "t",
            "allow_large": allow,
            "sessions": [{ "count": count }],
            "phases": [{ "executor": "burst", "count": 1 }],
        })
    };
    assert!(validator.is_valid(&doc(serde_json::json!(3), serde_json::json!(true))));
    assert!(validator.is_valid(&doc(serde_json::json!("{{ vars.n }}"), serde_json::json!("{{ vars.big }}"))));
    assert!(!validator.is_valid(&doc(serde_json::json!("three"), serde_json::json!(true))));
    assert!(!validator.is_valid(&doc(serde_json::json!(3), serde_json::json!("yes"))));
}

#[test]
fn plan_shows_sessions_phases_faults_and_thresholds() {
    let o = herd(&["plan", "scenarios/container-failure.toml"]);
    assert_eq!(o.status.code(), Some(0));
    let plan = text(&o.stdout);
    assert!(plan.contains("group stresstest: 1 sessions over 1 project+user pairs"), "{plan}");
    assert!(plan.contains("after-failure [constant-arrival-rate] at 2m 10s"), "{plan}");
    assert!(plan.contains("at 2m 21s: kill the owner of failure-thread"), "{plan}");
    assert!(plan.contains("recovery_time max < 60s"), "{plan}");
    let json = herd(&["plan", "scenarios/container-failure.toml", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("plan JSON");
    assert_eq!(v["faults"][0]["trigger"]["kind"], "at");
}

#[test]
fn the_seed_flag_overrides_the_file_and_changes_the_run() {
    let a = out_dir();
    let b = out_dir();
    for (dir, seed) in [(&a, "1"), (&b, "2")] {
        let o = herd(&[
            "run",
            "scenarios/session-switching.toml",
            "--seed",
            seed,
            "--out",
            dir.path().to_str().unwrap(),
            "-q",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    }
    let (sa, sb) = (summary(a.path(), "session-switching"), summary(b.path(), "session-switching"));
    assert_eq!((sa.scenario.seed, sb.scenario.seed), (1, 2));
    let p50 =
        |s: &RunSummary| s.metrics.iter().find(|m| m.name == "message_latency" && m.tag_key.is_none()).unwrap().p50;
    assert_ne!(p50(&sa), p50(&sb), "different seeds draw different processing times");
}

#[test]
fn ctrl_c_stops_the_run_writes_an_interrupted_summary_and_exits_130() {
    let out = out_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(["run", "scenarios/memory-soak.toml", "--clock", "real", "--quiet", "--out"])
        .arg(out.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("herd starts");
    // Wait until the run is under way (its journal exists), then interrupt it.
    let journal: PathBuf = out.path().join("memory-soak/journal.jsonl");
    let started = Instant::now();
    while !journal.exists() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s.code();
        }
        assert!(Instant::now() < deadline, "herd did not stop after Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(130));
    let s = summary(out.path(), "memory-soak");
    assert_eq!(s.verdict, Verdict::Interrupted);
    assert!(s.duration_seconds < 60.0, "stopped early, not after 30 minutes: {}", s.duration_seconds);
    assert_eq!(s.accounting.sent, s.accounting.replied + s.accounting.failed + s.accounting.lost);
}

#[test]
fn a_killed_run_leaves_a_journal_that_herd_report_renders() {
    let out = out_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(["run", "scenarios/load-100-sessions.toml", "--clock", "real", "--quiet", "--out"])
        .arg(out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("herd starts");
    let journal = out.path().join("load-100-sessions/journal.jsonl");
    // Wait for the first sample (10 s of real time would be too long: count lines instead of
    // samples, the start and phase lines come at once), then kill the process outright.
    let started = Instant::now();
    while std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count()) < 2 {
        assert!(started.elapsed() < Duration::from_secs(20), "no journal");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert!(!out.path().join("load-100-sessions/summary.json").exists(), "a killed run writes no summary");
    let o = herd(&["report", journal.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let md = std::fs::read_to_string(out.path().join("load-100-sessions/report.md")).unwrap();
    assert!(md.contains("INTERRUPTED"), "{md}");
    assert!(md.contains("rebuilt from journal.jsonl"), "{md}");
    let html = std::fs::read_to_string(out.path().join("load-100-sessions/report.html")).unwrap();
    assert!(html.contains("load-100-sessions"));
}

#[test]
fn an_output_folder_that_cannot_be_written_exits_2_before_running() {
    let dir = out_dir();
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, "a file where the output folder should be").unwrap();
    let o = herd(&["run", "scenarios/burst-100.toml", "--out", file.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("cannot write there"), "{}", text(&o.stderr));
    assert!(text(&o.stdout).is_empty(), "nothing ran");
}

/// A schedule no machine can keep (a million messages a second on the real clock): the
/// progress output says the generator fell behind while it runs, and the summary and the
/// reports say so afterwards, with the rate it reached.
#[test]
fn the_progress_line_and_the_reports_say_when_the_generator_fell_behind() {
    let out = out_dir();
    let file = out.path().join("too-fast.toml");
    std::fs::write(
        &file,
        r#"
name = "too-fast"
max_duration = "3s"
sample_interval = "1s"
[target]
kind = "sim"
containers = { max = 100, warm = 100 }
processing = "fixed(1ms)"
[[sessions]]
count = 100
project = "p-{{ i }}"
[[phases]]
executor = "constant-arrival-rate"
rate = "1000000/s"
duration = "10s"
max_in_flight = 1000000
"#,
    )
    .unwrap();
    let started = Instant::now();
    let o = herd(&["run", file.to_str().unwrap(), "--out", out.path().to_str().unwrap(), "--clock", "real"]);
    // max_duration is wall time on the real clock, however far behind the loop is.
    assert!(started.elapsed() < Duration::from_secs(30), "the run took {:?}", started.elapsed());
    let stderr = text(&o.stderr);
    assert!(stderr.contains("warning: the generator fell behind: sent"), "{stderr}");
    assert!(stderr.contains("of 1000000.0/s"), "the planned rate is named: {stderr}");
    let s = summary(out.path(), "too-fast");
    assert_eq!(s.end_reason, herd::runtime::EndReason::MaxDuration);
    let behind = s.behind.as_ref().expect("the summary says it fell behind");
    assert!(behind.worst_lag_p99_ms > 100.0, "{behind:?}");
    assert!(behind.message.contains("late"), "{}", behind.message);
    assert!(text(&o.stdout).contains("warning: the generator fell behind"), "{}", text(&o.stdout));
    let md = std::fs::read_to_string(out.path().join("too-fast/report.md")).unwrap();
    assert!(md.contains("**Warning:** the generator fell behind"), "{md}");
    let html = std::fs::read_to_string(out.path().join("too-fast/report.html")).unwrap();
    assert!(html.contains("id=\"warnings\"") && html.contains("id=\"chart-schedule-lag\""), "warning and lag chart");
    let junit = std::fs::read_to_string(out.path().join("too-fast/junit.xml")).unwrap();
    assert!(junit.contains("warning: the generator fell behind"), "{junit}");
}

#[test]
fn log_lines_are_json_for_ci_and_more_with_v() {
    let out = out_dir();
    let args = ["run", "scenarios/container-failure.toml", "--out", out.path().to_str().unwrap(), "-q"];
    let quiet = herd(&args);
    assert!(!text(&quiet.stderr).contains("INFO"), "warnings only by default: {}", text(&quiet.stderr));
    let o = herd(&[&["-v", "--log-format", "json"][..], &args[..]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let lines: Vec<serde_json::Value> = text(&o.stderr).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "INFO" && l["fields"]["message"].as_str().is_some_and(|m| m.contains("fault"))),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn results_that_cannot_be_written_exit_4() {
    let out = out_dir();
    let o = herd(&["run", "scenarios/burst-100.toml", "--out", out.path().to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(0));
    let summary = out.path().join("burst-100/summary.json");
    let blocker = out.path().join("not-a-folder");
    std::fs::write(&blocker, b"").unwrap();
    let o = herd(&["report", summary.to_str().unwrap(), "--out", blocker.join("x").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("cannot write"), "{}", text(&o.stderr));
    // A summary that cannot be put in place (here a non-empty folder holds its name) exits 4
    // and leaves no temporary file behind.
    let out = out_dir();
    std::fs::create_dir_all(out.path().join("burst-100/summary.json/blocker")).unwrap();
    let o = herd(&["run", "scenarios/burst-100.toml", "--out", out.path().to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o.stderr));
    assert!(!out.path().join("burst-100/.summary.json.tmp").exists(), "the temporary summary is removed");
}

/// `herd report` makes a folder from the scenario name it reads: a summary edited to name
/// `../x` is refused, and nothing is written outside the output folder.
#[test]
fn report_refuses_a_summary_whose_name_would_leave_the_output_folder() {
    let out = out_dir();
    let o = herd(&["run", "scenarios/burst-100.toml", "--out", out.path().to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(0));
    let path = out.path().join("burst-100/summary.json");
    let text_json =
        std::fs::read_to_string(&path).unwrap().replace("\"name\": \"burst-100\"", "\"name\": \"../../escaped\"");
    std::fs::write(&path, text_json).unwrap();
    let target = out.path().join("reports/inner");
    let o = herd(&["report", path.to_str().unwrap(), "--out", target.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("cannot be used as a folder name"), "{}", text(&o.stderr));
    assert!(!out.path().join("escaped").exists() && !target.exists(), "nothing was written");
}

/// The loader reads regular files only (a named pipe would block it for ever), skips dot files
/// in a folder, and names a link that leads nowhere.
#[test]
fn only_regular_scenario_files_are_read() {
    let dir = out_dir();
    let fifo = dir.path().join("pipe.toml");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let started = Instant::now();
    let o = herd(&["check", fifo.to_str().unwrap()]);
    assert!(started.elapsed() < Duration::from_secs(10), "a pipe blocked the loader");
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("is not a regular file"), "{}", text(&o.stderr));
    std::fs::remove_file(&fifo).unwrap();

    std::fs::copy("scenarios/burst-100.toml", dir.path().join("burst.toml")).unwrap();
    std::fs::write(dir.path().join(".#burst.toml"), "not a scenario").unwrap();
    let o = herd(&["check", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "a dot file is not read: {}", text(&o.stderr));
    std::os::unix::fs::symlink("/nonexistent/x.toml", dir.path().join("gone.toml")).unwrap();
    let o = herd(&["check", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("a link that leads to no file"), "{}", text(&o.stderr));
}

/// Two runs cannot write one scenario's folder at once: the second is refused (exit 2) and names
/// the first's process.
#[test]
fn a_second_run_on_the_same_output_folder_is_refused() {
    let out = out_dir();
    let file = out.path().join("slow.toml");
    std::fs::write(
        &file,
        "name = \"slow\"\nmax_duration = \"4s\"\n[[sessions]]\ncount = 1\n[[phases]]\nexecutor = \"constant-arrival-rate\"\nrate = \"1/s\"\nduration = \"1m\"\n",
    )
    .unwrap();
    let out_arg = out.path().to_str().unwrap();
    let mut first = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(["run", file.to_str().unwrap(), "--out", out_arg, "--clock", "real", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !out.path().join("slow/journal.jsonl").exists() {
        assert!(started.elapsed() < Duration::from_secs(20), "the first run never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = herd(&["run", file.to_str().unwrap(), "--out", out_arg, "-q"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains(&format!("another herd run (pid {})", first.id())), "{}", text(&o.stderr));
    assert!(first.wait().unwrap().success());
    // Once the first has finished, the folder is free again.
    let o = herd(&["run", file.to_str().unwrap(), "--out", out_arg, "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

/// A file with a hundred mistakes shows the first 50 and says how many more; `--all-errors`
/// shows every one.
#[test]
fn errors_are_capped_at_50_unless_all_are_asked_for() {
    let dir = out_dir();
    let mut toml = String::from(
        "name = \"many\"\n[[sessions]]\ncount = 1\n[[phases]]\nexecutor = \"burst\"\ncount = 1\n[thresholds]\n",
    );
    for i in 0..120 {
        toml.push_str(&format!("bogus_metric_{i} = [\"count == 0\"]\n"));
    }
    let file = dir.path().join("many.toml");
    std::fs::write(&file, toml).unwrap();
    let o = herd(&["check", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = text(&o.stderr);
    assert_eq!(stderr.lines().filter(|l| l.starts_with("error:")).count(), 50);
    assert!(stderr.contains("... and 70 more (show them all with --all-errors)"), "{stderr}");
    assert!(stderr.contains("120 errors found"), "{stderr}");
    let o = herd(&["check", "--all-errors", file.to_str().unwrap()]);
    assert_eq!(text(&o.stderr).lines().filter(|l| l.starts_with("error:")).count(), 120);
    // The JSON form, for tools, is never capped and gives each error's position and key.
    let o = herd(&["check", "--format", "json", file.to_str().unwrap(), "scenarios/burst-100.toml"]);
    assert_eq!(o.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["ok"], false);
    let files = doc["files"].as_array().expect("files");
    assert_eq!(files.len(), 2, "both files are listed: {doc}");
    let bad = files.iter().find(|f| f["ok"] == false).expect("the invalid file");
    assert_eq!(bad["error_count"], 120);
    let errors = bad["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 120);
    assert_eq!(errors[0]["key"], "thresholds.bogus_metric_0");
    assert_eq!(errors[0]["line"], 8);
    assert!(errors[0]["column"].as_u64().is_some_and(|c| c >= 1), "{}", errors[0]);
    let good = files.iter().find(|f| f["ok"] == true).expect("the valid file");
    assert_eq!(good["name"], "burst-100");
    // A path that does not exist is an error of the set, still in JSON.
    let o = herd(&["check", "--format", "json", "no/such/file.toml"]);
    assert_eq!(o.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert!(doc["errors"][0].as_str().unwrap_or_default().contains("no such file"), "{doc}");
}

#[test]
fn allow_large_on_the_command_line_lifts_the_safety_limits() {
    let o = herd(&["check", "tests/invalid/plan-too-large.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("or pass --allow-large"), "{}", text(&o.stderr));
    let o = herd(&["check", "--allow-large", "tests/invalid/plan-too-large.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // Other errors stay errors.
    let o = herd(&["check", "--allow-large", "tests/invalid/bad-rate.toml"]);
    assert_eq!(o.status.code(), Some(2));
    // A run says it in the command that reproduces it.
    let out = out_dir();
    let o = herd(&["run", "--allow-large", "scenarios/burst-100.toml", "--out", out.path().to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let s = summary(out.path(), "burst-100");
    assert!(s.run.command_line.contains(" --allow-large "), "{}", s.run.command_line);
}

/// After Ctrl-C a run waits for the replies in flight up to its stop grace (10 s by default,
/// `--stop-grace` to change it), then counts the rest lost and writes an interrupted summary.
#[test]
fn the_stop_grace_bounds_the_wait_for_replies_after_ctrl_c() {
    let dir = out_dir();
    let file = dir.path().join("slow.toml");
    std::fs::write(
        &file,
        "name = \"slow\"\nmax_duration = \"5m\"\n[target]\nkind = \"sim\"\ncontainers = { max = 1, warm = 1 }\n\
         processing = \"fixed(60s)\"\n[[sessions]]\ncount = 1\n[[phases]]\nexecutor = \"burst\"\ncount = 1\n",
    )
    .unwrap();
    // Seconds from the signal to the exit.
    let stopped_after = |extra: &[&str]| -> (f64, RunSummary) {
        let out = out_dir();
        let child = Command::new(env!("CARGO_BIN_EXE_herd"))
            .args(["run", file.to_str().unwrap(), "--clock", "real", "--quiet", "--out"])
            .arg(out.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("herd starts");
        let journal = out.path().join("slow/journal.jsonl");
        let started = Instant::now();
        while std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count()) < 2 {
            assert!(started.elapsed() < Duration::from_secs(30), "the run never started");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
        let signalled = Instant::now();
        let o = child.wait_with_output().expect("herd exits");
        let took = signalled.elapsed().as_secs_f64();
        assert_eq!(o.status.code(), Some(130), "{}", text(&o.stderr));
        let stderr = text(&o.stderr);
        assert!(stderr.contains("waiting up to"), "{stderr}");
        (took, summary(out.path(), "slow"))
    };
    // The one message takes 60 s: the default grace waits its full 10 s (a lower bound, which a
    // busy machine cannot break), a grace of 1 s far less.
    let (default_wait, s) = stopped_after(&[]);
    assert!(default_wait >= 9.5, "stopped {default_wait:.1} s after the signal, before the 10 s grace");
    assert_eq!((s.verdict, s.accounting.sent, s.accounting.lost), (Verdict::Interrupted, 1, 1));
    let (short_wait, s) = stopped_after(&["--stop-grace", "1s"]);
    assert!(short_wait < 9.0, "a 1 s grace still waited {short_wait:.1} s");
    assert_eq!((s.verdict, s.accounting.lost), (Verdict::Interrupted, 1));
}

/// `--set` and `--vars` change the plan as the file would, env values are read only when
/// allowed, reports show the values used, and the command that reproduces the run repeats them.
#[test]
fn set_and_vars_override_the_scenario_and_are_reproducible() {
    let plan_json = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["plan", "examples/parameters.toml", "--format", "json"];
        args.extend_from_slice(extra);
        let o = herd(&args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        serde_json::from_slice(&o.stdout).expect("plan JSON")
    };
    let rate = |p: &serde_json::Value| p["phases"][0]["executor"]["rate"].as_f64().expect("a rate");
    let duration = |p: &serde_json::Value| p["phases"][0]["executor"]["duration"]["secs"].as_u64().expect("secs");
    let base = plan_json(&[]);
    assert_eq!((rate(&base), duration(&base)), (4.0, 30));
    // A variable, and any key by its path (the phase by name).
    let set = plan_json(&["--set", "vars.rate=10/s", "--set", "phases.steady.duration=2m"]);
    assert_eq!((rate(&set), duration(&set)), (10.0, 120));
    // A --vars file sets many; --set wins over it.
    let dir = out_dir();
    let vars = dir.path().join("load.toml");
    std::fs::write(&vars, "rate = \"30/m\"\nduration = \"1m\"\npairs = 3\n").unwrap();
    let from_file = plan_json(&["--vars", vars.to_str().unwrap()]);
    assert_eq!((rate(&from_file), duration(&from_file)), (0.5, 60));
    assert_eq!(from_file["sessions"][2]["project"], "project-2", "templates see vars.pairs = 3");
    let both = plan_json(&["--vars", vars.to_str().unwrap(), "--set", "vars.rate=2/s"]);
    assert_eq!(rate(&both), 2.0);
    // Checked like the file itself: the error names the --set argument.
    let o = herd(&["check", "examples/parameters.toml", "--set", "phases.steady.duration=forever"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("the value comes from `--set phases.steady.duration=forever`"),
        "{}",
        text(&o.stderr)
    );
    let o = herd(&["check", "examples/parameters.toml", "--set", "phases.nope.rate=1/s"]);
    assert!(text(&o.stderr).contains("no entry of `phases` is named \"nope\""), "{}", text(&o.stderr));
    // A run records the values and how to repeat it.
    let out = out_dir();
    let o = herd(&[
        "run",
        "examples/parameters.toml",
        "--set",
        "vars.rate=2/s",
        "--out",
        out.path().to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("vars: rate = 2/s, duration = 30s"), "{}", text(&o.stdout));
    let s = summary(out.path(), "parameters");
    assert_eq!(s.accounting.sent, 60, "2/s for 30 s");
    assert!(s.scenario.vars.contains(&("rate".to_owned(), "2/s".to_owned())), "{:?}", s.scenario.vars);
    assert!(s.run.command_line.contains(" --set vars.rate=2/s "), "{}", s.run.command_line);
    let md = std::fs::read_to_string(out.path().join("parameters/report.md")).unwrap();
    assert!(md.contains("`rate = 2/s`"), "{md}");
}

#[test]
fn environment_variables_are_read_only_when_listed() {
    let dir = out_dir();
    let file = dir.path().join("env.toml");
    std::fs::write(
        &file,
        "name = \"env\"\nenv_allow = [\"HERD_TEST_USER\"]\n[[sessions]]\nuser = \"{{ env.HERD_TEST_USER }}\"\n\
         project = \"{{ env.HERD_TEST_SECRET }}\"\n[[phases]]\nexecutor = \"burst\"\ncount = 1\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(["check", file.to_str().unwrap()])
        .env("HERD_TEST_USER", "alice")
        .env("HERD_TEST_SECRET", "hunter2")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = text(&o.stderr);
    assert!(stderr.contains("`env.HERD_TEST_SECRET` is not in `env_allow`"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "a secret never reaches the output");
    std::fs::write(
        &file,
        "name = \"env\"\nenv_allow = [\"HERD_TEST_USER\"]\n[[sessions]]\nuser = \"{{ env.HERD_TEST_USER }}\"\n\
         [[phases]]\nexecutor = \"burst\"\ncount = 1\n",
    )
    .unwrap();
    let plan = |user: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_herd"));
        cmd.args(["plan", file.to_str().unwrap(), "--format", "json"]).env_remove("HERD_TEST_USER");
        if let Some(u) = user {
            cmd.env("HERD_TEST_USER", u);
        }
        cmd.output().unwrap()
    };
    let o = plan(Some("alice"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(p["sessions"][0]["user"], "alice");
    let o = plan(None);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("the environment variable HERD_TEST_USER is not set"), "{}", text(&o.stderr));
}

/// `--tag`, `--skip-tag` and `--only` choose the scenarios of a folder run; the index says what
/// was skipped and why; a filter that leaves nothing is an error, not a green run of nothing.
#[test]
fn tags_and_globs_choose_the_scenarios_of_a_folder_run() {
    let dir = out_dir();
    let scenario = |name: &str, tags: &str| {
        let text = format!(
            "name = \"{name}\"\ntags = [{tags}]\n[[sessions]]\ncount = 1\n[[phases]]\nexecutor = \"burst\"\ncount = 2\n\
             [thresholds]\nmessages_lost = [\"count == 0\"]\n"
        );
        std::fs::write(dir.path().join(format!("{name}.toml")), text).unwrap();
    };
    scenario("smoke-a", "\"smoke\"");
    scenario("smoke-slow", "\"smoke\", \"slow\"");
    scenario("nightly-b", "\"nightly\"");
    let folder = dir.path().to_str().unwrap();
    let out = out_dir();
    let o = herd(&["run", folder, "--tag", "smoke", "--skip-tag", "slow", "--out", out.path().to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(out.path().join("smoke-a/summary.json").exists());
    assert!(!out.path().join("smoke-slow").exists() && !out.path().join("nightly-b").exists());
    let index = std::fs::read_to_string(out.path().join("index.md")).unwrap();
    // Markdown-escaped: `tagged \`slow\``.
    assert!(index.contains("smoke-slow") && index.contains("tagged \\`slow\\` (--skip-tag)"), "{index}");
    assert!(index.contains("nightly-b") && index.contains("has none of the tags \\`smoke\\`"), "{index}");
    let out = out_dir();
    let o = herd(&["run", folder, "--only", "*-b", "--out", out.path().to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(out.path().join("nightly-b/summary.json").exists() && !out.path().join("smoke-a").exists());
    let o = herd(&["run", folder, "--tag", "nightlly", "--out", out.path().to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no scenario is left to run"), "{}", text(&o.stderr));
    let o = herd(&["run", folder, "--only", "[", "--out", out.path().to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}
