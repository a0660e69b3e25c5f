//! What a run of a plan needs on the aws target (queues and tables) and every call that would
//! change something, for `herd run --dry-run`.

use std::collections::HashSet;
use std::time::Duration;

use super::compile::{AwsParams, ContainersParams, ReplyParams};
use super::provision::{self, QueueNeed};
use super::session_queues::SessionQueues;
use crate::plan::Plan;

/// The queues and tables a plan needs: (queues, tables with their key).
/// The queues a plan needs, and its tables with their key attribute.
pub(crate) type Needs = (Vec<QueueNeed>, Vec<(String, String)>);

pub(crate) fn needs(plan: &Plan, params: &AwsParams) -> Result<Needs, String> {
    let mut queues: Vec<QueueNeed> = Vec::new();
    // Indexed by name so that 16,000 project+user pairs cost one lookup each, not a scan of every
    // queue seen so far; the list keeps first-seen order for the dry run and for provisioning.
    let mut seen: HashSet<String> = HashSet::new();
    let mut push = |q: QueueNeed| {
        if seen.insert(q.name.clone()) {
            queues.push(q);
        }
    };
    let work = SessionQueues::render(plan, &params.work.queue, |n| n)?;
    let reply = match &params.reply {
        ReplyParams::Sqs { queue, .. } => Some(SessionQueues::render(plan, queue, |n| n)?),
        ReplyParams::StepFunctionsCallback { .. } => None,
    };
    let interrupt = match params.claims.as_ref().and_then(|c| c.interrupt_queue.as_ref()) {
        Some(q) => Some(SessionQueues::render(plan, q, |n| n)?),
        None => None,
    };
    // In the order the sessions first name them: a session's work queue, then its reply and
    // interrupt queues.
    let mut done = [vec![false; work.names.len()], Vec::new(), Vec::new()];
    done[1] = vec![false; reply.as_ref().map_or(0, |r| r.names.len())];
    done[2] = vec![false; interrupt.as_ref().map_or(0, |r| r.names.len())];
    // A slice (`--segment i/n`) needs only what its own sessions use.
    let owned = |s: usize| plan.segment.as_ref().is_none_or(|seg| seg.owns(s));
    for s in (0..plan.sessions.len()).filter(|s| owned(*s)) {
        let w = work.index_of(s);
        if !std::mem::replace(&mut done[0][w], true) {
            push(QueueNeed {
                name: work.names[w].clone(),
                fifo: params.work.fifo,
                visibility: params.work.visibility_timeout,
            });
        }
        if let Some(r) = &reply {
            let i = r.index_of(s);
            if !std::mem::replace(&mut done[1][i], true) {
                let name = r.names[i].clone();
                let fifo = name.ends_with(".fifo");
                push(QueueNeed { name, fifo, visibility: Duration::from_secs(30) });
            }
        }
        if let Some(q) = &interrupt {
            let i = q.index_of(s);
            if !std::mem::replace(&mut done[2][i], true) {
                push(QueueNeed { name: q.names[i].clone(), fifo: false, visibility: Duration::from_secs(60) });
            }
        }
    }
    let mut tables = Vec::new();
    if let Some(c) = &params.claims {
        push(QueueNeed {
            name: c.queue.clone(),
            fifo: c.queue.ends_with(".fifo"),
            visibility: Duration::from_secs(30),
        });
        tables.push((c.ownership_table.clone(), "projectKey".to_owned()));
        if let Some(j) = &c.jobs_table {
            tables.push((j.clone(), "projectUserId".to_owned()));
        }
    }
    Ok((queues, tables))
}

/// What a slice (`--segment i/n` with n > 1) shares with the other slices: the queues its
/// sessions use that other slices' sessions use too (by name), and the reply queues among them.
/// A slice must leave a shared queue and the tables in place at its end (the others are still
/// running), and cannot read a shared reply queue at all: it would take, and delete, the other
/// slices' replies.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Queue names shared with other slices.
    pub(crate) queues: HashSet<String>,
    /// Reply queues shared with other slices.
    pub(crate) replies: Vec<String>,
}

pub(crate) fn shared_with_other_slices(plan: &Plan, params: &AwsParams) -> Result<Shared, String> {
    let mut out = Shared::default();
    let Some(seg) = plan.segment.as_ref().filter(|seg| seg.count > 1) else { return Ok(out) };
    let mut templates = vec![&params.work.queue];
    if let ReplyParams::Sqs { queue, .. } = &params.reply {
        templates.push(queue);
    }
    if let Some(q) = params.claims.as_ref().and_then(|c| c.interrupt_queue.as_ref()) {
        templates.push(q);
    }
    for (k, template) in templates.into_iter().enumerate() {
        let rendered = SessionQueues::render(plan, template, |n| n)?;
        // Per queue: used by this slice, used by another.
        let mut used = vec![(false, false); rendered.names.len()];
        for s in 0..plan.sessions.len() {
            let u = &mut used[rendered.index_of(s)];
            if seg.owns(s) { u.0 = true } else { u.1 = true }
        }
        for (name, (mine, theirs)) in rendered.names.iter().zip(used) {
            if mine && theirs {
                out.queues.insert(name.clone());
                if k == 1 && matches!(params.reply, ReplyParams::Sqs { .. }) {
                    out.replies.push(name.clone());
                }
            }
        }
    }
    if let Some(c) = &params.claims {
        out.queues.insert(c.queue.clone());
    }
    Ok(out)
}

/// Every mutating call a run of `plan` would make, for `herd run --dry-run`.
pub(crate) fn dry_run(plan: &Plan, params: &AwsParams) -> Result<Vec<String>, String> {
    let (queues, tables) = needs(plan, params)?;
    let mut out = Vec::new();
    if !params.allowed_accounts.is_empty() {
        out.push(format!("(read only) sts:GetCallerIdentity, must be one of {}", params.allowed_accounts.join(", ")));
    }
    if params.provision {
        out.extend(provision::describe(&queues, &tables));
    }
    let per_queue = SessionQueues::render(plan, &params.work.queue, |n| n)?;
    let per_queue = per_queue.counts();
    for (q, sessions) in per_queue {
        out.push(format!("sqs:SendMessage / SendMessageBatch to {q} ({sessions} session(s))"));
    }
    if let Some(c) = &params.claims {
        out.push(format!(
            "sqs:SendMessage to {} (a CLAIM_REQUEST when a project+user has no owner in {})",
            c.queue, c.ownership_table
        ));
    }
    if let ReplyParams::Sqs { .. } = &params.reply {
        out.push("sqs:DeleteMessageBatch on the reply queues (replies herd has read)".to_owned());
    }
    for f in &plan.faults {
        let call = match (&f.action, &params.containers) {
            (
                crate::plan::FaultAction::KillContainer { .. } | crate::plan::FaultAction::StopContainer { .. },
                ContainersParams::Ecs { cluster, service, required_tag, max_kills, .. },
            ) => format!(
                "ecs:StopTask in cluster {cluster}{}{} (at most {max_kills} in the run): {}",
                service.as_ref().map(|s| format!(", service {s}")).unwrap_or_default(),
                required_tag.as_ref().map(|(k, v)| format!(", tag {k}={v}")).unwrap_or_default(),
                f.name
            ),
            (crate::plan::FaultAction::KillContainer { .. }, _) => format!("SIGKILL a local worker: {}", f.name),
            (crate::plan::FaultAction::StopContainer { .. }, _) => {
                format!("SIGTERM (then SIGKILL after the grace) a local worker: {}", f.name)
            }
            (crate::plan::FaultAction::PauseContainer { .. }, _) => {
                format!("SIGSTOP/SIGCONT a local worker: {}", f.name)
            }
            (crate::plan::FaultAction::Interrupt { .. }, _) => {
                format!("sqs:SendMessage INTERRUPT to the session's interrupt queue: {}", f.name)
            }
        };
        out.push(call);
    }
    if let ContainersParams::Local(l) = &params.containers {
        out.push(format!("start {} local worker process(es): {}", l.count, l.command.join(" ")));
    }
    if let Some(cw) = &plan.cloudwatch {
        out.push(format!(
            "cloudwatch:PutMetricData in {} every {}",
            cw.namespace,
            crate::plan::format_duration(plan.sample_interval)
        ));
    }
    Ok(out)
}
