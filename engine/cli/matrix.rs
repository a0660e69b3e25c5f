//! `herd run` of a scenario with `[matrix]`: every variant compiled first (a bad one refuses
//! the sweep before anything runs), then run side by side on the machine's cores, each into
//! `<out>/<scenario>/variant-<k>/` with its own summary, journal and reports, and compared in
//! `<out>/<scenario>/matrix.{html,md,json}`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Result;
use herd::plan::{CompileOptions, MatrixPlan, Plan, load_and_compile_with};
use herd::report::{
    Format, JournalWriter, Renderer, RunInfo, RunSummary, SweepRow, summarize, sweep, sweep_row, write_reports,
    write_summary,
};
use herd::runtime::{ClockKind, RunOptions, run};
use herd::scenario::Overrides;
use herd::targets::TargetOptions;
use herd::text::printable_text;
use herd::{EXIT_INTERRUPTED, EXIT_INVALID, EXIT_TARGET, HerdError};

use super::args::RunArgs;

/// When one variant ran, and on which of the sweep's workers.
#[derive(Debug, Clone, serde::Serialize)]
struct Timing {
    variant: usize,
    worker: usize,
    started_s: f64,
    finished_s: f64,
}

/// Every variant of `matrix` compiled, the command line's own `--set`s winning over the
/// matrix's values; `None` (the first bad variant's errors said on stderr) when one does not
/// compile.
pub(crate) fn compile_variants(plan: &Plan, matrix: &MatrixPlan, seed: Option<u64>) -> Option<Vec<Plan>> {
    let base = super::commands::compile_options();
    let mut plans = Vec::with_capacity(matrix.variants.len());
    for v in &matrix.variants {
        let sets = v.sets.iter().chain(&base.overrides.sets).cloned().collect();
        let options = CompileOptions { allow_large: base.allow_large, overrides: Overrides { sets } };
        match load_and_compile_with(Path::new(&plan.file), &options) {
            Ok(mut p) => {
                if let Some(seed) = seed {
                    p.seed = seed;
                }
                plans.push(p);
            }
            Err(d) => {
                eprintln!("error: {}: [matrix] variant {} ({}) does not compile:", plan.file, v.index, v.label());
                eprint!("{}", d.render_at_most(Some(20)));
                return None;
            }
        }
    }
    Some(plans)
}

/// Runs the sweep of `plan`; returns the exit code: 0 when a variant met every threshold, 1
/// when none did, 130 when interrupted.
pub(crate) fn run_matrix(
    plan: &Plan,
    matrix: &MatrixPlan,
    args: &RunArgs,
    stop: &Arc<AtomicBool>,
    hurry: &Arc<AtomicBool>,
    renderer: &Renderer,
) -> Result<u8> {
    let refuse = |why: &str| {
        eprintln!("error: {}: [matrix]: {why}", plan.file);
        Ok(EXIT_INVALID)
    };
    if plan.target.default_clock() != ClockKind::Virtual || args.clock == Some(ClockKind::Real) {
        return refuse(
            "a sweep runs on the simulated target's virtual clock; run a real target's variants one by one with --set",
        );
    }
    if args.segment.is_some() || args.distribute.is_some() {
        return refuse("a sweep runs on this machine's cores; drop --segment and --distribute");
    }
    let plans = match compile_variants(plan, matrix, args.seed) {
        Some(p) => p,
        None => return Ok(EXIT_INVALID),
    };
    let dir = args.out.join(&plan.name);
    std::fs::create_dir_all(&dir).map_err(|e| HerdError::output(&dir, e))?;
    let width = matrix.variants.len().to_string().len();
    let folder = |k: usize| format!("variant-{k:0width$}");
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let workers = matrix.parallel.unwrap_or(cores).clamp(1, plans.len().max(1));
    eprintln!("herd: {} variants of {}, {workers} at a time", plans.len(), plan.name);
    let started = Instant::now();
    // Worker w runs variant w first, so every worker has work when there is enough of it;
    // after that each takes the next variant nobody has.
    let next = AtomicUsize::new(workers);
    let results: std::sync::Mutex<Vec<Option<(RunSummary, Timing)>>> =
        std::sync::Mutex::new((0..plans.len()).map(|_| None).collect());
    let failure: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for w in 0..workers {
            let (plans, results, failure, next, folder, dir) = (&plans, &results, &failure, &next, &folder, &dir);
            scope.spawn(move || {
                let mut k = w;
                while k < plans.len() && !stop.load(Ordering::SeqCst) {
                    let t0 = started.elapsed().as_secs_f64();
                    let vdir = dir.join(folder(k + 1));
                    match run_variant(&plans[k], &vdir, stop, hurry, args, renderer) {
                        Ok(s) => {
                            let timing = Timing {
                                variant: k + 1,
                                worker: w,
                                started_s: t0,
                                finished_s: started.elapsed().as_secs_f64(),
                            };
                            eprintln!("  variant {} ({}): {}", k + 1, matrix.variants[k].label(), s.verdict.name());
                            if let Ok(mut r) = results.lock() {
                                r[k] = Some((s, timing));
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(format!("variant {} ({}): {e}", k + 1, matrix.variants[k].label()));
                            }
                            stop.store(true, Ordering::SeqCst);
                        }
                    }
                    k = next.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    if let Some(f) = failure.lock().ok().and_then(|mut f| f.take()) {
        eprintln!("error: {}: {}", plan.file, printable_text(&f));
        return Ok(EXIT_TARGET);
    }
    let results = results.into_inner().unwrap_or_default();
    let mut rows: Vec<(SweepRow, &RunSummary)> = Vec::new();
    let mut timings = Vec::new();
    for (k, r) in results.iter().enumerate() {
        if let Some((s, t)) = r {
            rows.push((sweep_row(&matrix.variants[k], s, &folder(k + 1)), s));
            timings.push(t.clone());
        }
    }
    let comparison = sweep(matrix, &plan.name, &rows, workers);
    let json = serde_json::json!({
        "sweep": comparison, "variants": matrix.variants, "timings": timings,
        "wall_seconds": started.elapsed().as_secs_f64(), "workers": workers,
    });
    let write = |name: &str, body: String| -> Result<()> {
        std::fs::write(dir.join(name), body).map_err(|e| HerdError::output(dir.join(name), e))?;
        Ok(())
    };
    write("matrix.json", serde_json::to_string_pretty(&json).unwrap_or_default())?;
    write("matrix.html", renderer.sweep(&comparison, true)?)?;
    write("matrix.md", renderer.sweep(&comparison, false)?)?;
    for r in &comparison.rows {
        let p99 = r.p99_ms.map_or_else(|| "-".to_owned(), |v| format!("{v:.1} ms"));
        let cost = r.cost.map_or_else(|| "-".to_owned(), |c| format!("${c:.6}"));
        println!(
            "{} variant {}: {}  {}  p99 {p99}  cost {cost}  containers {}",
            if r.best { "*" } else { " " },
            r.index,
            r.label,
            r.verdict,
            r.containers
        );
    }
    println!("{}", comparison.best_reason);
    println!("  comparison: {}", dir.join("matrix.html").display());
    if stop.load(Ordering::SeqCst) {
        return Ok(EXIT_INTERRUPTED);
    }
    Ok(if comparison.best.is_some() { 0 } else { 1 })
}

/// One variant, into `dir`: its journal as it goes, then its summary and reports.
fn run_variant(
    plan: &Plan,
    dir: &Path,
    stop: &Arc<AtomicBool>,
    hurry: &Arc<AtomicBool>,
    args: &RunArgs,
    renderer: &Renderer,
) -> Result<RunSummary> {
    let options = TargetOptions { callback_listen: None, output_dir: Some(dir.to_path_buf()), peers: None };
    let mut target = plan.target.build(plan, &options).map_err(|e| anyhow::anyhow!("{e}"))?;
    let info = RunInfo {
        engine_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        wall_seconds: 0.0,
        command_line: format!("herd run {} --seed {}", plan.file, plan.seed),
        host: None,
        segment: None,
    };
    let mut journal =
        JournalWriter::create(dir, plan, ClockKind::Virtual, info.clone()).map_err(|e| HerdError::output(dir, e))?;
    let wall = Instant::now();
    let opts =
        RunOptions { clock: ClockKind::Virtual, stop: stop.clone(), hurry: hurry.clone(), stop_grace: args.stop_grace };
    let result = run(plan, target.as_mut(), &opts, &mut journal);
    drop(target);
    let mut info = info;
    info.wall_seconds = wall.elapsed().as_secs_f64();
    let summary = summarize(plan, &result, ClockKind::Virtual, info);
    write_summary(dir, &summary).map_err(|e| HerdError::output(dir.join("summary.json"), e))?;
    write_reports(dir, &summary, renderer, &[Format::Html, Format::Md, Format::Junit])?;
    Ok(summary)
}
