//! The serde types of the `[cost]` table: the price table and the size of a container.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the run's cost is estimated: the size of one container of the system (for Fargate's
/// per-vCPU and per-GB prices) and any list price to replace.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct CostSpec {
    /// vCPUs of one container (the Fargate task size), e.g. `1` or `0.5`. Default 1.
    #[serde(default)]
    pub task_vcpu: Option<f64>,
    /// Memory of one container (the Fargate task size), e.g. `"2GiB"`. Default `"2GiB"`.
    #[serde(default)]
    pub task_memory: Option<String>,
    /// Step Functions state transitions the system's workflow makes per message (generation B
    /// runs a state machine per task), for a modelled Step Functions line, e.g. `4`. Default 0
    /// (none modelled).
    #[serde(default)]
    pub step_functions_transitions_per_message: Option<f64>,
    /// List prices in US dollars that replace herd's defaults (us-east-1 on-demand; see
    /// `herd schema` or the README for them and their date).
    #[serde(default)]
    pub prices: Option<PricesSpec>,
}

/// Prices in US dollars; each replaces herd's default for the same item.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct PricesSpec {
    /// Where these prices hold, e.g. `"eu-west-1"` (shown beside the estimate).
    #[serde(default)]
    pub region: Option<String>,
    /// When they were read, e.g. `"2026-11"` (shown beside the estimate).
    #[serde(default)]
    pub as_of: Option<String>,
    /// Where they were read (shown beside the estimate).
    #[serde(default)]
    pub source: Option<String>,
    /// SQS standard queues, per million requests (each 64 KiB chunk of a payload is a request;
    /// a batch of up to 10 messages is one). Default 0.40.
    #[serde(default)]
    pub sqs_per_million_requests: Option<f64>,
    /// SQS FIFO queues, per million requests. Default 0.50.
    #[serde(default)]
    pub sqs_fifo_per_million_requests: Option<f64>,
    /// Fargate, per vCPU-hour (billed by the second, one minute at least). Default 0.04048.
    #[serde(default)]
    pub fargate_per_vcpu_hour: Option<f64>,
    /// Fargate, per GB-hour of memory. Default 0.004445.
    #[serde(default)]
    pub fargate_per_gb_hour: Option<f64>,
    /// DynamoDB on demand, per million write request units. Default 0.625.
    #[serde(default)]
    pub dynamodb_per_million_write_units: Option<f64>,
    /// DynamoDB on demand, per million read request units. Default 0.125.
    #[serde(default)]
    pub dynamodb_per_million_read_units: Option<f64>,
    /// CloudWatch API requests (`PutMetricData` and the like), per thousand. Default 0.01.
    #[serde(default)]
    pub cloudwatch_per_thousand_requests: Option<f64>,
    /// CloudWatch `GetMetricData`, per thousand metrics requested. Default 0.01.
    #[serde(default)]
    pub cloudwatch_per_thousand_metrics_requested: Option<f64>,
    /// Step Functions standard workflows, per thousand state transitions. Default 0.025.
    #[serde(default)]
    pub step_functions_per_thousand_transitions: Option<f64>,
}
