//! The library's error type, and the exit code each kind of failure maps to. The CLI turns
//! these into messages and exit codes; nothing in the library prints.

use std::path::PathBuf;

use crate::report::RenderError;
use crate::targets::TargetError;

/// Exit code: a threshold failed, or an `abort_on_fail` threshold stopped the run.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: invalid scenario, template or command line; nothing was run.
pub const EXIT_INVALID: u8 = 2;
/// Exit code: the target could not be reached or set up.
pub const EXIT_TARGET: u8 = 3;
/// Exit code: the results could not be written (output folder, summary, reports).
pub const EXIT_OUTPUT: u8 = 4;
/// Exit code: interrupted with Ctrl-C or SIGTERM.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Why a command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum HerdError {
    /// Bad input: a scenario, a template, a summary or an option.
    #[error("{0}")]
    Invalid(String),
    /// A report template failed while rendering.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The target could not be reached or set up.
    #[error("{file}: {source}")]
    Target {
        /// The scenario file.
        file: String,
        /// What went wrong.
        source: TargetError,
    },
    /// A result file or folder could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Output {
        /// What could not be written.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl HerdError {
    /// The process exit code for this error (documented in the README).
    pub fn exit_code(&self) -> u8 {
        match self {
            HerdError::Invalid(_) | HerdError::Render(_) => EXIT_INVALID,
            HerdError::Target { .. } => EXIT_TARGET,
            HerdError::Output { .. } => EXIT_OUTPUT,
        }
    }

    /// An output error for `path`.
    pub fn output(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        HerdError::Output { path: path.into(), source }
    }
}
