//! What background tasks report to the synchronous target: replies, failures, container starts.

/// One event from a background task.
#[derive(Debug, Clone)]
pub(crate) enum Inbound {
    /// A reply for a correlation id.
    Reply {
        /// The correlation id (commandId, task token).
        correlation: String,
        /// Whether it succeeded.
        success: bool,
        /// Whether it was preempted.
        interrupted: bool,
    },
    /// A Step Functions heartbeat for a task token.
    Heartbeat {
        /// The token.
        correlation: String,
    },
    /// A reply that could not be read.
    Malformed(String),
    /// A call that failed after its retries.
    Error(String),
    /// A container became ready after this many microseconds.
    ContainerStarted(u64),
}
