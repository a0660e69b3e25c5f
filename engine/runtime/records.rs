//! What a run records for its summary: accounting, timeline points, phase, fault and session
//! records, and the result handed to the summary.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::Recorder;

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Every phase finished.
    Completed,
    /// `max_duration` was reached.
    MaxDuration,
    /// An `abort_on_fail` threshold failed.
    Aborted,
    /// The user stopped the run (Ctrl-C).
    Interrupted,
}

/// One point of the run's timeline, written at every sample.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Seconds since the start.
    pub t: f64,
    /// Arrivals per second the schedule asked for at this moment (open-model phases), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended_rate: Option<f64>,
    /// Messages sent in the interval.
    pub sent: u64,
    /// Successful replies in the interval.
    pub replied: u64,
    /// Failure replies in the interval.
    pub failed: u64,
    /// Messages lost in the interval.
    pub lost: u64,
    /// Messages in flight at the sample.
    pub in_flight: u64,
    /// Latency percentiles of replies in the interval, in milliseconds.
    pub latency_p50_ms: Option<f64>,
    /// 90th percentile, milliseconds.
    pub latency_p90_ms: Option<f64>,
    /// 99th percentile, milliseconds.
    pub latency_p99_ms: Option<f64>,
    /// Replies in the interval (for CloudWatch statistic sets).
    #[serde(default)]
    pub latency_count: u64,
    /// Sum of the interval's latencies, milliseconds.
    #[serde(default)]
    pub latency_sum_ms: f64,
    /// Smallest latency in the interval, milliseconds.
    #[serde(default)]
    pub latency_min_ms: Option<f64>,
    /// Largest latency in the interval, milliseconds.
    #[serde(default)]
    pub latency_max_ms: Option<f64>,
    /// Containers ready for work.
    pub containers: u64,
    /// Containers started but not ready yet (cold-starting).
    #[serde(default)]
    pub containers_starting: u64,
    /// Largest container memory, bytes.
    pub memory_max_bytes: Option<u64>,
    /// Mean container CPU, percent.
    pub cpu_avg_pct: Option<f64>,
    /// Messages waiting in the work queues.
    pub queue_depth: u64,
    /// 99th percentile of the interval's schedule lag (how late sends left), milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_lag_p99_ms: Option<f64>,
    /// Arrivals dropped by the in-flight cap in the interval.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a fault did, when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRecord {
    /// Its label.
    pub name: String,
    /// Seconds since the start when it struck, or `None` if the run ended first.
    pub at: Option<f64>,
    /// The action.
    pub action: String,
    /// What happened.
    pub detail: String,
    /// Containers struck.
    pub containers: Vec<u64>,
    /// Project+user pairs whose container was struck.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pairs: Vec<String>,
    /// Striking nothing does not fail the run (`allow_empty`).
    #[serde(default)]
    pub allow_empty: bool,
}

impl FaultRecord {
    /// Whether the fault struck something: a container, or a project+user's container.
    pub fn struck(&self) -> bool {
        self.at.is_some() && (!self.containers.is_empty() || !self.pairs.is_empty())
    }
}

/// What happened in one phase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseRecord {
    /// Phase name.
    pub name: String,
    /// Executor name.
    pub executor: String,
    /// Seconds since the start when it began.
    pub started: Option<f64>,
    /// Seconds since the start when its last message was resolved.
    pub finished: Option<f64>,
    /// Messages sent.
    pub sent: u64,
    /// Successful replies.
    pub replied: u64,
    /// Failure replies.
    pub failed: u64,
    /// Lost messages.
    pub lost: u64,
    /// Messages herd could not send.
    #[serde(default)]
    pub send_errors: u64,
    /// Arrivals dropped because every session was waiting for a reply or resting
    /// (`think_time`); they are also in the run's `dropped_arrivals`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub busy_drops: u64,
    /// Sending nothing does not fail the run (`allow_empty`).
    #[serde(default)]
    pub allow_empty: bool,
    /// A setup or teardown phase: counted in the accounting, left out of the run's metrics.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unmeasured: bool,
    /// A breaking-point phase's steps, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepRecord>,
}

/// One step of a breaking-point phase: its rate and what the answers that came in during it
/// said.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StepRecord {
    /// Arrivals per second asked for.
    pub rate: f64,
    /// Seconds since the phase started when the step began.
    pub started: f64,
    /// Successful answers in the step.
    pub replied: u64,
    /// Failure answers in the step.
    pub failed: u64,
    /// Messages counted lost in the step.
    pub lost: u64,
    /// Median latency of the successful answers, µs.
    pub p50_us: Option<u64>,
    /// 99th percentile latency of the successful answers, µs.
    pub p99_us: Option<u64>,
    /// Successful answers among all answers.
    pub success: Option<f64>,
    /// Whether every `until` rule held.
    pub held: bool,
    /// The first rule that failed, with what it measured.
    pub broke_on: Option<String>,
}

impl PhaseRecord {
    /// A phase that has not started yet.
    pub fn new(name: String, executor: String, allow_empty: bool) -> Self {
        Self {
            name,
            executor,
            started: None,
            finished: None,
            sent: 0,
            replied: 0,
            failed: 0,
            lost: 0,
            send_errors: 0,
            busy_drops: 0,
            allow_empty,
            unmeasured: false,
            steps: Vec::new(),
        }
    }
}

/// What the run counted for one session, kept for every session during the run (no ids: the
/// plan has them, and a million sessions must not hold a second copy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// Messages sent.
    pub sent: u64,
    /// Replies received (success or failure).
    pub answered: u64,
    /// Lost messages.
    pub lost: u64,
    /// Largest latency, microseconds.
    pub max_latency_us: u64,
    /// Sum of latencies, microseconds.
    pub total_latency_us: u64,
}

impl SessionCounters {
    /// The record of session `s` for the summary's slowest-sessions table.
    pub fn record(&self, s: &crate::plan::Session) -> SessionRecord {
        SessionRecord {
            thread: s.thread.clone(),
            pair: s.pair_key(),
            sent: self.sent,
            answered: self.answered,
            lost: self.lost,
            max_latency_us: self.max_latency_us,
            total_latency_us: self.total_latency_us,
        }
    }
}

/// Per-session latency figures, for the slowest-sessions table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Thread id.
    pub thread: String,
    /// Project+user.
    pub pair: String,
    /// Messages sent.
    pub sent: u64,
    /// Replies received (success or failure).
    pub answered: u64,
    /// Lost messages.
    pub lost: u64,
    /// Largest latency, microseconds.
    pub max_latency_us: u64,
    /// Sum of latencies, microseconds.
    pub total_latency_us: u64,
}

/// Message accounting: sent = replied + failed + lost; the messages herd tried to send but the
/// system never had (`send_errors`) are counted apart.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Accounting {
    /// Messages sent: acknowledged by the system (on targets that say so), or handed to it.
    pub sent: u64,
    /// Successful replies.
    pub replied: u64,
    /// Failure replies (errors and interrupts).
    pub failed: u64,
    /// No reply within the timeout, or still unanswered when the run ended.
    pub lost: u64,
    /// Extra answers for already-answered messages with the same outcome as the first.
    pub duplicated: u64,
    /// Replies that overtook an earlier message of their session.
    pub out_of_order: u64,
    /// Answers that said the message was interrupted (`messages_interrupted`; `interrupts` is
    /// its older name).
    pub interrupts: u64,
    /// Extra answers whose outcome contradicts the first answer.
    #[serde(default)]
    pub contradictory: u64,
    /// INTERRUPT messages herd sent.
    #[serde(default)]
    pub interrupts_sent: u64,
    /// CLAIM_REQUEST messages herd sent.
    #[serde(default)]
    pub claims_sent: u64,
    /// Claims seen taken in the ownership table (a project+user getting a new owner).
    #[serde(default)]
    pub claims_seen: u64,
    /// Arrivals dropped by the in-flight cap.
    pub dropped_arrivals: u64,
    /// Replies that came after their message had been counted lost.
    pub late_replies: u64,
    /// Calls to the target that failed after their retries.
    #[serde(default)]
    pub target_errors: u64,
    /// Replies that could not be read.
    #[serde(default)]
    pub malformed_replies: u64,
    /// Replies with a correlation id herd never sent (another run's, or a worker's bug).
    #[serde(default)]
    pub unknown_replies: u64,
    /// Messages herd could not send (the call failed after its retries, a template failed, or
    /// the system never acknowledged them): they are not counted as sent, so they are not lost.
    #[serde(default)]
    pub send_errors: u64,
    /// Of `send_errors`, the messages the system never acknowledged before their reply timeout
    /// or the end of the run (still waiting in herd's sender, or their call unfinished).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unconfirmed: u64,
}

/// Everything a finished run hands to the summary.
pub struct RunResult {
    /// All metrics.
    pub recorder: Recorder,
    /// Accounting totals.
    pub accounting: Accounting,
    /// The first send that failed, when one did.
    pub first_send_error: Option<String>,
    /// One point per sample interval, or per `samples_per_point` intervals in a long run.
    pub timeline: Vec<TimelinePoint>,
    /// Sample intervals per timeline point: 1, or a power of two once the run had more samples
    /// than a timeline keeps (see `runtime::timeline`).
    pub samples_per_point: u64,
    /// Faults, in plan order.
    pub faults: Vec<FaultRecord>,
    /// Phases, in plan order.
    pub phases: Vec<PhaseRecord>,
    /// Sessions, in plan order.
    pub sessions: Vec<SessionCounters>,
    /// Why the run ended.
    pub end: EndReason,
    /// The threshold that aborted the run, if any.
    pub abort_reason: Option<String>,
    /// Length of the run on its own clock.
    pub duration: Duration,
    /// Kills whose project+user never answered successfully again.
    pub unrecovered: u64,
    /// When and how far the generator fell behind its schedule, if it did.
    pub behind: Option<BehindRecord>,
    /// What the target could not release after the run (queues, tables, processes), by name.
    pub cleanup_failures: Vec<String>,
    /// Files the target wrote (worker logs).
    pub files: Vec<std::path::PathBuf>,
    /// Every change of a project+user's owner seen in the ownership table, in time order.
    pub ownership_changes: Vec<OwnershipChange>,
    /// What the run used of each billed item, for the cost estimate.
    pub usage: crate::cost::Usage,
}

/// A project+user changed hands.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OwnershipChange {
    /// Seconds since the start.
    pub t: f64,
    /// `{project}#{user}`.
    pub pair: String,
    /// The owner before (none: unowned).
    pub from: Option<String>,
    /// The owner after (none: released).
    pub to: Option<String>,
}

/// The generator fell behind its schedule: sends left late, or arrivals were dropped, as k6's
/// "insufficient VUs" warning says of its own executors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BehindRecord {
    /// Seconds since the start when it was first seen.
    pub first_at: f64,
    /// The worst 10-second window: its schedule lag p99, milliseconds.
    pub worst_lag_p99_ms: f64,
    /// Messages sent per second in that window.
    pub sent_per_second: f64,
    /// Messages the schedule asked for per second in that window, when the phases running had a
    /// rate.
    pub planned_per_second: Option<f64>,
    /// Arrivals dropped in the whole run.
    pub dropped_arrivals: u64,
    /// The sentence reports show.
    pub message: String,
}
