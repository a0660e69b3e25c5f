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

async fn handle(
    req: Request<Incoming>,
    inbox: UnboundedSender<RouterMsg>,
    read_timeout: Duration,
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

/// Binds the listener and serves it on the runtime; returns the bound address. Connections
/// beyond `limits.max_connections` are closed at once, so a flood cannot use up herd's file
/// descriptors (its own SQS and DynamoDB calls need them).
pub(crate) async fn serve(
    listen: &str,
    limits: ListenerLimits,
    inbox: UnboundedSender<RouterMsg>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
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
            let inbox = inbox.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(req, inbox.clone(), read_timeout));
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
