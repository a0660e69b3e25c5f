//! Choosing which scenarios of a folder run: `--tag`, `--skip-tag` and `--only`.

use globset::{Glob, GlobSetBuilder};
use herd::plan::Plan;
use herd::report::SkippedScenario;

use super::args::RunArgs;

/// The plans to run, in order, and the ones left out with the reason. An error when a glob is
/// malformed, or when filters were given and nothing is left (almost always a typo).
pub(crate) fn select(plans: Vec<Plan>, args: &RunArgs) -> Result<(Vec<Plan>, Vec<SkippedScenario>), String> {
    let mut globs = GlobSetBuilder::new();
    for g in &args.only {
        globs.add(Glob::new(g).map_err(|e| format!("--only {g}: {e}"))?);
    }
    let globs = globs.build().map_err(|e| format!("--only: {e}"))?;
    let mut run = Vec::new();
    let mut skipped = Vec::new();
    for plan in plans {
        let reason = if let Some(t) = plan.tags.iter().find(|t| args.skip_tags.contains(t)) {
            Some(format!("tagged `{t}` (--skip-tag)"))
        } else if !args.tags.is_empty() && !plan.tags.iter().any(|t| args.tags.contains(t)) {
            Some(format!(
                "has none of the tags {}",
                args.tags.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
            ))
        } else if !args.only.is_empty() && !globs.is_match(&plan.name) {
            Some(format!("its name matches none of --only {}", args.only.join(", ")))
        } else {
            None
        };
        match reason {
            Some(reason) => skipped.push(SkippedScenario { name: plan.name.clone(), file: plan.file.clone(), reason }),
            None => run.push(plan),
        }
    }
    if run.is_empty() && !skipped.is_empty() {
        return Err(format!(
            "no scenario is left to run: {}",
            skipped.iter().map(|s| format!("{} {}", s.name, s.reason)).collect::<Vec<_>>().join("; ")
        ));
    }
    Ok((run, skipped))
}
