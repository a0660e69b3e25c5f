//! `herd run --distribute local --workers N`: one scenario spread over N worker processes of
//! this herd, each running `--segment i/N` from one `--start-at`, then merged.
//!
//! The coordinator owns the terminal and the workers' lives. Workers run in process groups of
//! their own, so the terminal's Ctrl-C reaches the coordinator only and the coordinator passes
//! each stop on exactly once (a worker counts its signals: the first stops it, the second skips
//! its wait for replies). Each worker writes its own folder (`segment-<i>-of-<N>/`), journal
//! included, which is also how the coordinator follows them: no protocol of its own. A worker
//! that fails stops the others, and the run exits 3 naming it.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use herd::plan::{Plan, Segment, apply_segment, format_duration};
use herd::report::{
    Format, Renderer, RunSummary, last_totals, merge_summaries, read_summary, terminal_summary, write_reports,
    write_summary,
};
use herd::runtime::{Accounting, ClockKind};
use herd::text::printable_text;
use herd::{EXIT_INVALID, EXIT_TARGET, HerdError};

use super::args::RunArgs;
use super::commands::PASS_ON;

/// How long before the common start the workers are started: time to set up their targets.
const LEAD: Duration = Duration::from_secs(3);

/// The most workers one machine is given.
pub(crate) const MAX_LOCAL_WORKERS: u32 = 256;

/// The most workers of any kind (as many as there may be slices).
pub(crate) const MAX_WORKERS: u32 = 1000;

struct Worker {
    index: u32,
    child: Child,
    dir: PathBuf,
    log: PathBuf,
    status: Option<std::process::ExitStatus>,
}

impl Worker {
    /// Sends `sig` to the worker's process group.
    fn signal(&self, sig: i32) {
        let group = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals the process group the worker leads (it was
        // started with process_group(0)); it touches no memory of ours.
        #[expect(unsafe_code, reason = "signalling a process group needs kill(2)")]
        unsafe {
            libc::kill(-group, sig);
        }
    }

    /// The totals of its last sample, read from the end of its journal.
    fn totals(&self) -> Option<Accounting> {
        last_totals(&self.dir.join("journal.jsonl"))
    }
}

/// Runs `plan` over `workers` local processes and merges them into `<out>/<name>/`. Returns the
/// exit code.
pub(crate) fn run_local(
    plan: &Plan,
    args: &RunArgs,
    workers: u32,
    stop: &AtomicBool,
    hurry: &AtomicBool,
    renderer: &Renderer,
) -> Result<u8> {
    let dir = args.out.join(&plan.name);
    let clock = args.clock.unwrap_or(plan.target.default_clock());
    if workers > MAX_LOCAL_WORKERS {
        eprintln!("error: --workers {workers}: one machine runs at most {MAX_LOCAL_WORKERS} local workers");
        return Ok(EXIT_INVALID);
    }
    if !slices_fit(plan, workers) {
        return Ok(EXIT_INVALID);
    }
    std::fs::create_dir_all(&dir).map_err(|e| HerdError::output(&dir, e))?;
    // On the virtual clock a run takes no wall time to wait for; on the real clock every worker
    // starts its first message at the same instant.
    let start_at = match clock {
        ClockKind::Real => Some(args.start_at.unwrap_or_else(|| SystemTime::now() + LEAD)),
        ClockKind::Virtual => None,
    };
    let exe = std::env::current_exe().map_err(|e| anyhow::anyhow!("cannot find herd's own executable: {e}"))?;
    let mut running: Vec<Worker> = Vec::new();
    for i in 1..=workers {
        let log = dir.join(format!("worker-{i}-of-{workers}.log"));
        let out = std::fs::File::create(&log).map_err(|e| HerdError::output(&log, e))?;
        let err = out.try_clone().map_err(|e| HerdError::output(&log, e))?;
        let mut cmd = Command::new(&exe);
        cmd.arg("run")
            .arg(&plan.file)
            .args(["--segment", &format!("{i}/{workers}"), "--seed", &plan.seed.to_string(), "--quiet"])
            .arg("--out")
            .arg(&args.out)
            .arg("--stop-grace")
            .arg(humantime::format_duration(args.stop_grace).to_string())
            .args(PASS_ON.get().map(Vec::as_slice).unwrap_or_default());
        if let Some(c) = args.clock {
            cmd.args(["--clock", if c == ClockKind::Real { "real" } else { "virtual" }]);
        }
        if let Some(at) = start_at {
            cmd.arg("--start-at").arg(humantime::format_rfc3339_millis(at).to_string());
        }
        // Where the workers' callback listeners find each other. Each binds its own: a
        // listen address for all of them needs port 0.
        cmd.arg("--peers").arg(dir.join("peers"));
        if let Some(listen) = &args.callback_listen {
            cmd.arg("--callback-listen").arg(listen);
        }
        if let Some(t) = &args.templates {
            cmd.arg("--templates").arg(t);
        }
        cmd.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
        // SAFETY: the closure runs in the child between fork and exec and only calls prctl(2),
        // which is async-signal-safe; it allocates nothing.
        #[expect(unsafe_code, reason = "a parent-death signal needs prctl(2) in the child")]
        unsafe {
            cmd.pre_exec(|| {
                // If the coordinator dies, however it dies, its workers stop as if interrupted
                // (and still write their summaries).
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        match cmd.spawn() {
            Ok(child) => running.push(Worker {
                index: i,
                child,
                dir: dir.join(format!("segment-{i}-of-{workers}")),
                log,
                status: None,
            }),
            Err(e) => {
                for w in &running {
                    w.signal(libc::SIGTERM);
                }
                eprintln!("error: cannot start worker {i} of {workers}: {e}");
                return Ok(EXIT_TARGET);
            }
        }
    }
    eprintln!("herd: {} on {workers} local workers (logs in {})", plan.name, dir.display());
    let bar =
        (!args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(indicatif::ProgressBar::new_spinner);
    let started = Instant::now();
    let (mut stopped, mut hurried) = (false, false);
    let mut failed: Option<(u32, String, PathBuf)> = None;
    let mut last_line = Instant::now();
    while running.iter().any(|w| w.status.is_none()) {
        std::thread::sleep(Duration::from_millis(100));
        for w in running.iter_mut().filter(|w| w.status.is_none()) {
            if let Ok(Some(status)) = w.child.try_wait() {
                w.status = Some(status);
                // 0 and 1 are verdicts and 130 an interruption; anything else is a worker that
                // could not do its part.
                let ok = matches!(status.code(), Some(0 | 1 | 130));
                if !ok && failed.is_none() {
                    failed = Some((w.index, describe(status), w.log.clone()));
                }
            }
        }
        // A stop (Ctrl-C, SIGTERM) or a failed worker stops every worker, once; a second stop
        // hurries them.
        if (stop.load(Ordering::SeqCst) || failed.is_some()) && !stopped {
            stopped = true;
            running.iter().filter(|w| w.status.is_none()).for_each(|w| w.signal(libc::SIGTERM));
        }
        if hurry.load(Ordering::SeqCst) && !hurried {
            hurried = true;
            running.iter().filter(|w| w.status.is_none()).for_each(|w| w.signal(libc::SIGTERM));
        }
        if last_line.elapsed() >= Duration::from_secs(1) {
            last_line = Instant::now();
            let line = progress_line(&running, started.elapsed());
            match &bar {
                Some(b) => b.set_message(line),
                None if !args.quiet => eprintln!("{line}"),
                None => {}
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Some((i, why, log)) = failed {
        eprintln!("error: worker {i} of {workers} {why}; the others were stopped; its log: {}", log.display());
        return Ok(EXIT_TARGET);
    }
    let mut runs: Vec<(String, RunSummary)> = Vec::new();
    for w in &running {
        let path = w.dir.join("summary.json");
        match read_summary(&path) {
            Ok(s) => runs.push((path.display().to_string(), s)),
            Err(e) => {
                eprintln!("error: worker {} of {workers} left no summary ({e}); its log: {}", w.index, w.log.display());
                return Ok(EXIT_TARGET);
            }
        }
    }
    let line = format!("herd run {} --distribute local --workers {workers}", plan.file);
    merge_and_write(&dir, &runs, &line, renderer, args)
}

/// Checks every slice before any worker starts: a slice without a pair is refused now (said on
/// stderr).
pub(crate) fn slices_fit(plan: &Plan, workers: u32) -> bool {
    for i in 1..=workers {
        if let Err(e) = apply_segment(&mut plan.clone(), Segment { index: i, count: workers }) {
            eprintln!("error: {}: --workers {workers}: {}", plan.file, printable_text(&e));
            return false;
        }
    }
    true
}

/// Merges the workers' summaries into `dir` (summary, reports, the terminal's summary) and
/// returns the merged verdict's exit code; 3 when they do not merge.
pub(crate) fn merge_and_write(
    dir: &Path,
    runs: &[(String, RunSummary)],
    command_line: &str,
    renderer: &Renderer,
    args: &RunArgs,
) -> Result<u8> {
    let merged = match merge_summaries(runs, command_line) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: merging the workers' summaries: {e}");
            return Ok(EXIT_TARGET);
        }
    };
    write_summary(dir, &merged).map_err(|e| HerdError::output(dir, e))?;
    write_reports(dir, &merged, renderer, &[Format::Html, Format::Md, Format::Junit])?;
    if !args.quiet {
        print!("{}", terminal_summary(&merged));
    }
    println!("merged {} workers into {}", merged.slices.len(), dir.join("summary.json").display());
    Ok(merged.verdict.exit_code() as u8)
}

/// How a worker ended, for people.
fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(c), _) => describe_code(c),
        (None, Some(s)) => format!("was killed by signal {s}"),
        (None, None) => "ended without a status".to_owned(),
    }
}

/// What a worker's exit code means, for people.
pub(crate) fn describe_code(code: i32) -> String {
    match code {
        2 => "refused its slice (exit 2)".to_owned(),
        3 => "could not reach or set up the target (exit 3)".to_owned(),
        4 => "could not write its results (exit 4)".to_owned(),
        c => format!("exited with {c}"),
    }
}

/// One line: workers running, and what they sent and had answered so far.
fn progress_line(workers: &[Worker], elapsed: Duration) -> String {
    let running = workers.iter().filter(|w| w.status.is_none()).count();
    let mut total = Accounting::default();
    for t in workers.iter().filter_map(Worker::totals) {
        total.sent += t.sent;
        total.replied += t.replied;
        total.failed += t.failed;
        total.lost += t.lost;
    }
    format!(
        "{}  {running}/{} workers running  sent {}  replied {}  failed {}  lost {}",
        format_duration(Duration::from_secs(elapsed.as_secs())),
        workers.len(),
        total.sent,
        total.replied,
        total.failed,
        total.lost
    )
}
