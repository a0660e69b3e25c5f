//! Container control for the aws target: ECS tasks inside a declared blast radius, or local
//! worker processes that herd starts, measures through /proc and kills for real.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_ecs::types::{DesiredStatus, TaskField};
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

use super::clients::{Clients, explain};
use tokio::sync::mpsc::UnboundedSender;

use super::router::{Inbound, RouterMsg, seen};
use crate::plan::ContainerSelector;

/// One ECS task as herd sees it.
#[derive(Debug, Clone)]
pub(crate) struct TaskInfo {
    pub arn: String,
    pub id: String,
    pub status: String,
    pub created: Option<f64>,
    pub started: Option<f64>,
}

impl TaskInfo {
    /// Whether `owner` (an ownership row's `containerId`) names this task: its task id or its
    /// full ARN, exactly. A suffix is not enough (`"1"` must not match every task ending in 1),
    /// and an empty owner names no task.
    pub(crate) fn is_owner(&self, owner: &str) -> bool {
        !owner.is_empty() && (self.id == owner || self.arn == owner)
    }
}

/// ECS tasks of a cluster, optionally one service and one tag.
pub(crate) struct Ecs {
    pub clients: Clients,
    pub cluster: String,
    pub service: Option<String>,
    pub required_tag: Option<(String, String)>,
    pub max_kills: u64,
    pub kills: u64,
    pub seen_started: HashSet<String>,
    pub broken: bool,
    pub insights: bool,
}

impl Ecs {
    /// The running tasks inside the blast radius, oldest first.
    pub(crate) async fn tasks(&self) -> Result<Vec<TaskInfo>, String> {
        let mut list = self.clients.ecs.list_tasks().cluster(&self.cluster).desired_status(DesiredStatus::Running);
        if let Some(s) = &self.service {
            list = list.service_name(s);
        }
        let arns = list
            .send()
            .await
            .map_err(|e| format!("ListTasks in {}: {}", self.cluster, explain(&e)))?
            .task_arns
            .unwrap_or_default();
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .clients
            .ecs
            .describe_tasks()
            .cluster(&self.cluster)
            .set_tasks(Some(arns))
            .include(TaskField::Tags)
            .send()
            .await
            .map_err(|e| format!("DescribeTasks in {}: {}", self.cluster, explain(&e)))?;
        let mut tasks: Vec<TaskInfo> = out
            .tasks
            .unwrap_or_default()
            .into_iter()
            .filter(|t| match &self.required_tag {
                None => true,
                Some((k, v)) => {
                    t.tags().iter().any(|tag| tag.key() == Some(k.as_str()) && tag.value() == Some(v.as_str()))
                }
            })
            .map(|t| {
                let arn = t.task_arn().unwrap_or_default().to_owned();
                TaskInfo {
                    id: arn.rsplit('/').next().unwrap_or_default().to_owned(),
                    arn,
                    status: t.last_status().unwrap_or_default().to_owned(),
                    created: t.created_at().map(|d| d.as_secs_f64()),
                    started: t.started_at().map(|d| d.as_secs_f64()),
                }
            })
            .collect();
        tasks.sort_by(|a, b| a.created.unwrap_or(0.0).total_cmp(&b.created.unwrap_or(0.0)).then(a.arn.cmp(&b.arn)));
        Ok(tasks)
    }

    /// Stops the selected tasks with a reason naming the scenario, within `max_kills`.
    pub(crate) async fn kill(
        &mut self,
        select: &ContainerSelector,
        owner: Option<String>,
        rng: &mut ChaCha8Rng,
        reason: &str,
    ) -> (Vec<String>, String) {
        let tasks = match self.tasks().await {
            Ok(t) => t,
            Err(e) => return (Vec::new(), e),
        };
        let chosen: Vec<&TaskInfo> = match select {
            ContainerSelector::OwnerOf(_) => match &owner {
                Some(o) => tasks.iter().filter(|t| t.is_owner(o)).collect(),
                None => return (Vec::new(), "no container owned the session's project+user at that moment".into()),
            },
            ContainerSelector::Index(i) => tasks.get(*i as usize).into_iter().collect(),
            ContainerSelector::Random(n) => tasks.choose_multiple(rng, *n as usize).collect(),
        };
        if chosen.is_empty() {
            return (Vec::new(), "no task inside the blast radius matched".into());
        }
        let mut stopped = Vec::new();
        let mut notes = Vec::new();
        for t in chosen {
            if self.kills >= self.max_kills {
                notes.push(format!("max_kills ({}) reached; {} left running", self.max_kills, t.id));
                continue;
            }
            match self.clients.ecs.stop_task().cluster(&self.cluster).task(&t.arn).reason(reason).send().await {
                Ok(_) => {
                    self.kills += 1;
                    stopped.push(t.id.clone());
                }
                Err(e) => notes.push(format!("StopTask {}: {}", t.id, explain(&e))),
            }
        }
        let mut detail = if stopped.is_empty() {
            "stopped no task".to_owned()
        } else {
            format!("stopped task {}", stopped.join(", "))
        };
        if !notes.is_empty() {
            detail = format!("{detail} ({})", notes.join("; "));
        }
        (stopped, detail)
    }

    /// Reports `container_start` (created to running) for tasks seen running for the first time.
    /// Returns the ids and ARNs of the tasks running now, or nothing when ECS could not say.
    pub(crate) async fn poll_starts(&mut self, inbox: &UnboundedSender<RouterMsg>) -> Option<Vec<String>> {
        if self.broken {
            return None;
        }
        match self.tasks().await {
            Ok(tasks) => {
                for t in &tasks {
                    if t.status == "RUNNING"
                        && self.seen_started.insert(t.arn.clone())
                        && let (Some(c), Some(s)) = (t.created, t.started)
                        && s >= c
                    {
                        seen(inbox, Inbound::ContainerStarted(((s - c) * 1e6) as u64));
                    }
                }
                Some(tasks.iter().flat_map(|t| [t.id.clone(), t.arn.clone()]).collect())
            }
            Err(e) => {
                // A missing cluster will not appear mid-run: say so once and stop asking.
                self.broken = true;
                seen(inbox, Inbound::Error(e));
                None
            }
        }
    }
}

impl Ecs {
    /// Memory (bytes) and CPU (hundredths of a percent of the task's reservation) per running
    /// task, from CloudWatch Container Insights (`ECS/ContainerInsights`, by cluster and task).
    /// Tasks without data points yet are left out.
    pub(crate) async fn insights(&self, tasks: &[TaskInfo]) -> Vec<(u64, u64, u64)> {
        use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
        if !self.insights || tasks.is_empty() {
            return Vec::new();
        }
        let now = std::time::SystemTime::now();
        let mut req = self
            .clients
            .cloudwatch
            .get_metric_data()
            .start_time(aws_sdk_cloudwatch::primitives::DateTime::from(now - Duration::from_secs(300)))
            .end_time(aws_sdk_cloudwatch::primitives::DateTime::from(now + Duration::from_secs(60)));
        for (i, t) in tasks.iter().enumerate() {
            for (short, name) in [("m", "MemoryUtilized"), ("c", "CpuUtilized"), ("r", "CpuReserved")] {
                let metric = Metric::builder()
                    .namespace("ECS/ContainerInsights")
                    .metric_name(name)
                    .dimensions(Dimension::builder().name("ClusterName").value(&self.cluster).build())
                    .dimensions(Dimension::builder().name("TaskId").value(&t.id).build())
                    .build();
                let stat = MetricStat::builder().metric(metric).period(60).stat("Average").build();
                req = req.metric_data_queries(
                    MetricDataQuery::builder().id(format!("{short}{i}")).metric_stat(stat).build(),
                );
            }
        }
        // Three metrics a task, each billed.
        self.clients.metrics_requested.fetch_add(3 * tasks.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let Ok(out) = req.send().await else { return Vec::new() };
        let latest = |id: &str| {
            out.metric_data_results().iter().find(|r| r.id() == Some(id)).and_then(|r| r.values().first().copied())
        };
        tasks
            .iter()
            .enumerate()
            .filter_map(|(i, _)| {
                let mem_mb = latest(&format!("m{i}"))?;
                let cpu = latest(&format!("c{i}")).unwrap_or(0.0);
                let reserved = latest(&format!("r{i}")).filter(|r| *r > 0.0).unwrap_or(2048.0);
                Some((i as u64, (mem_mb * 1024.0 * 1024.0) as u64, (cpu / reserved * 100.0 * 100.0).round() as u64))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_names_a_task_by_its_id_or_arn_exactly() {
        let t = TaskInfo {
            arn: "arn:aws:ecs:us-east-1:123456789012:task/cluster/0f1e2d3c4b5a".into(),
            id: "0f1e2d3c4b5a".into(),
            status: "RUNNING".into(),
            created: None,
            started: None,
        };
        assert!(t.is_owner("0f1e2d3c4b5a"));
        assert!(t.is_owner("arn:aws:ecs:us-east-1:123456789012:task/cluster/0f1e2d3c4b5a"));
        assert!(!t.is_owner(""), "an empty owner matches nothing");
        assert!(!t.is_owner("4b5a"), "a short id is not a suffix match");
        assert!(!t.is_owner("a"), "one character is not an owner");
        assert!(!t.is_owner("task/cluster/0f1e2d3c4b5a"), "part of the ARN is not the ARN");
    }
}
