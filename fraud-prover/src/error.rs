//! The fraud prover's one error type.

/// What can stop a `fraud-prover` command or the watchtower. [`Error::is_retryable`] tells
/// whether the same thing can succeed later without anyone changing anything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The chain runtime failed (RPC, a revert, a refused registration, …).
    #[error(transparent)]
    Runtime(#[from] verdict_runtime::Error),
    /// A model file, an input or running a model failed.
    #[error(transparent)]
    Circuits(#[from] verdict_circuits::Error),
    /// Key setup, proving or verifying failed (a rejected proof among them).
    #[error(transparent)]
    Proof(#[from] verdict_circuits::prover::ProofError),
    /// The watchtower's store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The arguments or the configuration are refused.
    #[error("{0}")]
    Usage(String),
    /// An I/O failure (a file, the listener).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether retrying can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Runtime(e) => e.is_retryable(),
            Self::Store(e) => e.is_retryable(),
            Self::Circuits(_) | Self::Proof(_) | Self::Usage(_) | Self::Io { .. } => false,
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }
}

/// The fraud prover's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
