//! herd: declarative performance, stress, soak and fault scenarios for queue-driven,
//! multi-session systems.
//!
//! The flow of data runs one way: a scenario file is loaded (`scenario`), compiled into a `Plan`
//! (`plan`), run against a target (`runtime`, `targets`) while the ledger records metrics
//! (`metrics`) and outputs watch (`outputs`), and summarised with threshold verdicts (`report`).
//! The library never prints: it logs with `tracing`, and the `herd` binary owns the terminal.
//!
//! ```
//! use herd::plan::compile;
//! use herd::runtime::{NoObserver, RunOptions, run};
//! use herd::scenario::load_bytes;
//! use herd::targets::build_target;
//!
//! let text = r#"
//! name = "hello"
//! [[sessions]]
//! count = 2
//! [[phases]]
//! executor = "burst"
//! count = 3
//! [thresholds]
//! messages_lost = ["count == 0"]
//! "#;
//! let loaded = load_bytes("hello.toml", text.as_bytes()).map_err(|d| d.render()).unwrap();
//! let plan = compile(&loaded).map_err(|d| d.render()).unwrap();
//! let mut target = build_target(&plan).unwrap();
//! let result = run(&plan, target.as_mut(), &RunOptions::default(), &mut NoObserver);
//! assert_eq!(result.accounting.sent, 6);
//! assert_eq!(result.accounting.replied + result.accounting.failed + result.accounting.lost, 6);
//! ```

pub mod cost;
pub mod distribute;
mod error;
pub mod metrics;
pub mod outputs;
pub mod plan;
pub mod report;
pub mod runtime;
pub mod scenario;
pub mod targets;
pub mod text;

pub use error::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OUTPUT, EXIT_TARGET, HerdError};
