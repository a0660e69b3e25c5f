//! The list of targets, and the two traits each one implements: [`TargetConfig`] on its scenario
//! keys (the config is its own factory: it compiles itself) and [`CompiledTarget`] on what that
//! produces (capabilities, description, dry run, construction). Nothing outside a target's own
//! folder knows its kind: the compile step, the dispatcher and the CLI go through these traits.

use std::fmt::Debug;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::api::Target;
use super::{aws, sim};
use crate::plan::{Compiler, FaultKind, Plan, Session, Templates};
use crate::runtime::ClockKind;
use crate::scenario::KeyPath;

/// Why a target could not be set up (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The target could not be reached.
    #[error("target unreachable: {0}")]
    Unreachable(String),
    /// The credentials belong to an account the scenario does not allow.
    #[error("account {account} is not in allowed_accounts ({}); nothing was sent", allowed.join(", "))]
    AccountNotAllowed {
        /// The caller's account.
        account: String,
        /// The scenario's list.
        allowed: Vec<String>,
    },
    /// Queues, tables, the callback listener or local containers could not be set up.
    #[error("target setup failed: {0}")]
    Setup(String),
}

/// Options that come from the command line rather than the scenario; a target uses the ones it
/// knows and ignores the rest.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    /// Overrides the address of a listener the target opens (the aws target's Step Functions
    /// callback listener).
    pub callback_listen: Option<String>,
    /// The scenario's output folder, for files the target writes (worker logs go to
    /// `containers/` in it); none when nobody asked for files.
    pub output_dir: Option<std::path::PathBuf>,
    /// Where the slices of one segmented run leave the addresses of their callback listeners
    /// (`--peers`, or the S3 folder of `--distribute ecs`); a callback that carries another
    /// slice's task token is forwarded to that slice's listener.
    pub peers: Option<PeerBook>,
}

/// Where the slices of one run find each other's callback listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerBook {
    /// A folder they share on one machine (`--peers`).
    Folder(std::path::PathBuf),
    /// The run's S3 folder (`--distribute ecs`), reached with this region and endpoint.
    S3 {
        /// The run's folder.
        at: crate::distribute::S3Location,
        /// Its region, when not the AWS configuration's.
        region: Option<String>,
        /// Its endpoint, when not AWS's.
        endpoint_url: Option<String>,
    },
}

/// Why the compile step refuses a fault on this target: the message and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRefusal {
    /// What is wrong.
    pub message: String,
    /// What is accepted instead.
    pub help: String,
}

/// Where a target's services live, for outputs (CloudWatch) that default to the same place.
#[derive(Debug, Clone, Default)]
pub struct ServiceLocation {
    /// Region, if the target names one.
    pub region: Option<String>,
    /// Endpoint URL, if the target names one.
    pub endpoint_url: Option<String>,
}

/// What a target's compile step may use: the diagnostics collector and its helpers, the
/// target table's key path, the sessions and the plan's templates.
pub struct TargetCompileCx<'a> {
    /// Collects errors and parses durations, sizes, distributions.
    pub(crate) compiler: &'a mut Compiler,
    /// The key path of the `[target]` table.
    pub path: KeyPath,
    /// Every session of the scenario.
    pub sessions: &'a [Session],
    /// The plan's templates; a target adds its own (queue names, bodies).
    pub templates: &'a mut Templates,
}

/// Bounds of a target's container pool known before a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerPool {
    /// The most containers running at once.
    pub running: u64,
    /// How many containers the run can ever start (indices are `0..started`).
    pub started: u64,
}

/// A target's scenario keys: the config compiles itself into a [`CompiledTarget`].
pub trait TargetConfig {
    /// Checks the keys and compiles them, adding every error to `cx`.
    fn compile(&self, cx: &mut TargetCompileCx<'_>) -> Arc<dyn CompiledTarget>;
}

/// A compiled target: what the plan holds, and the factory of the running target.
pub trait CompiledTarget: Debug + Send + Sync {
    /// The kind as written in scenarios (`kind = "sim"`).
    fn kind(&self) -> &'static str;
    /// The clock a run uses when the command line does not choose one.
    fn default_clock(&self) -> ClockKind;
    /// Whether the target can run on the virtual clock (only in-process models can).
    fn supports_virtual_clock(&self) -> bool {
        self.default_clock() == ClockKind::Virtual
    }
    /// Whether this target can carry out a fault. By default no fault is supported, and the
    /// compile step refuses the fault with the returned reason at its file:line:col.
    fn check_fault(&self, action: FaultKind) -> Result<(), FaultRefusal> {
        Err(FaultRefusal {
            message: format!("`{}` is not supported by the {} target", action.name(), self.kind()),
            help: "remove the fault, or run it against a target that can carry it out".into(),
        })
    }
    /// The container pool, when its bounds are known before the run, so `container = N` and
    /// `random = N` can be checked at compile time. `None` when it depends on the run.
    fn container_pool(&self) -> Option<ContainerPool> {
        None
    }
    /// One line for `herd plan`: the target and its main parameters.
    fn describe(&self) -> String;
    /// The compiled parameters as JSON, for `herd plan --format json`.
    fn to_json(&self) -> serde_json::Value;
    /// Every call that would change something, for `herd run --dry-run`.
    fn dry_run(&self, _plan: &Plan) -> Result<Vec<String>, String> {
        Ok(vec![format!("none: the {} target runs in process", self.kind())])
    }
    /// Where the target's services live, for outputs that default to the same place.
    fn location(&self) -> ServiceLocation {
        ServiceLocation::default()
    }
    /// Sets the target up (connects, provisions, starts processes) for a run of `plan`.
    fn build(&self, plan: &Plan, options: &TargetOptions) -> Result<Box<dyn Target>, TargetError>;
}

/// Registers targets: each line names the variant, the `kind` written in scenarios, and the
/// spec type in the target's folder. The macro makes the `[target]` enum (its schema comes from
/// the specs' doc comments) and the dispatch from a spec to its [`TargetConfig`].
macro_rules! targets {
    ($( $(#[$doc:meta])* $variant:ident = $kind:literal => $spec:ty ),+ $(,)?) => {
        /// The system under test.
        #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
        #[serde(tag = "kind")]
        pub enum TargetSpec {
            $( $(#[$doc])* #[serde(rename = $kind)] $variant(Box<$spec>), )+
        }

        impl TargetSpec {
            /// The spec as the config that compiles it.
            pub fn config(&self) -> &dyn TargetConfig {
                match self {
                    $( TargetSpec::$variant(spec) => spec.as_ref(), )+
                }
            }
        }

        /// Every target kind, in registration order.
        pub const TARGET_KINDS: &[&str] = &[$( $kind ),+];
    };
}

targets! {
    /// The in-process model of the architecture (containers, queues, ownership), on a virtual
    /// clock by default.
    Sim = "sim" => sim::SimTargetSpec,
    /// A real deployment (SQS, DynamoDB, ECS, CloudWatch) or any AWS-compatible endpoint, on the
    /// real clock.
    Aws = "aws" => aws::AwsTargetSpec,
}

/// The target of a scenario without a `[target]` table: the simulated target's defaults.
pub fn default_target_spec() -> TargetSpec {
    TargetSpec::Sim(Box::default())
}

/// A compiled target as `{"kind": ..., parameters...}`.
pub fn target_json(target: &dyn CompiledTarget) -> serde_json::Value {
    let mut value = target.to_json();
    if let Some(map) = value.as_object_mut() {
        // The kind comes first, as the scenario file writes it.
        let mut with_kind = serde_json::Map::new();
        with_kind.insert("kind".into(), serde_json::Value::String(target.kind().to_owned()));
        with_kind.extend(std::mem::take(map));
        *map = with_kind;
    }
    value
}

/// Serialises the plan's target as [`target_json`] does.
pub(crate) fn serialize_target<S: serde::Serializer>(
    target: &Arc<dyn CompiledTarget>,
    s: S,
) -> Result<S::Ok, S::Error> {
    target_json(target.as_ref()).serialize(s)
}

/// Builds the target a plan names, with default options.
pub fn build_target(plan: &Plan) -> Result<Box<dyn Target>, TargetError> {
    plan.target.build(plan, &TargetOptions::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target that declares nothing beyond what the trait requires.
    #[derive(Debug)]
    struct Bare;

    impl CompiledTarget for Bare {
        fn kind(&self) -> &'static str {
            "bare"
        }
        fn default_clock(&self) -> ClockKind {
            ClockKind::Real
        }
        fn describe(&self) -> String {
            "target bare".into()
        }
        fn to_json(&self) -> serde_json::Value {
            serde_json::json!({ "x": 1 })
        }
        fn build(&self, _plan: &Plan, _options: &TargetOptions) -> Result<Box<dyn Target>, TargetError> {
            Err(TargetError::Setup("bare".into()))
        }
    }

    #[test]
    fn a_target_supports_no_fault_unless_it_says_so() {
        for kind in
            [FaultKind::KillContainer, FaultKind::StopContainer, FaultKind::Interrupt, FaultKind::PauseContainer]
        {
            let refusal = Bare.check_fault(kind).expect_err("refused by default");
            assert!(refusal.message.contains(kind.name()) && refusal.message.contains("bare"), "{refusal:?}");
        }
        assert!(!Bare.supports_virtual_clock());
        assert_eq!(target_json(&Bare), serde_json::json!({ "kind": "bare", "x": 1 }));
        assert_eq!(TARGET_KINDS, &["sim", "aws"]);
    }
}
