//! The simulated target's what-if knobs: a warm pool, named image profiles, the receive batch
//! size, FIFO groups per session, and a lookup cache. Each is checked against the same run
//! without it (same seed), on what the knob is meant to change and what it must leave alone.

mod common;

use herd::report::RunSummary;

fn run(toml: &str) -> RunSummary {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, toml).unwrap();
    common::run_plan(&common::plan(&file))
}

fn cost_line(s: &RunSummary, by: &str, item: &str) -> f64 {
    s.cost.as_ref().unwrap().lines.iter().filter(|l| l.by == by && l.item == item).map(|l| l.quantity).sum()
}

fn metric_count(s: &RunSummary, name: &str) -> u64 {
    s.metrics.iter().find(|m| m.name == name && m.tag_key.is_none()).map_or(0, |m| m.count)
}

fn p99_ms(s: &RunSummary) -> f64 {
    s.metrics.iter().find(|m| m.name == "message_latency" && m.tag_key.is_none()).and_then(|m| m.p99).unwrap() / 1e3
}

/// Four pairs of ten threads; new work waits behind the message in hand.
const QUEUED: &str = r#"
name = "knobs"
seed = 9
max_duration = "30m"
[target]
kind = "sim"
containers = { max = 4, warm = 4 }
processing = "lognormal(p50 = 500ms, p99 = 2s)"
interrupt_policy = "never"
TARGET_EXTRA
[[sessions]]
count = 40
project = "p-{{ i % 4 }}"
[[phases]]
executor = "constant-arrival-rate"
rate = "4/s"
duration = "1m"
"#;

fn queued(extra: &str) -> String {
    QUEUED.replace("TARGET_EXTRA", extra)
}

#[test]
fn a_receive_batch_takes_waiting_messages_without_a_call_and_changes_nothing_else() {
    let one = run(&queued(""));
    let ten = run(&queued("queue = { receive_batch = 10 }"));
    // No overhead modelled: the same work at the same times.
    assert_eq!(one.accounting, ten.accounting);
    assert_eq!(p99_ms(&one), p99_ms(&ten));
    let (r1, r10) = (cost_line(&one, "system", "SQS requests"), cost_line(&ten, "system", "SQS requests"));
    assert!(r10 < r1, "batches of 10 make fewer receive calls: {r10} against {r1}");
    // Each message still costs its delete and its reply: the saving is receives only.
    assert!(r1 - r10 <= one.accounting.sent as f64, "{r1} - {r10}");
    // A modelled receive overhead delays work when a call is made.
    let slow = run(&queued("queue = { receive_batch = 1, receive_overhead = \"fixed(200ms)\" }"));
    assert!(p99_ms(&slow) > p99_ms(&one), "{} against {}", p99_ms(&slow), p99_ms(&one));
}

#[test]
fn a_lookup_cache_saves_table_reads_within_its_ttl() {
    let none = run(&queued(""));
    let cached = run(&queued("lookup_cache = { ttl = \"30s\" }"));
    let off = run(&queued("lookup_cache = { ttl = \"0s\" }"));
    let reads = |s: &RunSummary| cost_line(s, "system", "DynamoDB read units");
    assert_eq!(reads(&none), reads(&off), "a ttl of 0 is no cache");
    assert!(reads(&none) >= none.accounting.replied as f64, "every message looks its owner up");
    assert!(reads(&cached) < reads(&none) / 4.0, "{} against {}", reads(&cached), reads(&none));
    assert_eq!(cached.accounting, none.accounting, "no lookup time modelled: the same run");
    // An assumed hit ratio: about that share of the lookups skip the table.
    let ratio = run(&queued("lookup_cache = { hit_ratio = 0.9 }"));
    let share = reads(&ratio) / reads(&none);
    assert!((0.03..0.2).contains(&share), "{share}");
    let slow = run(&queued("lookup_cache = { ttl = \"0s\", lookup = \"fixed(300ms)\" }"));
    let fast = run(&queued("lookup_cache = { ttl = \"1h\", lookup = \"fixed(300ms)\" }"));
    assert!(p99_ms(&fast) < p99_ms(&slow), "hits skip the lookup's time");
}

#[test]
fn fifo_groups_per_session_finish_a_threads_work_before_switching() {
    let burst = |group: &str| {
        format!(
            r#"
name = "fifo"
seed = 5
[target]
kind = "sim"
containers = {{ max = 3, warm = 3 }}
interrupt_policy = "never"
queue = {{ fifo_group = "{group}" }}
[[sessions]]
count = 24
project = "p-{{{{ i % 3 }}}}"
[[phases]]
executor = "burst"
count = 3
"#
        )
    };
    let pair = run(&burst("pair"));
    let session = run(&burst("session"));
    assert_eq!(pair.accounting.replied, 72);
    assert_eq!(session.accounting.replied, 72);
    let (sp, ss) = (metric_count(&pair, "session_switch"), metric_count(&session, "session_switch"));
    // Per pair: messages in arrival order, a switch almost every time; per session: one switch
    // per thread at most.
    assert!(ss <= 24 && sp > 2 * ss, "switches per pair {sp}, per session {ss}");
}

#[test]
fn a_warm_pool_claims_new_pairs_at_once_and_is_topped_up() {
    let scenario = |pool: u32| {
        format!(
            r#"
name = "pool"
seed = 11
max_duration = "30m"
[target]
kind = "sim"
containers = {{ max = 8, warm = 0, warm_pool = {pool} }}
[[sessions]]
count = 6
project = "p-{{{{ i }}}}"
[[phases]]
executor = "constant-arrival-rate"
rate = "1/m"
duration = "6m"
"#
        )
    };
    let cold = run(&scenario(0));
    let pooled = run(&scenario(2));
    assert_eq!(cold.accounting.replied, 6);
    assert_eq!(pooled.accounting.replied, 6);
    // Without a pool every new pair waits a cold start (the profile's p50 is 35 s).
    assert!(p99_ms(&cold) > 30_000.0, "{}", p99_ms(&cold));
    // With one, a new pair a minute after the last finds a container ready (its top-up has
    // had a minute to start).
    assert!(p99_ms(&pooled) < 15_000.0, "{}", p99_ms(&pooled));
    assert!(metric_count(&pooled, "container_start") >= 4, "claimed pool containers are replaced");
}

#[test]
fn a_named_image_profile_is_its_cold_start_distribution() {
    let base = |line: &str| {
        format!(
            "name = \"img\"\nseed = 3\n[target]\nkind = \"sim\"\ncontainers = {{ max = 4, {line} }}\n[[sessions]]\ncount = 4\nproject = \"p-{{{{ i }}}}\"\n[[phases]]\nexecutor = \"burst\"\ncount = 2\n"
        )
    };
    let named = run(&base("image = \"optimised\""));
    let spelled = run(&base("cold_start = \"lognormal(p50 = 15s, p99 = 25s)\""));
    assert_eq!(named.accounting, spelled.accounting);
    assert_eq!(p99_ms(&named), p99_ms(&spelled));
    let standard = run(&base("image = \"standard\""));
    assert!(p99_ms(&named) < p99_ms(&standard), "an optimised image starts sooner");
}

#[test]
fn the_services_scaling_rule_decides_how_many_containers_run() {
    let scenario = |scaling: &str| {
        format!(
            r#"
name = "scale"
seed = 4
max_duration = "30m"
sample_interval = "10s"
[target]
kind = "sim"
containers = {{ max = 6, warm = 1 }}
interrupt_policy = "never"
scaling = {scaling}
[[sessions]]
count = 30
project = "p-{{{{ i % 6 }}}}"
[[phases]]
executor = "constant-arrival-rate"
rate = "2/s"
duration = "3m"
"#
        )
    };
    let most = |s: &RunSummary| {
        s.metrics.iter().find(|m| m.name == "containers_running" && m.tag_key.is_none()).and_then(|m| m.max).unwrap()
    };
    let on_demand = run(&scenario("{ kind = \"on-demand\" }"));
    let fixed = run(&scenario("{ kind = \"fixed\" }"));
    let tracking = run(&scenario("{ kind = \"queue-depth\", per_container = 50, period = \"30s\", min = 1 }"));
    assert_eq!(most(&fixed), 6.0, "a fixed service runs its maximum");
    assert_eq!(most(&on_demand), 6.0, "six pairs claim six containers");
    // Tracking 50 waiting messages a container, the service scales out from its one warm
    // container as work piles up, but not to the maximum; the pairs without a container wait.
    assert!(most(&tracking) > 1.0 && most(&tracking) < 6.0, "{}", most(&tracking));
    assert!(p99_ms(&tracking) > p99_ms(&on_demand));
    assert_eq!(tracking.accounting.sent, on_demand.accounting.sent);
}
