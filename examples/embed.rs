//! Embedding herd as a library: load a scenario, change it in code, run it on the virtual clock
//! and read the verdicts, without the command line.
//!
//! Run with `cargo run --example embed -- scenarios/burst-100.toml`.

use std::path::PathBuf;

use herd::plan::load_and_compile;
use herd::report::{RunInfo, summarize, terminal_summary};
use herd::runtime::{ClockKind, NoObserver, RunOptions, run};
use herd::targets::build_target;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| "scenarios/burst-100.toml".into());
    let mut plan = load_and_compile(&path).map_err(|d| d.render())?;
    // Plans are plain data: sweep a parameter, here the seed, and compare the results.
    for seed in [1, 2, 3] {
        plan.seed = seed;
        let mut target = build_target(&plan)?;
        let result = run(&plan, target.as_mut(), &RunOptions::default(), &mut NoObserver);
        let info = RunInfo {
            engine_version: env!("CARGO_PKG_VERSION").into(),
            started_at: String::new(),
            wall_seconds: 0.0,
            command_line: format!("embed {}", path.display()),
            host: None,
            segment: None,
        };
        let summary = summarize(&plan, &result, ClockKind::Virtual, info);
        print!("{}", terminal_summary(&summary));
    }
    Ok(())
}
