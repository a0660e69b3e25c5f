//! Throughput and memory of the engine on the virtual clock: how many simulated messages a
//! second of wall time buys, and how much memory a long, busy run needs.
//!
//! Run with `cargo bench --bench engine`. Figures are printed, one line per case; compare them
//! between commits on the same machine (they move with the machine's load).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use herd::plan::compile;
use herd::report::{Format, Renderer, RunInfo, summarize, write_reports, write_summary};
use herd::runtime::{NoObserver, RunOptions, run};
use herd::scenario::load_bytes;
use herd::targets::build_target;

fn scenario(sessions: u32, pairs: u32, rate: &str, duration: &str) -> String {
    scenario_with(sessions, pairs, rate, duration, "lognormal(p50 = 1s, p99 = 3s)")
}

fn scenario_with(sessions: u32, pairs: u32, rate: &str, duration: &str, processing: &str) -> String {
    format!(
        r#"
name = "bench"
max_duration = "3h"
[target]
kind = "sim"
containers = {{ max = {pairs}, warm = {pairs} }}
processing = "{processing}"
[[sessions]]
count = {sessions}
project = "project-{{{{ i % {pairs} }}}}"
thread = "thread-{{{{ i }}}}"
[[phases]]
executor = "constant-arrival-rate"
rate = "{rate}"
duration = "{duration}"
arrivals = "poisson"
message = {{ instruction = "Bench message {{{{ message.seq }}}} for {{{{ session.thread }}}}", fields = {{ commandId = "{{{{ message.id }}}}" }} }}
[thresholds]
message_latency = ["p(99) < 1m"]
"#
    )
}

/// The system allocator, counting the bytes live now and at the most since the last reset, so a
/// case's own peak can be told apart from an earlier case's.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; the counters only observe.
#[expect(unsafe_code, reason = "a global allocator is an unsafe trait")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most bytes live at once during `f`, beyond what was live before it.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(before))
}

/// A soak at 10 messages a second for `hours`: the most memory the run held at once.
fn soak_peak(hours: u32, sample_interval: &str) -> (u64, usize) {
    let text = scenario(100, 10, "10/s", &format!("{hours}h"))
        .replace("max_duration = \"3h\"", &format!("max_duration = \"25h\"\nsample_interval = \"{sample_interval}\""));
    let loaded = load_bytes("bench.toml", text.as_bytes()).unwrap_or_else(|d| panic!("{}", d.render()));
    let plan = compile(&loaded).unwrap_or_else(|d| panic!("{}", d.render()));
    let (sent, peak) = peak_during(|| {
        let mut target = build_target(&plan).expect("sim builds");
        run(&plan, target.as_mut(), &RunOptions::default(), &mut NoObserver).accounting.sent
    });
    (sent, peak)
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn case(label: &str, text: &str) {
    let start = Instant::now();
    let loaded = load_bytes("bench.toml", text.as_bytes()).unwrap_or_else(|d| panic!("{}", d.render()));
    let plan = compile(&loaded).unwrap_or_else(|d| panic!("{}", d.render()));
    let compiled = start.elapsed().as_secs_f64();
    let mut times = Vec::new();
    let mut sent = 0;
    let mut peak = 0;
    for _ in 0..3 {
        let (took, held) = peak_during(|| {
            let start = Instant::now();
            let mut target = build_target(&plan).expect("sim builds");
            let result = run(&plan, target.as_mut(), &RunOptions::default(), &mut NoObserver);
            sent = result.accounting.sent;
            start.elapsed().as_secs_f64()
        });
        times.push(took);
        peak = peak.max(held);
    }
    times.sort_by(f64::total_cmp);
    let median = times[1];
    println!(
        "{label:<56} {sent:>8} messages  compile {compiled:.3} s  run {median:>7.3} s (min {:.3}, max {:.3})  {:>10.0} messages/s  peak live {:.0} MiB, peak RSS {:.0} MiB",
        times[0],
        times[2],
        sent as f64 / median,
        peak as f64 / 1048576.0,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}

/// Every report of a run of 1,000,000 messages over 3,600 one-second intervals: how long
/// writing summary.json, report.html, report.md and junit.xml takes, the most memory it holds,
/// and the sizes (the goal: under 1 s, report.html under 3 MiB).
fn reports_case() {
    let text = scenario_with(100_000, 1000, "278/s", "1h", "lognormal(p50 = 200ms, p99 = 1s)")
        .replace("max_duration = \"3h\"", "max_duration = \"3h\"\nsample_interval = \"1s\"");
    let loaded = load_bytes("bench.toml", text.as_bytes()).unwrap_or_else(|d| panic!("{}", d.render()));
    let plan = compile(&loaded).unwrap_or_else(|d| panic!("{}", d.render()));
    let mut target = build_target(&plan).expect("sim builds");
    let result = run(&plan, target.as_mut(), &RunOptions::default(), &mut NoObserver);
    let info = RunInfo {
        engine_version: "bench".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        wall_seconds: 0.0,
        command_line: String::new(),
        host: None,
        segment: None,
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let renderer = Renderer::new(None).expect("the built-in templates load");
    let mut times = Vec::new();
    let mut peak = 0;
    for _ in 0..3 {
        let (took, held) = peak_during(|| {
            let start = Instant::now();
            let summary = summarize(&plan, &result, herd::runtime::ClockKind::Virtual, info.clone());
            write_summary(dir.path(), &summary).expect("summary written");
            write_reports(dir.path(), &summary, &renderer, &[Format::Html, Format::Md, Format::Junit])
                .expect("reports written");
            start.elapsed().as_secs_f64()
        });
        times.push(took);
        peak = peak.max(held);
    }
    times.sort_by(f64::total_cmp);
    let size = |name: &str| std::fs::metadata(dir.path().join(name)).map_or(0.0, |m| m.len() as f64 / 1048576.0);
    println!(
        "reports: {} messages, {} intervals ({} points of {}): summary + html + md + junit {:.3} s (min {:.3}, max {:.3}), peak live {:.0} MiB; summary.json {:.2} MiB, report.html {:.2} MiB",
        result.accounting.sent,
        result.timeline.len() as u64 * result.samples_per_point,
        result.timeline.len(),
        result.samples_per_point,
        times[1],
        times[0],
        times[2],
        peak as f64 / 1048576.0,
        size("summary.json"),
        size("report.html"),
    );
}

/// Peak resident memory of the herd binary running `text` to the end (reports included), from
/// wait4(2), in MiB.
#[expect(clippy::zombie_processes, reason = "wait4(2) reaps the child, for its peak RSS")]
fn herd_peak_rss(text: &str) -> f64 {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("soak.toml");
    std::fs::write(&file, text).expect("write the scenario");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(["run", file.to_str().expect("a UTF-8 path"), "--quiet", "--out"])
        .arg(dir.path().join("out"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("herd starts");
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid for wait4 to fill; the pid is our own child's.
    #[expect(unsafe_code, reason = "the child's peak RSS comes from wait4(2)")]
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::wait4(child.id() as i32, &mut status, 0, &mut usage);
        usage
    };
    assert_eq!(libc::WEXITSTATUS(status), 0, "herd run failed");
    usage.ru_maxrss as f64 / 1024.0
}

/// A what-if sweep of 16 variants run with `parallel` of them at a time; its wall time.
fn sweep_wall(parallel: u32) -> f64 {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("sweep.toml");
    let text = scenario(1000, 100, "20/s", "10m").replace("name = \"bench\"", "name = \"sweep\"")
        + &format!(
            "[matrix]\nvalues = {{ \"target.containers.max\" = [100, 110, 120, 130], \"phases.0.rate\" = [\"10/s\", \"15/s\", \"20/s\", \"25/s\"] }}\nparallel = {parallel}\n"
        );
    // The pool is swept above the warm count.
    let text = text.replace("containers = { max = 100, warm = 100 }", "containers = { max = 100, warm = 50 }");
    std::fs::write(&file, text).expect("write the scenario");
    let started = Instant::now();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(["run", file.to_str().expect("a UTF-8 path"), "--quiet", "--out"])
        .arg(dir.path().join("out"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("herd runs");
    assert!(matches!(status.code(), Some(0 | 1)), "the sweep failed: {status}");
    started.elapsed().as_secs_f64()
}

fn main() {
    // `cargo test` runs benches with --bench absent; do nothing then so the test run stays fast.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // A sweep of 16 variants one at a time (as 16 single runs would go) and two at a time.
    if std::env::args().any(|a| a == "sweep") {
        let (one, two) = (sweep_wall(1), sweep_wall(2));
        println!("sweep of 16 variants: {one:.2} s one at a time, {two:.2} s two at a time ({:.2}x)", one / two);
        return;
    }
    // First, while this process is small: a child's peak RSS from wait4(2) includes what its
    // parent held when it forked (Linux carries the high-water mark across fork and exec).
    // The issue's measure: the whole process's peak RSS (the run, the summary and every report)
    // for a 24-hour soak against a 1-hour one, at the default 10 s sampling.
    let soak = |hours: u32| {
        scenario(100, 10, "10/s", &format!("{hours}h")).replace("max_duration = \"3h\"", "max_duration = \"25h\"")
    };
    let (one, day) = (herd_peak_rss(&soak(1)), herd_peak_rss(&soak(24)));
    println!(
        "soak at 10/s, herd run to the end with its reports: peak RSS {one:.1} MiB for 1 h, {day:.1} MiB for 24 h: {:+.1} %",
        (day / one - 1.0) * 100.0
    );
    case("soak: 1 session, every 5 s, 30 min", &scenario(1, 1, "12/m", "30m"));
    case("throughput: 100 sessions, 1000/h, 1 h", &scenario(100, 10, "1000/h", "1h"));
    case("heavy: 1000 sessions, 100 pairs, 20/s, 1 h", &scenario(1000, 100, "20/s", "1h"));
    // The issue's goal: 1,000,000 messages over 100,000 sessions and 1,000 containers in under
    // 5 s and 256 MiB. The containers answer in 200 ms (p50) so that 1,000 keep up with 1,000/s.
    case(
        "large: 100,000 sessions, 1,000 containers, 1,000/s, 1,000 s",
        &scenario_with(100_000, 1000, "1000/s", "1000s", "lognormal(p50 = 200ms, p99 = 1s)"),
    );
    reports_case();
    // A soak must run in flat memory: the most held at once over 24 hours against 1 hour. With
    // hourly samples only the per-message state shows; at the default 10 s the timeline (one
    // point per sample, kept for the reports) grows with the run.
    for interval in ["1h", "10s"] {
        let (sent_1h, one) = soak_peak(1, interval);
        let (sent_24h, day) = soak_peak(24, interval);
        println!(
            "soak at 10/s, samples every {interval}: peak live memory {:.1} MiB over 1 h ({sent_1h} messages), {:.1} MiB over 24 h ({sent_24h} messages): {:+.1} %",
            one as f64 / 1048576.0,
            day as f64 / 1048576.0,
            (day as f64 / one as f64 - 1.0) * 100.0
        );
    }
}
