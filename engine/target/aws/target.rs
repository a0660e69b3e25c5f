//! The aws target: drives real SQS, DynamoDB and ECS (or any AWS-compatible endpoint) with the
//! official SDK. The dispatcher stays synchronous; SDK calls run on a tokio runtime owned here,
//! and what they learn comes back through an inbox that `poll` drains.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use super::callback;
use super::clients::{Clients, explain, sdk_config};
use super::containers::{Ecs, Local};
use super::inbox::Inbound;
use super::provision::{self, Created, QueueNeed};
use super::sqs::{ClaimJob, OutMsg, ReplyPointers, reply_reader, sender};
use crate::plan::{
    AwsParams, ContainerSelector, ContainersParams, Plan, ReplyParams, Session, TargetContext, TargetMessageVars,
    Templates,
};
use crate::target::api::{FaultOutcome, GaugeSample, Micros, Observation, Outbound, Target, TargetIo};
use crate::target::build::TargetError;

/// Options that come from the command line rather than the scenario.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// Overrides the callback listener's address.
    pub callback_listen: Option<String>,
}

enum Control {
    None,
    Ecs(Ecs),
    Local(Local),
}

/// The aws target.
pub struct AwsTarget {
    rt: tokio::runtime::Runtime,
    clients: Clients,
    params: AwsParams,
    scenario: String,
    sessions: Vec<Session>,
    templates: Arc<Templates>,
    work_url: Vec<String>,
    interrupt_url: Vec<Option<String>>,
    claim_url: Option<String>,
    senders: HashMap<String, UnboundedSender<OutMsg>>,
    correlations: HashMap<String, u64>,
    /// Per message id: (session, when it was handed to SQS).
    sent_at: HashMap<u64, (usize, Instant)>,
    /// Per project+user: the thread and container of its last answered message.
    last_answer: HashMap<String, (usize, Option<String>)>,
    /// Per project+user: the owner read from the ownership table, and when.
    owners: HashMap<String, (Option<String>, Instant)>,
    inbox: Receiver<Inbound>,
    stop: Arc<AtomicBool>,
    created: Created,
    control: Control,
    rng: ChaCha8Rng,
    last_container_poll: Instant,
    finished: bool,
    /// The callback listener's address, when the reply channel is Step Functions callbacks.
    pub callback_addr: Option<SocketAddr>,
}

fn render(templates: &Templates, name: &str, ctx: &TargetContext) -> Result<String, String> {
    templates.render(name, ctx)
}

/// The queues and tables a plan needs: (queues, tables with their key).
/// The queues a plan needs, and its tables with their key attribute.
type Needs = (Vec<QueueNeed>, Vec<(String, String)>);

fn needs(plan: &Plan, params: &AwsParams) -> Result<Needs, String> {
    let t = &plan.templates;
    let mut queues: Vec<QueueNeed> = Vec::new();
    let mut push = |q: QueueNeed| {
        if !queues.iter().any(|x| x.name == q.name) {
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
pub fn dry_run(plan: &Plan, params: &AwsParams) -> Result<Vec<String>, String> {
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
    for s in &plan.sessions {
        let name = render(t, &params.work.queue, &TargetContext::sample(s, ""))?;
        match per_queue.iter_mut().find(|(q, _)| *q == name) {
            Some(e) => e.1 += 1,
            None => per_queue.push((name, 1)),
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
                crate::plan::FaultAction::KillContainer { .. },
                ContainersParams::Ecs { cluster, service, required_tag, max_kills, .. },
            ) => format!(
                "ecs:StopTask in cluster {cluster}{}{} (at most {max_kills} in the run): {}",
                service.as_ref().map(|s| format!(", service {s}")).unwrap_or_default(),
                required_tag.as_ref().map(|(k, v)| format!(", tag {k}={v}")).unwrap_or_default(),
                f.name
            ),
            (crate::plan::FaultAction::KillContainer { .. }, _) => format!("SIGKILL a local worker: {}", f.name),
            (crate::plan::FaultAction::PauseContainer { .. }, _) => {
                format!("SIGSTOP/SIGCONT a local worker: {}", f.name)
            }
            (crate::plan::FaultAction::Interrupt { .. }, _) => {
                format!("sqs:SendMessage INTERRUPT to the session's interrupt queue: {}", f.name)
            }
        };
        out.push(call);
    }
    if let ContainersParams::Local { command, count, .. } = &params.containers {
        out.push(format!("start {count} local worker process(es): {}", command.join(" ")));
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

impl AwsTarget {
    /// Connects, checks the account, provisions or resolves every queue and table, and starts
    /// the background readers. Nothing that changes anything happens before the account check.
    pub fn connect(plan: &Plan, params: &AwsParams, options: &AwsOptions) -> Result<Self, TargetError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| TargetError::Setup(format!("cannot start the async runtime: {e}")))?;
        let config = rt.block_on(sdk_config(params.region.as_deref(), params.endpoint_url.as_deref()));
        let clients = Clients::new(&config);
        if !params.allowed_accounts.is_empty() {
            let who = rt
                .block_on(clients.sts.get_caller_identity().send())
                .map_err(|e| TargetError::Unreachable(format!("sts:GetCallerIdentity: {}", explain(&e))))?;
            let account = who.account().unwrap_or_default().to_owned();
            if !params.allowed_accounts.contains(&account) {
                return Err(TargetError::AccountNotAllowed { account, allowed: params.allowed_accounts.clone() });
            }
        }
        let (queue_needs, table_needs) = needs(plan, params).map_err(TargetError::Setup)?;
        let mut created = Created::default();
        let urls = rt.block_on(async {
            provision::tables(&clients, &table_needs, params.provision, &mut created).await?;
            provision::queues(&clients, &queue_needs, params.provision, &mut created).await
        });
        let urls = match urls {
            Ok(u) => u,
            Err(e) => {
                // Undo what was created before the failure.
                rt.block_on(provision::cleanup(&clients, &created));
                return Err(TargetError::Setup(e));
            }
        };
        let (tx, rx): (Sender<Inbound>, Receiver<Inbound>) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let t = plan.templates.clone();
        let mut work_url = Vec::new();
        let mut interrupt_url = Vec::new();
        let mut reply_urls: Vec<String> = Vec::new();
        for s in &plan.sessions {
            let ctx = TargetContext::sample(s, "");
            let name = render(&t, &params.work.queue, &ctx).map_err(TargetError::Setup)?;
            work_url.push(urls.get(&name).cloned().unwrap_or(name));
            let iq = params.claims.as_ref().and_then(|c| c.interrupt_queue.as_ref());
            interrupt_url.push(match iq {
                Some(q) => {
                    let name = render(&t, q, &ctx).map_err(TargetError::Setup)?;
                    Some(urls.get(&name).cloned().unwrap_or(name))
                }
                None => None,
            });
            if let ReplyParams::Sqs { queue, .. } = &params.reply {
                let name = render(&t, queue, &ctx).map_err(TargetError::Setup)?;
                let url = urls.get(&name).cloned().unwrap_or(name);
                if !reply_urls.contains(&url) {
                    reply_urls.push(url);
                }
            }
        }
        let claim_url = params.claims.as_ref().map(|c| urls.get(&c.queue).cloned().unwrap_or_else(|| c.queue.clone()));
        let mut senders = HashMap::new();
        for url in &work_url {
            if !senders.contains_key(url) {
                let (stx, srx) = unbounded_channel();
                rt.spawn(sender(clients.clone(), url.clone(), srx, tx.clone()));
                senders.insert(url.clone(), stx);
            }
        }
        if let ReplyParams::Sqs { match_pointer, success_pointer, interrupted_pointer, wait_time, .. } = &params.reply {
            let pointers = ReplyPointers {
                correlation: match_pointer.clone(),
                success: success_pointer.clone(),
                interrupted: interrupted_pointer.clone(),
            };
            for url in reply_urls {
                rt.spawn(reply_reader(clients.clone(), url, pointers.clone(), *wait_time, tx.clone(), stop.clone()));
            }
        }
        let callback_addr = match &params.reply {
            ReplyParams::StepFunctionsCallback { listen } => {
                let listen = options.callback_listen.clone().unwrap_or_else(|| listen.clone());
                let addr = rt.block_on(callback::serve(&listen, tx.clone())).map_err(|e| {
                    TargetError::Setup(format!("cannot listen on {listen} for Step Functions callbacks: {e}"))
                })?;
                Some(addr)
            }
            ReplyParams::Sqs { .. } => None,
        };
        let control = match &params.containers {
            ContainersParams::None => Control::None,
            ContainersParams::Ecs { cluster, service, required_tag, max_kills, container_insights } => {
                Control::Ecs(Ecs {
                    clients: clients.clone(),
                    cluster: cluster.clone(),
                    service: service.clone(),
                    required_tag: required_tag.clone(),
                    max_kills: *max_kills,
                    kills: 0,
                    seen_started: Default::default(),
                    broken: false,
                    insights: *container_insights,
                })
            }
            ContainersParams::Local { command, count, env, replace_killed, max_kills } => {
                let endpoint =
                    params.endpoint_url.clone().or_else(|| std::env::var("AWS_ENDPOINT_URL").ok()).unwrap_or_default();
                let callback = callback_addr.map(|a| format!("http://{a}")).unwrap_or_default();
                let vars = serde_json::json!({ "endpoint_url": endpoint, "callback_url": callback });
                let mut full_env: Vec<(String, String)> = Vec::new();
                if !endpoint.is_empty() {
                    full_env.push(("AWS_ENDPOINT_URL".into(), endpoint.clone()));
                }
                if let Some(r) = &params.region {
                    full_env.push(("AWS_REGION".into(), r.clone()));
                }
                if !callback.is_empty() {
                    full_env.push(("HERD_CALLBACK_URL".into(), callback.clone()));
                }
                for (k, v) in env {
                    let value = crate::plan::render_once_public(v, &vars)
                        .map_err(|e| TargetError::Setup(format!("container env {k}: {e}")))?;
                    full_env.push((k.clone(), value));
                }
                let local = Local::start(command.clone(), full_env, *count, *replace_killed, *max_kills, tx.clone());
                match local {
                    Ok(l) => Control::Local(l),
                    Err(e) => {
                        rt.block_on(provision::cleanup(&clients, &created));
                        return Err(TargetError::Setup(e));
                    }
                }
            }
        };
        Ok(Self {
            rt,
            clients,
            params: params.clone(),
            scenario: plan.name.clone(),
            sessions: plan.sessions.clone(),
            templates: t,
            work_url,
            interrupt_url,
            claim_url,
            senders,
            correlations: HashMap::new(),
            sent_at: HashMap::new(),
            last_answer: HashMap::new(),
            owners: HashMap::new(),
            inbox: rx,
            stop,
            created,
            control,
            rng: ChaCha8Rng::seed_from_u64(plan.seed ^ 0x00a3_5000_0000_0007),
            last_container_poll: Instant::now() - Duration::from_secs(60),
            finished: false,
            callback_addr,
        })
    }

    fn owner(&self, session: usize) -> Option<String> {
        let table = self.params.claims.as_ref()?.ownership_table.clone();
        let key = self.sessions[session].pair_key();
        let out = self
            .rt
            .block_on(
                self.clients
                    .dynamodb
                    .get_item()
                    .table_name(table)
                    .key("projectKey", AttributeValue::S(key))
                    .consistent_read(true)
                    .send(),
            )
            .ok()?;
        out.item?.get("containerId")?.as_s().ok().cloned()
    }

    /// The pair's owner, read from the ownership table at most every two seconds.
    fn cached_owner(&mut self, session: usize) -> Option<String> {
        let pair = self.sessions[session].pair_key();
        if let Some((owner, at)) = self.owners.get(&pair)
            && at.elapsed() < Duration::from_secs(2)
        {
            return owner.clone();
        }
        let owner = self.owner(session);
        self.owners.insert(pair, (owner.clone(), Instant::now()));
        owner
    }

    /// A session switch, seen from outside: a project+user's container answers a message for
    /// another thread than the one it answered last. Its round trip (send to reply) is the
    /// switch time, as the seed's switching test measured it. Without an ownership table the
    /// pair is taken to stay on one container, as generation A's router keeps it.
    fn detect_switch(&mut self, id: u64, io: &mut TargetIo) {
        let Some((session, sent)) = self.sent_at.remove(&id) else { return };
        let pair = self.sessions[session].pair_key();
        let owner = if self.params.claims.is_some() { self.cached_owner(session) } else { None };
        if let Some((prev_session, prev_owner)) = self.last_answer.get(&pair)
            && *prev_session != session
            && *prev_owner == owner
        {
            io.observe(Observation::SessionSwitch { id, took: sent.elapsed().as_micros() as u64 });
        }
        self.last_answer.insert(pair, (session, owner));
    }

    fn drain(&mut self, io: &mut TargetIo) {
        while let Ok(event) = self.inbox.try_recv() {
            match event {
                Inbound::Reply { correlation, success, interrupted } => {
                    match self.correlations.get(&correlation).copied() {
                        Some(id) => {
                            self.detect_switch(id, io);
                            io.observe(Observation::Reply { id, success, interrupted });
                        }
                        None => io.observe(Observation::UnknownReply),
                    }
                }
                // A heartbeat keeps a task alive; one for a token herd never issued is a stray.
                Inbound::Heartbeat { correlation } => {
                    if !self.correlations.contains_key(&correlation) {
                        io.observe(Observation::UnknownReply);
                    }
                }
                Inbound::Malformed(detail) => io.observe(Observation::MalformedReply { detail }),
                Inbound::Error(detail) => {
                    eprintln!("herd: target error: {detail}");
                    io.observe(Observation::TargetError { detail });
                }
                Inbound::ContainerStarted(took) => io.observe(Observation::ContainerStarted { container: 0, took }),
            }
        }
    }
}

impl Target for AwsTarget {
    fn send(&mut self, _now: Micros, msg: &Outbound, io: &mut TargetIo) {
        let s = &self.sessions[msg.session];
        let url = self.work_url[msg.session].clone();
        let vars = TargetMessageVars {
            id: msg.correlation.clone(),
            seq: msg.id,
            iteration: 0,
            instruction: msg.instruction.clone(),
            fields: msg.fields.iter().cloned().collect(),
        };
        let ctx = TargetContext::new(s, vars, "", SystemTime::now(), &url);
        let t = &self.templates;
        let rendered = (|| -> Result<OutMsg, String> {
            let body = render(t, &self.params.work.body, &ctx)?;
            let group_id = self.params.work.group_id.as_ref().map(|g| render(t, g, &ctx)).transpose()?;
            let dedup_id = self.params.work.dedup_id.as_ref().map(|d| render(t, d, &ctx)).transpose()?;
            let attributes = self
                .params
                .work
                .attributes
                .iter()
                .map(|(k, n)| render(t, n, &ctx).map(|v| (k.clone(), v)))
                .collect::<Result<Vec<_>, _>>()?;
            let claim = match (&self.params.claims, &self.claim_url) {
                (Some(c), Some(claim_url)) => Some(ClaimJob {
                    pair_key: s.pair_key(),
                    queue_url: claim_url.clone(),
                    body: render(t, &c.body, &ctx)?,
                    table: c.ownership_table.clone(),
                }),
                _ => None,
            };
            Ok(OutMsg { body, group_id, dedup_id, attributes, claim })
        })();
        match rendered {
            Ok(out) => {
                self.correlations.insert(msg.correlation.clone(), msg.id);
                self.sent_at.insert(msg.id, (msg.session, Instant::now()));
                if let Some(tx) = self.senders.get(&url)
                    && tx.send(out).is_err()
                {
                    io.observe(Observation::TargetError { detail: format!("the sender for {url} has stopped") });
                }
            }
            Err(e) => io.observe(Observation::TargetError { detail: format!("rendering message {}: {e}", msg.id) }),
        }
    }

    fn on_timer(&mut self, _now: Micros, _token: u64, _io: &mut TargetIo) {}

    fn kill(&mut self, _now: Micros, select: &ContainerSelector, _io: &mut TargetIo) -> FaultOutcome {
        let owner = match select {
            ContainerSelector::OwnerOf(s) => self.owner(*s),
            _ => None,
        };
        let pairs = match select {
            ContainerSelector::OwnerOf(s) if owner.is_some() => vec![self.sessions[*s].pair_key()],
            _ => Vec::new(),
        };
        let reason = format!("herd scenario {}: kill-container fault", self.scenario);
        let (killed, detail) = match &mut self.control {
            Control::None => (Vec::new(), "no container control".to_owned()),
            Control::Ecs(ecs) => self.rt.block_on(ecs.kill(select, owner, &mut self.rng, &reason)),
            Control::Local(local) => local.kill(select, owner, &mut self.rng),
        };
        FaultOutcome {
            // ECS tasks and local processes have string ids; the record keeps how many struck.
            containers: (0..killed.len() as u64).collect(),
            pairs: if killed.is_empty() { Vec::new() } else { pairs },
            detail,
        }
    }

    fn pause(
        &mut self,
        _now: Micros,
        select: &ContainerSelector,
        duration: Micros,
        _io: &mut TargetIo,
    ) -> FaultOutcome {
        let owner = match select {
            ContainerSelector::OwnerOf(s) => self.owner(*s),
            _ => None,
        };
        match &mut self.control {
            Control::Local(local) => {
                let (paused, detail) = local.pause(select, owner, &mut self.rng, Duration::from_micros(duration));
                FaultOutcome { containers: (0..paused.len() as u64).collect(), pairs: Vec::new(), detail }
            }
            _ => FaultOutcome { detail: "only local containers can be paused".into(), ..FaultOutcome::default() },
        }
    }

    fn interrupt(&mut self, _now: Micros, session: usize, _io: &mut TargetIo) -> FaultOutcome {
        let Some(url) = self.interrupt_url[session].clone() else {
            return FaultOutcome { detail: "no interrupt queue".into(), ..FaultOutcome::default() };
        };
        let owner = self.owner(session).unwrap_or_default();
        let s = &self.sessions[session];
        let body = serde_json::json!({
            "type": "INTERRUPT",
            "containerId": owner,
            "newThreadId": s.thread,
            "interruptingMessageId": uuid::Builder::from_random_bytes(rand::Rng::random(&mut self.rng)).into_uuid().to_string(),
            "timestamp": SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
            "reason": format!("herd scenario {}", self.scenario),
        })
        .to_string();
        match self.rt.block_on(self.clients.sqs.send_message().queue_url(&url).message_body(body).send()) {
            Ok(_) => FaultOutcome {
                containers: Vec::new(),
                pairs: vec![s.pair_key()],
                detail: if owner.is_empty() {
                    format!("sent INTERRUPT to {url} (no owner recorded)")
                } else {
                    format!("sent INTERRUPT for {owner} to {url}")
                },
            },
            Err(e) => {
                FaultOutcome { detail: format!("SendMessage INTERRUPT: {}", explain(&e)), ..FaultOutcome::default() }
            }
        }
    }

    fn sample(&mut self, _now: Micros) -> GaugeSample {
        let mut out = GaugeSample::default();
        let mut urls: Vec<&String> = self.work_url.iter().collect();
        urls.sort();
        urls.dedup();
        let clients = self.clients.clone();
        let depth = self.rt.block_on(async {
            let mut total = 0u64;
            for url in urls {
                let call = clients
                    .sqs
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                    .send();
                if let Ok(Ok(o)) = tokio::time::timeout(Duration::from_secs(3), call).await
                    && let Some(v) =
                        o.attributes().and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
                {
                    total += v.parse::<u64>().unwrap_or(0);
                }
            }
            total
        });
        out.queue_depth = depth;
        match &mut self.control {
            Control::Local(l) => {
                out.containers = l.sample();
                out.running = l.running();
            }
            Control::Ecs(e) => {
                if !e.broken {
                    let tasks = self.rt.block_on(e.tasks()).unwrap_or_default();
                    out.running = tasks.len() as u64;
                    out.containers = self.rt.block_on(e.insights(&tasks));
                }
            }
            Control::None => {}
        }
        out
    }

    fn poll_every(&self) -> Option<Micros> {
        Some(100_000)
    }

    fn poll(&mut self, _now: Micros, io: &mut TargetIo) {
        if let Control::Ecs(ecs) = &mut self.control
            && self.last_container_poll.elapsed() >= Duration::from_secs(5)
        {
            self.last_container_poll = Instant::now();
            let (tx, rx) = channel();
            self.rt.block_on(ecs.poll_starts(&tx));
            while let Ok(ev) = rx.try_recv() {
                match ev {
                    Inbound::ContainerStarted(took) => io.observe(Observation::ContainerStarted { container: 0, took }),
                    Inbound::Error(detail) => io.observe(Observation::TargetError { detail }),
                    _ => {}
                }
            }
        }
        self.drain(io);
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.stop.store(true, Ordering::Relaxed);
        self.senders.clear();
        if let Control::Local(l) = &mut self.control {
            l.stop_all();
        }
        let failed = self.rt.block_on(provision::cleanup(&self.clients, &self.created));
        for f in failed {
            eprintln!("herd: cleanup: {f}");
        }
    }
}

impl Drop for AwsTarget {
    fn drop(&mut self) {
        // Whatever happened to the run, what it created is deleted.
        self.finish();
    }
}
