use std::path::Path;

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

/// The addresses `script/Deploy.s.sol` writes (`deployments/local.json`) and the services read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// `ModelRegistry`.
    pub registry: Address,
    /// `InferenceOracle`.
    pub oracle: Address,
    /// `DisputeGame`.
    pub dispute_game: Address,
    /// `NovaVerifier`: the services refuse a model registered with any other verifier.
    pub verifier: Address,
    /// The chain the addresses live on.
    pub chain_id: u64,
}

/// A deployment file could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum DeploymentError {
    /// The file could not be read.
    Io(std::io::Error),
    /// The file is not a deployment.
    Parse(serde_json::Error),
}

impl std::fmt::Display for DeploymentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "cannot read the deployment file: {e}"),
            Self::Parse(e) => write!(f, "invalid deployment file: {e}"),
        }
    }
}

impl std::error::Error for DeploymentError {}

impl Deployment {
    /// Reads a deployment file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DeploymentError> {
        let text = std::fs::read_to_string(path).map_err(DeploymentError::Io)?;
        serde_json::from_str(&text).map_err(DeploymentError::Parse)
    }
}
