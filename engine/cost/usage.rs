//! What a run used of each billed item, and whether herd counted it (measured) or worked it out
//! from the model (modelled).

use serde::{Deserialize, Serialize};

/// A billed item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageKind {
    /// SQS standard-queue requests.
    SqsRequests,
    /// SQS FIFO-queue requests.
    SqsFifoRequests,
    /// Fargate vCPU-seconds (each container billed one minute at least).
    FargateVcpuSeconds,
    /// Fargate GB-seconds.
    FargateGbSeconds,
    /// DynamoDB write request units.
    DynamodbWriteUnits,
    /// DynamoDB read request units.
    DynamodbReadUnits,
    /// CloudWatch API requests.
    CloudwatchRequests,
    /// Metrics requested through CloudWatch `GetMetricData`.
    CloudwatchMetricsRequested,
    /// Step Functions state transitions.
    StepFunctionsTransitions,
}

impl UsageKind {
    /// The item for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::SqsRequests => "SQS requests",
            Self::SqsFifoRequests => "SQS FIFO requests",
            Self::FargateVcpuSeconds => "Fargate vCPU-hours",
            Self::FargateGbSeconds => "Fargate GB-hours",
            Self::DynamodbWriteUnits => "DynamoDB write units",
            Self::DynamodbReadUnits => "DynamoDB read units",
            Self::CloudwatchRequests => "CloudWatch requests",
            Self::CloudwatchMetricsRequested => "CloudWatch metrics requested",
            Self::StepFunctionsTransitions => "Step Functions transitions",
        }
    }
}

/// Whether herd counted a figure or worked it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Counted: calls herd made, or the system's as herd saw them.
    Measured,
    /// Worked out from the model (the simulated system, or the system's side of a real one).
    Modelled,
}

/// One item's use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageItem {
    /// The item.
    pub kind: UsageKind,
    /// How much (requests, units, vCPU-seconds, GB-seconds, transitions).
    pub quantity: f64,
    /// Counted or worked out.
    pub basis: Basis,
    /// Who used it: `"herd"` or `"system"`.
    pub by: String,
}

/// Everything a run used, item by item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// The items, in a stable order.
    pub items: Vec<UsageItem>,
}

impl Usage {
    /// Adds `quantity` of `kind` (nothing when it is zero).
    pub fn add(&mut self, kind: UsageKind, quantity: f64, basis: Basis, by: &str) {
        if quantity <= 0.0 {
            return;
        }
        match self.items.iter_mut().find(|i| i.kind == kind && i.basis == basis && i.by == by) {
            Some(i) => i.quantity += quantity,
            None => self.items.push(UsageItem { kind, quantity, basis, by: by.to_owned() }),
        }
        self.items.sort_by(|a, b| (a.by.as_str(), a.kind, a.basis).cmp(&(b.by.as_str(), b.kind, b.basis)));
    }

    /// Everything `other` used too (runs side by side).
    pub fn absorb(&mut self, other: &Usage) {
        for i in &other.items {
            self.add(i.kind, i.quantity, i.basis, &i.by);
        }
    }

    /// How much of `kind` in all.
    pub fn total(&self, kind: UsageKind) -> f64 {
        self.items.iter().filter(|i| i.kind == kind).map(|i| i.quantity).sum()
    }
}
