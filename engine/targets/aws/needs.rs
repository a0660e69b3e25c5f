//! What a run of a plan needs on the aws target (queues and tables) and every call that would
//! change something, for `herd run --dry-run`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::compile::{AwsParams, ContainersParams, ReplyParams};
use super::provision::{self, QueueNeed};
use crate::plan::{Plan, TargetContext, Templates};

pub(crate) fn render(templates: &Templates, name: &str, ctx: &TargetContext) -> Result<String, String> {
    templates.render(name, ctx)
}

/// The queues and tables a plan needs: (queues, tables with their key).
/// The queues a plan needs, and its tables with their key attribute.
pub(crate) type Needs = (Vec<QueueNeed>, Vec<(String, String)>);

pub(crate) fn needs(plan: &Plan, params: &AwsParams) -> Result<Needs, String> {
    let t = &plan.templates;
    let mut queues: Vec<QueueNeed> = Vec::new();
    // Indexed by name so that 16,000 project+user pairs cost one lookup each, not a scan of every
    // queue seen so far; the list keeps first-seen order for the dry run and for provisioning.
    let mut seen: HashSet<String> = HashSet::new();
    let mut push = |q: QueueNeed| {
        if seen.insert(q.name.clone()) {
            queues.push(q);
        }
    };
    for s in &plan.sessions {
        let ctx = TargetContext::sample(s, "");
        push(QueueNeed {
            name: render(t, &params.work.queue, &ctx)?,
            fifo: params.work.fifo,
            visibility: params.work.visibility_timeout,
        });
        if let ReplyParams::Sqs { queue, .. } = &params.reply {
            let name = render(t, queue, &ctx)?;
            let fifo = name.ends_with(".fifo");
            push(QueueNeed { name, fifo, visibility: Duration::from_secs(30) });
        }
        if let Some(iq) = params.claims.as_ref().and_then(|c| c.interrupt_queue.as_ref()) {
            push(QueueNeed { name: render(t, iq, &ctx)?, fifo: false, visibility: Duration::from_secs(60) });
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
    let t = &plan.templates;
    let mut per_queue: Vec<(String, usize)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for s in &plan.sessions {
        let name = render(t, &params.work.queue, &TargetContext::sample(s, ""))?;
        match index.get(&name) {
            Some(&i) => per_queue[i].1 += 1,
            None => {
                index.insert(name.clone(), per_queue.len());
                per_queue.push((name, 1));
            }
        }
    }
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
