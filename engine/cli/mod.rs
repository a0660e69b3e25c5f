//! Command-line parsing and the commands.

mod args;
mod commands;
mod distribute;
mod distribute_ecs;
mod matrix;
mod merge;
mod progress;
mod select;
mod worker;

pub(crate) use commands::main;
