//! `herd merge`: finds the summaries, merges them, writes the merged summary and its reports.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use herd::distribute::{RunStore, S3Location};
use herd::report::{Renderer, merge_summaries, read_summary, terminal_summary, write_reports, write_summary};
use herd::text::printable_text;
use herd::{EXIT_INVALID, EXIT_TARGET, HerdError};

use super::args::MergeArgs;

/// Every `summary.json` under `dir`, in path order, skipping hidden folders and `skip`.
fn find_summaries(dir: &Path, skip: &Path, found: &mut Vec<PathBuf>) -> Result<(), String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read folder {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let hidden = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if hidden || same_place(&path, skip) {
            continue;
        }
        if path.is_dir() {
            find_summaries(&path, skip, found)?;
        } else if path.file_name().is_some_and(|n| n == "summary.json") {
            found.push(path);
        }
    }
    Ok(())
}

fn same_place(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Downloads `slices/` of the run folder `url` into `<out>/.from-s3/<bucket>/<prefix>`.
fn fetch_slices(url: &str, out: &Path) -> Result<PathBuf, (u8, String)> {
    let at: S3Location = url.parse().map_err(|e: herd::distribute::DistributeError| (EXIT_INVALID, e.to_string()))?;
    let dir = out.join(".from-s3").join(&at.bucket).join(at.prefix.trim_end_matches('/'));
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| (EXIT_TARGET, e.to_string()))?;
    let endpoint = std::env::var("HERD_S3_ENDPOINT_URL").ok();
    let store = rt.block_on(RunStore::connect(at, None, endpoint.as_deref()));
    let _ = std::fs::remove_dir_all(&dir);
    match rt.block_on(store.download_dir("slices", &dir)) {
        Ok(0) => Err((
            EXIT_INVALID,
            format!("{url}: no slices/ in this run folder; give the folder a distributed run printed"),
        )),
        Ok(_) => Ok(dir),
        Err(e) => Err((EXIT_TARGET, format!("{url}: {e}"))),
    }
}

pub(crate) fn cmd_merge(args: &MergeArgs) -> Result<ExitCode> {
    let invalid = |msg: String| {
        eprintln!("error: {}", printable_text(&msg));
        Ok(ExitCode::from(EXIT_INVALID))
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    // Summaries found by searching a folder, rather than named.
    let mut searched: Vec<PathBuf> = Vec::new();
    for input in &args.inputs {
        // A distributed run's S3 folder (what its coordinator would have collected): its
        // slices come down under a hidden folder of --out, then are searched like any folder.
        let local;
        let input = match input.to_str().filter(|s| s.starts_with("s3://")) {
            Some(url) => match fetch_slices(url, &args.out) {
                Ok(dir) => {
                    local = dir;
                    &local
                }
                Err((code, e)) => {
                    eprintln!("error: {}", printable_text(&e));
                    return Ok(ExitCode::from(code));
                }
            },
            None => input,
        };
        if input.is_dir() {
            let before = paths.len();
            if let Err(e) = find_summaries(input, &args.out, &mut paths) {
                return invalid(e);
            }
            searched.extend(paths[before..].iter().cloned());
            if paths.len() == before {
                return invalid(format!("{}: no summary.json in this folder or under it", input.display()));
            }
        } else if input.exists() {
            paths.push(input.clone());
        } else {
            return invalid(format!("{}: no such file or folder; give summary.json files or folders", input.display()));
        }
    }
    // The same summary named twice (a file and its folder) would count its messages twice.
    let mut seen = Vec::new();
    paths.retain(|p| {
        let key = p.canonicalize().unwrap_or_else(|_| p.clone());
        let new = !seen.contains(&key);
        seen.push(key);
        new
    });
    let mut runs = Vec::with_capacity(paths.len());
    for path in &paths {
        match read_summary(path) {
            // A merged summary found in a folder (a distributed run's, beside its slices) is
            // not read again: its runs are merged from their own summaries.
            Ok(s) if !s.slices.is_empty() && searched.contains(path) => {
                eprintln!("herd: skipped {}: a merged summary; its runs are read from their own", path.display());
            }
            Ok(s) => runs.push((path.display().to_string(), s)),
            Err(e) => return invalid(e),
        }
    }
    if runs.is_empty() {
        return invalid("nothing to merge: every summary found was itself a merge".to_owned());
    }
    let line =
        std::env::args().map(|a| if a.contains(' ') { format!("{a:?}") } else { a }).collect::<Vec<_>>().join(" ");
    let merged = match merge_summaries(&runs, &line) {
        Ok(m) => m,
        Err(e) => return invalid(e.to_string()),
    };
    // The name becomes a folder under --out: only what `check` accepts in a scenario file.
    if !herd::scenario::valid_scenario_name(&merged.scenario.name) {
        return invalid(format!(
            "scenario name {:?} cannot be used as a folder name; accepted: lower-case letters, digits, `-` and `_`",
            merged.scenario.name
        ));
    }
    let renderer = match Renderer::new(args.templates.as_deref()) {
        Ok(r) => r,
        Err(e) => return invalid(e.to_string()),
    };
    let dir = args.out.join(&merged.scenario.name);
    let summary_path = write_summary(&dir, &merged).map_err(|e| HerdError::output(&dir, e))?;
    let written = write_reports(&dir, &merged, &renderer, &args.format)?;
    print!("{}", terminal_summary(&merged));
    println!("merged {} runs into {}", runs.len(), summary_path.display());
    for w in written {
        println!("{}", w.display());
    }
    Ok(ExitCode::from(merged.verdict.exit_code() as u8))
}
