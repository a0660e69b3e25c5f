//! SQS's data plane spoken directly: `SendMessage`, `SendMessageBatch`, `ReceiveMessage`,
//! `DeleteMessageBatch` and the queue-depth `GetQueueAttributes`, in the AWS JSON 1.0 protocol,
//! signed with SigV4 (`sigv4.rs`, built on the SDK's signing functions), over one pooled hyper
//! client with rustls.
//!
//! Why not the SDK for these calls: profiled at the send ceiling, the SDK's orchestrator
//! (interceptors, a layered config bag per call, the endpoint rules engine, type-erased
//! boxes) cost 170-200 µs of CPU per call, which capped one core at about 7,000 requests a
//! second whatever herd did around it. A call here is a serialised struct, a signature and a
//! hyper request. Everything else the target does (provisioning, DynamoDB, ECS, STS,
//! CloudWatch) stays on the SDK, and this client takes its configuration from the SDK's: the
//! same credential chain, region, FIPS and dual-stack settings, the same endpoint (resolved
//! once with the SDK's own endpoint rules, `AWS_ENDPOINT_URL_SQS` and `AWS_ENDPOINT_URL`
//! included), the same attempt limit, backoff and timeouts.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

use super::clients::explain;
use super::compile::Timeouts;
use super::sigv4::{CONTENT_TYPE, PlainSigner};

/// Credentials are refreshed this long before they expire.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);
/// The standard retry mode's backoff: a random share of `BASE * 2^attempt`, at most `MAX`.
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(20);

/// Why a call failed, in one line: the service's error code and message, or what went wrong on
/// the way.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub(crate) struct CallError {
    detail: String,
    /// Whether another attempt may succeed (throttling, a server error, a broken connection,
    /// a timeout).
    retryable: bool,
}

impl CallError {
    fn new(detail: impl Into<String>, retryable: bool) -> Self {
        Self { detail: detail.into(), retryable }
    }
}

/// One message to send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outgoing<'a> {
    pub body: &'a str,
    pub group_id: Option<&'a str>,
    pub dedup_id: Option<&'a str>,
    pub attributes: &'a [(String, String)],
}

/// One message read from a queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Received {
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub receipt_handle: Option<String>,
}

/// What a batch call said about its entries, by their index in the request.
#[derive(Debug, Default)]
pub(crate) struct BatchOutcome {
    pub succeeded: Vec<usize>,
    /// (index, why).
    pub failed: Vec<(usize, String)>,
}

/// The data-plane client; cheap to share behind an `Arc`.
pub(crate) struct SqsWire {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// Where every call goes (the JSON protocol names the queue in the body).
    endpoint: http::Uri,
    endpoint_text: String,
    region: String,
    /// The fast signer, for every endpoint whose path needs no normalising (all of AWS's).
    signer: Option<PlainSigner>,
    credentials: Option<SharedCredentialsProvider>,
    /// The credentials in use, until they are due for a refresh.
    cached: RwLock<Option<(Identity, Option<SystemTime>)>>,
    /// Serialises refreshes, so that a thousand calls due at once ask the chain once.
    refreshing: tokio::sync::Mutex<()>,
    attempts: u32,
    timeouts: Timeouts,
    /// What herd's data-plane calls cost, for the cost estimate.
    pub(crate) counts: WireCounts,
}

/// Requests as SQS bills them (each 64 KiB chunk of a request is one), and the messages
/// herd's receives returned.
#[derive(Debug, Default)]
pub(crate) struct WireCounts {
    /// Requests to standard queues.
    pub standard: std::sync::atomic::AtomicU64,
    /// Requests to FIFO queues.
    pub fifo: std::sync::atomic::AtomicU64,
    /// Messages ReceiveMessage returned (replies the system sent).
    pub received: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for SqsWire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsWire").field("endpoint", &self.endpoint_text).field("region", &self.region).finish()
    }
}

impl SqsWire {
    /// A client configured as the SDK's SQS client for `config` would be.
    pub(crate) async fn new(config: &aws_config::SdkConfig, attempts: u32, timeouts: Timeouts) -> Result<Self, String> {
        use aws_sdk_sqs::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
        let region = config.region().map_or_else(|| "us-east-1".to_owned(), |r| r.as_ref().to_owned());
        // The endpoint URL as the SDK's `Config::from(&SdkConfig)` picks it: one set in code,
        // else the service's own setting, else the global one.
        let endpoint_url = if config.get_origin("endpoint_url").is_client_config() {
            config.endpoint_url().map(str::to_owned)
        } else {
            let key = aws_types::service_config::ServiceConfigKey::builder()
                .service_id("SQS")
                .env("AWS_ENDPOINT_URL")
                .profile("endpoint_url")
                .build()
                .map_err(|e| format!("the SQS endpoint setting: {e}"))?;
            config
                .service_config()
                .and_then(|c| c.load_config(key))
                .or_else(|| config.endpoint_url().map(str::to_owned))
        };
        let params = Params::builder()
            .region(region.clone())
            .set_use_fips(config.use_fips())
            .set_use_dual_stack(config.use_dual_stack())
            .set_endpoint(endpoint_url)
            .build()
            .map_err(|e| format!("the SQS endpoint: {e}"))?;
        let endpoint = DefaultResolver::new()
            .resolve_endpoint(&params)
            .await
            .map_err(|e| format!("the SQS endpoint for region {region}: {e}"))?;
        let endpoint_text = endpoint.url().to_owned();
        let uri: http::Uri =
            endpoint_text.parse().map_err(|e| format!("the SQS endpoint `{endpoint_text}` is not a URL: {e}"))?;
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        // Requests are small and latency is measured: no Nagle delay.
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(timeouts.attempt));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = if uri.scheme_str() == Some("http") {
            // A plain-HTTP endpoint (a local server) never needs the system's root
            // certificates, and reading them is a few milliseconds of every start.
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS set-up: {e}"))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
        } else {
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_native_roots(provider)
                .map_err(|e| format!("TLS set-up: {e}"))?
        };
        let https = tls.https_or_http().enable_http1().wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(usize::MAX)
            .build(https);
        Ok(Self {
            http,
            signer: PlainSigner::for_endpoint(&uri, &region, "sqs"),
            endpoint: uri,
            endpoint_text,
            region,
            credentials: config.credentials_provider(),
            cached: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            attempts: attempts.max(1),
            timeouts,
            counts: WireCounts::default(),
        })
    }

    /// Sends one message.
    pub(crate) async fn send_message(&self, queue_url: &str, m: Outgoing<'_>) -> Result<(), CallError> {
        let input = MessageIn::new(&m, Some(queue_url), None);
        self.call("SendMessage", queue_url, &input, Duration::ZERO).await.map(|_| ())
    }

    /// Sends up to ten messages in one call.
    pub(crate) async fn send_message_batch(
        &self,
        queue_url: &str,
        messages: &[Outgoing<'_>],
    ) -> Result<BatchOutcome, CallError> {
        let ids: Vec<String> = (0..messages.len()).map(|i| format!("m{i}")).collect();
        let entries = messages.iter().zip(&ids).map(|(m, id)| MessageIn::new(m, None, Some(id))).collect();
        let out = self.call("SendMessageBatch", queue_url, &SendBatchIn { queue_url, entries }, Duration::ZERO).await?;
        batch_outcome(&out, 'm', messages.len())
    }

    /// Reads up to `max` messages, waiting up to `wait` for the first.
    pub(crate) async fn receive_message(
        &self,
        queue_url: &str,
        max: u8,
        wait: Duration,
    ) -> Result<Vec<Received>, CallError> {
        let input =
            ReceiveIn { queue_url, max_number_of_messages: max.clamp(1, 10), wait_time_seconds: wait.as_secs() };
        let out = self.call("ReceiveMessage", queue_url, &input, wait).await?;
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct ReceiveOut {
            #[serde(default)]
            messages: Option<Vec<Received>>,
        }
        let parsed: ReceiveOut = serde_json::from_slice(&out)
            .map_err(|e| CallError::new(format!("the ReceiveMessage answer is not what SQS sends: {e}"), false))?;
        let messages = parsed.messages.unwrap_or_default();
        self.counts.received.fetch_add(messages.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(messages)
    }

    /// How many messages are visible in a queue (`ApproximateNumberOfMessages`), for the
    /// queue-depth gauge sampled every interval.
    pub(crate) async fn visible_messages(&self, queue_url: &str) -> Result<u64, CallError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct AttributesIn<'a> {
            queue_url: &'a str,
            attribute_names: [&'static str; 1],
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct AttributesOut {
            #[serde(default)]
            attributes: std::collections::HashMap<String, String>,
        }
        let input = AttributesIn { queue_url, attribute_names: ["ApproximateNumberOfMessages"] };
        let out = self.call("GetQueueAttributes", queue_url, &input, Duration::ZERO).await?;
        let parsed: AttributesOut = serde_json::from_slice(&out)
            .map_err(|e| CallError::new(format!("the GetQueueAttributes answer is not what SQS sends: {e}"), false))?;
        Ok(parsed.attributes.get("ApproximateNumberOfMessages").and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// Deletes up to ten messages by receipt handle.
    pub(crate) async fn delete_message_batch(
        &self,
        queue_url: &str,
        handles: &[String],
    ) -> Result<BatchOutcome, CallError> {
        let ids: Vec<String> = (0..handles.len()).map(|i| format!("d{i}")).collect();
        let entries = handles.iter().zip(&ids).map(|(h, id)| DeleteEntryIn { id, receipt_handle: h }).collect();
        let out =
            self.call("DeleteMessageBatch", queue_url, &DeleteBatchIn { queue_url, entries }, Duration::ZERO).await?;
        batch_outcome(&out, 'd', handles.len())
    }

    /// One operation with its retries, within the operation timeout (plus `extra` for a long
    /// poll, which waits by design).
    async fn call(
        &self,
        action: &'static str,
        queue_url: &str,
        input: &impl Serialize,
        extra: Duration,
    ) -> Result<Bytes, CallError> {
        let body = Bytes::from(
            serde_json::to_vec(input).map_err(|e| CallError::new(format!("{action}: cannot encode: {e}"), false))?,
        );
        // SQS bills a request per 64 KiB chunk of its payload, FIFO queues at their own price.
        let chunks = (body.len() as u64).div_ceil(64 * 1024).max(1);
        let counter = if queue_url.ends_with(".fifo") { &self.counts.fifo } else { &self.counts.standard };
        let attempts = async {
            let mut attempt = 0;
            loop {
                attempt += 1;
                counter.fetch_add(chunks, std::sync::atomic::Ordering::Relaxed);
                let result =
                    match tokio::time::timeout(self.timeouts.attempt + extra, self.attempt(action, body.clone())).await
                    {
                        Ok(r) => r,
                        Err(_) => Err(CallError::new(
                            format!("no answer within {}", humantime::format_duration(self.timeouts.attempt + extra)),
                            true,
                        )),
                    };
                match result {
                    Err(e) if e.retryable && attempt < self.attempts => {
                        tracing::debug!(target: "herd::aws", "{action}: attempt {attempt} failed, retrying: {e}");
                        let cap = BACKOFF_BASE.saturating_mul(1 << (attempt - 1).min(5)).min(BACKOFF_MAX);
                        tokio::time::sleep(cap.mul_f64(rand::random::<f64>())).await;
                    }
                    other => return other,
                }
            }
        };
        match tokio::time::timeout(self.timeouts.operation + extra, attempts).await {
            Ok(r) => r,
            Err(_) => Err(CallError::new(
                format!(
                    "no answer within {} (every attempt included)",
                    humantime::format_duration(self.timeouts.operation + extra)
                ),
                false,
            )),
        }
    }

    /// One HTTP exchange: signs, sends, reads the answer; an error answer becomes its code and
    /// message.
    async fn attempt(&self, action: &'static str, body: Bytes) -> Result<Bytes, CallError> {
        let identity = self.identity().await?;
        let target = format!("AmazonSQS.{action}");
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri(self.endpoint.clone())
            .header(http::header::CONTENT_TYPE, CONTENT_TYPE)
            .header("x-amz-target", target.as_str());
        let credentials = identity.data::<aws_credential_types::Credentials>();
        let request = match (&self.signer, credentials) {
            (Some(signer), Some(credentials)) => {
                let signature = signer.sign(credentials, &target, &body, SystemTime::now());
                let request = request
                    .header("x-amz-date", signature.amz_date)
                    .header(http::header::AUTHORIZATION, signature.authorization);
                match signature.security_token {
                    Some(token) => request.header("x-amz-security-token", token),
                    None => request,
                }
                .body(Full::new(body))
                .map_err(|e| CallError::new(format!("cannot build the request: {e}"), false))?
            }
            _ => self.sign_with_sdk(request, &identity, &target, body)?,
        };
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| CallError::new(format!("{} unreachable: {}", self.endpoint_text, explain(&e)), true))?;
        let status = response.status();
        let query_error = response
            .headers()
            .get("x-amzn-query-error")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| CallError::new(format!("the answer broke off: {}", explain(&e)), true))?
            .to_bytes();
        if status.is_success() {
            return Ok(bytes);
        }
        Err(error_answer(status.as_u16(), query_error, &bytes))
    }

    /// Signs with the SDK's general signer, for endpoints [`PlainSigner`] does not take.
    fn sign_with_sdk(
        &self,
        request: http::request::Builder,
        identity: &Identity,
        target: &str,
        body: Bytes,
    ) -> Result<http::Request<Full<Bytes>>, CallError> {
        let mut request = request
            .body(Full::new(body.clone()))
            .map_err(|e| CallError::new(format!("cannot build the request: {e}"), false))?;
        let params = v4::SigningParams::builder()
            .identity(identity)
            .region(&self.region)
            .name("sqs")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| CallError::new(format!("cannot sign: {e}"), false))?
            .into();
        let headers = [("content-type", CONTENT_TYPE), ("x-amz-target", target)];
        let signable =
            SignableRequest::new("POST", self.endpoint_text.as_str(), headers.into_iter(), SignableBody::Bytes(&body))
                .map_err(|e| CallError::new(format!("cannot sign: {e}"), false))?;
        let (instructions, _) =
            sign(signable, &params).map_err(|e| CallError::new(format!("cannot sign: {e}"), false))?.into_parts();
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }

    /// The credentials to sign with: cached until five minutes before they expire.
    async fn identity(&self) -> Result<Identity, CallError> {
        let fresh = |held: &Option<(Identity, Option<SystemTime>)>| -> Option<Identity> {
            let (identity, expiry) = held.as_ref()?;
            let due = expiry.is_some_and(|e| SystemTime::now() + REFRESH_BEFORE_EXPIRY >= e);
            (!due).then(|| identity.clone())
        };
        if let Some(i) = fresh(&self.cached.read().unwrap_or_else(std::sync::PoisonError::into_inner)) {
            return Ok(i);
        }
        let _one = self.refreshing.lock().await;
        if let Some(i) = fresh(&self.cached.read().unwrap_or_else(std::sync::PoisonError::into_inner)) {
            return Ok(i);
        }
        let Some(provider) = &self.credentials else {
            return Err(CallError::new("no AWS credentials are configured (environment, profile, SSO or role)", false));
        };
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| CallError::new(format!("cannot load AWS credentials: {}", explain(&e)), true))?;
        let expiry = credentials.expiry();
        let identity: Identity = credentials.into();
        *self.cached.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((identity.clone(), expiry));
        Ok(identity)
    }
}

/// An error answer as one line: `Code: message`. Throttling and server errors may be retried.
fn error_answer(status: u16, query_error: Option<String>, body: &[u8]) -> CallError {
    #[derive(Deserialize, Default)]
    struct ErrorOut {
        #[serde(rename = "__type", default)]
        kind: Option<String>,
        #[serde(default, alias = "Message")]
        message: Option<String>,
    }
    let mut parsed: ErrorOut = serde_json::from_slice(body).unwrap_or_default();
    // Some servers (moto, proxies) answer a JSON-protocol call with the query protocol's XML
    // error; its code and message are read the same way.
    let text = String::from_utf8_lossy(body);
    let between = |open: &str, close: &str| -> Option<String> {
        let start = text.find(open)? + open.len();
        Some(text[start..start + text[start..].find(close)?].to_owned())
    };
    if parsed.kind.is_none() && text.trim_start().starts_with('<') {
        parsed.kind = between("<Code>", "</Code>");
        parsed.message = parsed.message.or_else(|| between("<Message>", "</Message>"));
    }
    // `com.amazonaws.sqs#QueueDoesNotExist` -> `QueueDoesNotExist`; the query-compatible code
    // (`AWS.SimpleQueueService.NonExistentQueue`) is the one older tools print, so it wins.
    let code = query_error
        .or_else(|| parsed.kind.as_deref().map(|k| k.rsplit('#').next().unwrap_or(k).to_owned()))
        .unwrap_or_else(|| format!("HTTP {status}"));
    let message = parsed.message.unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    let throttled = matches!(
        code.as_str(),
        "ThrottlingException"
            | "Throttling"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "ProvisionedThroughputExceededException"
            | "SlowDown"
            | "RequestLimitExceeded"
            | "KmsThrottled"
            | "InternalFailure"
            | "ServiceUnavailable"
    );
    CallError::new(format!("{code}: {message}"), throttled || status >= 500 || status == 429)
}

/// A batch answer's successful and failed entries, by their index (ids are `{prefix}{index}`).
fn batch_outcome(out: &[u8], prefix: char, len: usize) -> Result<BatchOutcome, CallError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Entry {
        id: String,
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out {
        #[serde(default)]
        successful: Option<Vec<Entry>>,
        #[serde(default)]
        failed: Option<Vec<Entry>>,
    }
    let parsed: Out = serde_json::from_slice(out)
        .map_err(|e| CallError::new(format!("the batch answer is not what SQS sends: {e}"), false))?;
    let index = |id: &str| id.strip_prefix(prefix).and_then(|i| i.parse::<usize>().ok()).filter(|&i| i < len);
    let mut outcome = BatchOutcome::default();
    for e in parsed.successful.unwrap_or_default() {
        if let Some(i) = index(&e.id) {
            outcome.succeeded.push(i);
        }
    }
    for e in parsed.failed.unwrap_or_default() {
        if let Some(i) = index(&e.id) {
            let why = format!("{} {}", e.code.as_deref().unwrap_or("failed"), e.message.as_deref().unwrap_or(""));
            outcome.failed.push((i, why.trim_end().to_owned()));
        }
    }
    Ok(outcome)
}

fn attributes(attributes: &[(String, String)]) -> Option<std::collections::BTreeMap<&str, AttributeIn<'_>>> {
    (!attributes.is_empty()).then(|| {
        attributes.iter().map(|(k, v)| (k.as_str(), AttributeIn { data_type: "String", string_value: v })).collect()
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeIn<'a> {
    data_type: &'static str,
    string_value: &'a str,
}

/// One message: the whole `SendMessage` request (with its queue), or a `SendMessageBatch`
/// entry (with its id).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MessageIn<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    message_body: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_group_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_deduplication_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_attributes: Option<std::collections::BTreeMap<&'a str, AttributeIn<'a>>>,
}

impl<'a> MessageIn<'a> {
    fn new(m: &Outgoing<'a>, queue_url: Option<&'a str>, id: Option<&'a str>) -> Self {
        Self {
            queue_url,
            id,
            message_body: m.body,
            message_group_id: m.group_id,
            message_deduplication_id: m.dedup_id,
            message_attributes: attributes(m.attributes),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SendBatchIn<'a> {
    queue_url: &'a str,
    entries: Vec<MessageIn<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveIn<'a> {
    queue_url: &'a str,
    max_number_of_messages: u8,
    wait_time_seconds: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteEntryIn<'a> {
    id: &'a str,
    receipt_handle: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteBatchIn<'a> {
    queue_url: &'a str,
    entries: Vec<DeleteEntryIn<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_name_the_code_and_say_whether_to_retry() {
        let e = error_answer(
            400,
            Some("AWS.SimpleQueueService.NonExistentQueue".into()),
            br#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#,
        );
        assert_eq!(e.to_string(), "AWS.SimpleQueueService.NonExistentQueue: The specified queue does not exist.");
        assert!(!e.retryable);
        let e = error_answer(400, None, br#"{"__type":"com.amazonaws.sqs#RequestThrottled","message":"slow down"}"#);
        assert_eq!(e.to_string(), "RequestThrottled: slow down");
        assert!(e.retryable);
        let e = error_answer(
            403,
            None,
            b"<?xml version=\"1.0\"?><ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error></Errors></ErrorResponse>",
        );
        assert_eq!(e.to_string(), "SignatureDoesNotMatch: The request signature we calculated does not match");
        assert!(!e.retryable);
        let e = error_answer(503, None, b"<html>bad gateway</html>");
        assert_eq!(e.to_string(), "HTTP 503: <html>bad gateway</html>");
        assert!(e.retryable);
    }

    #[test]
    fn batch_answers_map_entries_back_to_their_messages() {
        let out = br#"{"Successful":[{"Id":"m0","MessageId":"a"},{"Id":"m2","MessageId":"b"},{"Id":"x9"}],
            "Failed":[{"Id":"m1","Code":"InvalidMessageContents","Message":"bad","SenderFault":true},{"Id":"m7","Code":"c"}]}"#;
        let o = batch_outcome(out, 'm', 3).unwrap();
        assert_eq!(o.succeeded, vec![0, 2]);
        // An id the request never had (m7 of three) is ignored rather than trusted.
        assert_eq!(o.failed, vec![(1, "InvalidMessageContents bad".to_owned())]);
        assert!(batch_outcome(b"{}", 'd', 1).unwrap().succeeded.is_empty());
        assert!(batch_outcome(b"not json", 'd', 1).is_err());
    }

    #[test]
    fn requests_are_what_sqs_reads() {
        let attrs = vec![("kind".to_owned(), "work".to_owned())];
        let input = SendBatchIn {
            queue_url: "http://q",
            entries: vec![MessageIn::new(
                &Outgoing { body: "{\"a\":1}", group_id: Some("g"), dedup_id: None, attributes: &attrs },
                None,
                Some("m0"),
            )],
        };
        assert_eq!(
            serde_json::to_string(&input).unwrap(),
            r#"{"QueueUrl":"http://q","Entries":[{"Id":"m0","MessageBody":"{\"a\":1}","MessageGroupId":"g","MessageAttributes":{"kind":{"DataType":"String","StringValue":"work"}}}]}"#
        );
        let one = MessageIn::new(
            &Outgoing { body: "b", group_id: None, dedup_id: Some("d"), attributes: &[] },
            Some("http://q"),
            None,
        );
        assert_eq!(
            serde_json::to_string(&one).unwrap(),
            r#"{"QueueUrl":"http://q","MessageBody":"b","MessageDeduplicationId":"d"}"#
        );
        let r = ReceiveIn { queue_url: "http://q", max_number_of_messages: 10, wait_time_seconds: 1 };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"QueueUrl":"http://q","MaxNumberOfMessages":10,"WaitTimeSeconds":1}"#
        );
    }
}
