//! The cost of checking hostile files: a scenario with thousands of mistakes must be refused in
//! time linear in its size (it was quadratic: 10,000 unknown keys took 3.3 s, 40,000 bad
//! thresholds 2.2 s). Each case is timed at n and 4n errors; a linear loader shows a ratio near
//! 4, a quadratic one near 16.
//!
//! The same ratio shows whether a scenario with many project+user pairs compiles and dry-runs in
//! linear time (the goal: 16,000 pairs in under half a second; the aws target's queue list was
//! a scan per session: 2.6 s).
//!
//! Run with `cargo bench --bench loader`.

use std::time::Instant;

use herd::plan::compile;
use herd::scenario::load_bytes;

const HEAD: &str = "name = \"many\"\n[[sessions]]\ncount = 1\n[[phases]]\nexecutor = \"burst\"\ncount = 1\n";

fn unknown_keys(n: usize) -> String {
    (0..n).fold(HEAD.to_owned(), |s, i| s + &format!("unknown_{i} = 1\n"))
}

fn bad_tables(n: usize) -> String {
    (0..n).fold(HEAD.to_owned(), |s, _| s + "[[faults]]\nbogus = 1\n")
}

fn bad_thresholds(n: usize) -> String {
    (0..n).fold(format!("{HEAD}[thresholds]\n"), |s, i| s + &format!("bogus_metric_{i} = [\"count == 0\"]\n"))
}

/// A label and the file with n errors.
type Case = (&'static str, fn(usize) -> String);

/// Seconds to load, compile and render the errors of `text` (best of three).
fn check(text: &str) -> (f64, usize) {
    let mut best = f64::INFINITY;
    let mut errors = 0;
    for _ in 0..3 {
        let start = Instant::now();
        let diagnostics = match load_bytes("bench.toml", text.as_bytes()) {
            Ok(loaded) => compile(&loaded).expect_err("the file is invalid"),
            Err(failure) => failure,
        };
        errors = diagnostics.items.len();
        let _ = diagnostics.render_at_most(Some(50));
        best = best.min(start.elapsed().as_secs_f64());
    }
    (best, errors)
}

/// A scenario with `n` sessions, each its own project+user pair, on the sim or the aws target.
fn pairs(kind: &str, n: usize) -> String {
    let target = match kind {
        "aws" => "kind = \"aws\"\npreset = \"webordinary-b\"\nallowed_accounts = [\"123456789012\"]\nprovision = true",
        _ => "kind = \"sim\"\ncontainers = { max = 100, warm = 10 }",
    };
    format!(
        "name = \"pairs\"\n[target]\n{target}\n[[sessions]]\ncount = {n}\nproject = \"project-{{{{ i }}}}\"\n\
         thread = \"thread-{{{{ i }}}}\"\n[[phases]]\nexecutor = \"constant-arrival-rate\"\nrate = \"10/s\"\n\
         duration = \"10s\"\nmessage = {{ instruction = \"hi\" }}\n"
    )
}

/// Seconds to load, compile and dry-run `text` (best of three), and the number of calls listed.
fn plan_and_dry_run(text: &str) -> (f64, usize) {
    let mut best = f64::INFINITY;
    let mut calls = 0;
    for _ in 0..3 {
        let start = Instant::now();
        let loaded = load_bytes("bench.toml", text.as_bytes()).unwrap_or_else(|d| panic!("{}", d.render()));
        let plan = compile(&loaded).unwrap_or_else(|d| panic!("{}", d.render()));
        calls = plan.target.dry_run(&plan).expect("dry run").len();
        best = best.min(start.elapsed().as_secs_f64());
    }
    (best, calls)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let cases: [Case; 3] = [
        ("unknown top-level keys", unknown_keys),
        ("bad [[faults]] tables", bad_tables),
        ("bad thresholds", bad_thresholds),
    ];
    for (label, make) in cases {
        let (small, n_small) = check(&make(10_000));
        let (large, n_large) = check(&make(40_000));
        println!(
            "{label:<24} {n_small:>6} errors {small:>7.3} s   {n_large:>6} errors {large:>7.3} s   ratio {:.1} (linear: 4, quadratic: 16)",
            large / small
        );
    }
    for kind in ["sim", "aws"] {
        let (small, calls_small) = plan_and_dry_run(&pairs(kind, 4_000));
        let (large, calls_large) = plan_and_dry_run(&pairs(kind, 16_000));
        println!(
            "{kind} target, compile + dry run: 4,000 pairs {small:>7.3} s ({calls_small} calls)   16,000 pairs {large:>7.3} s ({calls_large} calls)   ratio {:.1} (linear: 4)",
            large / small
        );
    }
}
