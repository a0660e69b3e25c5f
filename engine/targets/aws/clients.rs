//! Building the SDK clients: the default credential chain (env, profile, SSO, instance role),
//! region and endpoint from the scenario or the AWS configuration, rustls with ring for TLS.

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};

use super::compile::Timeouts;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// Every client the target uses, sharing one configuration.
#[derive(Clone)]
pub(crate) struct Clients {
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub sts: aws_sdk_sts::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// SQS's data plane (send, receive, delete), spoken directly.
    pub wire: std::sync::Arc<super::wire::SqsWire>,
}

/// Loads the shared configuration. `max_attempts` comes from `HERD_AWS_MAX_ATTEMPTS` (tests set
/// 1 so a server error fails fast); the SDK's standard retry with backoff handles throttling
/// and 5xx answers otherwise. Every call has an operation and an attempt timeout, so that a
/// server that accepts connections and never answers cannot hold a task for ever.
pub(crate) async fn sdk_config(
    region: Option<&str>,
    endpoint_url: Option<&str>,
    timeouts: Timeouts,
) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let attempts = max_attempts();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(attempts))
        .timeout_config(timeout_config(timeouts));
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_owned()));
    }
    if let Some(e) = endpoint_url {
        loader = loader.endpoint_url(e);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        // Without a region the SDK refuses every call; a local endpoint does not care which.
        return config.into_builder().region(Region::new("us-east-1")).build();
    }
    config
}

/// Attempts per call: `HERD_AWS_MAX_ATTEMPTS`, or 4.
fn max_attempts() -> u32 {
    std::env::var("HERD_AWS_MAX_ATTEMPTS").ok().and_then(|v| v.parse().ok()).unwrap_or(4)
}

/// The SDK's timeout settings (the long polls, which wait longer by design, are herd's own
/// client's, which adds their wait to these limits).
fn timeout_config(timeouts: Timeouts) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(timeouts.attempt)
        .operation_attempt_timeout(timeouts.attempt)
        .operation_timeout(timeouts.operation)
        .build()
}

impl Clients {
    pub(crate) async fn new(config: &aws_config::SdkConfig, timeouts: Timeouts) -> Result<Self, String> {
        let wire = super::wire::SqsWire::new(config, max_attempts(), timeouts).await?;
        Ok(Self {
            sqs: aws_sdk_sqs::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            ecs: aws_sdk_ecs::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            wire: std::sync::Arc::new(wire),
        })
    }
}

/// The error of an SDK call in one line, with the service's error code when there is one.
pub(crate) fn explain<E: std::error::Error + 'static>(e: &E) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}
