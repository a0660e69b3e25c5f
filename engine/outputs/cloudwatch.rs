//! Publishing a run's metrics to CloudWatch as they are sampled, so the seed's performance
//! monitor (namespace `Webordinary/Performance`, count/min/max/avg per metric) exists and a
//! dashboard can follow a run live.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, StatisticSet};

use serde::Serialize;

use super::spec::CloudWatchOutputSpec;
use crate::runtime::{Progress, RunObserver, TimelinePoint};
use crate::targets::aws::{Timeouts, explain, sdk_config};

/// CloudWatch publishing.
#[derive(Debug, Clone, Serialize)]
pub struct CloudWatchParams {
    /// Namespace.
    pub namespace: String,
    /// Region override.
    pub region: Option<String>,
    /// Endpoint override.
    pub endpoint_url: Option<String>,
}

/// Compiles `[output.cloudwatch]`.
pub(crate) fn compile_cloudwatch(spec: &CloudWatchOutputSpec) -> CloudWatchParams {
    CloudWatchParams {
        namespace: spec.namespace.clone().unwrap_or_else(|| "Webordinary/Performance".into()),
        region: spec.region.clone(),
        endpoint_url: spec.endpoint_url.clone(),
    }
}

/// PutMetricData takes at most 1000 datums a call; herd sends far fewer, but batches anyway.
const MAX_DATUMS: usize = 1000;

/// Publishes each sample's statistics as CloudWatch statistic sets.
pub struct CloudWatchPublisher {
    rt: tokio::runtime::Runtime,
    client: aws_sdk_cloudwatch::Client,
    namespace: String,
    scenario: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    errors: Arc<AtomicU64>,
    last_error: Arc<std::sync::Mutex<Option<String>>>,
    /// PutMetricData calls made, for the cost estimate.
    requests: u64,
}

impl CloudWatchPublisher {
    /// Connects with the publisher's region and endpoint, falling back to the target's.
    pub fn new(
        params: &CloudWatchParams,
        region: Option<&str>,
        endpoint: Option<&str>,
        scenario: &str,
    ) -> Result<Self, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        let config = rt.block_on(sdk_config(
            params.region.as_deref().or(region),
            params.endpoint_url.as_deref().or(endpoint),
            Timeouts::default(),
        ));
        Ok(Self {
            client: aws_sdk_cloudwatch::Client::new(&config),
            rt,
            namespace: params.namespace.clone(),
            scenario: scenario.to_owned(),
            tasks: Vec::new(),
            errors: Arc::new(AtomicU64::new(0)),
            last_error: Arc::new(std::sync::Mutex::new(None)),
            requests: 0,
        })
    }

    fn datums(&self, p: &TimelinePoint) -> Vec<MetricDatum> {
        let dim = Dimension::builder().name("Scenario").value(&self.scenario).build();
        let now = DateTime::from(std::time::SystemTime::now());
        let datum = |name: &str, unit: StandardUnit| {
            MetricDatum::builder().metric_name(name).dimensions(dim.clone()).timestamp(now).unit(unit)
        };
        let mut out = Vec::new();
        if p.latency_count > 0
            && let (Some(min), Some(max)) = (p.latency_min_ms, p.latency_max_ms)
        {
            let set = StatisticSet::builder()
                .sample_count(p.latency_count as f64)
                .sum(p.latency_sum_ms)
                .minimum(min)
                .maximum(max)
                .build();
            out.push(datum("message_latency", StandardUnit::Milliseconds).statistic_values(set).build());
        }
        for (name, v) in [
            ("messages_sent", p.sent),
            ("messages_replied", p.replied),
            ("messages_failed", p.failed),
            ("messages_lost", p.lost),
        ] {
            out.push(datum(name, StandardUnit::Count).value(v as f64).build());
        }
        out.push(datum("queue_depth", StandardUnit::Count).value(p.queue_depth as f64).build());
        if let Some(m) = p.memory_max_bytes {
            out.push(datum("container_memory", StandardUnit::Bytes).value(m as f64).build());
        }
        if let Some(c) = p.cpu_avg_pct {
            out.push(datum("container_cpu", StandardUnit::Percent).value(c).build());
        }
        out
    }

    /// PutMetricData calls made so far (billed per request).
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Waits for every call in flight; returns how many failed and the last error.
    pub fn flush(&mut self) -> (u64, Option<String>) {
        for t in self.tasks.drain(..) {
            let _ = self.rt.block_on(t);
        }
        (self.errors.load(Ordering::Relaxed), self.last_error.lock().ok().and_then(|e| e.clone()))
    }
}

impl RunObserver for CloudWatchPublisher {
    fn sample(&mut self, point: &TimelinePoint, _progress: &Progress<'_>) {
        let datums = self.datums(point);
        for chunk in datums.chunks(MAX_DATUMS) {
            let req = self.client.put_metric_data().namespace(&self.namespace).set_metric_data(Some(chunk.to_vec()));
            self.requests += 1;
            let errors = self.errors.clone();
            let last = self.last_error.clone();
            self.tasks.push(self.rt.spawn(async move {
                if let Err(e) = req.send().await {
                    errors.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut l) = last.lock() {
                        *l = Some(explain(&e));
                    }
                }
            }));
        }
    }
}
