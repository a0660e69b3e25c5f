//! `[matrix]`: a what-if sweep runs every variant side by side, each exactly as a single run
//! with the same parameters and seed, and its comparison picks the right best variant.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use herd::plan::{CompileOptions, load_and_compile_with};
use herd::report::{RunSummary, read_summary};
use herd::scenario::Overrides;

fn herd(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herd")).args(args).current_dir(dir).output().expect("herd runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// 12 sessions over 6 pairs; the pool and the rate are swept. A pool smaller than the pairs
/// loses messages (the threshold fails); of the pools that are big enough the smaller costs
/// less.
const SWEEP: &str = r#"
name = "sweep"
seed = 5
max_duration = "10m"
reply_timeout = "1m"
[vars]
pool = 6
[target]
kind = "sim"
containers = { max = "{{ vars.pool }}", warm = "{{ vars.pool }}" }
processing = "uniform(1s, 3s)"
[[sessions]]
count = 12
project = "p-{{ i % 6 }}"
[[phases]]
name = "load"
executor = "constant-arrival-rate"
rate = "1/s"
duration = "1m"
[thresholds]
messages_lost = ["count == 0"]
[matrix]
values = { "vars.pool" = [3, 6, 8, 10], "phases.load.rate" = ["1/s", "2/s", "3/s", "4/s"] }
parallel = 2
"#;

fn variant_single_run(file: &Path, sets: &[String]) -> RunSummary {
    let options = CompileOptions { allow_large: false, overrides: Overrides { sets: sets.to_vec() } };
    let plan = load_and_compile_with(file, &options).unwrap_or_else(|d| panic!("{}", d.render()));
    common::run_plan(&plan)
}

#[test]
fn every_variant_equals_a_single_run_and_the_cheapest_passing_one_is_best() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sweep.toml");
    std::fs::write(&file, SWEEP).unwrap();
    let o = herd(dir.path(), &["run", "sweep.toml", "--out", "out", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", text(&o.stdout), text(&o.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/sweep/matrix.json")).unwrap()).unwrap();
    let variants = json["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 16, "the cross product of 4 pools and 4 rates");
    let mut summaries = Vec::new();
    for (k, v) in variants.iter().enumerate() {
        let sets: Vec<String> = v["sets"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
        // Folders sort in variant order: `variant-01` to `variant-16`.
        let folder = json["sweep"]["rows"][k]["folder"].as_str().unwrap();
        assert_eq!(folder, format!("variant-{:02}", k + 1));
        let got = read_summary(&dir.path().join("out/sweep").join(folder).join("summary.json")).unwrap();
        let want = variant_single_run(&file, &sets);
        assert_eq!(got.accounting, want.accounting, "variant {}: {sets:?}", k + 1);
        assert_eq!(got.verdict, want.verdict, "variant {}", k + 1);
        let hist = |s: &RunSummary| {
            s.metrics.iter().map(|m| (m.name.clone(), m.count, m.histogram.clone())).collect::<Vec<_>>()
        };
        assert_eq!(hist(&got), hist(&want), "variant {}", k + 1);
        assert_eq!(got.cost, want.cost, "variant {}", k + 1);
        summaries.push((sets, got));
    }
    // The best: of the variants that passed, the one that cost least.
    let best = summaries
        .iter()
        .enumerate()
        .filter(|(_, (_, s))| s.verdict == herd::report::Verdict::Passed)
        .min_by(|a, b| a.1.1.cost.as_ref().unwrap().total.total_cmp(&b.1.1.cost.as_ref().unwrap().total))
        .map(|(k, _)| k + 1)
        .expect("a pool as big as the pairs passes");
    assert_eq!(json["sweep"]["best"].as_u64(), Some(best as u64));
    assert!(summaries.iter().any(|(_, s)| s.verdict != herd::report::Verdict::Passed), "a pool of 3 fails");
    let md = std::fs::read_to_string(dir.path().join("out/sweep/matrix.md")).unwrap();
    assert!(md.contains(&format!("| **{best}** |")), "the best row stands out: {md}");
    let html = std::fs::read_to_string(dir.path().join("out/sweep/matrix.html")).unwrap();
    assert!(html.contains("class=\"best\"") && html.contains("id=\"p99-0\"") && html.contains("id=\"cost-1\""));
    // Both workers ran variants (each starts with one of its own).
    let workers: BTreeSet<u64> =
        json["timings"].as_array().unwrap().iter().map(|t| t["worker"].as_u64().unwrap()).collect();
    assert_eq!(workers, BTreeSet::from([0, 1]));
}

#[test]
fn listed_combinations_run_instead_of_the_cross_product_and_the_command_line_wins() {
    let dir = tempfile::tempdir().unwrap();
    let text_ = SWEEP.replace(
        "values = { \"vars.pool\" = [3, 6, 8, 10], \"phases.load.rate\" = [\"1/s\", \"2/s\", \"3/s\", \"4/s\"] }",
        "combinations = [{ \"vars.pool\" = 6 }, { \"vars.pool\" = 8, \"phases.load.rate\" = \"2/s\" }]",
    );
    std::fs::write(dir.path().join("sweep.toml"), text_).unwrap();
    let o = herd(dir.path(), &["run", "sweep.toml", "--out", "out", "--quiet", "--set", "phases.load.duration=10s"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v1 = read_summary(&dir.path().join("out/sweep/variant-1/summary.json")).unwrap();
    let v2 = read_summary(&dir.path().join("out/sweep/variant-2/summary.json")).unwrap();
    assert_eq!(v1.accounting.sent, 10, "1/s for the command line's 10 s");
    assert_eq!(v2.accounting.sent, 20, "2/s for 10 s");
    assert!(!dir.path().join("out/sweep/variant-3").exists());
}

#[test]
fn a_variant_that_does_not_compile_refuses_the_sweep_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sweep.toml"), SWEEP.replace("[3, 6, 8, 10]", "[3, \"many\"]")).unwrap();
    let o = herd(dir.path(), &["run", "sweep.toml", "--out", "out", "--quiet"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("variant 5") && err.contains("pool=many"), "{err}");
    assert!(!dir.path().join("out/sweep/variant-1").exists(), "nothing ran");
    // `herd check` compiles every variant too.
    let o = herd(dir.path(), &["check", "sweep.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    assert!(text(&o.stderr).contains("variant 5"), "{}", text(&o.stderr));
}

#[test]
fn every_shipped_what_if_scenario_checks_runs_and_names_a_best_variant() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(root.join("scenarios/what-if"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "the four questions of the requirements: {files:?}");
    for f in files {
        let dir = tempfile::tempdir().unwrap();
        let o = herd(dir.path(), &["run", f.to_str().unwrap(), "--out", "out", "--quiet"]);
        assert_eq!(o.status.code(), Some(0), "{}: {}\n{}", f.display(), text(&o.stdout), text(&o.stderr));
        let name = std::fs::read_dir(dir.path().join("out")).unwrap().next().unwrap().unwrap().path();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(name.join("matrix.json")).unwrap()).unwrap();
        assert!(json["sweep"]["best"].is_u64(), "{}: {}", f.display(), json["sweep"]["best_reason"]);
    }
}
