//! Container control for the aws target: ECS tasks inside a declared blast radius, or local
//! worker processes that herd starts, measures through /proc and kills for real.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
    pub(crate) async fn poll_starts(&mut self, inbox: &UnboundedSender<RouterMsg>) -> usize {
        if self.broken {
            return 0;
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
                tasks.len()
            }
            Err(e) => {
                // A missing cluster will not appear mid-run: say so once and stop asking.
                self.broken = true;
                seen(inbox, Inbound::Error(e));
                0
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

/// A local worker process.
struct Proc {
    id: String,
    child: Child,
    alive: bool,
    cpu: Option<(u64, Instant)>,
}

/// Local worker processes.
pub(crate) struct Local {
    command: Vec<String>,
    env: Vec<(String, String)>,
    count: u64,
    replace_killed: bool,
    max_kills: u64,
    kills: u64,
    procs: Vec<Proc>,
    inbox: UnboundedSender<RouterMsg>,
}

fn ticks_per_second() -> f64 {
    // The kernel's USER_HZ is 100 on every Linux configuration herd runs on.
    100.0
}

fn proc_memory(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields after it start past the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

impl Local {
    /// Starts `count` processes.
    pub(crate) fn start(
        command: Vec<String>,
        env: Vec<(String, String)>,
        count: u64,
        replace_killed: bool,
        max_kills: u64,
        inbox: UnboundedSender<RouterMsg>,
    ) -> Result<Self, String> {
        let mut l = Self { command, env, count, replace_killed, max_kills, kills: 0, procs: Vec::new(), inbox };
        for _ in 0..l.count {
            l.spawn()?;
        }
        Ok(l)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let id = format!("local-{}", self.procs.len());
        let (program, args) = self.command.split_first().ok_or("the container command is empty")?;
        let mut child = Command::new(program)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("HERD_CONTAINER_ID", &id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        let spawned = Instant::now();
        if let Some(out) = child.stdout.take() {
            let inbox = self.inbox.clone();
            // The worker prints "ready" once it polls its queues; the time to that line is its
            // container_start. The rest of its output is drained so it never blocks on a pipe.
            std::thread::spawn(move || {
                let mut reported = false;
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if !reported && line.trim() == "ready" {
                        reported = true;
                        seen(&inbox, Inbound::ContainerStarted(spawned.elapsed().as_micros() as u64));
                    }
                }
            });
        }
        self.procs.push(Proc { id, child, alive: true, cpu: None });
        Ok(())
    }

    fn chosen(
        &self,
        select: &ContainerSelector,
        owner: Option<String>,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<usize>, String> {
        match select {
            ContainerSelector::OwnerOf(_) => {
                let owner = owner.ok_or("no container owned the session's project+user at that moment")?;
                let i = self
                    .procs
                    .iter()
                    .position(|p| p.id == owner && p.alive)
                    .ok_or(format!("container {owner} is not running"))?;
                Ok(vec![i])
            }
            ContainerSelector::Index(i) => match self.procs.get(*i as usize) {
                Some(p) if p.alive => Ok(vec![*i as usize]),
                Some(_) => Err(format!("container {i} had already stopped")),
                None => Err(format!("container {i} had not been started")),
            },
            ContainerSelector::Random(n) => {
                let alive: Vec<usize> = (0..self.procs.len()).filter(|i| self.procs[*i].alive).collect();
                let mut c: Vec<usize> = alive.choose_multiple(rng, *n as usize).copied().collect();
                c.sort_unstable();
                Ok(c)
            }
        }
    }

    /// Kills the selected processes with SIGKILL and starts replacements.
    pub(crate) fn kill(
        &mut self,
        select: &ContainerSelector,
        owner: Option<String>,
        rng: &mut ChaCha8Rng,
    ) -> (Vec<String>, String) {
        let chosen = match self.chosen(select, owner, rng) {
            Ok(c) => c,
            Err(e) => return (Vec::new(), e),
        };
        let mut killed = Vec::new();
        for i in chosen {
            if self.kills >= self.max_kills {
                break;
            }
            let p = &mut self.procs[i];
            if p.child.kill().is_ok() {
                let _ = p.child.wait();
                p.alive = false;
                self.kills += 1;
                killed.push(p.id.clone());
            }
        }
        if self.replace_killed {
            for _ in 0..killed.len() {
                if let Err(e) = self.spawn() {
                    seen(&self.inbox, Inbound::Error(e));
                }
            }
        }
        let detail = if killed.is_empty() {
            "killed no process".into()
        } else {
            format!("killed {} with SIGKILL", killed.join(", "))
        };
        (killed, detail)
    }

    /// Freezes the selected processes (SIGSTOP) and thaws them (SIGCONT) after `duration`.
    pub(crate) fn pause(
        &mut self,
        select: &ContainerSelector,
        owner: Option<String>,
        rng: &mut ChaCha8Rng,
        duration: Duration,
    ) -> (Vec<String>, String) {
        let chosen = match self.chosen(select, owner, rng) {
            Ok(c) => c,
            Err(e) => return (Vec::new(), e),
        };
        let mut paused = Vec::new();
        for i in chosen {
            let pid = self.procs[i].child.id().to_string();
            if Command::new("kill").args(["-STOP", &pid]).status().is_ok_and(|s| s.success()) {
                paused.push(self.procs[i].id.clone());
                std::thread::spawn(move || {
                    std::thread::sleep(duration);
                    let _ = Command::new("kill").args(["-CONT", &pid]).status();
                });
            }
        }
        (paused.clone(), format!("paused {} for {}", paused.join(", "), crate::plan::format_duration(duration)))
    }

    /// (id, memory bytes, CPU hundredths of a percent) of each live process; notices exits.
    pub(crate) fn sample(&mut self) -> Vec<(u64, u64, u64)> {
        let mut out = Vec::new();
        for (i, p) in self.procs.iter_mut().enumerate() {
            if !p.alive {
                continue;
            }
            if let Ok(Some(_)) = p.child.try_wait() {
                p.alive = false;
                continue;
            }
            let pid = p.child.id();
            let mem = proc_memory(pid).unwrap_or(0);
            let now = Instant::now();
            let ticks = proc_cpu_ticks(pid).unwrap_or(0);
            let cpu = match p.cpu.replace((ticks, now)) {
                Some((t0, i0)) => {
                    let secs = now.duration_since(i0).as_secs_f64().max(1e-3);
                    ((ticks.saturating_sub(t0)) as f64 / ticks_per_second() / secs * 100.0 * 100.0).round() as u64
                }
                None => 0,
            };
            out.push((i as u64, mem, cpu));
        }
        out
    }

    /// Live processes.
    pub(crate) fn running(&self) -> u64 {
        self.procs.iter().filter(|p| p.alive).count() as u64
    }

    /// Kills every process still running.
    pub(crate) fn stop_all(&mut self) {
        for p in self.procs.iter_mut().filter(|p| p.alive) {
            let _ = p.child.kill();
            let _ = p.child.wait();
            p.alive = false;
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.stop_all();
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
