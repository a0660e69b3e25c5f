//! Local containers as real containers behave, against moto with real worker processes
//! (examples/worker.rs): the load waits for readiness, herd learns the ids workers make up for
//! themselves, SIGTERM stops release ownership, and no worker outlives herd.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::moto::{herd, text, worker};
use herd::report::{RunSummary, read_summary};

static SERIAL: Mutex<()> = Mutex::new(());

fn run(dir: &Path, name: &str, toml: &str) -> (std::process::Output, RunSummary) {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, toml).expect("write scenario");
    let o = herd(dir, &["run", file.to_str().unwrap(), "--out", "out", "--quiet", "--callback-listen", "127.0.0.1:0"]);
    let s = read_summary(&dir.join("out").join(name).join("summary.json"))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", text(&o.stdout), text(&o.stderr)));
    (o, s)
}

/// A generation-B scenario on one project+user served by one local worker.
fn scenario_b(name: &str, project: &str, worker_args: &str, id: &str, extra: &str) -> String {
    format!(
        r#"
name = "{name}"
max_duration = "1m"
reply_timeout = "4s"
sample_interval = "1s"

[target]
kind = "aws"
preset = "webordinary-b"
allowed_accounts = ["123456789012"]
provision = true
timeouts = {{ settle = "1s" }}

[target.containers]
kind = "local"
command = ["{worker}", "--generation", "b", "--idle-exit-secs", "30"{worker_args}]
count = 1
id = '{id}'
grace = "5s"
env = {{ AWS_ENDPOINT_URL_SFN = "{{{{ callback_url }}}}", WORKSPACE_PATH = "{{{{ container.dir }}}}" }}

[[sessions]]
count = 1
project = "{project}"
user = "u"
thread = "t-0"

[[phases]]
executor = "constant-arrival-rate"
rate = "2/s"
duration = "5s"
{extra}
"#,
        worker = worker().display()
    )
}

const KILL_OWNER: &str = r#"
[[faults]]
at = "2500ms"
action = "kill-container"
owner_of = "t-0"
"#;

/// The load starts once the worker is ready, so a slow start shows in `container_start` and not
/// in the first messages' latency; the worker's output is kept in `containers/<id>.log`.
#[test]
fn the_load_waits_for_ready_workers_and_their_output_is_kept() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let toml = scenario_b("ready-wait", "rdy", r#", "--start-delay-ms", "2500""#, "env", "");
    let (o, s) = run(dir.path(), "ready-wait", &toml);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let metric = |name: &str| s.metrics.iter().find(|m| m.name == name && m.tag_key.is_none()).cloned();
    let start = metric("container_start").expect("container_start was measured");
    assert!(start.min.unwrap() >= 2_500_000.0, "the start-up is container_start: {start:?}");
    let latency = metric("message_latency").expect("latency");
    assert!(latency.max.unwrap() < 2_500_000.0, "no message waited for the start-up: max {:?} µs", latency.max);
    assert_eq!(s.accounting.replied, s.accounting.sent, "{:?}", s.accounting);
    assert_eq!(s.files, vec!["containers/local-0.log".to_owned()]);
    let log = std::fs::read_to_string(dir.path().join("out/ready-wait/containers/local-0.log")).unwrap();
    assert!(log.lines().any(|l| l == "ready"), "{log}");
    let md = std::fs::read_to_string(dir.path().join("out/ready-wait/report.md")).unwrap();
    assert!(md.contains("[containers/local-0.log](containers/local-0.log)"), "report.md links the log");
}

/// herd kills the owner of a session by the id the worker wrote to the ownership table, learned
/// each of the three ways; a worker that makes up its own id is not found when herd is told the
/// id comes from the environment, and the fault says why.
#[test]
fn owner_of_kills_find_the_worker_by_the_id_it_uses() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cases = [
        ("env", "", "killed local-0"),
        ("Container ID: (\\S+)", r#", "--own-id""#, "killed container-"),
        ("ownership", r#", "--own-id""#, "killed container-"),
    ];
    for (i, (id, args, expect)) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("owner-id-{i}");
        let (o, s) = run(dir.path(), &name, &scenario_b(&name, &format!("oid{i}"), args, id, KILL_OWNER));
        assert_ne!(o.status.code(), Some(3), "{}", text(&o.stderr));
        let fault = &s.faults[0];
        assert!(fault.detail.starts_with(expect), "id {id}: {}", fault.detail);
        assert_eq!(fault.containers.len(), 1, "id {id}: {fault:?}");
        if *expect != "killed local-0" {
            assert!(
                s.files.iter().any(|f| f.starts_with("containers/container-")),
                "the log is named after the learned id: {:?}",
                s.files
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, s) =
        run(dir.path(), "owner-id-wrong", &scenario_b("owner-id-wrong", "oidw", r#", "--own-id""#, "env", KILL_OWNER));
    let fault = &s.faults[0];
    assert!(fault.containers.is_empty(), "{fault:?}");
    assert!(fault.detail.contains("is none of herd's workers (local-0)"), "{}", fault.detail);
}

/// A stopped worker (SIGTERM) releases its ownership, so herd, playing the router, claims the
/// pair again and the replacement answers; a killed one (SIGKILL) leaves its row, no claim is
/// sent, and the messages after it are lost: the real router's weakness, reproduced.
#[test]
fn a_stopped_worker_releases_ownership_and_a_killed_one_does_not() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let stop = KILL_OWNER.replace("kill-container", "stop-container");
    let dir = tempfile::tempdir().unwrap();
    let (_, stopped) =
        run(dir.path(), "stop-releases", &scenario_b("stop-releases", "stp", r#", "--own-id""#, "ownership", &stop));
    let fault = &stopped.faults[0];
    assert!(
        fault.detail.starts_with("stopped container-") && fault.detail.contains("with SIGTERM"),
        "{}",
        fault.detail
    );
    assert!(!fault.detail.contains("SIGKILL"), "the worker exited within the grace: {}", fault.detail);
    assert!(stopped.accounting.claims_sent >= 2, "a new claim after the stop: {:?}", stopped.accounting);
    // The table shows it: the first worker's claim, its release, the replacement's claim.
    let changes: Vec<_> = stopped.ownership_changes.iter().map(|c| (c.from.is_some(), c.to.is_some())).collect();
    assert!(changes.len() >= 2 && changes[0] == (false, true), "{:?}", stopped.ownership_changes);
    assert!(stopped.accounting.claims_seen >= 2, "{:?}", stopped.accounting);
    let md = std::fs::read_to_string(dir.path().join("out/stop-releases/report.md")).unwrap();
    assert!(md.contains("### Ownership changes"), "{md}");
    // At most the message the worker held when it stopped is lost; the rest are answered by the
    // replacement.
    assert!(stopped.accounting.lost <= 1, "{:?}", stopped.accounting);
    let log = std::fs::read_dir(dir.path().join("out/stop-releases/containers"))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect::<String>();
    assert!(log.contains("SIGTERM: released 1 ownership row(s)"), "{log}");

    let dir = tempfile::tempdir().unwrap();
    let (_, killed) =
        run(dir.path(), "kill-keeps", &scenario_b("kill-keeps", "klk", r#", "--own-id""#, "ownership", KILL_OWNER));
    assert!(killed.faults[0].detail.starts_with("killed container-"), "{}", killed.faults[0].detail);
    assert_eq!(
        killed.accounting.claims_sent, 1,
        "no claim while the dead owner's row looks alive: {:?}",
        killed.accounting
    );
    assert!(killed.accounting.lost >= 3, "the messages after the kill are lost: {:?}", killed.accounting);
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        let Some(rest) = stat.rsplit_once(')').map(|r| r.1) else { continue };
        if rest.split_whitespace().nth(1).and_then(|v| v.parse::<u32>().ok()) == Some(pid) {
            out.push(p);
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(')').and_then(|r| r.1.split_whitespace().next()) != Some("Z"))
}

/// herd killed with SIGKILL (no clean-up of its own can run) still leaves no worker behind:
/// each worker has a parent-death signal.
#[test]
fn no_worker_outlives_herd_killed_with_sigkill() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let toml = scenario_b("orphans", "orph", "", "env", "")
        .replace("count = 1\nid", "count = 2\nid")
        .replace("\"5s\"\n\n[[", "\"5m\"\n\n[[");
    let file = dir.path().join("orphans.toml");
    std::fs::write(&file, toml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herd"));
    cmd.args(["run", file.to_str().unwrap(), "--out", "out", "--quiet"]).current_dir(dir.path());
    for (k, v) in common::moto::env() {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("herd starts");
    let started = Instant::now();
    let workers = loop {
        let w: Vec<u32> = children_of(child.id())
            .into_iter()
            .filter(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "worker"))
            .collect();
        if w.len() == 2
            && std::fs::read_to_string(dir.path().join("out/orphans/journal.jsonl"))
                .is_ok_and(|j| j.lines().count() >= 2)
        {
            break w;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the workers never started: {w:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    child.kill().expect("SIGKILL herd");
    child.wait().unwrap();
    let killed = Instant::now();
    while workers.iter().any(|p| alive(*p)) {
        assert!(killed.elapsed() < Duration::from_secs(10), "workers outlived herd: {workers:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // herd could not clean up after itself; the test does.
    common::moto::delete_queues_with_prefix("webordinary-");
}

/// With the real router's fix modelled (`claim_when_owner_dead`), herd releases the killed
/// owner's row and claims the pair again, and the replacement answers what follows.
#[test]
fn claim_when_owner_dead_claims_again_after_a_kill() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fix = format!("{KILL_OWNER}\n[target.router]\nclaim_when_owner_dead = true\n");
    let dir = tempfile::tempdir().unwrap();
    let (_, s) = run(dir.path(), "claim-dead", &scenario_b("claim-dead", "cld", r#", "--own-id""#, "ownership", &fix));
    assert!(s.faults[0].detail.starts_with("killed container-"), "{}", s.faults[0].detail);
    assert!(s.accounting.claims_sent >= 2, "claimed again after the kill: {:?}", s.accounting);
    assert!(s.accounting.lost <= 1, "only the message in hand at the kill is lost: {:?}", s.accounting);
}

/// As the real router does, a message for another thread of a busy project+user goes out after
/// an INTERRUPT for it: the worker sees every INTERRUPT no later than the work it announces.
#[test]
fn the_router_interrupts_a_busy_container_before_work_for_another_thread() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let toml =
        scenario_b("switch-interrupts", "swi", r#", "--processing-ms", "1200", "--watch-interrupts""#, "env", "")
            .replace("count = 1\nproject", "count = 2\nproject")
            .replace("thread = \"t-0\"", "thread = \"t-{{ i }}\"")
            .replace("reply_timeout = \"4s\"", "reply_timeout = \"30s\"");
    let dir = tempfile::tempdir().unwrap();
    let (o, s) = run(dir.path(), "switch-interrupts", &toml);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(s.accounting.interrupts_sent >= 3, "{:?}", s.accounting);
    assert_eq!(s.accounting.interrupts, 0, "the worker never reported PREEMPTED");
    let log = std::fs::read_to_string(dir.path().join("out/switch-interrupts/containers/local-0.log")).unwrap();
    let lines = |kind: &str| -> Vec<(String, u64)> {
        log.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(kind))
                    .then(|| (w.next().unwrap_or("").to_owned(), w.next().and_then(|t| t.parse().ok()).unwrap_or(0)))
            })
            .collect()
    };
    let (interrupts, work) = (lines("INTERRUPT"), lines("WORK"));
    assert_eq!(interrupts.len() as u64, s.accounting.interrupts_sent, "{log}");
    for (id, sent) in &interrupts {
        let (_, work_sent) =
            work.iter().find(|(w, _)| w == id).unwrap_or_else(|| panic!("no work {id} after its INTERRUPT:\n{log}"));
        assert!(work_sent >= sent, "work {id} went out at {work_sent}, before its INTERRUPT at {sent}");
    }
}

/// A worker that follows only its latest claim (as the real container does when it claims a
/// second project+user) strands the first pair's messages: its row still names the worker, so
/// no new claim is sent, and they are lost. A worker that follows every claim loses none.
#[test]
fn a_worker_that_follows_only_its_latest_claim_strands_the_first_pair() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let two_pairs = |name: &str, args: &str| {
        scenario_b(name, "flc", args, "env", "")
            .replace("count = 1\nproject = \"flc\"", "count = 2\nproject = \"flc-{{ i }}\"")
            .replace("thread = \"t-0\"", "thread = \"t-{{ i }}\"")
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, all) = run(dir.path(), "follow-all", &two_pairs("follow-all", ""));
    assert_eq!(all.accounting.lost, 0, "{:?}", all.accounting);
    let dir = tempfile::tempdir().unwrap();
    let (_, latest) = run(dir.path(), "follow-latest", &two_pairs("follow-latest", r#", "--follow-latest-claim""#));
    assert!(latest.accounting.lost >= 2, "the first pair's messages are stranded: {:?}", latest.accounting);
    assert_eq!(latest.accounting.claims_sent, 2, "one claim per pair, none again: {:?}", latest.accounting);
}

/// An ownership table that already exists with another key is refused before anything runs
/// (exit 3, naming both schemas), not used wrongly.
#[test]
fn a_table_with_another_key_schema_is_refused() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::moto::create_ownership_table("id");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("schema.toml");
    std::fs::write(&file, scenario_b("schema", "sch", "", "env", "")).unwrap();
    let o = herd(dir.path(), &["run", file.to_str().unwrap(), "--out", "out", "--quiet"]);
    common::moto::delete_queues_with_prefix("webordinary-");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(
            "table webordinary-container-ownership exists with key schema [id (HASH)]; herd needs [projectKey (HASH)]"
        ),
        "{}",
        text(&o.stderr)
    );
}
