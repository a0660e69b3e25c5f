//! What ships beside the code to run herd in AWS: the IAM policy must allow every call herd
//! makes, and the Dockerfile must build a small image that does not run as root. The image
//! cannot be built here (no container engine); `hadolint` checks the Dockerfile when it is
//! installed.

use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `delete_message_batch` -> `DeleteMessageBatch`.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// Every AWS call in herd's source, as the IAM action that authorises it.
fn calls_in_source() -> BTreeSet<String> {
    let client = regex::Regex::new(r"\b(sqs|dynamodb|ecs|s3|cloudwatch|client)\s*\.\s*([a-z_]+)\(\)").unwrap();
    let wire = regex::Regex::new(r#"call\("([A-Za-z]+)""#).unwrap();
    let mut out = BTreeSet::new();
    let mut files = vec![root().join("engine")];
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if p.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for c in client.captures_iter(&text) {
            let (svc, op) = (&c[1], &c[2]);
            // Accessors of herd's own types share the names; only SDK operations count.
            if ["as_ref", "as_deref", "clone"].contains(&op) {
                continue;
            }
            let svc = if svc == "client" { "cloudwatch" } else { svc };
            // S3 authorises listing a bucket and asking for it under one action.
            let action = match (svc, op) {
                ("s3", "head_bucket" | "list_objects_v2") => "ListBucket".to_owned(),
                _ => pascal(op),
            };
            out.insert(format!("{svc}:{action}"));
        }
        for c in wire.captures_iter(&text) {
            // herd's own SQS data-plane client; a batch call is authorised by its single form.
            out.insert(format!("sqs:{}", c[1].trim_end_matches("Batch")));
        }
    }
    out
}

#[test]
fn the_iam_policy_allows_every_call_herd_makes() {
    let policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("deploy/iam/herd-run.json")).unwrap()).unwrap();
    let allowed: BTreeSet<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()))
        .collect();
    let calls = calls_in_source();
    // The scan must see the calls it is meant to see, or it proves nothing.
    for known in [
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "dynamodb:GetItem",
        "ecs:StopTask",
        "ecs:RunTask",
        "s3:PutObject",
        "cloudwatch:PutMetricData",
    ] {
        assert!(calls.contains(known), "the source scan missed {known}: {calls:?}");
    }
    // GetCallerIdentity needs no permission: IAM cannot deny it.
    let missing: Vec<&String> =
        calls.iter().filter(|c| *c != "sts:GetCallerIdentity" && !allowed.contains(*c)).collect();
    assert!(missing.is_empty(), "deploy/iam/herd-run.json does not allow {missing:?}");
    // RunTask hands the task definition's roles to the task: AWS asks for iam:PassRole on them.
    assert!(calls.contains("ecs:RunTask") && allowed.contains("iam:PassRole"), "RunTask needs iam:PassRole");
    let unused: Vec<&String> = allowed.iter().filter(|a| *a != "iam:PassRole" && !calls.contains(*a)).collect();
    assert!(unused.is_empty(), "deploy/iam/herd-run.json allows what herd never calls: {unused:?}");
}

#[test]
fn the_dockerfile_builds_in_one_stage_and_runs_as_a_user_in_another() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let froms: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "a build stage and a final stage: {froms:?}");
    // The build stage's toolchain is at least the manifest's rust-version.
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let wanted = manifest.lines().find_map(|l| l.strip_prefix("rust-version = ")).unwrap().trim_matches('"');
    let minor = |v: &str| v.split('.').nth(1).and_then(|m| m.parse::<u32>().ok()).unwrap();
    let image = froms[0].split_whitespace().nth(1).unwrap();
    let tag = image.split(':').nth(1).unwrap().split('-').next().unwrap();
    assert!(minor(tag) >= minor(wanted), "{image} is older than rust-version {wanted}");
    assert!(lines.iter().any(|l| l.contains("cargo build --release --locked")), "a locked release build");
    // The final stage: the binary copied from the build, a numeric non-root user, herd as the
    // entry point.
    let last = lines.iter().position(|l| *l == froms[1]).unwrap();
    let final_stage = &lines[last..];
    assert!(final_stage.iter().any(|l| l.starts_with("COPY --from=build") && l.contains("/herd")));
    let user = final_stage.iter().rev().find_map(|l| l.strip_prefix("USER ")).expect("a USER in the final stage");
    let uid = user.split(':').next().unwrap();
    assert!(uid.parse::<u32>().is_ok_and(|u| u != 0), "the final image runs as a numeric non-root user, not {user}");
    assert!(final_stage.iter().any(|l| l.starts_with("ENTRYPOINT") && l.contains("herd")));
    // Build outputs stay out of the build context.
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l.trim() == "target"));
    // A real linter, when this machine has one.
    if let Ok(o) = std::process::Command::new("hadolint").arg(root().join("Dockerfile")).output() {
        assert!(o.status.success(), "hadolint:\n{}", String::from_utf8_lossy(&o.stdout));
    } else {
        eprintln!("hadolint is not installed: the Dockerfile was checked by this test's own rules only");
    }
}
