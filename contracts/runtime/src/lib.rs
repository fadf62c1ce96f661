#![doc = include_str!("../README.md")]

mod args;
mod connect;
pub mod db;
mod error;
mod heads;
pub mod models;
mod nonces;
pub mod prover;
pub mod receipts;
mod registry;
pub mod responder;
pub mod scheduler;
mod status;

pub use args::ChainArgs;
pub use connect::{connect, read_secret, shutdown_signal, Connection};
pub use error::{rpc, Error, Result, Revert};
pub use heads::NewHeads;
pub use nonces::{send as send_with_nonce, Nonces};
pub use registry::{check_public_registrations, check_registration, fetch_model, load_models};
pub use status::RequestStatus;
