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
    /// Every SDK call made (attempts included), by service and operation, for the cost
    /// estimate.
    pub calls: CallCounter,
    /// Metrics asked of CloudWatch's GetMetricData (billed per metric, not per call).
    pub metrics_requested: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Counts the SDK's requests by service and operation (each attempt is a request).
#[derive(Debug, Clone, Default)]
pub(crate) struct CallCounter(std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<(String, String), u64>>>);

impl CallCounter {
    /// `(service, operation, requests)`, in order.
    pub(crate) fn snapshot(&self) -> Vec<(String, String, u64)> {
        self.0.lock().map(|m| m.iter().map(|((s, o), n)| (s.clone(), o.clone(), *n)).collect()).unwrap_or_default()
    }
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "herd-call-counter"
    }

    fn read_before_transmit(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(m) = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            && let Ok(mut counts) = self.0.lock()
        {
            *counts.entry((m.service().to_owned(), m.name().to_owned())).or_default() += 1;
        }
        Ok(())
    }
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
        let calls = CallCounter::default();
        Ok(Self {
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(config).interceptor(calls.clone()).build(),
            ),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(config).interceptor(calls.clone()).build(),
            ),
            ecs: aws_sdk_ecs::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(config).interceptor(calls.clone()).build(),
            ),
            wire: std::sync::Arc::new(wire),
            calls,
            metrics_requested: std::sync::Arc::default(),
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
