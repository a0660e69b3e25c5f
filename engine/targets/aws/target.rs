//! The aws target's synchronous side. Every method returns at once: sends go to one ordered
//! sender task per work queue, faults and samples run as tasks on the target's own tokio
//! runtime, and what they learn comes back as stamped observations through the inbox. Setup
//! (`connect`) is the only place that waits for the services, before the run's clock starts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::Mutex;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Sender, UnboundedSender, channel, unbounded_channel};
use tokio::task::JoinSet;

use super::callback;
use super::clients::{Clients, explain, sdk_config};
use super::compile::{AwsParams, ContainersParams, ReplyParams};
use super::containers::Ecs;
use super::drive::Driver;
use super::local::{Local, LocalSetup};
use super::needs::{needs, shared_with_other_slices};
use super::provision::{self, Created};
use super::router::{Router, RouterMsg, lookup_owner};
use super::session_queues::SessionQueues;
use super::sqs::{ClaimJob, InterruptJob, OutMsg, ReadControl, ReplyPointers, reply_reader, sender};
use crate::plan::{
    ContainerSelector, Plan, Session, TargetContext, TargetLookup, TargetMessageVars, Templates, target_lookup,
};
use crate::targets::{
    FaultOutcome, GaugeSample, Inbox, Micros, Observation, ObservationSender, Outbound, Parker, PeerBook, QueueGauge,
    Target, TargetError, TargetIo, TargetOptions, observation_channel_with,
};

/// Most messages waiting in one work queue's sender; beyond it a message is not sent (counted
/// in `send_errors`).
const SENDER_BACKLOG: usize = 10_000;

/// How often ECS is asked for tasks that started, for `container_start`.
const ECS_POLL: Duration = Duration::from_secs(5);

enum Control {
    None,
    Ecs(Box<Ecs>),
    Local(Box<Local>),
}

/// The aws target.
pub struct AwsTarget {
    /// Shared with the driver, which only holds it weakly: `finish` shuts it down.
    rt: Option<Arc<tokio::runtime::Runtime>>,
    clients: Clients,
    params: AwsParams,
    scenario: String,
    sessions: Arc<Vec<Session>>,
    /// Phase names, for `phase.name` in the body templates.
    phases: Vec<String>,
    templates: Arc<Templates>,
    /// Each session's work queue URL.
    work_url: SessionQueues,
    /// Each session's interrupt queue URL, when the router sends interrupts.
    interrupt_url: Option<SessionQueues>,
    /// Each work queue with the project+user pairs it serves.
    queue_pairs: Arc<Vec<(String, Vec<String>)>>,
    /// Replies read and not yet deleted.
    undeleted: Arc<std::sync::atomic::AtomicUsize>,
    claim_url: Option<String>,
    /// One sender per distinct work queue, indexed as `work_url.names`.
    senders: Vec<Sender<OutMsg>>,
    router: Option<UnboundedSender<RouterMsg>>,
    observations: ObservationSender,
    inbox: Option<Inbox>,
    stop: Arc<AtomicBool>,
    created: Created,
    control: Arc<Mutex<Control>>,
    sampling: Arc<AtomicBool>,
    rng: ChaCha8Rng,
    finished: bool,
    callback_addr: Option<SocketAddr>,
    /// Things said at setup for the person running herd.
    notes: Vec<String>,
    /// Files the target wrote (worker logs), known after `finish`.
    files: Vec<std::path::PathBuf>,
    /// Per project+user: herd's unanswered messages, oldest first (the one its container works
    /// on comes first).
    pending: HashMap<String, std::collections::VecDeque<(u64, usize)>>,
    /// The pair of each unanswered message.
    pending_pair: HashMap<u64, String>,
    /// Containers herd knows are dead (killed, or exited), by the id the ownership table uses.
    dead_owners: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// The owner of each of the scenario's pairs at the last look at the ownership table.
    owners_seen: Arc<Mutex<HashMap<String, String>>>,
    /// The scenario's project+user pairs.
    pairs: Arc<Vec<String>>,
}

/// Undoes what setup created when a later step of setup fails.
fn undo(rt: &tokio::runtime::Runtime, clients: &Clients, created: &Created, params: &AwsParams) {
    for left in rt.block_on(provision::cleanup(clients, created, params.timeouts.cleanup)) {
        tracing::warn!(target: "herd::aws", "clean-up after a failed setup: {left}");
    }
}

/// Threads of the target's async runtime besides the dispatcher's: `HERD_AWS_WORKERS`, or none.
///
/// None by default: the target's tasks run on a current-thread runtime that the dispatcher
/// drives while it waits (`drive.rs`), so a message costs no hand-off between threads. With
/// `HERD_AWS_WORKERS=N` they run on N threads of their own beside the dispatcher, which carries
/// more on a machine with cores to spare (see the README's Performance section for both).
fn runtime_workers() -> Option<usize> {
    std::env::var("HERD_AWS_WORKERS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0)
}

/// The target's async runtime, and the driver that lends it the dispatcher's waits when it has
/// no thread of its own.
fn build_runtime() -> std::io::Result<(Arc<tokio::runtime::Runtime>, Option<Arc<Driver>>)> {
    match runtime_workers() {
        Some(n) => {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build()?;
            Ok((Arc::new(rt), None))
        }
        None => {
            let rt = Arc::new(tokio::runtime::Builder::new_current_thread().enable_all().build()?);
            let driver = Driver::new(&rt);
            Ok((rt, Some(driver)))
        }
    }
}

impl AwsTarget {
    /// Whether herd keeps each pair's unanswered messages: only to interrupt a container busy
    /// with another thread, which needs an interrupt queue and the router's switch rule.
    fn tracks_pending(&self) -> bool {
        self.params.router.interrupt_on_switch && self.interrupt_url.is_some()
    }

    /// Connects, checks the account, provisions or resolves every queue and table, and starts
    /// the background tasks. Nothing that changes anything happens before the account check.
    pub fn connect(plan: &Plan, params: &AwsParams, options: &TargetOptions) -> Result<Self, TargetError> {
        let (rt, driver) =
            build_runtime().map_err(|e| TargetError::Setup(format!("cannot start the async runtime: {e}")))?;
        let config = rt.block_on(sdk_config(params.region.as_deref(), params.endpoint_url.as_deref(), params.timeouts));
        let clients = rt.block_on(Clients::new(&config, params.timeouts)).map_err(TargetError::Setup)?;
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
        let shared = shared_with_other_slices(plan, params).map_err(TargetError::Setup)?;
        if let (Some(seg), Some(first)) = (&plan.segment, shared.replies.first()) {
            return Err(TargetError::Setup(format!(
                "segment {}: reply queue {first} is shared with project+user pairs of other slices, so this slice would read (and delete) their replies; give each project+user its own reply queue (a `reply.queue` template with `{{{{ session.project }}}}` and `{{{{ session.user }}}}`) to run in slices",
                seg.label
            )));
        }
        let mut created = Created::default();
        let urls = rt.block_on(async {
            provision::tables(&clients, &table_needs, params.provision, &mut created).await?;
            provision::queues(&clients, &queue_needs, params.provision, &mut created).await
        });
        let urls = match urls {
            Ok(u) => u,
            Err(e) => {
                undo(&rt, &clients, &created, params);
                return Err(TargetError::Setup(e));
            }
        };
        if plan.segment.as_ref().is_some_and(|seg| seg.count > 1) {
            // Other slices still use what they share with this one when it ends: the tables,
            // and the queues their sessions use too. Only what is this slice's alone goes.
            let shared_urls: std::collections::HashSet<&String> =
                shared.queues.iter().map(|n| urls.get(n).unwrap_or(n)).collect();
            let kept: Vec<String> = created.queues.iter().filter(|u| shared_urls.contains(u)).cloned().collect();
            created.queues.retain(|u| !shared_urls.contains(u));
            let kept: Vec<String> = kept.into_iter().chain(std::mem::take(&mut created.tables)).collect();
            if !kept.is_empty() {
                tracing::warn!(target: "herd::aws", "shared with the other slices, left in place at the end: {}", kept.join(", "));
            }
        }
        match Self::start(&rt, driver, &clients, plan, params, options, &urls) {
            Ok(mut target) => {
                target.rt = Some(rt);
                target.created = created;
                Ok(target)
            }
            Err(e) => {
                undo(&rt, &clients, &created, params);
                Err(e)
            }
        }
    }

    /// Starts the tasks once the queues and tables exist. The caller hands the runtime and what
    /// was created to the result, or undoes the provisioning when this fails.
    fn start(
        rt: &tokio::runtime::Runtime,
        driver: Option<Arc<Driver>>,
        clients: &Clients,
        plan: &Plan,
        params: &AwsParams,
        options: &TargetOptions,
        urls: &HashMap<String, String>,
    ) -> Result<Self, TargetError> {
        macro_rules! bail {
            ($e:expr) => {
                return Err($e)
            };
        }
        let t = plan.templates.clone();
        let url_of = |name: String| urls.get(&name).cloned().unwrap_or(name);
        let work_url = SessionQueues::render(plan, &params.work.queue, url_of).map_err(TargetError::Setup)?;
        let interrupt_url = match params.claims.as_ref().and_then(|c| c.interrupt_queue.as_ref()) {
            Some(q) => Some(SessionQueues::render(plan, q, url_of).map_err(TargetError::Setup)?),
            None => None,
        };
        let reply_index = match &params.reply {
            ReplyParams::Sqs { queue, .. } => {
                Some(SessionQueues::render(plan, queue, url_of).map_err(TargetError::Setup)?)
            }
            ReplyParams::StepFunctionsCallback { .. } => None,
        };
        let reply_urls = reply_index.as_ref().map(|r| r.names.clone()).unwrap_or_default();
        // Each work queue with the project+user pairs it serves (for queue depth by group),
        // worked out once: a sample must not walk every session.
        let queue_pairs: Vec<(String, Vec<String>)> = {
            let mut seen = std::collections::HashSet::new();
            let mut pairs: Vec<Vec<String>> = vec![Vec::new(); work_url.names.len()];
            for (i, s) in plan.sessions.iter().enumerate() {
                let q = work_url.index_of(i);
                if seen.insert((q, s.ids_key())) {
                    pairs[q].push(s.pair_key());
                }
            }
            for p in &mut pairs {
                p.sort();
                p.dedup();
            }
            work_url.names.iter().cloned().zip(pairs).collect()
        };
        let claim_url = params.claims.as_ref().map(|c| url_of(c.queue.clone()));
        let sessions = plan.sessions.clone();
        let (observations, inbox) = observation_channel_with(driver.map(|d| d as Arc<dyn Parker>));
        let (router_tx, router_rx) = unbounded_channel();
        let router = Router {
            clients: clients.clone(),
            sessions: sessions.clone(),
            ownership_table: params.claims.as_ref().map(|c| c.ownership_table.clone()),
            out: observations.clone(),
            // A correlation is kept a minute past the longest reply timeout, so a late reply is
            // still told apart from a stranger's; after that it is forgotten, so a soak runs in
            // flat memory.
            forget_after: plan.phases.iter().map(|p| p.reply_timeout).max().unwrap_or_default()
                + Duration::from_secs(60),
        };
        rt.spawn(router.run(router_rx));
        let stop = Arc::new(AtomicBool::new(false));
        let mut senders = Vec::with_capacity(work_url.names.len());
        for url in &work_url.names {
            // Bounded: a system (or network) slower than the rate shows as arrivals dropped
            // (the runtime asks `accepts` first), never as herd's memory growing.
            let (stx, srx) = channel(SENDER_BACKLOG);
            rt.spawn(sender(clients.clone(), url.clone(), srx, router_tx.clone(), params.work.batch));
            senders.push(stx);
        }
        let undeleted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        if let ReplyParams::Sqs { match_pointer, success_pointer, interrupted_pointer, wait_time, .. } = &params.reply {
            let pointers = ReplyPointers {
                correlation: match_pointer.clone(),
                success: success_pointer.clone(),
                interrupted: interrupted_pointer.clone(),
            };
            // A slice reads only its own sessions' reply queues.
            let reply_urls: Vec<String> = match (&plan.segment, &reply_index) {
                (Some(seg), Some(index)) => {
                    let mut mine = vec![false; reply_urls.len()];
                    for s in (0..plan.sessions.len()).filter(|s| seg.owns(*s)) {
                        mine[index.index_of(s)] = true;
                    }
                    reply_urls.into_iter().zip(mine).filter_map(|(u, m)| m.then_some(u)).collect()
                }
                _ => reply_urls,
            };
            for url in reply_urls {
                rt.spawn(reply_reader(
                    clients.clone(),
                    url,
                    pointers.clone(),
                    *wait_time,
                    router_tx.clone(),
                    ReadControl { stop: stop.clone(), undeleted: undeleted.clone() },
                ));
            }
        }
        let callback_addr = match &params.reply {
            ReplyParams::StepFunctionsCallback { listen, limits } => {
                let listen = options.callback_listen.clone().unwrap_or_else(|| listen.clone());
                let peers = match (&plan.segment, &options.peers) {
                    (Some(seg), Some(PeerBook::Folder(dir))) => {
                        Some(callback::Peers::new(seg.index, callback::Book::Folder(dir.clone())))
                    }
                    (Some(seg), Some(PeerBook::S3 { at, region, endpoint_url })) => {
                        let store = rt.block_on(crate::distribute::RunStore::connect(
                            at.clone(),
                            region.as_deref(),
                            endpoint_url.as_deref(),
                        ));
                        Some(callback::Peers::new(seg.index, callback::Book::S3 { store, known: Default::default() }))
                    }
                    _ => None,
                };
                match rt.block_on(callback::serve(&listen, *limits, router_tx.clone(), peers)) {
                    Ok(addr) => Some(addr),
                    Err(e) => bail!(TargetError::Setup(format!(
                        "cannot listen on {listen} for Step Functions callbacks: {e}"
                    ))),
                }
            }
            ReplyParams::Sqs { .. } => None,
        };
        let mut notes = Vec::new();
        let control = match &params.containers {
            ContainersParams::None => Control::None,
            ContainersParams::Ecs { cluster, service, required_tag, max_kills, container_insights } => {
                Control::Ecs(Box::new(Ecs {
                    clients: clients.clone(),
                    cluster: cluster.clone(),
                    service: service.clone(),
                    required_tag: required_tag.clone(),
                    max_kills: *max_kills,
                    kills: 0,
                    seen_started: Default::default(),
                    broken: false,
                    insights: *container_insights,
                }))
            }
            ContainersParams::Local(local) => {
                let endpoint =
                    params.endpoint_url.clone().or_else(|| std::env::var("AWS_ENDPOINT_URL").ok()).unwrap_or_default();
                let callback = callback_addr.map(|a| format!("http://{a}")).unwrap_or_default();
                let mut base_env: Vec<(String, String)> = Vec::new();
                if !endpoint.is_empty() {
                    base_env.push(("AWS_ENDPOINT_URL".into(), endpoint.clone()));
                }
                if let Some(r) = &params.region {
                    base_env.push(("AWS_REGION".into(), r.clone()));
                }
                if !callback.is_empty() {
                    base_env.push(("HERD_CALLBACK_URL".into(), callback.clone()));
                }
                let work_queue_urls = work_url.names.clone();
                let setup = LocalSetup {
                    params: local.clone(),
                    base_env,
                    endpoint_url: endpoint,
                    callback_url: callback,
                    scenario: plan.name.clone(),
                    claim_queue_url: claim_url.clone().unwrap_or_default(),
                    work_queue_urls,
                    logs_dir: options.output_dir.as_ref().map(|d| d.join("containers")),
                    router: router_tx.clone(),
                };
                match Local::start(setup) {
                    Ok(mut l) => {
                        // The load starts when every worker is ready (or at `start_after`), so
                        // the first messages' latency holds no worker start-up.
                        let late = l.wait_ready(local.start_after);
                        if !late.is_empty() {
                            let line = format!(
                                "not ready after {}: {}; the load starts anyway",
                                crate::plan::format_duration(local.start_after),
                                late.join(", ")
                            );
                            tracing::warn!(target: "herd::aws", "{line}");
                            notes.push(line);
                        }
                        Control::Local(Box::new(l))
                    }
                    Err(e) => bail!(TargetError::Setup(e)),
                }
            }
        };
        let is_ecs = matches!(control, Control::Ecs(_));
        let learn_owners = matches!(&control, Control::Local(l) if l.awaiting_owner_ids());
        let control = Arc::new(Mutex::new(control));
        let dead_owners = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
        if is_ecs {
            rt.spawn(poll_ecs_starts(control.clone(), router_tx.clone(), stop.clone(), dead_owners.clone()));
        }
        if learn_owners && let Some(c) = &params.claims {
            rt.spawn(learn_owner_ids(clients.clone(), c.ownership_table.clone(), control.clone(), stop.clone()));
        }
        Ok(Self {
            rt: None,
            clients: clients.clone(),
            params: params.clone(),
            scenario: plan.name.clone(),
            sessions,
            phases: plan.phases.iter().map(|p| p.name.clone()).collect(),
            templates: t,
            work_url,
            interrupt_url,
            queue_pairs: Arc::new(queue_pairs),
            undeleted,
            claim_url,
            senders,
            router: Some(router_tx),
            observations,
            inbox: Some(inbox),
            stop,
            created: Created::default(),
            control,
            sampling: Arc::new(AtomicBool::new(false)),
            rng: ChaCha8Rng::seed_from_u64(plan.seed ^ 0x00a3_5000_0000_0007),
            finished: false,
            callback_addr,
            notes,
            files: Vec::new(),
            pending: HashMap::new(),
            pending_pair: HashMap::new(),
            dead_owners,
            owners_seen: Arc::new(Mutex::new(HashMap::new())),
            pairs: Arc::new({
                // Distinct pairs found by their shared ids, so a million sessions format a
                // hundred keys rather than a million.
                let mut seen = std::collections::HashSet::new();
                let mut p: Vec<String> =
                    plan.sessions.iter().filter(|s| seen.insert(s.ids_key())).map(Session::pair_key).collect();
                p.sort();
                p.dedup();
                p
            }),
        })
    }

    fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        if let Some(rt) = &self.rt {
            rt.spawn(task);
        }
    }

    /// What a fault task needs to look up a session's owner: the ownership table and the pair.
    fn owner_query(&self, select: &ContainerSelector) -> Option<(String, String)> {
        let ContainerSelector::OwnerOf(s) = select else { return None };
        let table = self.params.claims.as_ref()?.ownership_table.clone();
        Some((table, self.sessions[*s].pair_key()))
    }
}

/// Reports `container_start` for ECS tasks seen running for the first time, and counts a task
/// that was running and is gone as dead (for `claim_when_owner_dead`), until the run ends.
async fn poll_ecs_starts(
    control: Arc<Mutex<Control>>,
    router: UnboundedSender<RouterMsg>,
    stop: Arc<AtomicBool>,
    dead: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
) {
    let mut running: Vec<String> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        if let Control::Ecs(ecs) = &mut *control.lock().await
            && let Some(now) = ecs.poll_starts(&router).await
        {
            if let Ok(mut d) = dead.lock() {
                d.extend(running.iter().filter(|t| !now.contains(t)).cloned());
            }
            running = now;
        }
        tokio::time::sleep(ECS_POLL).await;
    }
}

/// Learns the ids local workers make up for themselves from the ownership table: every new
/// `containerId` goes to the oldest worker still without an id, until all have one.
async fn learn_owner_ids(clients: Clients, table: String, control: Arc<Mutex<Control>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let waiting = matches!(&*control.lock().await, Control::Local(l) if l.awaiting_owner_ids());
        if !waiting {
            return;
        }
        match clients.dynamodb.scan().table_name(&table).send().await {
            Ok(out) => {
                let mut owners: Vec<(u64, String)> = out
                    .items()
                    .iter()
                    .filter_map(|i| {
                        let id = i.get("containerId")?.as_s().ok()?.clone();
                        let at = i.get("lastActivity").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok());
                        Some((at.unwrap_or(0), id))
                    })
                    .collect();
                // The first owner to appear is the oldest claim.
                owners.sort();
                let ids: Vec<String> = owners.into_iter().map(|(_, id)| id).collect();
                if let Control::Local(l) = &mut *control.lock().await {
                    l.assign_owner_ids(&ids);
                }
            }
            Err(e) => tracing::debug!(target: "herd::aws", "scan of {table}: {}", explain(&e)),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Reads the ownership table and reports every change of owner of the scenario's pairs since the
/// last look (claims taken, rows released).
async fn watch_owners(
    clients: &Clients,
    table: &str,
    seen: &Mutex<HashMap<String, String>>,
    pairs: &[String],
    out: &ObservationSender,
) {
    let Ok(scan) = clients.dynamodb.scan().table_name(table).send().await else { return };
    let now: HashMap<String, String> = scan
        .items()
        .iter()
        .filter_map(|i| {
            let pair = i.get("projectKey")?.as_s().ok()?;
            let owner = i.get("containerId")?.as_s().ok()?;
            pairs.binary_search(pair).is_ok().then(|| (pair.clone(), owner.clone()))
        })
        .collect();
    let mut before = seen.lock().await;
    for pair in pairs {
        let (from, to) = (before.get(pair).cloned(), now.get(pair).cloned());
        if from != to {
            out.send(Observation::OwnerChanged { pair: pair.clone(), from, to });
        }
    }
    *before = now;
}

/// Looks up the owner for a fault; a failed lookup is said in the fault's outcome.
async fn fault_owner(clients: &Clients, query: Option<(String, String)>) -> (Option<String>, Option<String>) {
    match query {
        Some((table, pair)) => match lookup_owner(clients, &table, &pair).await {
            Ok(owner) => (owner, None),
            Err(e) => (None, Some(e)),
        },
        None => (None, None),
    }
}

/// Messages visible in one queue.
async fn queue_depth(clients: Clients, url: String) -> Result<u64, String> {
    clients.wire.visible_messages(&url).await.map_err(|e| format!("GetQueueAttributes on {url}: {e}"))
}

impl Target for AwsTarget {
    /// herd's own calls, counted: SQS requests as SQS bills them (its data plane per 64 KiB
    /// chunk, FIFO apart; the SDK's control-plane calls), DynamoDB reads and writes (one unit
    /// a call: the items herd reads and deletes are small), CloudWatch requests; and the
    /// system's replies herd received (each a SendMessage the system made). The rest of the
    /// system's side (its receives, its containers) is not known on a real target.
    fn usage(&self, _now: Micros) -> crate::cost::Usage {
        use std::sync::atomic::Ordering::Relaxed;

        use crate::cost::{Basis, Usage, UsageKind};
        let mut u = Usage::default();
        let w = &self.clients.wire.counts;
        u.add(UsageKind::SqsRequests, w.standard.load(Relaxed) as f64, Basis::Measured, "herd");
        u.add(UsageKind::SqsFifoRequests, w.fifo.load(Relaxed) as f64, Basis::Measured, "herd");
        for (service, op, n) in self.clients.calls.snapshot() {
            let kind = match (service.as_str(), op.as_str()) {
                ("sqs" | "SQS", _) => Some(UsageKind::SqsRequests),
                ("dynamodb" | "DynamoDB", "GetItem" | "Scan" | "Query" | "BatchGetItem") => {
                    Some(UsageKind::DynamodbReadUnits)
                }
                ("dynamodb" | "DynamoDB", "PutItem" | "DeleteItem" | "UpdateItem" | "BatchWriteItem") => {
                    Some(UsageKind::DynamodbWriteUnits)
                }
                // Billed per metric asked for: counted where the queries are built.
                ("cloudwatch" | "CloudWatch", "GetMetricData") => None,
                ("cloudwatch" | "CloudWatch", _) => Some(UsageKind::CloudwatchRequests),
                // Table and queue administration is not billed per call.
                _ => None,
            };
            if let Some(kind) = kind {
                u.add(kind, n as f64, Basis::Measured, "herd");
            }
        }
        u.add(
            UsageKind::CloudwatchMetricsRequested,
            self.clients.metrics_requested.load(Relaxed) as f64,
            Basis::Measured,
            "herd",
        );
        u.add(UsageKind::SqsRequests, w.received.load(Relaxed) as f64, Basis::Measured, "system");
        u
    }

    fn take_inbox(&mut self) -> Option<Inbox> {
        self.inbox.take()
    }

    fn accepts(&self, session: usize) -> bool {
        self.senders.get(self.work_url.index_of(session)).is_some_and(|tx| tx.capacity() > 0)
    }

    fn send(&mut self, _now: Micros, msg: &Outbound, io: &mut TargetIo) {
        let s = &self.sessions[msg.session];
        let queue = self.work_url.index_of(msg.session);
        let url = self.work_url.of(msg.session);
        // A full sender refuses the message before it costs a render (only a closed-model
        // executor, which does not ask `accepts`, gets this far with a full sender).
        if self.senders.get(queue).is_some_and(|tx| tx.capacity() == 0) {
            let detail = format!(
                "herd's sender for {url} already has {SENDER_BACKLOG} messages waiting (the queue takes them slower than the rate)"
            );
            io.observe(Observation::SendFailed { id: msg.id, detail });
            return;
        }
        let phase = self.phases.get(msg.phase).map_or("", String::as_str);
        let now = SystemTime::now();
        let cx = TargetLookup {
            session: s,
            id: &msg.correlation,
            seq: msg.id,
            iteration: msg.iteration,
            instruction: &msg.instruction,
            fields: &msg.fields,
            data: &msg.data,
            phase,
            now,
            work_queue_url: url,
            timestamp: Default::default(),
        };
        // The engine's context is made once, and only for a template that needs the engine:
        // most are text and lookups, read straight from the message (`simple_template.rs`).
        let value = std::cell::OnceCell::new();
        let ctx = || {
            value
                .get_or_init(|| {
                    let vars = TargetMessageVars {
                        id: msg.correlation.clone(),
                        seq: msg.id,
                        iteration: msg.iteration,
                        instruction: msg.instruction.clone(),
                        fields: msg.fields.iter().cloned().collect(),
                        data: msg.data.clone(),
                    };
                    minijinja::Value::from(minijinja::value::Serde(&TargetContext::new(s, vars, phase, now, url)))
                })
                .clone()
        };
        let t = &self.templates;
        let render = |name: &str| t.render_with(name, |path| target_lookup(&cx, path), ctx);
        let rendered = (|| -> Result<OutMsg, String> {
            let body = render(&self.params.work.body)?;
            let group_id = self.params.work.group_id.as_deref().map(render).transpose()?;
            let dedup_id = self.params.work.dedup_id.as_deref().map(render).transpose()?;
            let attributes = self
                .params
                .work
                .attributes
                .iter()
                .map(|(k, n)| render(n).map(|v| (k.clone(), v)))
                .collect::<Result<Vec<_>, _>>()?;
            let claim = match (&self.params.claims, &self.claim_url) {
                (Some(c), Some(claim_url)) => Some(ClaimJob {
                    pair_key: s.pair_key(),
                    queue_url: claim_url.clone(),
                    body: render(&c.body)?,
                    table: c.ownership_table.clone(),
                    dead_owners: self.params.router.claim_when_owner_dead.then(|| self.dead_owners.clone()),
                }),
                _ => None,
            };
            // The router interrupts a busy container for new work: when asked to (an interrupt
            // fault with a message), or for a message of another thread than the one the pair's
            // container is working on (herd's oldest unanswered message of the pair).
            let busy_with_other = self.tracks_pending()
                && self
                    .pending
                    .get(&s.pair_key())
                    .and_then(|q| q.front())
                    .is_some_and(|(_, other)| *other != msg.session);
            let interrupt = match self.interrupt_url.as_ref().map(|q| q.of(msg.session)) {
                Some(queue_url) if msg.interrupt_first || busy_with_other => Some(InterruptJob {
                    queue_url: queue_url.to_owned(),
                    table: self.params.claims.as_ref().map(|c| c.ownership_table.clone()),
                    pair_key: s.pair_key(),
                    thread: s.thread.clone(),
                    message_id: msg.correlation.clone(),
                    reason: format!("herd scenario {}: new work for another thread", self.scenario),
                    session: msg.session,
                }),
                _ => None,
            };
            Ok(OutMsg {
                id: msg.id,
                correlation: msg.correlation.clone(),
                session: msg.session,
                handed: std::time::Instant::now(),
                body,
                group_id,
                dedup_id,
                attributes,
                claim,
                interrupt,
            })
        })();
        match rendered {
            Ok(out) => {
                if self.tracks_pending() {
                    let pair = s.pair_key();
                    self.pending.entry(pair.clone()).or_default().push_back((msg.id, msg.session));
                    self.pending_pair.insert(msg.id, pair);
                }
                // The sender tells the router the correlation before the message can reach
                // SQS (so no reply can arrive for a correlation it does not know): one wake-up
                // of the async runtime per message instead of two.
                let refused = match self.senders.get(queue) {
                    Some(tx) => match tx.try_send(out) {
                        Ok(()) => None,
                        Err(TrySendError::Full(_)) => Some(format!(
                            "herd's sender for {url} already has {SENDER_BACKLOG} messages waiting (the queue takes them slower than the rate)"
                        )),
                        Err(TrySendError::Closed(_)) => Some(format!("the sender for {url} has stopped")),
                    },
                    None => Some(format!("the sender for {url} has stopped")),
                };
                if let Some(detail) = refused {
                    io.observe(Observation::SendFailed { id: msg.id, detail });
                }
            }
            Err(e) => io.observe(Observation::TemplateFailed { id: msg.id, detail: e }),
        }
    }

    fn resolved(&mut self, id: u64) {
        // Resolved messages leave the pair's queue lazily: only its front matters (the oldest
        // unanswered message), so the front is cleared of resolved ones, and each message is
        // popped once. Retaining over the whole queue on every resolve was quadratic: 85 % of
        // the CPU at 25,000 messages a second in flight on one pair.
        if let Some(pair) = self.pending_pair.remove(&id)
            && let Some(q) = self.pending.get_mut(&pair)
        {
            while q.front().is_some_and(|(m, _)| !self.pending_pair.contains_key(m)) {
                q.pop_front();
            }
            if q.is_empty() {
                self.pending.remove(&pair);
            }
        }
    }

    fn kill(&mut self, _now: Micros, fault: usize, select: &ContainerSelector, _io: &mut TargetIo) {
        let query = self.owner_query(select);
        let pair = query.as_ref().map(|(_, p)| p.clone());
        let reason = format!("herd scenario {}: kill-container fault", self.scenario);
        let (clients, control, out, select) =
            (self.clients.clone(), self.control.clone(), self.observations.clone(), select.clone());
        let mut rng = ChaCha8Rng::from_rng(&mut self.rng);
        let dead = self.dead_owners.clone();
        self.spawn(async move {
            let (owner, lookup_error) = fault_owner(&clients, query).await;
            let found = owner.is_some();
            let (killed, mut detail) = match &mut *control.lock().await {
                Control::None => (Vec::new(), "no container control".to_owned()),
                Control::Ecs(ecs) => ecs.kill(&select, owner, &mut rng, &reason).await,
                Control::Local(local) => local.kill(&select, owner, &mut rng),
            };
            if let Some(e) = lookup_error {
                detail = format!("{detail} ({e})");
            }
            if let Ok(mut d) = dead.lock() {
                d.extend(killed.iter().cloned());
            }
            let outcome = FaultOutcome {
                // ECS tasks and local processes have string ids; the record keeps how many struck.
                containers: (0..killed.len() as u64).collect(),
                pairs: if killed.is_empty() || !found { Vec::new() } else { pair.into_iter().collect() },
                detail,
            };
            out.send(Observation::FaultDone { fault, outcome });
        });
    }

    fn stop(&mut self, now: Micros, fault: usize, select: &ContainerSelector, io: &mut TargetIo) {
        if matches!(self.params.containers, ContainersParams::Ecs { .. }) {
            // ECS's StopTask is the graceful stop: SIGTERM, then SIGKILL after the task's
            // stopTimeout.
            self.kill(now, fault, select, io);
            return;
        }
        let query = self.owner_query(select);
        let pair = query.as_ref().map(|(_, p)| p.clone());
        let (clients, control, out, select) =
            (self.clients.clone(), self.control.clone(), self.observations.clone(), select.clone());
        let mut rng = ChaCha8Rng::from_rng(&mut self.rng);
        self.spawn(async move {
            let (owner, lookup_error) = fault_owner(&clients, query).await;
            let found = owner.is_some();
            let begun = match &mut *control.lock().await {
                Control::Local(l) => l.begin_stop(&select, owner, &mut rng).map(|s| (s, l.grace())),
                _ => Err("only local containers and ECS tasks can be stopped".to_owned()),
            };
            let outcome = match begun {
                Err(detail) => FaultOutcome { detail, ..FaultOutcome::default() },
                Ok((stopping, grace)) => {
                    // Wait for them to exit without holding the containers: samples and other
                    // faults go on meanwhile.
                    let started = std::time::Instant::now();
                    loop {
                        let done = match &mut *control.lock().await {
                            Control::Local(l) => stopping.iter().all(|(i, _)| l.exited(*i)),
                            _ => true,
                        };
                        if done || started.elapsed() >= grace {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    let forced = match &mut *control.lock().await {
                        Control::Local(l) => l.finish_stop(&stopping),
                        _ => Vec::new(),
                    };
                    let ids: Vec<String> = stopping.iter().map(|(_, id)| id.clone()).collect();
                    let mut detail = if ids.is_empty() {
                        "stopped no process".to_owned()
                    } else if forced.is_empty() {
                        format!("stopped {} with SIGTERM", ids.join(", "))
                    } else {
                        format!(
                            "stopped {} with SIGTERM; {} still ran after {} and got SIGKILL",
                            ids.join(", "),
                            forced.join(", "),
                            crate::plan::format_duration(grace)
                        )
                    };
                    if let Some(e) = lookup_error {
                        detail = format!("{detail} ({e})");
                    }
                    FaultOutcome {
                        containers: (0..ids.len() as u64).collect(),
                        pairs: if ids.is_empty() || !found { Vec::new() } else { pair.into_iter().collect() },
                        detail,
                    }
                }
            };
            out.send(Observation::FaultDone { fault, outcome });
        });
    }

    fn pause(&mut self, _now: Micros, fault: usize, select: &ContainerSelector, duration: Micros, _io: &mut TargetIo) {
        let query = self.owner_query(select);
        let (clients, control, out, select) =
            (self.clients.clone(), self.control.clone(), self.observations.clone(), select.clone());
        let mut rng = ChaCha8Rng::from_rng(&mut self.rng);
        self.spawn(async move {
            let (owner, _) = fault_owner(&clients, query).await;
            let outcome = match &mut *control.lock().await {
                Control::Local(local) => {
                    let (paused, detail) = local.pause(&select, owner, &mut rng, Duration::from_micros(duration));
                    FaultOutcome { containers: (0..paused.len() as u64).collect(), pairs: Vec::new(), detail }
                }
                _ => FaultOutcome { detail: "only local containers can be paused".into(), ..FaultOutcome::default() },
            };
            out.send(Observation::FaultDone { fault, outcome });
        });
    }

    fn interrupt(&mut self, _now: Micros, fault: usize, session: usize, io: &mut TargetIo) {
        let Some(url) = self.interrupt_url.as_ref().map(|q| q.of(session).to_owned()) else {
            io.fault_done(fault, FaultOutcome { detail: "no interrupt queue".into(), ..FaultOutcome::default() });
            return;
        };
        let query = self.owner_query(&ContainerSelector::OwnerOf(session));
        let s = &self.sessions[session];
        let (thread, pair) = (s.thread.clone(), s.pair_key());
        let message_id = uuid::Builder::from_random_bytes(rand::Rng::random(&mut self.rng)).into_uuid().to_string();
        let reason = format!("herd scenario {}", self.scenario);
        let (clients, out) = (self.clients.clone(), self.observations.clone());
        self.spawn(async move {
            let owner = fault_owner(&clients, query).await.0.unwrap_or_default();
            let body = serde_json::json!({
                "type": "INTERRUPT",
                "containerId": owner,
                "newThreadId": thread,
                "interruptingMessageId": message_id,
                "timestamp": SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
                "reason": reason,
            })
            .to_string();
            let outcome = match clients.sqs.send_message().queue_url(&url).message_body(body).send().await {
                Ok(_) => {
                    out.send(Observation::InterruptSent { session: Some(session) });
                    FaultOutcome {
                    containers: Vec::new(),
                    pairs: vec![pair],
                    detail: if owner.is_empty() {
                        format!("sent INTERRUPT to {url} (no owner recorded)")
                    } else {
                        format!("sent INTERRUPT for {owner} to {url}")
                    },
                    }
                }
                Err(e) => FaultOutcome {
                    detail: format!("SendMessage INTERRUPT: {}", explain(&e)),
                    ..FaultOutcome::default()
                },
            };
            out.send(Observation::FaultDone { fault, outcome });
        });
    }

    fn sample(&mut self, _now: Micros, _io: &mut TargetIo) {
        // One sample at a time: a slow server makes samples rarer, never a queue of them.
        if self.sampling.swap(true, Ordering::SeqCst) {
            tracing::debug!(target: "herd::aws", "the previous sample is still running; skipping this one");
            return;
        }
        // Each work queue with the project+user pairs it serves, so its depth can be split by
        // session group.
        let queues = self.queue_pairs.clone();
        let (clients, control, out, sampling) =
            (self.clients.clone(), self.control.clone(), self.observations.clone(), self.sampling.clone());
        let dead = self.dead_owners.clone();
        let ownership = self
            .params
            .claims
            .as_ref()
            .map(|c| (c.ownership_table.clone(), self.owners_seen.clone(), self.pairs.clone()));
        let owners_seen = self.owners_seen.clone();
        // Owners are only known from the ownership table, which herd reads when it claims.
        let claims = ownership.is_some();
        self.spawn(async move {
            if let Some((table, seen, pairs)) = ownership {
                watch_owners(&clients, &table, &seen, &pairs, &out).await;
            }
            let owners: Vec<(String, String)> =
                owners_seen.lock().await.iter().map(|(p, o)| (p.clone(), o.clone())).collect();
            let mut depths = JoinSet::new();
            for (url, pairs) in queues.iter().cloned() {
                let clients = clients.clone();
                depths.spawn(async move { queue_depth(clients, url).await.map(|n| (n, pairs)) });
            }
            let mut gauges = GaugeSample::default();
            while let Some(joined) = depths.join_next().await {
                match joined {
                    Ok(Ok((n, pairs))) => {
                        gauges.queue_depth += n;
                        gauges.queues.push(QueueGauge { pairs, depth: n });
                    }
                    Ok(Err(e)) => tracing::debug!(target: "herd::aws", "{e}"),
                    Err(_) => {}
                }
            }
            match &mut *control.lock().await {
                Control::Local(l) => {
                    gauges.containers = l.sample();
                    gauges.running = l.running();
                    gauges.starting = l.starting();
                    // The ownership table names owners by container id; a ready local worker
                    // with that id owns the pair.
                    gauges.owners =
                        owners.iter().filter_map(|(pair, owner)| Some((pair.clone(), l.ready_index(owner)?))).collect();
                    gauges.owners_known = claims;
                    // A worker that exited on its own is as dead as a killed one.
                    if let Ok(mut d) = dead.lock() {
                        d.extend(l.dead_ids());
                    }
                }
                Control::Ecs(e) => {
                    if !e.broken {
                        let tasks = e.tasks().await.unwrap_or_default();
                        gauges.running = tasks.len() as u64;
                        gauges.containers = e.insights(&tasks).await;
                    }
                }
                Control::None => {}
            }
            out.send(Observation::Gauges(gauges));
            sampling.store(false, Ordering::SeqCst);
        });
    }

    fn finish(&mut self) -> Vec<String> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        self.stop.store(true, Ordering::Relaxed);
        self.senders.clear();
        self.router = None;
        let Some(rt) = self.rt.take() else { return Vec::new() };
        let deadline = self.params.timeouts.cleanup;
        let control = self.control.clone();
        let (clients, created) = (self.clients.clone(), std::mem::take(&mut self.created));
        let mut files = Vec::new();
        let undeleted = self.undeleted.clone();
        let left = rt.block_on(async {
            // Replies read but still held for a shared DeleteMessageBatch are deleted before the
            // runtime stops (the deleters wait at most their linger), so none comes back into a
            // reply queue that a later run reuses.
            let _ = tokio::time::timeout(deadline.min(Duration::from_secs(5)), async {
                while undeleted.load(Ordering::SeqCst) > 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
            // A fault task may still hold the containers (a stalled StopTask); the clean-up does
            // not wait for it past its deadline.
            let stopped = tokio::time::timeout(deadline, async {
                match &mut *control.lock().await {
                    Control::Local(l) => (l.stop_all(), l.logs()),
                    _ => (Vec::new(), Vec::new()),
                }
            })
            .await;
            let mut left = Vec::new();
            match stopped {
                Ok((forced, logs)) => {
                    if !forced.is_empty() {
                        tracing::info!(target: "herd::aws", "still running after SIGTERM and the grace, killed: {}", forced.join(", "));
                    }
                    files = logs;
                }
                Err(_) => left.push("local workers: busy past the clean-up deadline; killed when herd exits".to_owned()),
            }
            left.extend(provision::cleanup(&clients, &created, deadline).await);
            left
        });
        self.files = files;
        // Tasks still waiting on a server (a long poll, a stalled call) are dropped, not awaited.
        // The driver holds the runtime only weakly, and only while it drives it, which is never
        // during a call into the target: the runtime is the target's alone here.
        match Arc::try_unwrap(rt) {
            Ok(rt) => rt.shutdown_background(),
            Err(rt) => {
                tracing::debug!(target: "herd::aws", "the runtime is still in use ({} holders); dropped with the last", Arc::strong_count(&rt))
            }
        }
        left
    }

    fn files(&self) -> Vec<std::path::PathBuf> {
        self.files.clone()
    }

    fn settle(&self) -> Micros {
        self.params.timeouts.settle.as_micros() as Micros
    }

    fn acknowledges_sends(&self) -> bool {
        true
    }

    fn announcements(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .callback_addr
            .map(|addr| format!("Step Functions callbacks: point workers at http://{addr}"))
            .into_iter()
            .collect();
        out.extend(self.notes.iter().cloned());
        out
    }
}

impl Drop for AwsTarget {
    fn drop(&mut self) {
        // Whatever happened to the run, what it created is deleted.
        for left in self.finish() {
            tracing::warn!(target: "herd::aws", "clean-up: {left}");
        }
    }
}
