//! The price table: herd's defaults (`prices.toml`, dated and sourced), replaced key by key by
//! a scenario's `[cost.prices]`, and the container size the Fargate prices apply to.

use serde::{Deserialize, Serialize};

use super::spec::{CostSpec, PricesSpec};
use crate::plan::Compiler;
use crate::scenario::KeyPath;

/// List prices in US dollars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    /// Where they hold.
    pub region: String,
    /// When they were read.
    pub as_of: String,
    /// Where they were read.
    pub source: String,
    /// SQS standard, per million requests.
    pub sqs_per_million_requests: f64,
    /// SQS FIFO, per million requests.
    pub sqs_fifo_per_million_requests: f64,
    /// Fargate, per vCPU-hour.
    pub fargate_per_vcpu_hour: f64,
    /// Fargate, per GB-hour.
    pub fargate_per_gb_hour: f64,
    /// DynamoDB on demand, per million write request units.
    pub dynamodb_per_million_write_units: f64,
    /// DynamoDB on demand, per million read request units.
    pub dynamodb_per_million_read_units: f64,
    /// CloudWatch API requests, per thousand.
    pub cloudwatch_per_thousand_requests: f64,
    /// CloudWatch GetMetricData, per thousand metrics requested.
    pub cloudwatch_per_thousand_metrics_requested: f64,
    /// Step Functions standard, per thousand state transitions.
    pub step_functions_per_thousand_transitions: f64,
}

impl Default for PriceTable {
    fn default() -> Self {
        toml::from_str(include_str!("prices.toml")).expect("the built-in price table parses")
    }
}

/// How the run's cost is estimated: prices and the container's size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostParams {
    /// The prices.
    pub prices: PriceTable,
    /// vCPUs of one container.
    pub task_vcpu: f64,
    /// Memory of one container, in GB (AWS bills memory per GB: GiB as written, which Fargate
    /// calls GB).
    pub task_memory_gb: f64,
    /// Step Functions state transitions per message, modelled (0: none).
    #[serde(default)]
    pub step_functions_transitions_per_message: f64,
}

impl Default for CostParams {
    fn default() -> Self {
        Self {
            prices: PriceTable::default(),
            task_vcpu: 1.0,
            task_memory_gb: 2.0,
            step_functions_transitions_per_message: 0.0,
        }
    }
}

/// Compiles `[cost]`, reporting every bad value at its key.
pub(crate) fn compile_cost(c: &mut Compiler, spec: Option<&CostSpec>, path: KeyPath) -> CostParams {
    let mut params = CostParams::default();
    let Some(spec) = spec else { return params };
    let price = |c: &mut Compiler, key: &str, value: Option<f64>, slot: &mut f64, at: &KeyPath| {
        if let Some(v) = value {
            if v.is_finite() && v >= 0.0 {
                *slot = v;
            } else {
                c.err(at.key(key), format!("{key} is {v}; a price is a number of US dollars, 0 or more"));
            }
        }
    };
    if let Some(v) = spec.task_vcpu {
        // Fargate's task sizes run from a quarter of a vCPU to 16.
        if (0.125..=192.0).contains(&v) {
            params.task_vcpu = v;
        } else {
            c.err(
                path.key("task_vcpu"),
                format!("task_vcpu is {v}; write the vCPUs of one container, e.g. 0.25, 1 or 4"),
            );
        }
    }
    if let Some(t) = spec.step_functions_transitions_per_message {
        if t.is_finite() && (0.0..=10_000.0).contains(&t) {
            params.step_functions_transitions_per_message = t;
        } else {
            c.err(
                path.key("step_functions_transitions_per_message"),
                format!("step_functions_transitions_per_message is {t}; write the state transitions per message, 0 or more, e.g. 4"),
            );
        }
    }
    if let Some(m) = &spec.task_memory {
        match crate::plan::parse_size_public(m) {
            Ok(bytes) if bytes > 0 => params.task_memory_gb = bytes as f64 / (1u64 << 30) as f64,
            Ok(_) => {
                c.err(path.key("task_memory"), "task_memory is 0; write the memory of one container, e.g. \"2GiB\"");
            }
            Err(e) => {
                c.err(path.key("task_memory"), e);
            }
        }
    }
    if let Some(p) = &spec.prices {
        let at = path.key("prices");
        let t = &mut params.prices;
        let PricesSpec {
            region,
            as_of,
            source,
            sqs_per_million_requests,
            sqs_fifo_per_million_requests,
            fargate_per_vcpu_hour,
            fargate_per_gb_hour,
            dynamodb_per_million_write_units,
            dynamodb_per_million_read_units,
            cloudwatch_per_thousand_requests,
            cloudwatch_per_thousand_metrics_requested,
            step_functions_per_thousand_transitions,
        } = p;
        if let Some(r) = region {
            t.region.clone_from(r);
        }
        // Prices a scenario changes are its own: the default date and source no longer apply
        // unless it says.
        let any_price = [
            sqs_per_million_requests,
            sqs_fifo_per_million_requests,
            fargate_per_vcpu_hour,
            fargate_per_gb_hour,
            dynamodb_per_million_write_units,
            dynamodb_per_million_read_units,
            cloudwatch_per_thousand_requests,
            cloudwatch_per_thousand_metrics_requested,
            step_functions_per_thousand_transitions,
        ]
        .iter()
        .any(|v| v.is_some());
        if any_price {
            t.source = format!("the scenario's [cost.prices], else {}", t.source);
        }
        if let Some(a) = as_of {
            t.as_of.clone_from(a);
        }
        if let Some(s) = source {
            t.source.clone_from(s);
        }
        price(c, "sqs_per_million_requests", *sqs_per_million_requests, &mut t.sqs_per_million_requests, &at);
        price(
            c,
            "sqs_fifo_per_million_requests",
            *sqs_fifo_per_million_requests,
            &mut t.sqs_fifo_per_million_requests,
            &at,
        );
        price(c, "fargate_per_vcpu_hour", *fargate_per_vcpu_hour, &mut t.fargate_per_vcpu_hour, &at);
        price(c, "fargate_per_gb_hour", *fargate_per_gb_hour, &mut t.fargate_per_gb_hour, &at);
        price(
            c,
            "dynamodb_per_million_write_units",
            *dynamodb_per_million_write_units,
            &mut t.dynamodb_per_million_write_units,
            &at,
        );
        price(
            c,
            "dynamodb_per_million_read_units",
            *dynamodb_per_million_read_units,
            &mut t.dynamodb_per_million_read_units,
            &at,
        );
        price(
            c,
            "cloudwatch_per_thousand_requests",
            *cloudwatch_per_thousand_requests,
            &mut t.cloudwatch_per_thousand_requests,
            &at,
        );
        price(
            c,
            "cloudwatch_per_thousand_metrics_requested",
            *cloudwatch_per_thousand_metrics_requested,
            &mut t.cloudwatch_per_thousand_metrics_requested,
            &at,
        );
        price(
            c,
            "step_functions_per_thousand_transitions",
            *step_functions_per_thousand_transitions,
            &mut t.step_functions_per_thousand_transitions,
            &at,
        );
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_is_dated_and_sourced() {
        let t = PriceTable::default();
        assert_eq!(t.region, "us-east-1");
        assert!(!t.as_of.is_empty() && t.source.contains("aws.amazon.com"));
        assert!((t.sqs_per_million_requests - 0.40).abs() < 1e-12);
    }
}
