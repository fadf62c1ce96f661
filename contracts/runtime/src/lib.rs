#![doc = include_str!("../README.md")]

mod args;
pub mod batch;
mod connect;
pub mod db;
mod error;
mod heads;
pub mod jobs;
pub mod lease;
pub mod models;
mod nonces;
pub mod prover;
pub mod receipts;
mod registry;
pub mod responder;
pub mod scheduler;
mod status;

pub use args::{default_instance_name, ChainArgs};
pub use connect::{connect, read_secret, shutdown_signal, Connection};
pub use error::{rpc, Error, Result, Revert};
pub use heads::NewHeads;
pub use nonces::{send as send_with_nonce, Nonces};
pub use registry::{check_public_registrations, check_registration, fetch_model, load_models, served_as_registered};
pub use status::RequestStatus;

/// The services' tokio runtime: more worker threads than cores, because store calls block (a
/// SQLite commit waits for its fsync): while some requests wait on a commit the others run, and
/// their writes join the same commit ([`db`], group commit). 16 at least, or the cores.
pub fn service_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    tokio::runtime::Builder::new_multi_thread().worker_threads(cores.max(16)).enable_all().build()
}

/// The real stdout, with file descriptor 1 pointed at /dev/null: halo2curves 0.9 prints a line
/// of debug output to stdout for each bit of the curve parameter on every BN254 G2 subgroup check
/// (loading keys), which would corrupt our output. Nothing of ours writes to fd 1 directly. The
/// binaries call it first thing (`oracle serve`, every `fraud-prover` command).
pub fn claim_stdout() -> std::io::Result<std::fs::File> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    // SAFETY: dup/dup2 on the process's own standard descriptors; the duplicate is owned by the
    // returned File and nothing else closes it.
    unsafe {
        let saved = libc::dup(1);
        if saved < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let saved = std::fs::File::from_raw_fd(saved);
        if libc::dup2(null.as_raw_fd(), 1) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(saved)
    }
}
