//! herd playing Step Functions for generation-B workers: an HTTP listener that answers the AWS
//! JSON 1.0 calls `SendTaskSuccess`, `SendTaskFailure` and `SendTaskHeartbeat` and reports them
//! by task token.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedSender;

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
) -> Result<Response<Full<Bytes>>, Infallible> {
    // The call's time is when it reached the listener, before its body is read.
    let at = Instant::now();
    let inbox = Teller { at, tx: inbox };
    let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(error("SerializationException", "could not read the request body")),
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

/// Binds the listener and serves it on the runtime; returns the bound address.
pub(crate) async fn serve(listen: &str, inbox: UnboundedSender<RouterMsg>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let inbox = inbox.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(req, inbox.clone()));
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(addr)
}
