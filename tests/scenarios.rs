//! One test per shipped scenario: it validates against the schema, runs on the virtual clock,
//! passes every threshold (a what-if sweep's file: see tests/matrix.rs), keeps its accounting exact, and gives the same summary twice.

mod common;

use std::path::Path;

use herd::report::Verdict;

fn schema_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string("schemas/scenario.schema.json").expect("schemas/scenario.schema.json exists");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

fn shipped_scenario(path: &Path) -> datatest_stable::Result<()> {
    // Editors validate files against the checked-in schema; so must every shipped scenario.
    let text = std::fs::read_to_string(path)?;
    let doc: toml::Value = toml::from_str(&text)?;
    let json = serde_json::to_value(&doc)?;
    let validator = schema_validator();
    let errors: Vec<String> = validator.iter_errors(&json).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{} does not validate against the schema:\n{}", path.display(), errors.join("\n"));

    let plan = common::plan(path);
    let summary = common::run_plan(&plan);
    // A what-if sweep's file runs as one variant here (its default values), which may rightly
    // fail its thresholds: the sweep is judged on its best variant (tests/matrix.rs).
    if plan.matrix.is_some() {
        common::assert_accounting(&summary);
        let again = common::run_plan(&plan);
        assert_eq!(common::comparable(&summary), common::comparable(&again), "{} is not deterministic", path.display());
        return Ok(());
    }
    let failed: Vec<String> = summary
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| format!("{} {} (measured {})", t.key, t.rule, t.measured_text))
        .collect();
    assert!(failed.is_empty(), "{}: thresholds failed: {failed:?}", path.display());
    assert_eq!(summary.verdict, Verdict::Passed);
    assert!(!summary.thresholds.is_empty(), "a shipped scenario must assert something");
    assert!(summary.accounting.sent > 0, "the scenario sent nothing");
    common::assert_accounting(&summary);

    // Determinism: the same seed gives the same summary.
    let again = common::run_plan(&plan);
    assert_eq!(common::comparable(&summary), common::comparable(&again), "{} is not deterministic", path.display());
    Ok(())
}

/// The examples that show where the seed's numbers cannot hold must fail, and say so. The aws
/// examples must be valid and have a dry run (their real runs are in tests/aws.rs).
fn example_file(path: &Path) -> datatest_stable::Result<()> {
    let plan = common::plan(path);
    if plan.target.kind() == "aws" {
        let calls = plan.target.dry_run(&plan).expect("dry run");
        assert!(calls.iter().any(|c| c.starts_with("sqs:CreateQueue")), "{calls:?}");
        assert!(calls.iter().any(|c| c.starts_with("sqs:DeleteQueue")), "{calls:?}");
        return Ok(());
    }
    // An example either shows a feature (and passes) or shows where the seed's numbers cannot
    // hold (and fails); its description says which.
    let shows = plan.description.starts_with("Shows ");
    assert!(
        shows || plan.description.starts_with("Fails honestly."),
        "{}: the description must start with \"Shows \" or \"Fails honestly.\"",
        path.display()
    );
    let summary = common::run_plan(&plan);
    common::assert_accounting(&summary);
    if shows {
        assert_eq!(summary.verdict, Verdict::Passed, "{}: {:?}", path.display(), summary.thresholds);
        assert!(summary.accounting.sent > 0);
    } else {
        assert_eq!(summary.verdict, Verdict::Failed, "{} was meant to fail", path.display());
        assert!(summary.thresholds.iter().any(|t| !t.passed));
    }
    Ok(())
}

datatest_stable::harness! {
    { test = shipped_scenario, root = "scenarios", pattern = r"\.toml$" },
    // Files in folders under examples/ are pieces other examples extend or include.
    { test = example_file, root = "examples", pattern = r"^[^/]*\.toml$" },
}
