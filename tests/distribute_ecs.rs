//! `herd run --distribute ecs --workers N` against a moto server of its own: the coordinator
//! ships the scenario to S3 and starts ECS tasks; moto records the tasks but runs nothing, so
//! the test plays the workers by running the commands it reads back from the RunTask
//! overrides, with the environment they carry, as Fargate would.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use herd::report::read_summary;

const CLUSTER: &str = "load-generators";
const BUCKET: &str = "herd-runs";

/// A private moto server with a cluster, a Fargate task definition, a subnet, a security group
/// and a bucket; its tasks stay RUNNING until stopped (moto's default moves them on at every
/// DescribeTasks).
struct Aws {
    endpoint: String,
    subnet: String,
    sg: String,
}

fn aws() -> Aws {
    let endpoint = common::moto::private_server(&[]);
    let script = r#"
import boto3, json, sys, urllib.request
ep = sys.argv[1]
kw = dict(endpoint_url=ep, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
body = json.dumps({"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000}}).encode()
urllib.request.urlopen(urllib.request.Request(ep + "/moto-api/state-manager/set-transition", data=body, method="POST"))
ec2 = boto3.client("ec2", **kw)
vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
# moto names a task's network interface only in a VPC with DNS host names (as default VPCs have).
ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
sg = ec2.create_security_group(GroupName="herd", Description="herd workers", VpcId=vpc)["GroupId"]
ecs = boto3.client("ecs", **kw)
ecs.create_cluster(clusterName="load-generators")
ecs.register_task_definition(family="herd-worker", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
    cpu="1024", memory="2048", containerDefinitions=[{"name": "herd", "image": "herd:latest", "essential": True, "cpu": 1024, "memory": 2048}])
boto3.client("s3", **kw).create_bucket(Bucket="herd-runs")
print(json.dumps({"subnet": subnet, "sg": sg}))
"#;
    let o = Command::new("python3").args(["-c", script, &endpoint]).output().expect("python3 runs");
    assert!(o.status.success(), "setting up moto: {}", text(&o.stderr));
    let ids: serde_json::Value = serde_json::from_slice(&o.stdout).expect("ids");
    Aws { endpoint, subnet: ids["subnet"].as_str().unwrap().into(), sg: ids["sg"].as_str().unwrap().into() }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn env(aws: &Aws) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", aws.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("HERD_AWS_MAX_ATTEMPTS", "1".into()),
    ]
}

fn herd(aws: &Aws, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herd"));
    cmd.args(args).current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env(aws) {
        cmd.env(k, v);
    }
    cmd
}

async fn clients(aws: &Aws) -> (aws_sdk_ecs::Client, aws_sdk_s3::Client) {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .endpoint_url(&aws.endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    let s3 = aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build();
    (aws_sdk_ecs::Client::new(&config), aws_sdk_s3::Client::from_conf(s3))
}

/// A task as the test reads it back: its ARN, status, stop reason, command and environment.
#[derive(Debug)]
struct Task {
    arn: String,
    status: String,
    stopped_reason: String,
    command: Vec<String>,
    environment: Vec<(String, String)>,
}

fn tasks(rt: &tokio::runtime::Runtime, ecs: &aws_sdk_ecs::Client) -> Vec<Task> {
    rt.block_on(async {
        let arns = ecs.list_tasks().cluster(CLUSTER).send().await.expect("ListTasks").task_arns().to_vec();
        if arns.is_empty() {
            return Vec::new();
        }
        let out = ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(arns)).send().await.expect("DescribeTasks");
        out.tasks()
            .iter()
            .map(|t| {
                let o = t.overrides().and_then(|o| o.container_overrides().first());
                Task {
                    arn: t.task_arn().unwrap_or_default().into(),
                    status: t.last_status().unwrap_or_default().into(),
                    stopped_reason: t.stopped_reason().unwrap_or_default().into(),
                    command: o.map(|o| o.command().to_vec()).unwrap_or_default(),
                    environment: o
                        .map(|o| {
                            o.environment()
                                .iter()
                                .map(|kv| (kv.name().unwrap_or_default().into(), kv.value().unwrap_or_default().into()))
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect()
    })
}

/// Waits (bounded) until the coordinator has started `n` tasks, in slice order.
fn wait_for_tasks(rt: &tokio::runtime::Runtime, ecs: &aws_sdk_ecs::Client, n: usize, coord: &mut Child) -> Vec<Task> {
    let started = Instant::now();
    loop {
        let mut t = tasks(rt, ecs);
        if t.len() >= n {
            t.sort_by_key(|t| segment_of(t).unwrap_or_default());
            return t;
        }
        if let Ok(Some(status)) = coord.try_wait() {
            let out = coord.stderr.take().map(|mut e| {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut e, &mut s).ok();
                s
            });
            panic!("the coordinator ended ({status}) before starting {n} tasks: {}", out.unwrap_or_default());
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{n} tasks were not started: {t:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Plays task `t` as Fargate would: its command (with `extra` arguments after it) and its
/// environment, in an empty folder of its own (`task-<n>`).
fn play(aws: &Aws, dir: &Path, n: usize, t: &Task, extra: &[&str]) -> Child {
    let home = dir.join(format!("task-{n}"));
    std::fs::create_dir_all(&home).unwrap();
    let mut args: Vec<&str> = t.command.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    let mut w = herd(aws, &home, &args);
    for (k, v) in &t.environment {
        w.env(k, v);
    }
    w.spawn().expect("a worker starts")
}

fn segment_of(t: &Task) -> Option<String> {
    t.command.iter().position(|a| a == "--segment").and_then(|i| t.command.get(i + 1)).cloned()
}

/// Waits for a process to end, at most `limit`; one that does not is killed and the test fails.
fn wait_within(child: Child, limit: Duration, what: &str) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(o) => o.expect("wait"),
        Err(_) => {
            // SAFETY: kill(2) on a child this test started and has not reaped yet.
            #[expect(unsafe_code, reason = "killing a hung child needs kill(2)")]
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
            let o = rx.recv().expect("the killed child is reaped").expect("wait");
            panic!("{what} did not end within {limit:?}:\n{}\n{}", text(&o.stdout), text(&o.stderr));
        }
    }
}

fn wait_output(child: Child) -> Output {
    wait_within(child, Duration::from_secs(300), "the coordinator")
}

const SCENARIO: &str = r#"
name = "spread"
seed = 11
[[sessions]]
from = "../data/users.csv"
name = "users"
project = "p-{{ data.team }}"
user = "{{ data.user }}"
[[phases]]
name = "load"
executor = "constant-arrival-rate"
rate = "20/s"
duration = "30s"
[thresholds]
messages_lost = ["count == 0"]
"#;

/// The scenario in `scenarios/`, its data in `data/` beside it (so the shipped files keep
/// their relative places), and `[distribute.ecs]` naming the moto resources.
fn write_scenario(dir: &Path, aws: &Aws) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("work/scenarios")).unwrap();
    std::fs::create_dir_all(dir.join("work/data")).unwrap();
    let mut users = String::from("user,team\n");
    for i in 0..12 {
        users.push_str(&format!("u{i},{}\n", i % 6));
    }
    std::fs::write(dir.join("work/data/users.csv"), users).unwrap();
    let table = format!(
        "\n[distribute.ecs]\ncluster = \"{CLUSTER}\"\ntask_definition = \"herd-worker\"\nsubnets = [\"{}\"]\nsecurity_groups = [\"{}\"]\nbucket = \"{BUCKET}\"\nprefix = \"qa/\"\nendpoint_url = \"{}\"\n",
        aws.subnet, aws.sg, aws.endpoint
    );
    let file = dir.join("work/scenarios/spread.toml");
    std::fs::write(&file, format!("{SCENARIO}{table}")).unwrap();
    file
}

#[test]
fn ecs_workers_run_the_commands_of_their_overrides_and_merge_into_the_whole_run() {
    let aws = aws();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ecs, s3) = rt.block_on(clients(&aws));
    let dir = tempfile::tempdir().unwrap();
    let file = write_scenario(dir.path(), &aws);
    let mut coord = herd(
        &aws,
        &dir.path().join("work"),
        &["run", "scenarios/spread.toml", "--distribute", "ecs", "--workers", "3", "--out", "out", "--quiet"],
    )
    .spawn()
    .expect("the coordinator starts");
    let started = wait_for_tasks(&rt, &ecs, 3, &mut coord);
    // Each task runs one slice of the shipped scenario, from the run's S3 folder, and nothing
    // in its command points at this machine.
    let mut workers = Vec::new();
    let mut run_folder = String::new();
    for (i, t) in started.iter().enumerate() {
        assert_eq!(t.command.first().map(String::as_str), Some("run"), "{t:?}");
        assert_eq!(t.command.get(1).map(String::as_str), Some("scenarios/spread.toml"), "{t:?}");
        assert_eq!(segment_of(t), Some(format!("{}/3", i + 1)));
        let at = t.command.iter().position(|a| a == "--s3-run").map(|p| t.command[p + 1].clone()).expect("--s3-run");
        assert!(at.starts_with(&format!("s3://{BUCKET}/qa/spread-")), "{at}");
        run_folder = at.clone();
        assert!(!t.command.iter().any(|a| a.contains(dir.path().to_str().unwrap())), "{t:?}");
        assert!(t.environment.contains(&("HERD_S3_ENDPOINT_URL".into(), aws.endpoint.clone())), "{t:?}");
        workers.push(play(&aws, dir.path(), i + 1, t, &[]));
    }
    for (i, w) in workers.into_iter().enumerate() {
        let o = wait_within(w, Duration::from_secs(300), "a worker");
        assert!(matches!(o.status.code(), Some(0 | 1)), "worker {}: {}", i + 1, text(&o.stderr));
    }
    let o = wait_output(coord);
    let merged = read_summary(&dir.path().join("work/out/spread/summary.json"))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", text(&o.stdout), text(&o.stderr)));
    assert_eq!(o.status.code(), Some(merged.verdict.exit_code()), "{}", text(&o.stderr));
    let whole = common::run_plan(&common::plan(&file));
    assert_eq!(merged.accounting, whole.accounting);
    assert_eq!(merged.slices.iter().filter_map(|s| s.segment.clone()).collect::<Vec<_>>(), ["1/3", "2/3", "3/3"]);
    for i in 1..=3 {
        let slice = dir.path().join(format!("work/out/spread/segment-{i}-of-3"));
        assert!(slice.join("summary.json").is_file() && slice.join("journal.jsonl").is_file(), "slice {i}");
    }
    // The run's S3 folder holds the scenario with its data file in their places, and every
    // worker's last word.
    let keys: Vec<String> = rt.block_on(async {
        let out = s3.list_objects_v2().bucket(BUCKET).prefix("qa/").send().await.expect("ListObjectsV2");
        out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
    });
    for want in ["/input/scenarios/spread.toml", "/input/data/users.csv", "/run.json", "/progress/segment-3-of-3.json"]
    {
        assert!(keys.iter().any(|k| k.ends_with(want)), "{want} missing from {keys:?}");
    }
    // Had the coordinator died, its run folder would still merge into the same run.
    let again = herd(&aws, &dir.path().join("work"), &["merge", &run_folder, "--out", "again"]).output().unwrap();
    let m2 = read_summary(&dir.path().join("work/again/spread/summary.json"))
        .unwrap_or_else(|e| panic!("{e}\n{}", text(&again.stderr)));
    assert_eq!(m2.accounting, whole.accounting);
    assert_eq!(m2.slices.len(), 3);
}

#[test]
fn a_task_that_stops_without_its_results_fails_the_run_and_the_others_are_stopped() {
    let aws = aws();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ecs, _) = rt.block_on(clients(&aws));
    let dir = tempfile::tempdir().unwrap();
    write_scenario(dir.path(), &aws);
    // The flags name the cluster and bucket here (and win over the table).
    std::fs::write(
        dir.path().join("work/scenarios/spread.toml"),
        format!("{SCENARIO}\n[distribute.ecs]\ncluster = \"elsewhere\"\ntask_definition = \"herd-worker\"\n"),
    )
    .unwrap();
    let subnet = aws.subnet.clone();
    let coord = herd(
        &aws,
        &dir.path().join("work"),
        &[
            "run",
            "scenarios/spread.toml",
            "--distribute",
            "ecs",
            "--workers",
            "2",
            "--out",
            "out",
            "--quiet",
            "--ecs-cluster",
            CLUSTER,
            "--ecs-subnets",
            &subnet,
            "--ecs-security-groups",
            &aws.sg,
            "--s3-bucket",
            BUCKET,
        ],
    )
    .spawn()
    .expect("the coordinator starts");
    let mut coord = coord;
    let started = wait_for_tasks(&rt, &ecs, 2, &mut coord);
    // Slice 1's container dies before it could do anything, as an image that cannot start does.
    rt.block_on(
        ecs.stop_task().cluster(CLUSTER).task(&started[0].arn).reason("Essential container in task exited").send(),
    )
    .expect("StopTask");
    let o = wait_output(coord);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains(&started[0].arn) && err.contains("Essential container in task exited"), "{err}");
    assert!(err.contains("worker 1 of 2"), "{err}");
    let after = tasks(&rt, &ecs);
    let other = after.iter().find(|t| t.arn == started[1].arn).expect("task 2");
    assert_eq!(other.status, "STOPPED", "{after:?}");
    assert!(other.stopped_reason.contains("worker 1/2 failed"), "{other:?}");
    assert!(!dir.path().join("work/out/spread/summary.json").exists());
}

#[test]
fn an_interrupted_coordinator_stops_every_task_it_started() {
    let aws = aws();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ecs, _) = rt.block_on(clients(&aws));
    let dir = tempfile::tempdir().unwrap();
    write_scenario(dir.path(), &aws);
    let mut coord = herd(
        &aws,
        &dir.path().join("work"),
        &["run", "scenarios/spread.toml", "--distribute", "ecs", "--workers", "3", "--out", "out", "--quiet"],
    )
    .spawn()
    .expect("the coordinator starts");
    let started = wait_for_tasks(&rt, &ecs, 3, &mut coord);
    // SAFETY: kill(2) on the coordinator's pid, which this test started and has not reaped.
    #[expect(unsafe_code, reason = "sending SIGTERM needs kill(2)")]
    unsafe {
        libc::kill(coord.id() as libc::pid_t, libc::SIGTERM);
    }
    let o = wait_output(coord);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    let after = tasks(&rt, &ecs);
    for t in &started {
        let now = after.iter().find(|a| a.arn == t.arn).expect("task");
        assert_eq!(now.status, "STOPPED", "{now:?}");
        assert!(now.stopped_reason.contains("interrupted"), "{now:?}");
    }
    assert!(err.contains("no merged summary"), "{err}");
}

#[test]
fn missing_settings_are_named_before_anything_is_started() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), SCENARIO.replace("../data/users.csv", "users.csv")).unwrap();
    std::fs::write(dir.path().join("users.csv"), "user,team\na,1\nb,2\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args([
            "run",
            "s.toml",
            "--distribute",
            "ecs",
            "--workers",
            "2",
            "--ecs-cluster",
            "c",
            "--s3-bucket",
            "Bad_Bucket",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--s3-bucket: \"Bad_Bucket\" is not an S3 bucket name"), "{}", text(&o.stderr));
    let o = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(["run", "s.toml", "--distribute", "ecs", "--workers", "2", "--ecs-cluster", "c"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--ecs-task-definition") && err.contains("--ecs-subnets") && err.contains("--s3-bucket"),
        "{err}"
    );
    assert!(!dir.path().join("herd-out/spread").exists(), "nothing is written before the settings are whole");
    // --dry-run lists the uploads and the tasks, makes none (no server is running here).
    let o = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(["run", "s.toml", "--dry-run", "--distribute", "ecs", "--workers", "2", "--ecs-cluster", "c"])
        .args(["--ecs-task-definition", "herd:3", "--ecs-subnets", "subnet-0abc", "--s3-bucket", "herd-runs"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(out.contains("s3:PutObject s3://herd-runs/herd/spread-<time>-<id>/input/s.toml"), "{out}");
    assert!(out.contains("s3:PutObject s3://herd-runs/herd/spread-<time>-<id>/input/users.csv"), "{out}");
    assert_eq!(out.matches("ecs:RunTask cluster=c taskDefinition=herd:3 launchType=FARGATE").count(), 2, "{out}");
    assert!(out.contains("\"--segment\",\"2/2\""), "{out}");
}

#[test]
fn generation_b_over_ecs_workers_finds_each_slices_listener_through_s3() {
    let aws = aws();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ecs, s3) = rt.block_on(clients(&aws));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("work")).unwrap();
    // Each slice starts a container of the reference system; a container may claim another
    // slice's pair (the claim queue and the ownership table are shared) and then calls back to
    // its own slice's listener with the other slice's task token, which is forwarded to the
    // address that slice left in S3.
    let toml = format!(
        r#"
name = "b-on-ecs"
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
count = 4
project = "ecsb-{{{{ i % 4 }}}}"
user = "u"
thread = "t-{{{{ i }}}}"

[[phases]]
executor = "constant-arrival-rate"
rate = "10/s"
duration = "2s"

[distribute.ecs]
cluster = "{CLUSTER}"
task_definition = "herd-worker"
subnets = ["{subnet}"]
security_groups = ["{sg}"]
bucket = "{BUCKET}"
lead = "5s"
"#,
        worker = common::moto::worker().display(),
        subnet = aws.subnet,
        sg = aws.sg,
    );
    std::fs::write(dir.path().join("work/b.toml"), toml).unwrap();
    let mut coord = herd(
        &aws,
        &dir.path().join("work"),
        &["run", "b.toml", "--distribute", "ecs", "--workers", "2", "--callback-listen", "127.0.0.1:0", "--out", "out"],
    )
    .spawn()
    .expect("the coordinator starts");
    let started = wait_for_tasks(&rt, &ecs, 2, &mut coord);
    let mut workers = Vec::new();
    for (i, t) in started.iter().enumerate() {
        assert!(t.command.iter().any(|a| a == "--start-at"), "a real-clock run starts together: {t:?}");
        workers.push(play(&aws, dir.path(), i + 1, t, &[]));
    }
    let mut logs = String::new();
    for w in workers {
        let o = wait_within(w, Duration::from_secs(300), "a worker");
        logs.push_str(&text(&o.stderr));
    }
    let o = wait_output(coord);
    let s = read_summary(&dir.path().join("work/out/b-on-ecs/summary.json"))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}\n{logs}", text(&o.stdout), text(&o.stderr)));
    let a = &s.accounting;
    assert_eq!((a.sent, a.replied, a.lost, a.unknown_replies), (20, 20, 0, 0), "{a:?}\n{logs}");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // Each slice left its listener's address in the run's folder.
    let keys: Vec<String> = rt.block_on(async {
        let out = s3.list_objects_v2().bucket(BUCKET).prefix("herd/").send().await.expect("ListObjectsV2");
        out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
    });
    for i in 1..=2 {
        assert!(keys.iter().any(|k| k.ends_with(&format!("/peers/slice-{i}.addr"))), "slice {i}: {keys:?}");
    }
}

#[test]
fn a_worker_that_refuses_its_slice_fails_the_run_while_its_task_still_runs() {
    let aws = aws();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ecs, _) = rt.block_on(clients(&aws));
    let dir = tempfile::tempdir().unwrap();
    write_scenario(dir.path(), &aws);
    let mut coord = herd(
        &aws,
        &dir.path().join("work"),
        &["run", "scenarios/spread.toml", "--distribute", "ecs", "--workers", "2", "--out", "out", "--quiet"],
    )
    .spawn()
    .expect("the coordinator starts");
    let started = wait_for_tasks(&rt, &ecs, 2, &mut coord);
    // Worker 1 runs its command with a value it must refuse (exit 2), and says so in S3; its
    // task is still RUNNING as far as ECS knows.
    let w = play(&aws, dir.path(), 1, &started[0], &["--set", "phases.load.rate=banana"]);
    let wo = wait_within(w, Duration::from_secs(120), "worker 1");
    assert_eq!(wo.status.code(), Some(2), "{}", text(&wo.stderr));
    let o = wait_output(coord);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("worker 1 of 2") && err.contains("refused its slice (exit 2)"), "{err}");
    assert!(err.contains(&started[0].arn), "{err}");
    let after = tasks(&rt, &ecs);
    for t in &started {
        let now = after.iter().find(|a| a.arn == t.arn).expect("task");
        assert_eq!(now.status, "STOPPED", "{now:?}");
        assert!(now.stopped_reason.contains("worker 1/2 failed"), "{now:?}");
    }
}
