//! A fake SQS (and STS) server for the benchmarks: fast enough that the load tool, not the
//! server, is the bottleneck, and honest about what it saw.
//!
//! It speaks the AWS JSON 1.0 protocol the Rust SDK uses for SQS (`SendMessage`,
//! `SendMessageBatch`, `ReceiveMessage` with long polls, `DeleteMessage`, `DeleteMessageBatch`,
//! `GetQueueAttributes`) and the query protocol of STS `GetCallerIdentity`. Queues exist on first
//! use. A message sent to a queue whose name ends in `-work` is answered, after the configured
//! delay, with `{"commandId": ..., "success": true}` on the queue of the same name ending in
//! `-reply`, when the server is told to echo. The server keeps the truth for each echoed message:
//! when its work message arrived, and when its reply left in a `ReceiveMessage` response.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// What the server counts, for the benchmark's report.
#[derive(Debug, Default)]
pub struct Counts {
    /// HTTP requests served.
    pub requests: AtomicU64,
    /// Messages accepted into queues by `SendMessage` and `SendMessageBatch` (replies included).
    pub messages_in: AtomicU64,
    /// Work messages (to `-work` queues) accepted.
    pub work_in: AtomicU64,
    /// `SendMessage` calls.
    pub send_calls: AtomicU64,
    /// `SendMessageBatch` calls.
    pub batch_calls: AtomicU64,
}

#[derive(Default)]
struct Queue {
    visible: VecDeque<Stored>,
}

struct Stored {
    id: u64,
    body: String,
}

/// When one echoed message's work arrived and when its reply was handed out.
#[derive(Debug, Clone, Copy)]
pub struct Truth {
    /// The work message's arrival.
    pub arrived: Instant,
    /// When its reply left in a `ReceiveMessage` response, once it has.
    pub delivered: Option<Instant>,
}

/// The server's state.
pub struct FakeSqs {
    queues: Mutex<HashMap<String, Queue>>,
    /// Wakes long polls when a message arrives.
    arrived: Notify,
    next_id: AtomicU64,
    /// Echo delay; `None`: no echo.
    echo: Option<Duration>,
    /// Per commandId, the truth.
    truths: Mutex<HashMap<String, Truth>>,
    /// Per reply message id, its commandId (to stamp the delivery).
    reply_of: Mutex<HashMap<u64, String>>,
    /// Arrival times of work messages, for the pacing case.
    arrivals: Mutex<Vec<Instant>>,
    /// Calls by action.
    calls: Mutex<std::collections::BTreeMap<String, u64>>,
    /// Counters.
    pub counts: Counts,
}

impl FakeSqs {
    /// A server that echoes work after `echo` (or never, with `None`).
    pub fn new(echo: Option<Duration>) -> Arc<Self> {
        Arc::new(Self {
            queues: Mutex::new(HashMap::new()),
            arrived: Notify::new(),
            next_id: AtomicU64::new(1),
            echo,
            truths: Mutex::new(HashMap::new()),
            reply_of: Mutex::new(HashMap::new()),
            arrivals: Mutex::new(Vec::new()),
            calls: Mutex::new(std::collections::BTreeMap::new()),
            counts: Counts::default(),
        })
    }

    /// Every echoed message's truth so far.
    pub fn truths(&self) -> Vec<Truth> {
        self.truths.lock().unwrap().values().copied().collect()
    }

    /// Calls served so far, by action (`AmazonSQS.ReceiveMessage`, ...; `sts` for STS).
    pub fn calls(&self) -> std::collections::BTreeMap<String, u64> {
        self.calls.lock().unwrap().clone()
    }

    /// Arrival times of every work message so far.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.arrivals.lock().unwrap().clone()
    }

    /// Serves on 127.0.0.1 on a port of its own until the runtime stops; returns the address.
    pub async fn serve(self: Arc<Self>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let _ = stream.set_nodelay(true);
                let server = self.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(server.handle(req).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        addr
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        self.counts.requests.fetch_add(1, Ordering::Relaxed);
        let target =
            req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_owned).unwrap_or_default();
        *self
            .calls
            .lock()
            .unwrap()
            .entry(if target.is_empty() { "sts".to_owned() } else { target.clone() })
            .or_default() += 1;
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return error(400, "could not read the body"),
        };
        if target.is_empty() {
            // The query protocol: STS.
            let form = String::from_utf8_lossy(&body);
            if form.contains("Action=GetCallerIdentity") {
                return xml(GET_CALLER_IDENTITY);
            }
            return error(400, "unsupported query action");
        }
        let Ok(input) = serde_json::from_slice::<Value>(&body) else { return error(400, "the body is not JSON") };
        let op = target.rsplit('.').next().unwrap_or_default();
        match op {
            "SendMessage" => {
                self.counts.send_calls.fetch_add(1, Ordering::Relaxed);
                let url = input["QueueUrl"].as_str().unwrap_or_default();
                let text = input["MessageBody"].as_str().unwrap_or_default();
                let id = self.put(url, text.to_owned());
                self.arrived.notify_waiters();
                json_response(&json!({ "MessageId": id.to_string(), "MD5OfMessageBody": md5_hex(text) }))
            }
            "SendMessageBatch" => {
                self.counts.batch_calls.fetch_add(1, Ordering::Relaxed);
                let url = input["QueueUrl"].as_str().unwrap_or_default();
                let mut ok = Vec::new();
                for e in input["Entries"].as_array().into_iter().flatten() {
                    let text = e["MessageBody"].as_str().unwrap_or_default();
                    let id = self.put(url, text.to_owned());
                    ok.push(json!({ "Id": e["Id"], "MessageId": id.to_string(), "MD5OfMessageBody": md5_hex(text) }));
                }
                self.arrived.notify_waiters();
                json_response(&json!({ "Successful": ok, "Failed": [] }))
            }
            "ReceiveMessage" => {
                let url = input["QueueUrl"].as_str().unwrap_or_default().to_owned();
                let max = input["MaxNumberOfMessages"].as_u64().unwrap_or(1).clamp(1, 10) as usize;
                let wait = Duration::from_secs(input["WaitTimeSeconds"].as_u64().unwrap_or(0).min(20));
                let deadline = Instant::now() + wait;
                loop {
                    let notified = self.arrived.notified();
                    let got = self.take(&url, max);
                    if !got.is_empty() || Instant::now() >= deadline {
                        return json_response(&json!({ "Messages": got }));
                    }
                    let _ = tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), notified).await;
                }
            }
            "DeleteMessage" => json_response(&json!({})),
            "DeleteMessageBatch" => {
                let ok: Vec<Value> =
                    input["Entries"].as_array().into_iter().flatten().map(|e| json!({ "Id": e["Id"] })).collect();
                json_response(&json!({ "Successful": ok, "Failed": [] }))
            }
            "GetQueueAttributes" => {
                let url = input["QueueUrl"].as_str().unwrap_or_default();
                let n = self.queues.lock().unwrap().get(url).map_or(0, |q| q.visible.len());
                json_response(&json!({ "Attributes": { "ApproximateNumberOfMessages": n.to_string() } }))
            }
            "GetQueueUrl" => {
                let name = input["QueueName"].as_str().unwrap_or_default();
                json_response(&json!({ "QueueUrl": format!("http://127.0.0.1/000000000000/{name}") }))
            }
            other => error(400, &format!("unsupported operation {other}")),
        }
    }

    /// Stores a message; a work message is echoed (after the delay) when the server echoes.
    fn put(self: &Arc<Self>, url: &str, body: String) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.counts.messages_in.fetch_add(1, Ordering::Relaxed);
        if let Some(prefix) = url.strip_suffix("-work") {
            self.counts.work_in.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            self.arrivals.lock().unwrap().push(now);
            if let Some(delay) = self.echo {
                let command = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v["commandId"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                self.truths.lock().unwrap().insert(command.clone(), Truth { arrived: now, delivered: None });
                let reply_url = format!("{prefix}-reply");
                let server = self.clone();
                let answer = json!({ "commandId": command, "success": true }).to_string();
                let send = move || {
                    let rid = server.next_id.fetch_add(1, Ordering::Relaxed);
                    server.reply_of.lock().unwrap().insert(rid, command);
                    server
                        .queues
                        .lock()
                        .unwrap()
                        .entry(reply_url)
                        .or_default()
                        .visible
                        .push_back(Stored { id: rid, body: answer });
                    server.arrived.notify_waiters();
                };
                if delay.is_zero() {
                    send();
                } else {
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        send();
                    });
                }
            }
            // A work message is consumed by the echo (or by nobody): it is not kept.
            return id;
        }
        self.queues.lock().unwrap().entry(url.to_owned()).or_default().visible.push_back(Stored { id, body });
        id
    }

    /// Takes up to `max` visible messages (a fake: taken is deleted).
    fn take(&self, url: &str, max: usize) -> Vec<Value> {
        let mut queues = self.queues.lock().unwrap();
        let Some(q) = queues.get_mut(url) else { return Vec::new() };
        let n = q.visible.len().min(max);
        let taken: Vec<Stored> = q.visible.drain(..n).collect();
        drop(queues);
        if taken.is_empty() {
            return Vec::new();
        }
        let now = Instant::now();
        let mut reply_of = self.reply_of.lock().unwrap();
        let mut truths = self.truths.lock().unwrap();
        taken
            .into_iter()
            .map(|m| {
                if let Some(command) = reply_of.remove(&m.id)
                    && let Some(t) = truths.get_mut(&command)
                {
                    t.delivered = Some(now);
                }
                json!({
                    "MessageId": m.id.to_string(),
                    "ReceiptHandle": format!("rh-{}", m.id),
                    "MD5OfBody": md5_hex(&m.body),
                    "Body": m.body,
                })
            })
            .collect()
    }
}

const GET_CALLER_IDENTITY: &str = r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/bench</Arn><UserId>AIDABENCH</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#;

fn json_response(v: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-requestid", "bench")
        .body(Full::new(Bytes::from(v.to_string())))
        .expect("a response")
}

fn xml(text: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .header("content-type", "text/xml")
        .body(Full::new(Bytes::from_static(text.as_bytes())))
        .expect("a response")
}

fn error(status: u16, message: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-query-error", "InvalidParameterValue;Sender")
        .body(Full::new(Bytes::from(json!({ "__type": "InvalidParameterValue", "message": message }).to_string())))
        .expect("a response")
}

/// The body's MD5, as SQS answers it: herd and boto3 do not check it, but the JavaScript SDK
/// (Artillery's) refuses an answer whose checksum is wrong.
fn md5_hex(text: &str) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(text.as_bytes()))
}
