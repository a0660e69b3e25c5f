//! The runtime seam against a real AWS-compatible server (moto) with the real SDK: latency is
//! stamped where a reply is seen, a server that stalls cannot hold a run past its limits, and
//! Ctrl-C works while it stalls.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herd::report::{RunSummary, read_summary};

static SERIAL: Mutex<()> = Mutex::new(());

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn herd_command(dir: &Path, args: &[&str], endpoint: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herd"));
    cmd.args(args).current_dir(dir);
    for (k, v) in common::moto::env() {
        cmd.env(k, v);
    }
    cmd.env("AWS_ENDPOINT_URL", endpoint);
    cmd
}

fn write_scenario(dir: &Path, name: &str, toml: &str) -> String {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, toml).expect("write scenario");
    file.to_string_lossy().into_owned()
}

fn summary(dir: &Path, name: &str) -> RunSummary {
    read_summary(&dir.join("out").join(name).join("summary.json")).expect("the run wrote its summary")
}

fn p50_us(s: &RunSummary, metric: &str) -> f64 {
    s.metrics
        .iter()
        .find(|m| m.name == metric && m.tag_key.is_none())
        .and_then(|m| m.p50)
        .unwrap_or_else(|| panic!("{metric} has no p50"))
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue().queue_name(name).send().await.expect("CreateQueue").queue_url.expect("a queue URL")
}

/// A worker that answers every work message on `work` with a success on `reply` after `delay`,
/// one message at a time, until `stop`.
async fn echo_worker(sqs: aws_sdk_sqs::Client, work: String, reply: String, delay: Duration, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(out) =
            sqs.receive_message().queue_url(&work).max_number_of_messages(10).wait_time_seconds(1).send().await
        else {
            continue;
        };
        for m in out.messages() {
            let body: serde_json::Value = serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or_default();
            let id = body.get("commandId").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            tokio::time::sleep(delay).await;
            let answer = serde_json::json!({ "commandId": id, "success": true }).to_string();
            let _ = sqs.send_message().queue_url(&reply).message_body(answer).send().await;
            if let Some(h) = m.receipt_handle() {
                let _ = sqs.delete_message().queue_url(&work).receipt_handle(h).send().await;
            }
        }
    }
}

/// The round trip a plain SDK client sees through the same kind of pipeline (send, the worker's
/// delay, a long poll for the reply), `n` times, `gap` apart; the median, microseconds.
async fn plain_client_p50(sqs: aws_sdk_sqs::Client, work: String, reply: String, n: usize, gap: Duration) -> f64 {
    let mut trips = Vec::new();
    for i in 0..n {
        let id = format!("plain-{i}");
        let body = serde_json::json!({ "commandId": id, "success": true }).to_string();
        let t0 = Instant::now();
        sqs.send_message().queue_url(&work).message_body(body).send().await.expect("SendMessage");
        'wait: loop {
            let out = sqs
                .receive_message()
                .queue_url(&reply)
                .max_number_of_messages(10)
                .wait_time_seconds(2)
                .send()
                .await
                .expect("ReceiveMessage");
            let seen = Instant::now();
            for m in out.messages() {
                if let Some(h) = m.receipt_handle() {
                    let _ = sqs.delete_message().queue_url(&reply).receipt_handle(h).send().await;
                }
                if m.body().is_some_and(|b| b.contains(&id)) {
                    trips.push(seen.duration_since(t0).as_micros() as f64);
                    break 'wait;
                }
            }
        }
        tokio::time::sleep(gap).await;
    }
    trips.sort_by(f64::total_cmp);
    trips[trips.len() / 2]
}

/// herd's `message_latency` against a worker that answers after a known delay: its median must
/// be the delay plus the server's own round trip, measured at the same time by a plain SDK
/// client through an identical pipeline. Nothing of herd's own (a polling interval, a loop
/// waiting on the server) may be added.
#[test]
fn message_latency_is_the_true_delay_plus_the_servers_round_trip() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for (delay_ms, tag) in [(5u64, "d5"), (50, "d50")] {
        let delay = Duration::from_millis(delay_ms);
        let mut best = f64::MAX;
        let mut seen = Vec::new();
        // The machine is shared: a burst of noise can move one median by a few milliseconds. The
        // design's guarantee (no engine delay) must show in one of three rounds; a systematic
        // delay (the old 100 ms polling added 50 ms to the median) shows in all of them.
        for round in 0..3 {
            let name = format!("seam-lat-{tag}-{round}");
            let rt = rt();
            let sqs = rt.block_on(async { aws_sdk_sqs::Client::new(&common::moto::sdk_config().await) });
            let (herd_work, herd_reply, plain_work, plain_reply) = rt.block_on(async {
                (
                    create_queue(&sqs, &format!("{name}-work")).await,
                    create_queue(&sqs, &format!("{name}-reply")).await,
                    create_queue(&sqs, &format!("{name}-pwork")).await,
                    create_queue(&sqs, &format!("{name}-preply")).await,
                )
            });
            let stop = Arc::new(AtomicBool::new(false));
            rt.spawn(echo_worker(sqs.clone(), herd_work.clone(), herd_reply.clone(), delay, stop.clone()));
            rt.spawn(echo_worker(sqs.clone(), plain_work.clone(), plain_reply.clone(), delay, stop.clone()));
            let dir = tempfile::tempdir().unwrap();
            let toml = format!(
                r#"
name = "{name}"
max_duration = "1m"
reply_timeout = "10s"
sample_interval = "1s"

[target]
kind = "aws"
allowed_accounts = ["123456789012"]
provision = false
# No listening after the last answer: the replies still held for a shared delete when the run
# ends must be deleted by the clean-up itself.
timeouts = {{ settle = "0s" }}
work = {{ queue = "{herd_work}", body = '{{"commandId": "{{{{ message.id }}}}"}}' }}
reply = {{ kind = "sqs", queue = "{herd_reply}", match_pointer = "/commandId", success_pointer = "/success", wait_time = "2s" }}

[[sessions]]
count = 1

[[phases]]
executor = "constant-arrival-rate"
rate = "8/s"
duration = "5s"
"#
            );
            let file = write_scenario(dir.path(), &name, &toml);
            let herd = std::thread::spawn({
                let dir = dir.path().to_path_buf();
                move || {
                    herd_command(&dir, &["run", &file, "--out", "out", "--quiet"], common::moto::endpoint())
                        .output()
                        .expect("herd runs")
                }
            });
            let plain =
                rt.block_on(plain_client_p50(sqs.clone(), plain_work, plain_reply, 40, Duration::from_millis(125)));
            let o: Output = herd.join().expect("herd thread");
            stop.store(true, Ordering::Relaxed);
            assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
            let s = summary(dir.path(), &name);
            assert_eq!(s.accounting.replied, s.accounting.sent, "every message answered: {:?}", s.accounting);
            // herd deletes every reply it read, those still held for a shared DeleteMessageBatch
            // when the run ended included: none is left in the queue, visible or in flight.
            assert_eq!(rt.block_on(messages_left(&sqs, &herd_reply)), 0, "replies left in {herd_reply}");
            let herd_p50 = p50_us(&s, "message_latency");
            assert!(plain >= delay.as_micros() as f64, "the plain client's round trip {plain} µs includes the delay");
            // Within 2 ms, or within 15 % of the plain client's own p50 when the shared machine
            // makes the server slow (its round trip then swings by several milliseconds between
            // two clients measured side by side); an engine delay (the old polling added 50 ms)
            // is caught either way.
            let diff = (herd_p50 - plain).abs() - (plain * 0.15 - 2_000.0).max(0.0);
            seen.push(format!(
                "round {round}: herd p50 {:.1} ms, plain client p50 {:.1} ms",
                herd_p50 / 1e3,
                plain / 1e3
            ));
            // A hard bound every round: no engine delay of the old polling's size.
            assert!(diff < 20_000.0, "delay {delay_ms} ms: {}", seen.join("; "));
            best = best.min(diff);
            rt.block_on(async {
                for q in [&herd_work, &herd_reply] {
                    let _ = sqs.delete_queue().queue_url(q).send().await;
                }
            });
            if best <= 2_000.0 {
                break;
            }
        }
        eprintln!("delay {delay_ms} ms: {}", seen.join("; "));
        assert!(
            best <= 2_000.0,
            "delay {delay_ms} ms: herd's p50 is not within 2 ms (or 15 %) of the plain client's: {}",
            seen.join("; ")
        );
    }
}

/// Messages in a queue, visible or received and not yet deleted.
async fn messages_left(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("GetQueueAttributes");
    let attrs = out.attributes().cloned().unwrap_or_default();
    [A::ApproximateNumberOfMessages, A::ApproximateNumberOfMessagesNotVisible]
        .iter()
        .map(|a| attrs.get(a).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
        .sum()
}

/// A TCP server that accepts connections and never answers.
fn black_hole() -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = Arc::new(AtomicBool::new(false));
    listener.set_nonblocking(true).expect("nonblocking");
    let done = stop.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        let started = Instant::now();
        while !done.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(120) {
            match listener.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    (format!("http://{addr}"), stop)
}

/// A TCP proxy in front of moto that can be paused: while paused, no byte moves either way and
/// new connections wait, as a server that has stopped answering.
struct Proxy {
    endpoint: String,
    paused: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

fn pump(mut from: TcpStream, mut to: TcpStream, paused: Arc<AtomicBool>, stop: Arc<AtomicBool>) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) {
        if paused.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
}

fn proxy(upstream: &str) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let paused = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    listener.set_nonblocking(true).expect("nonblocking");
    let (p, s) = (paused.clone(), stop.clone());
    std::thread::spawn(move || {
        let started = Instant::now();
        while !s.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(180) {
            let Ok((client, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let _ = client.set_nonblocking(false);
            let Ok(server) = TcpStream::connect(&upstream) else { continue };
            let (c2, s2) = (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
            std::thread::spawn({
                let (p, s) = (p.clone(), s.clone());
                move || pump(client, server, p, s)
            });
            std::thread::spawn({
                let (p, s) = (p.clone(), s.clone());
                move || pump(s2, c2, p, s)
            });
        }
    });
    Proxy { endpoint, paused, stop }
}

fn stall_scenario(name: &str, endpoint: &str) -> String {
    format!(
        r#"
name = "{name}"
max_duration = "8s"
reply_timeout = "3s"
sample_interval = "1s"

[target]
kind = "aws"
endpoint_url = "{endpoint}"
allowed_accounts = ["123456789012"]
provision = true
work = {{ queue = "{name}-work", body = '{{"commandId": "{{{{ message.id }}}}"}}' }}
reply = {{ kind = "sqs", queue = "{name}-reply", match_pointer = "/commandId", success_pointer = "/success", wait_time = "1s" }}
timeouts = {{ operation = "2s", attempt = "1s", cleanup = "3s" }}

[[sessions]]
count = 2

[[phases]]
executor = "constant-arrival-rate"
rate = "5/s"
duration = "1m"

[thresholds]
messages_lost = ["count == 0"]
"#
    )
}

/// Starts a run through a pausable proxy and, once it has written its first sample (it is set up
/// and sending), stops the server.
fn stalled_run(name: &str, max_duration: &str) -> (Proxy, tempfile::TempDir, std::process::Child) {
    let proxy = proxy(common::moto::endpoint());
    let dir = tempfile::tempdir().unwrap();
    let toml = stall_scenario(name, &proxy.endpoint).replace("\"8s\"", &format!("\"{max_duration}\""));
    let file = write_scenario(dir.path(), name, &toml);
    let started = Instant::now();
    let child = herd_command(dir.path(), &["run", &file, "--out", "out", "--quiet"], &proxy.endpoint)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("herd starts");
    let journal = dir.path().join("out").join(name).join("journal.jsonl");
    while !std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("{\"type\":\"sample\"")) {
        assert!(started.elapsed() < Duration::from_secs(30), "the run never started sampling");
        std::thread::sleep(Duration::from_millis(50));
    }
    proxy.paused.store(true, Ordering::Relaxed);
    (proxy, dir, child)
}

/// A server that accepts connections and never answers: setup gives up after the operation
/// timeout with exit 3, instead of hanging.
#[test]
fn a_server_that_never_answers_fails_setup_within_the_call_timeout() {
    let (endpoint, stop) = black_hole();
    let dir = tempfile::tempdir().unwrap();
    let file = write_scenario(dir.path(), "seam-black-hole", &stall_scenario("seam-black-hole", &endpoint));
    let started = Instant::now();
    let o = herd_command(dir.path(), &["run", &file, "--out", "out", "--quiet"], &endpoint).output().expect("herd");
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("GetCallerIdentity"), "{}", text(&o.stderr));
    // One call of at most `operation` (2 s), plus the process's own start-up.
    assert!(took < Duration::from_secs(15), "setup took {took:?}");
}

/// The server stops answering mid-run and never comes back: the run still ends at
/// `max_duration`, the clean-up gives up at its deadline and names what it left, and the summary
/// says what happened.
#[test]
fn a_server_that_stalls_mid_run_cannot_hold_the_run_past_its_limits() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let name = "seam-stall";
    let (proxy, dir, child) = stalled_run(name, "8s");
    let run_started = Instant::now();
    let o = child.wait_with_output().expect("herd exits");
    let took = run_started.elapsed();
    proxy.stop.store(true, Ordering::Relaxed);
    common::moto::delete_queues_with_prefix(name);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    // At most the rest of max_duration (8 s) plus the clean-up deadline (3 s), and slack for a
    // busy machine: far from "for ever".
    assert!(took < Duration::from_secs(20), "the run took {took:?} after the server stalled");
    let s = summary(dir.path(), name);
    assert_eq!(s.end_reason, herd::runtime::EndReason::MaxDuration);
    assert!(s.accounting.sent > 0);
    assert!(s.accounting.lost > 0, "messages sent into the stall are lost: {:?}", s.accounting);
    assert!(
        s.cleanup_failures.iter().any(|f| f.contains(&format!("{name}-work")) && f.contains("not deleted")),
        "the summary names the queue it could not delete: {:?}",
        s.cleanup_failures
    );
    let md = std::fs::read_to_string(dir.path().join("out").join(name).join("report.md")).expect("report.md");
    assert!(md.contains("clean-up:"), "report.md shows the clean-up failure");
}

/// Ctrl-C while the server is stalled still ends the run promptly, with its summary.
#[test]
fn ctrl_c_works_while_the_server_is_stalled() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let name = "seam-stall-ctrl-c";
    let (proxy, dir, child) = stalled_run(name, "5m");
    std::thread::sleep(Duration::from_secs(2));
    let pressed = Instant::now();
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let o = child.wait_with_output().expect("herd exits");
    let took = pressed.elapsed();
    proxy.stop.store(true, Ordering::Relaxed);
    common::moto::delete_queues_with_prefix(name);
    assert_eq!(o.status.code(), Some(130), "{}", text(&o.stderr));
    // The grace for in-flight replies (5 s) plus the clean-up deadline (3 s), and slack.
    assert!(took < Duration::from_secs(16), "Ctrl-C took {took:?} to end the run");
    let s = summary(dir.path(), name);
    assert_eq!(s.verdict, herd::report::Verdict::Interrupted);
    assert!(!s.cleanup_failures.is_empty(), "the stalled clean-up is reported");
}

/// The Step Functions listener cannot be used to exhaust herd: a body over 256 KiB gets 413,
/// connections beyond its cap (`max_connections`, 16 here) are closed at once instead of holding
/// file descriptors, and one that sends nothing is closed after `read_timeout` (1 s here).
#[test]
fn the_callback_listener_limits_bodies_and_connections() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
    let dir = tempfile::tempdir().unwrap();
    let toml = r#"
name = "seam-listener"
max_duration = "1m"
reply_timeout = "50s"
[target]
kind = "aws"
preset = "webordinary-b"
allowed_accounts = ["123456789012"]
provision = true
reply = { kind = "step-functions-callback", max_connections = 16, read_timeout = "1s" }
[[sessions]]
project = "seam-listener"
[[phases]]
executor = "burst"
count = 1
"#;
    let file = write_scenario(dir.path(), "seam-listener", toml);
    let listen = format!("127.0.0.1:{port}");
    let child = herd_command(
        dir.path(),
        &["run", &file, "--out", "out", "--quiet", "--callback-listen", &listen],
        common::moto::endpoint(),
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("herd starts");
    let started = Instant::now();
    while TcpStream::connect(&listen).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "the listener never opened");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A body over the limit.
    let mut s = TcpStream::connect(&listen).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = format!("{{\"taskToken\": \"t\", \"output\": \"{}\"}}", "x".repeat(300 * 1024));
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {listen}\r\nX-Amz-Target: AWSStepFunctions.SendTaskSuccess\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body.as_bytes());
    let mut answer = [0u8; 64];
    let n = s.read(&mut answer).unwrap_or(0);
    assert!(
        String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
    // 40 connections that send nothing: those beyond the cap of 16 are closed at once, and the
    // rest once they have sent no headers for `read_timeout`. The default of 10 s would keep them
    // open past the 8 s this waits, however busy the machine is.
    let idle: Vec<TcpStream> = (0..40).filter_map(|_| TcpStream::connect(&listen).ok()).collect();
    assert_eq!(idle.len(), 40);
    let opened = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    // Closed means end of stream (after whatever the server said last); a read that times out
    // means still open.
    let is_closed = |c: &TcpStream| {
        let _ = c.set_read_timeout(Some(Duration::from_millis(20)));
        loop {
            match (&*c).read(&mut [0u8; 256]) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
            }
        }
    };
    let closed_at_once = idle.iter().filter(|c| is_closed(c)).count();
    assert!(closed_at_once >= 40 - 16, "only {closed_at_once} of 40 idle connections were closed at once");
    while !idle.iter().all(is_closed) {
        assert!(opened.elapsed() < Duration::from_secs(8), "idle connections outlived the 1 s read timeout");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(idle);
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let o = child.wait_with_output().expect("herd exits");
    assert_eq!(o.status.code(), Some(130), "{}", text(&o.stderr));
    common::moto::delete_queues_with_prefix("webordinary-");
}

/// A second Ctrl-C skips the wait for in-flight replies but never the clean-up: the run ends at
/// once, with its summary, and what it provisioned is deleted.
#[test]
fn a_second_ctrl_c_skips_the_wait_but_not_the_clean_up() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let name = "seam-twice";
    let toml = r#"
name = "seam-twice"
max_duration = "5m"
reply_timeout = "1m"
sample_interval = "1s"
[target]
kind = "aws"
preset = "webordinary-a"
allowed_accounts = ["123456789012"]
provision = true
[[sessions]]
project = "seam-twice"
[[phases]]
executor = "constant-arrival-rate"
rate = "5/s"
duration = "5m"
"#;
    let file = write_scenario(dir.path(), name, toml);
    let child = herd_command(dir.path(), &["run", &file, "--out", "out", "--quiet"], common::moto::endpoint())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("herd starts");
    let started = Instant::now();
    let journal = dir.path().join("out").join(name).join("journal.jsonl");
    while !std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("{\"type\":\"sample\"")) {
        assert!(started.elapsed() < Duration::from_secs(30), "the run never started sampling");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    let second = Instant::now();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let o = child.wait_with_output().expect("herd exits");
    let took = second.elapsed();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o.stderr));
    // Nothing answers in this run: without the second Ctrl-C it would wait the 5 s grace.
    assert!(took < Duration::from_secs(4), "the second Ctrl-C still waited: {took:?}");
    let s = summary(dir.path(), name);
    assert_eq!(s.verdict, herd::report::Verdict::Interrupted);
    assert!(s.accounting.sent > 0 && s.accounting.lost == s.accounting.sent, "{:?}", s.accounting);
    let left = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let sqs = aws_sdk_sqs::Client::new(&common::moto::sdk_config().await);
        sqs.list_queues().queue_name_prefix("webordinary-input-seam-twice").send().await.ok().and_then(|o| o.queue_urls)
    });
    assert!(left.unwrap_or_default().is_empty(), "the queues were deleted");
}

/// A message the system refuses (here: longer than the work queue's `MaximumMessageSize`) never
/// reached it: it is a send error with the server's reason, never a lost message; a phase whose
/// every send failed proved nothing and fails the run.
#[test]
fn refused_sends_are_send_errors_not_lost_messages() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let name = "seam-send-errors";
    let rt = rt();
    let sqs = rt.block_on(async { aws_sdk_sqs::Client::new(&common::moto::sdk_config().await) });
    let (work, reply) = rt.block_on(async {
        let work = sqs
            .create_queue()
            .queue_name(format!("{name}-work"))
            .attributes(aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize, "1024")
            .send()
            .await
            .expect("CreateQueue")
            .queue_url
            .expect("a queue URL");
        (work, create_queue(&sqs, &format!("{name}-reply")).await)
    });
    let stop = Arc::new(AtomicBool::new(false));
    rt.spawn(echo_worker(sqs.clone(), work.clone(), reply.clone(), Duration::ZERO, stop.clone()));
    let dir = tempfile::tempdir().unwrap();
    // Odd messages of `mixed` and every message of `big` carry 2,000 bytes of padding.
    let toml = format!(
        r#"
name = "{name}"
max_duration = "1m"
reply_timeout = "10s"
sample_interval = "1s"

[target]
kind = "aws"
allowed_accounts = ["123456789012"]
provision = false
work = {{ queue = "{work}", body = '{{"commandId": "{{{{ message.id }}}}", "pad": "{{{{ "x" * 2000 if phase.name == "big" or message.seq % 2 == 1 else "" }}}}"}}' }}
reply = {{ kind = "sqs", queue = "{reply}", match_pointer = "/commandId", success_pointer = "/success", wait_time = "1s" }}

[[sessions]]
count = 1

[[phases]]
name = "mixed"
executor = "per-session-iterations"
iterations = 6

[[phases]]
name = "big"
executor = "burst"
count = 3
"#
    );
    let file = write_scenario(dir.path(), name, &toml);
    let o = herd_command(dir.path(), &["run", &file, "--out", "out", "--quiet"], common::moto::endpoint())
        .output()
        .expect("herd runs");
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for q in [&work, &reply] {
            let _ = sqs.delete_queue().queue_url(q).send().await;
        }
    });
    let s = summary(dir.path(), name);
    let a = &s.accounting;
    assert_eq!(o.status.code(), Some(1), "the run proved nothing for `big`: {a:?} {:?} {:?}", s.phases, s.failures);
    // One session, one message at a time: 3 small ones sent and answered, 3 big ones refused,
    // then the burst of 3 big ones refused. A refused message was never sent.
    assert_eq!(a.sent, 3, "{a:?}");
    assert_eq!(a.replied, 3, "{a:?}");
    assert_eq!(a.send_errors, 6, "{a:?}");
    assert_eq!(a.lost, 0, "a refused send is not a lost message: {a:?}");
    let first = s.first_send_error.as_deref().unwrap_or_default();
    assert!(first.contains("Message must be shorter than 1024 bytes"), "{first}");
    assert!(s.warnings().iter().any(|w| w.contains("6 messages could not be sent")), "{:?}", s.warnings());
    assert_eq!(s.failures.first().map(String::as_str), Some("phase `big` sent nothing: all 3 of its sends failed"));
    let m = s.metrics.iter().find(|m| m.name == "send_errors" && m.tag_key.is_none()).expect("send_errors");
    assert_eq!(m.count, 6);
}

/// The aws target's body template sees what message templates see: the message's row of its
/// data file (`message.data.*`) and the session's iteration; the work queue's depth is split by
/// session group.
#[test]
fn aws_bodies_carry_message_data_and_iterations_and_queue_depth_splits_by_group() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let name = "seam-body-data";
    let rt = rt();
    let sqs = rt.block_on(async { aws_sdk_sqs::Client::new(&common::moto::sdk_config().await) });
    let (work, reply) = rt.block_on(async {
        (create_queue(&sqs, &format!("{name}-work")).await, create_queue(&sqs, &format!("{name}-reply")).await)
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pages.csv"), "page,size\nhome,1\nabout,2\ncontact,3\n").unwrap();
    // Nobody answers: the messages stay in the work queue for the test to read.
    let toml = format!(
        r#"
name = "{name}"
max_duration = "1m"
reply_timeout = "2s"
sample_interval = "500ms"

[target]
kind = "aws"
allowed_accounts = ["123456789012"]
provision = false
work = {{ queue = "{work}", body = '{{"commandId": "{{{{ message.id }}}}", "thread": "{{{{ session.thread }}}}", "page": "{{{{ message.data.page }}}}", "size": {{{{ message.data.size }}}}, "iteration": {{{{ message.iteration }}}}}}' }}
reply = {{ kind = "sqs", queue = "{reply}", match_pointer = "/commandId", success_pointer = "/success", wait_time = "1s" }}

[[sessions]]
name = "a"
thread = "a-{{{{ i }}}}"

[[sessions]]
name = "b"
thread = "b-{{{{ i }}}}"

[[phases]]
name = "pages"
executor = "burst"
sessions = ["a"]
count = 3
allow_empty = true
message = {{ from = "pages.csv", order = "per-session" }}
"#
    );
    let file = write_scenario(dir.path(), name, &toml);
    let o = herd_command(dir.path(), &["run", &file, "--out", "out", "--quiet"], common::moto::endpoint())
        .output()
        .expect("herd runs");
    let bodies: Vec<serde_json::Value> = rt.block_on(async {
        let mut out = Vec::new();
        for _ in 0..5 {
            let got =
                sqs.receive_message().queue_url(&work).max_number_of_messages(10).send().await.expect("ReceiveMessage");
            out.extend(got.messages().iter().map(|m| serde_json::from_str(m.body().unwrap_or("null")).unwrap()));
            if out.len() >= 3 {
                break;
            }
        }
        for q in [&work, &reply] {
            let _ = sqs.delete_queue().queue_url(q).send().await;
        }
        out
    });
    assert_ne!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let mut seen: Vec<(i64, String, i64)> = bodies
        .iter()
        .map(|b| {
            (b["iteration"].as_i64().unwrap(), b["page"].as_str().unwrap().to_owned(), b["size"].as_i64().unwrap())
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [(0, "home".to_owned(), 1), (1, "about".to_owned(), 2), (2, "contact".to_owned(), 3)],
        "{bodies:?}"
    );
    let s = summary(dir.path(), name);
    let depth = |group: &str| {
        s.metrics
            .iter()
            .find(|m| m.name == "queue_depth" && m.tag_value.as_deref() == Some(group))
            .and_then(|m| m.max)
            .unwrap_or_else(|| panic!("no queue_depth{{group={group}}}: {:?}", s.metrics))
    };
    // Both groups' sessions use the one work queue, so each group sees its whole depth.
    assert!(depth("a") >= 3.0 && depth("b") >= 3.0, "{} {}", depth("a"), depth("b"));
}

/// `messages_sent` is what the server acknowledged. A run that ends while herd's senders still
/// hold a backlog (here: a rate far above what the local server takes, cut by `max_duration`)
/// counts the backlog as never acknowledged, in `send_errors`, not as sent and lost; the server
/// holds at least every message herd says it sent, and at most those plus the unacknowledged.
#[test]
fn messages_sent_are_the_ones_the_server_acknowledged_and_a_backlog_is_counted_apart() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let name = "seam-acknowledged";
    let rt = rt();
    let sqs = rt.block_on(async { aws_sdk_sqs::Client::new(&common::moto::sdk_config().await) });
    let (work, reply) = rt.block_on(async {
        (create_queue(&sqs, &format!("{name}-work")).await, create_queue(&sqs, &format!("{name}-reply")).await)
    });
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"
name = "{name}"
max_duration = "2s"
reply_timeout = "1m"
sample_interval = "500ms"

[target]
kind = "aws"
allowed_accounts = ["123456789012"]
provision = false
timeouts = {{ settle = "0s" }}
work = {{ queue = "{work}", body = '{{"commandId": "{{{{ message.id }}}}"}}' }}
reply = {{ kind = "sqs", queue = "{reply}", match_pointer = "/commandId", success_pointer = "/success", wait_time = "1s" }}

[[sessions]]
count = 1

[[phases]]
executor = "constant-arrival-rate"
rate = "5000/s"
duration = "10s"
max_in_flight = 100000
"#
    );
    let file = write_scenario(dir.path(), name, &toml);
    let o = herd_command(dir.path(), &["run", &file, "--out", "out", "--quiet"], common::moto::endpoint())
        .output()
        .expect("herd runs");
    let held = rt.block_on(async {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&work)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .expect("GetQueueAttributes");
        let n = attrs
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|v| v.parse::<u64>().ok())
            .expect("a depth");
        for q in [&work, &reply] {
            let _ = sqs.delete_queue().queue_url(q).send().await;
        }
        n
    });
    assert_ne!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let s = summary(dir.path(), name);
    let a = &s.accounting;
    common::assert_accounting(&s);
    assert!(a.sent > 0, "{a:?}");
    assert_eq!(a.lost, a.sent, "nothing answers, so every message sent is lost: {a:?}");
    assert_eq!(a.send_errors, a.unconfirmed, "nothing was refused: {a:?}");
    assert!(held >= a.sent && held <= a.sent + a.unconfirmed, "the server holds {held}; herd says {a:?}");
}

#[path = "../benches/support/fake_sqs.rs"]
#[expect(dead_code, reason = "the benchmarks use more of the fake server than this test")]
mod fake_sqs;

/// `work.batch` caps the messages in one send call: with 1 every message is its own
/// `SendMessage`; by default messages due together share a `SendMessageBatch`. Counted by a fake
/// SQS server that says which calls it served (the local AWS-compatible server does not).
#[test]
fn work_batch_sets_the_most_messages_per_send_call() {
    let rt = rt();
    let calls = |batch: &str| {
        let server = fake_sqs::FakeSqs::new(Some(Duration::ZERO));
        let addr = rt.block_on(server.clone().serve());
        let endpoint = format!("http://{addr}");
        let dir = tempfile::tempdir().unwrap();
        let toml = format!(
            r#"
name = "seam-batch"
max_duration = "1m"
reply_timeout = "10s"

[target]
kind = "aws"
allowed_accounts = ["123456789012"]
provision = false
work = {{ queue = "{endpoint}/000000000000/b-work", body = '{{"commandId": "{{{{ message.id }}}}"}}'{batch} }}
reply = {{ kind = "sqs", queue = "{endpoint}/000000000000/b-reply", match_pointer = "/commandId", success_pointer = "/success", wait_time = "1s" }}

[[sessions]]
count = 1

[[phases]]
executor = "burst"
count = 200
"#
        );
        let file = write_scenario(dir.path(), "seam-batch", &toml);
        let o = herd_command(dir.path(), &["run", &file, "--out", "out", "--quiet"], &endpoint)
            .output()
            .expect("herd runs");
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let s = summary(dir.path(), "seam-batch");
        assert_eq!((s.accounting.sent, s.accounting.replied), (200, 200), "{:?}", s.accounting);
        let c = &server.counts;
        (c.send_calls.load(Ordering::Relaxed), c.batch_calls.load(Ordering::Relaxed))
    };
    // By default no call carries more than 10 (how many go together depends on how fast the
    // calls come back, so only the bound is certain).
    let (single, batches) = calls("");
    assert!(single + batches >= 20, "{single} SendMessage, {batches} SendMessageBatch");
    assert_eq!(calls(", batch = 1"), (200, 0), "with batch = 1 every message is its own SendMessage");
}
