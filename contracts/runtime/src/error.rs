//! The runtime's one error type.

use verdict_contracts::{
    dispute_game::DisputeGame::DisputeGameErrors, inference_oracle::InferenceOracle::InferenceOracleErrors,
};

/// A contract's revert, decoded into the custom error of the contract that raised it when it is
/// one of Verdict's.
#[derive(Debug)]
#[non_exhaustive]
pub enum Revert {
    /// An `InferenceOracle` error.
    Oracle(InferenceOracleErrors),
    /// A `DisputeGame` error.
    Game(DisputeGameErrors),
    /// Anything else (another contract's error, a plain `revert`, a reverted receipt).
    Other(String),
}

impl Revert {
    /// Decodes a contract call's error (boxed, as [`Error::Reverted`] holds it).
    pub fn boxed(e: &alloy::contract::Error) -> Box<Self> {
        Box::new(Self::decode(e))
    }

    /// Decodes a contract call's error.
    pub fn decode(e: &alloy::contract::Error) -> Self {
        if let Some(decoded) = e.as_decoded_interface_error::<InferenceOracleErrors>() {
            return Self::Oracle(decoded);
        }
        if let Some(decoded) = e.as_decoded_interface_error::<DisputeGameErrors>() {
            return Self::Game(decoded);
        }
        Self::Other(e.to_string())
    }
}

impl std::fmt::Display for Revert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Oracle(e) => write!(f, "{e:?}"),
            Self::Game(e) => write!(f, "{e:?}"),
            Self::Other(e) => f.write_str(e),
        }
    }
}

/// What can go wrong in the runtime. [`Error::is_retryable`] tells the chain loops whether the
/// next pass can succeed where this one failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A JSON-RPC call failed (transport, node).
    #[error("rpc: {0}")]
    Rpc(String),
    /// A transaction's dry run, or its execution, reverted.
    #[error("{kind} of request {request} reverted: {revert}")]
    Reverted {
        /// `propose`, `settle`, …
        kind: &'static str,
        /// The request (0 for none).
        request: u64,
        /// The decoded custom error.
        revert: Box<Revert>,
    },
    /// The gas estimate is above the configured cap.
    #[error("{kind} of request {request} needs {gas} gas, above the cap of {cap}")]
    GasCap {
        /// `propose`, `settle`, …
        kind: &'static str,
        /// The request.
        request: u64,
        /// The estimate.
        gas: u64,
        /// The cap.
        cap: u64,
    },
    /// A sent transaction was not mined (or not deep enough) in time, replacements included.
    #[error("{kind} of request {request}: {what}")]
    NotMined {
        /// `propose`, `settle`, …
        kind: &'static str,
        /// The request.
        request: u64,
        /// What did not happen in time.
        what: String,
    },
    /// This instance does not hold the service's lease: another instance acts (and sends).
    #[error("{kind} of request {request} not sent: another instance holds the lease")]
    NotLeader {
        /// `propose`, `settle`, …
        kind: &'static str,
        /// The request (0 for none).
        request: u64,
    },
    /// The local database failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// A stored record does not parse.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The chain says something this runtime cannot read (an unknown status, a missing block).
    #[error("unexpected chain state: {0}")]
    Unexpected(String),
    /// Configuration or a registration this service refuses to run with.
    #[error("{0}")]
    Refused(String),
    /// A model file, or running a model, failed.
    #[error(transparent)]
    Model(#[from] verdict_circuits::Error),
    /// Key setup or proving failed.
    #[error("prover: {0}")]
    Prover(String),
}

impl Error {
    /// Whether the same action can succeed on a later pass without anyone changing anything: a
    /// transport fault, a transaction not mined yet, a locked database. A revert, a refused
    /// configuration or a corrupt record fails the same way again.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Rpc(_) | Self::NotMined { .. } | Self::NotLeader { .. } | Self::Unexpected(_) => true,
            Self::Db(e) => e.is_retryable(),
            Self::Reverted { .. }
            | Self::GasCap { .. }
            | Self::Corrupt(_)
            | Self::Refused(_)
            | Self::Model(_)
            | Self::Prover(_) => false,
        }
    }

    /// A refusal, with its message.
    pub fn refused(message: impl Into<String>) -> Self {
        Self::Refused(message.into())
    }
}

/// An RPC failure, as an [`Error`].
pub fn rpc(e: impl std::fmt::Display) -> Error {
    Error::Rpc(e.to_string())
}

/// Runtime results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
