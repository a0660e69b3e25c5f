//! A reference worker for both generations of the reference system, used by herd's AWS tests as
//! a real container process (started, measured and killed by `[target.containers] kind = "local"`)
//! and useful to try a scenario against a local AWS-compatible server.
//!
//! Generation A: polls every `webordinary-input-*` queue, "processes" each message, and replies
//! on `webordinary-output-{project}-{user}` with the message's `commandId`.
//! Generation B: takes claim requests from `webordinary-unclaimed`, claims the project+user in
//! `webordinary-container-ownership` with a conditional put, polls the claimed FIFO queue, and
//! reports each task with `SendTaskSuccess` to the Step Functions endpoint in `HERD_CALLBACK_URL`.
//!
//! Options: `--generation a|b`, `--processing-ms N`, `--drop-every N` (delete every Nth message
//! without answering: a lost message), `--fail-then-succeed-every N` (generation B: answer every
//! Nth task with `SendTaskFailure` PREEMPTED and then `SendTaskSuccess`, the known defect),
//! `--idle-exit-secs N` (exit after N seconds without work), `--garbage-every N` (generation A:
//! also send a reply that is not JSON after every Nth message), `--queue-prefix P` (generation A:
//! poll only queues whose name starts with P; default `webordinary-input-`). Endpoint and region come from
//! `AWS_ENDPOINT_URL` and `AWS_REGION`; the container id from `HERD_CONTAINER_ID`.
//!
//! Switches that make it behave like the real generation-B edit container: `--own-id` (make up
//! its own id, `container-<epoch ms>-<random>`, print `Container ID: <id>` and write that to the
//! ownership table, ignoring `HERD_CONTAINER_ID`), `--start-delay-ms N` (a slow start before the
//! `ready` line). It reads the Step Functions endpoint from `AWS_ENDPOINT_URL_SFN` when set (else
//! `HERD_CALLBACK_URL`), and on SIGTERM it releases every ownership row it holds and exits.
//! `--watch-interrupts` (generation B): also read the claimed pairs' interrupt queues and print
//! `INTERRUPT <interruptingMessageId> <SentTimestamp>` for each INTERRUPT and `WORK <messageId>
//! <SentTimestamp>` for each work message, so a test can check what went out first.
//! `--follow-latest-claim` (generation B): as the real container does, claim a second
//! project+user while owning one and then follow only the new pair's queue (the old pair's
//! messages wait, and its ownership row still names this worker).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

struct Options {
    generation: String,
    processing: Duration,
    drop_every: u64,
    fail_then_succeed_every: u64,
    idle_exit: Duration,
    garbage_every: u64,
    queue_prefix: String,
    container_id: String,
    callback: String,
    start_delay: Duration,
    watch_interrupts: bool,
    follow_latest_claim: bool,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let num = |name: &str, default: u64| get(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    Options {
        generation: get("--generation").unwrap_or_else(|| "a".into()),
        processing: Duration::from_millis(num("--processing-ms", 50)),
        drop_every: num("--drop-every", 0),
        fail_then_succeed_every: num("--fail-then-succeed-every", 0),
        idle_exit: Duration::from_secs(num("--idle-exit-secs", 120)),
        garbage_every: num("--garbage-every", 0),
        queue_prefix: get("--queue-prefix").unwrap_or_else(|| "webordinary-input-".into()),
        container_id: if args.iter().any(|a| a == "--own-id") {
            // The real container's own id format; the nanoseconds stand in for its random part.
            let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
            format!("container-{}-{:06x}", now_ms(), (nanos ^ std::process::id()) & 0xff_ffff)
        } else {
            std::env::var("HERD_CONTAINER_ID").unwrap_or_else(|_| format!("worker-{}", std::process::id()))
        },
        callback: std::env::var("AWS_ENDPOINT_URL_SFN")
            .or_else(|_| std::env::var("HERD_CALLBACK_URL"))
            .unwrap_or_default(),
        start_delay: Duration::from_millis(num("--start-delay-ms", 0)),
        watch_interrupts: args.iter().any(|a| a == "--watch-interrupts"),
        follow_latest_claim: args.iter().any(|a| a == "--follow-latest-claim"),
    }
}

/// When the worker last had work; it exits after `--idle-exit-secs` without any.
struct Idle(Instant);

impl Idle {
    /// Call after each polling round; false when the worker should exit.
    async fn keep_going(&mut self, had_work: bool, o: &Options) -> bool {
        if had_work {
            self.0 = Instant::now();
            return true;
        }
        if self.0.elapsed() > o.idle_exit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        true
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// One AWS JSON 1.0 call to herd's Step Functions listener, over plain HTTP/1.1.
fn step_functions(callback: &str, operation: &str, body: &serde_json::Value) -> Result<(), String> {
    let hostport = callback.trim_start_matches("http://").trim_end_matches('/');
    let payload = body.to_string();
    let mut stream = TcpStream::connect(hostport).map_err(|e| format!("connect {hostport}: {e}"))?;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {hostport}\r\nX-Amz-Target: AWSStepFunctions.{operation}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    if response.starts_with("HTTP/1.1 200") { Ok(()) } else { Err(response.lines().next().unwrap_or("").to_owned()) }
}

async fn generation_a(sqs: &aws_sdk_sqs::Client, o: &Options) {
    let mut handled = 0u64;
    let mut idle = Idle(Instant::now());
    let mut announced = false;
    loop {
        let urls = sqs
            .list_queues()
            .queue_name_prefix(&o.queue_prefix)
            .send()
            .await
            .ok()
            .and_then(|r| r.queue_urls)
            .unwrap_or_default();
        if !announced {
            tokio::time::sleep(o.start_delay).await;
            println!("ready");
            announced = true;
        }
        let mut any = false;
        for url in &urls {
            let Ok(out) =
                sqs.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(0).send().await
            else {
                continue;
            };
            for m in out.messages.unwrap_or_default() {
                any = true;
                handled += 1;
                let body: serde_json::Value = serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or_default();
                let project = body["projectId"].as_str().unwrap_or_default().to_owned();
                let user = body["userId"].as_str().unwrap_or_default().to_owned();
                tokio::time::sleep(o.processing).await;
                let drop_it = o.drop_every > 0 && handled.is_multiple_of(o.drop_every);
                if !drop_it {
                    let reply = serde_json::json!({
                        "type": "response",
                        "sessionId": body["sessionId"],
                        "projectId": project,
                        "userId": user,
                        "commandId": body["commandId"],
                        "success": true,
                        "summary": format!("done by {}", o.container_id),
                        "filesChanged": [],
                    });
                    let out_name = format!("webordinary-output-{project}-{user}");
                    if let Ok(q) = sqs.get_queue_url().queue_name(&out_name).send().await
                        && let Some(out_url) = q.queue_url
                    {
                        let _ = sqs.send_message().queue_url(&out_url).message_body(reply.to_string()).send().await;
                        if o.garbage_every > 0 && handled.is_multiple_of(o.garbage_every) {
                            // A reply herd cannot read must be counted, never crash the run.
                            let _ =
                                sqs.send_message().queue_url(&out_url).message_body("this is not JSON").send().await;
                        }
                    }
                } else {
                    eprintln!("worker {}: dropped message {handled}", o.container_id);
                }
                if let Some(h) = m.receipt_handle() {
                    let _ = sqs.delete_message().queue_url(url).receipt_handle(h).send().await;
                }
            }
        }
        if !idle.keep_going(any, o).await {
            return;
        }
    }
}

async fn claim(ddb: &aws_sdk_dynamodb::Client, pair: &str, o: &Options) -> bool {
    let now = now_ms();
    ddb.put_item()
        .table_name("webordinary-container-ownership")
        .item("projectKey", AttributeValue::S(pair.to_owned()))
        .item("containerId", AttributeValue::S(o.container_id.clone()))
        .item("lastActivity", AttributeValue::N(now.to_string()))
        .item("ttl", AttributeValue::N((now / 1000 + 300).to_string()))
        .condition_expression("attribute_not_exists(projectKey) OR #ttl < :now OR containerId = :me")
        .expression_attribute_names("#ttl", "ttl")
        .expression_attribute_values(":now", AttributeValue::N((now / 1000).to_string()))
        .expression_attribute_values(":me", AttributeValue::S(o.container_id.clone()))
        .send()
        .await
        .is_ok()
}

async fn generation_b(sqs: &aws_sdk_sqs::Client, ddb: &aws_sdk_dynamodb::Client, o: &Options) {
    let unclaimed = loop {
        if let Ok(r) = sqs.get_queue_url().queue_name("webordinary-unclaimed").send().await
            && let Some(u) = r.queue_url
        {
            break u;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(o.start_delay).await;
    println!("ready");
    let mut claimed: Vec<String> = Vec::new();
    let mut handled = 0u64;
    let mut idle = Idle(Instant::now());
    loop {
        if let Ok(out) =
            sqs.receive_message().queue_url(&unclaimed).max_number_of_messages(1).wait_time_seconds(0).send().await
        {
            for m in out.messages.unwrap_or_default() {
                let body: serde_json::Value = serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or_default();
                let pair =
                    format!("{}#{}", body["projectId"].as_str().unwrap_or(""), body["userId"].as_str().unwrap_or(""));
                if let Some(url) = body["queueUrl"].as_str()
                    && claim(ddb, &pair, o).await
                    && !claimed.contains(&url.to_owned())
                {
                    if o.follow_latest_claim {
                        claimed.clear();
                    }
                    println!("CLAIMED {pair}");
                    claimed.push(url.to_owned());
                }
                if let Some(h) = m.receipt_handle() {
                    let _ = sqs.delete_message().queue_url(&unclaimed).receipt_handle(h).send().await;
                }
            }
        }
        let mut any = false;
        for url in &claimed {
            if o.watch_interrupts {
                print_interrupts(
                    sqs,
                    &url.replace("webordinary-input-", "webordinary-interrupts-").replace(".fifo", ""),
                )
                .await;
            }
            let Ok(out) = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(1)
                .wait_time_seconds(0)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp)
                .send()
                .await
            else {
                continue;
            };
            for m in out.messages.unwrap_or_default() {
                any = true;
                handled += 1;
                let body: serde_json::Value = serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or_default();
                if o.watch_interrupts {
                    println!("WORK {} {}", body["messageId"].as_str().unwrap_or(""), sent_timestamp(&m));
                }
                let token = body["taskToken"].as_str().unwrap_or_default().to_owned();
                tokio::time::sleep(o.processing).await;
                let output = serde_json::json!({ "success": true, "messageId": body["messageId"], "summary": "done", "filesChanged": [], "buildSuccess": true, "deploySuccess": true }).to_string();
                let defect = o.fail_then_succeed_every > 0 && handled.is_multiple_of(o.fail_then_succeed_every);
                if defect {
                    let _ = step_functions(
                        &o.callback,
                        "SendTaskFailure",
                        &serde_json::json!({ "taskToken": token, "error": "PREEMPTED", "cause": "interrupted" }),
                    );
                }
                if let Err(e) = step_functions(
                    &o.callback,
                    "SendTaskSuccess",
                    &serde_json::json!({ "taskToken": token, "output": output }),
                ) {
                    eprintln!("worker {}: SendTaskSuccess: {e}", o.container_id);
                }
                if let Some(h) = m.receipt_handle() {
                    let _ = sqs.delete_message().queue_url(url).receipt_handle(h).send().await;
                }
            }
        }
        if !idle.keep_going(any, o).await {
            return;
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let o = options();
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    if std::env::var("AWS_REGION").is_err() {
        loader = loader.region(aws_config::Region::new("us-east-1"));
    }
    let config = loader.load().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    println!("Container ID: {}", o.container_id);
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("worker: cannot watch for SIGTERM: {e}");
            return;
        }
    };
    let work = async {
        match o.generation.as_str() {
            "b" => generation_b(&sqs, &ddb, &o).await,
            _ => generation_a(&sqs, &o).await,
        }
    };
    tokio::select! {
        () = work => {}
        _ = term.recv() => {
            // As the real container does on SIGTERM: give up ownership so the router can have
            // the project+user claimed again at once.
            let released = release_ownership(&ddb, &o.container_id).await;
            println!("SIGTERM: released {released} ownership row(s)");
        }
    }
}

/// When SQS says a message was sent, epoch milliseconds.
fn sent_timestamp(m: &aws_sdk_sqs::types::Message) -> String {
    m.attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp))
        .cloned()
        .unwrap_or_default()
}

/// Prints and deletes every INTERRUPT waiting on `url`.
async fn print_interrupts(sqs: &aws_sdk_sqs::Client, url: &str) {
    let Ok(out) = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(0)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp)
        .send()
        .await
    else {
        return;
    };
    for m in out.messages() {
        let body: serde_json::Value = serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or_default();
        println!("INTERRUPT {} {}", body["interruptingMessageId"].as_str().unwrap_or(""), sent_timestamp(m));
        if let Some(h) = m.receipt_handle() {
            let _ = sqs.delete_message().queue_url(url).receipt_handle(h).send().await;
        }
    }
}

/// Deletes every ownership row this worker holds; returns how many.
async fn release_ownership(ddb: &aws_sdk_dynamodb::Client, me: &str) -> usize {
    let Ok(out) = ddb.scan().table_name("webordinary-container-ownership").send().await else { return 0 };
    let mut released = 0;
    for item in out.items() {
        if item.get("containerId").and_then(|v| v.as_s().ok()).is_some_and(|id| id == me)
            && let Some(key) = item.get("projectKey")
            && ddb
                .delete_item()
                .table_name("webordinary-container-ownership")
                .key("projectKey", key.clone())
                .condition_expression("containerId = :me")
                .expression_attribute_values(":me", AttributeValue::S(me.to_owned()))
                .send()
                .await
                .is_ok()
        {
            released += 1;
        }
    }
    released
}
