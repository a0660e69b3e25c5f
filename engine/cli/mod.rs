//! Command-line parsing and the commands.

mod args;
mod commands;
mod distribute;
mod merge;
mod progress;
mod select;

pub(crate) use commands::main;
