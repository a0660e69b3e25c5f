//! The systems under test, as plug-ins: one folder per target.
//!
//! A target owns everything about itself: its scenario keys (a serde + schemars `*Spec` type
//! with a doc comment on every field), its compile step and checks, its presets, its
//! capabilities (the faults it can carry out, its default clock, its dry run) and its
//! construction. The plan holds the compiled target as an `Arc<dyn CompiledTarget>`; the compile
//! step, the dispatcher and the CLI never match on a target's kind.
//!
//! # Adding a target
//!
//! 1. Make a folder `engine/targets/<name>/` with a `mod.rs` that only re-exports, and in named
//!    files:
//!    - `spec.rs`: `pub struct <Name>TargetSpec` (`#[derive(Debug, Clone, Default, Serialize,
//!      Deserialize, JsonSchema)]`, `#[serde(deny_unknown_fields)]`, a doc comment on every
//!      field; these become the schema's descriptions);
//!    - `compile.rs`: `impl TargetConfig for <Name>TargetSpec`, whose `compile` checks every key
//!      through the `TargetCompileCx` (every error collected, with its key path), and a compiled
//!      type implementing `CompiledTarget`: `kind`, `default_clock`, `check_fault` for each
//!      fault it can carry out (the default refuses all), `describe`, `to_json`, `dry_run` if
//!      it changes anything outside herd, and `build`;
//!    - the running target: a type implementing `Target`. Its methods must not block: do slow
//!      work in the target's own tasks and report back through an `ObservationSender`, stamped
//!      where the thing was seen. Fault methods have defaults that say "not supported".
//! 2. Add one line to the `targets!` list in `registry.rs`:
//!    `Name = "name" => name::NameTargetSpec,` (with a doc comment for the schema).
//! 3. Run `herd schema > schemas/scenario.schema.json`.

mod api;
pub mod aws;
mod registry;
pub mod sim;

pub use api::{
    FaultOutcome, GaugeSample, Inbox, Micros, Observation, ObservationSender, Outbound, Parker, QueueGauge, Stamped,
    Target, TargetIo, observation_channel, observation_channel_with,
};
pub(crate) use registry::serialize_target;
pub use registry::{
    CompiledTarget, ContainerPool, FaultRefusal, PeerBook, ServiceLocation, TARGET_KINDS, TargetCompileCx,
    TargetConfig, TargetError, TargetOptions, TargetSpec, build_target, default_target_spec, target_json,
};
pub use sim::SimTarget;
