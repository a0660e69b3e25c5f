//! The aws target against a real AWS-compatible server (moto) with the real SDK, and real worker
//! processes (examples/worker.rs) that herd starts and kills.
//!
//! The tests share one moto server and the generation-B queue names are fixed by the reference
//! system, so they run one at a time.

mod common;

use std::process::{Command, Output};
use std::sync::Mutex;

use herd::report::{RunSummary, read_summary};

static SERIAL: Mutex<()> = Mutex::new(());

use common::moto::{herd, herd_command, text, worker};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

async fn config() -> aws_config::SdkConfig {
    common::moto::sdk_config().await
}

fn queues_with_prefix(prefix: &str) -> Vec<String> {
    rt().block_on(async {
        let sqs = aws_sdk_sqs::Client::new(&config().await);
        sqs.list_queues().queue_name_prefix(prefix).send().await.expect("ListQueues").queue_urls.unwrap_or_default()
    })
}

fn tables() -> Vec<String> {
    rt().block_on(async {
        let ddb = aws_sdk_dynamodb::Client::new(&config().await);
        ddb.list_tables().send().await.expect("ListTables").table_names.unwrap_or_default()
    })
}

/// A generation-A scenario on four sessions over two project+user pairs, served by local
/// worker processes.
fn scenario_a(name: &str, project: &str, worker_args: &str, extra: &str) -> String {
    format!(
        r#"
name = "{name}"
max_duration = "1m"
reply_timeout = "15s"
sample_interval = "1s"

[target]
kind = "aws"
preset = "webordinary-a"
allowed_accounts = ["123456789012"]
provision = true
containers = {{ kind = "local", command = ["{worker}", "--generation", "a", "--queue-prefix", "webordinary-input-{project}", "--idle-exit-secs", "40"{worker_args}], count = 1 }}

[[sessions]]
count = 4
project = "{project}-{{{{ i % 2 }}}}"
user = "u"
thread = "t-{{{{ i }}}}"

[[phases]]
executor = "constant-arrival-rate"
rate = "10/s"
duration = "3s"
message = {{ instruction = "Create test file {{{{ message.seq }}}}.txt" }}
{extra}
"#,
        worker = worker().display()
    )
}

fn run_scenario(toml: &str, name: &str, extra_args: &[&str]) -> (Output, Option<RunSummary>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(format!("{name}.toml"));
    std::fs::write(&file, toml).expect("write scenario");
    let mut args = vec!["run", file.to_str().unwrap(), "--out", "out", "--quiet"];
    args.extend_from_slice(extra_args);
    let o = herd(dir.path(), &args);
    let summary = read_summary(&dir.path().join("out").join(name).join("summary.json")).ok();
    (o, summary, dir)
}

/// The sum of `messages_sent` for a scenario in a namespace over the last ten minutes.
fn cloudwatch_sent(namespace: &str, scenario: &str) -> f64 {
    rt().block_on(async {
        let cw = aws_sdk_cloudwatch::Client::new(&config().await);
        let now = std::time::SystemTime::now();
        let metric = aws_sdk_cloudwatch::types::Metric::builder()
            .namespace(namespace)
            .metric_name("messages_sent")
            .dimensions(aws_sdk_cloudwatch::types::Dimension::builder().name("Scenario").value(scenario).build())
            .build();
        let stat = aws_sdk_cloudwatch::types::MetricStat::builder().metric(metric).period(60).stat("Sum").build();
        let query = aws_sdk_cloudwatch::types::MetricDataQuery::builder().id("sent").metric_stat(stat).build();
        let out = cw
            .get_metric_data()
            .metric_data_queries(query)
            .start_time(aws_sdk_cloudwatch::primitives::DateTime::from(now - std::time::Duration::from_secs(600)))
            .end_time(aws_sdk_cloudwatch::primitives::DateTime::from(now + std::time::Duration::from_secs(60)))
            .send()
            .await
            .expect("GetMetricData");
        out.metric_data_results().iter().flat_map(|r| r.values().iter().copied()).sum()
    })
}

#[test]
fn generation_a_with_a_worker_that_answers_everything_has_exact_accounting() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // A namespace of this test process's own, so data from an earlier run on the same server
    // does not add up with this one's.
    let namespace = format!("Herd/Test/{}", std::process::id());
    let toml = scenario_a("aws-a-exact", "awsa", "", &format!("[output.cloudwatch]\nnamespace = \"{namespace}\"\n"));
    let before = cloudwatch_sent(&namespace, "aws-a-exact");
    let (o, s, _dir) = run_scenario(&toml, "aws-a-exact", &[]);
    let s = s.unwrap_or_else(|| panic!("no summary:\n{}\n{}", text(&o.stdout), text(&o.stderr)));
    assert_eq!(o.status.code(), Some(0), "{}\n{}", text(&o.stdout), text(&o.stderr));
    let a = &s.accounting;
    assert_eq!(a.sent, 30, "10/s for 3 s");
    assert_eq!((a.replied, a.failed, a.lost, a.duplicated), (30, 0, 0, 0), "{a:?}");
    assert_eq!(a.target_errors, 0);
    assert!(s.metrics.iter().any(|m| m.name == "container_start" && m.count == 1), "the worker's start was measured");
    assert!(
        s.metrics.iter().any(|m| m.name == "container_memory" && m.max.unwrap_or(0.0) > 1e6),
        "RSS read from /proc"
    );
    // Provisioning cleaned up after itself.
    assert!(queues_with_prefix("webordinary-input-awsa").is_empty());
    assert!(queues_with_prefix("webordinary-output-awsa").is_empty());
    // The run's metrics are in CloudWatch: what GetMetricData sums for messages_sent grew by
    // exactly what was sent (the server may hold earlier runs' data too).
    let sent = cloudwatch_sent(&namespace, "aws-a-exact") - before;
    assert_eq!(sent, 30.0, "CloudWatch saw every message");
    // The cost estimate counts herd's own calls and the system's replies it received.
    let c = s.cost.as_ref().expect("the aws target counts its calls");
    let line =
        |by: &str, item: &str| c.lines.iter().filter(|l| l.by == by && l.item == item).map(|l| l.quantity).sum::<f64>();
    assert_eq!(line("system", "SQS requests"), 30.0, "each reply herd received is a SendMessage the system made");
    // At least a send per batch of 10 and a receive per reply batch; creating and deleting
    // the queues are requests too.
    assert!(line("herd", "SQS requests") >= 6.0, "{c:?}");
    assert!(line("herd", "CloudWatch requests") >= 1.0, "herd's PutMetricData calls: {c:?}");
    assert!(c.lines.iter().all(|l| l.basis == herd::cost::Basis::Measured), "{c:?}");
}

/// The same exact accounting with the target's tasks on threads of their own
/// (`HERD_AWS_WORKERS=2`) instead of the run's thread driving them, the default.
#[test]
fn generation_a_with_the_targets_own_threads_has_exact_accounting() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let toml = scenario_a("aws-a-threads", "awst", "", "");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("aws-a-threads.toml");
    std::fs::write(&file, toml).expect("write scenario");
    let o = common::moto::herd_command(dir.path(), &["run", file.to_str().unwrap(), "--out", "out", "--quiet"])
        .env("HERD_AWS_WORKERS", "2")
        .output()
        .expect("herd runs");
    let s = read_summary(&dir.path().join("out").join("aws-a-threads").join("summary.json"))
        .unwrap_or_else(|e| panic!("no summary ({e}):\n{}\n{}", text(&o.stdout), text(&o.stderr)));
    assert_eq!(o.status.code(), Some(0), "{}\n{}", text(&o.stdout), text(&o.stderr));
    let a = &s.accounting;
    assert_eq!((a.sent, a.replied, a.failed, a.lost, a.duplicated), (30, 30, 0, 0, 0), "{a:?}");
    assert!(queues_with_prefix("webordinary-input-awst").is_empty(), "provisioning cleaned up");
}

#[test]
fn generation_a_worker_that_drops_one_in_ten_shows_exactly_that_many_lost() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let toml = scenario_a("aws-a-drops", "awsd", ", \"--drop-every\", \"10\", \"--garbage-every\", \"7\"", "");
    let (o, s, _dir) = run_scenario(&toml, "aws-a-drops", &[]);
    let s = s.unwrap_or_else(|| panic!("no summary:\n{}\n{}", text(&o.stdout), text(&o.stderr)));
    let a = &s.accounting;
    assert_eq!(a.sent, 30);
    assert_eq!(a.lost, 3, "the worker dropped messages 10, 20 and 30: {a:?}");
    assert_eq!(a.replied, 27);
    // Answered messages 7, 14, 21 and 28 were each followed by a reply that is not JSON; the
    // run still waits out message 30's timeout, so the last of them arrives in time.
    assert_eq!(a.malformed_replies, 4, "{a:?}");
    assert!(queues_with_prefix("webordinary-input-awsd").is_empty());
}

#[test]
fn generation_b_callbacks_count_a_failure_and_then_a_success_for_one_token_as_a_contradiction() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let toml = format!(
        r#"
name = "aws-b"
max_duration = "1m"
reply_timeout = "15s"
sample_interval = "1s"

[target]
kind = "aws"
preset = "webordinary-b"
allowed_accounts = ["123456789012"]
provision = true
containers = {{ kind = "local", command = ["{worker}", "--generation", "b", "--fail-then-succeed-every", "5", "--idle-exit-secs", "40"], count = 2 }}

[[sessions]]
count = 4
project = "awsb-{{{{ i % 2 }}}}"
user = "u"
thread = "t-{{{{ i }}}}"

[[phases]]
executor = "constant-arrival-rate"
rate = "10/s"
duration = "2s"

[thresholds]
messages_lost = ["count == 0"]
"#,
        worker = worker().display()
    );
    let (o, s, _dir) = run_scenario(&toml, "aws-b", &["--callback-listen", "127.0.0.1:0"]);
    let s = s.unwrap_or_else(|| panic!("no summary:\n{}\n{}", text(&o.stdout), text(&o.stderr)));
    assert!(
        text(&o.stderr).contains("Step Functions callbacks: point workers at http://127.0.0.1:"),
        "{}",
        text(&o.stderr)
    );
    let a = &s.accounting;
    assert_eq!(a.sent, 20);
    assert_eq!(a.lost, 0, "{a:?}");
    // Every fifth task got SendTaskFailure(PREEMPTED) and then SendTaskSuccess: the second answer
    // contradicts the first, which is not a harmless resend.
    assert_eq!(a.contradictory, 4, "{a:?}");
    assert_eq!(a.duplicated, 0, "{a:?}");
    assert_eq!(a.interrupts, 4);
    // herd played the router: a CLAIM_REQUEST for each pair nobody owned yet.
    assert!(a.claims_sent >= 2, "{a:?}");
    assert_eq!(a.failed, 4, "the first answer counts: a preempted failure");
    assert_eq!(a.replied, 16);
    assert!(queues_with_prefix("webordinary-").is_empty(), "{:?}", queues_with_prefix("webordinary-"));
    assert!(!tables().iter().any(|t| t.starts_with("webordinary-")), "{:?}", tables());
}

#[test]
fn killing_a_local_container_kills_the_process_and_the_replacement_answers() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let extra = r#"
[[faults]]
at = "1500ms"
action = "kill-container"
container = 0
"#;
    let toml = scenario_a("aws-a-kill", "awsk", "", extra).replace("duration = \"3s\"", "duration = \"4s\"");
    let (o, s, _dir) = run_scenario(&toml, "aws-a-kill", &[]);
    let s = s.unwrap_or_else(|| panic!("no summary:\n{}\n{}", text(&o.stdout), text(&o.stderr)));
    let fault = &s.faults[0];
    assert!(fault.detail.contains("killed local-0 with SIGKILL"), "{}", fault.detail);
    // Two processes started: the first, and its replacement.
    let starts = s.metrics.iter().find(|m| m.name == "container_start" && m.tag_key.is_none()).map_or(0, |m| m.count);
    assert_eq!(starts, 2);
    // Messages sent after the kill were answered by the replacement.
    let late: u64 = s.timeline.iter().filter(|p| p.t > 3.0).map(|p| p.replied).sum();
    assert!(late > 0, "{:?}", s.timeline.iter().map(|p| (p.t, p.replied)).collect::<Vec<_>>());
    // A message the killed worker had received but not answered is redelivered after the
    // 30 s visibility timeout, beyond this run's 15 s reply timeout, so it is lost. How many it
    // held depends on how busy the machine was; what the design guarantees is that it held at
    // most one receive (10 messages), and that nothing else is lost: of the 40 messages sent,
    // the replacement answers the rest.
    assert!(s.accounting.lost <= 10, "{:?}", s.accounting);
    assert_eq!(s.accounting.sent, 40, "{:?}", s.accounting);
    assert_eq!(s.accounting.replied + s.accounting.lost, 40, "{:?}", s.accounting);
}

#[test]
fn stop_task_hits_the_owner_inside_the_blast_radius_and_nothing_else() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = "herd-test-cluster";
    let setup = Command::new("python3")
        .args(["tests/aws/ecs_setup.py", common::moto::endpoint(), cluster])
        .output()
        .expect("python3 runs");
    assert!(setup.status.success(), "{}", text(&setup.stderr));
    let tasks: serde_json::Value = serde_json::from_slice(&setup.stdout).expect("setup JSON");
    let owner = tasks["tagged"][1].as_str().expect("a tagged task").to_owned();
    // The ownership table says the second tagged task owns the pair.
    common::moto::create_ownership_table("projectKey");
    common::moto::put_owner("ecs-p#u", &owner);
    let scenario = |name: &str| {
        format!(
            r#"
name = "{name}"
max_duration = "20s"
reply_timeout = "3s"
sample_interval = "1s"

[target]
kind = "aws"
preset = "webordinary-b"
allowed_accounts = ["123456789012"]
provision = true

[target.containers]
kind = "ecs"
cluster = "{cluster}"
required_tag = "herd-target=yes"
max_kills = 1

[[sessions]]
project = "ecs-p"
user = "u"
thread = "victim"

[[phases]]
executor = "burst"
count = 1

[[faults]]
at = "1s"
action = "kill-container"
owner_of = "victim"
"#
        )
    };
    // An owner id that is empty, or only the end of a task's id, names no task: nothing stops.
    for (i, bad) in ["", &owner[owner.len() - 4..]].iter().enumerate() {
        common::moto::put_owner("ecs-p#u", bad);
        let name = format!("aws-ecs-bad-owner-{i}");
        let (o, s, _dir) = run_scenario(&scenario(&name), &name, &[]);
        let s = s.unwrap_or_else(|| panic!("no summary:\n{}\n{}", text(&o.stdout), text(&o.stderr)));
        assert!(s.faults[0].containers.is_empty(), "owner {bad:?} stopped {:?}", s.faults[0]);
        assert!(s.faults[0].detail.contains("no task inside the blast radius matched"), "{}", s.faults[0].detail);
    }
    common::moto::put_owner("ecs-p#u", &owner);
    let (o, s, _dir) = run_scenario(&scenario("aws-ecs-kill"), "aws-ecs-kill", &[]);
    let s = s.unwrap_or_else(|| panic!("no summary:\n{}\n{}", text(&o.stdout), text(&o.stderr)));
    assert!(s.faults[0].detail.contains(&format!("stopped task {owner}")), "{}", s.faults[0].detail);
    // Memory and CPU per task came from Container Insights, only for tasks in the blast radius.
    let metric = |name: &str| s.metrics.iter().find(|m| m.name == name && m.tag_key.is_none()).cloned();
    let memory = metric("container_memory").expect("container_memory was sampled");
    let mib = memory.max.unwrap() / (1u64 << 20) as f64;
    assert!((299.0..302.0).contains(&mib), "300 MB per task, measured {mib} MiB");
    let cpu = metric("container_cpu").expect("container_cpu was sampled");
    assert!((cpu.max.unwrap() - 2500.0).abs() < 5.0, "512 of 2048 CPU units is 25%: {:?}", cpu.max);
    let described = rt().block_on(async {
        let ecs = aws_sdk_ecs::Client::new(&config().await);
        let all: Vec<String> = ["tagged", "untagged"]
            .iter()
            .flat_map(|k| tasks[*k].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        ecs.describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(all))
            .send()
            .await
            .expect("DescribeTasks")
            .tasks
            .unwrap_or_default()
    });
    for t in &described {
        let id = t.task_arn().unwrap_or_default().rsplit('/').next().unwrap_or_default();
        if id == owner {
            assert_eq!(t.desired_status(), Some("STOPPED"), "the owner was stopped");
            assert!(
                t.stopped_reason().unwrap_or_default().contains("herd scenario aws-ecs-kill"),
                "{:?}",
                t.stopped_reason()
            );
        } else {
            assert_eq!(t.desired_status(), Some("RUNNING"), "task {id} outside the fault was left alone");
        }
    }
    // The ownership table existed before the run, so herd left it; what herd created is gone.
    assert!(tables().contains(&"webordinary-container-ownership".to_owned()));
    assert!(queues_with_prefix("webordinary-").is_empty());
    rt().block_on(async {
        let ddb = aws_sdk_dynamodb::Client::new(&config().await);
        ddb.delete_table().table_name("webordinary-container-ownership").send().await.expect("DeleteTable");
    });
}

#[test]
fn the_account_guard_refuses_a_mismatched_account_before_anything_is_sent() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let toml = scenario_a("aws-guard", "awsg", "", "").replace("\"123456789012\"", "\"999999999999\"");
    let (o, s, _dir) = run_scenario(&toml, "aws-guard", &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("account 123456789012 is not in allowed_accounts (999999999999)"),
        "{}",
        text(&o.stderr)
    );
    assert!(s.is_none(), "nothing ran");
    assert!(queues_with_prefix("webordinary-input-awsg").is_empty(), "nothing was created");
}

#[test]
fn dry_run_lists_the_mutating_calls_and_makes_none() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let toml = scenario_a("aws-dry", "awsdry", "", "");
    let (o, s, _dir) = run_scenario(&toml, "aws-dry", &["--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("sqs:CreateQueue webordinary-input-awsdry-0-u"), "{out}");
    assert!(out.contains("sqs:DeleteQueue webordinary-output-awsdry-1-u"), "{out}");
    assert!(out.contains("start 1 local worker process(es)"), "{out}");
    assert!(s.is_none());
    assert!(queues_with_prefix("webordinary-input-awsdry").is_empty(), "the dry run created nothing");
    assert!(queues_with_prefix("webordinary-output-awsdry").is_empty());
}

#[test]
fn the_aws_target_cannot_run_on_the_virtual_clock() {
    let toml = scenario_a("aws-virtual", "awsv", "", "");
    let (o, _, _dir) = run_scenario(&toml, "aws-virtual", &["--clock", "virtual"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("runs on the real clock"));
}

#[test]
fn a_fault_that_needs_container_control_is_refused_when_there_is_none() {
    let toml = scenario_a("aws-none", "awsn", "", "[[faults]]\nat = \"1s\"\naction = \"kill-container\"\nrandom = 1\n")
        .replace("containers = {", "# containers = {");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("aws-none.toml");
    std::fs::write(&file, toml).unwrap();
    let o = herd(dir.path(), &["check", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("this fault needs container control"), "{}", text(&o.stderr));
}

/// Worker processes whose command line holds `marker`.
fn workers_with(marker: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(marker))
        .collect()
}

/// Every way to stop a run (SIGINT, SIGTERM, SIGHUP) runs the same clean-up: exit 130, an
/// `interrupted` summary, every queue it provisioned deleted and no worker process left.
#[test]
fn every_stop_signal_writes_the_summary_and_cleans_up() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for (signal, project, idle) in [("INT", "awsc", "43"), ("TERM", "awst", "44"), ("HUP", "awsh", "45")] {
        let name = format!("aws-sig-{}", signal.to_lowercase());
        let marker = format!("--idle-exit-secs {idle}");
        let toml = scenario_a(&name, project, "", "")
            .replace("duration = \"3s\"", "duration = \"5m\"")
            .replace("\"--idle-exit-secs\", \"40\"", &format!("\"--idle-exit-secs\", \"{idle}\""));
        assert!(toml.contains(&format!("\"{idle}\"")), "the worker carries its marker");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, toml).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_herd"));
        cmd.args(["run", file.to_str().unwrap(), "--out", "out", "--quiet"]).current_dir(dir.path());
        for (k, v) in common::moto::env() {
            cmd.env(k, v);
        }
        let mut child =
            cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().expect("herd starts");
        // Wait until the run is sending (its queues exist and its worker runs), then signal it.
        let started = std::time::Instant::now();
        while queues_with_prefix(&format!("webordinary-input-{project}")).is_empty() || workers_with(&marker).is_empty()
        {
            assert!(started.elapsed() < std::time::Duration::from_secs(30), "SIG{signal}: the run never started");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
        assert!(
            Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap().success()
        );
        let status = child.wait().expect("herd exits");
        assert_eq!(status.code(), Some(130), "SIG{signal}");
        let s = read_summary(&dir.path().join(format!("out/{name}/summary.json")))
            .unwrap_or_else(|e| panic!("SIG{signal}: no summary: {e}"));
        assert_eq!(s.verdict, herd::report::Verdict::Interrupted, "SIG{signal}");
        assert!(s.accounting.sent > 0, "SIG{signal}");
        assert!(s.cleanup_failures.is_empty(), "SIG{signal}: {:?}", s.cleanup_failures);
        assert!(queues_with_prefix(&format!("webordinary-input-{project}")).is_empty(), "SIG{signal}: work queues");
        assert!(queues_with_prefix(&format!("webordinary-output-{project}")).is_empty(), "SIG{signal}: reply queues");
        // herd waits for its workers before it exits; give the kernel a moment to reap them.
        let stopped = std::time::Instant::now();
        while !workers_with(&marker).is_empty() {
            assert!(
                stopped.elapsed() < std::time::Duration::from_secs(10),
                "SIG{signal}: workers left: {:?}",
                workers_with(&marker)
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// Setup that fails after provisioning (the callback port is taken by another process) exits 3
/// naming the port, and rolls back everything it made: no queue, no table, no worker process.
#[test]
fn a_setup_failure_after_provisioning_rolls_everything_back() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("its address").port();
    let toml = format!(
        r#"
name = "aws-rollback"
max_duration = "1m"

[target]
kind = "aws"
preset = "webordinary-b"
allowed_accounts = ["123456789012"]
provision = true
containers = {{ kind = "local", command = ["{worker}", "--generation", "b", "--idle-exit-secs", "47"], count = 2 }}

[[sessions]]
count = 2
project = "awsrb-{{{{ i }}}}"
user = "u"

[[phases]]
executor = "burst"
count = 1
"#,
        worker = worker().display()
    );
    let listen = format!("127.0.0.1:{port}");
    let (o, s, _dir) = run_scenario(&toml, "aws-rollback", &["--callback-listen", &listen]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains(&format!("cannot listen on {listen}")), "{}", text(&o.stderr));
    assert!(s.is_none(), "nothing ran, so there is no summary");
    assert!(queues_with_prefix("webordinary-input-awsrb").is_empty(), "{:?}", queues_with_prefix("webordinary-"));
    assert!(!tables().iter().any(|t| t.starts_with("webordinary-")), "{:?}", tables());
    let workers = workers_with("--idle-exit-secs 47");
    assert!(workers.is_empty(), "worker processes left: {workers:?}");
    drop(taken);
}

/// Makes an IAM user allowed everything on `endpoint` with boto3 (installed with moto), in
/// the unchecked calls a server started with `INITIAL_NO_AUTH_ACTION_COUNT=3` allows; returns
/// its access key id and secret.
fn iam_user(endpoint: &str) -> (String, String) {
    let script = r#"
import boto3, json, os
iam = boto3.client("iam", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                   aws_access_key_id="setup", aws_secret_access_key="setup")
iam.create_user(UserName="herd")
key = iam.create_access_key(UserName="herd")["AccessKey"]
iam.put_user_policy(UserName="herd", PolicyName="all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;
    let o = Command::new("python3").args(["-c", script]).env("ENDPOINT", endpoint).output().expect("python3 runs");
    assert!(o.status.success(), "creating the IAM user: {}", text(&o.stderr));
    let out = text(&o.stdout);
    let mut words = out.split_whitespace();
    (words.next().expect("a key id").to_owned(), words.next().expect("a secret").to_owned())
}

/// herd's own SQS client (sends, batches, long polls, deletes) signs every call as AWS checks
/// it: against a moto server that verifies each request's SigV4 signature with the IAM user's
/// secret, a run with a local worker has exact accounting; the same run with a wrong secret is
/// refused (so the server really checks).
#[test]
fn every_call_is_signed_as_aws_checks_signatures() {
    let endpoint = common::moto::private_server(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
    let (key, secret) = iam_user(&endpoint);
    let run = |secret: &str| {
        let toml = scenario_a("aws-signed", "awss", "", "");
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("aws-signed.toml");
        std::fs::write(&file, toml).expect("write scenario");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_herd"));
        cmd.args(["run", file.to_str().unwrap(), "--out", "out", "--quiet"]).current_dir(dir.path());
        for (k, v) in common::moto::env() {
            cmd.env(k, v);
        }
        cmd.env("AWS_ENDPOINT_URL", &endpoint).env("AWS_ACCESS_KEY_ID", &key).env("AWS_SECRET_ACCESS_KEY", secret);
        let o = cmd.output().expect("herd runs");
        let summary = read_summary(&dir.path().join("out").join("aws-signed").join("summary.json")).ok();
        (o, summary)
    };
    let (o, s) = run(&secret);
    let s = s.unwrap_or_else(|| panic!("no summary:\n{}\n{}", text(&o.stdout), text(&o.stderr)));
    assert_eq!(o.status.code(), Some(0), "{}\n{}", text(&o.stdout), text(&o.stderr));
    let a = &s.accounting;
    assert_eq!((a.sent, a.replied, a.lost, a.send_errors, a.target_errors), (30, 30, 0, 0, 0), "{a:?}");
    // The same key id with another secret: only the signature differs, and the server refuses
    // the first call (the SDK's account check, which cannot parse moto's XML error).
    let (o, s) = run("not-the-secret");
    assert_ne!(o.status.code(), Some(0));
    assert!(s.is_none(), "nothing ran");
    assert!(text(&o.stderr).contains("sts:GetCallerIdentity"), "{}", text(&o.stderr));
}

#[test]
fn two_slices_side_by_side_read_only_their_own_replies_and_merge_into_the_plan() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let toml = scenario_a("aws-a-slices", "awss", "", "");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("slices.toml");
    std::fs::write(&file, &toml).expect("write scenario");
    // Both start together, a few seconds from now, as workers of a distributed run would.
    let at =
        humantime::format_rfc3339_millis(std::time::SystemTime::now() + std::time::Duration::from_secs(4)).to_string();
    let slices: Vec<std::process::Child> = ["1/2", "2/2"]
        .iter()
        .map(|seg| {
            herd_command(
                dir.path(),
                &["run", file.to_str().unwrap(), "--segment", seg, "--start-at", &at, "--out", "out", "--quiet"],
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("herd starts")
        })
        .collect();
    let mut sent = 0;
    let mut late = false;
    for (i, child) in slices.into_iter().enumerate() {
        let o = child.wait_with_output().expect("herd ends");
        late |= text(&o.stderr).contains("after --start-at (late)");
        let path = dir.path().join(format!("out/aws-a-slices/segment-{}-of-2/summary.json", i + 1));
        let s = read_summary(&path).unwrap_or_else(|e| panic!("{e}\n{}\n{}", text(&o.stdout), text(&o.stderr)));
        assert_eq!(o.status.code(), Some(0), "{}\n{}", text(&o.stdout), text(&o.stderr));
        let a = &s.accounting;
        // Each slice holds one of the two pairs: half the arrivals, every reply its own.
        assert_eq!(a.sent, 15, "{a:?}");
        assert_eq!((a.replied, a.lost, a.unknown_replies, a.duplicated), (15, 0, 0, 0), "{a:?}");
        sent += a.sent;
    }
    assert_eq!(sent, 30, "10/s for 3 s over both slices");
    let o = herd(dir.path(), &["merge", "out/aws-a-slices", "--out", "merged"]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", text(&o.stdout), text(&o.stderr));
    let m = read_summary(&dir.path().join("merged/aws-a-slices/summary.json")).expect("merged summary");
    assert_eq!((m.accounting.sent, m.accounting.replied), (30, 30));
    assert_eq!(m.slices.len(), 2);
    // Together, unless a slice's setup outlasted the lead (a busy machine), which it says.
    assert!(late || m.slices.iter().all(|s| s.start_skew_seconds < 1.0), "started together: {:?}", m.slices);
    // Each slice removed the queues it alone used.
    assert!(queues_with_prefix("webordinary-input-awss").is_empty());
    assert!(queues_with_prefix("webordinary-output-awss").is_empty());
}

#[test]
fn a_slice_refuses_a_reply_queue_other_slices_read_too_before_it_creates_anything() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let toml = scenario_a("aws-a-shared", "awsh", "", "").replace(
        "preset = \"webordinary-a\"",
        "preset = \"webordinary-a\"\nreply = { kind = \"sqs\", queue = \"webordinary-output-awsh-shared\", match_pointer = \"/commandId\", success_pointer = \"/success\" }",
    );
    let (o, _, _dir) = run_scenario(&toml, "aws-a-shared", &["--segment", "1/2"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("webordinary-output-awsh-shared") && err.contains("segment 1/2"), "{err}");
    assert!(queues_with_prefix("webordinary-input-awsh").is_empty(), "nothing was created");
}

#[test]
fn a_run_distributed_over_local_workers_merges_their_slices_exactly() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let toml = scenario_a("aws-a-distributed", "awsd", "", "");
    let (o, s, dir) = run_scenario(&toml, "aws-a-distributed", &["--distribute", "local", "--workers", "2"]);
    let s = s.unwrap_or_else(|| panic!("no merged summary:\n{}\n{}", text(&o.stdout), text(&o.stderr)));
    assert_eq!(o.status.code(), Some(0), "{}\n{}", text(&o.stdout), text(&o.stderr));
    assert_eq!((s.accounting.sent, s.accounting.replied, s.accounting.lost), (30, 30, 0), "{:?}", s.accounting);
    assert_eq!(s.accounting.unknown_replies, 0, "no worker read another's replies");
    assert_eq!(s.slices.iter().map(|x| x.sent).sum::<u64>(), 30);
    // Together, unless a worker's setup outlasted the lead (a busy machine), which it says.
    let late = (1..=2).any(|i| {
        std::fs::read_to_string(dir.path().join(format!("out/aws-a-distributed/worker-{i}-of-2.log")))
            .is_ok_and(|l| l.contains("after --start-at (late)"))
    });
    assert!(late || s.slices.iter().all(|x| x.start_skew_seconds < 1.0), "{:?}", s.slices);
    let latency = s.metrics.iter().find(|m| m.name == "message_latency" && m.tag_key.is_none()).unwrap();
    assert_eq!(latency.count, 30, "every reply's latency in the merged histogram");
    for i in 1..=2 {
        assert!(dir.path().join(format!("out/aws-a-distributed/segment-{i}-of-2/summary.json")).is_file());
    }
    assert!(queues_with_prefix("webordinary-input-awsd").is_empty());
    assert!(queues_with_prefix("webordinary-output-awsd").is_empty());
}

/// A TCP relay on 127.0.0.1 to the address written in `target` (read when a connection
/// comes), until `stop` is set: every container calls one slice's listener through it.
fn relay_to(target: std::path::PathBuf, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> String {
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let Ok((inbound, _)) = listener.accept() else {
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            };
            let _ = inbound.set_nonblocking(false);
            let Ok(to) = std::fs::read_to_string(&target) else { continue };
            let Ok(outbound) = std::net::TcpStream::connect(to.trim()) else { continue };
            let (mut a, mut b) = (inbound.try_clone().unwrap(), outbound.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut a, &mut b);
                let _ = b.shutdown(std::net::Shutdown::Write);
            });
            let (mut a, mut b) = (outbound, inbound);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut a, &mut b);
                let _ = b.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn generation_b_over_four_local_workers_answers_every_task_though_every_container_calls_slice_one() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Each of four slices starts a container; a container may claim any slice's pair (the
    // claim queue and the ownership table are the system's, shared). Every container calls
    // back to slice 1's listener (through a relay, as a load balancer in front of one worker
    // would), so every task of slices 2 to 4 reaches the wrong listener and is forwarded.
    let toml = format!(
        r#"
name = "aws-b-distributed"
max_duration = "1m"
reply_timeout = "15s"
sample_interval = "1s"

[target]
kind = "aws"
preset = "webordinary-b"
allowed_accounts = ["123456789012"]
provision = true
containers = {{ kind = "local", command = ["{worker}", "--generation", "b", "--idle-exit-secs", "40"], count = 1 }}

[[sessions]]
count = 8
project = "awsbd-{{{{ i % 8 }}}}"
user = "u"
thread = "t-{{{{ i }}}}"

[[phases]]
executor = "constant-arrival-rate"
rate = "10/s"
duration = "2s"
"#,
        worker = worker().display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("b.toml"), toml).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let relay = relay_to(dir.path().join("out/aws-b-distributed/peers/slice-1.addr"), stop.clone());
    let o = herd_command(
        dir.path(),
        &[
            "run",
            "b.toml",
            "--out",
            "out",
            "--quiet",
            "--distribute",
            "local",
            "--workers",
            "4",
            "--callback-listen",
            "127.0.0.1:0",
        ],
    )
    // The reference worker prefers this endpoint to the one its own slice gives it.
    .env("AWS_ENDPOINT_URL_SFN", &relay)
    .output()
    .expect("herd runs");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    // The system's shared queues and table stay after the slices (they leave them for each
    // other); the test removes them.
    common::moto::delete_queues_with_prefix("webordinary-");
    let logs: String = (1..=4)
        .map(|i| std::fs::read_to_string(dir.path().join(format!("out/aws-b-distributed/worker-{i}-of-4.log"))))
        .filter_map(Result::ok)
        .collect();
    let s = read_summary(&dir.path().join("out/aws-b-distributed/summary.json"))
        .unwrap_or_else(|e| panic!("no merged summary ({e}):\n{}\n{}\n{logs}", text(&o.stdout), text(&o.stderr)));
    let a = &s.accounting;
    assert_eq!((a.sent, a.replied, a.lost, a.unknown_replies), (20, 20, 0, 0), "{a:?}\n{logs}");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // Slices 2 to 4 had their replies, which only a forward from slice 1 could bring them.
    assert_eq!(s.slices.len(), 4);
    for slice in &s.slices[1..] {
        assert_eq!(slice.replied, slice.sent, "{:?}: its replies came through slice 1", slice.segment);
    }
    assert!(s.slices[1..].iter().map(|x| x.replied).sum::<u64>() > 0, "{:?}", s.slices);
    for i in 1..=4 {
        assert!(dir.path().join(format!("out/aws-b-distributed/peers/slice-{i}.addr")).is_file());
    }
}
