//! The commands behind `herd run`, `check`, `plan` and `schema`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context as _, Result};
use clap::Parser as _;
use herd::outputs::CloudWatchPublisher;
use herd::plan::{
    CompileOptions, ExecutorPlan, FaultTrigger, PhaseStart, Plan, Segment, apply_segment, format_duration,
    load_and_compile_with,
};
use herd::report::{
    Comparison, Format, IndexEntry, Renderer, ReportData, RunInfo, RunSummary, SkippedScenario, compare, junit,
    parse_tolerance, read_journal, read_summary, summarize, terminal_summary, write_reports, write_summary,
};
use herd::runtime::{ClockKind, Outputs, RunOptions, run};
use herd::scenario::{FileDiagnostics, published_schema};
use herd::targets::{PeerBook, TargetOptions};
use herd::text::printable_text;
use herd::{EXIT_INVALID, EXIT_OUTPUT, EXIT_TARGET, HerdError};

use super::args::{Cli, Command, Distribute, LogFormat, PlanFormat, ReportArgs, RunArgs};
use super::progress::Reporter;

/// Sends the library's `tracing` events to stderr: warnings by default, more with `-v`, any
/// filter with `RUST_LOG`, as JSON lines with `--log-format json`.
fn init_logging(verbose: u8, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "warn,herd=info",
        _ => "info,herd=debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Text => builder.without_time().with_target(false).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// `--all-errors`: set once from the command line, read where diagnostics are printed.
static ALL_ERRORS: AtomicBool = AtomicBool::new(false);
/// `--allow-large`, `--set` and `--vars`: set once from the command line, read wherever a
/// scenario is compiled and where the command that reproduces a run is written.
static COMPILE: std::sync::OnceLock<(CompileOptions, Vec<String>)> = std::sync::OnceLock::new();

/// The compile options as command-line arguments (`--vars`, `--set`, `--allow-large`), for the
/// workers of a distributed run.
pub(crate) static PASS_ON: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// The compile options as arguments for a worker on another machine: `--vars` files are
/// passed as the `--set`s they stand for (the worker cannot read them).
pub(crate) fn remote_pass_on() -> Vec<String> {
    let options = compile_options();
    let mut args: Vec<String> = options.overrides.sets.iter().flat_map(|s| ["--set".to_owned(), s.clone()]).collect();
    if options.allow_large {
        args.push("--allow-large".to_owned());
    }
    args
}

pub(crate) fn compile_options() -> &'static CompileOptions {
    static DEFAULT: std::sync::OnceLock<CompileOptions> = std::sync::OnceLock::new();
    COMPILE.get().map_or_else(|| DEFAULT.get_or_init(CompileOptions::default), |(o, _)| o)
}

/// `--vars` files as `vars.name=value` sets: each top-level key of the TOML file.
fn vars_files(files: &[PathBuf]) -> Result<Vec<String>, String> {
    let mut sets = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("--vars {}: cannot read it: {e}", f.display()))?;
        let table: toml::Table =
            text.parse().map_err(|e| format!("--vars {}: not a TOML table of variables: {e}", f.display()))?;
        for (k, v) in table {
            match v {
                toml::Value::Table(_) | toml::Value::Array(_) | toml::Value::Datetime(_) => {
                    return Err(format!(
                        "--vars {}: `{k}` is not text, a number or a boolean; variables hold only those",
                        f.display()
                    ));
                }
                v => sets.push(format!("vars.{k}={v}")),
            }
        }
    }
    Ok(sets)
}

/// An argument for a shell command line: quoted when it holds anything but plain characters.
fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,%+@".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// How many errors of one file are shown unless `--all-errors`.
const ERRORS_SHOWN: usize = 50;

/// Parses the command line and runs the command.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    ALL_ERRORS.store(cli.all_errors, Ordering::Relaxed);
    init_logging(cli.verbose, cli.log_format);
    let mut sets = match vars_files(&cli.vars) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", printable_text(&e));
            return ExitCode::from(EXIT_INVALID);
        }
    };
    sets.extend(cli.set.iter().cloned());
    // The command that reproduces a run repeats the parameters as they were given.
    let mut given: Vec<String> =
        cli.vars.iter().map(|f| format!("--vars {}", shell_word(&f.to_string_lossy()))).collect();
    given.extend(cli.set.iter().map(|s| format!("--set {}", shell_word(s))));
    if cli.allow_large {
        given.push("--allow-large".to_owned());
    }
    let options = CompileOptions { allow_large: cli.allow_large, overrides: herd::scenario::Overrides { sets } };
    let _ = COMPILE.set((options, given));
    // The same options as arguments, for the workers of a distributed run.
    let mut pass_on: Vec<String> =
        cli.vars.iter().flat_map(|f| ["--vars".to_owned(), f.display().to_string()]).collect();
    pass_on.extend(cli.set.iter().flat_map(|s| ["--set".to_owned(), s.clone()]));
    if cli.allow_large {
        pass_on.push("--allow-large".to_owned());
    }
    let _ = PASS_ON.set(pass_on);
    let result = match cli.command {
        Command::Run(args) => cmd_run(&args),
        Command::Check { paths, format } => cmd_check(&paths, format),
        Command::Plan { path, format, segment } => cmd_plan(&path, format, segment),
        Command::Schema => cmd_schema(),
        Command::Report(args) => cmd_report(&args),
        Command::Merge(args) => super::merge::cmd_merge(&args),
        Command::Compare { baseline, current, tolerance, md } => {
            cmd_compare(&baseline, &current, &tolerance, md.as_deref())
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", printable_text(&format!("{e:#}")));
            // The library's typed error knows its exit code; a template that fails while
            // rendering is bad input, like a bad scenario; anything else failed to write results.
            let code = e
                .chain()
                .find_map(|c| c.downcast_ref::<HerdError>().map(HerdError::exit_code))
                .or_else(|| {
                    e.chain().any(|c| c.downcast_ref::<herd::report::RenderError>().is_some()).then_some(EXIT_INVALID)
                })
                .unwrap_or(EXIT_OUTPUT);
            ExitCode::from(code)
        }
    }
}

/// Expands folders into their `*.toml` files, sorted by name.
fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files = Vec::new();
            let entries = std::fs::read_dir(p).map_err(|e| format!("cannot read folder {}: {e}", p.display()))?;
            for f in entries.filter_map(|e| e.ok().map(|e| e.path())) {
                let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                // Dot files (editor backups, `.#lock` files) are not scenarios.
                if name.starts_with('.') || f.extension().is_none_or(|x| x != "toml") {
                    continue;
                }
                if f.is_file() {
                    files.push(f);
                } else if std::fs::symlink_metadata(&f).is_ok_and(|m| m.file_type().is_symlink()) {
                    // A link that leads nowhere (or round in a loop) is said, not skipped in silence.
                    return Err(format!("{}: a link that leads to no file", f.display()));
                }
            }
            files.sort();
            if files.is_empty() {
                return Err(format!("{} holds no *.toml scenario", p.display()));
            }
            out.extend(files);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or folder", p.display()));
        }
    }
    Ok(out)
}

/// Why a set of scenarios cannot run: each file's errors, and errors about the set itself
/// (a missing file, two scenarios with one name).
#[derive(Default)]
struct Refused {
    files: Vec<FileDiagnostics>,
    other: Vec<String>,
}

impl Refused {
    fn is_empty(&self) -> bool {
        self.files.is_empty() && self.other.is_empty()
    }
}

/// Loads and compiles every file: the plans that compiled, and every error of the others.
fn compile_each(paths: &[PathBuf]) -> (Vec<Plan>, Refused) {
    let files = match scenario_files(paths) {
        Ok(f) => f,
        Err(e) => return (Vec::new(), Refused { other: vec![e], ..Refused::default() }),
    };
    let mut plans = Vec::new();
    let mut refused = Refused::default();
    for f in &files {
        match load_and_compile_with(f, compile_options()) {
            Ok(plan) => plans.push(plan),
            Err(d) => refused.files.push(d),
        }
    }
    // Two scenarios with one name would write over each other's results.
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for p in &plans {
        if let Some((_, other)) = seen.iter().find(|(n, _)| *n == p.name) {
            refused.other.push(format!(
                "{} and {} are both named \"{}\"; their results would overwrite each other",
                other, p.file, p.name
            ));
        }
        seen.push((&p.name, &p.file));
    }
    (plans, refused)
}

/// [`compile_each`], printing the errors for people; all plans or none.
fn compile_all(paths: &[PathBuf]) -> Result<Vec<Plan>, ExitCode> {
    let (plans, refused) = compile_each(paths);
    if refused.is_empty() {
        return Ok(plans);
    }
    for d in &refused.files {
        let limit = (!ALL_ERRORS.load(Ordering::Relaxed)).then_some(ERRORS_SHOWN);
        eprint!("{}", d.render_at_most(limit));
    }
    for e in &refused.other {
        eprintln!("error: {}", printable_text(e));
    }
    Err(ExitCode::from(EXIT_INVALID))
}

/// `herd check --format json`: one JSON document on stdout, whatever the outcome: every file
/// with its facts or its errors (never capped), in file order, and errors about the set.
fn check_json(paths: &[PathBuf]) -> Result<ExitCode> {
    let (plans, refused) = compile_each(paths);
    let mut files: Vec<(String, serde_json::Value)> = plans
        .iter()
        .map(|p| {
            let facts = serde_json::json!({
                "file": p.file, "ok": true, "name": p.name, "sessions": p.sessions.len(),
                "phases": p.phases.len(), "faults": p.faults.len(), "thresholds": p.thresholds.len(),
            });
            (p.file.clone(), facts)
        })
        .collect();
    files.extend(refused.files.iter().map(|d| (d.file.clone(), d.to_json())));
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let ok = refused.is_empty();
    let doc = serde_json::json!({
        "ok": ok,
        "files": files.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "errors": refused.other,
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(EXIT_INVALID) })
}

fn cmd_check(paths: &[PathBuf], format: PlanFormat) -> Result<ExitCode> {
    if format == PlanFormat::Json {
        return check_json(paths);
    }
    let plans = match compile_all(paths) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    // A sweep is valid when every one of its variants is.
    for p in &plans {
        if let Some(m) = &p.matrix
            && super::matrix::compile_variants(p, m, None).is_none()
        {
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    }
    for p in &plans {
        println!(
            "ok: {} ({}: {} sessions, {} phases, {} faults, {} thresholds{})",
            p.file,
            p.name,
            p.sessions.len(),
            p.phases.len(),
            p.faults.len(),
            p.thresholds.len(),
            p.matrix.as_ref().map(|m| format!(", {} variants", m.variants.len())).unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_schema() -> Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(&published_schema())?);
    Ok(ExitCode::SUCCESS)
}

fn cmd_plan(path: &Path, format: PlanFormat, segment: Option<Segment>) -> Result<ExitCode> {
    let mut plan = match compile_all(&[path.to_path_buf()]) {
        Ok(mut p) => p.remove(0),
        Err(code) => return Ok(code),
    };
    if let Some(seg) = segment
        && let Err(e) = apply_segment(&mut plan, seg)
    {
        eprintln!("error: {}: --segment {seg}: {}", plan.file, printable_text(&e));
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    match format {
        PlanFormat::Json => println!("{}", serde_json::to_string_pretty(&plan)?),
        PlanFormat::Text => print!("{}", printable_text(&plan_text(&plan))),
    }
    Ok(ExitCode::SUCCESS)
}

fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    let d = format_duration;
    let _ = writeln!(out, "scenario {} ({})", plan.name, plan.file);
    if !plan.description.is_empty() {
        let _ = writeln!(out, "  {}", plan.description.replace('\n', "\n  "));
    }
    let _ = writeln!(
        out,
        "seed {}, max duration {}, sample every {}",
        plan.seed,
        d(plan.max_duration),
        d(plan.sample_interval)
    );
    let _ = writeln!(out, "{}", plan.target.describe());
    if let Some(seg) = &plan.segment {
        let _ = writeln!(
            out,
            "segment {}: {} of {} project+user pairs, {} of {} sessions; {}",
            seg.label,
            seg.pairs,
            seg.total_pairs,
            seg.sessions,
            plan.sessions.len(),
            if seg.whole_model {
                "the simulated system runs whole and this slice records only their messages (and, in slice 1, the system's own gauges)"
            } else {
                "every phase's schedule runs in full and sends only to them"
            }
        );
        for (f, fault) in plan.faults.iter().enumerate() {
            let by = seg.fault_slices.get(f).copied().unwrap_or(1);
            let here = if seg.carries_fault(f) { "this slice".to_owned() } else { format!("slice {by}/{}", seg.count) };
            let _ = writeln!(out, "  fault {} carried out by {here}", fault.name);
        }
    }
    let _ = writeln!(out, "sessions: {}", plan.sessions.len());
    for g in &plan.groups {
        let sessions = &plan.sessions[g.first..g.first + g.count];
        let pairs: std::collections::BTreeSet<String> = sessions.iter().map(|s| s.pair_key()).collect();
        let _ = writeln!(out, "  group {}: {} sessions over {} project+user pairs", g.name, g.count, pairs.len());
        for s in sessions.iter().take(3) {
            let _ = writeln!(out, "    {} {}/{}/{}", s.thread, s.client, s.project, s.user);
        }
        if g.count > 3 {
            let _ = writeln!(out, "    ... {} more", g.count - 3);
        }
    }
    let _ = writeln!(out, "phases:");
    for p in &plan.phases {
        let start = match p.start {
            PhaseStart::At(t) => format!("at {}", d(t)),
            PhaseStart::AfterPrevious => "after the previous phase".to_owned(),
        };
        let what = match &p.executor {
            ExecutorPlan::ConstantArrivalRate { rate, duration, poisson, .. } => format!(
                "{:.3}/s for {} ({} arrivals, about {} messages)",
                rate,
                d(*duration),
                if *poisson { "poisson" } else { "uniform" },
                (rate * duration.as_secs_f64()).round()
            ),
            ExecutorPlan::RampingArrivalRate { start_rate, stages, .. } => {
                let st: Vec<String> = stages.iter().map(|(r, du)| format!("{r:.3}/s over {}", d(*du))).collect();
                format!("from {start_rate:.3}/s: {}", st.join(", "))
            }
            ExecutorPlan::PerSessionIterations { iterations, order, think_time } => format!(
                "{iterations} per session, {}, think {think_time} ({} messages)",
                order.name(),
                iterations * p.sessions.len() as u64
            ),
            ExecutorPlan::Burst { count, to } => match to {
                Some(s) => format!("{count} messages at once to {}", plan.sessions[*s].thread),
                None => format!("{count} messages at once to each of {} sessions", p.sessions.len()),
            },
            ExecutorPlan::Soak { interval, duration } => format!(
                "every {} for {} per session (about {} messages)",
                d(*interval),
                d(*duration),
                (duration.as_secs_f64() / interval.as_secs_f64()).ceil() as u64 * p.sessions.len() as u64
            ),
            ExecutorPlan::BreakingPoint { start_rate, step, step_duration, max_rate, until, .. } => format!(
                "from {start_rate:.3}/s up by {step:.3}/s every {} to {max_rate:.3}/s until a step fails {}",
                d(*step_duration),
                until.iter().map(|u| format!("{} {}", u.key, u.rule)).collect::<Vec<_>>().join(", ")
            ),
        };
        let _ = writeln!(
            out,
            "  {} [{}] {start}, {} sessions, timeout {}: {what}",
            p.name,
            p.executor.name(),
            p.sessions.len(),
            d(p.reply_timeout)
        );
    }
    if !plan.faults.is_empty() {
        let _ = writeln!(out, "faults:");
        for f in &plan.faults {
            let when = match f.trigger {
                FaultTrigger::At(t) => format!("at {}", d(t)),
                FaultTrigger::AfterMessages(n) => format!("after {n} messages"),
            };
            let _ = writeln!(out, "  {when}: {}", f.name);
        }
    }
    if !plan.thresholds.is_empty() {
        let _ = writeln!(out, "thresholds:");
        for t in &plan.thresholds {
            let abort = if t.abort_on_fail { " (abort on fail)" } else { "" };
            let _ = writeln!(out, "  {} {}{abort}", t.key, t.rule);
        }
    }
    out
}

fn cmd_run(args: &RunArgs) -> Result<ExitCode> {
    match &args.s3_run {
        Some(at) => super::worker::run_worker(args, at),
        None => run_code(args).map(ExitCode::from),
    }
}

/// `herd run` with its exit code as a number (a worker of a distributed run reports it).
pub(crate) fn run_code(args: &RunArgs) -> Result<u8> {
    let plans = match compile_all(&args.paths) {
        Ok(p) => p,
        Err(_) => return Ok(EXIT_INVALID),
    };
    let considered = plans.len();
    let (mut plans, skipped) = match super::select::select(plans, args) {
        Ok(chosen) => chosen,
        Err(e) => {
            eprintln!("error: {}", printable_text(&e));
            return Ok(EXIT_INVALID);
        }
    };
    for s in &skipped {
        eprintln!("skipped {}: {}", printable_text(&s.name), printable_text(&s.reason));
    }
    // Everything that can be wrong with the command line is checked before anything runs.
    if let Some(seg) = args.segment {
        for plan in &mut plans {
            if let Err(e) = apply_segment(plan, seg) {
                eprintln!("error: {}: --segment {seg}: {}", plan.file, printable_text(&e));
                return Ok(EXIT_INVALID);
            }
        }
    }
    let renderer = match Renderer::new(args.templates.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}", printable_text(&e.to_string()));
            return Ok(EXIT_INVALID);
        }
    };
    let tolerance = match parse_tolerance(&args.tolerance) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: --tolerance: {e}");
            return Ok(EXIT_INVALID);
        }
    };
    let baselines = match args.baseline.as_deref().map(|b| load_baselines(b, &plans)).transpose() {
        Ok(b) => b.unwrap_or_default(),
        Err(e) => {
            eprintln!("error: --baseline: {e}");
            return Ok(EXIT_INVALID);
        }
    };
    if args.dry_run {
        for plan in &plans {
            println!("{} ({}): calls that would change something", plan.name, plan.file);
            match plan.target.dry_run(plan) {
                Ok(calls) => calls.iter().for_each(|c| println!("  {c}")),
                Err(e) => {
                    eprintln!("error: {}: {}", plan.file, printable_text(&e.to_string()));
                    return Ok(EXIT_INVALID);
                }
            }
            // A distributed run's own calls: what it ships and the tasks it starts.
            if let (Some(Distribute::Ecs), Some(workers)) = (args.distribute, args.workers) {
                match super::distribute_ecs::dry_run(plan, args, workers) {
                    Ok(calls) => calls.iter().for_each(|c| println!("  {}", printable_text(c))),
                    Err(e) => {
                        eprintln!("error: {}: {}", plan.file, printable_text(&e));
                        return Ok(EXIT_INVALID);
                    }
                }
            }
        }
        return Ok(0);
    }
    for plan in &plans {
        if !plan.target.supports_virtual_clock() && args.clock == Some(ClockKind::Virtual) {
            eprintln!(
                "error: {}: the {} target runs on the real clock; drop --clock virtual",
                plan.file,
                plan.target.kind()
            );
            return Ok(EXIT_INVALID);
        }
    }
    // An output folder that cannot be written is found before anything runs, not after a
    // half-hour soak.
    let probe = args.out.join(".herd-write-check");
    if let Err(e) = std::fs::create_dir_all(&args.out).and_then(|()| std::fs::write(&probe, b"")) {
        eprintln!("error: --out {}: cannot write there: {e}", args.out.display());
        return Ok(EXIT_INVALID);
    }
    let _ = std::fs::remove_file(&probe);
    let mut summaries: Vec<RunSummary> = Vec::new();
    let stop = Arc::new(AtomicBool::new(false));
    let hurry = Arc::new(AtomicBool::new(false));
    let (handler_stop, handler_hurry) = (stop.clone(), hurry.clone());
    let signals = std::sync::atomic::AtomicU8::new(0);
    let grace = format_duration(args.stop_grace);
    // Ctrl-C, SIGTERM and SIGHUP: the first stops arrivals and waits briefly for replies; the
    // second skips that wait but still cleans up (queues, tables, workers) and writes every
    // report; only a third ends the process at once.
    ctrlc::set_handler(move || match signals.fetch_add(1, Ordering::SeqCst) {
        0 => {
            handler_stop.store(true, Ordering::SeqCst);
            eprintln!(
                "\nstopping: no new messages; waiting up to {grace} for the replies in flight (again to skip the wait)"
            );
        }
        1 => {
            handler_hurry.store(true, Ordering::SeqCst);
            eprintln!("\nstopping now: cleaning up and writing the reports (a third time quits at once)");
        }
        _ => std::process::exit(130),
    })
    .context("cannot install the signal handler")?;
    let mut worst = 0u8;
    let multiple = considered > 1;
    // The first run starts at --start-at; the others follow it.
    let mut start_at = args.start_at;
    for mut plan in plans {
        if let Some(seed) = args.seed {
            plan.seed = seed;
        }
        if let Some(m) = plan.matrix.clone() {
            if multiple {
                eprintln!("== {} ({}): {} variants", plan.name, plan.file, m.variants.len());
            }
            let code = super::matrix::run_matrix(&plan, &m, args, &stop, &hurry, &renderer)?;
            if code == EXIT_INVALID || code == EXIT_TARGET {
                return Ok(code);
            }
            worst = worst.max(code);
            if stop.load(Ordering::SeqCst) {
                break;
            }
            continue;
        }
        if let (Some(how), Some(workers)) = (args.distribute, args.workers) {
            if multiple {
                eprintln!("== {} ({}) on {workers} workers", plan.name, plan.file);
            }
            let code = match how {
                Distribute::Local => super::distribute::run_local(&plan, args, workers, &stop, &hurry, &renderer)?,
                Distribute::Ecs => super::distribute_ecs::run_ecs(&plan, args, workers, &stop, &hurry, &renderer)?,
            };
            if code == EXIT_INVALID || code == EXIT_TARGET {
                return Ok(code);
            }
            worst = worst.max(code);
            if stop.load(Ordering::SeqCst) {
                break;
            }
            continue;
        }
        let dir = match &plan.segment {
            // Slices side by side in one output folder, and `herd merge <out>/<scenario>` finds
            // them all.
            Some(seg) => args.out.join(&plan.name).join(format!("segment-{}-of-{}", seg.index, seg.count)),
            None => args.out.join(&plan.name),
        };
        // One run at a time writes a scenario's folder.
        let _lock = match lock_output(&dir) {
            Ok(lock) => lock,
            Err(e) => {
                eprintln!("error: {}: {}", plan.file, printable_text(&e.to_string()));
                return Ok(EXIT_INVALID);
            }
        };
        let clock = args.clock.unwrap_or(plan.target.default_clock());
        let options = TargetOptions {
            callback_listen: args.callback_listen.clone(),
            output_dir: Some(dir.clone()),
            peers: match (&args.peers, &args.peers_s3) {
                (Some(dir), _) => Some(PeerBook::Folder(dir.clone())),
                (None, Some(book)) => Some(book.clone()),
                (None, None) => None,
            },
        };
        let mut target = match plan.target.build(&plan, &options) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}: {}", plan.file, printable_text(&e.to_string()));
                return Ok(EXIT_TARGET);
            }
        };
        for line in target.announcements() {
            eprintln!("herd: {}", printable_text(&line));
        }
        if multiple {
            eprintln!("== {} ({})", plan.name, plan.file);
        }
        // Milliseconds, so that `herd merge` can line up runs that started together.
        let started_at = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        let mut info = RunInfo {
            engine_version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at,
            wall_seconds: 0.0,
            command_line: reproduce(&plan, args),
            host: host_name(),
            segment: plan.segment.as_ref().map(|s| s.label.clone()),
        };
        let mut reporter =
            Reporter::new(&dir, &plan, clock, info.clone(), args.quiet).map_err(|e| HerdError::output(&dir, e))?;
        let run_options = RunOptions { clock, stop: stop.clone(), hurry: hurry.clone(), stop_grace: args.stop_grace };
        let mut publisher = match &plan.cloudwatch {
            Some(cw) => {
                let at = plan.target.location();
                match CloudWatchPublisher::new(cw, at.region.as_deref(), at.endpoint_url.as_deref(), &plan.name) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        eprintln!("error: {}: CloudWatch: {e}", plan.file);
                        return Ok(EXIT_TARGET);
                    }
                }
            }
            None => None,
        };
        if let Some(at) = start_at.take() {
            wait_for_start(at, &stop);
        }
        let wall = Instant::now();
        let mut result = {
            let mut outputs = Outputs::new().with(&mut reporter);
            if let Some(p) = publisher.as_mut() {
                outputs = outputs.with(p);
            }
            run(&plan, target.as_mut(), &run_options, &mut outputs)
        };
        reporter.finish();
        if let Some(p) = publisher.as_mut() {
            let (errors, last) = p.flush();
            if errors > 0 {
                eprintln!("herd: {errors} CloudWatch PutMetricData call(s) failed; last: {}", last.unwrap_or_default());
            }
            // herd's own metrics cost CloudWatch requests too.
            result.usage.add(
                herd::cost::UsageKind::CloudwatchRequests,
                p.requests() as f64,
                herd::cost::Basis::Measured,
                "herd",
            );
        }
        drop(target);
        info.wall_seconds = wall.elapsed().as_secs_f64();
        let mut summary = summarize(&plan, &result, clock, info);
        // Files the target wrote are linked from the reports relative to the summary's folder.
        for f in &mut summary.files {
            if let Ok(rel) = std::path::Path::new(f.as_str()).strip_prefix(&dir) {
                *f = rel.to_string_lossy().into_owned();
            }
        }
        if let Some((_, base)) = baselines.iter().find(|(name, _)| name == &plan.name) {
            summary.comparison = Some(compare(base, &summary, tolerance));
        }
        let path = write_summary(&dir, &summary).map_err(|e| HerdError::output(dir.join("summary.json"), e))?;
        write_reports(&dir, &summary, &renderer, &[Format::Html, Format::Md, Format::Junit])
            .with_context(|| format!("cannot write the reports in {}", dir.display()))?;
        print!("{}", printable_text(&terminal_summary(&summary)));
        if let Some(c) = &summary.comparison {
            print_comparison(c);
        }
        println!("  summary: {}", path.display());
        println!("  report:  {}", dir.join("report.html").display());
        let code = summary.verdict.exit_code();
        worst = worst.max(u8::try_from(code).unwrap_or(1));
        summaries.push(summary);
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    if multiple {
        write_index(&args.out, &summaries, &skipped, &renderer)?;
        println!("index: {}", args.out.join("index.html").display());
    }
    Ok(worst)
}

/// Takes the exclusive lock on a scenario's output folder for the length of the run; a second
/// run on the same folder is refused, naming the process that holds it.
fn lock_output(dir: &Path) -> Result<std::fs::File, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(".herd.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            use std::io::{Seek, Write};
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = write!(file, "{}", std::process::id());
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            Err(format!(
                "{} is being written by another herd run (pid {}); wait for it or use another --out",
                dir.display(),
                holder.trim()
            ))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// The command line that reproduces one scenario's run.
fn reproduce(plan: &Plan, args: &RunArgs) -> String {
    let clock = match args.clock {
        Some(ClockKind::Virtual) => " --clock virtual",
        Some(ClockKind::Real) => " --clock real",
        None => "",
    };
    let params: String =
        COMPILE.get().map(|(_, given)| given.iter().map(|g| format!(" {g}")).collect()).unwrap_or_default();
    let segment = plan.segment.as_ref().map(|s| format!(" --segment {}", s.label)).unwrap_or_default();
    format!(
        "herd run {} --seed {}{clock}{params}{segment} --out {}",
        shell_word(&plan.file),
        plan.seed,
        shell_word(&args.out.to_string_lossy())
    )
}

/// Baselines by scenario name: a single summary.json, or a folder of `<name>/summary.json`.
fn load_baselines(path: &Path, plans: &[Plan]) -> Result<Vec<(String, RunSummary)>, String> {
    if path.is_dir() {
        let mut out = Vec::new();
        for p in plans {
            let file = path.join(&p.name).join("summary.json");
            if file.exists() {
                out.push((p.name.clone(), read_summary(&file)?));
            }
        }
        if out.is_empty() {
            return Err(format!("{} holds no <scenario-name>/summary.json for these scenarios", path.display()));
        }
        Ok(out)
    } else {
        let s = read_summary(path)?;
        // A single baseline applies to a single scenario whatever its name, so a renamed
        // scenario can still be compared with its predecessor.
        match plans {
            [only] => Ok(vec![(only.name.clone(), s)]),
            _ => Ok(vec![(s.scenario.name.clone(), s)]),
        }
    }
}

fn print_comparison(c: &Comparison) {
    let verdict = if c.failed() { "REGRESSED" } else { "no regression" };
    println!("  baseline {} ({}): {verdict} at {}% tolerance", c.baseline_name, c.baseline_started_at, c.tolerance_pct);
    for r in c.rows.iter().filter(|r| r.regressed) {
        println!("    {} {}: {} -> {} ({})", r.metric, r.stat, r.baseline_text, r.current_text, r.change_text);
    }
    for t in c.threshold_changes.iter().filter(|t| t.baseline_passed && !t.current_passed) {
        println!("    {} {} passed before and fails now ({})", t.key, t.rule, t.measured_text);
    }
}

/// Writes index.html, index.md and an aggregated junit.xml for a run over several scenarios.
fn write_index(out: &Path, summaries: &[RunSummary], skipped: &[SkippedScenario], renderer: &Renderer) -> Result<()> {
    let entries: Vec<IndexEntry> = summaries.iter().map(IndexEntry::new).collect();
    std::fs::create_dir_all(out).map_err(|e| HerdError::output(out, e))?;
    std::fs::write(out.join("index.html"), renderer.index(&entries, skipped, true)?)?;
    std::fs::write(out.join("index.md"), renderer.index(&entries, skipped, false)?)?;
    let data: Vec<ReportData> = summaries.iter().map(ReportData::from_summary).collect();
    let refs: Vec<&ReportData> = data.iter().collect();
    std::fs::write(out.join("junit.xml"), junit(&refs)?)?;
    Ok(())
}

fn cmd_report(args: &ReportArgs) -> Result<ExitCode> {
    let renderer = match Renderer::new(args.templates.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}", printable_text(&e.to_string()));
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    let mut summaries = Vec::new();
    for path in &args.summaries {
        let read = if path.extension().is_some_and(|e| e == "jsonl") { read_journal(path) } else { read_summary(path) };
        match read {
            // The name becomes a folder under --out: only what `check` accepts in a scenario
            // file, so a hand-edited summary cannot write outside the output folder.
            Ok(s) if !herd::scenario::valid_scenario_name(&s.scenario.name) => {
                eprintln!(
                    "error: {}: scenario name {:?} cannot be used as a folder name; accepted: lower-case letters, digits, `-` and `_`",
                    path.display(),
                    s.scenario.name
                );
                return Ok(ExitCode::from(EXIT_INVALID));
            }
            Ok(s) => summaries.push((path.clone(), s)),
            Err(e) => {
                eprintln!("error: {}", printable_text(&e.to_string()));
                return Ok(ExitCode::from(EXIT_INVALID));
            }
        }
    }
    for (path, s) in &summaries {
        let dir = match &args.out {
            Some(out) => out.join(&s.scenario.name),
            None => path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        };
        std::fs::create_dir_all(&dir).map_err(|e| HerdError::output(&dir, e))?;
        for written in write_reports(&dir, s, &renderer, &args.format)? {
            println!("{}", written.display());
        }
    }
    if summaries.len() > 1 {
        let out = match &args.out {
            Some(out) => out.clone(),
            None => common_parent(summaries.iter().map(|(p, _)| p.as_path())),
        };
        let only: Vec<RunSummary> = summaries.into_iter().map(|(_, s)| s).collect();
        write_index(&out, &only, &[], &renderer)?;
        println!("{}", out.join("index.html").display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The folder that holds every summary's folder.
fn common_parent<'a>(paths: impl Iterator<Item = &'a Path>) -> PathBuf {
    let dirs: Vec<PathBuf> = paths
        .map(|p| p.parent().and_then(Path::parent).map_or_else(|| PathBuf::from("."), Path::to_path_buf))
        .collect();
    let first = dirs.first().cloned().unwrap_or_else(|| PathBuf::from("."));
    first
        .ancestors()
        .find(|a| dirs.iter().all(|d| d.starts_with(a)))
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cmd_compare(baseline: &Path, current: &Path, tolerance: &str, md: Option<&Path>) -> Result<ExitCode> {
    let tolerance = match parse_tolerance(tolerance) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: --tolerance: {e}");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    let (base, cur) = match (read_summary(baseline), read_summary(current)) {
        (Ok(b), Ok(c)) => (b, c),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {}", printable_text(&e.to_string()));
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    let c = compare(&base, &cur, tolerance);
    println!("{:<22} {:<5} {:>12} {:>12} {:>10}", "metric", "stat", "baseline", "current", "change");
    for r in &c.rows {
        let flag = if r.regressed { "  REGRESSED" } else { "" };
        println!(
            "{:<22} {:<5} {:>12} {:>12} {:>10}{flag}",
            r.metric, r.stat, r.baseline_text, r.current_text, r.change_text
        );
    }
    for t in &c.threshold_changes {
        let now = if t.current_passed { "passes now" } else { "FAILS now" };
        println!("threshold {} {}: {now} ({})", t.key, t.rule, t.measured_text);
    }
    let md_path = md
        .map(Path::to_path_buf)
        .unwrap_or_else(|| current.parent().map_or_else(|| PathBuf::from("compare.md"), |d| d.join("compare.md")));
    let renderer = Renderer::new(None)?;
    std::fs::write(&md_path, renderer.comparison(&c)?)
        .with_context(|| format!("cannot write {}", md_path.display()))?;
    println!("{}: {}", if c.failed() { "REGRESSED" } else { "no regression" }, md_path.display());
    Ok(if c.failed() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// This machine's host name, for the summary (`herd merge` lists the machine of each slice).
fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// Waits until `at` (or a stop request), or says how late the run starts.
fn wait_for_start(at: std::time::SystemTime, stop: &AtomicBool) {
    match at.duration_since(std::time::SystemTime::now()) {
        Ok(wait) => {
            eprintln!("herd: waiting {} for --start-at", format_duration(wait));
            let until = Instant::now() + wait;
            // In short steps, so that Ctrl-C during the wait is heard.
            while !stop.load(Ordering::SeqCst) {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(std::time::Duration::from_millis(100)));
            }
        }
        Err(late) => {
            eprintln!("herd: starting {} after --start-at (late)", format_duration(late.duration()));
            tracing::warn!(target: "herd::cli", "started {:?} after --start-at", late.duration());
        }
    }
}
