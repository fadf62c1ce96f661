//! Connecting a service: its signing key, the provider that signs with it, the deployment it
//! serves, and the shutdown signal.

use std::path::{Path, PathBuf};

use alloy::{
    network::EthereumWallet,
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use verdict_contracts::Deployment;

use crate::{
    error::{Error, Result},
    nonces::Nonces,
};

/// A secret from `file` (trimmed), or else from the environment variable `env`.
pub fn read_secret(file: Option<&PathBuf>, env: &str, what: &str) -> Result<Option<String>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::refused(format!("cannot read the {what} file {}: {e}", path.display())))?;
        return Ok(Some(text.trim().to_string()));
    }
    Ok(std::env::var(env).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()))
}

/// A service's connection to its chain.
#[derive(Clone, Debug)]
pub struct Connection {
    /// Fills gas, the chain id and nonces (from `nonces`) and signs for `me`.
    pub provider: DynProvider,
    /// The signing key's address.
    pub me: Address,
    /// The contracts served.
    pub deployment: Deployment,
    /// The signing key's nonces, shared by every sender of the process.
    pub nonces: Nonces,
}

/// The signing provider for the key from `key_file` (or the `key_env` variable), checked to
/// serve the deployment's chain.
pub async fn connect(
    rpc_url: &str,
    key_file: Option<&PathBuf>,
    key_env: &str,
    role: &str,
    deployment: &Path,
) -> Result<Connection> {
    let key = read_secret(key_file, key_env, "key")?
        .ok_or_else(|| Error::refused(format!("no {role} key: pass --key-file or set {key_env}")))?;
    let signer: PrivateKeySigner =
        key.parse().map_err(|_| Error::refused(format!("the {role} key is not a hex private key")))?;
    let me = signer.address();
    let deployment = Deployment::load(deployment)
        .map_err(|e| Error::refused(format!("cannot load the deployment {}: {e}", deployment.display())))?;
    let url = rpc_url.parse().map_err(|_| Error::refused(format!("invalid RPC URL {rpc_url}")))?;
    let nonces = Nonces::default();
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_nonce_management(nonces.clone())
        .fetch_chain_id()
        .wallet(EthereumWallet::from(signer))
        .connect_http(url)
        .erased();
    let chain_id = provider.get_chain_id().await.map_err(|e| Error::Rpc(format!("the chain is not reachable: {e}")))?;
    if chain_id != deployment.chain_id {
        return Err(Error::refused(format!(
            "the RPC serves chain {chain_id}, the deployment is for chain {}",
            deployment.chain_id
        )));
    }
    Ok(Connection { provider, me, deployment, nonces })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!("no SIGTERM handler ({e}); stopping on Ctrl-C only");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
