//! SQS: one sender task per work queue (in order, batched up to 10, claims first for
//! generation B), one long-polling reply reader per reply queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc::{Receiver, UnboundedSender};

use super::clients::{Clients, explain};
use super::router::{Inbound, RouterMsg, ownership_row, seen, seen_at};
use super::wire::Outgoing;

/// A claim request to send before a work message when the pair has no owner.
#[derive(Debug, Clone)]
pub(crate) struct ClaimJob {
    /// `{project}#{user}`.
    pub pair_key: String,
    /// The claim queue's URL.
    pub queue_url: String,
    /// The rendered claim body.
    pub body: String,
    /// The ownership table.
    pub table: String,
    /// Owners known to be dead, when a claim is to be sent although their row looks alive.
    pub dead_owners: Option<Arc<std::sync::Mutex<std::collections::HashSet<String>>>>,
}

/// An INTERRUPT to send before a work message, as the router does.
#[derive(Debug, Clone)]
pub(crate) struct InterruptJob {
    /// The pair's interrupt queue.
    pub queue_url: String,
    /// The ownership table, to name the container interrupted.
    pub table: Option<String>,
    /// `{project}#{user}`.
    pub pair_key: String,
    /// The new message's thread.
    pub thread: String,
    /// The new message's id.
    pub message_id: String,
    /// Says who sent it.
    pub reason: String,
    /// The session, for the count.
    pub session: usize,
}

/// One work message, rendered.
#[derive(Debug, Clone)]
pub(crate) struct OutMsg {
    /// The engine's message id, to say which message a failed send lost.
    pub id: u64,
    /// The correlation id its replies carry, for the router.
    pub correlation: String,
    /// The session's index, for the router.
    pub session: usize,
    /// When the dispatcher handed it over.
    pub handed: std::time::Instant,
    pub body: String,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub claim: Option<ClaimJob>,
    pub interrupt: Option<InterruptJob>,
}

/// Whether the pair has a live owner in the ownership table: a row whose ttl has not passed,
/// and, when herd knows which owners are dead, not one of those.
async fn owned(clients: &Clients, claim: &ClaimJob) -> Result<bool, String> {
    let Some(row) = ownership_row(clients, &claim.table, &claim.pair_key).await? else { return Ok(false) };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let dead = match (&claim.dead_owners, &row.owner) {
        (Some(dead), Some(owner)) => dead.lock().is_ok_and(|d| d.contains(owner)),
        _ => false,
    };
    if dead && let Some(owner) = &row.owner {
        // The fixed router releases a dead container's row (only if it still names that
        // container), so the claim it sends next can be taken.
        clients
            .dynamodb
            .delete_item()
            .table_name(&claim.table)
            .key("projectKey", aws_sdk_dynamodb::types::AttributeValue::S(claim.pair_key.clone()))
            .condition_expression("containerId = :dead")
            .expression_attribute_values(":dead", aws_sdk_dynamodb::types::AttributeValue::S(owner.clone()))
            .send()
            .await
            .map_err(|e| format!("releasing {}'s row for {}: {}", owner, claim.pair_key, explain(&e)))?;
        tracing::info!(target: "herd::aws", "{owner} is dead: released its row for {} and claiming again", claim.pair_key);
    }
    Ok(row.ttl.is_none_or(|t| t >= now) && !dead)
}

/// Sends the INTERRUPTs a batch needs, before its work goes out, as the router does.
async fn send_interrupts(clients: &Clients, batch: &[OutMsg], inbox: &UnboundedSender<RouterMsg>) {
    for job in batch.iter().filter_map(|m| m.interrupt.as_ref()) {
        let owner = match &job.table {
            Some(t) => ownership_row(clients, t, &job.pair_key).await.ok().flatten().and_then(|r| r.owner),
            None => None,
        };
        let body = serde_json::json!({
            "type": "INTERRUPT",
            "containerId": owner.unwrap_or_default(),
            "newThreadId": job.thread,
            "interruptingMessageId": job.message_id,
            "timestamp": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
            "reason": job.reason,
        })
        .to_string();
        match clients.sqs.send_message().queue_url(&job.queue_url).message_body(body).send().await {
            Ok(_) => seen(inbox, Inbound::InterruptSent(job.session)),
            Err(e) => seen(inbox, Inbound::Error(format!("INTERRUPT to {}: {}", job.queue_url, explain(&e)))),
        }
    }
}

/// Sends the claims a batch needs: one per unowned pair, as the real router does.
async fn send_claims(clients: &Clients, batch: &[OutMsg], inbox: &UnboundedSender<RouterMsg>) {
    let mut done: Vec<&str> = Vec::new();
    for claim in batch.iter().filter_map(|m| m.claim.as_ref()) {
        if done.contains(&claim.pair_key.as_str()) {
            continue;
        }
        done.push(&claim.pair_key);
        match owned(clients, claim).await {
            Ok(true) => {}
            Ok(false) => {
                match clients.sqs.send_message().queue_url(&claim.queue_url).message_body(&claim.body).send().await {
                    Ok(_) => seen(inbox, Inbound::ClaimSent),
                    Err(e) => {
                        seen(inbox, Inbound::Error(format!("claim request for {}: {}", claim.pair_key, explain(&e))))
                    }
                }
            }
            Err(e) => {
                seen(inbox, Inbound::Error(format!("ownership lookup for {}: {e}", claim.pair_key)));
            }
        }
    }
}

/// Most `SendMessageBatch` calls one standard queue's sender has in flight at once.
const CONCURRENT_SENDS: usize = 32;

/// Sends a queue's messages, several at once with `SendMessageBatch` when several are due
/// together. A standard queue's batches go out concurrently (up to [`CONCURRENT_SENDS`]), since
/// SQS keeps no order there anyway and one call at a time caps a queue at one round trip per
/// ten messages; a FIFO queue's (messages with a group id) and batches that need a claim or an
/// INTERRUPT first go one at a time, in order.
pub(crate) async fn sender(
    clients: Clients,
    queue_url: String,
    mut rx: Receiver<OutMsg>,
    inbox: UnboundedSender<RouterMsg>,
    max_batch: usize,
) {
    let queue_url = Arc::new(queue_url);
    let mut running = tokio::task::JoinSet::new();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < max_batch.clamp(1, 10) {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        // The router learns each correlation before its message can reach SQS.
        for m in &batch {
            let _ = inbox.send(RouterMsg::Sent {
                correlation: m.correlation.clone(),
                id: m.id,
                session: m.session,
                at: m.handed,
            });
        }
        let in_order = batch.iter().any(|m| m.group_id.is_some() || m.claim.is_some() || m.interrupt.is_some());
        if in_order {
            // Everything sent before goes first.
            while running.join_next().await.is_some() {}
            send_batch(&clients, &queue_url, batch, &inbox).await;
            continue;
        }
        while running.len() >= CONCURRENT_SENDS {
            running.join_next().await;
        }
        // Finished calls are reaped as they go, so the set holds only the running ones.
        while running.try_join_next().is_some() {}
        let (clients, queue_url, inbox) = (clients.clone(), queue_url.clone(), inbox.clone());
        running.spawn(async move { send_batch(&clients, &queue_url, batch, &inbox).await });
    }
    // The run is over or the channel closed: what is in flight finishes (or the runtime drops it).
    while running.join_next().await.is_some() {}
}

/// Sends one batch: its claims and INTERRUPTs first, then the work, one `SendMessage` for a
/// single message and a `SendMessageBatch` for more; says which were acknowledged and which
/// failed.
async fn send_batch(clients: &Clients, queue_url: &str, batch: Vec<OutMsg>, inbox: &UnboundedSender<RouterMsg>) {
    send_claims(clients, &batch, inbox).await;
    send_interrupts(clients, &batch, inbox).await;
    let outgoing: Vec<Outgoing<'_>> = batch
        .iter()
        .map(|m| Outgoing {
            body: &m.body,
            group_id: m.group_id.as_deref(),
            dedup_id: m.dedup_id.as_deref(),
            attributes: &m.attributes,
        })
        .collect();
    if let [one] = outgoing.as_slice() {
        match clients.wire.send_message(queue_url, *one).await {
            Ok(()) => seen(inbox, Inbound::Acknowledged(vec![batch[0].id])),
            Err(e) => {
                let detail = format!("SendMessage to {queue_url}: {e}");
                seen(inbox, Inbound::SendFailed { id: batch[0].id, detail });
            }
        }
        return;
    }
    match clients.wire.send_message_batch(queue_url, &outgoing).await {
        Ok(out) => {
            let acknowledged: Vec<u64> = out.succeeded.iter().map(|&i| batch[i].id).collect();
            if !acknowledged.is_empty() {
                seen(inbox, Inbound::Acknowledged(acknowledged));
            }
            for (i, why) in out.failed {
                let detail = format!("SendMessageBatch to {queue_url}: {why}");
                seen(inbox, Inbound::SendFailed { id: batch[i].id, detail });
            }
        }
        Err(e) => {
            let detail = format!("SendMessageBatch to {queue_url}: {e}");
            for m in &batch {
                seen(inbox, Inbound::SendFailed { id: m.id, detail: detail.clone() });
            }
        }
    }
}

/// JSON pointers that read a reply.
#[derive(Debug, Clone)]
pub(crate) struct ReplyPointers {
    pub correlation: String,
    pub success: String,
    pub interrupted: Option<String>,
}

/// Reads a reply body; `Err` says why it is malformed.
pub(crate) fn parse_reply(body: &str, p: &ReplyPointers) -> Result<Inbound, String> {
    let json: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("reply is not JSON: {e}"))?;
    let correlation = json
        .pointer(&p.correlation)
        .and_then(|v| v.as_str())
        .ok_or_else(|| format!("reply has no string at {}", p.correlation))?
        .to_owned();
    let flag = |ptr: &str| json.pointer(ptr).and_then(serde_json::Value::as_bool);
    let success = flag(&p.success).ok_or_else(|| format!("reply has no boolean at {}", p.success))?;
    let interrupted = p.interrupted.as_deref().and_then(flag).unwrap_or(false);
    Ok(Inbound::Reply { correlation, success, interrupted })
}

/// Most extra readers a busy reply queue gets besides its own.
const EXTRA_READERS: usize = 7;

/// Most `DeleteMessageBatch` calls a reply queue has in flight.
const CONCURRENT_DELETES: usize = 8;

/// How long a read reply waits for others to share its `DeleteMessageBatch`. At 20 replies a
/// second a delete per read was a third of herd's calls; waiting half a second makes it one call
/// for ten replies. Far below any sensible visibility timeout of a reply queue (herd creates
/// them with 30 s), so a reply is never read twice for it.
const DELETE_LINGER: Duration = Duration::from_millis(500);

/// Reads one reply queue with long polls until `stop`. Every reply of a batch is stamped when the
/// call returned. Deleting a batch does not hold up the next read (the deletes run beside it),
/// and while batches come back full, extra readers join (up to [`EXTRA_READERS`]), each leaving
/// when it reads less than a full batch, so a busy queue is drained by several calls at once and
/// an idle one costs one long poll.
pub(crate) async fn reply_reader(
    clients: Clients,
    queue_url: String,
    pointers: ReplyPointers,
    wait: Duration,
    inbox: UnboundedSender<RouterMsg>,
    control: ReadControl,
) {
    let ReadControl { stop, undeleted } = control;
    let (delete_tx, delete_rx) = tokio::sync::mpsc::unbounded_channel();
    let deleter =
        tokio::spawn(deleter(clients.clone(), queue_url.clone(), inbox.clone(), delete_rx, undeleted.clone()));
    let reader = Arc::new(Reader {
        clients,
        queue_url,
        pointers,
        wait: wait.min(Duration::from_secs(20)),
        inbox,
        stop,
        extra: std::sync::atomic::AtomicUsize::new(0),
        delete: delete_tx,
        undeleted,
    });
    reader.run(false).await;
    // The deleter ends (after deleting what it holds) once every reader, extra ones included,
    // has dropped its sender.
    let _ = deleter.await;
}

/// What the target keeps to stop the reply readers and to know when their deletes are done.
#[derive(Clone)]
pub(crate) struct ReadControl {
    /// Set when the run is over.
    pub(crate) stop: Arc<AtomicBool>,
    /// Replies read and not yet deleted (or given up on), over every reply queue.
    pub(crate) undeleted: Arc<AtomicUsize>,
}

/// Deletes the replies the readers of one queue read: ten to a `DeleteMessageBatch`, or fewer
/// once the oldest has waited [`DELETE_LINGER`]; whatever it holds when the readers stop.
async fn deleter(
    clients: Clients,
    queue_url: String,
    inbox: UnboundedSender<RouterMsg>,
    mut receipts: tokio::sync::mpsc::UnboundedReceiver<String>,
    undeleted: Arc<AtomicUsize>,
) {
    let mut held: Vec<String> = Vec::new();
    let mut calls = tokio::task::JoinSet::new();
    let mut open = true;
    while open || !held.is_empty() {
        if open {
            let got = if held.is_empty() {
                receipts.recv().await
            } else {
                match tokio::time::timeout(DELETE_LINGER, receipts.recv()).await {
                    Ok(r) => r,
                    // The oldest has waited long enough: delete what is held.
                    Err(_) => {
                        flush(&clients, &queue_url, &inbox, &undeleted, &mut held, &mut calls).await;
                        continue;
                    }
                }
            };
            match got {
                Some(r) => held.push(r),
                None => open = false,
            }
            // Take whatever else is already waiting without another wake-up.
            while held.len() < 10
                && let Ok(r) = receipts.try_recv()
            {
                held.push(r);
            }
            if held.len() < 10 && open {
                continue;
            }
        }
        flush(&clients, &queue_url, &inbox, &undeleted, &mut held, &mut calls).await;
    }
    while calls.join_next().await.is_some() {}
}

/// Starts a `DeleteMessageBatch` for up to ten held receipts (waiting while
/// [`CONCURRENT_DELETES`] are in flight).
async fn flush(
    clients: &Clients,
    queue_url: &str,
    inbox: &UnboundedSender<RouterMsg>,
    undeleted: &Arc<AtomicUsize>,
    held: &mut Vec<String>,
    calls: &mut tokio::task::JoinSet<()>,
) {
    let take = held.len().min(10);
    let handles: Vec<String> = held.drain(..take).collect();
    if handles.is_empty() {
        return;
    }
    while calls.len() >= CONCURRENT_DELETES {
        calls.join_next().await;
    }
    while calls.try_join_next().is_some() {}
    let (clients, queue_url, inbox, undeleted) =
        (clients.clone(), queue_url.to_owned(), inbox.clone(), undeleted.clone());
    calls.spawn(async move {
        match clients.wire.delete_message_batch(&queue_url, &handles).await {
            Ok(out) => {
                for (_, why) in out.failed {
                    seen(&inbox, Inbound::Error(format!("DeleteMessageBatch on {queue_url}: {why}")));
                }
            }
            Err(e) => seen(&inbox, Inbound::Error(format!("DeleteMessageBatch on {queue_url}: {e}"))),
        }
        undeleted.fetch_sub(handles.len(), Ordering::SeqCst);
    });
}

/// What the readers of one reply queue share.
struct Reader {
    clients: Clients,
    queue_url: String,
    pointers: ReplyPointers,
    wait: Duration,
    inbox: UnboundedSender<RouterMsg>,
    stop: Arc<AtomicBool>,
    /// Extra readers running now.
    extra: std::sync::atomic::AtomicUsize,
    /// Receipts of the replies read, to the queue's deleter.
    delete: tokio::sync::mpsc::UnboundedSender<String>,
    /// Replies read and not yet deleted (or given up on), over every reply queue: the target
    /// waits for it to reach zero before it stops the runtime.
    undeleted: Arc<AtomicUsize>,
}

impl Reader {
    /// Boxed, and said to be `Send`, because a reader spawns readers like itself.
    fn run(self: Arc<Self>, extra: bool) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async move { self.read(extra).await })
    }

    async fn read(self: Arc<Self>, extra: bool) {
        while !self.stop.load(Ordering::Relaxed) {
            // An extra reader does not wait: it is there only while replies are waiting.
            let wait = if extra { Duration::ZERO } else { self.wait };
            let out = self.clients.wire.receive_message(&self.queue_url, 10, wait).await;
            // Every reply of the batch was seen when the call returned: that is its time,
            // however long the router or the dispatcher take to handle it.
            let at = std::time::Instant::now();
            let messages = match out {
                Ok(messages) => messages,
                Err(e) => {
                    if self.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let detail = format!("ReceiveMessage from {}: {e}", self.queue_url);
                    seen(&self.inbox, Inbound::Error(detail));
                    if extra {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let full = messages.len() == 10;
            for m in messages {
                let event = match parse_reply(m.body.as_deref().unwrap_or(""), &self.pointers) {
                    Ok(e) => e,
                    Err(why) => Inbound::Malformed(why),
                };
                seen_at(&self.inbox, at, event);
                if let Some(handle) = m.receipt_handle {
                    self.undeleted.fetch_add(1, Ordering::SeqCst);
                    if self.delete.send(handle).is_err() {
                        self.undeleted.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            }
            if full && self.extra.fetch_add(1, Ordering::SeqCst) < EXTRA_READERS {
                tokio::spawn(self.clone().run(true));
            } else if full {
                self.extra.fetch_sub(1, Ordering::SeqCst);
            }
            if extra && !full {
                break;
            }
        }
        if extra {
            self.extra.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointers() -> ReplyPointers {
        ReplyPointers {
            correlation: "/commandId".into(),
            success: "/success".into(),
            interrupted: Some("/interrupted".into()),
        }
    }

    #[test]
    fn replies_are_read_by_pointer() {
        let r = parse_reply(r#"{"commandId": "c1", "success": false, "interrupted": true}"#, &pointers()).unwrap();
        assert!(
            matches!(r, Inbound::Reply { ref correlation, success: false, interrupted: true } if correlation == "c1")
        );
        let r = parse_reply(r#"{"commandId": "c2", "success": true}"#, &pointers()).unwrap();
        assert!(matches!(r, Inbound::Reply { success: true, interrupted: false, .. }));
    }

    #[test]
    fn malformed_replies_say_why() {
        assert!(parse_reply("not json", &pointers()).unwrap_err().contains("not JSON"));
        assert!(parse_reply(r#"{"success": true}"#, &pointers()).unwrap_err().contains("/commandId"));
        assert!(parse_reply(r#"{"commandId": "c", "success": "yes"}"#, &pointers()).unwrap_err().contains("/success"));
    }
}
