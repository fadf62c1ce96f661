#![doc = include_str!("../README.md")]

mod cli;
mod error;
mod model_cmd;
/// `oracle serve`: the chain loop, the HTTP API and their wiring.
pub mod serve;
/// The service's persistent state.
pub mod store;

pub use cli::{Cli, Command, ModelCommand, TaskArg};
pub use error::{Error, Result};
pub use model_cmd::run_model_command;
