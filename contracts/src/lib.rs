#![doc = include_str!("../README.md")]

/// Generates one module of bindings per contract, each from its forge artifact.
macro_rules! bindings {
    ($($module:ident => $name:ident, $artifact:literal;)*) => {$(
        #[allow(missing_docs, clippy::all)]
        #[doc = concat!("Bindings of `", stringify!($name), "` (", $artifact, ").")]
        pub mod $module {
            alloy::sol!(
                #[sol(rpc)]
                #[derive(Debug)]
                $name,
                $artifact
            );
        }
        pub use $module::$name;
    )*};
}

bindings! {
    model_registry => ModelRegistry, "out/ModelRegistry.sol/ModelRegistry.json";
    inference_oracle => InferenceOracle, "out/InferenceOracle.sol/InferenceOracle.json";
    dispute_game => DisputeGame, "out/DisputeGame.sol/DisputeGame.json";
    ai_price_feed => AiPriceFeed, "out/AiPriceFeed.sol/AiPriceFeed.json";
    tic_tac_toe => TicTacToe, "out/TicTacToe.sol/TicTacToe.json";
    step_commitments => StepCommitments, "out/StepCommitments.sol/StepCommitments.json";
    nova_verifier => NovaVerifier, "out/NovaVerifier.sol/NovaVerifier.json";
}

mod deployment;
/// The dispute state machine and the pure move solver.
pub mod dispute;
/// The on-chain Nova verifier: deploy, publish keys, verify proof files (feature `nova`).
#[cfg(feature = "nova")]
pub mod nova;
pub use deployment::{Deployment, DeploymentError};
