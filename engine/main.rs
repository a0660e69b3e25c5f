//! The `herd` command line. This is the binary's edge: errors become messages and exit codes
//! here and nowhere else.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
