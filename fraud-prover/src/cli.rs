use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Verdict fraud prover: Nova folding proofs of a model's inference steps, whole or by segment.
#[derive(Debug, Parser)]
#[command(name = "fraud-prover", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prove steps of one inference (all of them by default) and write a proof file.
    Prove(ProveArgs),
    /// Check a proof file; prints `ok`, or the reason for rejection with a non-zero exit.
    Verify(VerifyArgs),
    /// Write the on-chain verifier's key blob of a model (register the model with its digest).
    ExportVerifier(ExportArgs),
    /// Watch proposals: re-execute, challenge wrong ones, play the dispute, prove the right output.
    Watch(Box<crate::watch::WatchArgs>),
    /// Prove the proof jobs that services started with `--proof-workers` leave in their database.
    Worker(Box<crate::worker::WorkerArgs>),
    /// Make a secret blinding file for a private model and print its (registrable) commitment.
    Blinding {
        /// The model file.
        #[arg(long, env = "VERDICT_MODEL")]
        model: PathBuf,
        /// Where to write the blinding (keep it secret).
        #[arg(short = 'o', long = "output", env = "VERDICT_BLINDING_OUT")]
        output: PathBuf,
    },
}

/// Where the proving keys come from (the services' prover flags).
pub type SetupArgs = verdict_runtime::prover::ProverArgs;

/// `fraud-prover prove`.
#[derive(Debug, Args)]
pub struct ProveArgs {
    /// The model file.
    #[arg(long, env = "VERDICT_MODEL")]
    pub model: PathBuf,
    /// The input: a JSON array or a CSV row of numbers, or @FILE to read it from a file.
    #[arg(long, env = "VERDICT_INPUT", allow_hyphen_values = true)]
    pub input: String,
    /// The input is already int8 (integers in [-127, 127]), not real values.
    #[arg(long, env = "VERDICT_QUANTIZED")]
    pub quantized: bool,
    /// The steps to prove, `a..b` (default: every step, the whole inference).
    #[arg(long, env = "VERDICT_SEGMENT")]
    pub segment: Option<String>,
    /// Prove over tiles (`verdict_circuits::tiled`): a step is a 16 × 31 block of a layer, the
    /// same circuit and keys for every model, `--segment` counts tiles. What the services
    /// dispute over for a model registered by tiles.
    #[arg(long, env = "VERDICT_TILES")]
    pub tiles: bool,
    /// Private weights: the model's blinding file (see `fraud-prover blinding`).
    #[arg(long, env = "VERDICT_BLINDING")]
    pub private: Option<PathBuf>,
    /// The request id the proof is bound to (decimal or 0x-hex).
    #[arg(long, env = "VERDICT_REQUEST_ID", default_value = "0")]
    pub request_id: String,
    /// A private input's salt (0x-hex, 32 bytes, below the field modulus): z_0 is then the
    /// salted input commitment the request was made with.
    #[arg(long, env = "VERDICT_INPUT_SALT")]
    pub salt: Option<String>,
    /// Where to write the proof file.
    #[arg(short = 'o', long = "output", env = "VERDICT_PROOF_OUT")]
    pub output: PathBuf,
    /// Key setup.
    #[command(flatten)]
    pub setup: SetupArgs,
    /// Print one JSON document.
    #[arg(long, env = "VERDICT_JSON")]
    pub json: bool,
}

/// `fraud-prover verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The model file (for a private model, its structure: the weights are not read).
    #[arg(long, env = "VERDICT_MODEL")]
    pub model: PathBuf,
    /// The proof file.
    #[arg(long, env = "VERDICT_PROOF")]
    pub proof: PathBuf,
    /// The registered model commitment to check against. Required for private models; for public
    /// ones it defaults to the model file's commitment.
    #[arg(long, env = "VERDICT_COMMITMENT")]
    pub commitment: Option<String>,
    /// Key setup (must be the prover's).
    #[command(flatten)]
    pub setup: SetupArgs,
}

/// `fraud-prover export-verifier`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The model file (for a private model, its structure: the weights are not read).
    #[arg(long, env = "VERDICT_MODEL")]
    pub model: PathBuf,
    /// The key of the private-weight circuit (proofs made with `prove --private`).
    #[arg(long, env = "VERDICT_PRIVATE", conflicts_with = "tiles")]
    pub private: bool,
    /// The tile circuit's key (the same for every model; publish it with
    /// `NovaVerifier.publishTileKey`), and what a model registered by tiles registers: its tile
    /// count as the step count and its tiled commitment C.
    #[arg(long, env = "VERDICT_TILES")]
    pub tiles: bool,
    /// Where to write the key blob (binary; `PROOF_FORMAT.md`). Publish it with
    /// `NovaVerifier.publishKey` (`publishTileKey` with `--tiles`).
    #[arg(short = 'o', long = "output", env = "VERDICT_KEY_OUT")]
    pub output: PathBuf,
    /// Key setup (must be the prover's).
    #[command(flatten)]
    pub setup: SetupArgs,
    /// Print one JSON document.
    #[arg(long, env = "VERDICT_JSON")]
    pub json: bool,
}
