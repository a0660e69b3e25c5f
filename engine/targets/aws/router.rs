//! The router task: the one owner of the correlation table. Background tasks (reply readers, the
//! callback listener, worker watchers) tell it what they saw, stamped when they saw it; it turns
//! correlation ids into message ids, tells session switches apart, and forwards observations to
//! the runtime with their original stamps. It never holds the dispatcher up, and a slow
//! ownership lookup holds it up for at most `OWNER_LOOKUP_BUDGET`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::clients::{Clients, explain};
use crate::plan::Session;
use crate::targets::{Observation, ObservationSender};

/// How long a cached owner stays fresh.
const OWNER_FRESH: Duration = Duration::from_secs(2);
/// How long the router waits for an ownership lookup before it keeps what it knew.
const OWNER_LOOKUP_BUDGET: Duration = Duration::from_millis(250);

/// One event seen by a background task.
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
    /// The server acknowledged messages `ids`.
    Acknowledged(Vec<u64>),
    /// Message `id` could not be sent.
    SendFailed {
        /// The engine's message id.
        id: u64,
        /// What failed.
        detail: String,
    },
    /// A container became ready after this many microseconds.
    ContainerStarted(u64),
    /// A CLAIM_REQUEST was sent.
    ClaimSent,
    /// An INTERRUPT was sent before a message of this session.
    InterruptSent(usize),
}

/// What the router is told.
#[derive(Debug)]
pub(crate) enum RouterMsg {
    /// A message was handed to its sender; its replies carry `correlation`.
    Sent {
        /// The correlation id in the body.
        correlation: String,
        /// The engine's message id.
        id: u64,
        /// The session's index.
        session: usize,
        /// When it was handed over.
        at: Instant,
    },
    /// Something a background task saw, and when.
    Seen {
        /// When it was seen.
        at: Instant,
        /// What.
        event: Inbound,
    },
}

/// Tells the router about something seen now.
pub(crate) fn seen(tx: &UnboundedSender<RouterMsg>, event: Inbound) {
    seen_at(tx, Instant::now(), event);
}

/// Tells the router about something seen at `at`. A closed router means the run has ended.
pub(crate) fn seen_at(tx: &UnboundedSender<RouterMsg>, at: Instant, event: Inbound) {
    let _ = tx.send(RouterMsg::Seen { at, event });
}

/// A project+user's row in the ownership table.
pub(crate) struct OwnershipRow {
    /// `containerId`.
    pub owner: Option<String>,
    /// `ttl`, seconds since the epoch.
    pub ttl: Option<u64>,
}

/// The pair's row in the ownership table, read consistently, if there is one.
pub(crate) async fn ownership_row(
    clients: &Clients,
    table: &str,
    pair_key: &str,
) -> Result<Option<OwnershipRow>, String> {
    let out = clients
        .dynamodb
        .get_item()
        .table_name(table)
        .key("projectKey", AttributeValue::S(pair_key.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| format!("ownership lookup for {pair_key}: {}", explain(&e)))?;
    Ok(out.item.map(|i| OwnershipRow {
        owner: i.get("containerId").and_then(|v| v.as_s().ok()).cloned(),
        ttl: i.get("ttl").and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u64>().ok()),
    }))
}

/// The container that owns a project+user in the ownership table, if any.
pub(crate) async fn lookup_owner(clients: &Clients, table: &str, pair_key: &str) -> Result<Option<String>, String> {
    Ok(ownership_row(clients, table, pair_key).await?.and_then(|r| r.owner))
}

struct Entry {
    id: u64,
    session: usize,
    sent: Instant,
    answered: bool,
}

/// The correlations of the messages sent, each kept at least `keep` after it was sent, in two
/// generations: new ones go into the current map, which becomes the previous one once it is
/// `keep` old, and the previous one is then cleared for reuse. Removing each correlation as it
/// aged out left a tombstone per message in one map, and at 1,000 messages a second the
/// tombstones made the map double its buckets once, ten minutes into a soak (+9 MiB); the two
/// generations reach their size within the first two periods and keep it.
struct Correlations {
    current: HashMap<String, Entry>,
    previous: HashMap<String, Entry>,
    /// When the current generation began.
    since: Option<Instant>,
    keep: Duration,
}

impl Correlations {
    fn new(keep: Duration) -> Self {
        Self { current: HashMap::new(), previous: HashMap::new(), since: None, keep }
    }

    fn insert(&mut self, at: Instant, correlation: String, entry: Entry) {
        match self.since {
            Some(since) if at.saturating_duration_since(since) < self.keep => {}
            Some(_) => {
                // Every entry of the previous generation is at least `keep` old now.
                std::mem::swap(&mut self.current, &mut self.previous);
                self.current.clear();
                self.since = Some(at);
            }
            None => self.since = Some(at),
        }
        self.current.insert(correlation, entry);
    }

    fn get_mut(&mut self, correlation: &str) -> Option<&mut Entry> {
        match self.current.get_mut(correlation) {
            Some(e) => Some(e),
            None => self.previous.get_mut(correlation),
        }
    }

    fn contains(&self, correlation: &str) -> bool {
        self.current.contains_key(correlation) || self.previous.contains_key(correlation)
    }
}

/// What the router needs besides its channel.
pub(crate) struct Router {
    pub clients: Clients,
    pub sessions: Arc<Vec<Session>>,
    /// The ownership table, when the system records owners (generation B).
    pub ownership_table: Option<String>,
    pub out: ObservationSender,
    /// How long a correlation is kept after its message was sent; a reply after that counts as
    /// unknown.
    pub forget_after: Duration,
}

impl Router {
    /// Runs until every sender of `rx` is gone.
    pub(crate) async fn run(self, mut rx: UnboundedReceiver<RouterMsg>) {
        let mut table = Correlations::new(self.forget_after);
        // Per project+user: the session and owner of its last answered message.
        let mut last_answer: HashMap<String, (usize, Option<String>)> = HashMap::new();
        // Per project+user: the owner read from the ownership table, and when it was read.
        let mut owners: HashMap<String, (Option<String>, Instant)> = HashMap::new();
        while let Some(msg) = rx.recv().await {
            match msg {
                RouterMsg::Sent { correlation, id, session, at } => {
                    table.insert(at, correlation, Entry { id, session, sent: at, answered: false });
                }
                RouterMsg::Seen { at, event } => match event {
                    Inbound::Reply { correlation, success, interrupted } => {
                        let Some(entry) = table.get_mut(&correlation) else {
                            self.out.send_stamped(at, Observation::UnknownReply);
                            continue;
                        };
                        let (id, session, sent) = (entry.id, entry.session, entry.sent);
                        if !entry.answered {
                            entry.answered = true;
                            let pair = self.sessions[session].pair_key();
                            let owner = match &self.ownership_table {
                                Some(t) => self.owner(&mut owners, t, &pair).await,
                                None => None,
                            };
                            // A switch seen from outside: the pair's container answers for another
                            // thread than it answered last. Without an ownership table the pair is
                            // taken to stay on one container, as generation A's router keeps it.
                            if let Some((prev_session, prev_owner)) = last_answer.get(&pair)
                                && *prev_session != session
                                && *prev_owner == owner
                            {
                                let took = at.saturating_duration_since(sent).as_micros() as u64;
                                self.out.send_stamped(at, Observation::SessionSwitch { id, took });
                            }
                            last_answer.insert(pair, (session, owner));
                        }
                        self.out.send_stamped(at, Observation::Reply { id, success, interrupted });
                    }
                    // A heartbeat keeps a task alive; one for a token herd never issued is a stray.
                    Inbound::Heartbeat { correlation } => {
                        if !table.contains(&correlation) {
                            self.out.send_stamped(at, Observation::UnknownReply);
                        }
                    }
                    Inbound::Malformed(detail) => self.out.send_stamped(at, Observation::MalformedReply { detail }),
                    Inbound::Error(detail) => {
                        tracing::warn!(target: "herd::aws", "{detail}");
                        self.out.send_stamped(at, Observation::TargetError { detail });
                    }
                    Inbound::SendFailed { id, detail } => {
                        self.out.send_stamped(at, Observation::SendFailed { id, detail });
                    }
                    Inbound::Acknowledged(ids) => self.out.send_stamped(at, Observation::Acknowledged { ids }),
                    Inbound::ClaimSent => self.out.send_stamped(at, Observation::ClaimSent),
                    Inbound::InterruptSent(session) => {
                        self.out.send_stamped(at, Observation::InterruptSent { session: Some(session) });
                    }
                    Inbound::ContainerStarted(took) => {
                        self.out.send_stamped(at, Observation::ContainerStarted { container: 0, took });
                    }
                },
            }
        }
    }

    /// The pair's owner, read at most every `OWNER_FRESH`; a lookup that takes longer than
    /// `OWNER_LOOKUP_BUDGET` keeps the last known owner.
    async fn owner(
        &self,
        cache: &mut HashMap<String, (Option<String>, Instant)>,
        table: &str,
        pair: &str,
    ) -> Option<String> {
        if let Some((owner, at)) = cache.get(pair)
            && at.elapsed() < OWNER_FRESH
        {
            return owner.clone();
        }
        let known = cache.get(pair).and_then(|(o, _)| o.clone());
        let owner = match tokio::time::timeout(OWNER_LOOKUP_BUDGET, lookup_owner(&self.clients, table, pair)).await {
            Ok(Ok(owner)) => owner,
            Ok(Err(e)) => {
                tracing::debug!(target: "herd::aws", "{e}");
                known
            }
            Err(_) => known,
        };
        cache.insert(pair.to_owned(), (owner.clone(), Instant::now()));
        owner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, at: Instant) -> Entry {
        Entry { id, session: 0, sent: at, answered: false }
    }

    #[test]
    fn correlations_are_kept_at_least_their_time_and_the_maps_stop_growing() {
        let keep = Duration::from_secs(10);
        let start = Instant::now();
        let mut c = Correlations::new(keep);
        let mut capacity = Vec::new();
        // 100 a second for 100 s.
        for i in 0..10_000u64 {
            let at = start + Duration::from_millis(i * 10);
            c.insert(at, format!("c{i}"), entry(i, at));
            // Everything sent in the last `keep` is still known.
            let oldest_kept = i.saturating_sub(999);
            assert!(c.contains(&format!("c{oldest_kept}")), "c{oldest_kept} forgotten at {i}");
            if i % 1000 == 999 {
                capacity.push(c.current.capacity() + c.previous.capacity());
            }
        }
        assert_eq!(c.get_mut("c9999").map(|e| e.id), Some(9999));
        // Forgotten once two periods old.
        assert!(!c.contains("c7000"));
        assert!(c.get_mut("c100").is_none());
        // Past the first two periods the maps hold their size.
        assert!(capacity[3..].iter().all(|&n| n == capacity[2]), "{capacity:?}");
    }
}
