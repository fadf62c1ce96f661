#![doc = include_str!("../README.md")]

mod cli;
mod model_cmd;

pub use cli::{Cli, Command, ModelCommand};
pub use model_cmd::run_model_command;
