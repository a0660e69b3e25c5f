//! The metrics the engine records. Their names are part of herd's interface: thresholds, reports
//! and summaries use them.

use serde::{Deserialize, Serialize};

/// What a metric's values measure, which decides how threshold values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Durations, recorded in microseconds.
    Duration,
    /// Sizes, recorded in bytes.
    Bytes,
    /// Percentages, recorded in hundredths of a percent.
    Percent,
    /// Plain numbers.
    Count,
}

/// How a metric is aggregated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// A distribution of values (HdrHistogram): `p(N)`, `avg`, `min`, `max`, `count`.
    Trend,
    /// A distribution of gauge samples over time; also has `growth` (last sample minus first).
    Gauge,
    /// A running total: `count`.
    Counter,
    /// A fraction of successes: `rate`.
    Rate,
}

/// One metric of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Time from a message's intended send time to its successful reply. Failed and interrupted
    /// answers are in the `outcome` series (`message_latency{outcome="failed"}`).
    MessageLatency,
    /// Fraction of sent messages that got a successful reply.
    MessageSuccess,
    /// Messages sent.
    MessagesSent,
    /// Messages that got a successful reply.
    MessagesReplied,
    /// Messages that got a failure reply (including interrupted ones).
    MessagesFailed,
    /// Messages that got no reply within their timeout.
    MessagesLost,
    /// Extra replies for a message that already had one.
    MessagesDuplicated,
    /// Replies that overtook an earlier message of the same session.
    MessagesOutOfOrder,
    /// Time from asking for a container to its being ready.
    ContainerStart,
    /// Time a container spends switching to another thread.
    SessionSwitch,
    /// Time from a container kill to the next successful reply for its project+user.
    RecoveryTime,
    /// Messages interrupted (replied `interrupted`).
    Interrupts,
    /// Memory per container, sampled.
    ContainerMemory,
    /// CPU per container in percent, sampled.
    ContainerCpu,
    /// Messages waiting in the work queues, sampled.
    QueueDepth,
    /// How late sends were relative to their intended time.
    ScheduleLag,
    /// Arrivals not sent because too many messages were in flight.
    DroppedArrivals,
    /// Time a preview page takes to load after a reply.
    PreviewLoad,
    /// Containers running and ready for work, sampled (cold-starting ones are not counted).
    ContainersRunning,
    /// Calls to the target that failed after their retries.
    TargetErrors,
    /// Replies that could not be read.
    MalformedReplies,
    /// Extra answers whose outcome differs from the first answer's (a success after a failure,
    /// or the other way round): the system said two things about one message.
    MessagesContradictory,
    /// Answers that say the message was interrupted (`PREEMPTED`), first answers or not.
    /// `interrupts` is the older name of the same count.
    MessagesInterrupted,
    /// INTERRUPT messages herd sent (interrupt faults, and the router's interrupt on a thread
    /// switch).
    InterruptsSent,
    /// CLAIM_REQUEST messages herd sent (playing the router).
    ClaimsSent,
    /// Replies with a correlation id herd never sent (another run's, or a worker's bug).
    UnknownReplies,
    /// Replies that came after their message had been counted lost.
    LateReplies,
    /// Messages herd could not hand to the system (the send call failed after its retries, or
    /// the message could not be rendered). They are not counted lost: the system never had them.
    SendErrors,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 28] = [
        Metric::MessageLatency,
        Metric::MessageSuccess,
        Metric::MessagesSent,
        Metric::MessagesReplied,
        Metric::MessagesFailed,
        Metric::MessagesLost,
        Metric::MessagesDuplicated,
        Metric::MessagesOutOfOrder,
        Metric::MessagesContradictory,
        Metric::ContainerStart,
        Metric::SessionSwitch,
        Metric::RecoveryTime,
        Metric::MessagesInterrupted,
        Metric::Interrupts,
        Metric::InterruptsSent,
        Metric::ClaimsSent,
        Metric::ContainerMemory,
        Metric::ContainerCpu,
        Metric::QueueDepth,
        Metric::ScheduleLag,
        Metric::DroppedArrivals,
        Metric::PreviewLoad,
        Metric::ContainersRunning,
        Metric::TargetErrors,
        Metric::MalformedReplies,
        Metric::UnknownReplies,
        Metric::LateReplies,
        Metric::SendErrors,
    ];

    /// The metric's name as written in scenarios and reports.
    pub fn name(self) -> &'static str {
        match self {
            Metric::MessageLatency => "message_latency",
            Metric::MessageSuccess => "message_success",
            Metric::MessagesSent => "messages_sent",
            Metric::MessagesReplied => "messages_replied",
            Metric::MessagesFailed => "messages_failed",
            Metric::MessagesLost => "messages_lost",
            Metric::MessagesDuplicated => "messages_duplicated",
            Metric::MessagesOutOfOrder => "messages_out_of_order",
            Metric::ContainerStart => "container_start",
            Metric::SessionSwitch => "session_switch",
            Metric::RecoveryTime => "recovery_time",
            Metric::Interrupts => "interrupts",
            Metric::ContainerMemory => "container_memory",
            Metric::ContainerCpu => "container_cpu",
            Metric::QueueDepth => "queue_depth",
            Metric::ScheduleLag => "schedule_lag",
            Metric::DroppedArrivals => "dropped_arrivals",
            Metric::PreviewLoad => "preview_load",
            Metric::ContainersRunning => "containers_running",
            Metric::TargetErrors => "target_errors",
            Metric::MalformedReplies => "malformed_replies",
            Metric::MessagesContradictory => "messages_contradictory",
            Metric::MessagesInterrupted => "messages_interrupted",
            Metric::InterruptsSent => "interrupts_sent",
            Metric::ClaimsSent => "claims_sent",
            Metric::UnknownReplies => "unknown_replies",
            Metric::LateReplies => "late_replies",
            Metric::SendErrors => "send_errors",
        }
    }

    /// Looks a metric up by name.
    pub fn from_name(name: &str) -> Option<Metric> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// How the metric is aggregated.
    pub fn kind(self) -> MetricKind {
        match self {
            Metric::MessageLatency
            | Metric::ContainerStart
            | Metric::SessionSwitch
            | Metric::RecoveryTime
            | Metric::ScheduleLag
            | Metric::PreviewLoad => MetricKind::Trend,
            Metric::ContainerMemory | Metric::ContainerCpu | Metric::QueueDepth | Metric::ContainersRunning => {
                MetricKind::Gauge
            }
            Metric::MessageSuccess => MetricKind::Rate,
            Metric::MessagesSent
            | Metric::MessagesReplied
            | Metric::MessagesFailed
            | Metric::MessagesLost
            | Metric::MessagesDuplicated
            | Metric::MessagesOutOfOrder
            | Metric::Interrupts
            | Metric::DroppedArrivals
            | Metric::TargetErrors
            | Metric::MalformedReplies
            | Metric::MessagesContradictory
            | Metric::MessagesInterrupted
            | Metric::InterruptsSent
            | Metric::ClaimsSent
            | Metric::UnknownReplies
            | Metric::LateReplies
            | Metric::SendErrors => MetricKind::Counter,
        }
    }

    /// The unit of the metric's values.
    pub fn unit(self) -> Unit {
        match self {
            Metric::ContainerMemory => Unit::Bytes,
            Metric::ContainerCpu => Unit::Percent,
            Metric::QueueDepth | Metric::ContainersRunning => Unit::Count,
            m if m.kind() == MetricKind::Trend => Unit::Duration,
            _ => Unit::Count,
        }
    }

    /// Whether the metric can be split by phase and session group tags. Gauges describe the
    /// fleet over time, so they carry no phase; see [`Metric::group_taggable`].
    pub fn taggable(self) -> bool {
        !matches!(self.kind(), MetricKind::Gauge)
            && !matches!(
                self,
                Metric::ContainerStart | Metric::RecoveryTime | Metric::ClaimsSent | Metric::UnknownReplies
            )
    }

    /// Whether the metric can be split by session group: every taggable metric, and the gauges
    /// (the work queues of a group's project+user pairs, and the containers that own them).
    pub fn group_taggable(self) -> bool {
        self.taggable() || self.kind() == MetricKind::Gauge
    }
}
