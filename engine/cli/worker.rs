//! `herd run --segment i/N --s3-run s3://...`: a worker of `--distribute ecs`. It reads its
//! scenario from the run's S3 folder, runs its slice as any `--segment` run does, leaves its
//! totals there as it goes, and uploads its output folder when it ends, however it ends (a
//! refused slice, a failed target, an interruption by StopTask), then says it is done: the
//! coordinator follows and collects it through S3 alone.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use herd::distribute::{RunStore, S3Location, WorkerProgress, slice_folder};
use herd::report::last_totals;
use herd::targets::PeerBook;
use herd::text::printable_text;
use herd::{EXIT_INVALID, EXIT_OUTPUT, EXIT_TARGET};

use super::args::RunArgs;

/// How often a worker leaves its totals.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Every this many progress ticks (30 s), the journal so far goes up too.
const JOURNAL_EVERY_TICKS: u32 = 15;

/// A journal larger than this is not uploaded while the run goes (only at its end).
const MAX_JOURNAL_UPLOAD: u64 = 64 << 20;

/// Runs one worker; its exit code is its run's, or 4 when its results could not be uploaded.
pub(crate) fn run_worker(args: &RunArgs, at: &str) -> Result<ExitCode> {
    let Some(seg) = args.segment else {
        eprintln!("error: --s3-run needs --segment i/n");
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let at: S3Location = match at.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: --s3-run: {e}");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    // A thread of its own drives the calls, so the progress thread's calls go through while
    // the run holds the main thread.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let region = std::env::var("HERD_S3_REGION").ok();
    let endpoint = std::env::var("HERD_S3_ENDPOINT_URL").ok();
    let store = rt.block_on(RunStore::connect(at.clone(), region.as_deref(), endpoint.as_deref()));
    let folder = slice_folder(seg.index, seg.count);
    // The scenario and its files, under a folder of this slice's own (workers on one machine
    // do not share it).
    let input = args.out.join(format!(".herd-input-{folder}"));
    let _ = std::fs::remove_dir_all(&input);
    if let Err(e) = rt.block_on(store.download_dir("input", &input)) {
        eprintln!("error: cannot read the run's scenario: {}", printable_text(&e.to_string()));
        let done = WorkerProgress { state: "done".into(), exit_code: Some(EXIT_TARGET), ..Default::default() };
        let _ = rt.block_on(store.put_progress(seg.index, seg.count, &done));
        return Ok(ExitCode::from(EXIT_TARGET));
    }
    let mut local = args.clone();
    local.s3_run = None;
    // The slices find each other's callback listeners in the run's folder.
    local.peers_s3 = Some(PeerBook::S3 { at, region, endpoint_url: endpoint });
    local.paths = args.paths.iter().map(|p| input.join(p)).collect();
    // Totals as the run goes, from this worker's journal.
    let running = Arc::new(AtomicBool::new(true));
    let publisher = {
        let (store, running, out, folder) = (store.clone(), running.clone(), args.out.clone(), folder.clone());
        let handle = rt.handle().clone();
        std::thread::spawn(move || {
            let mut ticks = 0u32;
            while running.load(Ordering::SeqCst) {
                std::thread::sleep(PROGRESS_EVERY);
                if !running.load(Ordering::SeqCst) {
                    break;
                }
                ticks += 1;
                let journal = journals(&out, &folder).into_iter().next_back();
                let totals = journal.as_deref().and_then(last_totals);
                let p = WorkerProgress { state: "running".into(), totals: totals.unwrap_or_default(), exit_code: None };
                if let Err(e) = handle.block_on(store.put_progress(seg.index, seg.count, &p)) {
                    tracing::warn!(target: "herd::distribute", "cannot leave progress: {e}");
                }
                // The journal so far, now and then: a task that is killed outright (out of
                // memory, Spot taken back) still leaves a timeline `herd report` can render.
                if ticks.is_multiple_of(JOURNAL_EVERY_TICKS)
                    && let Some(j) = journal
                    && std::fs::metadata(&j).is_ok_and(|m| m.len() <= MAX_JOURNAL_UPLOAD)
                    && let Ok(body) = std::fs::read(&j)
                    && let Err(e) = handle.block_on(store.put(&format!("slices/{folder}/journal.jsonl"), body))
                {
                    tracing::warn!(target: "herd::distribute", "cannot upload the journal so far: {e}");
                }
            }
        })
    };
    let outcome = super::commands::run_code(&local);
    running.store(false, Ordering::SeqCst);
    let _ = publisher.join();
    let mut code = match &outcome {
        Ok(c) => *c,
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_OUTPUT
        }
    };
    // The slice's output folder (a coordinator runs one scenario per S3 folder) goes up, then the word that it is
    // done, so that the coordinator never collects half of it.
    let mut uploaded = 0;
    for dir in slice_dirs(&args.out, &folder) {
        match rt.block_on(store.upload_dir(&dir, &format!("slices/{folder}"))) {
            Ok(n) => uploaded += n,
            Err(e) => {
                eprintln!("error: cannot upload the results: {}", printable_text(&e.to_string()));
                code = EXIT_OUTPUT;
            }
        }
    }
    let totals = journals(&args.out, &folder).iter().filter_map(|j| last_totals(j)).next_back().unwrap_or_default();
    let done = WorkerProgress { state: "done".into(), totals, exit_code: Some(code) };
    if let Err(e) = rt.block_on(store.put_progress(seg.index, seg.count, &done)) {
        eprintln!("error: cannot say it is done: {}", printable_text(&e.to_string()));
        code = EXIT_OUTPUT;
    }
    eprintln!("herd: uploaded {uploaded} files to {}slices/", store.location());
    Ok(ExitCode::from(code))
}

/// `<out>/<scenario>/<folder>/` for every scenario run.
fn slice_dirs(out: &Path, folder: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(out) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path().join(folder))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The journals of this slice's output folders.
fn journals(out: &Path, folder: &str) -> Vec<PathBuf> {
    slice_dirs(out, folder).into_iter().map(|d| d.join("journal.jsonl")).collect()
}
