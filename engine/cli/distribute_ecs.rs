//! `herd run --distribute ecs --workers N`: one scenario spread over N ECS tasks of the herd
//! image. The coordinator ships the scenario and its files to S3, starts one task per slice
//! with `--segment i/N --start-at T --s3-run <folder>`, follows them on one line (ECS for
//! their state, S3 for their totals), collects their output folders from S3 and merges them.
//! It stops every task it started when it is interrupted or when a task fails.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use herd::distribute::{EcsDistribution, Fleet, RunStore, S3Location, TaskState, WorkerProgress, bundle, slice_folder};
use herd::plan::{Plan, format_duration};
use herd::report::{Renderer, RunSummary, read_summary};
use herd::runtime::{Accounting, ClockKind};
use herd::text::printable_text;
use herd::{EXIT_INTERRUPTED, EXIT_INVALID, EXIT_TARGET, HerdError};

use super::args::RunArgs;
use super::distribute::{describe_code, merge_and_write, slices_fit};

/// How often the coordinator asks ECS and S3 how the workers are doing.
const POLL: Duration = Duration::from_secs(2);

/// After the run's planned end, how long the coordinator waits for the workers before it
/// stops them: time to drain, clean up and upload.
const FINISH_MARGIN: Duration = Duration::from_secs(15 * 60);

/// Once the tasks are told to stop, how long their results may take to arrive (ECS gives a
/// container 30 s after SIGTERM by default, and uploads take their time).
const STOP_MARGIN: Duration = Duration::from_secs(90);

/// One slice's worker as the coordinator follows it.
struct Slice {
    index: u32,
    /// How many slices the run was cut into (more than were started, if it was stopped while
    /// starting them).
    count: u32,
    arn: String,
    progress: Option<WorkerProgress>,
    task: Option<TaskState>,
}

impl Slice {
    fn done(&self) -> Option<u8> {
        self.progress.as_ref().filter(|p| p.state == "done").and_then(|p| p.exit_code)
    }
}

/// The settings from the scenario and the flags, flags winning; the target's region and
/// endpoint when neither names one.
fn settings(plan: &Plan, args: &RunArgs) -> Result<herd::distribute::EcsSettings, String> {
    let e = &args.ecs;
    let mut flags = EcsDistribution {
        cluster: e.ecs_cluster.clone(),
        task_definition: e.ecs_task_definition.clone(),
        container: e.ecs_container.clone(),
        subnets: e.ecs_subnets.clone(),
        security_groups: e.ecs_security_groups.clone(),
        assign_public_ip: e.ecs_public_ip.then_some(true),
        spot: e.ecs_spot.then_some(true),
        bucket: e.s3_bucket.clone(),
        prefix: None,
        lead: e.ecs_lead,
        region: None,
        endpoint_url: None,
    };
    if let Some(b) = &flags.bucket {
        herd::distribute::check_bucket(b).map_err(|m| format!("--s3-bucket: {m}"))?;
    }
    if let Some(p) = &e.s3_prefix {
        flags.prefix = Some(herd::distribute::check_prefix(p).map_err(|m| format!("--s3-prefix: {m}"))?);
    }
    for s in &flags.subnets {
        herd::distribute::check_subnet(s).map_err(|m| format!("--ecs-subnets: {m}"))?;
    }
    for s in &flags.security_groups {
        herd::distribute::check_security_group(s).map_err(|m| format!("--ecs-security-groups: {m}"))?;
    }
    let mut merged = plan.distribute.clone().unwrap_or_default().overlaid_with(flags);
    let at = plan.target.location();
    merged.region = merged.region.or(at.region);
    merged.endpoint_url = merged.endpoint_url.or(at.endpoint_url);
    merged.resolve()
}

/// A name for this run's S3 folder: the scenario, the time, and a few random characters.
fn run_id(plan: &Plan) -> String {
    let time = humantime::format_rfc3339_seconds(SystemTime::now()).to_string().replace([':', '-'], "");
    let short = format!("{:08x}", rand::random::<u32>());
    format!("{}-{}-{}", plan.name, time.trim_end_matches('Z'), &short[..6])
}

/// Runs `plan` over `workers` ECS tasks and merges them into `<out>/<name>/`. Returns the exit
/// code.
pub(crate) fn run_ecs(
    plan: &Plan,
    args: &RunArgs,
    workers: u32,
    stop: &AtomicBool,
    hurry: &AtomicBool,
    renderer: &Renderer,
) -> Result<u8> {
    if !slices_fit(plan, workers) {
        return Ok(EXIT_INVALID);
    }
    let settings = match settings(plan, args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}: {}", plan.file, printable_text(&e));
            return Ok(EXIT_INVALID);
        }
    };
    let files = match bundle(plan) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {}: {}", plan.file, printable_text(&e.to_string()));
            return Ok(EXIT_INVALID);
        }
    };
    let dir = args.out.join(&plan.name);
    std::fs::create_dir_all(&dir).map_err(|e| HerdError::output(&dir, e))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let id = run_id(plan);
    let at = S3Location { bucket: settings.bucket.clone(), prefix: format!("{}{id}/", settings.prefix) };
    let store =
        rt.block_on(RunStore::connect(at.clone(), settings.region.as_deref(), settings.endpoint_url.as_deref()));
    // Nothing is started before the bucket, every file and the task definition are known good.
    let prepared = rt.block_on(async {
        store.check().await?;
        for (path, name) in &files.files {
            let body = std::fs::read(path).map_err(|e| herd::distribute::DistributeError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            store.put(&format!("input/{name}"), body).await?;
        }
        Fleet::connect(settings.clone()).await
    });
    let mut fleet = match prepared {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}: {}", plan.file, printable_text(&e.to_string()));
            return Ok(EXIT_TARGET);
        }
    };
    let clock = args.clock.unwrap_or(plan.target.default_clock());
    let start_at = match clock {
        ClockKind::Real => Some(args.start_at.unwrap_or_else(|| SystemTime::now() + settings.lead)),
        ClockKind::Virtual => None,
    };
    let manifest = serde_json::json!({
        "scenario": files.scenario, "workers": workers, "seed": plan.seed,
        "start_at": start_at.map(|t| humantime::format_rfc3339_millis(t).to_string()),
        "settings": settings,
    });
    let _ = rt.block_on(store.put("run.json", serde_json::to_vec_pretty(&manifest).unwrap_or_default()));
    eprintln!("herd: {} on {workers} ECS tasks in {} (run folder {at})", plan.name, settings.cluster);
    // The workers reach the bucket where the coordinator does.
    let mut environment = Vec::new();
    if let Some(r) = &settings.region {
        environment.push(("HERD_S3_REGION".to_owned(), r.clone()));
    }
    if let Some(e) = &settings.endpoint_url {
        environment.push(("HERD_S3_ENDPOINT_URL".to_owned(), e.clone()));
    }
    let mut slices: Vec<Slice> = Vec::new();
    for i in 1..=workers {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let command = worker_command(plan, args, &files.scenario, i, workers, start_at, &at);
        match rt.block_on(fleet.start(command, &environment, &format!("herd-{}", &id[id.len() - 6..]))) {
            Ok(arn) => slices.push(Slice { index: i, count: workers, arn, progress: None, task: None }),
            Err(e) => {
                let failed = rt.block_on(fleet.stop_all(&format!("herd: worker {i}/{workers} could not start"), &[]));
                eprintln!(
                    "error: worker {i} of {workers} could not be started: {}; the {} task(s) already started were stopped{}",
                    printable_text(&e.to_string()),
                    slices.len(),
                    if failed > 0 { format!(" ({failed} StopTask calls failed)") } else { String::new() }
                );
                return Ok(EXIT_TARGET);
            }
        }
    }
    let outcome = follow(&rt, &fleet, &store, &mut slices, plan, args, start_at, stop, hurry);
    // Every slice's folder comes home beside the merged one, whatever becomes of the run: what
    // a failed or stopped run's workers left can still be reported.
    let mut runs: Vec<(String, RunSummary)> = Vec::new();
    let mut missing = Vec::new();
    for s in &slices {
        let folder = slice_folder(s.index, workers);
        let local = dir.join(&folder);
        // An earlier run's slice in the same place must not stand in for this one's.
        let _ = std::fs::remove_dir_all(&local);
        if let Err(e) = rt.block_on(store.download_dir(&format!("slices/{folder}"), &local)) {
            eprintln!("error: cannot collect worker {} of {workers}: {}", s.index, printable_text(&e.to_string()));
            missing.push(s.index);
            continue;
        }
        let path = local.join("summary.json");
        match read_summary(&path) {
            Ok(summary) => runs.push((path.display().to_string(), summary)),
            Err(_) => missing.push(s.index),
        }
    }
    let left = |runs: &[(String, RunSummary)]| {
        if runs.is_empty() {
            String::new()
        } else {
            format!(" (the {} summaries the workers left are in {})", runs.len(), dir.display())
        }
    };
    match &outcome {
        Followed::Failed(message) => {
            eprintln!("error: {message}; the other tasks were stopped{}", left(&runs));
            return Ok(EXIT_TARGET);
        }
        Followed::TimedOut(message) => {
            eprintln!("error: {message}{}", left(&runs));
            return Ok(EXIT_TARGET);
        }
        Followed::Finished | Followed::Interrupted => {}
    }
    let interrupted = matches!(outcome, Followed::Interrupted);
    if !missing.is_empty() || slices.len() < workers as usize {
        let never: Vec<u32> = (slices.len() as u32 + 1..=workers).collect();
        eprintln!(
            "herd: no merged summary: {} of {workers} workers left one{}{}; what they left is in {}",
            runs.len(),
            if missing.is_empty() { String::new() } else { format!("; none from {}", join(&missing)) },
            if never.is_empty() { String::new() } else { format!("; never started: {}", join(&never)) },
            dir.display()
        );
        return Ok(if interrupted { EXIT_INTERRUPTED } else { EXIT_TARGET });
    }
    let line = format!("herd run {} --distribute ecs --workers {workers}", plan.file);
    merge_and_write(&dir, &runs, &line, renderer, args)
}

/// The calls `--distribute ecs` would make, for `--dry-run`: every upload and every task, with
/// its command, and nothing made.
pub(crate) fn dry_run(plan: &Plan, args: &RunArgs, workers: u32) -> Result<Vec<String>, String> {
    for i in 1..=workers {
        herd::plan::apply_segment(&mut plan.clone(), herd::plan::Segment { index: i, count: workers })
            .map_err(|e| format!("--workers {workers}: {e}"))?;
    }
    let settings = settings(plan, args)?;
    let files = bundle(plan).map_err(|e| e.to_string())?;
    let at = S3Location {
        bucket: settings.bucket.clone(),
        prefix: format!("{}{}-<time>-<id>/", settings.prefix, plan.name),
    };
    let mut calls: Vec<String> = files.files.iter().map(|(_, name)| format!("s3:PutObject {at}input/{name}")).collect();
    calls.push(format!("s3:PutObject {at}run.json"));
    let clock = args.clock.unwrap_or(plan.target.default_clock());
    let start_at = (clock == ClockKind::Real).then(|| SystemTime::now() + settings.lead);
    for i in 1..=workers {
        let command = worker_command(plan, args, &files.scenario, i, workers, start_at, &at);
        calls.push(format!(
            "ecs:RunTask cluster={} taskDefinition={} {} subnets={} command={}",
            settings.cluster,
            settings.task_definition,
            if settings.spot { "capacityProvider=FARGATE_SPOT" } else { "launchType=FARGATE" },
            settings.subnets.join(","),
            serde_json::to_string(&command).unwrap_or_default()
        ));
    }
    Ok(calls)
}

fn join(slices: &[u32]) -> String {
    slices.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

/// A worker's arguments after the image's entry point (`herd`).
fn worker_command(
    plan: &Plan,
    args: &RunArgs,
    scenario: &str,
    index: u32,
    workers: u32,
    start_at: Option<SystemTime>,
    at: &S3Location,
) -> Vec<String> {
    let mut c: Vec<String> = vec![
        "run".into(),
        scenario.into(),
        "--segment".into(),
        format!("{index}/{workers}"),
        "--seed".into(),
        plan.seed.to_string(),
        "--quiet".into(),
        "--s3-run".into(),
        at.to_string(),
        "--stop-grace".into(),
        humantime::format_duration(args.stop_grace).to_string(),
    ];
    if let Some(t) = start_at {
        c.extend(["--start-at".into(), humantime::format_rfc3339_millis(t).to_string()]);
    }
    if let Some(clock) = args.clock {
        c.extend(["--clock".into(), if clock == ClockKind::Real { "real" } else { "virtual" }.into()]);
    }
    if let Some(listen) = &args.callback_listen {
        c.extend(["--callback-listen".into(), listen.clone()]);
    }
    c.extend(super::commands::remote_pass_on());
    c
}

/// How following the workers ended.
enum Followed {
    /// Every worker said it is done.
    Finished,
    /// Stopped by a signal; the workers were stopped and had their time to upload.
    Interrupted,
    /// A worker failed (the message names it); the others were stopped.
    Failed(String),
    /// The workers did not finish in time; they were stopped.
    TimedOut(String),
}

#[expect(clippy::too_many_arguments, reason = "the loop's state, passed once")]
fn follow(
    rt: &tokio::runtime::Runtime,
    fleet: &Fleet,
    store: &RunStore,
    slices: &mut [Slice],
    plan: &Plan,
    args: &RunArgs,
    start_at: Option<SystemTime>,
    stop: &AtomicBool,
    hurry: &AtomicBool,
) -> Followed {
    let workers = slices.first().map_or(0, |s| s.count);
    let lead = start_at.and_then(|t| t.duration_since(SystemTime::now()).ok()).unwrap_or_default();
    let deadline = Instant::now() + lead + plan.max_duration + args.stop_grace + FINISH_MARGIN;
    let bar =
        (!args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(indicatif::ProgressBar::new_spinner);
    let started = Instant::now();
    let mut stopping: Option<Instant> = None;
    let mut failure: Option<String> = None;
    let mut last_line = Instant::now();
    let finish = |bar: &Option<indicatif::ProgressBar>| {
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    };
    loop {
        let states = rt.block_on(fleet.describe());
        match states {
            Ok(states) => {
                for s in slices.iter_mut() {
                    s.task = states.iter().find(|t| t.arn == s.arn).cloned();
                }
            }
            Err(e) => tracing::warn!(target: "herd::distribute", "{e}"),
        }
        for s in slices.iter_mut().filter(|s| s.done().is_none()) {
            match rt.block_on(store.progress(s.index, s.count)) {
                Ok(Some(p)) => s.progress = Some(p),
                Ok(None) => {}
                Err(e) => tracing::warn!(target: "herd::distribute", "{e}"),
            }
        }
        if slices.iter().all(|s| s.done().is_some()) {
            finish(&bar);
            if let Some(message) = failure {
                return Followed::Failed(message);
            }
            return if stopping.is_some() { Followed::Interrupted } else { Followed::Finished };
        }
        // A worker that ended other than 0 or 1 (verdicts) or 130 (interrupted) failed its
        // part, and so did a task that stopped without saying it is done, unless this
        // coordinator stopped it (then its results are still awaited, for a while).
        if stopping.is_none()
            && let Some((index, message)) = failed_worker(rt, store, slices, workers)
        {
            let n = rt.block_on(fleet.stop_all(&format!("herd: worker {index}/{workers} failed"), &[]));
            eprintln!(
                "\nherd: {message}; stopping the other ECS tasks and waiting for their results{}",
                if n > 0 { format!(" ({n} StopTask calls failed; stop those by hand)") } else { String::new() }
            );
            failure = Some(message);
            stopping = Some(Instant::now());
        }
        if (stop.load(Ordering::SeqCst) || Instant::now() > deadline) && stopping.is_none() {
            stopping = Some(Instant::now());
            let reason = if stop.load(Ordering::SeqCst) {
                "herd: the coordinator was interrupted"
            } else {
                "herd: the workers did not finish in time"
            };
            let done: Vec<String> = slices.iter().filter(|s| s.done().is_some()).map(|s| s.arn.clone()).collect();
            let n = rt.block_on(fleet.stop_all(reason, &done));
            eprintln!(
                "\nherd: stopping {} ECS task(s); waiting for their results{}",
                slices.len() - done.len(),
                if n > 0 { format!(" ({n} StopTask calls failed; stop those by hand)") } else { String::new() }
            );
        }
        if let Some(since) = stopping {
            let all_stopped =
                slices.iter().all(|s| s.done().is_some() || s.task.as_ref().is_some_and(TaskState::is_stopped));
            if all_stopped || hurry.load(Ordering::SeqCst) || since.elapsed() > args.stop_grace + STOP_MARGIN {
                finish(&bar);
                if let Some(message) = failure {
                    return Followed::Failed(message);
                }
                if !stop.load(Ordering::SeqCst) {
                    return Followed::TimedOut(format!(
                        "the workers did not finish within {} of the start; they were stopped",
                        format_duration(deadline.duration_since(started))
                    ));
                }
                return Followed::Interrupted;
            }
        }
        if last_line.elapsed() >= Duration::from_secs(1) {
            last_line = Instant::now();
            let line = progress_line(slices, started.elapsed());
            match &bar {
                Some(b) => b.set_message(line),
                None if !args.quiet => eprintln!("{line}"),
                None => {}
            }
        }
        std::thread::sleep(POLL);
    }
}

/// The first worker that failed, said for people: one that ended with a code other than a
/// verdict's or an interruption's, or whose task stopped before it said it was done (its last
/// word is looked for once more: it may have landed just after the last look).
fn failed_worker(
    rt: &tokio::runtime::Runtime,
    store: &RunStore,
    slices: &[Slice],
    workers: u32,
) -> Option<(u32, String)> {
    for s in slices {
        match s.done() {
            Some(0 | 1 | 130) => {}
            Some(code) => {
                let message = format!(
                    "worker {} of {workers} (ECS task {}) {}; see the task's log",
                    s.index,
                    s.arn,
                    describe_code(i32::from(code))
                );
                return Some((s.index, message));
            }
            None if s.task.as_ref().is_some_and(TaskState::is_stopped) => {
                let late = rt.block_on(store.progress(s.index, s.count)).ok().flatten();
                if late.as_ref().is_none_or(|p| p.state != "done") {
                    let why = s.task.as_ref().and_then(|t| t.stopped.clone()).unwrap_or_default();
                    return Some((
                        s.index,
                        format!("worker {} of {workers}: ECS task {} stopped: {why}", s.index, s.arn),
                    ));
                }
            }
            None => {}
        }
    }
    None
}

/// One line: the tasks' states, and what the workers sent and had answered so far.
fn progress_line(slices: &[Slice], elapsed: Duration) -> String {
    let mut total = Accounting::default();
    let (mut pending, mut running, mut done) = (0, 0, 0);
    for s in slices {
        if s.done().is_some() {
            done += 1;
        } else if s.task.as_ref().is_some_and(|t| t.last_status == "RUNNING") {
            running += 1;
        } else {
            pending += 1;
        }
        if let Some(p) = &s.progress {
            total.sent += p.totals.sent;
            total.replied += p.totals.replied;
            total.failed += p.totals.failed;
            total.lost += p.totals.lost;
        }
    }
    format!(
        "{}  tasks: {pending} pending, {running} running, {done} done  sent {}  replied {}  failed {}  lost {}",
        format_duration(Duration::from_secs(elapsed.as_secs())),
        total.sent,
        total.replied,
        total.failed,
        total.lost
    )
}
