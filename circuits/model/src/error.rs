use std::path::PathBuf;

/// The operators the ONNX importer accepts, for error messages.
pub const SUPPORTED_OPS: &str =
    "MatMul, Gemm, Conv and ConvTranspose (1-D or 2-D, grouped and dilated too), Resize (nearest or linear, \
     constant scales or sizes), Add, Sub, Mul and Div of constants, Relu, LeakyRelu, \
     PRelu, Clip, HardSigmoid, Sigmoid, Tanh, Elu (and Celu) of alpha 1, Selu, Softplus, Gelu (exact or tanh), HardSwish, Mish, and SiLU, \
     GELU, Mish or hard swish written as elementwise nodes (Sigmoid then Mul; Div, Erf, Add, Mul, …) (right after a \
     layer; Max and Min of a scalar there too), MaxPool (after a Relu), BatchNormalization, AveragePool, \
     GlobalAveragePool (pools 1-D or 2-D), ReduceMean and ReduceSum (not over the batch axis), ReduceMax (after a \
     Relu, not over the batch axis), Flatten, Reshape, \
     Squeeze, Unsqueeze, Transpose, Pad, Slice, Gather and Tile (constant arguments), DepthToSpace, SpaceToDepth, Identity, Dropout (inference), Cast (to a float type), Constant, shape \
     computations on constants (Shape, Gather, Concat, Slice, Expand, ConstantOfShape, …), the Add or Concat (over channels) that ends a \
     residual block (its shortcut the block's input, or linear layers of it) or joins two parallel branches, a classifier's final Softmax or LogSoftmax or a \
     binary one's final Sigmoid; ai.onnx.ml Imputer (of NaN), Scaler, LinearRegressor, LinearClassifier, TreeEnsembleClassifier and \
     TreeEnsembleRegressor (on the input)";

/// Everything that can go wrong in the model pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("cannot access {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not a protobuf-encoded ONNX model.
    #[error("not an onnx model: {0}")]
    OnnxDecode(String),
    /// The graph uses an operator the importer does not support.
    #[error("unsupported onnx operator `{op}` at node `{node}`{note}; supported: {SUPPORTED_OPS}")]
    UnsupportedOp {
        /// The operator type.
        op: String,
        /// The node's name (or its first output when unnamed).
        node: String,
        /// Why, when there is more to say than "unsupported".
        note: String,
    },
    /// The graph is ONNX, but not a shape the importer can turn into a layer chain.
    #[error("invalid onnx graph at `{node}`: {reason}")]
    OnnxGraph {
        /// The node (or graph element) at fault.
        node: String,
        /// What was expected and what came.
        reason: String,
    },
    /// The default-domain opset is older than 11.
    #[error("onnx opset {found} is not supported: expected opset 11 or newer")]
    Opset {
        /// The opset version found.
        found: i64,
    },
    /// A model file is malformed or inconsistent.
    #[error("invalid model: {0}")]
    Model(String),
    /// An inference input is malformed.
    #[error("invalid input: {0}")]
    Input(String),
    /// A calibration set is malformed.
    #[error("invalid calibration set: {0}")]
    Calibration(String),
    /// Quantization would let an intermediate value leave its proven range.
    #[error("quantization bound exceeded: {0}")]
    Bounds(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn graph(node: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::OnnxGraph { node: node.into(), reason: reason.into() }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
