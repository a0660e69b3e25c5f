//! Execution segments: the deterministic slice `i/n` of a plan that one of `n` workers runs.
//!
//! Slices partition **project+user pairs**: a pair's sessions, its queues and its claims belong
//! to exactly one slice, so no worker ever reads or deletes another worker's replies. Pairs are
//! taken in the order their first session appears and cut into `n` contiguous runs of about
//! equal session counts (a pair goes to the slice that holds the middle of its sessions), so the
//! cut depends on the plan alone and every worker computes the same one.
//!
//! A slice runs every phase's full schedule and sends only the arrivals that fall to its own
//! sessions (see `runtime::executors`), so the union of the `n` slices is the unsegmented plan:
//! the same (session, iteration, intended send time) events, none twice, none missing. Each
//! slice's share of an in-flight cap follows its share of the phase's sessions. A fault is
//! carried out by one slice: the one holding the session it names, or the first for a fault
//! that picks containers by index or at random.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::model::{ContainerSelector, FaultAction, Plan};

/// `i/n`: slice `i` (from 1) of `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Which slice, from 1.
    pub index: u32,
    /// How many slices.
    pub count: u32,
}

/// The most slices a plan is cut into.
pub const MAX_SEGMENTS: u32 = 10_000;

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Segment {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{text:?} is not a segment; write `i/n`: slice i (from 1) of n slices, 1 <= i <= n <= {MAX_SEGMENTS}, e.g. `2/4`"
            )
        };
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let (index, count) = (i.trim().parse::<u32>().map_err(|_| bad())?, n.trim().parse::<u32>().map_err(|_| bad())?);
        if index == 0 || count == 0 || index > count || count > MAX_SEGMENTS {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

/// The slice a plan was cut to, as the runtime uses it.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentPlan {
    /// `i/n`.
    pub label: String,
    /// Which slice, from 1.
    pub index: u32,
    /// How many slices.
    pub count: u32,
    /// Project+user pairs in this slice.
    pub pairs: usize,
    /// Project+user pairs in the whole plan.
    pub total_pairs: usize,
    /// Sessions in this slice.
    pub sessions: usize,
    /// Which sessions (by index in the plan) are this slice's.
    #[serde(skip)]
    pub owned: Arc<[bool]>,
    /// For each fault of the plan, the slice (from 1) that carries it out.
    pub fault_slices: Vec<u32>,
    /// Whether the slice runs the whole model and records only its own share: on an in-process
    /// simulated target, whose pairs share one pool of containers and one random stream, a
    /// slice that simulated only its own load would simulate a different, less busy system.
    /// A real target's slice sends only its own share.
    pub whole_model: bool,
}

impl SegmentPlan {
    /// Whether `session` is this slice's.
    pub fn owns(&self, session: usize) -> bool {
        self.owned.get(session).copied().unwrap_or(false)
    }

    /// Whether this slice carries out fault `f`.
    pub fn carries_fault(&self, f: usize) -> bool {
        self.fault_slices.get(f).is_none_or(|s| *s == self.index)
    }
}

/// For each session of `plan`, the slice (from 1) of `count` that holds it, and the number of
/// pairs.
pub fn slice_of_sessions(plan: &Plan, count: u32) -> (Vec<u32>, usize) {
    // Pairs in first-appearance order, with their sessions.
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut pairs: Vec<Vec<usize>> = Vec::new();
    for (i, s) in plan.sessions.iter().enumerate() {
        let p = *index.entry(s.pair_key()).or_insert_with(|| {
            pairs.push(Vec::new());
            pairs.len() - 1
        });
        pairs[p].push(i);
    }
    let total = plan.sessions.len().max(1) as f64;
    let mut slices = vec![1; plan.sessions.len()];
    let mut before = 0usize;
    for members in &pairs {
        // The middle of the pair's sessions on the 0..total line decides its slice.
        let middle = before as f64 + members.len() as f64 / 2.0;
        let slice = ((middle / total * f64::from(count)).floor() as u32).min(count - 1) + 1;
        for &s in members {
            slices[s] = slice;
        }
        before += members.len();
    }
    (slices, pairs.len())
}

/// Cuts `plan` to `segment`. Refused (with why) when the slice would hold no pair.
pub fn apply_segment(plan: &mut Plan, segment: Segment) -> Result<(), String> {
    let (slices, total_pairs) = slice_of_sessions(plan, segment.count);
    let owned: Arc<[bool]> = slices.iter().map(|s| *s == segment.index).collect();
    let sessions = owned.iter().filter(|o| **o).count();
    let mut mine: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (s, o) in plan.sessions.iter().zip(owned.iter()) {
        if *o {
            mine.insert(s.pair_key());
        }
    }
    if sessions == 0 {
        return Err(format!(
            "segment {segment} holds no project+user pair: the scenario has {total_pairs} pair{} and a pair is never split; use at most {total_pairs} slice{}",
            if total_pairs == 1 { "" } else { "s" },
            if total_pairs == 1 { "" } else { "s" },
        ));
    }
    let fault_slices = plan
        .faults
        .iter()
        .map(|f| match &f.action {
            FaultAction::Interrupt { session, .. } => slices.get(*session).copied().unwrap_or(1),
            FaultAction::KillContainer { select }
            | FaultAction::StopContainer { select }
            | FaultAction::PauseContainer { select, .. } => match select {
                ContainerSelector::OwnerOf(session) => slices.get(*session).copied().unwrap_or(1),
                ContainerSelector::Index(_) | ContainerSelector::Random(_) => 1,
            },
        })
        .collect();
    plan.segment = Some(SegmentPlan {
        label: segment.to_string(),
        index: segment.index,
        count: segment.count,
        pairs: mine.len(),
        total_pairs,
        sessions,
        owned,
        fault_slices,
        whole_model: plan.target.supports_virtual_clock(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_parse_and_refuse_with_the_accepted_form() {
        assert_eq!("2/4".parse::<Segment>(), Ok(Segment { index: 2, count: 4 }));
        assert_eq!(" 1 / 1 ".parse::<Segment>(), Ok(Segment { index: 1, count: 1 }));
        for bad in ["0/4", "5/4", "1/0", "2", "a/b", "1/10001", "-1/2", ""] {
            let e = bad.parse::<Segment>().unwrap_err();
            assert!(e.contains("`i/n`") && e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }
}
