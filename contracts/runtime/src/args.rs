//! The chain flags both services take, flattened into their own.

use std::{path::PathBuf, time::Duration};

use clap::Args;

use crate::{receipts::Receipts, responder::ChainConfig, Nonces};

/// Where the chain is and how the services follow it and send to it.
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Chain")]
pub struct ChainArgs {
    /// The JSON-RPC endpoint.
    #[arg(long, env = "VERDICT_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: String,
    /// The deployment file (`contracts/deployments/*.json`).
    #[arg(long, env = "VERDICT_DEPLOYMENT")]
    pub deployment: PathBuf,
    /// A WebSocket endpoint of the same node (ws://…): a pass runs on every new block it
    /// announces (`eth_subscribe`), besides the polls. Without it, the service polls only.
    #[arg(long, env = "VERDICT_WS_URL")]
    pub ws_url: Option<String>,
    /// Milliseconds between chain passes.
    #[arg(long, env = "VERDICT_POLL_MS", default_value_t = 1000)]
    pub poll_ms: u64,
    /// Blocks an event must be deep before it is processed.
    #[arg(long, env = "VERDICT_CONFIRMATIONS", default_value_t = 0)]
    pub confirmations: u64,
    /// The first block to scan on a fresh store (the deployment's block).
    #[arg(long, env = "VERDICT_START_BLOCK", default_value_t = 0)]
    pub start_block: u64,
    /// Blocks a sent transaction must be deep before the service moves on.
    #[arg(long, env = "VERDICT_TX_CONFIRMATIONS", default_value_t = 1)]
    pub tx_confirmations: u64,
    /// Seconds a sent transaction may stay unmined before it is replaced (same nonce, fees
    /// raised to at least 125%).
    #[arg(long, env = "VERDICT_REPLACE_AFTER_SECS", default_value_t = 60)]
    pub replace_after_secs: u64,
    /// This instance's name among the service's instances sharing one database (the lease's
    /// holder). Default: the host's name and the listen address, unique among live processes.
    #[arg(long, env = "VERDICT_INSTANCE")]
    pub instance: Option<String>,
    /// Seconds the lease of an instance that stops renewing it lasts before another instance
    /// takes over (`lease` module of `verdict-runtime`).
    #[arg(long, env = "VERDICT_LEASE_TTL_SECS", default_value_t = 10)]
    pub lease_ttl_secs: u64,
}

impl ChainArgs {
    /// The loops' and the responder's settings, with the process's nonces, its receipt tracker
    /// and the service's gas cap.
    pub fn config(&self, gas_cap: u64, nonces: Nonces, receipts: Option<Receipts>) -> ChainConfig {
        ChainConfig {
            poll_interval: Duration::from_millis(self.poll_ms.max(50)),
            confirmations: self.confirmations,
            start_block: self.start_block,
            max_log_range: 2_000,
            gas_cap,
            receipt_timeout: Duration::from_secs(120).max(Duration::from_secs(self.replace_after_secs * 4)),
            tx_confirmations: self.tx_confirmations,
            replace_after: Duration::from_secs(self.replace_after_secs.max(1)),
            nonces,
            receipts,
            leader: None,
        }
    }

    /// This instance's lease holder name: `--instance`, or [`default_instance_name`].
    pub fn instance_name(&self, listen: std::net::SocketAddr) -> String {
        self.instance.clone().unwrap_or_else(|| default_instance_name(listen))
    }

    /// The lease's time to live.
    pub fn lease_ttl(&self) -> Duration {
        Duration::from_secs(self.lease_ttl_secs.max(1))
    }

    /// The new-block waker the flags ask for.
    pub fn heads(&self) -> crate::NewHeads {
        self.ws_url.clone().map_or_else(crate::NewHeads::none, crate::NewHeads::subscribe)
    }
}

/// An instance's default name: the host's name and the address it listens on, unique among live
/// processes (two cannot listen on one address).
pub fn default_instance_name(listen: std::net::SocketAddr) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{listen}")
}
