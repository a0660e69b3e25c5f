//! The comparison of a what-if sweep (`[matrix]`): one row per variant (latency, success,
//! containers, cost, verdict), the best variant for the scenario's thresholds, and charts of
//! p99 and cost against each swept parameter.

use plotters::prelude::*;
use serde::Serialize;

use super::charts::{BLUE, Chart, GREEN, ORANGE, PURPLE, VERMILION};
use super::summary::{RunSummary, Verdict};
use crate::plan::{MatrixPlan, Variant};

/// One variant's figures.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRow {
    /// Its number, from 1.
    pub index: usize,
    /// `containers.max=2, rate=10/s`.
    pub label: String,
    /// Each swept parameter's value, in parameter order.
    pub values: Vec<String>,
    /// Where its own summary and reports are, relative to the comparison.
    pub folder: String,
    /// passed, failed, aborted, interrupted.
    pub verdict: String,
    /// Thresholds it failed.
    pub failed_thresholds: usize,
    /// Messages sent.
    pub sent: u64,
    /// Successful replies per message sent, in percent.
    pub success_percent: f64,
    /// Median `message_latency`, in milliseconds.
    pub p50_ms: Option<f64>,
    /// 99th percentile `message_latency`, in milliseconds.
    pub p99_ms: Option<f64>,
    /// The most containers running at once.
    pub containers: u64,
    /// Thread switches the containers made.
    pub switches: u64,
    /// Estimated cost in US dollars.
    pub cost: Option<f64>,
    /// Per 1,000 messages.
    pub cost_per_1000: Option<f64>,
    /// Whether this is the best variant.
    pub best: bool,
}

/// A sweep's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Sweep {
    /// The scenario.
    pub scenario: String,
    /// The swept parameters.
    pub parameters: Vec<String>,
    /// One row per variant.
    pub rows: Vec<SweepRow>,
    /// The best variant's number, when one met every threshold.
    pub best: Option<usize>,
    /// Why it is the best, or why none is.
    pub best_reason: String,
    /// p99 and cost against each parameter.
    pub charts: Vec<Chart>,
    /// Variants that ran at once.
    pub parallel: usize,
}

fn metric(s: &RunSummary, name: &str, pick: fn(&super::summary::MetricSummary) -> Option<f64>) -> Option<f64> {
    s.metrics.iter().find(|m| m.name == name && m.tag_key.is_none()).and_then(pick)
}

/// A row from a variant's summary.
pub fn sweep_row(v: &Variant, s: &RunSummary, folder: &str) -> SweepRow {
    // Latency statistics are kept in microseconds.
    let ms = |us: Option<f64>| us.map(|u| u / 1e3);
    let containers = metric(s, "containers_running", |m| m.max)
        .map(|m| m as u64)
        .or_else(|| s.timeline.iter().map(|p| p.containers).max())
        .unwrap_or(0);
    SweepRow {
        index: v.index,
        label: v.label(),
        values: v.values.iter().map(|(_, x)| x.clone()).collect(),
        folder: folder.to_owned(),
        verdict: s.verdict.name().to_owned(),
        failed_thresholds: s.thresholds.iter().filter(|t| !t.passed).count(),
        sent: s.accounting.sent,
        success_percent: if s.accounting.sent == 0 {
            0.0
        } else {
            s.accounting.replied as f64 / s.accounting.sent as f64 * 100.0
        },
        p50_ms: ms(metric(s, "message_latency", |m| m.p50)),
        p99_ms: ms(metric(s, "message_latency", |m| m.p99)),
        containers,
        switches: s.metrics.iter().find(|m| m.name == "session_switch" && m.tag_key.is_none()).map_or(0, |m| m.count),
        cost: s.cost.as_ref().map(|c| c.total),
        cost_per_1000: s.cost.as_ref().and_then(|c| c.per_1000_messages),
        best: false,
    }
}

/// The best of `rows` for the scenario's thresholds: of the variants that passed, the one that
/// cost least (then the lowest p99, then the first); none when none passed.
pub fn pick_best(rows: &[SweepRow]) -> (Option<usize>, String) {
    let passed: Vec<&SweepRow> = rows.iter().filter(|r| r.verdict == Verdict::Passed.name()).collect();
    let key = |r: &&SweepRow| (r.cost.unwrap_or(f64::INFINITY), r.p99_ms.unwrap_or(f64::INFINITY), r.index);
    let best = passed.iter().min_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        ka.0.total_cmp(&kb.0).then(ka.1.total_cmp(&kb.1)).then(ka.2.cmp(&kb.2))
    });
    match best {
        Some(b) => (
            Some(b.index),
            format!(
                "variant {} ({}) meets every threshold at the lowest cost of the {} that do",
                b.index,
                b.label,
                passed.len()
            ),
        ),
        None => (None, format!("none of the {} variants meets every threshold", rows.len())),
    }
}

/// The comparison of a sweep from its variants' summaries, in variant order.
pub fn sweep(plan: &MatrixPlan, scenario: &str, runs: &[(SweepRow, &RunSummary)], parallel: usize) -> Sweep {
    let mut rows: Vec<SweepRow> = runs.iter().map(|(r, _)| r.clone()).collect();
    let (best, best_reason) = pick_best(&rows);
    for r in &mut rows {
        r.best = Some(r.index) == best;
    }
    let mut charts = Vec::new();
    for (i, p) in plan.parameters.iter().enumerate() {
        let name = p.rsplit('.').next().unwrap_or(p);
        if let Some(c) =
            parameter_chart(&format!("p99-{i}"), &format!("p99 latency against {name}"), "p99 (ms)", &rows, i, |r| {
                r.p99_ms
            })
        {
            charts.push(c);
        }
        if let Some(c) =
            parameter_chart(&format!("cost-{i}"), &format!("Cost against {name}"), "cost (US$)", &rows, i, |r| r.cost)
        {
            charts.push(c);
        }
    }
    Sweep {
        scenario: scenario.to_owned(),
        parameters: plan.parameters.clone(),
        rows,
        best,
        best_reason,
        charts,
        parallel,
    }
}

const PALETTE: [RGBColor; 5] = [BLUE, ORANGE, VERMILION, GREEN, PURPLE];

/// `y` against parameter `p`'s values (in the order first met), one line per combination of
/// the other parameters.
fn parameter_chart(
    id: &str,
    title: &str,
    y_title: &str,
    rows: &[SweepRow],
    p: usize,
    y: fn(&SweepRow) -> Option<f64>,
) -> Option<Chart> {
    let mut xs: Vec<&str> = Vec::new();
    for r in rows {
        if let Some(v) = r.values.get(p).map(String::as_str)
            && !xs.contains(&v)
        {
            xs.push(v);
        }
    }
    let mut lines: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for r in rows {
        let (Some(v), Some(value)) = (r.values.get(p), y(r)) else { continue };
        let others: Vec<&str> = r.values.iter().enumerate().filter(|(k, _)| *k != p).map(|(_, v)| v.as_str()).collect();
        let key = if others.is_empty() { "all".to_owned() } else { others.join(", ") };
        let x = xs.iter().position(|x| x == v).unwrap_or(0) as f64;
        match lines.iter_mut().find(|(k, _)| *k == key) {
            Some((_, pts)) => pts.push((x, value)),
            None => lines.push((key, vec![(x, value)])),
        }
    }
    if lines.is_empty() {
        return None;
    }
    let y_max = lines.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)).fold(0.0, f64::max).max(f64::MIN_POSITIVE) * 1.1;
    let x_max = (xs.len().max(2) - 1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (860, 280)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.2f64..x_max + 0.2, 0f64..y_max)
            .ok()?;
        let labels = xs.clone();
        chart
            .configure_mesh()
            .x_labels(xs.len().max(2))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).map(|s| (*s).to_owned()).unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(y_title)
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 12))
            .draw()
            .ok()?;
        for (k, (name, pts)) in lines.iter().take(12).enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .ok()?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            chart.draw_series(pts.iter().map(|&(x, y)| Circle::new((x, y), 3, color.filled()))).ok()?;
        }
        if lines.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK.mix(0.2))
                .label_font(("sans-serif", 11))
                .draw()
                .ok()?;
        }
        root.present().ok()?;
    }
    Some(Chart { id: id.to_owned(), title: title.to_owned(), svg })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(index: usize, verdict: &str, cost: Option<f64>, p99: Option<f64>) -> SweepRow {
        SweepRow {
            index,
            label: format!("v{index}"),
            values: vec![index.to_string()],
            folder: String::new(),
            verdict: verdict.into(),
            failed_thresholds: usize::from(verdict != "passed"),
            sent: 10,
            success_percent: 100.0,
            p50_ms: p99,
            p99_ms: p99,
            containers: 1,
            switches: 0,
            cost,
            cost_per_1000: cost,
            best: false,
        }
    }

    #[test]
    fn the_best_passes_every_threshold_at_the_lowest_cost() {
        let rows = [
            row(1, "failed", Some(0.1), Some(1.0)),
            row(2, "passed", Some(0.5), Some(9.0)),
            row(3, "passed", Some(0.3), Some(20.0)),
            row(4, "passed", Some(0.3), Some(10.0)),
        ];
        assert_eq!(pick_best(&rows).0, Some(4), "cheapest passing, then the lower p99");
        let none = [row(1, "failed", Some(0.1), None), row(2, "aborted", None, None)];
        let (best, why) = pick_best(&none);
        assert_eq!(best, None);
        assert!(why.contains("none of the 2"), "{why}");
    }
}
