//! The serde types of the `aws` target's `[target]` table.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A real deployment of the architecture, or any AWS-compatible endpoint. Every key may come from
/// a preset; keys written here win over the preset's.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct AwsTargetSpec {
    /// A built-in description of a generation of the reference system: `"webordinary-a"`
    /// (router era: work and reply queues, replies matched by `commandId`) or `"webordinary-b"`
    /// (claims, FIFO work queues, Step Functions task-token callbacks).
    #[serde(default)]
    pub preset: Option<PresetSpec>,
    /// AWS region, e.g. `"us-west-2"`. Default: from the AWS configuration (`AWS_REGION`, profile).
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint of an AWS-compatible server, e.g. `"http://127.0.0.1:5000"`. Default: from
    /// `AWS_ENDPOINT_URL`, else AWS itself.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Accounts this scenario may touch. The caller's account (STS `GetCallerIdentity`) must be
    /// listed, or the run stops with exit code 3 before anything is sent.
    #[serde(default)]
    pub allowed_accounts: Vec<String>,
    /// Create the queues and tables before the run and delete what was created afterwards, even
    /// when the run fails or is interrupted. For local or disposable endpoints. Default false.
    #[serde(default)]
    pub provision: Option<bool>,
    /// Where and how work messages are sent.
    #[serde(default)]
    pub work: Option<WorkSpec>,
    /// How replies are observed.
    #[serde(default)]
    pub reply: Option<ReplySpec>,
    /// Claim requests and the ownership table (generation B).
    #[serde(default)]
    pub claims: Option<ClaimsSpec>,
    /// What herd may do to containers.
    #[serde(default)]
    pub containers: Option<ContainersSpec>,
    /// Time limits on calls to the services, so that a server that stalls cannot stall the run.
    #[serde(default)]
    pub timeouts: Option<TimeoutsSpec>,
    /// What herd does as the system's router, besides sending work.
    #[serde(default)]
    pub router: Option<RouterSpec>,
}

/// herd playing the router.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RouterSpec {
    /// Send an INTERRUPT to a project+user's interrupt queue before a message for another thread
    /// when the pair's container is busy (herd has an unanswered message of another thread for
    /// it), as the real router does. Default false; true in the `webordinary-b` preset.
    #[serde(default)]
    pub interrupt_on_switch: Option<bool>,
    /// Send a new CLAIM_REQUEST when the pair's owner is known to be dead (herd killed it, or its
    /// local process exited) although its ownership row still looks alive, after deleting that
    /// row (only while it still names the dead container). The real router does not (false, the
    /// default): every later message of the pair waits for the row's ttl. Set true to model the
    /// fix.
    #[serde(default)]
    pub claim_when_owner_dead: Option<bool>,
}

/// Time limits on calls to AWS (or the AWS-compatible server).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct TimeoutsSpec {
    /// Longest time one call may take, retries included, e.g. `"30s"`. A long poll for replies
    /// gets its wait time on top. Default `"30s"`.
    #[serde(default)]
    pub operation: Option<String>,
    /// Longest time one attempt of a call may take before it is retried, e.g. `"10s"`.
    /// Default `"10s"`.
    #[serde(default)]
    pub attempt: Option<String>,
    /// Longest time the clean-up after a run may take (deleting the queues and tables herd
    /// created, stopping local workers). What is left when it runs out is named in the summary.
    /// Default `"60s"`.
    #[serde(default)]
    pub cleanup: Option<String>,
    /// How long herd keeps listening after the last message is resolved, so that a second
    /// answer for a message (a duplicate, or a success after a `PREEMPTED` failure) that comes
    /// right after the first is still counted. Default `"2s"`.
    #[serde(default)]
    pub settle: Option<String>,
}

/// The two generations of the reference system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PresetSpec {
    /// Router era: `webordinary-input-{project}-{user}` and `webordinary-output-{project}-{user}`.
    WebordinaryA,
    /// Current: claims on `webordinary-unclaimed`, FIFO work queues, task-token callbacks.
    WebordinaryB,
}

/// Work messages.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct WorkSpec {
    /// Queue name or URL template per project+user, e.g.
    /// `"webordinary-input-{{ session.project }}-{{ session.user }}"`.
    #[serde(default)]
    pub queue: Option<String>,
    /// Whether the queue is FIFO (its name must end in `.fifo`).
    #[serde(default)]
    pub fifo: Option<bool>,
    /// Visibility timeout of the queue when herd creates it, e.g. `"30s"`.
    #[serde(default)]
    pub visibility_timeout: Option<String>,
    /// The message body: a template that renders to JSON. Besides the usual variables it sees
    /// `message.instruction`, `message.fields`, `timestamp_ms` and `timestamp`.
    #[serde(default)]
    pub body: Option<String>,
    /// FIFO message group id template, e.g. `"{{ session.project }}#{{ session.user }}"`.
    #[serde(default)]
    pub group_id: Option<String>,
    /// FIFO deduplication id template. Default: content-based deduplication.
    #[serde(default)]
    pub dedup_id: Option<String>,
    /// Message attributes: name to template (sent as String attributes).
    #[serde(default)]
    pub attributes: IndexMap<String, String>,
    /// Most messages in one send call, 1 to 10: with 1 every message goes in its own
    /// `SendMessage` (as a client without batching sends); above 1, messages due together go in
    /// one `SendMessageBatch`. Default 10.
    #[serde(default)]
    pub batch: Option<i64>,
}

/// How replies come back.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ReplySpec {
    /// Poll a reply queue per project+user.
    Sqs(SqsReplySpec),
    /// Play Step Functions: answer `SendTaskSuccess`, `SendTaskFailure` and `SendTaskHeartbeat`
    /// on a local HTTP listener, matched by task token.
    StepFunctionsCallback(CallbackReplySpec),
}

/// Replies on SQS.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SqsReplySpec {
    /// Reply queue name or URL template, e.g.
    /// `"webordinary-output-{{ session.project }}-{{ session.user }}"`.
    #[serde(default)]
    pub queue: Option<String>,
    /// JSON pointer to the correlation id in a reply, e.g. `"/commandId"`.
    #[serde(default)]
    pub match_pointer: Option<String>,
    /// JSON pointer to the success flag, e.g. `"/success"`.
    #[serde(default)]
    pub success_pointer: Option<String>,
    /// JSON pointer to the interrupted flag, e.g. `"/interrupted"`.
    #[serde(default)]
    pub interrupted_pointer: Option<String>,
    /// Long-polling wait, from `"0s"` to `"20s"`. Default `"2s"`.
    #[serde(default)]
    pub wait_time: Option<String>,
}

/// Replies as Step Functions task callbacks.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct CallbackReplySpec {
    /// Address to listen on, e.g. `"127.0.0.1:8787"`; port 0 picks a free one. Overridden by
    /// `herd run --callback-listen`. Printed at start so workers can be pointed at it.
    #[serde(default)]
    pub listen: Option<String>,
    /// Most callback connections open at once, from 1 to 4096; a connection beyond it is closed
    /// at once, so a flood cannot use up the file descriptors herd's own calls need. Raise it
    /// for more workers than that calling back at the same moment. Default 256.
    #[serde(default)]
    pub max_connections: Option<i64>,
    /// How long a caller may take to send its headers, and then its body, from `"100ms"` to
    /// `"5m"`. Default `"10s"`.
    #[serde(default)]
    pub read_timeout: Option<String>,
}

/// Generation B's claim protocol.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ClaimsSpec {
    /// Queue for claim requests, e.g. `"webordinary-unclaimed"`.
    #[serde(default)]
    pub queue: Option<String>,
    /// Claim request body: a template that renders to JSON.
    #[serde(default)]
    pub body: Option<String>,
    /// Ownership table (key `projectKey` = `{project}#{user}`), read to find a pair's container.
    #[serde(default)]
    pub ownership_table: Option<String>,
    /// Active-jobs table, created when provisioning.
    #[serde(default)]
    pub jobs_table: Option<String>,
    /// Interrupt queue template per project+user, created when provisioning.
    #[serde(default)]
    pub interrupt_queue: Option<String>,
}

/// What herd may do to containers.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ContainersSpec {
    /// Containers are managed elsewhere: no faults, no container metrics.
    None(NoContainersSpec),
    /// ECS tasks of a cluster (and optionally a service).
    Ecs(EcsContainersSpec),
    /// Local processes that herd starts, measures (/proc) and kills (SIGKILL).
    Local(LocalContainersSpec),
}

/// No container control.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct NoContainersSpec {}

/// ECS tasks, with the blast radius faults must stay inside.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct EcsContainersSpec {
    /// Cluster name, e.g. `"webordinary-edit-cluster"`.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Service name; when set, only its tasks are touched.
    #[serde(default)]
    pub service: Option<String>,
    /// A tag every task must carry to be touched, written `"key=value"`.
    #[serde(default)]
    pub required_tag: Option<String>,
    /// Most tasks the whole run may stop. Default 1.
    #[serde(default)]
    pub max_kills: Option<i64>,
    /// Read memory and CPU from CloudWatch Container Insights. Default true.
    #[serde(default)]
    pub container_insights: Option<bool>,
}

/// Local worker processes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct LocalContainersSpec {
    /// The command and its arguments, e.g. `["target/debug/examples/worker", "--generation", "a"]`.
    #[serde(default)]
    pub command: Vec<String>,
    /// How many processes to keep running. Default 1.
    #[serde(default)]
    pub count: Option<i64>,
    /// Extra environment variables. Values are templates over `endpoint_url`, `callback_url`
    /// (herd's Step Functions listener), `scenario.name`, `container.index`, `container.id`
    /// (the id herd gives it, `local-N`), `container.dir` (its own working folder, created
    /// before it starts and removed after the run), `claim_queue_url` and `work_queue_urls`,
    /// e.g. `AWS_ENDPOINT_URL_SFN = "{{ callback_url }}"`, `WORKSPACE_PATH = "{{ container.dir }}"`.
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// A regular expression a line of the worker's output (stdout or stderr) matches once it is
    /// ready; the time to it is its `container_start`. Default `"^ready$"`.
    #[serde(default)]
    pub ready: Option<String>,
    /// How long herd waits for every worker to be ready before the load starts; workers not
    /// ready by then are named in a warning and the load starts anyway. Default `"60s"`.
    #[serde(default)]
    pub start_after: Option<String>,
    /// How herd learns a worker's own id, which the ownership table names (for `owner_of`
    /// faults): `"env"` (the worker uses `HERD_CONTAINER_ID`, `local-N`), `"ownership"` (the
    /// first new `containerId` in the ownership table after it starts), or a regular expression
    /// with one capture group matched against its output, e.g. `"Container ID: (\\S+)"`.
    /// Default `"env"`.
    #[serde(default)]
    pub id: Option<String>,
    /// How long a worker has to exit after SIGTERM (at the end of the run and for a
    /// `stop-container` fault) before it gets SIGKILL. Default `"10s"`.
    #[serde(default)]
    pub grace: Option<String>,
    /// Start a replacement when one is killed. Default true.
    #[serde(default)]
    pub replace_killed: Option<bool>,
    /// Most processes the whole run may kill. Default 10.
    #[serde(default)]
    pub max_kills: Option<i64>,
}
