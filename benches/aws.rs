//! herd against a fake SQS server on 127.0.0.1: herd's real SQS path (its own data-plane client,
//! and the SDK for the rest), with the server pinned to one core and herd to the other, so the
//! figures are herd's own. Each case runs three times; the
//! report gives the median and the spread (min to max), as a Markdown table and as JSON in
//! `target/herd-bench/`.
//!
//! Run with `cargo bench --bench aws` (or `-- --quick` for one run per case and shorter phases;
//! a word after `--` runs only the cases whose name holds it; `HERD_BENCH_PERF=perf.data`
//! records herd's profile with `perf record`, with call graphs when `HERD_BENCH_PERF_GRAPH=1`;
//! `HERD_BENCH_ONCE=1` measures each case once).

#[path = "support/fake_sqs.rs"]
mod fake_sqs;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_sqs::FakeSqs;
use herd::report::{RunSummary, read_summary};

/// What one run of a case measured.
#[derive(Debug, Clone, Default)]
struct Measured {
    /// (name, value, unit) in the order they are reported.
    values: Vec<(&'static str, f64, &'static str)>,
}

impl Measured {
    fn push(&mut self, name: &'static str, value: f64, unit: &'static str) {
        self.values.push((name, value, unit));
    }
}

/// How herd's process did: wall time, CPU time and peak RSS.
struct Usage {
    /// When herd was started.
    started: Instant,
    wall: Duration,
    cpu: Duration,
    max_rss_kib: u64,
    status: i32,
    /// (seconds since the start, resident KiB), about once a second.
    rss: Vec<(f64, u64)>,
}

/// Pins the calling thread to `cpu` when the machine has it.
fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and sched_setaffinity only read
    // and write that set, and pid 0 means the calling thread.
    #[expect(unsafe_code, reason = "pinning needs sched_setaffinity(2)")]
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs herd on `scenario` pinned to CPU 0 against `endpoint`; waits for it with wait4(2) to
/// learn its CPU time and peak RSS.
fn run_herd(dir: &Path, scenario: &str, endpoint: &str) -> Usage {
    run_herd_with(dir, scenario, endpoint, &[])
}

/// [`run_herd`] with more arguments for `herd run` (the CPU time includes its workers', which
/// it waits for).
#[expect(clippy::zombie_processes, reason = "wait4(2) reaps the child, for its CPU time and peak RSS")]
fn run_herd_with(dir: &Path, scenario: &str, endpoint: &str, extra: &[&str]) -> Usage {
    let file = dir.join("bench.toml");
    std::fs::write(&file, scenario).expect("write the scenario");
    // HERD_BENCH_PERF=<file> records herd's profile with perf (`perf report -i <file>`).
    let mut cmd = match std::env::var("HERD_BENCH_PERF") {
        Ok(data) => {
            let mut c = Command::new("perf");
            c.args(["record", "-F", "1999", "-o", &data]);
            // HERD_BENCH_PERF_GRAPH=1 records call graphs too.
            if std::env::var_os("HERD_BENCH_PERF_GRAPH").is_some() {
                c.args(["--call-graph", "dwarf"]);
            }
            c.arg("--");
            c.arg(env!("CARGO_BIN_EXE_herd"));
            c
        }
        Err(_) => Command::new(env!("CARGO_BIN_EXE_herd")),
    };
    cmd.args(["run", file.to_str().expect("a UTF-8 path"), "--out", "out", "--quiet"])
        .args(extra)
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit());
    if cpus() > 1 {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the child between fork and exec and only calls
        // sched_setaffinity(2), which is async-signal-safe; it allocates nothing.
        #[expect(unsafe_code, reason = "pinning the child needs sched_setaffinity(2) before exec")]
        unsafe {
            cmd.pre_exec(|| {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(0, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                Ok(())
            });
        }
    }
    let start = Instant::now();
    let child = cmd.spawn().expect("herd starts");
    // herd's resident memory every second (HERD_BENCH_RSS=1 also prints it), to see growth over
    // time, and its high-water mark every 100 ms: wait4(2)'s ru_maxrss cannot be used for the
    // peak, since Linux carries the parent's high-water mark across fork and exec (this bench
    // process grows as its fake server keeps every message's truth). The thread ends when herd's
    // /proc entry is gone.
    let rss = Arc::new(std::sync::Mutex::new((Vec::new(), 0u64)));
    let sampler = {
        let (pid, rss, print) = (child.id(), rss.clone(), std::env::var_os("HERD_BENCH_RSS").is_some());
        std::thread::spawn(move || {
            let status = format!("/proc/{pid}/status");
            let kib = |text: &str, key: &str| {
                text.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse::<u64>().ok()
            };
            let mut last_series = Instant::now() - Duration::from_secs(2);
            while let Ok(text) = std::fs::read_to_string(&status) {
                // A reaped or zombie process has no memory lines: that is its end.
                let (Some(now), Some(hwm)) = (kib(&text, "VmRSS:"), kib(&text, "VmHWM:")) else { break };
                let mut held = rss.lock().expect("not poisoned");
                held.1 = held.1.max(hwm);
                if last_series.elapsed() >= Duration::from_secs(1) {
                    last_series = Instant::now();
                    held.0.push((start.elapsed().as_secs_f64(), now));
                    if print {
                        eprintln!("herd VmRSS: {now} kB");
                    }
                }
                drop(held);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid for wait4 to fill; the pid is our own child's.
    #[expect(unsafe_code, reason = "the child's CPU time and peak RSS come from wait4(2)")]
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::wait4(child.id() as i32, &mut status, 0, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let _ = sampler.join();
    let (rss, hwm) = std::mem::take(&mut *rss.lock().expect("not poisoned"));
    Usage {
        rss,
        max_rss_kib: hwm,
        started: start,
        wall: start.elapsed(),
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        status: libc::WEXITSTATUS(status),
    }
}

/// A fake server on a thread of its own, pinned to CPU 1.
fn start_server(echo: Option<Duration>) -> (Arc<FakeSqs>, String) {
    let server = FakeSqs::new(echo);
    let (tx, rx) = std::sync::mpsc::channel();
    let s = server.clone();
    std::thread::spawn(move || {
        if cpus() > 1 {
            pin_to(1);
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        rt.block_on(async move {
            let addr = s.serve().await;
            tx.send(addr).expect("the bench waits");
            std::future::pending::<()>().await;
        });
    });
    let addr = rx.recv().expect("the server starts");
    (server, format!("http://{addr}"))
}

fn scenario(endpoint: &str, rate: &str, duration: &str, sessions: u32, extra: &str) -> String {
    format!(
        r#"
name = "bench"
max_duration = "2m"
reply_timeout = "5s"
sample_interval = "1s"

[target]
kind = "aws"
allowed_accounts = ["123456789012"]
provision = false
timeouts = {{ settle = "0s" }}
work = {{ queue = "{endpoint}/000000000000/bench-work", body = '{{"commandId": "{{{{ message.id }}}}", "instruction": "{{{{ message.instruction }}}}"}}' }}
reply = {{ kind = "sqs", queue = "{endpoint}/000000000000/bench-reply", match_pointer = "/commandId", success_pointer = "/success", wait_time = "1s" }}

[[sessions]]
count = {sessions}
thread = "thread-{{{{ i }}}}"

[[phases]]
executor = "constant-arrival-rate"
rate = "{rate}"
duration = "{duration}"
{extra}
"#
    )
}

fn summary(dir: &Path) -> RunSummary {
    read_summary(&dir.join("out").join("bench").join("summary.json")).expect("herd wrote its summary")
}

fn metric_ms(s: &RunSummary, name: &str, pick: fn(&herd::report::MetricSummary) -> Option<f64>) -> f64 {
    s.metrics.iter().find(|m| m.name == name && m.tag_key.is_none()).and_then(pick).map_or(f64::NAN, |us| us / 1e3)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Reported latency against the server's truth (from the work message's arrival to its
/// reply's delivery), echo after `delay`.
fn latency_case(delay: Duration, quick: bool) -> Measured {
    let (server, endpoint) = start_server(Some(delay));
    let dir = tempfile::tempdir().expect("a temporary folder");
    let duration = if quick { "4s" } else { "10s" };
    let usage = run_herd(dir.path(), &scenario(&endpoint, "200/s", duration, 20, ""), &endpoint);
    let s = summary(dir.path());
    let mut truth: Vec<f64> = server
        .truths()
        .iter()
        .filter_map(|t| t.delivered.map(|d| d.duration_since(t.arrived).as_secs_f64() * 1e3))
        .collect();
    truth.sort_by(f64::total_cmp);
    let (p50, p99) = (metric_ms(&s, "message_latency", |m| m.p50), metric_ms(&s, "message_latency", |m| m.p99));
    let mut m = Measured::default();
    m.push("herd p50", p50, "ms");
    m.push("truth p50", quantile(&truth, 0.5), "ms");
    m.push("p50 error", p50 - quantile(&truth, 0.5), "ms");
    m.push("herd p99", p99, "ms");
    m.push("truth p99", quantile(&truth, 0.99), "ms");
    m.push("p99 error", p99 - quantile(&truth, 0.99), "ms");
    m.push("replied", s.accounting.replied as f64, "msgs");
    check_accounting(&s, server.counts.work_in.load(std::sync::atomic::Ordering::Relaxed), usage.status);
    m
}

/// The most messages herd gets acknowledged in a second: no echo, a rate above the ceiling;
/// `batch` messages at most per call.
fn send_ceiling_case(batch: u32, quick: bool) -> Measured {
    let (server, endpoint) = start_server(None);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let secs = if quick { 3.0 } else { 5.0 };
    let text = scenario(&endpoint, "200000/s", &format!("{secs}s"), 100, "max_in_flight = 10000000")
        .replace("body = '", &format!("batch = {batch}, body = '"));
    let usage = run_herd(dir.path(), &text, &endpoint);
    let s = summary(dir.path());
    let arrivals = server.arrivals();
    let span = match (arrivals.first(), arrivals.last()) {
        (Some(a), Some(b)) if b > a => b.duration_since(*a).as_secs_f64(),
        _ => f64::NAN,
    };
    let mut m = Measured::default();
    m.push("acknowledged/s", arrivals.len() as f64 / span, "msgs/s");
    m.push("requests/s", server.counts.requests.load(std::sync::atomic::Ordering::Relaxed) as f64 / span, "req/s");
    m.push("herd CPU", usage.cpu.as_secs_f64() / usage.wall.as_secs_f64() * 100.0, "%");
    m.push("herd peak RSS", usage.max_rss_kib as f64 / 1024.0, "MiB");
    m.push("not sent", s.accounting.send_errors as f64, "msgs");
    check_accounting(&s, server.counts.work_in.load(std::sync::atomic::Ordering::Relaxed), usage.status);
    m
}

/// Round trips a second against the instant echo server at `rate` (above what herd can do: the
/// ceiling; below it: the latency herd adds).
fn round_trip_case(rate: &str, quick: bool) -> Measured {
    round_trip_case_with(rate, quick, 1, &[])
}

/// [`round_trip_case`] over `pairs` project+user pairs (each with its own work and reply
/// queues), with more arguments for `herd run` (`--distribute local --workers 2`: the workers
/// share herd's core, and the merged summary is measured).
fn round_trip_case_with(rate: &str, quick: bool, pairs: u32, extra: &[&str]) -> Measured {
    let (server, endpoint) = start_server(Some(Duration::ZERO));
    let dir = tempfile::tempdir().expect("a temporary folder");
    let secs = if quick { 3.0 } else { 5.0 };
    let mut text = scenario(&endpoint, rate, &format!("{secs}s"), 100, "max_in_flight = 10000000");
    if pairs > 1 {
        // The fake server echoes `<name>-work` to `<name>-reply`, so each pair's queues do.
        text = text
            .replace("/bench-work\"", "/bench-{{ session.project }}-work\"")
            .replace("/bench-reply\"", "/bench-{{ session.project }}-reply\"")
            .replace("count = 100\n", &format!("count = 100\nproject = \"p{{{{ i % {pairs} }}}}\"\n"));
    }
    let usage = run_herd_with(dir.path(), &text, &endpoint, extra);
    let s = summary(dir.path());
    // Replies a second over the span in which the server handed them out.
    let truths = server.truths();
    let first = truths.iter().map(|t| t.arrived).min();
    let last = truths.iter().filter_map(|t| t.delivered).max();
    let span = match (first, last) {
        (Some(a), Some(b)) if b > a => b.duration_since(a).as_secs_f64(),
        _ => f64::NAN,
    };
    let mut m = Measured::default();
    m.push("replied/s", s.accounting.replied as f64 / span, "msgs/s");
    m.push("latency p50", metric_ms(&s, "message_latency", |m| m.p50), "ms");
    m.push("latency p99", metric_ms(&s, "message_latency", |m| m.p99), "ms");
    m.push("herd CPU", usage.cpu.as_secs_f64() / usage.wall.as_secs_f64() * 100.0, "%");
    m.push("herd peak RSS", usage.max_rss_kib as f64 / 1024.0, "MiB");
    let calls = server.calls();
    m.push("calls per reply", calls.values().sum::<u64>() as f64 / s.accounting.replied.max(1) as f64, "calls");
    eprintln!("round trip at {rate}: calls by action: {calls:?}");
    check_accounting(&s, server.counts.work_in.load(std::sync::atomic::Ordering::Relaxed), usage.status);
    m
}

/// 20 messages a second: how evenly they arrive at the server, and what it costs herd.
fn pacing_case(quick: bool) -> Measured {
    let (server, endpoint) = start_server(Some(Duration::ZERO));
    let dir = tempfile::tempdir().expect("a temporary folder");
    let duration = if quick { "10s" } else { "60s" };
    let usage = run_herd(dir.path(), &scenario(&endpoint, "20/s", duration, 1, ""), &endpoint);
    let s = summary(dir.path());
    let arrivals = server.arrivals();
    let mut off: Vec<f64> =
        arrivals.windows(2).map(|w| (w[1].duration_since(w[0]).as_secs_f64() * 1e3 - 50.0).abs()).collect();
    off.sort_by(f64::total_cmp);
    let mut m = Measured::default();
    m.push("gap error p50", quantile(&off, 0.5), "ms");
    m.push("gap error p99", quantile(&off, 0.99), "ms");
    m.push("herd CPU", usage.cpu.as_secs_f64() / usage.wall.as_secs_f64() * 100.0, "%");
    let calls = server.calls();
    m.push("calls to the server/s", calls.values().sum::<u64>() as f64 / usage.wall.as_secs_f64(), "calls/s");
    eprintln!("pacing: calls by action over {:.1} s: {calls:?}", usage.wall.as_secs_f64());
    m.push("herd peak RSS", usage.max_rss_kib as f64 / 1024.0, "MiB");
    check_accounting(&s, server.counts.work_in.load(std::sync::atomic::Ordering::Relaxed), usage.status);
    m
}

/// Sessions that hold no message: what each costs in herd's memory, and how long herd takes
/// from its start to its first message (compiling the plan, rendering queue names, building the
/// target). 1,000,000 sessions in ten groups over 100 project+user pairs, against 10 sessions.
fn idle_sessions_case(quick: bool) -> Measured {
    let (server, endpoint) = start_server(Some(Duration::ZERO));
    let groups = |groups: u32, count: u32| -> String {
        (0..groups)
            .map(|g| {
                format!(
                    "[[sessions]]\nname = \"g{g}\"\ncount = {count}\nproject = \"project-{{{{ i % 10 }}}}-{g}\"\nthread = \"thread-{{{{ n }}}}\"\n"
                )
            })
            .collect()
    };
    let duration = if quick { "2s" } else { "3s" };
    let text = |sessions: &str| {
        let base = scenario(&endpoint, "1/s", duration, 1, "");
        let start = base.find("[[sessions]]").expect("a sessions table");
        let end = base.find("[[phases]]").expect("a phases table");
        format!("{}{sessions}{}", &base[..start], &base[end..])
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let few = run_herd(dir.path(), &text(&groups(1, 10)), &endpoint);
    check_accounting(
        &summary(dir.path()),
        server.counts.work_in.load(std::sync::atomic::Ordering::Relaxed),
        few.status,
    );
    let dir = tempfile::tempdir().expect("a temporary folder");
    let before = server.arrivals().len();
    let work_before = server.counts.work_in.load(std::sync::atomic::Ordering::Relaxed);
    let many = run_herd(dir.path(), &text(&groups(10, 100_000)), &endpoint);
    let s = summary(dir.path());
    let first = server.arrivals().get(before).copied();
    let mut m = Measured::default();
    let extra_kib = many.max_rss_kib.saturating_sub(few.max_rss_kib) as f64;
    m.push("RSS per idle session", extra_kib * 1024.0 / 999_990.0, "bytes");
    m.push("herd peak RSS, 10 sessions", few.max_rss_kib as f64 / 1024.0, "MiB");
    m.push("herd peak RSS, 1,000,000 sessions", many.max_rss_kib as f64 / 1024.0, "MiB");
    m.push(
        "start to first message, 1,000,000 sessions",
        first.map_or(f64::NAN, |f| f.duration_since(many.started).as_secs_f64()),
        "s",
    );
    let work = server.counts.work_in.load(std::sync::atomic::Ordering::Relaxed) - work_before;
    check_accounting(&s, work, many.status);
    m
}

/// A real-clock soak: 1,000 messages a second for an hour against the instant echo; herd's
/// resident memory at the end of the load against that at 5 minutes (the goal: within 10 %).
/// Not in the default set (it takes an hour): `cargo bench --bench aws -- soak`.
fn soak_case(quick: bool) -> Measured {
    let (server, endpoint) = start_server(Some(Duration::ZERO));
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (duration, early) = if quick { (120.0, 30.0) } else { (3600.0, 300.0) };
    let text = scenario(&endpoint, "1000/s", &format!("{duration}s"), 100, "")
        .replace("max_duration = \"2m\"", &format!("max_duration = \"{}s\"", duration + 120.0))
        .replace("sample_interval = \"1s\"", "sample_interval = \"10s\"");
    let usage = run_herd(dir.path(), &text, &endpoint);
    let s = summary(dir.path());
    let at =
        |t: f64| usage.rss.iter().rev().find(|(when, _)| *when <= t).map_or(f64::NAN, |(_, kib)| *kib as f64 / 1024.0);
    let (rss_early, rss_end) = (at(early), at(duration));
    let mut m = Measured::default();
    m.push("RSS early (5 min, or 30 s with --quick)", rss_early, "MiB");
    m.push("RSS at the end of the load", rss_end, "MiB");
    m.push("growth", (rss_end / rss_early - 1.0) * 100.0, "%");
    m.push("herd peak RSS (reports included)", usage.max_rss_kib as f64 / 1024.0, "MiB");
    m.push("herd CPU", usage.cpu.as_secs_f64() / usage.wall.as_secs_f64() * 100.0, "%");
    m.push("replied", s.accounting.replied as f64, "msgs");
    check_accounting(&s, server.counts.work_in.load(std::sync::atomic::Ordering::Relaxed), usage.status);
    m
}

/// A benchmark whose accounting does not add up measured nothing: herd's own identity, and
/// the server holding at least what herd says it sent.
fn check_accounting(s: &RunSummary, server_work: u64, status: i32) {
    let a = &s.accounting;
    assert!(status == 0 || status == 1, "herd exited with {status}");
    assert_eq!(a.sent, a.replied + a.failed + a.lost, "herd's accounting does not add up: {a:?}");
    assert!(
        server_work >= a.sent && server_work <= a.sent + a.unconfirmed,
        "the server took {server_work} work messages; herd says {a:?}"
    );
}

/// `cargo bench --bench aws -- serve`: the fake server alone, pinned to CPU 1, for peer tools
/// (`benches/peers/`). Prints its endpoint, serves for `HERD_BENCH_SERVE_SECS` (300 by default)
/// and says what it received (with the spread of the arrivals' gaps when `HERD_BENCH_SERVE_PACE`
/// names the pace a peer was asked for); echoes replies when `HERD_BENCH_ECHO` is set.
fn serve() {
    let echo = std::env::var_os("HERD_BENCH_ECHO").map(|_| Duration::ZERO);
    let (server, endpoint) = start_server(echo);
    println!("{endpoint}");
    let secs = std::env::var("HERD_BENCH_SERVE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    std::thread::sleep(Duration::from_secs(secs));
    let arrivals = server.arrivals();
    eprintln!("served {} work messages; calls by action: {:?}", arrivals.len(), server.calls());
    // For a peer tool paced at HERD_BENCH_SERVE_PACE messages a second: how far apart its
    // messages arrived, against the pace, as the pacing case measures herd.
    if let Some(pace) =
        std::env::var("HERD_BENCH_SERVE_PACE").ok().and_then(|p| p.parse::<f64>().ok()).filter(|p| *p > 0.0)
    {
        let gap = 1e3 / pace;
        let mut off: Vec<f64> =
            arrivals.windows(2).map(|w| (w[1].duration_since(w[0]).as_secs_f64() * 1e3 - gap).abs()).collect();
        off.sort_by(f64::total_cmp);
        let within = |ms: f64| off.iter().filter(|o| **o < ms).count() as f64 / off.len().max(1) as f64 * 100.0;
        eprintln!(
            "gaps off the pace: p50 {:.2} ms, p99 {:.2} ms; {:.0} % within 1 ms, {:.0} % within 5 ms",
            quantile(&off, 0.5),
            quantile(&off, 0.99),
            within(1.0),
            within(5.0)
        );
    }
}

/// Median and spread of one value over the runs.
fn stats(values: &[f64]) -> (f64, f64, f64) {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    (quantile(&v, 0.5), v.first().copied().unwrap_or(f64::NAN), v.last().copied().unwrap_or(f64::NAN))
}

fn main() {
    // `cargo test` builds benches and runs them without --bench; do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    if only.as_deref() == Some("serve") {
        serve();
        return;
    }
    // The hour-long soak is measured once.
    let runs =
        if quick || only.as_deref() == Some("soak") || std::env::var_os("HERD_BENCH_ONCE").is_some() { 1 } else { 3 };
    type Case = (&'static str, Box<dyn Fn(bool) -> Measured>);
    let cases: Vec<Case> = vec![
        ("latency, echo after 5 ms, 200/s", Box::new(|q| latency_case(Duration::from_millis(5), q))),
        ("latency, instant echo, 200/s", Box::new(|q| latency_case(Duration::ZERO, q))),
        ("send ceiling, batched, no echo", Box::new(|q| send_ceiling_case(10, q))),
        ("send ceiling, one message per request (batch = 1), no echo", Box::new(|q| send_ceiling_case(1, q))),
        ("round trip ceiling, instant echo, offered 50000/s", Box::new(|q| round_trip_case("50000/s", q))),
        ("round trip, instant echo, 5000/s", Box::new(|q| round_trip_case("5000/s", q))),
        (
            "round trip ceiling, 10 pairs, one process, offered 50000/s",
            Box::new(|q| round_trip_case_with("50000/s", q, 10, &[])),
        ),
        (
            "round trip ceiling, 10 pairs, 2 local workers, offered 50000/s",
            Box::new(|q| round_trip_case_with("50000/s", q, 10, &["--distribute", "local", "--workers", "2"])),
        ),
        ("round trip, 10 pairs, one process, 5000/s", Box::new(|q| round_trip_case_with("5000/s", q, 10, &[]))),
        (
            "round trip, 10 pairs, 2 local workers, 5000/s",
            Box::new(|q| round_trip_case_with("5000/s", q, 10, &["--distribute", "local", "--workers", "2"])),
        ),
        ("pacing 20/s", Box::new(pacing_case)),
        ("idle sessions", Box::new(idle_sessions_case)),
        ("soak", Box::new(soak_case)),
    ];
    // The hour-long soak runs only when asked for by name.
    let cases: Vec<Case> =
        cases.into_iter().filter(|(name, _)| *name != "soak" || only.as_deref() == Some("soak")).collect();
    let mut md = String::from("| case | measure | median | min | max |\n| --- | --- | ---: | ---: | ---: |\n");
    let mut json = Vec::new();
    for (name, case) in &cases {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let measured: Vec<Measured> = (0..runs).map(|_| case(quick)).collect();
        for (i, (measure, _, unit)) in measured[0].values.iter().enumerate() {
            let values: Vec<f64> = measured.iter().map(|m| m.values[i].1).collect();
            let (median, min, max) = stats(&values);
            let line = format!("| {name} | {measure} ({unit}) | {median:.2} | {min:.2} | {max:.2} |\n");
            print!("{line}");
            md.push_str(&line);
            json.push(serde_json::json!({
                "case": name, "measure": measure, "unit": unit,
                "median": median, "min": min, "max": max, "runs": values,
            }));
        }
    }
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("herd-bench");
    std::fs::create_dir_all(&out).expect("create target/herd-bench");
    let header = format!(
        "herd {} on {} CPUs ({} run{} per case; herd pinned to CPU 0, the fake server to CPU 1)\n\n",
        env!("CARGO_PKG_VERSION"),
        cpus(),
        runs,
        if runs == 1 { "" } else { "s" }
    );
    std::fs::write(out.join("aws.md"), format!("{header}{md}")).expect("write aws.md");
    std::fs::write(out.join("aws.json"), serde_json::to_string_pretty(&json).expect("JSON")).expect("write aws.json");
    println!("\nwritten: {}", out.join("aws.md").display());
}
