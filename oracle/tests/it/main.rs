//! Integration tests of the `oracle` binary (one test binary).

mod model_cli;
mod service;
