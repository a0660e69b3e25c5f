//! The estimate: each item's use at its list price, the total, and the cost per 1,000 messages.

use serde::{Deserialize, Serialize};

use super::prices::CostParams;
use super::usage::{Basis, Usage, UsageKind};

/// One line of the estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostLine {
    /// The item, for people.
    pub item: String,
    /// Who used it: `"herd"` or `"system"`.
    pub by: String,
    /// How much, in `unit`s.
    pub quantity: f64,
    /// The billed unit (`requests`, `vCPU-hours`, ...).
    pub unit: String,
    /// US dollars per `per` units.
    pub price: f64,
    /// How many units the price is for (1, 1,000 or 1,000,000).
    pub per: f64,
    /// US dollars.
    pub amount: f64,
    /// Counted or worked out.
    pub basis: Basis,
}

/// What the run cost at list prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostEstimate {
    /// One line per item used.
    pub lines: Vec<CostLine>,
    /// US dollars in all.
    pub total: f64,
    /// US dollars per 1,000 messages sent (none when nothing was sent).
    pub per_1000_messages: Option<f64>,
    /// The system's side only (the cost of running the system for this workload, without
    /// herd's own calls), per 1,000 messages.
    pub system_per_1000_messages: Option<f64>,
    /// Where the prices hold.
    pub region: String,
    /// When they were read.
    pub prices_as_of: String,
    /// Where they were read.
    pub prices_source: String,
    /// The usage the estimate is made of (so merged runs can be estimated again).
    pub usage: Usage,
    /// The prices and the container size used.
    pub params: CostParams,
}

/// Prices `usage` with `params`; `messages` is what the run sent.
pub fn estimate(usage: &Usage, params: &CostParams, messages: u64) -> CostEstimate {
    let p = &params.prices;
    let mut lines = Vec::new();
    for i in &usage.items {
        let (quantity, unit, price, per) = match i.kind {
            UsageKind::SqsRequests => (i.quantity, "requests", p.sqs_per_million_requests, 1e6),
            UsageKind::SqsFifoRequests => (i.quantity, "requests", p.sqs_fifo_per_million_requests, 1e6),
            UsageKind::FargateVcpuSeconds => (i.quantity / 3600.0, "vCPU-hours", p.fargate_per_vcpu_hour, 1.0),
            UsageKind::FargateGbSeconds => (i.quantity / 3600.0, "GB-hours", p.fargate_per_gb_hour, 1.0),
            UsageKind::DynamodbWriteUnits => (i.quantity, "write units", p.dynamodb_per_million_write_units, 1e6),
            UsageKind::DynamodbReadUnits => (i.quantity, "read units", p.dynamodb_per_million_read_units, 1e6),
            UsageKind::CloudwatchRequests => (i.quantity, "requests", p.cloudwatch_per_thousand_requests, 1e3),
            UsageKind::CloudwatchMetricsRequested => {
                (i.quantity, "metrics", p.cloudwatch_per_thousand_metrics_requested, 1e3)
            }
            UsageKind::StepFunctionsTransitions => {
                (i.quantity, "transitions", p.step_functions_per_thousand_transitions, 1e3)
            }
        };
        lines.push(CostLine {
            item: i.kind.label().to_owned(),
            by: i.by.clone(),
            quantity,
            unit: unit.to_owned(),
            price,
            per,
            amount: quantity / per * price,
            basis: i.basis,
        });
    }
    let total: f64 = lines.iter().map(|l| l.amount).sum();
    let system: f64 = lines.iter().filter(|l| l.by == "system").map(|l| l.amount).sum();
    let per_1000 = |amount: f64| (messages > 0).then(|| amount / messages as f64 * 1000.0);
    CostEstimate {
        lines,
        total,
        per_1000_messages: per_1000(total),
        system_per_1000_messages: per_1000(system),
        region: p.region.clone(),
        prices_as_of: p.as_of.clone(),
        prices_source: p.source.clone(),
        usage: usage.clone(),
        params: params.clone(),
    }
}

/// Fargate's bill for one container that ran `seconds`: by the second, one minute at least.
pub fn billed_seconds(seconds: f64) -> f64 {
    seconds.max(60.0).ceil()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_usage_costs_what_a_hand_reckoning_says() {
        let mut u = Usage::default();
        u.add(UsageKind::SqsRequests, 2_500_000.0, Basis::Modelled, "system");
        u.add(UsageKind::FargateVcpuSeconds, 7200.0, Basis::Modelled, "system");
        u.add(UsageKind::FargateGbSeconds, 14400.0, Basis::Modelled, "system");
        u.add(UsageKind::SqsRequests, 500_000.0, Basis::Measured, "herd");
        let e = estimate(&u, &CostParams::default(), 1_000_000);
        // 3M requests at $0.40/M = 1.20; 2 vCPU-h at 0.04048 = 0.08096; 4 GB-h at 0.004445 =
        // 0.01778.
        let want = 1.20 + 0.08096 + 0.01778;
        assert!((e.total - want).abs() < 1e-9, "{} != {want}", e.total);
        assert!((e.per_1000_messages.unwrap() - want / 1000.0).abs() < 1e-12);
        assert!((e.system_per_1000_messages.unwrap() - (1.0 + 0.08096 + 0.01778) / 1000.0).abs() < 1e-12);
        assert_eq!(billed_seconds(12.0), 60.0);
        assert_eq!(billed_seconds(61.2), 62.0);
    }
}
