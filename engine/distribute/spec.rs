//! The serde types of the `[distribute]` table: where `herd run --distribute` runs its workers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where `herd run --distribute` runs its workers. Command-line flags win over these keys.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct DistributeSpec {
    /// ECS tasks of the herd image, for `herd run --distribute ecs --workers N`.
    #[serde(default)]
    pub ecs: Option<EcsDistributeSpec>,
}

/// ECS tasks of the herd image: one task per worker, each running `--segment i/N`, with the
/// scenario, progress and results passed through an S3 bucket.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct EcsDistributeSpec {
    /// The cluster the workers run in, by name or ARN, e.g. `"load-generators"`. Flag:
    /// `--ecs-cluster`.
    #[serde(default)]
    pub cluster: Option<String>,
    /// The task definition whose container runs the herd image: `family`, `family:revision` or
    /// an ARN. Its task role needs the worker statements of `deploy/iam/herd-run.json`. Flag:
    /// `--ecs-task-definition`.
    #[serde(default)]
    pub task_definition: Option<String>,
    /// The container in the task definition that runs herd. Default: the task definition's only
    /// container. Flag: `--ecs-container`.
    #[serde(default)]
    pub container: Option<String>,
    /// Subnets for the tasks' network interfaces (`subnet-...`), at least one. Flag:
    /// `--ecs-subnets a,b`.
    #[serde(default)]
    pub subnets: Vec<String>,
    /// Security groups for the tasks' network interfaces (`sg-...`). Default: the VPC's default
    /// group. Flag: `--ecs-security-groups a,b`.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Give each task a public IP address (needed in a public subnet without a NAT gateway to
    /// reach S3, SQS and the registry). Default false. Flag: `--ecs-public-ip`.
    #[serde(default)]
    pub assign_public_ip: Option<bool>,
    /// Run the workers on Fargate Spot, which costs less and may be interrupted (an interrupted
    /// worker fails the run). Default false. Flag: `--ecs-spot`.
    #[serde(default)]
    pub spot: Option<bool>,
    /// The S3 bucket that carries the scenario to the workers, their progress to the
    /// coordinator and their results back. Flag: `--s3-bucket`.
    #[serde(default)]
    pub bucket: Option<String>,
    /// Key prefix in the bucket; each run writes under `<prefix><scenario>-<time>-<id>/`.
    /// Default `"herd/"`. Flag: `--s3-prefix`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// How far ahead of the common start the tasks are started, e.g. `"2m"`: time for Fargate to
    /// place them and pull the image. A worker that starts later says by how much. Default
    /// `"90s"`. Flag: `--ecs-lead`.
    #[serde(default)]
    pub lead: Option<String>,
    /// Region of the cluster and the bucket. Default: the target's, else the AWS
    /// configuration's.
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint of an AWS-compatible server for ECS and S3. Default: the target's, else
    /// `AWS_ENDPOINT_URL`.
    #[serde(default)]
    pub endpoint_url: Option<String>,
}
