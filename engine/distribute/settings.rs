//! `[distribute.ecs]` compiled, and merged with the command line's flags into the settings a
//! distributed run on ECS needs.

use std::time::Duration;

use serde::Serialize;

use super::spec::EcsDistributeSpec;
use crate::plan::Compiler;
use crate::scenario::KeyPath;

/// How far ahead of the common start the tasks are started when nobody says.
const DEFAULT_LEAD: Duration = Duration::from_secs(90);

/// The key prefix when nobody says.
const DEFAULT_PREFIX: &str = "herd/";

/// `[distribute.ecs]` (or the flags) with every value checked; what is missing may come from
/// the other.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EcsDistribution {
    /// Cluster name or ARN.
    pub cluster: Option<String>,
    /// Task definition: family, family:revision or ARN.
    pub task_definition: Option<String>,
    /// The container that runs herd.
    pub container: Option<String>,
    /// Subnets of the tasks.
    pub subnets: Vec<String>,
    /// Security groups of the tasks.
    pub security_groups: Vec<String>,
    /// Public IP addresses for the tasks.
    pub assign_public_ip: Option<bool>,
    /// Fargate Spot.
    pub spot: Option<bool>,
    /// The bucket.
    pub bucket: Option<String>,
    /// Key prefix in the bucket.
    pub prefix: Option<String>,
    /// Tasks started this far ahead of the common start.
    pub lead: Option<Duration>,
    /// Region of the cluster and the bucket.
    pub region: Option<String>,
    /// Endpoint of an AWS-compatible server.
    pub endpoint_url: Option<String>,
}

/// Everything a distributed run on ECS needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EcsSettings {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Task definition.
    pub task_definition: String,
    /// The container that runs herd; `None` asks the task definition.
    pub container: Option<String>,
    /// Subnets, at least one.
    pub subnets: Vec<String>,
    /// Security groups (none: the VPC's default).
    pub security_groups: Vec<String>,
    /// Public IP addresses for the tasks.
    pub assign_public_ip: bool,
    /// Fargate Spot instead of Fargate.
    pub spot: bool,
    /// The bucket.
    pub bucket: String,
    /// Key prefix, empty or ending in `/`.
    pub prefix: String,
    /// Tasks started this far ahead of the common start.
    pub lead: Duration,
    /// Region.
    pub region: Option<String>,
    /// Endpoint.
    pub endpoint_url: Option<String>,
}

impl EcsDistribution {
    /// `other`'s values where it has them, else this one's (flags over the file).
    #[must_use]
    pub fn overlaid_with(self, other: EcsDistribution) -> EcsDistribution {
        let pick_list = |a: Vec<String>, b: Vec<String>| if b.is_empty() { a } else { b };
        EcsDistribution {
            cluster: other.cluster.or(self.cluster),
            task_definition: other.task_definition.or(self.task_definition),
            container: other.container.or(self.container),
            subnets: pick_list(self.subnets, other.subnets),
            security_groups: pick_list(self.security_groups, other.security_groups),
            assign_public_ip: other.assign_public_ip.or(self.assign_public_ip),
            spot: other.spot.or(self.spot),
            bucket: other.bucket.or(self.bucket),
            prefix: other.prefix.or(self.prefix),
            lead: other.lead.or(self.lead),
            region: other.region.or(self.region),
            endpoint_url: other.endpoint_url.or(self.endpoint_url),
        }
    }

    /// The settings, or what is missing, each with the key and the flag that give it.
    pub fn resolve(self) -> Result<EcsSettings, String> {
        let mut missing = Vec::new();
        if self.cluster.is_none() {
            missing.push("the cluster (`cluster` or --ecs-cluster)");
        }
        if self.task_definition.is_none() {
            missing.push("the task definition (`task_definition` or --ecs-task-definition)");
        }
        if self.subnets.is_empty() {
            missing.push("at least one subnet (`subnets` or --ecs-subnets)");
        }
        if self.bucket.is_none() {
            missing.push("the S3 bucket (`bucket` or --s3-bucket)");
        }
        if !missing.is_empty() {
            return Err(format!(
                "--distribute ecs needs {} in the scenario's [distribute.ecs] table or on the command line",
                missing.join(", ")
            ));
        }
        Ok(EcsSettings {
            cluster: self.cluster.unwrap_or_default(),
            task_definition: self.task_definition.unwrap_or_default(),
            container: self.container,
            subnets: self.subnets,
            security_groups: self.security_groups,
            assign_public_ip: self.assign_public_ip.unwrap_or(false),
            spot: self.spot.unwrap_or(false),
            bucket: self.bucket.unwrap_or_default(),
            prefix: self.prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_owned()),
            lead: self.lead.unwrap_or(DEFAULT_LEAD),
            region: self.region,
            endpoint_url: self.endpoint_url,
        })
    }
}

/// An S3 bucket name as AWS accepts it: 3-63 lower-case letters, digits, `.` and `-`, starting
/// and ending with a letter or digit.
pub fn check_bucket(name: &str) -> Result<(), String> {
    let ok_chars = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if (3..=63).contains(&name.len()) && ok_chars && ends(name.chars().next()) && ends(name.chars().last()) {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not an S3 bucket name; write 3 to 63 lower-case letters, digits, `.` and `-`, starting and ending with a letter or digit"
        ))
    }
}

/// A key prefix: empty or ending in `/` (one is added), no `..` and no leading `/`.
pub fn check_prefix(prefix: &str) -> Result<String, String> {
    if prefix.starts_with('/') || prefix.split('/').any(|p| p == "..") || prefix.chars().any(char::is_control) {
        return Err(format!(
            "{prefix:?} is not a key prefix; write folders such as \"herd/\" or \"teams/qa/\" (no leading `/`, no `..`)"
        ));
    }
    if prefix.is_empty() || prefix.ends_with('/') { Ok(prefix.to_owned()) } else { Ok(format!("{prefix}/")) }
}

/// A name or id of an AWS resource with the given prefix (`subnet-`, `sg-`).
fn check_id(kind: &str, want: &str, id: &str) -> Result<(), String> {
    let rest = id.strip_prefix(want).unwrap_or_default();
    if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(format!("{id:?} is not a {kind} id; write `{want}` and its hexadecimal id, e.g. {want}0123456789abcdef0"))
    }
}

/// A subnet id.
pub fn check_subnet(id: &str) -> Result<(), String> {
    check_id("subnet", "subnet-", id)
}

/// A security group id.
pub fn check_security_group(id: &str) -> Result<(), String> {
    check_id("security group", "sg-", id)
}

/// A cluster, task definition or container name: printable and not empty.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.trim().is_empty() || name.len() > 2048 || name.chars().any(char::is_control) {
        Err(format!("{name:?} is not {what}; write its name or ARN"))
    } else {
        Ok(())
    }
}

/// Compiles `[distribute.ecs]`, reporting every bad value at its key.
pub(crate) fn compile_ecs(c: &mut Compiler, spec: &EcsDistributeSpec, path: KeyPath) -> EcsDistribution {
    let mut checked = |key: &str, value: &Option<String>, check: &dyn Fn(&str) -> Result<(), String>| {
        value.as_ref().and_then(|v| match check(v) {
            Ok(()) => Some(v.clone()),
            Err(e) => {
                c.err(path.key(key), e);
                None
            }
        })
    };
    let cluster = checked("cluster", &spec.cluster, &|v| check_name("a cluster", v));
    let task_definition = checked("task_definition", &spec.task_definition, &|v| check_name("a task definition", v));
    let container = checked("container", &spec.container, &|v| check_name("a container", v));
    let bucket = checked("bucket", &spec.bucket, &check_bucket);
    let region = checked("region", &spec.region, &|v| check_name("a region", v));
    let endpoint_url = checked("endpoint_url", &spec.endpoint_url, &|v| check_name("an endpoint URL", v));
    let mut list = |key: &str, values: &[String], check: &dyn Fn(&str) -> Result<(), String>| {
        let mut good = Vec::new();
        for (i, v) in values.iter().enumerate() {
            match check(v) {
                Ok(()) => good.push(v.clone()),
                Err(e) => {
                    c.err(path.key(key).index(i), e);
                }
            }
        }
        good
    };
    let subnets = list("subnets", &spec.subnets, &check_subnet);
    let security_groups = list("security_groups", &spec.security_groups, &check_security_group);
    let prefix = spec.prefix.as_ref().and_then(|p| match check_prefix(p) {
        Ok(p) => Some(p),
        Err(e) => {
            c.err(path.key("prefix"), e);
            None
        }
    });
    let lead = spec.lead.as_deref().map(|t| c.duration(path.key("lead"), Some(t), DEFAULT_LEAD));
    EcsDistribution {
        cluster,
        task_definition,
        container,
        subnets,
        security_groups,
        assign_public_ip: spec.assign_public_ip,
        spot: spec.spot,
        bucket,
        prefix,
        lead,
        region,
        endpoint_url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_are_checked() {
        assert!(check_bucket("herd-runs.qa").is_ok());
        for bad in ["ab", "Herd", "-herd", "herd-", "herd_runs", &"a".repeat(64)] {
            assert!(check_bucket(bad).is_err(), "{bad}");
        }
        assert!(check_subnet("subnet-0abc").is_ok());
        assert!(check_subnet("sg-0abc").unwrap_err().contains("subnet-"));
        assert!(check_security_group("sg-").is_err());
        assert_eq!(check_prefix("runs").unwrap(), "runs/");
        assert_eq!(check_prefix("").unwrap(), "");
        assert!(check_prefix("/abs/").is_err());
        assert!(check_prefix("a/../b/").is_err());
    }

    #[test]
    fn flags_win_and_missing_values_are_all_named() {
        let file = EcsDistribution {
            cluster: Some("file".into()),
            subnets: vec!["subnet-1".into()],
            spot: Some(true),
            ..Default::default()
        };
        let flags = EcsDistribution { cluster: Some("flag".into()), ..Default::default() };
        let merged = file.overlaid_with(flags);
        assert_eq!(merged.cluster.as_deref(), Some("flag"));
        assert_eq!(merged.subnets, ["subnet-1"]);
        let e = merged.clone().resolve().unwrap_err();
        assert!(
            e.contains("--ecs-task-definition") && e.contains("--s3-bucket") && !e.contains("--ecs-cluster"),
            "{e}"
        );
        let s = EcsDistribution { task_definition: Some("td".into()), bucket: Some("b-1".into()), ..merged }
            .resolve()
            .unwrap();
        assert!(s.spot && s.prefix == "herd/" && s.lead == DEFAULT_LEAD);
    }
}
