use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use verdict_circuits::Task;

/// Verdict oracle: serve ML inference on-chain, optimistically, and defend it with proofs.
#[derive(Debug, Parser)]
#[command(name = "oracle", version, about, args_override_self = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import, inspect and run models.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Run the operator service: answer and settle requests, serve the HTTP API.
    Serve(Box<crate::serve::ServeArgs>),
}

/// `oracle model …`
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Import an ONNX MLP, quantize it from a calibration set, and write a Verdict model file.
    ///
    /// Each hidden layer's units are ordered by the input blocks they read, so that a tiled
    /// proof takes fewer tiles (a convolution's units come grouped by position, all channels
    /// together): the outputs are the model's, a hidden layer's values (`model run --trace`)
    /// come in that order.
    Import {
        /// The ONNX file.
        onnx: PathBuf,
        /// Calibration rows: CSV (one row a line, optional header) or JSON (array of arrays).
        #[arg(long, env = "VERDICT_CALIBRATION")]
        calibration: PathBuf,
        /// Where to write the model file.
        #[arg(short = 'o', long = "output", env = "VERDICT_MODEL_OUT")]
        output: PathBuf,
        /// The model's name (default: the ONNX file's stem).
        #[arg(long, env = "VERDICT_MODEL_NAME")]
        name: Option<String>,
        /// How the output is read (default: regression for one output, else classification).
        #[arg(long, value_enum, env = "VERDICT_MODEL_TASK")]
        task: Option<TaskArg>,
        /// Import `Sigmoid` and `Tanh` in piecewise-linear form (KNOTS hinges a unit, default
        /// 16, at most 64) instead of by table, so that the model can be proven by tiles: a
        /// dispute then proves one fixed-size step whatever the model's size. The functions are
        /// approximated (within 0.4% of their range at 16 knots); the report gives the agreement
        /// with the original model. `Elu`, `Selu`, `Softplus`, `Gelu` (either form), `HardSwish`, `Mish` and SiLU have no table and
        /// are always imported so (16 knots unless KNOTS is given). A tree ensemble's comparisons
        /// and path tests are written as clamps, exactly (int32 outputs 127 times as large, at
        /// scales 127 times as fine: the same real outputs).
        #[arg(long, value_name = "KNOTS", num_args = 0..=1, default_missing_value = "16", env = "VERDICT_PIECEWISE_LINEAR")]
        piecewise_linear: Option<usize>,
        /// Print one JSON document.
        #[arg(long, env = "VERDICT_JSON")]
        json: bool,
    },
    /// Show a model's layers, shapes, parameter count and commitments.
    Inspect {
        /// The model file.
        model: PathBuf,
        /// Print one JSON document.
        #[arg(long, env = "VERDICT_JSON")]
        json: bool,
    },
    /// Run one inference with the reference engine.
    Run {
        /// The model file.
        model: PathBuf,
        /// The input: a JSON array or a CSV row of numbers, or @FILE to read it from a file.
        #[arg(long, env = "VERDICT_INPUT", allow_hyphen_values = true)]
        input: String,
        /// The input is already int8 (integers in [-127, 127]), not real values.
        #[arg(long, env = "VERDICT_QUANTIZED")]
        quantized: bool,
        /// Also print every step commitment z_0..z_L.
        #[arg(long, env = "VERDICT_TRACE")]
        trace: bool,
        /// Print one JSON document.
        #[arg(long, env = "VERDICT_JSON")]
        json: bool,
    },
    /// Commit to a private input: quantize it, draw a fresh salt (or take `--salt`), and print
    /// the salted commitment z_0 to request with (`InferenceOracle.request` with an empty input
    /// and z_0), with the int8 input and the salt to deliver to the operator
    /// (`POST /v1/requests/{id}/input`). Keep the salt secret.
    CommitInput {
        /// The model file.
        model: PathBuf,
        /// The input: a JSON array or a CSV row of numbers, or @FILE to read it from a file.
        #[arg(long, env = "VERDICT_INPUT", allow_hyphen_values = true)]
        input: String,
        /// The input is already int8 (integers in [-127, 127]), not real values.
        #[arg(long, env = "VERDICT_QUANTIZED")]
        quantized: bool,
        /// The salt (0x-hex, 32 bytes, below the BN254 scalar modulus); default: a fresh one.
        #[arg(long)]
        salt: Option<String>,
        /// Print one JSON document.
        #[arg(long, env = "VERDICT_JSON")]
        json: bool,
    },
}

/// The `--task` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TaskArg {
    /// Real-valued outputs.
    Regression,
    /// Argmax class.
    Classification,
}

impl From<TaskArg> for Task {
    fn from(t: TaskArg) -> Self {
        match t {
            TaskArg::Regression => Self::Regression,
            TaskArg::Classification => Self::Classification,
        }
    }
}
