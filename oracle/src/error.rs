//! The operator's one error type.

/// What can stop the operator's commands and service. [`Error::is_retryable`] tells whether the
/// same thing can succeed later without anyone changing anything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The chain runtime failed (RPC, a revert, a refused registration, …).
    #[error(transparent)]
    Runtime(#[from] verdict_runtime::Error),
    /// A model file, an ONNX import, or running a model failed.
    #[error(transparent)]
    Model(#[from] verdict_circuits::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The configuration is refused (flags, config file, feeds).
    #[error("{0}")]
    Config(String),
    /// A scheduled feed failed (its source, or its round).
    #[error("feed {feed}: {message}")]
    Feed {
        /// The feed's contract.
        feed: String,
        /// What went wrong.
        message: String,
        /// Whether the next tick can succeed.
        retryable: bool,
    },
    /// An I/O failure (the listener, a file).
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
            Self::Feed { retryable, .. } => *retryable,
            Self::Model(_) | Self::Config(_) | Self::Io { .. } => false,
        }
    }

    /// A refused configuration.
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::Config(message.into())
    }
}

/// The operator's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
