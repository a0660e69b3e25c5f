//! The runtime's executors, faults and stop conditions, each against a small scenario in
//! tests/engine/ whose outcome can be worked out by hand.

mod common;

use std::path::Path;

use herd::report::{RunSummary, Verdict};
use herd::runtime::EndReason;

fn run(name: &str) -> RunSummary {
    let summary = common::run_plan(&common::plan(&Path::new("tests/engine").join(format!("{name}.toml"))));
    common::assert_accounting(&summary);
    summary
}

fn metric<'a>(s: &'a RunSummary, name: &str) -> &'a herd::report::MetricSummary {
    s.metrics.iter().find(|m| m.name == name && m.tag_key.is_none()).unwrap_or_else(|| panic!("no {name}"))
}

/// HdrHistogram keeps three significant figures.
fn assert_close(measured: f64, expected: f64) {
    assert!((measured - expected).abs() <= expected * 1e-3, "measured {measured}, expected {expected}");
}

#[test]
fn constant_rate_sends_rate_times_duration() {
    let s = run("arrivals-constant");
    assert_eq!(s.accounting.sent, 600);
    assert_eq!(s.accounting.replied, 600);
    // Evenly spaced: 10 sessions round-robin, one every 100 ms, each answered in 100 ms.
    assert_close(metric(&s, "message_latency").max.unwrap(), 100_000.0);
}

#[test]
fn poisson_arrivals_keep_the_mean_rate() {
    let s = run("arrivals-poisson");
    // 600 expected; a Poisson count has a standard deviation of about 24.5.
    assert!((527..=673).contains(&s.accounting.sent), "sent {}", s.accounting.sent);
    assert_ne!(s.accounting.sent, 600, "gaps are random, not even");
}

#[test]
fn ramping_rate_follows_the_area_under_its_stages() {
    // 0 to 20/s over 10 s (100), 20/s for 10 s (200), 20/s to 0 over 10 s (100).
    let s = run("arrivals-ramping");
    assert_eq!(s.accounting.sent, 400);
    let tl = &s.timeline;
    assert!(tl.len() >= 3);
    assert!(
        tl[0].sent < tl[1].sent,
        "the first interval ramps up: {:?}",
        tl.iter().map(|p| p.sent).collect::<Vec<_>>()
    );
}

#[test]
fn closed_model_waits_for_each_reply_and_thinks() {
    let s = run("arrivals-closed");
    assert_eq!(s.accounting.sent, 20);
    // Five rounds of 1 s processing and 2 s thinking, less the last think: 13 s.
    assert!((s.duration_seconds - 13.0).abs() < 0.01, "took {}", s.duration_seconds);
    // Never more than one message of a session in flight, so never any queueing.
    assert_close(metric(&s, "message_latency").max.unwrap(), 1_000_000.0);
}

#[test]
fn phases_overlap_by_offset_and_chain_otherwise() {
    let s = run("overlapping-phases");
    assert_eq!(s.verdict, Verdict::Passed, "{:?}", s.thresholds);
    let first = &s.phases[0];
    let second = &s.phases[1];
    let third = &s.phases[2];
    assert_eq!(second.started, Some(30.0), "second starts at its offset, while first still runs");
    assert!(first.finished.unwrap() > second.started.unwrap());
    assert!(third.started.unwrap() >= second.finished.unwrap(), "third waits for second");
    assert_eq!(third.sent, 12, "a burst of 3 to each of 4 sessions");
}

#[test]
fn the_in_flight_cap_drops_arrivals_and_counts_them() {
    let s = run("in-flight-cap");
    assert_eq!(s.accounting.sent + s.accounting.dropped_arrivals, 20);
    assert!(s.accounting.dropped_arrivals > 0);
    let lost_or_sent = s.metrics.iter().find(|m| m.name == "dropped_arrivals" && m.tag_key.is_none()).unwrap().count;
    assert_eq!(lost_or_sent, s.accounting.dropped_arrivals);
}

#[test]
fn abort_on_fail_stops_the_run_early() {
    let s = run("abort-on-fail");
    assert_eq!(s.verdict, Verdict::Aborted);
    assert_eq!(s.end_reason, EndReason::Aborted);
    assert!(s.duration_seconds < 600.0, "stopped at the first failing sample, not after an hour");
    assert!(s.abort_reason.as_deref().unwrap_or("").contains("max < 400MiB"));
}

#[test]
fn max_duration_ends_the_run_and_counts_unanswered_messages_as_lost() {
    let s = run("max-duration");
    assert_eq!(s.end_reason, EndReason::MaxDuration);
    assert_eq!(s.duration_seconds, 60.0);
    // 15 s each, one at a time: four answered within the minute.
    assert_eq!(s.accounting.replied, 4);
    assert_eq!(s.accounting.lost, 6);
}

#[test]
fn faults_strike_their_blast_radius_and_say_what_they_did() {
    let s = run("faults");
    let f = |name: &str| s.faults.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no fault {name}"));
    let pause = f("pause t-0");
    assert_eq!(pause.at, Some(61.0));
    assert_eq!(pause.containers.len(), 1);
    // The message the paused container was working on waited out the pause.
    assert!(metric(&s, "message_latency").max.unwrap() >= 45e6);
    assert_eq!(f("kill container 1").containers, vec![1]);
    assert_eq!(f("kill two at random").containers.len(), 2);
    let interrupt = f("interrupt after 20 messages");
    assert!(interrupt.detail.starts_with("interrupted message"), "{}", interrupt.detail);
    assert_eq!(s.accounting.interrupts, 1);
    let never = f("kill a container that was never started");
    assert!(never.containers.is_empty());
    assert_eq!(never.detail, "container 99 had not been started");
    // Killed pairs answered again, and nothing was lost: messages came back after the
    // visibility timeout.
    assert_eq!(s.accounting.lost, 0);
    assert!(metric(&s, "recovery_time").count >= 1);
    assert_eq!(s.unrecovered_kills, 0);
}

/// A target that answers every message at once and remembers when each session's messages
/// were sent: the arrivals themselves, whatever the system would do with them.
#[derive(Default)]
struct Recording {
    sends: Vec<(usize, u64)>,
    correlations: Vec<String>,
}

impl herd::targets::Target for Recording {
    fn send(&mut self, now: u64, msg: &herd::targets::Outbound, io: &mut herd::targets::TargetIo) {
        self.sends.push((msg.session, now));
        self.correlations.push(msg.correlation.clone());
        io.observe(herd::targets::Observation::Reply { id: msg.id, success: true, interrupted: false });
    }

    fn sample(&mut self, _now: u64, io: &mut herd::targets::TargetIo) {
        io.observe(herd::targets::Observation::Gauges(herd::targets::GaugeSample::default()));
    }
}

fn recorded_sends(toml: &str) -> Vec<(usize, u64)> {
    let loaded =
        herd::scenario::load_bytes("streams.toml", toml.as_bytes()).unwrap_or_else(|d| panic!("{}", d.render()));
    let plan = herd::plan::compile(&loaded).unwrap_or_else(|d| panic!("{}", d.render()));
    let mut target = Recording::default();
    herd::runtime::run(&plan, &mut target, &herd::runtime::RunOptions::default(), &mut herd::runtime::NoObserver);
    target.sends
}

/// Each phase draws from its own random stream, derived from the seed and the phase's name:
/// adding a phase (before it in the file, sending at the same time) leaves another phase's
/// Poisson arrivals exactly where they were.
#[test]
fn adding_a_phase_does_not_move_another_phases_arrivals() {
    let base = r#"
name = "streams"
seed = 9
[[sessions]]
name = "steady"
count = 3
[[sessions]]
name = "extra"
count = 3
[[phases]]
name = "steady"
sessions = ["steady"]
executor = "constant-arrival-rate"
rate = "5/s"
duration = "30s"
arrivals = "poisson"
start = "0s"
"#;
    let extra = r#"
[[phases]]
name = "spike"
sessions = ["extra"]
executor = "ramping-arrival-rate"
start_rate = "1/s"
stages = [{ target = "20/s", duration = "20s" }]
arrivals = "poisson"
start = "0s"
"#;
    let steady =
        |sends: Vec<(usize, u64)>| -> Vec<(usize, u64)> { sends.into_iter().filter(|(s, _)| *s < 3).collect() };
    let alone = steady(recorded_sends(base));
    let (head, tail) = base.split_at(base.find("[[phases]]").unwrap());
    let with_spike_first = steady(recorded_sends(&format!("{head}{extra}{tail}")));
    let with_spike_after = steady(recorded_sends(&format!("{base}{extra}")));
    assert!(alone.len() > 100, "{} arrivals", alone.len());
    assert_eq!(alone, with_spike_first, "a phase added before it moved the steady phase's arrivals");
    assert_eq!(alone, with_spike_after, "a phase added after it moved the steady phase's arrivals");
    // The stream is the phase's own: renaming the phase gives other arrivals.
    let renamed = steady(recorded_sends(&base.replace("name = \"steady\"\nsessions", "name = \"steady-2\"\nsessions")));
    assert_ne!(alone, renamed);
}

/// When the system answers slower than the schedule needs, the in-flight cap drops arrivals and
/// the summary says the generator fell behind, with the rate it reached.
#[test]
fn dropped_arrivals_make_the_summary_say_the_generator_fell_behind() {
    let s = run("in-flight-cap");
    let behind = s.behind.as_ref().expect("the summary says the generator fell behind");
    assert!(behind.message.contains("the generator fell behind"), "{}", behind.message);
    assert!(behind.message.contains("arrivals dropped"), "{}", behind.message);
    assert_eq!(behind.dropped_arrivals, s.accounting.dropped_arrivals);
    assert!(s.warnings().iter().any(|w| w.contains("fell behind")));
    let on_time = run("arrivals-constant");
    assert!(on_time.behind.is_none(), "a run that kept its schedule says nothing: {:?}", on_time.behind);
}

/// A target with a backlog of its own: it takes at most five messages at a time and answers
/// them at each sample.
#[derive(Default)]
struct Backlogged {
    held: Vec<u64>,
    most_held: usize,
}

impl herd::targets::Target for Backlogged {
    fn accepts(&self, _session: usize) -> bool {
        self.held.len() < 5
    }

    fn send(&mut self, _now: u64, msg: &herd::targets::Outbound, _io: &mut herd::targets::TargetIo) {
        self.held.push(msg.id);
        self.most_held = self.most_held.max(self.held.len());
    }

    fn sample(&mut self, _now: u64, io: &mut herd::targets::TargetIo) {
        for id in self.held.drain(..) {
            io.observe(herd::targets::Observation::Reply { id, success: true, interrupted: false });
        }
        io.observe(herd::targets::Observation::Gauges(herd::targets::GaugeSample::default()));
    }
}

/// A target whose own backlog is full refuses arrivals before they are built: they count as
/// dropped arrivals (the generator fell behind), not as messages that failed to send, and the
/// target is never handed more than it said it would take.
#[test]
fn a_full_target_backlog_drops_arrivals_instead_of_failing_sends() {
    let toml = r#"
name = "backlog"
sample_interval = "1s"
[[sessions]]
count = 10
[[phases]]
executor = "constant-arrival-rate"
rate = "100/s"
duration = "5s"
"#;
    let loaded =
        herd::scenario::load_bytes("backlog.toml", toml.as_bytes()).unwrap_or_else(|d| panic!("{}", d.render()));
    let plan = herd::plan::compile(&loaded).unwrap_or_else(|d| panic!("{}", d.render()));
    let mut target = Backlogged::default();
    let result =
        herd::runtime::run(&plan, &mut target, &herd::runtime::RunOptions::default(), &mut herd::runtime::NoObserver);
    let a = &result.accounting;
    assert_eq!(target.most_held, 5, "the target was handed more than it accepts");
    assert_eq!(a.send_errors, 0, "{a:?}");
    assert!(a.dropped_arrivals > 400, "{a:?}");
    assert_eq!(a.sent + a.dropped_arrivals, 500, "every arrival is sent or dropped: {a:?}");
    assert_eq!(a.sent, a.replied, "{a:?}");
}

/// A target that implements no fault says so in the fault's record, instead of failing the run.
#[test]
fn a_fault_the_target_cannot_carry_out_is_recorded_as_not_supported() {
    let toml = r#"
name = "no-faults"
[[sessions]]
count = 1
[[phases]]
executor = "constant-arrival-rate"
rate = "1/s"
duration = "10s"
[[faults]]
at = "2s"
action = "kill-container"
container = 0
"#;
    let loaded = herd::scenario::load_bytes("f.toml", toml.as_bytes()).unwrap_or_else(|d| panic!("{}", d.render()));
    let plan = herd::plan::compile(&loaded).unwrap_or_else(|d| panic!("{}", d.render()));
    let mut target = Recording::default();
    let result =
        herd::runtime::run(&plan, &mut target, &herd::runtime::RunOptions::default(), &mut herd::runtime::NoObserver);
    assert_eq!(result.faults[0].at, Some(2.0));
    assert_eq!(result.faults[0].detail, "kill-container is not supported by this target");
    assert_eq!(result.accounting.sent, 10);
}

/// A graceful stop finishes the message in hand, releases the claim, and a replacement takes
/// the pair at once: nothing is lost and nothing waits for a visibility timeout. The same strike
/// as a kill loses the message in hand to the visibility timeout (30 s of extra latency).
#[test]
fn a_stopped_container_finishes_its_message_and_a_killed_one_does_not() {
    let stopped = run("stop-vs-kill");
    assert!(stopped.faults[0].detail.contains("gracefully"), "{}", stopped.faults[0].detail);
    assert_eq!(stopped.accounting.lost, 0, "{:?}", stopped.accounting);
    assert_eq!(stopped.accounting.replied, stopped.accounting.sent);
    let max_stopped = metric(&stopped, "message_latency").max.unwrap();
    assert!(max_stopped < 15_000_000.0, "no message waited for a visibility timeout: {max_stopped} µs");

    let text =
        std::fs::read_to_string("tests/engine/stop-vs-kill.toml").unwrap().replace("stop-container", "kill-container");
    let loaded = herd::scenario::load_bytes("kill.toml", text.as_bytes()).unwrap_or_else(|d| panic!("{}", d.render()));
    let killed = common::run_plan(&herd::plan::compile(&loaded).unwrap_or_else(|d| panic!("{}", d.render())));
    common::assert_accounting(&killed);
    let max_killed = metric(&killed, "message_latency").max.unwrap();
    assert!(
        max_killed >= 30_000_000.0,
        "the killed container's message waited for its visibility timeout: {max_killed} µs"
    );
}

/// An interrupt fault that carries a message interrupts the session's busy container and sends
/// the message, counted like any other.
#[test]
fn an_interrupt_with_a_message_preempts_and_sends_the_new_work() {
    let toml = r#"
name = "interrupt-message"
max_duration = "5m"
[target]
kind = "sim"
containers = { max = 1, warm = 1 }
processing = "fixed(10s)"
switch_cost = "fixed(0s)"
interrupt_policy = "never"
[[sessions]]
count = 2
project = "p"
thread = "t-{{ i }}"
[[phases]]
executor = "burst"
count = 1
sessions = ["sessions"]
[[faults]]
at = "3s"
action = "interrupt"
session = "t-1"
message = { instruction = "Stop that and do this" }
"#;
    let loaded = herd::scenario::load_bytes("im.toml", toml.as_bytes()).unwrap_or_else(|d| panic!("{}", d.render()));
    let s = common::run_plan(&herd::plan::compile(&loaded).unwrap_or_else(|d| panic!("{}", d.render())));
    common::assert_accounting(&s);
    assert_eq!(s.accounting.sent, 3, "two from the burst and the fault's message: {:?}", s.accounting);
    assert_eq!(s.accounting.interrupts_sent, 1, "{:?}", s.accounting);
    assert_eq!(s.accounting.interrupts, 1, "t-0's message was preempted: {:?}", s.accounting);
    assert!(s.faults[0].detail.starts_with("sent an INTERRUPT, then message 2 for t-1"), "{}", s.faults[0].detail);
}

fn correlations(toml: &str) -> Vec<String> {
    let loaded = herd::scenario::load_bytes("ids.toml", toml.as_bytes()).unwrap_or_else(|d| panic!("{}", d.render()));
    let plan = herd::plan::compile(&loaded).unwrap_or_else(|d| panic!("{}", d.render()));
    let mut target = Recording::default();
    herd::runtime::run(&plan, &mut target, &herd::runtime::RunOptions::default(), &mut herd::runtime::NoObserver);
    target.correlations
}

/// Correlation ids (task tokens) follow the seed on the simulated target, so a run repeats; on a
/// real system they come from the operating system, so nobody can know them in advance.
#[test]
fn correlation_ids_are_seeded_on_the_sim_and_random_on_real_targets() {
    let sim = "name = \"ids\"\nseed = 5\n[[sessions]]\ncount = 2\n[[phases]]\nexecutor = \"burst\"\ncount = 3\n";
    assert_eq!(correlations(sim), correlations(sim));
    let aws = sim.replace(
        "[[sessions]]",
        "[target]\nkind = \"aws\"\npreset = \"webordinary-b\"\nallowed_accounts = [\"123456789012\"]\n[[sessions]]",
    );
    let (a, b) = (correlations(&aws), correlations(&aws));
    assert_eq!(a.len(), 6);
    assert!(a.iter().all(|id| !b.contains(id)), "same seed, different tokens: {a:?} {b:?}");
}

/// Unknown and late replies are metrics a threshold can gate.
#[test]
fn unknown_and_late_replies_can_be_gated() {
    let toml = "name = \"gates\"\n[[sessions]]\ncount = 1\n[[phases]]\nexecutor = \"burst\"\ncount = 2\n[thresholds]\nunknown_replies = [\"count == 0\"]\nlate_replies = [\"count == 0\"]\n";
    let loaded = herd::scenario::load_bytes("g.toml", toml.as_bytes()).unwrap_or_else(|d| panic!("{}", d.render()));
    let s = common::run_plan(&herd::plan::compile(&loaded).unwrap_or_else(|d| panic!("{}", d.render())));
    assert_eq!(s.thresholds.len(), 2);
    assert!(s.thresholds.iter().all(|t| t.passed && t.measured == Some(0.0)), "{:?}", s.thresholds);
}

#[test]
fn a_phase_that_never_sends_and_a_fault_that_strikes_nothing_fail_the_run() {
    let s = run("nothing-proven");
    assert_eq!(s.verdict, Verdict::Failed, "no threshold failed, but the run proved nothing");
    assert!(s.thresholds.is_empty());
    let text = s.failures.join("\n");
    assert!(text.contains("phase `second` never started"), "{text}");
    assert!(text.contains("fault `kill-seventh` at 5.0s struck nothing: container 7 had not been started"), "{text}");
    assert!(!text.contains("phase `first`"), "the first phase sent: {text}");
    // The same run whose phase and fault say they may do nothing passes.
    let allowed = run("nothing-proven-allowed");
    assert_eq!(allowed.verdict, Verdict::Passed, "{:?}", allowed.failures);
    assert!(allowed.failures.is_empty());
    assert_eq!(allowed.accounting.sent, s.accounting.sent);
}

#[test]
fn a_message_template_that_fails_at_run_time_stops_the_run_and_sends_nothing_for_it() {
    let s = run("template-fails");
    assert_eq!(s.verdict, Verdict::Aborted);
    assert_eq!(s.end_reason, EndReason::Aborted);
    let reason = s.abort_reason.as_deref().unwrap_or_default();
    assert!(reason.starts_with("message 2 (thread t, phase loop) could not be rendered"), "{reason}");
    assert!(reason.contains("template `phases[0].message.instruction` failed"), "{reason}");
    assert!(reason.contains("1 // 0"), "{reason}");
    // Iterations 0 and 1 were sent and answered; iteration 2 was never sent, and the loop
    // stopped there: it is a send error, not a lost message.
    assert_eq!(s.accounting.replied, 2);
    assert_eq!(s.accounting.send_errors, 1);
    assert_eq!(s.accounting.lost, 0);
    assert_eq!(metric(&s, "send_errors").count, 1);
}

#[test]
fn thresholds_can_combine_a_phase_and_a_group() {
    let s = run("combined-tags");
    assert_eq!(s.verdict, Verdict::Passed, "{:#?}", s.thresholds.iter().filter(|t| !t.passed).collect::<Vec<_>>());
    // Each count rule holds only if its series counts exactly that phase and that group.
    assert_eq!(s.thresholds.len(), 7);
    // Combined series exist only for the pairs a threshold names (no cost for the others).
    let mut pairs: Vec<&str> = s
        .metrics
        .iter()
        .filter(|m| m.tag_key.as_deref() == Some("phase,group"))
        .filter_map(|m| m.tag_value.as_deref())
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    assert_eq!(pairs, ["p1,a", "p1,b", "p2,a"]);
}

#[test]
fn message_latency_counts_successes_and_other_outcomes_have_their_own_series() {
    let s = run("outcomes");
    assert_eq!(s.verdict, Verdict::Passed, "{:?}", s.thresholds);
    let series = |tag: Option<&str>| {
        s.metrics
            .iter()
            .find(|m| {
                m.name == "message_latency" && m.tag_value.as_deref() == tag && m.tag_key.as_deref() != Some("phase")
            })
            .map_or(0, |m| m.count)
    };
    let a = &s.accounting;
    assert!(a.failed > a.interrupts && a.interrupts > 0, "both kinds of failure happen: {a:?}");
    // Plain message_latency is the successful replies; every other first answer is in exactly
    // one outcome series.
    assert_eq!(series(None), a.replied);
    assert_eq!(series(Some("interrupted")) + series(Some("failed")), a.failed);
    assert_eq!(series(Some("interrupted")), a.interrupts);
}

#[test]
fn windowed_and_delayed_rules_are_judged_at_every_sample_on_their_own_data() {
    let s = run("windowed");
    let t = &s.thresholds;
    assert!(!t[0].passed, "over the whole run the cold start shows: {}", t[0].measured_text);
    assert!(t[1].passed, "after the warm-up it holds: {}", t[1].measured_text);
    assert_eq!(t[1].rule, "p(99) < 5s (after 40s)");
    // The 10 s window sees the cold start once the first replies arrive (between the samples
    // at 20 s and 30 s), and says when it failed.
    assert!(!t[2].passed);
    assert!(t[2].measured_text.ends_with("at 30s"), "{}", t[2].measured_text);
    assert!(t[3].passed, "{}", t[3].measured_text);
    assert_eq!(s.end_reason, EndReason::Completed, "the delayed abort rule never fired");
    // The same windowed rule with abort_on_fail stops the run when it first fails.
    let mut plan = common::plan(Path::new("tests/engine/windowed.toml"));
    plan.thresholds[2].abort_on_fail = true;
    let aborted = common::run_plan(&plan);
    assert_eq!(aborted.end_reason, EndReason::Aborted);
    let reason = aborted.abort_reason.as_deref().unwrap_or_default();
    assert!(reason.starts_with("message_latency: max < 5s (over 10s) failed at 30s (measured 20."), "{reason}");
    assert!(aborted.duration_seconds < 31.0, "{}", aborted.duration_seconds);
}

#[test]
fn per_user_round_robin_runs_the_users_at_once_each_switching_among_its_threads() {
    // Two users (project+user pairs) with three threads each, two messages per thread, 1 s each.
    let s = run("per-user-round-robin");
    assert_eq!((s.accounting.sent, s.accounting.replied, s.accounting.interrupts), (12, 12, 0));
    // Each user's loop sends its six messages one after another; the two users run at once.
    assert!((s.duration_seconds - 6.0).abs() < 1e-6, "took {}", s.duration_seconds);
    // One loop over everybody takes twice as long: the users wait for each other.
    let mut plan = common::plan(Path::new("tests/engine/per-user-round-robin.toml"));
    if let herd::plan::ExecutorPlan::PerSessionIterations { order, .. } = &mut plan.phases[0].executor {
        *order = herd::plan::IterationOrder::RoundRobin;
    }
    let one_loop = common::run_plan(&plan);
    assert!((one_loop.duration_seconds - 12.0).abs() < 1e-6, "took {}", one_loop.duration_seconds);
}

#[test]
fn the_breaking_point_executor_finds_a_known_capacity_within_one_step() {
    // Ten containers at 3 s a message take 3.33 messages a second at most.
    let s = run("breaking-point");
    let steps = &s.phases[0].steps;
    let held: Vec<f64> = steps.iter().filter(|st| st.held).map(|st| st.rate).collect();
    let broke = steps.iter().find(|st| !st.held).expect("a step broke");
    let highest = held.iter().copied().fold(0.0, f64::max);
    assert!((3.33 - 0.5..=3.33 + 0.5).contains(&highest), "held up to {highest}/s: {steps:#?}");
    assert!((broke.rate - highest - 0.5).abs() < 1e-9, "the step after the last one held broke");
    assert!(steps.last() == Some(broke), "no step runs after the one that broke");
    assert!(steps.iter().take_while(|st| st.held).count() == held.len(), "every step before held");
    assert!(broke.broke_on.as_deref().unwrap_or_default().starts_with("message_latency p(99) < 10s: measured"));
    // Below capacity every reply takes the 3 s of processing.
    assert_eq!(steps[0].p99_us.map(|us| us / 100_000), Some(30));
    assert_eq!(
        s.breaking_points(),
        [format!(
            "phase `find-limit` held {highest}/s and broke at {}/s ({})",
            broke.rate,
            broke.broke_on.as_deref().unwrap_or_default()
        )]
    );
}

#[test]
fn a_kill_shows_in_containers_running_until_the_replacement_is_ready() {
    // Two warm containers; one is killed at 10 s and its replacement takes 20 s to start.
    let s = run("kill-shows");
    let at = |t: f64| s.timeline.iter().find(|p| (p.t - t).abs() < 1e-6).map(|p| (p.containers, p.containers_starting));
    assert_eq!(at(5.0), Some((2, 0)));
    // Cold-starting containers are their own series, not counted as running.
    assert_eq!(at(15.0), Some((1, 1)));
    assert_eq!(at(25.0), Some((1, 1)));
    assert_eq!(at(35.0), Some((2, 0)), "the replacement is ready by 30 s");
    let running = s.metrics.iter().find(|m| m.name == "containers_running").expect("containers_running");
    assert_eq!(running.min, Some(1.0));
}

#[test]
fn message_rows_come_from_a_data_file_in_the_order_asked_for() {
    // Two sessions take turns (ids 0, 1, 2, ...). In order, the phase's third message (id 2)
    // gets the third row; per session, each session's third message does (the first is id 4).
    let s = run("message-data");
    let reason = s.abort_reason.clone().unwrap_or_default();
    assert!(reason.starts_with("message 2 "), "{reason}");
    let mut plan = common::plan(Path::new("tests/engine/message-data.toml"));
    for d in plan.message_data.values_mut() {
        d.order = herd::plan::DataOrder::PerSession;
    }
    let per_session = common::run_plan(&plan);
    let reason = per_session.abort_reason.unwrap_or_default();
    assert!(reason.starts_with("message 4 "), "{reason}");
}

#[test]
fn setup_and_teardown_phases_stay_out_of_the_runs_metrics() {
    let s = run("setup-teardown");
    assert_eq!(s.verdict, Verdict::Passed, "{:#?}", s.thresholds.iter().filter(|t| !t.passed).collect::<Vec<_>>());
    // Every message is counted in the accounting; only the measured phase's in the metrics.
    assert_eq!(s.accounting.sent, 16);
    assert_eq!(metric(&s, "messages_sent").count, 10);
    // Without the roles the cold start would fail the latency rule.
    let mut plan = common::plan(Path::new("tests/engine/setup-teardown.toml"));
    for p in &mut plan.phases {
        p.unmeasured = false;
    }
    let all = common::run_plan(&plan);
    assert!(!all.thresholds[0].passed, "{}", all.thresholds[0].measured_text);
}

#[test]
fn think_time_in_an_open_model_gives_each_session_one_message_and_a_rest() {
    // 10 arrivals a second for 30 s over four sessions that take 1 s to answer and rest 2 s:
    // each session can take one arrival every 3 s, and the others are dropped.
    let s = run("think-time-open");
    assert_eq!(s.accounting.sent + s.accounting.dropped_arrivals, 300);
    assert!((36..=40).contains(&s.accounting.sent), "sent {}", s.accounting.sent);
    // A session never holds two messages, so no message ever queues behind another.
    assert_close(metric(&s, "message_latency").max.unwrap(), 1_000_000.0);
    // Busy sessions are not a generator that fell behind, and the summary says what to do.
    assert!(s.behind.is_none(), "{:?}", s.behind);
    assert_eq!(s.phases[0].busy_drops, s.accounting.dropped_arrivals);
    assert!(s.warnings().iter().any(|w| w.contains("phase `open`") && w.contains("think_time")), "{:?}", s.warnings());
    // Without think time the same arrivals all go out and queue up.
    let mut plan = common::plan(Path::new("tests/engine/think-time-open.toml"));
    plan.phases[0].think_time = None;
    let eager = common::run_plan(&plan);
    assert_eq!((eager.accounting.sent, eager.accounting.dropped_arrivals), (300, 0));
    assert!(metric(&eager, "message_latency").max.unwrap() > 10_000_000.0);
}

#[test]
fn think_time_in_a_soak_skips_the_sends_due_while_a_session_waits_or_rests() {
    // A send every second for 30 s; a reply takes 1 s and the rest 1.5 s, so a session sends
    // at 0, 3, 6, ... s: 10 sends each, the 20 ticks between them skipped.
    let s = run("think-time-soak");
    assert_eq!(s.accounting.sent + s.accounting.dropped_arrivals, 60);
    assert_eq!(s.accounting.sent, 20);
    assert_close(metric(&s, "message_latency").max.unwrap(), 1_000_000.0);
}

#[test]
fn gauges_split_by_group_follow_each_groups_queues_and_containers() {
    let s = run("group-gauges");
    assert_eq!(s.verdict, Verdict::Passed, "{:#?}", s.thresholds.iter().filter(|t| !t.passed).collect::<Vec<_>>());
    let tagged = |name: &str, group: &str| {
        s.metrics
            .iter()
            .find(|m| m.name == name && m.tag_key.as_deref() == Some("group") && m.tag_value.as_deref() == Some(group))
            .unwrap_or_else(|| panic!("no {name}{{group={group}}}"))
    };
    // The fleet's queue depth is the heavy group's plus the light group's at every sample.
    assert_eq!(metric(&s, "queue_depth").max, tagged("queue_depth", "heavy").max);
    assert_eq!(tagged("queue_depth", "light").max, Some(0.0));
    // Each group's pair is owned by one of the two containers.
    assert_eq!(tagged("containers_running", "light").max, Some(1.0));
    assert_eq!(metric(&s, "containers_running").max, Some(2.0));
    // With one group the split is recorded only when a threshold asks for it, and then it is.
    let one = "name = \"one\"\n[target]\nkind = \"sim\"\n[[sessions]]\nname = \"only\"\n[[phases]]\nexecutor = \"burst\"\ncount = 3\n[thresholds]\n'queue_depth{group=\"only\"}' = [\"count > 0\"]\n";
    let loaded = herd::scenario::load_bytes("one.toml", one.as_bytes()).unwrap_or_else(|d| panic!("{}", d.render()));
    let plan = herd::plan::compile(&loaded).unwrap_or_else(|d| panic!("{}", d.render()));
    let one = common::run_plan(&plan);
    assert_eq!(one.verdict, Verdict::Passed, "{:?}", one.thresholds);
}

/// A long run keeps its timeline in bounded memory: 10,800 one-second samples become at most
/// 2,048 points of 8 samples each, which still add up to the run's totals and keep its peaks.
#[test]
fn a_long_timeline_is_compacted_and_still_adds_up() {
    let s = run("long-timeline");
    assert_eq!(s.samples_per_point, 8, "10,800 samples over a 2,048-point cap halve three times");
    assert!(s.timeline.len() <= 2048, "{} points", s.timeline.len());
    assert!(s.timeline.len() >= 10_800 / 8, "{} points", s.timeline.len());
    let sum = |f: fn(&herd::runtime::TimelinePoint) -> u64| s.timeline.iter().map(f).sum::<u64>();
    assert_eq!(sum(|p| p.sent), s.accounting.sent);
    assert_eq!(sum(|p| p.replied), s.accounting.replied);
    assert_eq!(sum(|p| p.failed), s.accounting.failed);
    assert_eq!(sum(|p| p.lost), s.accounting.lost);
    assert_eq!(sum(|p| p.latency_count), s.accounting.replied);
    // The kill's spike survives compaction: the largest latency of any point is the run's.
    let peak = s.timeline.iter().filter_map(|p| p.latency_max_ms).fold(0.0, f64::max);
    let run_max = metric(&s, "message_latency").max.unwrap() / 1e3;
    assert!((peak - run_max).abs() <= run_max * 1e-3, "timeline peak {peak} ms, run max {run_max} ms");
    assert!(run_max > 1_000.0, "the kill made a spike: {run_max} ms");
    // Complete points are 8 s apart and end on multiples of 8 s.
    for (i, p) in s.timeline.iter().enumerate().take(s.timeline.len() - 1) {
        assert_eq!(p.t, (i as f64 + 1.0) * 8.0, "point {i}");
    }
    assert_eq!(s.timeline.last().map(|p| p.t), Some(s.duration_seconds));
    // The report says what a point is, and its charts stay small: lines are thinned to about a
    // point per pixel and long bar series drawn in runs.
    let data = herd::report::ReportData::from_summary(&s);
    let html = herd::report::Renderer::new(None).unwrap().html(&data).unwrap();
    assert!(html.contains("each point covers 8 of them"), "the report explains the compaction");
    assert!(html.len() < 1 << 20, "report.html is {} bytes", html.len());
    assert!(html.matches("<title>").count() > 100, "hover titles stay on the thinned points");
}

/// Ids without template syntax are checked once and shared; they equal what a template that
/// renders the same text gives, and an invalid one is still refused with the key named.
#[test]
fn literal_ids_are_shared_and_equal_rendered_ones() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let scenario = |user: &str| {
        format!(
            "name = \"ids\"\n[[sessions]]\nname = \"a\"\ncount = 3\nclient = \"acme\"\nuser = \"{user}\"\nproject = \"p-{{{{ i % 2 }}}}\"\n\
             [[sessions]]\nname = \"b\"\ncount = 2\nclient = \"{{{{ 'ac' ~ 'me' }}}}\"\nthread = \"b-{{{{ i }}}}\"\n\
             [[phases]]\nexecutor = \"burst\"\ncount = 5\n"
        )
    };
    let file = dir.path().join("ids.toml");
    std::fs::write(&file, scenario("dev")).expect("write the scenario");
    let plan = common::plan(&file);
    let clients: Vec<&str> = plan.sessions.iter().map(|s| &*s.client).collect();
    assert_eq!(clients, ["acme"; 5]);
    assert!(plan.sessions.windows(2).all(|w| std::sync::Arc::ptr_eq(&w[0].client, &w[1].client)));
    let users: Vec<&str> = plan.sessions.iter().map(|s| &*s.user).collect();
    assert_eq!(users, ["dev", "dev", "dev", "user", "user"]);
    let projects: Vec<&str> = plan.sessions.iter().map(|s| &*s.project).collect();
    assert_eq!(projects, ["p-0", "p-1", "p-0", "project", "project"]);
    std::fs::write(&file, scenario("de\\tv")).expect("write the scenario");
    let refused = herd::plan::load_and_compile(&file).expect_err("a tab in an id is refused").render();
    assert!(refused.contains("sessions[0].user"), "{refused}");
}
