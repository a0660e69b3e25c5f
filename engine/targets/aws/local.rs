//! Local worker processes: started by herd in their own process group with a parent-death
//! signal (so none outlives herd, however herd ends), each with its own working folder and log
//! file; ready when a line of their output matches `ready`; known by the id they make up for
//! themselves (learned from their output or from the ownership table) or by the one herd gives
//! them. Stopped with SIGTERM and, after a grace, SIGKILL; killed with SIGKILL.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use regex::Regex;
use tokio::sync::mpsc::UnboundedSender;

use super::compile::{IdSource, LocalParams, local_env_vars};
use super::router::{Inbound, RouterMsg, seen};
use crate::plan::ContainerSelector;

/// What every worker's environment is made from.
pub(crate) struct LocalSetup {
    pub params: LocalParams,
    /// Variables set for every worker before its own `env` (AWS_ENDPOINT_URL, AWS_REGION, ...).
    pub base_env: Vec<(String, String)>,
    pub endpoint_url: String,
    pub callback_url: String,
    pub scenario: String,
    pub claim_queue_url: String,
    pub work_queue_urls: Vec<String>,
    /// Where each worker's output is written, `<id>.log`; none when nobody asked for files.
    pub logs_dir: Option<PathBuf>,
    pub router: UnboundedSender<RouterMsg>,
}

/// A worker's id as herd knows it: learned from the worker, else the one herd gave it.
#[derive(Default)]
struct Learned {
    id: Option<String>,
    log: Option<PathBuf>,
}

struct Proc {
    index: u64,
    given_id: String,
    learned: Arc<Mutex<Learned>>,
    child: Child,
    alive: bool,
    cpu: Option<(u64, Instant)>,
    ready: Arc<AtomicBool>,
    dir: PathBuf,
}

impl Proc {
    fn id(&self) -> String {
        self.learned.lock().ok().and_then(|l| l.id.clone()).unwrap_or_else(|| self.given_id.clone())
    }

    fn learned_id(&self) -> bool {
        self.learned.lock().is_ok_and(|l| l.id.is_some())
    }

    /// Sends `sig` to the worker's whole process group (its children too).
    fn signal(&self, sig: i32) {
        let group = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals the process group the worker leads (it was
        // started with process_group(0)); it touches no memory of ours.
        #[expect(unsafe_code, reason = "signalling a process group needs kill(2)")]
        unsafe {
            libc::kill(-group, sig);
        }
    }

    /// Whether it has exited (reaping it if so).
    fn exited(&mut self) -> bool {
        if self.alive && matches!(self.child.try_wait(), Ok(Some(_))) {
            self.alive = false;
        }
        !self.alive
    }

    fn force_kill(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.alive = false;
    }
}

/// Local worker processes.
pub(crate) struct Local {
    setup: LocalSetup,
    ready: Regex,
    id_pattern: Option<Regex>,
    kills: u64,
    procs: Vec<Proc>,
    root: PathBuf,
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

/// A file name for a worker id that may hold anything.
fn log_name(id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .collect();
    format!("{}.log", clean.trim_start_matches('.'))
}

/// Reads one of a worker's streams: every line goes to its log; the first line matching
/// `ready` reports the worker started; the first capture of `id` becomes its id.
struct Reader {
    ready: Regex,
    id: Option<Regex>,
    ready_flag: Arc<AtomicBool>,
    learned: Arc<Mutex<Learned>>,
    log: Option<Arc<Mutex<File>>>,
    logs_dir: Option<PathBuf>,
    router: UnboundedSender<RouterMsg>,
    spawned: Instant,
}

impl Reader {
    fn run(self, stream: impl std::io::Read) {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(log) = &self.log
                && let Ok(mut f) = log.lock()
            {
                let _ = writeln!(f, "{line}");
            }
            if !self.ready_flag.load(Ordering::SeqCst)
                && self.ready.is_match(&line)
                && !self.ready_flag.swap(true, Ordering::SeqCst)
            {
                seen(&self.router, Inbound::ContainerStarted(self.spawned.elapsed().as_micros() as u64));
            }
            if let Some(re) = &self.id
                && let Some(id) = re.captures(&line).and_then(|c| c.get(1)).map(|m| m.as_str().to_owned())
            {
                learn(&self.learned, id, self.logs_dir.as_deref());
            }
        }
    }
}

/// Records a worker's own id once, and renames its log after it.
fn learn(learned: &Mutex<Learned>, id: String, logs_dir: Option<&Path>) {
    let Ok(mut l) = learned.lock() else { return };
    if l.id.is_some() {
        return;
    }
    if let (Some(dir), Some(old)) = (logs_dir, l.log.clone()) {
        let new = dir.join(log_name(&id));
        if std::fs::rename(&old, &new).is_ok() {
            l.log = Some(new);
        }
    }
    tracing::info!(target: "herd::aws", "a local worker calls itself {id}");
    l.id = Some(id);
}

impl Local {
    /// Starts `count` workers.
    pub(crate) fn start(setup: LocalSetup) -> Result<Self, String> {
        let ready = Regex::new(&setup.params.ready).map_err(|e| format!("`ready`: {e}"))?;
        let id_pattern = match &setup.params.id {
            IdSource::Output(p) => Some(Regex::new(p).map_err(|e| format!("`id`: {e}"))?),
            IdSource::Env | IdSource::Ownership => None,
        };
        let root = std::env::temp_dir().join(format!("herd-{}-{}", setup.scenario, std::process::id()));
        if let Some(dir) = &setup.logs_dir {
            // Logs of an earlier run of the same scenario would be mistaken for this run's.
            let _ = std::fs::remove_dir_all(dir);
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let mut l = Self { setup, ready, id_pattern, kills: 0, procs: Vec::new(), root };
        for _ in 0..l.setup.params.count {
            l.spawn()?;
        }
        Ok(l)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let index = self.procs.len() as u64;
        let given_id = format!("local-{index}");
        let dir = self.root.join(&given_id);
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let s = &self.setup;
        let vars = local_env_vars(
            &s.endpoint_url,
            &s.callback_url,
            &s.scenario,
            index,
            &dir.to_string_lossy(),
            &s.claim_queue_url,
            &s.work_queue_urls,
        );
        let mut env = s.base_env.clone();
        for (k, v) in &s.params.env {
            let value = crate::plan::render_once_public(v, &vars).map_err(|e| format!("container env {k}: {e}"))?;
            env.push((k.clone(), value));
        }
        let (program, args) = s.params.command.split_first().ok_or("the container command is empty")?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("HERD_CONTAINER_ID", &given_id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a stop or a kill reaches the worker's children too.
            .process_group(0);
        // SAFETY: the closure runs in the child between fork and exec and only calls prctl(2),
        // which is async-signal-safe; it allocates nothing.
        #[expect(unsafe_code, reason = "a parent-death signal needs prctl(2) in the child")]
        unsafe {
            cmd.pre_exec(|| {
                // When herd dies, however it dies, the worker gets SIGKILL.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {program}: {e}"))?;
        let spawned = Instant::now();
        let learned = Arc::new(Mutex::new(Learned::default()));
        let log = match &s.logs_dir {
            Some(d) => {
                let path = d.join(log_name(&given_id));
                let file = File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                if let Ok(mut l) = learned.lock() {
                    l.log = Some(path);
                }
                Some(Arc::new(Mutex::new(file)))
            }
            None => None,
        };
        let ready = Arc::new(AtomicBool::new(false));
        let reader = |_: ()| Reader {
            ready: self.ready.clone(),
            id: self.id_pattern.clone(),
            ready_flag: ready.clone(),
            learned: learned.clone(),
            log: log.clone(),
            logs_dir: s.logs_dir.clone(),
            router: s.router.clone(),
            spawned,
        };
        // The output is read to its end so the worker never blocks on a full pipe.
        if let Some(out) = child.stdout.take() {
            let r = reader(());
            std::thread::spawn(move || r.run(out));
        }
        if let Some(err) = child.stderr.take() {
            let r = reader(());
            std::thread::spawn(move || r.run(err));
        }
        self.procs.push(Proc { index, given_id, learned, child, alive: true, cpu: None, ready, dir });
        Ok(())
    }

    /// Waits until every worker is ready or `deadline` has passed; returns the ids of those
    /// that were not ready.
    pub(crate) fn wait_ready(&mut self, deadline: Duration) -> Vec<String> {
        let started = Instant::now();
        loop {
            let waiting: Vec<&Proc> = self.procs.iter().filter(|p| !p.ready.load(Ordering::SeqCst)).collect();
            if waiting.is_empty() {
                return Vec::new();
            }
            if started.elapsed() >= deadline {
                return waiting.iter().map(|p| p.id()).collect();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
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
                match self.procs.iter().position(|p| p.id() == owner) {
                    Some(i) if self.procs[i].alive => Ok(vec![i]),
                    Some(_) => Err(format!("container {owner} had already stopped")),
                    None => Err(format!(
                        "the owner {owner} is none of herd's workers ({}); set `id` so herd learns the ids they use",
                        self.procs.iter().map(Proc::id).collect::<Vec<_>>().join(", ")
                    )),
                }
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

    fn replace(&mut self, n: usize) {
        if self.setup.params.replace_killed {
            for _ in 0..n {
                if let Err(e) = self.spawn() {
                    seen(&self.setup.router, Inbound::Error(e));
                }
            }
        }
    }

    /// Kills the selected workers with SIGKILL and starts replacements.
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
            if self.kills >= self.setup.params.max_kills {
                break;
            }
            self.procs[i].force_kill();
            self.kills += 1;
            killed.push(self.procs[i].id());
        }
        self.replace(killed.len());
        let detail = if killed.is_empty() {
            "killed no process".into()
        } else {
            format!("killed {} with SIGKILL", killed.join(", "))
        };
        (killed, detail)
    }

    /// Sends SIGTERM to the selected workers; returns their indices and ids. The caller waits
    /// for them with `exited` and ends the wait with `finish_stop`.
    pub(crate) fn begin_stop(
        &mut self,
        select: &ContainerSelector,
        owner: Option<String>,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<(usize, String)>, String> {
        let chosen = self.chosen(select, owner, rng)?;
        let mut out = Vec::new();
        for i in chosen {
            if self.kills >= self.setup.params.max_kills {
                break;
            }
            self.kills += 1;
            self.procs[i].signal(libc::SIGTERM);
            out.push((i, self.procs[i].id()));
        }
        Ok(out)
    }

    /// Whether worker `i` has exited.
    pub(crate) fn exited(&mut self, i: usize) -> bool {
        self.procs.get_mut(i).is_none_or(Proc::exited)
    }

    /// Ends a stop: SIGKILL for those still running after the grace, replacements for all;
    /// returns the ids that needed SIGKILL.
    pub(crate) fn finish_stop(&mut self, stopped: &[(usize, String)]) -> Vec<String> {
        let mut forced = Vec::new();
        for (i, id) in stopped {
            if !self.procs[*i].exited() {
                self.procs[*i].force_kill();
                forced.push(id.clone());
            }
        }
        self.replace(stopped.len());
        forced
    }

    /// The grace between SIGTERM and SIGKILL.
    pub(crate) fn grace(&self) -> Duration {
        self.setup.params.grace
    }

    /// Freezes the selected workers (SIGSTOP) and thaws them (SIGCONT) after `duration`.
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
            self.procs[i].signal(libc::SIGSTOP);
            paused.push(self.procs[i].id());
            let group = self.procs[i].child.id() as libc::pid_t;
            std::thread::spawn(move || {
                std::thread::sleep(duration);
                // SAFETY: as in `Proc::signal`: kill(2) on the worker's process group.
                #[expect(unsafe_code, reason = "signalling a process group needs kill(2)")]
                unsafe {
                    libc::kill(-group, libc::SIGCONT);
                }
            });
        }
        (paused.clone(), format!("paused {} for {}", paused.join(", "), crate::plan::format_duration(duration)))
    }

    /// (index, memory bytes, CPU hundredths of a percent) of each live worker; notices exits.
    pub(crate) fn sample(&mut self) -> Vec<(u64, u64, u64)> {
        let mut out = Vec::new();
        for p in &mut self.procs {
            if p.exited() {
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
            out.push((p.index, mem, cpu));
        }
        out
    }

    /// The ids of the workers that have exited.
    pub(crate) fn dead_ids(&self) -> Vec<String> {
        self.procs.iter().filter(|p| !p.alive).map(Proc::id).collect()
    }

    /// Live workers.
    /// Workers alive and ready.
    pub(crate) fn running(&self) -> u64 {
        self.procs.iter().filter(|p| p.alive && p.ready.load(std::sync::atomic::Ordering::SeqCst)).count() as u64
    }

    /// The index of the live, ready worker whose container id is `id`.
    pub(crate) fn ready_index(&self, id: &str) -> Option<u64> {
        self.procs
            .iter()
            .find(|p| p.alive && p.ready.load(std::sync::atomic::Ordering::SeqCst) && p.id() == id)
            .map(|p| p.index)
    }

    /// Workers alive but not ready yet.
    pub(crate) fn starting(&self) -> u64 {
        self.procs.iter().filter(|p| p.alive && !p.ready.load(std::sync::atomic::Ordering::SeqCst)).count() as u64
    }

    /// Whether some worker still waits for its id from the ownership table.
    pub(crate) fn awaiting_owner_ids(&self) -> bool {
        self.setup.params.id == IdSource::Ownership && self.procs.iter().any(|p| p.alive && !p.learned_id())
    }

    /// Gives owner ids that no worker has yet to the workers still without one, oldest first.
    pub(crate) fn assign_owner_ids(&mut self, owners: &[String]) {
        let known: Vec<String> = self.procs.iter().filter(|p| p.learned_id()).map(Proc::id).collect();
        let mut fresh = owners.iter().filter(|o| !o.is_empty() && !known.contains(o));
        for p in self.procs.iter().filter(|p| p.alive && !p.learned_id()) {
            let Some(id) = fresh.next() else { return };
            learn(&p.learned, id.clone(), self.setup.logs_dir.as_deref());
        }
    }

    /// The workers' log files.
    pub(crate) fn logs(&self) -> Vec<PathBuf> {
        self.procs.iter().filter_map(|p| p.learned.lock().ok().and_then(|l| l.log.clone())).collect()
    }

    /// Stops every worker still running: SIGTERM to all, then SIGKILL for those still running
    /// after the grace. Returns the ids that needed SIGKILL.
    pub(crate) fn stop_all(&mut self) -> Vec<String> {
        for p in self.procs.iter().filter(|p| p.alive) {
            p.signal(libc::SIGTERM);
        }
        let started = Instant::now();
        while self.procs.iter_mut().any(|p| !p.exited()) && started.elapsed() < self.setup.params.grace {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut forced = Vec::new();
        for p in self.procs.iter_mut().filter(|p| p.alive) {
            forced.push(p.id());
            p.force_kill();
        }
        forced
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        for p in self.procs.iter_mut().filter(|p| p.alive) {
            p.force_kill();
        }
        for p in &self.procs {
            let _ = std::fs::remove_dir_all(&p.dir);
        }
        let _ = std::fs::remove_dir(&self.root);
    }
}
