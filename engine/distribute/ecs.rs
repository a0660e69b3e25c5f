//! The ECS tasks of a distributed run: one task of the herd image per worker, started with its
//! own command (`--segment i/N` and the rest), watched, and stopped.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, ContainerOverride, KeyValuePair, LaunchType,
    NetworkConfiguration, TaskOverride,
};

use super::error::DistributeError;
use super::settings::EcsSettings;
use crate::targets::aws::{Timeouts, explain, sdk_config};

/// DescribeTasks takes at most this many tasks a call.
const DESCRIBE_BATCH: usize = 100;

/// What ECS says of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    /// Its ARN.
    pub arn: String,
    /// PROVISIONING, PENDING, RUNNING, ..., STOPPED.
    pub last_status: String,
    /// Why it stopped, as ECS says it (`stoppedReason`, `stopCode`, the container's exit code
    /// and reason), when it did.
    pub stopped: Option<String>,
    /// The herd container's exit code, when it exited.
    pub exit_code: Option<i32>,
}

impl TaskState {
    /// Whether the task has stopped (or is on its way there).
    pub fn is_stopped(&self) -> bool {
        matches!(self.last_status.as_str(), "STOPPED" | "DEPROVISIONING" | "STOPPING" | "DELETED")
    }
}

/// The tasks one coordinator started.
pub struct Fleet {
    ecs: aws_sdk_ecs::Client,
    settings: EcsSettings,
    container: String,
    /// ARNs of the tasks started, in slice order.
    started: Vec<String>,
}

impl Fleet {
    /// Connects and finds the container that runs herd (the task definition's only container
    /// unless the settings name one).
    pub async fn connect(settings: EcsSettings) -> Result<Self, DistributeError> {
        let config =
            sdk_config(settings.region.as_deref(), settings.endpoint_url.as_deref(), Timeouts::default()).await;
        let ecs = aws_sdk_ecs::Client::new(&config);
        let container = match &settings.container {
            Some(c) => c.clone(),
            None => {
                let td = ecs
                    .describe_task_definition()
                    .task_definition(&settings.task_definition)
                    .send()
                    .await
                    .map_err(|e| DistributeError::Ecs { op: "DescribeTaskDefinition", message: explain(&e) })?;
                let names: Vec<String> = td
                    .task_definition()
                    .map(|t| t.container_definitions().iter().filter_map(|c| c.name().map(str::to_owned)).collect())
                    .unwrap_or_default();
                match names.as_slice() {
                    [one] => one.clone(),
                    _ => {
                        return Err(DistributeError::Ecs {
                            op: "DescribeTaskDefinition",
                            message: format!(
                                "task definition {} has {} containers ({}); name herd's with `container` or --ecs-container",
                                settings.task_definition,
                                names.len(),
                                names.join(", ")
                            ),
                        });
                    }
                }
            }
        };
        Ok(Self { ecs, settings, container, started: Vec::new() })
    }

    /// The container the commands go to.
    pub fn container(&self) -> &str {
        &self.container
    }

    /// The tasks started so far, in slice order.
    pub fn started(&self) -> &[String] {
        &self.started
    }

    /// Starts one task running herd with `command` (its arguments after the image's entry
    /// point) and `environment` added to the container's; `started_by` marks it as this run's.
    /// Returns its ARN.
    pub async fn start(
        &mut self,
        command: Vec<String>,
        environment: &[(String, String)],
        started_by: &str,
    ) -> Result<String, DistributeError> {
        let s = &self.settings;
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(s.subnets.clone()))
            .set_security_groups((!s.security_groups.is_empty()).then(|| s.security_groups.clone()))
            .assign_public_ip(if s.assign_public_ip { AssignPublicIp::Enabled } else { AssignPublicIp::Disabled })
            .build()
            .map_err(|e| DistributeError::Ecs { op: "RunTask", message: e.to_string() })?;
        let overrides = TaskOverride::builder()
            .container_overrides(
                ContainerOverride::builder()
                    .name(&self.container)
                    .set_command(Some(command))
                    .set_environment((!environment.is_empty()).then(|| {
                        environment.iter().map(|(k, v)| KeyValuePair::builder().name(k).value(v).build()).collect()
                    }))
                    .build(),
            )
            .build();
        let mut req = self
            .ecs
            .run_task()
            .cluster(&s.cluster)
            .task_definition(&s.task_definition)
            .count(1)
            .started_by(started_by)
            .network_configuration(NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
            .overrides(overrides);
        req = if s.spot {
            let spot = CapacityProviderStrategyItem::builder()
                .capacity_provider("FARGATE_SPOT")
                .weight(1)
                .build()
                .map_err(|e| DistributeError::Ecs { op: "RunTask", message: e.to_string() })?;
            req.capacity_provider_strategy(spot)
        } else {
            req.launch_type(LaunchType::Fargate)
        };
        let out = req.send().await.map_err(|e| DistributeError::Ecs { op: "RunTask", message: explain(&e) })?;
        match out.tasks().first().and_then(|t| t.task_arn()) {
            Some(arn) => {
                self.started.push(arn.to_owned());
                Ok(arn.to_owned())
            }
            None => {
                let why: Vec<String> = out
                    .failures()
                    .iter()
                    .map(|f| {
                        format!("{} {}", f.reason().unwrap_or("no reason given"), f.detail().unwrap_or_default())
                            .trim()
                            .to_owned()
                    })
                    .collect();
                Err(DistributeError::Ecs {
                    op: "RunTask",
                    message: format!(
                        "no task was started: {}",
                        if why.is_empty() { "no reason given".into() } else { why.join("; ") }
                    ),
                })
            }
        }
    }

    /// What ECS says of every task started, in slice order (a task ECS no longer knows is
    /// reported as stopped for that reason).
    pub async fn describe(&self) -> Result<Vec<TaskState>, DistributeError> {
        let mut states = Vec::with_capacity(self.started.len());
        for chunk in self.started.chunks(DESCRIBE_BATCH) {
            let out = self
                .ecs
                .describe_tasks()
                .cluster(&self.settings.cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| DistributeError::Ecs { op: "DescribeTasks", message: explain(&e) })?;
            for arn in chunk {
                let state = match out.tasks().iter().find(|t| t.task_arn() == Some(arn.as_str())) {
                    Some(t) => {
                        let container = t.containers().iter().find(|c| c.name() == Some(self.container.as_str()));
                        let exit_code = container.and_then(|c| c.exit_code());
                        let last_status = t.last_status().unwrap_or("UNKNOWN").to_owned();
                        let mut why = Vec::new();
                        if let Some(r) = t.stopped_reason().filter(|r| !r.is_empty()) {
                            why.push(r.to_owned());
                        }
                        if let Some(code) = t.stop_code() {
                            why.push(format!("stop code {}", code.as_str()));
                        }
                        if let Some(c) = exit_code {
                            why.push(format!("container exit code {c}"));
                        }
                        if let Some(r) = container.and_then(|c| c.reason()) {
                            why.push(r.to_owned());
                        }
                        let stopped = matches!(last_status.as_str(), "STOPPED" | "DEPROVISIONING" | "STOPPING")
                            .then(|| if why.is_empty() { "no reason given".to_owned() } else { why.join("; ") });
                        TaskState { arn: arn.clone(), last_status, stopped, exit_code }
                    }
                    None => {
                        let why = out
                            .failures()
                            .iter()
                            .find(|f| f.arn() == Some(arn.as_str()))
                            .and_then(|f| f.reason())
                            .unwrap_or("ECS no longer knows it");
                        TaskState {
                            arn: arn.clone(),
                            last_status: "STOPPED".into(),
                            stopped: Some(why.to_owned()),
                            exit_code: None,
                        }
                    }
                };
                states.push(state);
            }
        }
        Ok(states)
    }

    /// Stops every task started not in `skip`, with `reason`; returns how many
    /// calls failed (each is logged).
    pub async fn stop_all(&self, reason: &str, skip: &[String]) -> usize {
        let mut failed = 0;
        for arn in self.started.iter().filter(|a| !skip.contains(a)) {
            if let Err(e) = self.ecs.stop_task().cluster(&self.settings.cluster).task(arn).reason(reason).send().await {
                failed += 1;
                tracing::warn!(target: "herd::distribute", "StopTask {arn}: {}", explain(&e));
            }
        }
        failed
    }
}
