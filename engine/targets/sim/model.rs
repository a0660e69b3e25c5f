//! The simulated target: an in-process model of the architecture in DESIGN.md.
//!
//! A pool of containers, each claiming one project+user at a time and processing that pair's
//! queue one message at a time in FIFO order. Messages are hidden while processed and come back
//! after the visibility timeout when their container dies, unless the `delete_before_processing`
//! defect is on. The model is driven only through the `Target` trait and its own timers, so the
//! same model runs on the virtual and the real clock and is deterministic for a seed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

use super::compile::{InterruptPolicy, Scaling, SimParams};
use crate::plan::{ContainerSelector, Session};
use crate::targets::{FaultOutcome, GaugeSample, Micros, Observation, Outbound, QueueGauge, Target, TargetIo};

fn us(d: std::time::Duration) -> Micros {
    d.as_micros() as Micros
}

#[derive(Debug, Clone)]
struct QueuedMsg {
    id: u64,
    session: usize,
    /// When the message becomes visible (again).
    visible_at: Micros,
}

#[derive(Debug, Clone)]
struct Processing {
    msg: QueuedMsg,
    /// When processing will finish.
    done_at: Micros,
    /// Set when the defect deleted the message on receipt.
    deleted: bool,
}

#[derive(Debug)]
struct Container {
    id: u64,
    alive: bool,
    /// Set until the container is ready.
    ready_at: Option<Micros>,
    asked_at: Micros,
    paused_until: Option<Micros>,
    claim: Option<String>,
    current: Option<Processing>,
    last_thread: Option<usize>,
    threads_seen: BTreeSet<usize>,
    processed: u64,
    /// Bumped on every state change that invalidates pending timers.
    epoch: u64,
    busy_since: Option<Micros>,
    busy_accum: Micros,
    /// Time spent processing over the container's life (for its idle long polls).
    busy_total: Micros,
    /// When it stopped (killed or retired), for its Fargate bill.
    died_at: Option<Micros>,
    /// Messages left from its last ReceiveMessage (`queue.receive_batch`).
    prefetched: u32,
    /// When it last looked its pair's owner up in the table (`lookup_cache`).
    last_lookup: Option<Micros>,
    /// Told to stop gracefully: it finishes its current message, then releases its claim and
    /// exits.
    stopping: bool,
    /// When the container last went idle with nothing queued: the epoch it was idle in and when
    /// it releases its claim if that epoch lasts. One timer per container is pending at most (a
    /// timer per idle moment left hundreds of thousands of stale timers in the event queue);
    /// a timer that finds the container idle again since it was armed re-arms for the new time.
    idle: Option<(u64, Micros)>,
    idle_timer: bool,
}

impl Container {
    fn ready(&self) -> bool {
        self.alive && self.ready_at.is_none()
    }
}

#[derive(Debug, Default)]
struct Pair {
    queue: VecDeque<QueuedMsg>,
    owner: Option<u64>,
    waiting_claim: bool,
}

#[derive(Debug, Clone, Copy)]
enum Timer {
    Ready(u64),
    Done(u64, u64),
    Redeliver,
    /// A container's idle release may be due; see `Container::idle`.
    IdleRelease(u64),
    Unpause(u64, u64),
    LateReply(u64),
}

/// The simulated system.
pub struct SimTarget {
    params: SimParams,
    pair_keys: Vec<String>,
    rng: ChaCha8Rng,
    containers: Vec<Container>,
    pairs: BTreeMap<String, Pair>,
    claim_queue: VecDeque<String>,
    timers: BTreeMap<u64, Timer>,
    next_token: u64,
    last_sample: Micros,
    /// The calls the modelled system made, for the cost estimate.
    calls: SimCalls,
    /// vCPUs and GB of one container (`[cost]`), for its Fargate bill.
    pub(crate) task_size: (f64, f64),
    /// The queue-depth rule's state.
    scaling: ScalingState,
}

/// When the queue-depth rule next looks, and when it last scaled each way.
#[derive(Debug, Default, Clone, Copy)]
struct ScalingState {
    next_eval: Micros,
    last_out: Option<Micros>,
    last_in: Option<Micros>,
}

/// Calls the modelled system makes, counted as the model runs (see [`SimTarget::usage`]).
#[derive(Debug, Default, Clone, Copy)]
struct SimCalls {
    /// Messages herd put on the work queues.
    sent: u64,
    /// herd's send requests: messages due at the same instant for the same queue go in one
    /// SendMessageBatch of up to 10, as herd sends them.
    send_requests: u64,
    /// The batch being filled: when, which pair's queue, how many in it.
    batch: Option<(Micros, usize, u32)>,
    /// Messages a container received (redeliveries included).
    received: u64,
    /// ReceiveMessage calls that returned them.
    receive_calls: u64,
    /// Ownership lookups that read the table (every message's, less the cache's hits).
    lookups: u64,
    /// Replies a container sent (successes, failures, interruptions).
    replies: u64,
    /// Claims a container took (the router's CLAIM_REQUEST, its receipt, the ownership write).
    claims: u64,
    /// Claims a container gave back (the ownership row deleted).
    releases: u64,
}

impl SimTarget {
    /// Builds the model and starts its warm containers (ready at time zero).
    pub fn new(params: SimParams, sessions: &[Session], seed: u64) -> Self {
        let pair_keys = sessions.iter().map(Session::pair_key).collect();
        let mut sim = Self {
            params,
            pair_keys,
            // A stream of its own, so adding a fault or a phase does not shift processing times.
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5151_7a7a_0000_0001),
            containers: Vec::new(),
            pairs: BTreeMap::new(),
            claim_queue: VecDeque::new(),
            timers: BTreeMap::new(),
            next_token: 0,
            last_sample: 0,
            calls: SimCalls::default(),
            task_size: (1.0, 2.0),
            scaling: ScalingState::default(),
        };
        // A warm pool is ready from the start, as warm containers are.
        for _ in 0..sim.params.warm_containers.max(sim.params.warm_pool) {
            let id = sim.containers.len() as u64;
            sim.containers.push(Container::new(id, 0, None));
        }
        sim
    }

    fn arm(&mut self, io: &mut TargetIo, at: Micros, timer: Timer) {
        let token = self.next_token;
        self.next_token += 1;
        self.timers.insert(token, timer);
        io.timer(at, token);
    }

    fn live_count(&self) -> usize {
        self.containers.iter().filter(|c| c.alive).count()
    }

    fn start_container(&mut self, now: Micros, io: &mut TargetIo) {
        let id = self.containers.len() as u64;
        let took = us(self.params.cold_start.sample(&mut self.rng)).max(1);
        self.containers.push(Container::new(id, now, Some(now + took)));
        self.arm(io, now + took, Timer::Ready(id));
    }

    /// Asks for a container for `pair`: an unclaimed ready one if any, else a new one if the
    /// pool has room, else the pair waits for a release.
    fn request_claim(&mut self, now: Micros, pair: &str, io: &mut TargetIo) {
        let p = self.pairs.entry(pair.to_owned()).or_default();
        if p.owner.is_some() || p.waiting_claim {
            return;
        }
        p.waiting_claim = true;
        // The router sends a CLAIM_REQUEST for a pair nobody owns.
        io.observe(Observation::ClaimSent);
        self.claim_queue.push_back(pair.to_owned());
        self.assign_claims(now, io);
        let starting_free =
            self.containers.iter().filter(|c| c.alive && c.ready_at.is_some() && c.claim.is_none()).count();
        // Only a service that scales on demand starts a container for a waiting claim; one
        // that scales on its own rule lets the claim wait for capacity.
        if self.params.scaling == Scaling::OnDemand
            && self.claim_queue.len() > starting_free
            && self.live_count() < self.params.max_containers as usize
        {
            self.start_container(now, io);
        }
        self.top_up_pool(now, io);
    }

    /// The service's own scaling rule, evaluated as the run goes (on every message and every
    /// sample): a fixed service runs `max` containers; a queue-depth service moves towards the
    /// waiting messages per container once a period, after its cooldowns.
    fn scale(&mut self, now: Micros, io: &mut TargetIo) {
        match self.params.scaling {
            Scaling::OnDemand => {}
            Scaling::Fixed => {
                while self.live_count() < self.params.max_containers as usize {
                    self.start_container(now, io);
                }
            }
            Scaling::QueueDepth { per_container, period, out_cooldown, in_cooldown, min } => {
                if now < self.scaling.next_eval {
                    return;
                }
                self.scaling.next_eval = now + us(period);
                let waiting: usize = self.pairs.values().map(|p| p.queue.len()).sum();
                let desired = ((waiting as f64 / per_container).ceil() as u32).clamp(min, self.params.max_containers);
                let live = self.live_count() as u32;
                let since = |at: Option<Micros>, cooldown: std::time::Duration| {
                    at.is_none_or(|t| now.saturating_sub(t) >= us(cooldown))
                };
                if desired > live && since(self.scaling.last_out, out_cooldown) {
                    self.scaling.last_out = Some(now);
                    for _ in live..desired {
                        self.start_container(now, io);
                    }
                } else if desired < live && since(self.scaling.last_in, in_cooldown) {
                    self.scaling.last_in = Some(now);
                    let mut extra = live - desired;
                    for c in &mut self.containers {
                        if extra == 0 {
                            break;
                        }
                        if c.alive && c.claim.is_none() && c.current.is_none() {
                            c.alive = false;
                            c.died_at = Some(now);
                            c.epoch += 1;
                            extra -= 1;
                        }
                    }
                }
            }
        }
    }

    /// Starts containers until `warm_pool` of them are unclaimed (ready or starting), within
    /// the pool's maximum.
    fn top_up_pool(&mut self, now: Micros, io: &mut TargetIo) {
        if self.params.warm_pool == 0 {
            return;
        }
        loop {
            let spare = self.containers.iter().filter(|c| c.alive && !c.stopping && c.claim.is_none()).count();
            if spare >= self.params.warm_pool as usize || self.live_count() >= self.params.max_containers as usize {
                return;
            }
            self.start_container(now, io);
        }
    }

    /// Gives waiting pairs to ready, unclaimed containers in order, then tops the warm pool up.
    fn assign_claims(&mut self, now: Micros, io: &mut TargetIo) {
        self.assign_waiting(now, io);
        self.top_up_pool(now, io);
    }

    fn assign_waiting(&mut self, now: Micros, io: &mut TargetIo) {
        while let Some(pair) = self.claim_queue.front().cloned() {
            let Some(c) =
                self.containers.iter().position(|c| c.ready() && c.claim.is_none() && c.paused_until.is_none())
            else {
                return;
            };
            self.claim_queue.pop_front();
            let has_work = self.pairs.get(&pair).is_some_and(|p| !p.queue.is_empty());
            let p = self.pairs.entry(pair.clone()).or_default();
            p.waiting_claim = false;
            if !has_work {
                continue;
            }
            p.owner = Some(c as u64);
            self.calls.claims += 1;
            let container = &mut self.containers[c];
            container.claim = Some(pair);
            container.threads_seen.clear();
            container.last_thread = None;
            container.prefetched = 0;
            container.last_lookup = None;
            container.epoch += 1;
            self.dispatch(now, c as u64, io);
        }
    }

    /// Lets an idle container take its pair's next visible message.
    fn dispatch(&mut self, now: Micros, c: u64, io: &mut TargetIo) {
        let ci = c as usize;
        let container = &self.containers[ci];
        if !container.ready() || container.current.is_some() || container.paused_until.is_some() {
            return;
        }
        let Some(pair) = container.claim.clone() else { return };
        let p = self.pairs.entry(pair.clone()).or_default();
        let last = self.containers[ci].last_thread;
        let pick = if self.params.fifo_per_session { pick_per_session(&p.queue, now, last) } else { None };
        let Some(pos) = pick.or_else(|| p.queue.iter().position(|m| m.visible_at <= now)) else {
            // Nothing visible: a hidden message comes back by its own timer; otherwise idle.
            if p.queue.is_empty() {
                let at = now + us(self.params.idle_release);
                let container = &mut self.containers[ci];
                container.idle = Some((container.epoch, at));
                if !container.idle_timer {
                    container.idle_timer = true;
                    self.arm(io, at, Timer::IdleRelease(c));
                }
            }
            return;
        };
        // FIFO: a hidden message ahead of visible ones blocks its group, as on a FIFO queue
        // (with a group per session, `pick_per_session` only offers messages nothing holds back).
        if pos != 0 && pick.is_none() {
            return;
        }
        let msg = p.queue.remove(pos).unwrap_or_else(unreachable_msg);
        let visible_left = p.queue.iter().filter(|m| m.visible_at <= now).count() as u32;
        self.calls.received += 1;
        // A container with messages left from its last receive takes the next without a call.
        let mut extra = 0;
        if self.containers[ci].prefetched > 0 {
            self.containers[ci].prefetched -= 1;
        } else {
            self.calls.receive_calls += 1;
            self.containers[ci].prefetched = visible_left.min(self.params.receive_batch - 1);
            if let Some(d) = &self.params.receive_overhead {
                extra += us(d.sample(&mut self.rng));
            }
        }
        // The ownership lookup before the work: read from the table unless cached.
        let cached = match (self.params.lookup_ttl, self.params.lookup_hit_ratio) {
            (Some(ttl), _) => self.containers[ci].last_lookup.is_some_and(|at| now.saturating_sub(at) < us(ttl)),
            (None, Some(ratio)) => rand::Rng::random_bool(&mut self.rng, ratio.clamp(0.0, 1.0)),
            (None, None) => false,
        };
        if !cached {
            self.calls.lookups += 1;
            self.containers[ci].last_lookup = Some(now);
            if let Some(d) = &self.params.lookup_time {
                extra += us(d.sample(&mut self.rng));
            }
        }
        let thread_changed = self.containers[ci].last_thread.is_some_and(|t| t != msg.session);
        let switch = if thread_changed { us(self.params.switch_cost.sample(&mut self.rng)) } else { 0 };
        if thread_changed {
            io.observe(Observation::SessionSwitch { id: msg.id, took: switch });
        }
        let work = us(self.params.processing.sample(&mut self.rng)).max(1);
        let done_at = now + extra + switch + work;
        let deleted = self.params.delete_before_processing;
        let container = &mut self.containers[ci];
        container.epoch += 1;
        container.busy_since = Some(now);
        container.last_thread = Some(msg.session);
        container.threads_seen.insert(msg.session);
        let epoch = container.epoch;
        container.current = Some(Processing { msg, done_at, deleted });
        self.arm(io, done_at, Timer::Done(c, epoch));
    }

    fn finish_busy(&mut self, now: Micros, c: usize) {
        let container = &mut self.containers[c];
        if let Some(since) = container.busy_since.take() {
            container.busy_accum += now.saturating_sub(since.max(self.last_sample));
            container.busy_total += now.saturating_sub(since);
        }
    }

    fn complete(&mut self, now: Micros, c: u64, io: &mut TargetIo) {
        let ci = c as usize;
        self.finish_busy(now, ci);
        let Some(done) = self.containers[ci].current.take() else { return };
        self.containers[ci].processed += 1;
        self.containers[ci].epoch += 1;
        let failed = self.params.failure_rate > 0.0 && rand::Rng::random_bool(&mut self.rng, self.params.failure_rate);
        self.calls.replies += 1;
        io.observe(Observation::Reply { id: done.msg.id, success: !failed, interrupted: false });
        if !failed {
            let took = us(self.params.preview_load.sample(&mut self.rng));
            io.observe(Observation::PreviewLoad { id: done.msg.id, took });
        }
        if self.containers[ci].stopping {
            self.retire(now, ci, io);
            return;
        }
        self.dispatch(now, c, io);
    }

    /// Preempts the container's current message: it replies `interrupted`.
    fn preempt(&mut self, now: Micros, c: usize, io: &mut TargetIo) -> Option<u64> {
        self.finish_busy(now, c);
        let current = self.containers[c].current.take()?;
        self.containers[c].epoch += 1;
        self.calls.replies += 1;
        io.observe(Observation::Reply { id: current.msg.id, success: false, interrupted: true });
        if self.params.double_reply_on_interrupt {
            // The defect: the interrupted work carries on and reports success as well.
            self.arm(io, current.done_at.max(now + 1), Timer::LateReply(current.msg.id));
        }
        Some(current.msg.id)
    }

    /// A container that was told to stop has no message left: it releases its claim (so the
    /// router may claim the pair again at once) and exits; it is replaced like a killed one.
    fn retire(&mut self, now: Micros, c: usize, io: &mut TargetIo) {
        self.finish_busy(now, c);
        let container = &mut self.containers[c];
        container.alive = false;
        container.died_at = Some(now);
        container.epoch += 1;
        if let Some(pair) = container.claim.take() {
            self.calls.releases += 1;
            let p = self.pairs.entry(pair.clone()).or_default();
            p.owner = None;
            if !p.queue.is_empty() {
                self.request_claim(now, &pair, io);
            }
        }
        if self.params.replace_killed && self.live_count() < self.params.max_containers as usize {
            self.start_container(now, io);
        }
    }

    fn kill_one(&mut self, now: Micros, c: usize, io: &mut TargetIo) -> Option<String> {
        if !self.containers[c].alive {
            return None;
        }
        self.finish_busy(now, c);
        let container = &mut self.containers[c];
        container.alive = false;
        container.died_at = Some(now);
        container.epoch += 1;
        let claim = container.claim.take();
        let current = container.current.take();
        if let Some(pair) = &claim {
            let visibility = us(self.params.visibility_timeout);
            let p = self.pairs.entry(pair.clone()).or_default();
            p.owner = None;
            if let Some(cur) = current.filter(|cur| !cur.deleted) {
                // Received but never deleted: SQS shows it again after the visibility timeout,
                // counted from when the dead container received it.
                let mut msg = cur.msg;
                msg.visible_at = now.max(msg.visible_at) + visibility;
                let at = msg.visible_at;
                p.queue.push_front(msg);
                self.arm(io, at, Timer::Redeliver);
            }
            if self.pairs.get(pair).is_some_and(|p| !p.queue.is_empty()) {
                self.request_claim(now, pair, io);
            }
        }
        if self.params.replace_killed && self.live_count() < self.params.max_containers as usize {
            self.start_container(now, io);
        }
        claim
    }

    fn select(&mut self, select: &ContainerSelector) -> Result<Vec<usize>, String> {
        match select {
            ContainerSelector::OwnerOf(s) => {
                let pair = &self.pair_keys[*s];
                match self.pairs.get(pair).and_then(|p| p.owner) {
                    Some(c) => Ok(vec![c as usize]),
                    None => Err(format!("no container owned {pair} at that moment")),
                }
            }
            ContainerSelector::Index(i) => match self.containers.get(*i as usize) {
                Some(c) if c.alive => Ok(vec![*i as usize]),
                Some(_) => Err(format!("container {i} had already stopped")),
                None => Err(format!("container {i} had not been started")),
            },
            ContainerSelector::Random(n) => {
                let alive: Vec<usize> = self.containers.iter().filter(|c| c.alive).map(|c| c.id as usize).collect();
                if alive.is_empty() {
                    return Err("no container was running".into());
                }
                let mut chosen: Vec<usize> = alive.choose_multiple(&mut self.rng, *n as usize).copied().collect();
                chosen.sort_unstable();
                Ok(chosen)
            }
        }
    }

    fn memory(&self, c: &Container) -> u64 {
        let p = &self.params;
        p.memory_base
            + p.memory_per_session * c.threads_seen.len() as u64
            + p.memory_leak_per_message * c.processed
            + if c.current.is_some() { p.memory_busy } else { 0 }
    }
}

#[cold]
fn unreachable_msg() -> QueuedMsg {
    QueuedMsg { id: u64::MAX, session: 0, visible_at: 0 }
}

impl Container {
    fn new(id: u64, asked_at: Micros, ready_at: Option<Micros>) -> Self {
        Self {
            id,
            alive: true,
            ready_at,
            asked_at,
            paused_until: None,
            claim: None,
            current: None,
            last_thread: None,
            threads_seen: BTreeSet::new(),
            processed: 0,
            epoch: 0,
            busy_since: None,
            busy_accum: 0,
            busy_total: 0,
            died_at: None,
            prefetched: 0,
            last_lookup: None,
            stopping: false,
            idle: None,
            idle_timer: false,
        }
    }
}

/// With a FIFO group per session: the queue position of the message to take, among those
/// whose session has no hidden message ahead of them, the container's current thread's first.
fn pick_per_session(queue: &VecDeque<QueuedMsg>, now: Micros, last: Option<usize>) -> Option<usize> {
    let mut held: BTreeSet<usize> = BTreeSet::new();
    let mut first = None;
    for (i, m) in queue.iter().enumerate() {
        if held.contains(&m.session) {
            continue;
        }
        if m.visible_at > now {
            held.insert(m.session);
            continue;
        }
        if Some(m.session) == last {
            return Some(i);
        }
        first.get_or_insert(i);
        // Only the first message of a session can be taken.
        held.insert(m.session);
    }
    first
}

impl Target for SimTarget {
    /// The modelled system's calls, all modelled: a received message costs the container a
    /// ReceiveMessage (one message a receive, as the real containers take them) and a
    /// DeleteMessage, a reply a SendMessage and a DynamoDB read (the ownership check before the
    /// reply), and a claim the router's CLAIM_REQUEST, its receipt and a conditional write
    /// (a release deletes the row: one more write); an idle container long-polls its queue
    /// every 20 s; each container is billed by the second from the moment it was asked for to
    /// its end (one minute at least). herd's own side: a send request per batch (messages due
    /// at the same instant for the same queue, up to 10) and a ReceiveMessage per 10 replies.
    fn usage(&self, now: Micros) -> crate::cost::Usage {
        use crate::cost::{Basis, Usage, UsageKind, billed_seconds};
        let c = self.calls;
        let mut u = Usage::default();
        let mut container_seconds = 0.0;
        let mut idle_polls = 0.0;
        for k in &self.containers {
            let end = k.died_at.unwrap_or(now);
            container_seconds += billed_seconds(end.saturating_sub(k.asked_at) as f64 / 1e6);
            let ready = k.ready_at.map_or(k.asked_at, |r| r.min(end));
            let busy = k.busy_total + k.busy_since.map_or(0, |s| end.saturating_sub(s));
            let idle = end.saturating_sub(ready).saturating_sub(busy) as f64 / 1e6;
            idle_polls += (idle / 20.0).floor();
        }
        let system_sqs = (c.receive_calls + c.received + c.replies + 2 * c.claims) as f64 + idle_polls;
        u.add(UsageKind::SqsRequests, system_sqs, Basis::Modelled, "system");
        u.add(UsageKind::FargateVcpuSeconds, container_seconds * self.task_size.0, Basis::Modelled, "system");
        u.add(UsageKind::FargateGbSeconds, container_seconds * self.task_size.1, Basis::Modelled, "system");
        u.add(UsageKind::DynamodbWriteUnits, (c.claims + c.releases) as f64, Basis::Modelled, "system");
        u.add(UsageKind::DynamodbReadUnits, c.lookups as f64, Basis::Modelled, "system");
        u.add(
            UsageKind::SqsRequests,
            c.send_requests as f64 + (c.replies as f64 / 10.0).ceil(),
            Basis::Modelled,
            "herd",
        );
        u
    }

    fn send(&mut self, now: Micros, msg: &Outbound, io: &mut TargetIo) {
        self.scale(now, io);
        let pair = self.pair_keys[msg.session].clone();
        self.calls.sent += 1;
        let same_batch = self
            .calls
            .batch
            .is_some_and(|(at, s, n)| at == now && n < 10 && self.pair_keys.get(s).is_some_and(|p| *p == pair));
        match (&mut self.calls.batch, same_batch) {
            (Some((_, _, n)), true) => *n += 1,
            (slot, _) => {
                *slot = Some((now, msg.session, 1));
                self.calls.send_requests += 1;
            }
        }
        let queued = QueuedMsg { id: msg.id, session: msg.session, visible_at: now };
        let p = self.pairs.entry(pair.clone()).or_default();
        p.queue.push_back(queued);
        match p.owner {
            Some(c) => {
                let ci = c as usize;
                let interrupts = match (&self.containers[ci].current, self.params.interrupt_policy) {
                    // The router was told to interrupt whatever the container is doing.
                    (Some(_), _) if msg.interrupt_first => true,
                    (Some(_), InterruptPolicy::Always) => true,
                    (Some(cur), InterruptPolicy::OtherThread) => cur.msg.session != msg.session,
                    _ => false,
                };
                if interrupts && self.containers[ci].paused_until.is_none() {
                    // The router sends an INTERRUPT before the new message.
                    io.observe(Observation::InterruptSent { session: Some(msg.session) });
                    self.preempt(now, ci, io);
                }
                self.dispatch(now, c, io);
            }
            None => self.request_claim(now, &pair, io),
        }
    }

    fn on_timer(&mut self, now: Micros, token: u64, io: &mut TargetIo) {
        let Some(timer) = self.timers.remove(&token) else { return };
        match timer {
            Timer::Ready(c) => {
                let ci = c as usize;
                if !self.containers[ci].alive {
                    return;
                }
                let took = now - self.containers[ci].asked_at;
                self.containers[ci].ready_at = None;
                io.observe(Observation::ContainerStarted { container: c, took });
                self.assign_claims(now, io);
            }
            Timer::Done(c, epoch) => {
                if self.containers[c as usize].epoch == epoch && self.containers[c as usize].alive {
                    self.complete(now, c, io);
                }
            }
            Timer::Redeliver => {
                let pairs: Vec<String> =
                    self.pairs.iter().filter(|(_, p)| !p.queue.is_empty()).map(|(k, _)| k.clone()).collect();
                for pair in pairs {
                    match self.pairs.get(&pair).and_then(|p| p.owner) {
                        Some(c) => self.dispatch(now, c, io),
                        None => self.request_claim(now, &pair, io),
                    }
                }
            }
            Timer::IdleRelease(c) => {
                let ci = c as usize;
                let container = &mut self.containers[ci];
                container.idle_timer = false;
                let Some((epoch, at)) = container.idle else { return };
                if container.epoch != epoch || !container.alive || container.current.is_some() {
                    return;
                }
                if at > now {
                    // Idle again since the timer was armed: its release is due later.
                    container.idle_timer = true;
                    self.arm(io, at, Timer::IdleRelease(c));
                    return;
                }
                container.idle = None;
                if let Some(pair) = self.containers[ci].claim.take() {
                    self.containers[ci].epoch += 1;
                    self.calls.releases += 1;
                    if let Some(p) = self.pairs.get_mut(&pair) {
                        p.owner = None;
                    }
                    self.assign_claims(now, io);
                }
            }
            Timer::Unpause(c, epoch) => {
                let ci = c as usize;
                if self.containers[ci].epoch != epoch || !self.containers[ci].alive {
                    return;
                }
                self.containers[ci].paused_until = None;
                self.containers[ci].epoch += 1;
                let epoch = self.containers[ci].epoch;
                if let Some(done_at) = self.containers[ci].current.as_ref().map(|p| p.done_at) {
                    self.containers[ci].busy_since = Some(now);
                    self.arm(io, done_at, Timer::Done(c, epoch));
                } else if self.containers[ci].claim.is_some() {
                    self.dispatch(now, c, io);
                } else {
                    self.assign_claims(now, io);
                }
            }
            Timer::LateReply(id) => io.observe(Observation::Reply { id, success: true, interrupted: false }),
        }
    }

    fn kill(&mut self, now: Micros, fault: usize, select: &ContainerSelector, io: &mut TargetIo) {
        let mut effects = TargetIo::default();
        let outcome = self.kill_now(now, select, &mut effects);
        report(io, fault, outcome, effects);
    }

    fn stop(&mut self, now: Micros, fault: usize, select: &ContainerSelector, io: &mut TargetIo) {
        let mut effects = TargetIo::default();
        let outcome = self.stop_now(now, select, &mut effects);
        report(io, fault, outcome, effects);
    }

    fn pause(&mut self, now: Micros, fault: usize, select: &ContainerSelector, duration: Micros, io: &mut TargetIo) {
        let mut effects = TargetIo::default();
        let outcome = self.pause_now(now, select, duration, &mut effects);
        report(io, fault, outcome, effects);
    }

    fn interrupt(&mut self, now: Micros, fault: usize, session: usize, io: &mut TargetIo) {
        let mut effects = TargetIo::default();
        let outcome = self.interrupt_now(now, session, &mut effects);
        report(io, fault, outcome, effects);
    }

    fn sample(&mut self, now: Micros, io: &mut TargetIo) {
        self.scale(now, io);
        let gauges = self.sample_now(now);
        io.observe(Observation::Gauges(gauges));
    }
}

/// Reports a fault's outcome before its effects (the replies of the messages it struck), so the
/// runtime knows of the kill when those replies come in.
fn report(io: &mut TargetIo, fault: usize, outcome: FaultOutcome, effects: TargetIo) {
    io.timers.extend(effects.timers);
    io.fault_done(fault, outcome);
    io.observations.extend(effects.observations);
}

impl SimTarget {
    fn kill_now(&mut self, now: Micros, select: &ContainerSelector, io: &mut TargetIo) -> FaultOutcome {
        let chosen = match self.select(select) {
            Ok(c) => c,
            Err(detail) => return FaultOutcome { detail, ..FaultOutcome::default() },
        };
        let mut out = FaultOutcome::default();
        for c in chosen {
            if let Some(pair) = self.kill_one(now, c, io) {
                out.pairs.push(pair);
            }
            out.containers.push(c as u64);
        }
        out.detail = format!(
            "killed container{} {}",
            if out.containers.len() == 1 { "" } else { "s" },
            out.containers.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        );
        out
    }

    fn stop_now(&mut self, now: Micros, select: &ContainerSelector, io: &mut TargetIo) -> FaultOutcome {
        let chosen = match self.select(select) {
            Ok(c) => c,
            Err(detail) => return FaultOutcome { detail, ..FaultOutcome::default() },
        };
        let mut out = FaultOutcome::default();
        for c in chosen {
            if !self.containers[c].alive {
                continue;
            }
            if let Some(pair) = &self.containers[c].claim {
                out.pairs.push(pair.clone());
            }
            out.containers.push(c as u64);
            if self.containers[c].current.is_some() {
                self.containers[c].stopping = true;
            } else {
                self.retire(now, c, io);
            }
        }
        out.detail = format!(
            "stopped container{} {} gracefully",
            if out.containers.len() == 1 { "" } else { "s" },
            out.containers.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        );
        out
    }

    fn pause_now(
        &mut self,
        now: Micros,
        select: &ContainerSelector,
        duration: Micros,
        io: &mut TargetIo,
    ) -> FaultOutcome {
        let chosen = match self.select(select) {
            Ok(c) => c,
            Err(detail) => return FaultOutcome { detail, ..FaultOutcome::default() },
        };
        let mut out = FaultOutcome::default();
        for c in chosen {
            self.finish_busy(now, c);
            let container = &mut self.containers[c];
            let until = container.paused_until.unwrap_or(now).max(now) + duration;
            container.paused_until = Some(until);
            container.epoch += 1;
            if let Some(cur) = container.current.as_mut() {
                cur.done_at += duration;
            }
            let epoch = container.epoch;
            if let Some(pair) = &container.claim {
                out.pairs.push(pair.clone());
            }
            out.containers.push(c as u64);
            self.arm(io, until, Timer::Unpause(c as u64, epoch));
        }
        out.detail = format!(
            "paused {} container(s) for {}",
            out.containers.len(),
            crate::plan::format_duration(std::time::Duration::from_micros(duration))
        );
        out
    }

    fn interrupt_now(&mut self, now: Micros, session: usize, io: &mut TargetIo) -> FaultOutcome {
        let pair = self.pair_keys[session].clone();
        let Some(c) = self.pairs.get(&pair).and_then(|p| p.owner) else {
            return FaultOutcome {
                detail: format!("no container owned {pair}; nothing to interrupt"),
                ..FaultOutcome::default()
            };
        };
        io.observe(Observation::InterruptSent { session: Some(session) });
        match self.preempt(now, c as usize, io) {
            Some(id) => {
                self.dispatch(now, c, io);
                FaultOutcome {
                    containers: vec![c],
                    pairs: vec![pair],
                    detail: format!("interrupted message {id} on container {c}"),
                }
            }
            None => FaultOutcome {
                containers: vec![c],
                pairs: vec![pair],
                detail: format!("container {c} was idle; nothing to interrupt"),
            },
        }
    }

    fn sample_now(&mut self, now: Micros) -> GaugeSample {
        let interval = now.saturating_sub(self.last_sample).max(1);
        let mut out = GaugeSample::default();
        for c in 0..self.containers.len() {
            if !self.containers[c].alive {
                continue;
            }
            // A container still cold-starting is not running yet: a kill shows as a dip in
            // `containers_running` until its replacement is ready.
            if self.containers[c].ready_at.is_some() {
                out.starting += 1;
                continue;
            }
            out.running += 1;
            let container = &mut self.containers[c];
            let mut busy = container.busy_accum;
            if let Some(since) = container.busy_since {
                busy += now.saturating_sub(since.max(self.last_sample));
            }
            container.busy_accum = 0;
            let fraction = (busy as f64 / interval as f64).clamp(0.0, 1.0);
            let cpu = self.params.cpu_idle + (self.params.cpu_busy - self.params.cpu_idle) * fraction;
            let memory = self.memory(&self.containers[c]);
            out.containers.push((c as u64, memory, (cpu * 100.0).round() as u64));
        }
        out.owners_known = true;
        for (key, pair) in &self.pairs {
            let depth = pair.queue.iter().filter(|m| m.visible_at <= now).count() as u64;
            out.queue_depth += depth;
            out.queues.push(QueueGauge { pairs: vec![key.clone()], depth });
            if let Some(c) = pair.owner.filter(|c| self.containers.get(*c as usize).is_some_and(Container::ready)) {
                out.owners.push((key.clone(), c));
            }
        }
        self.last_sample = now;
        out
    }
}
