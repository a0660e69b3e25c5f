//! herd playing Step Functions for generation-B workers: an HTTP listener that answers the AWS
//! JSON 1.0 calls `SendTaskSuccess`, `SendTaskFailure` and `SendTaskHeartbeat` and reports them
//! by task token.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedSender;

use super::compile::ListenerLimits;
use super::router::{Inbound, RouterMsg};

/// Tells the router what one call said, stamped with the call's arrival.
struct Teller {
    at: Instant,
    tx: UnboundedSender<RouterMsg>,
}

impl Teller {
    fn send(&self, event: Inbound) -> Result<(), ()> {
        self.tx.send(RouterMsg::Seen { at: self.at, event }).map_err(|_| ())
    }
}

/// The largest request body answered: Step Functions' own payload limit (256 KiB).
const MAX_BODY: usize = 256 * 1024;

fn reply(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())));
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/x-amz-json-1.0"));
    r
}

fn error(code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "__type": code, "message": message }).to_string();
    reply(StatusCode::BAD_REQUEST, &body)
}

/// The slice a task token belongs to: `s<k>-...` in a segmented run.
fn slice_of(token: &str) -> Option<u32> {
    let rest = token.strip_prefix('s')?;
    let (k, _) = rest.split_once('-')?;
    k.parse().ok()
}

/// Where a slice's peers leave their addresses.
pub(crate) enum Book {
    /// A folder on this machine.
    Folder(std::path::PathBuf),
    /// The run's S3 folder, `peers/slice-<i>.addr`; addresses read are kept (a listener does
    /// not move during a run).
    S3 { store: crate::distribute::RunStore, known: tokio::sync::Mutex<std::collections::HashMap<u32, String>> },
}

/// A slice's listener among its peers (`--peers`, or the S3 folder of `--distribute ecs`):
/// where it says its address, and how it reaches the others.
pub(crate) struct Peers {
    /// This slice, from 1.
    own: u32,
    book: Book,
    client: hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl Peers {
    pub(crate) fn new(own: u32, book: Book) -> Self {
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        Self { own, book, client }
    }

    /// Leaves this slice's listener address for the others: in a folder written whole, then
    /// renamed, so a peer never reads half of it; in S3 as one object. A listener bound to
    /// every interface is announced at the task's own address (ECS's task metadata), which is
    /// where its peers and the system's containers reach it.
    pub(crate) async fn announce(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let metadata = std::env::var("ECS_CONTAINER_METADATA_URI_V4").ok();
        let addr = advertised(addr, metadata.as_deref()).await;
        match &self.book {
            Book::Folder(dir) => {
                std::fs::create_dir_all(dir)?;
                let tmp = dir.join(format!(".slice-{}.addr.tmp", self.own));
                std::fs::write(&tmp, addr.to_string())?;
                std::fs::rename(tmp, dir.join(format!("slice-{}.addr", self.own)))?;
            }
            Book::S3 { store, .. } => store
                .put(&format!("peers/slice-{}.addr", self.own), addr.to_string().into_bytes())
                .await
                .map_err(std::io::Error::other)?,
        }
        Ok(addr)
    }

    /// Slice `slice`'s listener address, or why there is none.
    async fn address(&self, slice: u32) -> Result<String, String> {
        match &self.book {
            Book::Folder(dir) => {
                let file = dir.join(format!("slice-{slice}.addr"));
                std::fs::read_to_string(&file)
                    .map(|a| a.trim().to_owned())
                    .map_err(|e| format!("slice {slice} has left no listener address in {}: {e}", file.display()))
            }
            Book::S3 { store, known } => {
                if let Some(a) = known.lock().await.get(&slice) {
                    return Ok(a.clone());
                }
                let key = format!("peers/slice-{slice}.addr");
                match store.get(&key).await {
                    Ok(Some(body)) => {
                        let a = String::from_utf8_lossy(&body).trim().to_owned();
                        known.lock().await.insert(slice, a.clone());
                        Ok(a)
                    }
                    Ok(None) => Err(format!("slice {slice} has left no listener address at {}{key}", store.location())),
                    Err(e) => Err(e.to_string()),
                }
            }
        }
    }

    /// Sends a callback on to slice `slice`'s listener and returns its answer.
    async fn forward(&self, slice: u32, target: &str, body: Bytes) -> Result<Response<Full<Bytes>>, String> {
        let addr = self.address(slice).await?;
        let req = Request::post(format!("http://{}/", addr.trim()))
            .header("x-amz-target", target)
            .header("content-type", "application/x-amz-json-1.0")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let resp =
            self.client.request(req).await.map_err(|e| format!("slice {slice}'s listener at {}: {e}", addr.trim()))?;
        let status = resp.status();
        let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = status;
        r.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/x-amz-json-1.0"));
        Ok(r)
    }
}

async fn handle(
    req: Request<Incoming>,
    inbox: UnboundedSender<RouterMsg>,
    read_timeout: Duration,
    peers: Option<Arc<Peers>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // The call's time is when it reached the listener, before its body is read.
    let at = Instant::now();
    let inbox = Teller { at, tx: inbox };
    let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    let body = match tokio::time::timeout(read_timeout, limited.collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            let _ = inbox.send(Inbound::Malformed(format!("a callback body over {} KiB", MAX_BODY / 1024)));
            let body = serde_json::json!({
                "__type": "PayloadTooLarge",
                "message": format!("the body is over {} KiB, Step Functions' limit", MAX_BODY / 1024),
            });
            return Ok(reply(StatusCode::PAYLOAD_TOO_LARGE, &body.to_string()));
        }
        Ok(Err(_)) => return Ok(error("SerializationException", "could not read the request body")),
        Err(_) => return Ok(reply(StatusCode::REQUEST_TIMEOUT, "{}")),
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else {
        let _ = inbox.send(Inbound::Malformed("a callback body that is not JSON".into()));
        return Ok(error("SerializationException", "the body is not JSON"));
    };
    let Some(token) = json.get("taskToken").and_then(|t| t.as_str()).map(str::to_owned) else {
        let _ = inbox.send(Inbound::Malformed("a callback without taskToken".into()));
        return Ok(error("InvalidToken", "taskToken is missing"));
    };
    // Another slice's token: that slice's listener answers it, and times it when it arrives
    // there (a hop on one machine or one network, far below a reply's latency).
    if let Some(peers) = &peers
        && let Some(slice) = slice_of(&token).filter(|k| *k != peers.own)
    {
        return Ok(match peers.forward(slice, &target, body).await {
            Ok(r) => r,
            Err(e) => {
                let _ = inbox.send(Inbound::Error(format!("a callback for slice {slice}'s task token {token}: {e}")));
                // A 5xx: the container's SDK retries, and the peer may be up by then.
                let body = serde_json::json!({ "__type": "ServiceUnavailable", "message": e }).to_string();
                reply(StatusCode::SERVICE_UNAVAILABLE, &body)
            }
        });
    }
    let sent = match target.as_str() {
        "AWSStepFunctions.SendTaskSuccess" => {
            // The output must be a JSON document, as Step Functions requires.
            let output_ok = json
                .get("output")
                .and_then(|o| o.as_str())
                .is_some_and(|o| serde_json::from_str::<serde_json::Value>(o).is_ok());
            if !output_ok {
                let _ = inbox.send(Inbound::Malformed(format!("SendTaskSuccess for {token} without a JSON output")));
                return Ok(error("InvalidOutput", "output must be a JSON document"));
            }
            inbox.send(Inbound::Reply { correlation: token, success: true, interrupted: false })
        }
        "AWSStepFunctions.SendTaskFailure" => {
            let preempted = json.get("error").and_then(|e| e.as_str()) == Some("PREEMPTED");
            inbox.send(Inbound::Reply { correlation: token, success: false, interrupted: preempted })
        }
        "AWSStepFunctions.SendTaskHeartbeat" => inbox.send(Inbound::Heartbeat { correlation: token }),
        other => {
            return Ok(error(
                "UnknownOperationException",
                &format!("herd answers SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat, not {other:?}"),
            ));
        }
    };
    if sent.is_err() {
        return Ok(error("ServiceUnavailable", "the run has ended"));
    }
    Ok(reply(StatusCode::OK, "{}"))
}

/// The address others reach a listener bound to `addr` at: `addr` itself, unless it is bound
/// to every interface; then the task's address from ECS's task metadata endpoint (`metadata`,
/// `$ECS_CONTAINER_METADATA_URI_V4`), else the loopback address (said in the log).
async fn advertised(addr: SocketAddr, metadata: Option<&str>) -> SocketAddr {
    if !addr.ip().is_unspecified() {
        return addr;
    }
    if let Some(uri) = metadata {
        match task_ip(uri).await {
            Ok(ip) => return SocketAddr::new(ip, addr.port()),
            Err(e) => tracing::warn!(target: "herd::aws", "cannot read the task's address from {uri}/task: {e}"),
        }
    }
    tracing::warn!(
        target: "herd::aws",
        "the callback listener is bound to {addr}; other slices are told 127.0.0.1:{} (give --callback-listen an address they can reach)",
        addr.port()
    );
    SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
}

/// The task's first IPv4 address, from the ECS task metadata endpoint (version 4).
async fn task_ip(uri: &str) -> Result<std::net::IpAddr, String> {
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let url: hyper::Uri = format!("{}/task", uri.trim_end_matches('/')).parse().map_err(|e| format!("{e}"))?;
    let resp = tokio::time::timeout(Duration::from_secs(5), client.get(url))
        .await
        .map_err(|_| "no answer within 5 s".to_owned())?
        .map_err(|e| e.to_string())?;
    let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
    json["Containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["Networks"].as_array().into_iter().flatten())
        .flat_map(|n| n["IPv4Addresses"].as_array().into_iter().flatten())
        .find_map(|a| a.as_str().and_then(|a| a.parse().ok()))
        .ok_or_else(|| "no IPv4 address in Containers[].Networks[]".to_owned())
}

/// Binds the listener and serves it on the runtime; returns the bound address. Connections
/// beyond `limits.max_connections` are closed at once, so a flood cannot use up herd's file
/// descriptors (its own SQS and DynamoDB calls need them).
pub(crate) async fn serve(
    listen: &str,
    limits: ListenerLimits,
    inbox: UnboundedSender<RouterMsg>,
    peers: Option<Peers>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    if let Some(p) = &peers {
        let at = p.announce(addr).await?;
        tracing::info!(target: "herd::aws", "the callback listener on {addr} is announced to the other slices as {at}");
    }
    let peers = peers.map(Arc::new);
    if !addr.ip().is_loopback() {
        tracing::warn!(
            target: "herd::aws",
            "the Step Functions listener is bound to {addr}, not a loopback address: anyone who can reach it can answer for your tasks"
        );
    }
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let (max_connections, read_timeout) = (limits.max_connections, limits.read_timeout);
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::debug!(target: "herd::aws", "callback listener accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::debug!(target: "herd::aws", "callback listener: {max_connections} connections open; closing a new one");
                drop(stream);
                continue;
            };
            let (inbox, peers) = (inbox.clone(), peers.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(req, inbox.clone(), read_timeout, peers.clone()));
                let _ = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(read_timeout)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                drop(slot);
            });
        }
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Posts a callback to `addr`; returns the status.
    async fn call(addr: SocketAddr, target: &str, token: &str) -> StatusCode {
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        let body = serde_json::json!({ "taskToken": token, "output": "{}" }).to_string();
        let req = Request::post(format!("http://{addr}/"))
            .header("x-amz-target", target)
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        client.request(req).await.unwrap().status()
    }

    fn replies(rx: &mut tokio::sync::mpsc::UnboundedReceiver<RouterMsg>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(m) = rx.try_recv() {
            match m {
                RouterMsg::Seen { event: Inbound::Reply { correlation, .. }, .. } => out.push(correlation),
                RouterMsg::Seen { event: Inbound::Error(e), .. } => out.push(format!("error: {e}")),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn a_callback_for_another_slices_token_is_answered_by_that_slice() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (tx1, mut rx1) = tokio::sync::mpsc::unbounded_channel();
            let (tx2, mut rx2) = tokio::sync::mpsc::unbounded_channel();
            let limits = ListenerLimits::default();
            let peers = |own| Some(Peers::new(own, Book::Folder(dir.path().to_path_buf())));
            let one = serve("127.0.0.1:0", limits, tx1, peers(1)).await.unwrap();
            let two = serve("127.0.0.1:0", limits, tx2, peers(2)).await.unwrap();
            // Each left its address for the other.
            assert_eq!(std::fs::read_to_string(dir.path().join("slice-2.addr")).unwrap(), two.to_string());

            // Slice 2's token at slice 1's listener: forwarded, and slice 2's answer returned.
            assert_eq!(call(one, "AWSStepFunctions.SendTaskSuccess", "s2-abc").await, StatusCode::OK);
            assert_eq!(replies(&mut rx2), ["s2-abc"]);
            assert!(replies(&mut rx1).is_empty(), "slice 1 kept nothing of it");
            // A refusal by the owner comes back as the owner's answer.
            assert_eq!(call(one, "AWSStepFunctions.Nonsense", "s2-def").await, StatusCode::BAD_REQUEST);

            // Its own token stays with it.
            assert_eq!(call(one, "AWSStepFunctions.SendTaskSuccess", "s1-own").await, StatusCode::OK);
            assert_eq!(replies(&mut rx1), ["s1-own"]);

            // A slice that left no address: a 5xx the caller retries, and the run is told.
            assert_eq!(call(one, "AWSStepFunctions.SendTaskSuccess", "s3-xyz").await, StatusCode::SERVICE_UNAVAILABLE);
            let said = replies(&mut rx1);
            assert!(said.len() == 1 && said[0].contains("slice 3") && said[0].contains("s3-xyz"), "{said:?}");
            assert!(replies(&mut rx2).is_empty());
        });
    }

    /// A one-shot HTTP server answering `body`, as ECS's task metadata endpoint does.
    async fn metadata_server(body: &'static str) -> String {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
                let _ = s.write_all(format!("{head}{body}").as_bytes()).await;
            }
        });
        format!("http://{addr}/v4/abc")
    }

    #[test]
    fn a_listener_on_every_interface_is_announced_at_the_tasks_address() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let any: SocketAddr = "0.0.0.0:8787".parse().unwrap();
            let task = r#"{"Containers":[{"Name":"herd","Networks":[{"NetworkMode":"awsvpc","IPv4Addresses":["10.0.2.106"]}]}]}"#;
            let uri = metadata_server(task).await;
            assert_eq!(advertised(any, Some(&uri)).await, "10.0.2.106:8787".parse::<SocketAddr>().unwrap());
            // A bound address is its own; without metadata (or with nonsense) the loopback.
            let own: SocketAddr = "10.1.1.1:9000".parse().unwrap();
            assert_eq!(advertised(own, Some(&uri)).await, own);
            assert_eq!(advertised(any, None).await, "127.0.0.1:8787".parse::<SocketAddr>().unwrap());
            let junk = metadata_server("{\"Containers\":[]}").await;
            assert_eq!(advertised(any, Some(&junk)).await, "127.0.0.1:8787".parse::<SocketAddr>().unwrap());
        });
    }

    #[test]
    fn tokens_name_their_slice() {
        assert_eq!(slice_of("s2-9f1c"), Some(2));
        assert_eq!(slice_of("s12-x"), Some(12));
        assert_eq!(slice_of("9f1c-aa"), None);
        assert_eq!(slice_of("sx-1"), None);
    }
}
