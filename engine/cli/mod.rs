//! Command-line parsing and the commands.

mod args;
mod commands;
mod progress;

pub(crate) use commands::main;
