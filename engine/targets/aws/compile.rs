//! Compiling the `aws` target: presets merged under the scenario's keys, templates checked by
//! rendering them for every session (queue names must be valid SQS names, bodies valid JSON),
//! and faults checked against the container control the target has.

use std::time::Duration;

use serde::Serialize;

use std::sync::Arc;

use super::needs::dry_run;
use super::spec::{
    AwsTargetSpec, ClaimsSpec, ContainersSpec, PresetSpec, ReplySpec, RouterSpec, SqsReplySpec, TimeoutsSpec, WorkSpec,
};
use super::target::AwsTarget;
use crate::plan::{FaultKind, Plan, Session, TargetContext, Templates, format_duration};
use crate::runtime::ClockKind;
use crate::scenario::{Diagnostic, KeyPath};
use crate::targets::{
    CompiledTarget, ContainerPool, FaultRefusal, ServiceLocation, Target, TargetCompileCx, TargetConfig, TargetError,
    TargetOptions,
};

/// Parameters of the AWS target.
#[derive(Debug, Clone, Serialize)]
pub struct AwsParams {
    /// The preset used, if any.
    pub preset: Option<String>,
    /// Region override.
    pub region: Option<String>,
    /// Endpoint override.
    pub endpoint_url: Option<String>,
    /// Accounts the run may touch (empty: any).
    pub allowed_accounts: Vec<String>,
    /// Create and delete queues and tables.
    pub provision: bool,
    /// Work messages.
    pub work: WorkParams,
    /// Replies.
    pub reply: ReplyParams,
    /// Generation B claims.
    pub claims: Option<ClaimsParams>,
    /// Container control.
    pub containers: ContainersParams,
    /// Time limits on calls and on the clean-up.
    pub timeouts: Timeouts,
    /// herd playing the router.
    pub router: RouterParams,
}

/// What herd does as the router.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct RouterParams {
    /// INTERRUPT before a message for another thread of a busy pair.
    pub interrupt_on_switch: bool,
    /// CLAIM_REQUEST when the owner is known dead.
    pub claim_when_owner_dead: bool,
}

/// Time limits on calls to the services and on the clean-up after a run.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Timeouts {
    /// One call, retries included.
    pub operation: Duration,
    /// One attempt of a call.
    pub attempt: Duration,
    /// The whole clean-up.
    pub cleanup: Duration,
    /// Listening on after the last message is resolved.
    pub settle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            operation: Duration::from_secs(30),
            attempt: Duration::from_secs(10),
            cleanup: Duration::from_secs(60),
            settle: Duration::from_secs(2),
        }
    }
}

/// Work messages. Template fields hold template names in the plan's `Templates`.
#[derive(Debug, Clone, Serialize)]
pub struct WorkParams {
    /// Queue name or URL template.
    pub queue: String,
    /// FIFO queue.
    pub fifo: bool,
    /// Visibility timeout when created.
    pub visibility_timeout: Duration,
    /// Body template.
    pub body: String,
    /// FIFO group id template.
    pub group_id: Option<String>,
    /// FIFO dedup id template.
    pub dedup_id: Option<String>,
    /// (attribute name, template name).
    pub attributes: Vec<(String, String)>,
    /// Most messages in one send call (1: `SendMessage` each).
    pub batch: usize,
}

/// How replies are observed.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ReplyParams {
    /// Reply queues.
    Sqs {
        /// Reply queue template name.
        queue: String,
        /// JSON pointer to the correlation id.
        match_pointer: String,
        /// JSON pointer to the success flag.
        success_pointer: String,
        /// JSON pointer to the interrupted flag.
        interrupted_pointer: Option<String>,
        /// Long-poll wait.
        wait_time: Duration,
    },
    /// Step Functions task callbacks.
    StepFunctionsCallback {
        /// Listen address.
        listen: String,
        /// Connection and read limits.
        limits: ListenerLimits,
    },
}

/// Limits of the callback listener.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ListenerLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Time to send the headers, then the body.
    pub read_timeout: Duration,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self { max_connections: 256, read_timeout: Duration::from_secs(10) }
    }
}

/// Generation B claims.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimsParams {
    /// Claim queue name.
    pub queue: String,
    /// Claim body template name.
    pub body: String,
    /// Ownership table.
    pub ownership_table: String,
    /// Active-jobs table.
    pub jobs_table: Option<String>,
    /// Interrupt queue template name.
    pub interrupt_queue: Option<String>,
}

/// What herd may do to containers.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ContainersParams {
    /// Nothing.
    None,
    /// ECS tasks.
    Ecs {
        /// Cluster.
        cluster: String,
        /// Service.
        service: Option<String>,
        /// Required tag (key, value).
        required_tag: Option<(String, String)>,
        /// Kill budget.
        max_kills: u64,
        /// Read Container Insights.
        container_insights: bool,
    },
    /// Local processes.
    Local(LocalParams),
}

/// Local worker processes.
#[derive(Debug, Clone, Serialize)]
pub struct LocalParams {
    /// Command and arguments.
    pub command: Vec<String>,
    /// How many.
    pub count: u64,
    /// Extra environment: (name, template source).
    pub env: Vec<(String, String)>,
    /// Replace killed ones.
    pub replace_killed: bool,
    /// Kill budget.
    pub max_kills: u64,
    /// The regular expression of the ready line.
    pub ready: String,
    /// The longest wait for readiness before the load starts.
    pub start_after: Duration,
    /// How the worker's own id is learned.
    pub id: IdSource,
    /// Time between SIGTERM and SIGKILL.
    pub grace: Duration,
}

/// How herd learns a local worker's own id.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", content = "pattern", rename_all = "kebab-case")]
pub enum IdSource {
    /// The worker uses `HERD_CONTAINER_ID`.
    Env,
    /// The first new owner in the ownership table after the worker starts.
    Ownership,
    /// The first capture of this regular expression on the worker's output.
    Output(String),
}

/// The variables a local worker's `env` templates see, with sample values for the compile
/// step's check.
pub(crate) fn local_env_vars(
    endpoint_url: &str,
    callback_url: &str,
    scenario: &str,
    index: u64,
    dir: &str,
    claim_queue_url: &str,
    work_queue_urls: &[String],
) -> serde_json::Value {
    serde_json::json!({
        "endpoint_url": endpoint_url,
        "callback_url": callback_url,
        "scenario": { "name": scenario },
        "container": { "index": index, "id": format!("local-{index}"), "dir": dir },
        "claim_queue_url": claim_queue_url,
        "work_queue_urls": work_queue_urls,
    })
}

impl ContainersParams {
    /// Whether faults can strike containers.
    pub fn controllable(&self) -> bool {
        !matches!(self, ContainersParams::None)
    }
}

const PRESET_A: &str = include_str!("presets/webordinary-a.toml");
const PRESET_B: &str = include_str!("presets/webordinary-b.toml");

/// The preset's keys, as a spec to merge under the scenario's.
fn preset(p: PresetSpec) -> AwsTargetSpec {
    let text = match p {
        PresetSpec::WebordinaryA => PRESET_A,
        PresetSpec::WebordinaryB => PRESET_B,
    };
    // The presets ship with the binary and a test parses both, so this cannot fail at run time.
    toml::from_str(text).unwrap_or_default()
}

fn or<T: Clone>(a: &Option<T>, b: &Option<T>) -> Option<T> {
    a.clone().or_else(|| b.clone())
}

/// The scenario's target keys over the preset's.
fn merged(spec: &AwsTargetSpec) -> AwsTargetSpec {
    let Some(p) = spec.preset else { return spec.clone() };
    let base = preset(p);
    let work = match (&spec.work, &base.work) {
        (Some(w), Some(b)) => Some(WorkSpec {
            queue: or(&w.queue, &b.queue),
            fifo: or(&w.fifo, &b.fifo),
            visibility_timeout: or(&w.visibility_timeout, &b.visibility_timeout),
            body: or(&w.body, &b.body),
            group_id: or(&w.group_id, &b.group_id),
            dedup_id: or(&w.dedup_id, &b.dedup_id),
            attributes: if w.attributes.is_empty() { b.attributes.clone() } else { w.attributes.clone() },
            batch: or(&w.batch, &b.batch),
        }),
        (w, b) => or(w, b),
    };
    let reply = match (&spec.reply, &base.reply) {
        (Some(ReplySpec::Sqs(r)), Some(ReplySpec::Sqs(b))) => Some(ReplySpec::Sqs(SqsReplySpec {
            queue: or(&r.queue, &b.queue),
            match_pointer: or(&r.match_pointer, &b.match_pointer),
            success_pointer: or(&r.success_pointer, &b.success_pointer),
            interrupted_pointer: or(&r.interrupted_pointer, &b.interrupted_pointer),
            wait_time: or(&r.wait_time, &b.wait_time),
        })),
        (r, b) => or(r, b),
    };
    let claims = match (&spec.claims, &base.claims) {
        (Some(c), Some(b)) => Some(ClaimsSpec {
            queue: or(&c.queue, &b.queue),
            body: or(&c.body, &b.body),
            ownership_table: or(&c.ownership_table, &b.ownership_table),
            jobs_table: or(&c.jobs_table, &b.jobs_table),
            interrupt_queue: or(&c.interrupt_queue, &b.interrupt_queue),
        }),
        (c, b) => or(c, b),
    };
    AwsTargetSpec {
        preset: spec.preset,
        region: or(&spec.region, &base.region),
        endpoint_url: or(&spec.endpoint_url, &base.endpoint_url),
        allowed_accounts: if spec.allowed_accounts.is_empty() {
            base.allowed_accounts
        } else {
            spec.allowed_accounts.clone()
        },
        provision: or(&spec.provision, &base.provision),
        work,
        reply,
        claims,
        containers: or(&spec.containers, &base.containers),
        timeouts: or(&spec.timeouts, &base.timeouts),
        router: match (&spec.router, &base.router) {
            (Some(r), Some(b)) => Some(RouterSpec {
                interrupt_on_switch: or(&r.interrupt_on_switch, &b.interrupt_on_switch),
                claim_when_owner_dead: or(&r.claim_when_owner_dead, &b.claim_when_owner_dead),
            }),
            (r, b) => or(r, b),
        },
    }
}

/// Whether a queue name is one SQS accepts.
fn queue_name_error(name: &str, fifo: bool) -> Option<String> {
    if name.starts_with("http://") || name.starts_with("https://") {
        return None;
    }
    let stem = name.strip_suffix(".fifo");
    if fifo && stem.is_none() {
        return Some(format!("FIFO queue name \"{name}\" must end in `.fifo`"));
    }
    if !fifo && stem.is_some() {
        return Some(format!("queue name \"{name}\" ends in `.fifo` but `fifo` is false"));
    }
    let stem = stem.unwrap_or(name);
    if name.is_empty() || name.len() > 80 {
        return Some(format!("queue name \"{name}\" must be 1 to 80 characters"));
    }
    if let Some(c) = stem.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
        return Some(format!("queue name \"{name}\" contains `{c}`; SQS accepts letters, digits, `-` and `_`"));
    }
    None
}

/// Compiles the aws target, adding its templates to `templates` and its errors to `errors`.
pub(crate) fn compile_aws(
    spec: &AwsTargetSpec,
    path: &KeyPath,
    sessions: &[Session],
    templates: &mut Templates,
    errors: &mut Vec<Diagnostic>,
    duration: impl Fn(&str) -> Result<Duration, String>,
) -> AwsParams {
    let spec = merged(spec);
    let mut err = |p: KeyPath, m: String, help: Option<&str>| {
        let mut d =
            Diagnostic::at(p.clone(), m).label(p.last_key().map(|k| format!("invalid `{k}`")).unwrap_or_default());
        if let Some(h) = help {
            d = d.help(h);
        }
        errors.push(d);
    };
    if spec.allowed_accounts.is_empty() {
        err(
            path.key("allowed_accounts"),
            "the aws target needs `allowed_accounts`: herd will not touch an account it was not told about".into(),
            Some("e.g. allowed_accounts = [\"123456789012\"] (the account a local moto server reports)"),
        );
    }
    let wpath = path.key("work");
    let work = spec.work.clone().unwrap_or_default();
    let need = "set it here or choose a preset: preset = \"webordinary-a\" or \"webordinary-b\"";
    let queue = work.queue.clone().unwrap_or_default();
    if work.queue.is_none() {
        err(wpath.key("queue"), "the aws target needs a work queue".into(), Some(need));
    }
    let body = work.body.clone().unwrap_or_default();
    if work.body.is_none() {
        err(wpath.key("body"), "the aws target needs a message body template".into(), Some(need));
    }
    let fifo = work.fifo.unwrap_or(false);
    let batch = match work.batch {
        None => 10,
        Some(n @ 1..=10) => n as usize,
        Some(n) => {
            err(
                wpath.key("batch"),
                format!("`batch = {n}`: SQS takes 1 to 10 messages in one call"),
                Some("write a whole number from 1 (one SendMessage per message) to 10 (the default)"),
            );
            10
        }
    };
    let mut add = |name: &str, source: &str, at: KeyPath, errors: &mut Vec<(KeyPath, String)>| {
        if let Err(e) = templates.add(name, source) {
            errors.push((at, format!("template has a syntax error: {e}")));
        }
    };
    let mut template_errors = Vec::new();
    add("target.work.queue", &queue, wpath.key("queue"), &mut template_errors);
    add("target.work.body", &body, wpath.key("body"), &mut template_errors);
    if let Some(g) = &work.group_id {
        add("target.work.group_id", g, wpath.key("group_id"), &mut template_errors);
    }
    if let Some(d) = &work.dedup_id {
        add("target.work.dedup_id", d, wpath.key("dedup_id"), &mut template_errors);
    }
    let mut attributes = Vec::new();
    for (k, v) in &work.attributes {
        let name = format!("target.work.attributes.{k}");
        add(&name, v, wpath.key("attributes").key(k), &mut template_errors);
        attributes.push((k.clone(), name));
    }
    if fifo && work.group_id.is_none() {
        err(
            wpath.key("group_id"),
            "a FIFO work queue needs `group_id`".into(),
            Some("e.g. group_id = \"{{ session.project }}#{{ session.user }}\""),
        );
    }
    let reply = match spec.reply.clone() {
        Some(ReplySpec::Sqs(r)) => {
            let rpath = path.key("reply");
            let q = r.queue.clone().unwrap_or_default();
            if r.queue.is_none() {
                err(rpath.key("queue"), "an `sqs` reply needs `queue`".into(), None);
            }
            add("target.reply.queue", &q, rpath.key("queue"), &mut template_errors);
            let wait = r.wait_time.as_deref().map(&duration).transpose().unwrap_or_else(|e| {
                template_errors.push((rpath.key("wait_time"), e));
                None
            });
            let wait = wait.unwrap_or(Duration::from_secs(2));
            if wait > Duration::from_secs(20) {
                template_errors.push((rpath.key("wait_time"), "SQS long polling waits at most 20s".into()));
            }
            let pointer_ok = |p: &Option<String>| p.as_deref().is_none_or(|p| p.is_empty() || p.starts_with('/'));
            for (key, p) in [
                ("match_pointer", &r.match_pointer),
                ("success_pointer", &r.success_pointer),
                ("interrupted_pointer", &r.interrupted_pointer),
            ] {
                if !pointer_ok(p) {
                    template_errors.push((
                        rpath.key(key),
                        format!(
                            "\"{}\" is not a JSON pointer; write e.g. \"/commandId\"",
                            p.clone().unwrap_or_default()
                        ),
                    ));
                }
            }
            ReplyParams::Sqs {
                queue: "target.reply.queue".into(),
                match_pointer: r.match_pointer.unwrap_or_else(|| "/commandId".into()),
                success_pointer: r.success_pointer.unwrap_or_else(|| "/success".into()),
                interrupted_pointer: r.interrupted_pointer,
                wait_time: wait,
            }
        }
        Some(ReplySpec::StepFunctionsCallback(c)) => {
            let listen = c.listen.unwrap_or_else(|| "127.0.0.1:0".into());
            if listen.parse::<std::net::SocketAddr>().is_err() {
                template_errors.push((
                    path.key("reply").key("listen"),
                    format!("\"{listen}\" is not an address; write e.g. \"127.0.0.1:8787\""),
                ));
            }
            let mut limits = ListenerLimits::default();
            match c.max_connections {
                Some(n) if !(1..=4096).contains(&n) => template_errors.push((
                    path.key("reply").key("max_connections"),
                    format!("`max_connections` = {n} is outside 1 to 4096"),
                )),
                Some(n) => limits.max_connections = n as usize,
                None => {}
            }
            if let Some(t) = c.read_timeout.as_deref() {
                match duration(t) {
                    Ok(d) if d >= Duration::from_millis(100) && d <= Duration::from_secs(300) => {
                        limits.read_timeout = d
                    }
                    Ok(_) => template_errors.push((
                        path.key("reply").key("read_timeout"),
                        format!("`read_timeout` = \"{t}\" is outside \"100ms\" to \"5m\""),
                    )),
                    Err(e) => template_errors.push((path.key("reply").key("read_timeout"), e)),
                }
            }
            ReplyParams::StepFunctionsCallback { listen, limits }
        }
        None => {
            err(
                path.key("reply"),
                "the aws target needs a reply channel".into(),
                Some("add [target.reply] kind = \"sqs\" or kind = \"step-functions-callback\", or choose a preset"),
            );
            ReplyParams::StepFunctionsCallback { listen: "127.0.0.1:0".into(), limits: ListenerLimits::default() }
        }
    };
    let claims = spec.claims.clone().map(|c| {
        let cpath = path.key("claims");
        if let Some(b) = &c.body {
            add("target.claims.body", b, cpath.key("body"), &mut template_errors);
        }
        if let Some(q) = &c.interrupt_queue {
            add("target.claims.interrupt_queue", q, cpath.key("interrupt_queue"), &mut template_errors);
        }
        if c.queue.is_none() || c.body.is_none() || c.ownership_table.is_none() {
            template_errors.push((cpath.clone(), "`claims` needs `queue`, `body` and `ownership_table`".into()));
        }
        ClaimsParams {
            queue: c.queue.unwrap_or_default(),
            body: "target.claims.body".into(),
            ownership_table: c.ownership_table.unwrap_or_default(),
            jobs_table: c.jobs_table,
            interrupt_queue: c.interrupt_queue.map(|_| "target.claims.interrupt_queue".into()),
        }
    });
    let containers = match spec.containers.clone() {
        None | Some(ContainersSpec::None(_)) => ContainersParams::None,
        Some(ContainersSpec::Ecs(e)) => {
            let cpath = path.key("containers");
            let required_tag = e.required_tag.as_deref().map(|t| match t.split_once('=') {
                Some((k, v)) if !k.is_empty() => (k.to_owned(), v.to_owned()),
                _ => {
                    template_errors.push((cpath.key("required_tag"), format!("\"{t}\" is not `key=value`")));
                    (String::new(), String::new())
                }
            });
            let max_kills = e.max_kills.unwrap_or(1);
            if max_kills < 0 {
                template_errors.push((cpath.key("max_kills"), format!("`max_kills` = {max_kills} is negative")));
            }
            ContainersParams::Ecs {
                cluster: e.cluster.unwrap_or_else(|| "webordinary-edit-cluster".into()),
                service: e.service,
                required_tag,
                max_kills: max_kills.max(0) as u64,
                container_insights: e.container_insights.unwrap_or(true),
            }
        }
        Some(ContainersSpec::Local(l)) => {
            let cpath = path.key("containers");
            if l.command.is_empty() {
                template_errors.push((
                    cpath.key("command"),
                    "`command` is empty; give the worker program and its arguments".into(),
                ));
            }
            let count = l.count.unwrap_or(1);
            if !(1..=64).contains(&count) {
                template_errors.push((cpath.key("count"), format!("`count` = {count} is outside 1 to 64")));
            }
            let ready = l.ready.clone().unwrap_or_else(|| "^ready$".into());
            if let Err(e) = regex::Regex::new(&ready) {
                template_errors.push((cpath.key("ready"), format!("not a regular expression: {e}")));
            }
            let id = match l.id.as_deref() {
                None | Some("env") => IdSource::Env,
                Some("ownership") => IdSource::Ownership,
                Some(pattern) => {
                    match regex::Regex::new(pattern) {
                        Ok(r) if r.captures_len() == 2 => {}
                        Ok(_) => template_errors.push((
                            cpath.key("id"),
                            format!(
                                "\"{pattern}\" has no single capture group; accepted: \"env\", \"ownership\", or a regular expression with one group, e.g. \"Container ID: (\\\\S+)\""
                            ),
                        )),
                        Err(e) => template_errors.push((
                            cpath.key("id"),
                            format!("\"{pattern}\" is not \"env\", \"ownership\" or a regular expression: {e}"),
                        )),
                    }
                    IdSource::Output(pattern.to_owned())
                }
            };
            let mut local_duration =
                |key: &str, text: &Option<String>, default: u64| match text.as_deref().map(&duration) {
                    None => Duration::from_secs(default),
                    Some(Ok(d)) => d,
                    Some(Err(e)) => {
                        template_errors.push((cpath.key(key), e));
                        Duration::from_secs(default)
                    }
                };
            let start_after = local_duration("start_after", &l.start_after, 60);
            let grace = local_duration("grace", &l.grace, 10);
            // Every env value must render with the variables a worker gets.
            let vars = local_env_vars(
                "http://127.0.0.1:5000",
                "http://127.0.0.1:8787",
                "scenario",
                0,
                "/tmp/herd-container-0",
                "https://sqs.invalid/000000000000/claims",
                &["https://sqs.invalid/000000000000/work".to_owned()],
            );
            for (k, v) in &l.env {
                if let Err(e) = crate::plan::render_once_public(v, &vars) {
                    template_errors.push((cpath.key("env").key(k), format!("template does not render: {e}")));
                }
            }
            ContainersParams::Local(LocalParams {
                command: l.command,
                count: count.clamp(1, 64) as u64,
                env: l.env.into_iter().collect(),
                replace_killed: l.replace_killed.unwrap_or(true),
                max_kills: l.max_kills.unwrap_or(10).max(0) as u64,
                ready,
                start_after,
                id,
                grace,
            })
        }
    };
    // Render every template for every session now, so a bad queue name or a body that is not
    // JSON is a load-time error that names the key.
    if template_errors.is_empty() && !queue.is_empty() && !body.is_empty() {
        // A name that sees a session only through its ids renders alike for every session with
        // the same ids: checked once per distinct ids (a million sessions over a hundred pairs).
        let by_ids = templates.session_ids_only("target.work.queue")
            && match &reply {
                ReplyParams::Sqs { queue, .. } => templates.session_ids_only(queue),
                ReplyParams::StepFunctionsCallback { .. } => true,
            };
        let mut checked = std::collections::HashSet::new();
        for s in sessions {
            if by_ids && !checked.insert(s.ids_key()) {
                continue;
            }
            let ctx = TargetContext::sample(s, "https://sqs.invalid/000000000000/queue");
            match templates.render("target.work.queue", &ctx) {
                Ok(name) => {
                    if let Some(e) = queue_name_error(&name, fifo) {
                        template_errors.push((wpath.key("queue"), e));
                        break;
                    }
                }
                Err(e) => {
                    template_errors.push((wpath.key("queue"), format!("template does not render: {e}")));
                    break;
                }
            }
            if let ReplyParams::Sqs { queue, .. } = &reply {
                match templates.render(queue, &ctx) {
                    Ok(name) => {
                        if let Some(e) = queue_name_error(&name, name.ends_with(".fifo")) {
                            template_errors.push((path.key("reply").key("queue"), e));
                            break;
                        }
                    }
                    Err(e) => {
                        template_errors
                            .push((path.key("reply").key("queue"), format!("template does not render: {e}")));
                        break;
                    }
                }
            }
        }
        if let Some(s) = sessions.first() {
            let ctx = TargetContext::sample(s, "https://sqs.invalid/000000000000/queue").sample_value();
            let mut json_check = |name: &str, at: KeyPath| match templates.render(name, &ctx) {
                Ok(text) => {
                    if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
                        template_errors.push((at, format!("the body does not render to JSON: {e}")));
                    }
                }
                Err(e) => template_errors.push((at, format!("template does not render: {e}"))),
            };
            json_check("target.work.body", wpath.key("body"));
            if claims.is_some() {
                json_check("target.claims.body", path.key("claims").key("body"));
            }
        }
    }
    for (at, message) in template_errors {
        err(at, message, None);
    }
    let visibility = work.visibility_timeout.as_deref().map(&duration).transpose();
    let visibility_timeout = match visibility {
        Ok(v) => v.unwrap_or(Duration::from_secs(30)),
        Err(e) => {
            err(wpath.key("visibility_timeout"), e, None);
            Duration::from_secs(30)
        }
    };
    AwsParams {
        preset: spec.preset.map(|p| match p {
            PresetSpec::WebordinaryA => "webordinary-a".into(),
            PresetSpec::WebordinaryB => "webordinary-b".into(),
        }),
        region: spec.region,
        endpoint_url: spec.endpoint_url,
        allowed_accounts: spec.allowed_accounts,
        provision: spec.provision.unwrap_or(false),
        work: WorkParams {
            queue: "target.work.queue".into(),
            fifo,
            visibility_timeout,
            body: "target.work.body".into(),
            group_id: work.group_id.map(|_| "target.work.group_id".into()),
            dedup_id: work.dedup_id.map(|_| "target.work.dedup_id".into()),
            attributes,
            batch,
        },
        reply,
        claims,
        containers,
        timeouts: compile_timeouts(spec.timeouts.as_ref(), &path.key("timeouts"), &mut err, &duration),
        router: RouterParams {
            interrupt_on_switch: spec.router.as_ref().and_then(|r| r.interrupt_on_switch).unwrap_or(false),
            claim_when_owner_dead: spec.router.as_ref().and_then(|r| r.claim_when_owner_dead).unwrap_or(false),
        },
    }
}

fn compile_timeouts(
    spec: Option<&TimeoutsSpec>,
    path: &KeyPath,
    err: &mut impl FnMut(KeyPath, String, Option<&str>),
    duration: &impl Fn(&str) -> Result<Duration, String>,
) -> Timeouts {
    let defaults = Timeouts::default();
    let Some(spec) = spec else { return defaults };
    // Every limit but `settle` must be longer than zero: a call cannot finish in no time.
    let mut one = |key: &str, text: &Option<String>, default: Duration| match text.as_deref().map(duration) {
        None => default,
        Some(Ok(d)) if !d.is_zero() || key == "settle" => d,
        Some(Ok(_)) => {
            err(path.key(key), format!("`{key}` must be longer than zero"), Some("e.g. \"10s\""));
            default
        }
        Some(Err(e)) => {
            err(path.key(key), e, None);
            default
        }
    };
    let operation = one("operation", &spec.operation, defaults.operation);
    let attempt = one("attempt", &spec.attempt, defaults.attempt);
    let cleanup = one("cleanup", &spec.cleanup, defaults.cleanup);
    let settle = one("settle", &spec.settle, defaults.settle);
    if attempt > operation {
        err(
            path.key("attempt"),
            format!(
                "`attempt` ({}) is longer than `operation` ({})",
                format_duration(attempt),
                format_duration(operation)
            ),
            Some("one attempt is part of the call; make `attempt` at most `operation`"),
        );
    }
    Timeouts { operation, attempt, cleanup, settle }
}

impl TargetConfig for AwsTargetSpec {
    fn compile(&self, cx: &mut TargetCompileCx<'_>) -> Arc<dyn CompiledTarget> {
        Arc::new(compile_aws(
            self,
            &cx.path,
            cx.sessions,
            cx.templates,
            &mut cx.compiler.errors,
            crate::plan::parse_duration_text,
        ))
    }
}

impl CompiledTarget for AwsParams {
    fn kind(&self) -> &'static str {
        "aws"
    }

    fn container_pool(&self) -> Option<ContainerPool> {
        match &self.containers {
            // Each kill the budget allows starts at most one replacement.
            ContainersParams::Local(l) => Some(ContainerPool {
                running: l.count,
                started: l.count.saturating_add(if l.replace_killed { l.max_kills } else { 0 }),
            }),
            _ => None,
        }
    }

    fn default_clock(&self) -> ClockKind {
        ClockKind::Real
    }

    fn check_fault(&self, action: FaultKind) -> Result<(), FaultRefusal> {
        let refuse = |message: &str, help: &str| Err(FaultRefusal { message: message.into(), help: help.into() });
        match action {
            FaultKind::KillContainer | FaultKind::StopContainer | FaultKind::PauseContainer
                if !self.containers.controllable() =>
            {
                refuse(
                    "this fault needs container control, and `[target.containers]` is `none`",
                    "declare [target.containers] kind = \"ecs\" (with a blast radius) or kind = \"local\"",
                )
            }
            FaultKind::KillContainer | FaultKind::StopContainer
                if matches!(self.containers, ContainersParams::Ecs { required_tag: None, .. }) =>
            {
                refuse(
                    "a fault on ECS needs `required_tag` in `[target.containers]`",
                    "tag the tasks herd may stop and name the tag, e.g. required_tag = \"herd-target=yes\" (AWS FIS selects its targets by tags the same way)",
                )
            }
            FaultKind::PauseContainer if matches!(self.containers, ContainersParams::Ecs { .. }) => {
                refuse("ECS tasks cannot be paused", "use kill-container, or local containers (paused with SIGSTOP)")
            }
            FaultKind::Interrupt if self.claims.as_ref().is_none_or(|c| c.interrupt_queue.is_none()) => refuse(
                "an interrupt needs an interrupt queue",
                "set [target.claims] interrupt_queue, or use preset = \"webordinary-b\"",
            ),
            _ => Ok(()),
        }
    }

    fn describe(&self) -> String {
        format!(
            "target aws{}: region {}, endpoint {}, provision {}, reply {}, containers {}, timeouts {} per call, {} per attempt, {} for clean-up",
            self.preset.as_ref().map(|p| format!(" (preset {p})")).unwrap_or_default(),
            self.region.as_deref().unwrap_or("from the AWS configuration"),
            self.endpoint_url.as_deref().unwrap_or("from the AWS configuration"),
            self.provision,
            match &self.reply {
                ReplyParams::Sqs { .. } => "sqs",
                ReplyParams::StepFunctionsCallback { .. } => "step-functions-callback",
            },
            match &self.containers {
                ContainersParams::None => "none",
                ContainersParams::Ecs { .. } => "ecs",
                ContainersParams::Local(_) => "local",
            },
            format_duration(self.timeouts.operation),
            format_duration(self.timeouts.attempt),
            format_duration(self.timeouts.cleanup),
        )
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    fn dry_run(&self, plan: &Plan) -> Result<Vec<String>, String> {
        dry_run(plan, self)
    }

    fn location(&self) -> ServiceLocation {
        ServiceLocation { region: self.region.clone(), endpoint_url: self.endpoint_url.clone() }
    }

    fn build(&self, plan: &Plan, options: &TargetOptions) -> Result<Box<dyn Target>, TargetError> {
        Ok(Box::new(AwsTarget::connect(plan, self, options)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_presets_parse_completely() {
        for p in [PresetSpec::WebordinaryA, PresetSpec::WebordinaryB] {
            let text = if p == PresetSpec::WebordinaryA { PRESET_A } else { PRESET_B };
            let spec: AwsTargetSpec = toml::from_str(text).expect("preset parses");
            let work = spec.work.expect("preset has work");
            assert!(work.queue.is_some() && work.body.is_some());
            assert!(spec.reply.is_some());
        }
    }

    #[test]
    fn generation_b_sends_the_branch_the_container_would_name() {
        let text = r#"
name = "pb"
[target]
kind = "aws"
preset = "webordinary-b"
allowed_accounts = ["123456789012"]
[[sessions]]
count = 2
thread = "{{ 'thread-' ~ i if i == 0 else 'chat-' ~ i }}"
[[phases]]
executor = "burst"
count = 1
"#;
        let loaded = crate::scenario::load_bytes("pb.toml", text.as_bytes()).expect("loads");
        let plan = crate::plan::compile(&loaded).expect("compiles");
        let branch = |i: usize| {
            let ctx = TargetContext::sample(&plan.sessions[i], "https://sqs.invalid/1/q");
            let body = plan.templates.render("target.work.body", &ctx).expect("renders");
            serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["branch"].as_str().unwrap().to_owned()
        };
        assert_eq!(branch(0), "thread-0", "a thread already called thread-... is not prefixed twice");
        assert_eq!(branch(1), "thread-chat-1");
    }

    #[test]
    fn queue_names_follow_sqs_rules() {
        assert!(queue_name_error("webordinary-input-p-u", false).is_none());
        assert!(queue_name_error("webordinary-input-p-u.fifo", true).is_none());
        assert!(queue_name_error("webordinary-input-p-u", true).unwrap().contains("must end in `.fifo`"));
        assert!(queue_name_error("p#u", false).unwrap().contains("contains `#`"));
        assert!(queue_name_error(&"x".repeat(81), false).is_some());
    }
}
