//! Throughput and memory of the engine on the virtual clock: how many simulated messages a
//! second of wall time buys, and how much memory a long, busy run needs.
//!
//! Run with `cargo bench --bench engine`. Figures are printed, one line per case; compare them
//! between commits on the same machine (they move with the machine's load).

use std::time::Instant;

use herd::plan::compile;
use herd::runtime::{NoObserver, RunOptions, run};
use herd::scenario::load_bytes;
use herd::targets::build_target;

fn scenario(sessions: u32, pairs: u32, rate: &str, duration: &str) -> String {
    format!(
        r#"
name = "bench"
max_duration = "3h"
[target]
kind = "sim"
containers = {{ max = {pairs}, warm = {pairs} }}
processing = "lognormal(p50 = 1s, p99 = 3s)"
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

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn case(label: &str, text: &str) {
    let loaded = load_bytes("bench.toml", text.as_bytes()).unwrap_or_else(|d| panic!("{}", d.render()));
    let plan = compile(&loaded).unwrap_or_else(|d| panic!("{}", d.render()));
    let mut best = f64::INFINITY;
    let mut sent = 0;
    // Best of three: the least disturbed run is the best estimate of the engine's own cost.
    for _ in 0..3 {
        let mut target = build_target(&plan).expect("sim builds");
        let start = Instant::now();
        let result = run(&plan, target.as_mut(), &RunOptions::default(), &mut NoObserver);
        best = best.min(start.elapsed().as_secs_f64());
        sent = result.accounting.sent;
    }
    println!(
        "{label:<44} {sent:>8} messages  {best:>7.3} s  {:>10.0} messages/s  peak RSS {:.0} MiB",
        sent as f64 / best,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}

fn main() {
    // `cargo test` runs benches with --bench absent; do nothing then so the test run stays fast.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    case("soak: 1 session, every 5 s, 30 min", &scenario(1, 1, "12/m", "30m"));
    case("throughput: 100 sessions, 1000/h, 1 h", &scenario(100, 10, "1000/h", "1h"));
    case("heavy: 1000 sessions, 100 pairs, 20/s, 1 h", &scenario(1000, 100, "20/s", "1h"));
}
