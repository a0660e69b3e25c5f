//! The short plain-text summary printed at the end of a run.

use std::fmt::Write as _;

use super::summary::RunSummary;

/// Renders the terminal summary: verdict, accounting, headline statistics and thresholds.
pub fn terminal_summary(s: &RunSummary) -> String {
    let mut out = String::new();
    let kind = s.target.get("kind").and_then(|k| k.as_str()).unwrap_or("?");
    let _ = writeln!(
        out,
        "{}  {}  (target {kind}, seed {}, {:.0}s on the {} clock, {:.2}s wall)",
        s.scenario.name,
        s.verdict.name().to_uppercase(),
        s.scenario.seed,
        s.duration_seconds,
        match s.clock {
            crate::runtime::ClockKind::Virtual => "virtual",
            crate::runtime::ClockKind::Real => "real",
        },
        s.run.wall_seconds,
    );
    let _ = writeln!(out, "  ended: {}", s.end_text());
    for b in s.breaking_points() {
        let _ = writeln!(out, "  breaking point: {b}");
    }
    if !s.scenario.vars.is_empty() {
        let vars: Vec<String> = s.scenario.vars.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        let _ = writeln!(out, "  vars: {}", vars.join(", "));
    }
    for f in &s.failures {
        let _ = writeln!(out, "  nothing proven: {f}");
    }
    for w in s.warnings() {
        let _ = writeln!(out, "  warning: {w}");
    }
    let a = &s.accounting;
    let _ = writeln!(
        out,
        "  messages: sent {}, replied {}, failed {}, lost {}, duplicated {}, out of order {}, interrupts {}, dropped {}",
        a.sent, a.replied, a.failed, a.lost, a.duplicated, a.out_of_order, a.interrupts, a.dropped_arrivals
    );
    // The rest of the accounting, when anything happened: every field a reader may need.
    let extra: Vec<String> = [
        ("contradictory", a.contradictory),
        ("late replies", a.late_replies),
        ("unknown replies", a.unknown_replies),
        ("malformed replies", a.malformed_replies),
        ("target errors", a.target_errors),
        ("send errors", a.send_errors),
        ("interrupts sent", a.interrupts_sent),
        ("claims sent", a.claims_sent),
        ("claims seen", a.claims_seen),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| format!("{k} {n}"))
    .collect();
    if !extra.is_empty() {
        let _ = writeln!(out, "  also: {}", extra.join(", "));
    }
    let rows: Vec<_> =
        s.metrics.iter().filter(|m| m.tag_key.is_none() && m.histogram.is_some() && m.count > 0).collect();
    if !rows.is_empty() {
        let _ = writeln!(
            out,
            "  {:<18} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "metric", "count", "min", "avg", "p50", "p90", "p99", "max"
        );
        for m in rows {
            let d = &m.display;
            let _ = writeln!(
                out,
                "  {:<18} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
                m.name, m.count, d.min, d.avg, d.p50, d.p90, d.p99, d.max
            );
        }
    }
    if let Some(c) = &s.cost {
        let modelled = c.lines.iter().filter(|l| l.basis == crate::cost::Basis::Modelled).count();
        let basis = match modelled {
            0 => "measured",
            n if n == c.lines.len() => "modelled",
            _ => "measured and modelled",
        };
        let _ = writeln!(
            out,
            "  cost: ${:.6}{} at {} list prices ({}), {basis}",
            c.total,
            c.per_1000_messages.map(|p| format!(", ${p:.6} per 1,000 messages")).unwrap_or_default(),
            c.region,
            c.prices_as_of,
        );
    }
    if !s.thresholds.is_empty() {
        let _ = writeln!(out, "  thresholds:");
        for t in &s.thresholds {
            let _ = writeln!(
                out,
                "    {} {:<34} {:<18} measured {}",
                if t.passed { "pass" } else { "FAIL" },
                t.key,
                t.rule,
                t.measured_text
            );
        }
    }
    out
}
