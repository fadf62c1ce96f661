//! ONNX import of MLP-style graphs into a [`FloatModel`].
//!
//! The protobuf messages below are the subset of `onnx.proto` that the importer reads, written by
//! hand with their field numbers, so no code generator is needed. They also encode, which the
//! tests use to build graphs.

use std::{collections::HashMap, path::Path};

mod branches;
mod elementwise;
mod ensembles;
mod residual;
mod shape;
mod sklearn;
mod upsample;

use prost::Message;

use crate::{
    float::{FloatLayer, FloatModel, Interpolant},
    model::{Normalize, TableFunction, SELU_ALPHA, SELU_GAMMA},
    Error, Result,
};

/// The oldest default-domain opset the importer accepts.
pub const MIN_OPSET: i64 = 11;

/// The most weights a convolution may lower to (its dense layer's outputs × inputs, mostly
/// zeros): 2^27, about 1 GB to import. A wider convolution is refused before anything is
/// allocated (PyTorch's MNIST example's second convolution, 32 → 64 channels at 28×28, lowers to
/// 1.26 billion); it needs a native convolution layer, which the model format does not have.
pub const MAX_LOWERED_WEIGHTS: usize = 1 << 27;

/// The most values the model's input, or a padded tensor, may hold: 2^22 (a 2048×2048 image).
pub const MAX_VALUES: usize = 1 << 22;

/// `onnx.ModelProto` (subset).
#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    #[prost(string, tag = "2")]
    pub producer_name: String,
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
}

/// `onnx.OperatorSetIdProto`.
#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    pub domain: String,
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// `onnx.GraphProto` (subset).
#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

/// `onnx.NodeProto` (subset).
#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub op_type: String,
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    #[prost(string, tag = "7")]
    pub domain: String,
}

/// `onnx.AttributeProto` (subset).
#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(float, tag = "2")]
    pub f: f32,
    #[prost(int64, tag = "3")]
    pub i: i64,
    #[prost(bytes = "vec", tag = "4")]
    pub s: Vec<u8>,
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    #[prost(float, repeated, tag = "7")]
    pub floats: Vec<f32>,
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub strings: Vec<Vec<u8>>,
    #[prost(int32, tag = "20")]
    pub r#type: i32,
}

/// `onnx.TensorProto` (subset).
#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    #[prost(double, repeated, tag = "10")]
    pub double_data: Vec<f64>,
    #[prost(string, tag = "8")]
    pub name: String,
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
    #[prost(int32, tag = "14")]
    pub data_location: i32,
}

/// `onnx.ValueInfoProto` (subset).
#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct ValueInfoProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
}

/// `onnx.TypeProto` (tensor types only).
#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct TypeProto {
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TensorTypeProto>,
}

/// `onnx.TypeProto.Tensor`.
#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct TensorTypeProto {
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// `onnx.TensorShapeProto`.
#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<Dimension>,
}

/// `onnx.TensorShapeProto.Dimension`.
#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct Dimension {
    #[prost(int64, tag = "1")]
    pub dim_value: i64,
    #[prost(string, tag = "2")]
    pub dim_param: String,
}

/// `TensorProto.DataType.FLOAT`.
pub const DATA_TYPE_FLOAT: i32 = 1;
/// `TensorProto.DataType.INT64`.
pub const DATA_TYPE_INT64: i32 = 7;
/// `TensorProto.DataType.INT32` (label tables).
const DATA_TYPE_INT32: i32 = 6;
/// `TensorProto.DataType.BOOL` (a `Dropout`'s `training_mode`).
const DATA_TYPE_BOOL: i32 = 9;
/// `TensorProto.DataType.FLOAT16` (half-precision exports; held as float32).
const DATA_TYPE_FLOAT16: i32 = 10;
/// `TensorProto.DataType.DOUBLE` (skl2onnx's float64 exports; held as float32, far finer than
/// the int8 quantization that follows).
const DATA_TYPE_DOUBLE: i32 = 11;

/// Whether a tensor type is a float the importer reads (float32, float16, float64).
fn is_float_type(t: i32) -> bool {
    matches!(t, DATA_TYPE_FLOAT | DATA_TYPE_FLOAT16 | DATA_TYPE_DOUBLE)
}

/// An IEEE 754 half-precision value.
fn half_to_f32(bits: u16) -> f32 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let mantissa = f32::from(bits & 0x3ff);
    sign * match exponent {
        0 => mantissa * 2f32.powi(-24),
        0x1f if mantissa == 0.0 => f32::INFINITY,
        0x1f => f32::NAN,
        e => (1.0 + mantissa / 1024.0) * 2f32.powi(e - 15),
    }
}

impl ConstData {
    /// The values at `indices`, in their order.
    fn select(&self, indices: impl IntoIterator<Item = usize>) -> Self {
        match self {
            Self::I64(v) => Self::I64(indices.into_iter().map(|i| v[i]).collect()),
            Self::F32(v) => Self::F32(indices.into_iter().map(|i| v[i]).collect()),
        }
    }
}

/// A constant tensor of the graph.
#[derive(Clone, Debug)]
struct Constant {
    dims: Vec<usize>,
    data: ConstData,
}

#[derive(Clone, Debug)]
enum ConstData {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

impl Constant {
    fn from_proto(t: &TensorProto, at: &str) -> Result<Self> {
        if t.data_location == 1 {
            return Err(Error::graph(at, "tensors stored in external files are not supported"));
        }
        let dims = t
            .dims
            .iter()
            .map(|d| usize::try_from(*d).map_err(|_| Error::graph(at, format!("negative dimension {d}"))))
            .collect::<Result<Vec<_>>>()?;
        // The values are in the file: a count beyond 2^40 is a corrupt shape.
        let count = dims
            .iter()
            .try_fold(1usize, |n, d| n.checked_mul(*d))
            .filter(|n| *n <= 1 << 40)
            .ok_or_else(|| Error::graph(at, format!("dims {dims:?} are too large")))?;
        let data = match t.data_type {
            DATA_TYPE_FLOAT => ConstData::F32(if t.raw_data.is_empty() {
                t.float_data.clone()
            } else {
                if t.raw_data.len() != count * 4 {
                    return Err(Error::graph(
                        at,
                        format!("expected {} raw bytes for {count} floats, found {}", count * 4, t.raw_data.len()),
                    ));
                }
                t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect()
            }),
            DATA_TYPE_DOUBLE => ConstData::F32(if t.raw_data.is_empty() {
                t.double_data.iter().map(|v| *v as f32).collect()
            } else {
                if t.raw_data.len() != count * 8 {
                    return Err(Error::graph(
                        at,
                        format!("expected {} raw bytes for {count} doubles, found {}", count * 8, t.raw_data.len()),
                    ));
                }
                t.raw_data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect()
            }),
            DATA_TYPE_FLOAT16 => ConstData::F32(if t.raw_data.is_empty() {
                // Without raw data, each half's bits in the low 16 bits of an int32.
                t.int32_data.iter().map(|v| half_to_f32(*v as u16)).collect()
            } else {
                if t.raw_data.len() != count * 2 {
                    return Err(Error::graph(
                        at,
                        format!("expected {} raw bytes for {count} halves, found {}", count * 2, t.raw_data.len()),
                    ));
                }
                t.raw_data.chunks_exact(2).map(|c| half_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect()
            }),
            DATA_TYPE_INT64 => ConstData::I64(if t.raw_data.is_empty() {
                t.int64_data.clone()
            } else {
                if t.raw_data.len() != count * 8 {
                    return Err(Error::graph(
                        at,
                        format!("expected {} raw bytes for {count} int64s, found {}", count * 8, t.raw_data.len()),
                    ));
                }
                t.raw_data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()
            }),
            DATA_TYPE_INT32 => ConstData::I64(if t.raw_data.is_empty() {
                t.int32_data.iter().map(|v| i64::from(*v)).collect()
            } else {
                if t.raw_data.len() != count * 4 {
                    return Err(Error::graph(
                        at,
                        format!("expected {} raw bytes for {count} int32s, found {}", count * 4, t.raw_data.len()),
                    ));
                }
                t.raw_data
                    .chunks_exact(4)
                    .map(|c| i64::from(i32::from_le_bytes(c.try_into().expect("4 bytes"))))
                    .collect()
            }),
            DATA_TYPE_BOOL => ConstData::I64(if t.raw_data.is_empty() {
                t.int32_data.iter().map(|v| i64::from(*v != 0)).collect()
            } else {
                t.raw_data.iter().map(|b| i64::from(*b != 0)).collect()
            }),
            other => {
                return Err(Error::graph(
                    at,
                    format!(
                        "tensor data type {other} is not supported: expected float32 (1), float16 (10), float64 \
                         (11), int32 (6), int64 (7) or bool (9)"
                    ),
                ))
            }
        };
        let len = match &data {
            ConstData::F32(v) => v.len(),
            ConstData::I64(v) => v.len(),
        };
        if len != count {
            return Err(Error::graph(at, format!("expected {count} values for dims {dims:?}, found {len}")));
        }
        Ok(Self { dims, data })
    }

    /// The number of values.
    fn count(&self) -> usize {
        match &self.data {
            ConstData::F32(v) => v.len(),
            ConstData::I64(v) => v.len(),
        }
    }

    fn floats(&self, at: &str) -> Result<&[f32]> {
        match &self.data {
            ConstData::F32(v) => Ok(v),
            ConstData::I64(_) => Err(Error::graph(at, "expected a float32 tensor, found int64")),
        }
    }
}

/// Where the chain stands after the last node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tail {
    /// The running tensor is the input (no layer yet).
    Input,
    /// The running tensor is the last layer's pre-activation output: a bias may still be added.
    Linear,
    /// The last layer's ReLU has been applied.
    Activated,
}

/// Reads an ONNX file and imports it.
pub fn import_onnx_file(path: impl AsRef<Path>) -> Result<FloatModel> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let name = path.file_stem().map_or("model".into(), |s| s.to_string_lossy().into_owned());
    import_onnx(&bytes, &name)
}

/// Imports an ONNX model made of a chain of dense layers into a float model.
///
/// Accepted: `MatMul` and `Gemm` (any `transA`/`transB`, `alpha`, `beta`, with one operand a
/// float32 constant), `Add` of a constant bias right after them, `Relu`, `Flatten`, `Reshape` to
/// a constant shape, `Identity`, `Cast` to float32 and `Constant`, in the default domain, opset 11 or newer, batch
/// size 1. Everything else is rejected with an error that names the operator and the node.
pub fn import_onnx(bytes: &[u8], name: &str) -> Result<FloatModel> {
    let model = ModelProto::decode(bytes).map_err(|e| Error::OnnxDecode(e.to_string()))?;
    let graph = model.graph.as_ref().ok_or_else(|| Error::OnnxDecode("the model has no graph".into()))?;
    let opset = model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map(|o| o.version);
    let ml = model.opset_import.iter().any(|o| o.domain == "ai.onnx.ml");
    // The opset fixes the default domain's semantics (Clip's inputs, Softmax's axis, …). A
    // graph of ai.onnx.ml operators with at most `Identity` and `Cast` beside them (what
    // onnxmltools writes for XGBoost and LightGBM, at opset 9 or with no default opset at all)
    // means the same at any opset.
    let plain =
        graph.node.iter().all(|n| n.domain == "ai.onnx.ml" || matches!(n.op_type.as_str(), "Identity" | "Cast"));
    match opset {
        None if ml && plain => {}
        None => return Err(Error::OnnxDecode("no default-domain opset_import: not an onnx model".into())),
        Some(found) if found < MIN_OPSET && !(ml && plain) => return Err(Error::Opset { found }),
        Some(_) => {}
    }

    let mut consts: HashMap<String, Constant> = HashMap::new();
    for t in &graph.initializer {
        consts.insert(t.name.clone(), Constant::from_proto(t, &format!("initializer `{}`", t.name))?);
    }
    let inputs: Vec<&ValueInfoProto> = graph.input.iter().filter(|i| !consts.contains_key(&i.name)).collect();
    let (input, joined) = match inputs.as_slice() {
        [input] => ((*input).clone(), None),
        [] => return Err(Error::graph("graph inputs", "the graph has no non-constant input")),
        many => {
            let (input, index) = joined_inputs(graph, many)?;
            (input, Some(index))
        }
    };
    let input = &input;
    let input_dim = input_width(input)?;
    // The running tensor's dimensions (batch 1), for `Shape`, `Transpose`, `Pad` and `Reshape`.
    let mut dims = input_dims(input, input_dim);

    let mut current = input.name.clone();
    let mut width = input_dim;
    let mut tail = Tail::Input;
    let mut layers: Vec<FloatLayer> = Vec::new();
    // The running tensor's [C, H, W] layout, when known (convolutions and pools need it).
    let mut spatial = input_spatial(input);
    // A linear map after an activation (a pool or a batch normalization), composed into the
    // next layer.
    let mut pending: Option<Affine> = None;
    // Rows of the last layer per channel (for batch normalization): H·W after a Conv, 1 after
    // MatMul/Gemm.
    let mut channel_rows = 1usize;
    // Set once a classifier's scores are computed (a `LinearClassifier` or a final `Softmax`):
    // the name of the scores; later nodes may only post-process them.
    let mut head: Option<String> = None;
    // Elementwise affine maps on the model input itself (a scaler): the input's normalization,
    // applied before quantization. Folded into the first layer instead, features of different
    // ranges would share one int8 scale and the small ones would round to zero.
    let mut normalize: Option<Normalize> = None;
    // Fixed by a tree ensemble (its thresholds normalized into [-0.95, 0.95]); otherwise from
    // the calibration rows.
    let mut input_scale: Option<f64> = None;

    // The residual block being imported, from its shortcut's tensor to the `Add` that ends it.
    let mut skip: Option<residual::Skip> = None;

    // Ensembles of models over one input (voting, bagging, stacking) merged into one model.
    let merged;
    let graph = match ensembles::merge(graph, &consts)? {
        Some(g) => {
            merged = g;
            &merged
        }
        None => graph,
    };
    // Parallel branches run one after the other: their nodes in that order.
    let reordered;
    let mut forks = branches::find(graph, &[current.as_str()]);
    let graph = match forks.is_empty() {
        true => graph,
        false => {
            reordered = branches::reorder(graph, &mut forks)
                .ok_or_else(|| Error::graph("graph nodes", "the nodes have a cycle: not a graph of layers"))?;
            &reordered
        }
    };
    // The fork whose first branch is being imported, with `x`'s dimensions.
    let mut branch: Option<(branches::Fork, Vec<usize>)> = None;
    // The dimensions of each tensor the chain has passed through (a `Shape` may read one).
    let mut earlier: HashMap<String, Vec<usize>> = HashMap::new();
    let mut nodes = graph.node.iter().enumerate().peekable();
    // Nodes that only derive other scores from a classifier's (an SVM's tie-breaking
    // confidences): the model's scores are its own, the label the runtime's.
    let mut dropped: Vec<usize> = Vec::new();
    while let Some((index, node)) = nodes.next() {
        if joined == Some(index) || dropped.contains(&index) {
            // The `Concat` of the graph's inputs: the model's input.
            continue;
        }
        // A layer, a pool or an ml operator changed the running tensor: its dimensions follow.
        match spatial {
            // A 1-D tensor `[1, C, L]` stays 3-D through 1-D convolutions and pools.
            Some(s) if dims.len() == 3 && s.h == 1 => dims = vec![1, s.c, s.w],
            Some(s) => dims = vec![1, s.c, s.h, s.w],
            None if dims.iter().product::<usize>() != width => dims = vec![1, width],
            None => {}
        }
        earlier.entry(current.clone()).or_insert_with(|| dims.clone());
        let at = if node.name.is_empty() {
            node.output.first().cloned().unwrap_or_else(|| node.op_type.clone())
        } else {
            node.name.clone()
        };
        let ml = node.domain == "ai.onnx.ml";
        if !(node.domain.is_empty() || node.domain == "ai.onnx" || ml) {
            return Err(Error::UnsupportedOp {
                op: format!("{}::{}", node.domain, node.op_type),
                node: at,
                note: " (only the onnx and ai.onnx.ml domains are supported)".into(),
            });
        }
        let op = node.op_type.as_str();
        if let Some(head) = &head {
            // Past the classifier's scores: only what turns them into a label or probabilities.
            post_processing(node, ml, head, &consts, width, &at)?;
            continue;
        }
        let out = node.output.first().cloned().ok_or_else(|| Error::graph(&at, "the node has no output"))?;
        // A binary classifier's probability: its graph's output, or skl2onnx's `[1 - p, p]` of it
        // (the index of that pair's `Concat`).
        let probability = op == "Sigmoid" && width == 1;
        let probability_pair = probability.then(|| sklearn::two_class(graph, index + 1, &out, &consts, 1.0)).flatten();
        let sigmoid_head = probability && (probability_pair.is_some() || graph.output.iter().any(|o| o.name == out));
        if skip.is_none() && branch.is_none() {
            if let Some((map, end, next)) = sklearn::affine_fan_out(graph, index, &current, width, &consts)? {
                // Several affine paths from the running tensor, joined (a ColumnTransformer).
                width = map.rows.len();
                apply_affine(&mut layers, &mut pending, &mut normalize, tail, map);
                (dims, spatial, channel_rows) = (vec![1, width], None, 1);
                current = next;
                while nodes.next_if(|(i, _)| *i <= end).is_some() {}
                continue;
            }
        }
        if ml {
            let unsupported = |note: &str| Error::UnsupportedOp {
                op: format!("ai.onnx.ml::{op}"),
                node: at.clone(),
                note: note.into(),
            };
            if node.input.first() != Some(&current) {
                return Err(Error::graph(
                    &at,
                    format!("expected the node to consume the running tensor `{current}` (the graph must be a chain of layers)"),
                ));
            }
            match op {
                "Imputer" => {
                    // Replaces missing values, NaN as scikit-learn's SimpleImputer writes it: an
                    // input is never missing (a non-finite value is refused when it is posted), so
                    // on every input the model takes it is the identity.
                    let replaced = attr(node, "replaced_value_float").map_or(0.0, |a| a.f);
                    if !replaced.is_nan() || attr(node, "imputed_value_int64s").is_some_and(|a| !a.ints.is_empty()) {
                        return Err(unsupported(&format!(
                            " (only of NaN in float inputs, found replaced_value_float {replaced}: replacing a \
                             number is not linear)"
                        )));
                    }
                }
                "Scaler" => {
                    let floats = |name: &str| attr(node, name).map(|a| a.floats.clone()).unwrap_or_default();
                    let (offset, scale) = (floats("offset"), floats("scale"));
                    let value =
                        |v: &[f32], i: usize, default: f64| -> Result<f64> { broadcast(v, width, i, default, &at) };
                    let mut rows = Vec::with_capacity(width);
                    let mut offsets = Vec::with_capacity(width);
                    for i in 0..width {
                        let k = value(&scale, i, 1.0)?;
                        rows.push(vec![(i, k)]);
                        offsets.push(-value(&offset, i, 0.0)? * k);
                    }
                    let map = Affine { in_dim: width, rows, offset: offsets };
                    apply_affine(&mut layers, &mut pending, &mut normalize, tail, map);
                }
                "LinearRegressor" => {
                    let transform = attr(node, "post_transform").map(|a| String::from_utf8_lossy(&a.s).to_string());
                    if transform.as_deref().is_some_and(|t| t != "NONE") {
                        return Err(unsupported(" (only post_transform NONE: a regressor's output is linear)"));
                    }
                    let targets = attr(node, "targets").map_or(1, |a| a.i).max(1) as usize;
                    let layer = linear_head(node, width, targets, &at)?;
                    push_linear(&mut layers, &mut pending, layer);
                    width = targets;
                    tail = Tail::Linear;
                }
                "LinearClassifier" => {
                    let labels = crate::trees::class_labels(node, &at)?;
                    let rows = attr(node, "coefficients").map_or(0, |a| a.floats.len()) / width.max(1);
                    let layer = if rows == 1 && labels == 2 {
                        // Binary: one score s, class 1 when s > 0.
                        let mut one = linear_head(node, width, 1, &at)?;
                        score_pair(&mut one);
                        one
                    } else if rows == labels {
                        linear_head(node, width, labels, &at)?
                    } else {
                        return Err(Error::graph(
                            &at,
                            format!("{rows} rows of coefficients for {labels} class labels"),
                        ));
                    };
                    push_linear(&mut layers, &mut pending, layer);
                    width = layers.last().expect("pushed").out_dim;
                    // Its post_transform (none, logistic, softmax) is monotone: the argmax of
                    // the scores is the label.
                    head = Some(node.output.get(1).cloned().unwrap_or(out));
                    tail = Tail::Linear;
                    continue;
                }
                "Normalizer" => {
                    return Err(unsupported(" (a row normalization is not a linear map: no circuit for it)"))
                }
                "ArrayFeatureExtractor" => {
                    if dims.len() != 2 {
                        return Err(unsupported(" (only of a flat tensor's columns)"));
                    }
                    let map = sklearn::feature_extractor(node, &consts, width, &at)?;
                    width = map.rows.len();
                    apply_affine(&mut layers, &mut pending, &mut normalize, tail, map);
                }
                "SVMRegressor" => {
                    push_linear(&mut layers, &mut pending, sklearn::svm_regressor(node, width, &at)?);
                    width = 1;
                    tail = Tail::Linear;
                }
                "SVMClassifier" => {
                    let mut svm = sklearn::svm_classifier(node, width, &at)?.into_iter();
                    let first = svm.next().expect("an SVM classifier has a layer");
                    push_linear(&mut layers, &mut pending, first);
                    layers.extend(svm);
                    width = layers.last().expect("pushed").out_dim;
                    if width > 2 {
                        // Its pairwise decisions feed skl2onnx's one-against-rest scores (the votes
                        // plus a confidence that breaks ties): the model's scores are the votes.
                        if let Some(scores) = node.output.get(1) {
                            dropped = sklearn::derived_only(graph, index, scores);
                        }
                    }
                    head = Some(node.output.get(1).cloned().unwrap_or(out));
                    tail = Tail::Linear;
                    continue;
                }
                "TreeEnsembleClassifier" | "TreeEnsembleRegressor" => {
                    if tail != Tail::Input || pending.is_some() || !layers.is_empty() {
                        return Err(unsupported(" (a tree ensemble must read the model's input, or a scaler of it)"));
                    }
                    let classifier = op == "TreeEnsembleClassifier";
                    let ensemble = crate::trees::tree_ensemble(node, width, classifier, &at)?;
                    // The ensemble's per-feature normalization after the input's own.
                    let e = ensemble.normalize;
                    normalize = Some(match normalize.take() {
                        None => e,
                        Some(n) => Normalize {
                            scale: n.scale.iter().zip(&e.scale).map(|(s, k)| s * k).collect(),
                            offset: n
                                .offset
                                .iter()
                                .zip(e.scale.iter().zip(&e.offset))
                                .map(|(o, (k, c))| o * k + c)
                                .collect(),
                        },
                    });
                    input_scale = Some(1.0 / 127.0);
                    layers.extend(ensemble.layers);
                    width = ensemble.outputs;
                    tail = Tail::Linear;
                    if classifier {
                        head = Some(node.output.get(1).cloned().unwrap_or(out));
                        continue;
                    }
                }
                _ => return Err(unsupported("")),
            }
            current = out;
            continue;
        }
        if tail == Tail::Linear && width == 1 && pending.is_none() {
            if let Some(end) = sklearn::two_class(graph, index, &current, &consts, 0.0) {
                // A binary classifier's score s written out as the two outputs [-s, s].
                score_pair(layers.last_mut().expect("a linear tail has a layer"));
                (width, dims) = (2, vec![1, 2]);
                current = graph.node[end].output.first().cloned().unwrap_or_default();
                while nodes.next_if(|(i, _)| *i <= end).is_some() {}
                continue;
            }
        }
        if let Some(fork) = forks.iter().find(|f| f.a.first() == Some(&index) && f.x == current) {
            // The first of two branches from `x`: a block that carries `x`.
            if skip.is_some() || branch.is_some() {
                return Err(Error::graph(
                    &at,
                    format!("branches from `{current}` inside a residual block or another branch are not supported"),
                ));
            }
            if tail == Tail::Linear {
                pending = Some(identity_hinges(&mut layers, &format!("branches from `{current}`"), &at)?);
                tail = Tail::Activated;
            }
            skip = Some(residual::open_branch(&current, &layers, pending.as_ref(), normalize.as_ref(), tail, &dims));
            branch = Some((fork.clone(), dims.clone()));
        }
        if let Some((fork, x_dims)) = branch.take_if(|(f, _)| f.b.first() == Some(&index)) {
            // The second branch: the first one's output and `x` joined, then a block from there
            // that carries the first output to the join while this branch reads `x`.
            let s = skip.take().expect("the first branch's block");
            if tail == Tail::Input {
                return Err(Error::graph(&at, format!("the branch from `{}` to `{current}` has no layer", fork.x)));
            }
            let joined =
                residual::join_branch(s, &current, &mut layers, &mut pending, normalize.as_ref(), tail, &dims, &at)?;
            if tail == Tail::Linear {
                pending = Some(identity_hinges(&mut layers, &format!("branches from `{}`", fork.x), &at)?);
                tail = Tail::Activated;
            }
            let (second, pick) = residual::open_second(
                &fork.x,
                &current,
                &dims,
                fork.join,
                &layers,
                pending.as_ref(),
                normalize.as_ref(),
                tail,
                joined.iter().product(),
            );
            skip = Some(second);
            pending = Some(then(pending.take(), pick));
            current = fork.x.clone();
            width = x_dims.iter().product();
            spatial = spatial_of(&x_dims);
            channel_rows = spatial.map_or(1, |s| s.h * s.w);
            dims = x_dims;
        }
        if skip.as_ref().is_some_and(|s| s.path.contains(&index)) {
            // A node of a projection shortcut: imported into the shortcut's map.
            continue;
        }
        if skip.as_ref().is_some_and(|s| s.add == index) {
            let s = skip.take().expect("checked");
            let joined =
                residual::close(s, node, &current, &mut layers, &mut pending, normalize.as_ref(), tail, &dims, &at)?;
            if let Some(next) = joined {
                // A Concat: the channels (or features) of both.
                width = next.iter().product();
                spatial = spatial_of(&next);
                channel_rows = spatial.map_or(1, |s| s.h * s.w);
                dims = next;
            }
            current = out;
            continue;
        }
        if node.input.contains(&current) && skip.as_ref().is_none_or(|s| s.name != current) {
            if tail == Tail::Linear && residual::is_shortcut(graph, index, &current, &consts) {
                // A shortcut from a layer's pre-activation (a residual stream with no activation
                // between blocks).
                pending = Some(identity_hinges(&mut layers, &format!("a shortcut from `{current}`"), &at)?);
                tail = Tail::Activated;
            }
            let opened = residual::open(
                graph,
                index,
                &current,
                &consts,
                &layers,
                pending.as_ref(),
                normalize.as_ref(),
                tail,
                &dims,
                &at,
            )?;
            if opened.is_some() && skip.is_some() {
                return Err(Error::graph(
                    &at,
                    format!("a residual block from `{current}` inside another is not supported"),
                ));
            }
            skip = skip.or(opened);
            if skip.as_ref().is_some_and(|s| s.path.contains(&index)) {
                continue;
            }
        }
        if op == "Constant" {
            let t = attr(node, "value")
                .and_then(|a| a.t.as_ref())
                .ok_or_else(|| Error::graph(&at, "Constant without a tensor `value` attribute"))?;
            consts.insert(out, Constant::from_proto(t, &at)?);
            continue;
        }
        if let Some(folded) = shape::fold(node, &consts, &current, &dims, &earlier, &at)? {
            // A shape computation (or arithmetic on constants): evaluated now.
            consts.insert(out, folded);
            continue;
        }
        let unsupported = |note: &str| Error::UnsupportedOp { op: op.to_string(), node: at.clone(), note: note.into() };
        let shortcut = skip.as_ref().is_some_and(|s| s.name == current);
        if let Some(fused) = if shortcut { None } else { elementwise::fuse(graph, index, &current, &consts, &at)? } {
            // An activation written out in elementwise nodes (SiLU, GELU, …): proven as one.
            if tail != Tail::Linear {
                return Err(Error::UnsupportedOp {
                    op: format!("{} (as elementwise nodes)", fused.function.name()),
                    node: at,
                    note: " (only right after a MatMul/Gemm/Conv layer and its bias)".into(),
                });
            }
            consts.extend(fused.constants);
            layers.last_mut().expect("a linear tail has a layer").table = Some(fused.function);
            tail = Tail::Activated;
            current = fused.output;
            while nodes.next_if(|(i, _)| *i <= fused.end).is_some() {}
            continue;
        }
        if tail == Tail::Activated
            && ACTIVATIONS.contains(&op)
            && node.input.first() == Some(&current)
            && pending.as_ref().is_some_and(|p| !(op == "Relu" && p.averages()))
        {
            // An activation of a map of the last layer's outputs (a batch norm after the
            // activation, as a pre-activation ResNet's BN-ReLU-Conv has it; a residual stream's
            // hinges): the map becomes a linear layer of its own, which the activation follows.
            let p = pending.take().expect("checked");
            layers.push(affine_layer(&p)?);
            tail = Tail::Linear;
        }
        match op {
            "MatMul" | "Gemm" | "Add" | "Sub" | "Mul" | "Div" | "Relu" | "Flatten" | "Reshape" | "Squeeze"
            | "Unsqueeze" | "Transpose" | "Pad" | "Identity" | "Dropout" | "Cast" | "Conv" | "BatchNormalization"
            | "AveragePool" | "GlobalAveragePool" | "ReduceMean" | "ReduceSum" | "Softmax" | "LogSoftmax" | "Slice"
            | "Gather" | "Tile" | "DepthToSpace" | "SpaceToDepth" | "ConvTranspose" | "Resize" => {}
            "LeakyRelu" | "PRelu" | "Clip" | "HardSigmoid" | "Max" | "Min" | "ArgMax" if tail == Tail::Linear => {}
            "ArgMax" => return Err(unsupported(" (only over a classifier's scores, the last layer's outputs)")),
            "LeakyRelu" | "PRelu" | "Clip" | "HardSigmoid" | "Max" | "Min" => {
                return Err(unsupported(" (only right after a MatMul/Gemm/Conv layer and its bias)"))
            }
            "Sigmoid" | "Tanh" | "Elu" | "Celu" | "Selu" | "Softplus" | "Gelu" | "HardSwish" | "Mish"
                if tail == Tail::Linear => {}
            "Sigmoid" | "Tanh" | "Elu" | "Celu" | "Selu" | "Softplus" | "Gelu" | "HardSwish" | "Mish" => {
                return Err(unsupported(" (only right after a MatMul/Gemm/Conv layer and its bias)"))
            }
            "MaxPool" | "GlobalMaxPool" | "ReduceMax"
                if tail == Tail::Activated && pending.as_ref().is_none_or(Affine::averages) => {}
            "MaxPool" | "GlobalMaxPool" | "ReduceMax" => {
                return Err(unsupported(
                    " (only right after a Relu: the max of non-negative values is a sum of ReLU hinges)",
                ))
            }
            _ => return Err(unsupported("")),
        }
        // Every supported operator consumes the running tensor exactly once.
        let running: Vec<usize> =
            node.input.iter().enumerate().filter(|(_, n)| **n == current).map(|(i, _)| i).collect();
        if running.len() != 1 {
            return Err(Error::graph(
                &at,
                format!("expected the node to consume the running tensor `{current}` once (the graph must be a chain of layers)"),
            ));
        }
        let pos = running[0];
        if matches!(op, "Add" | "Sub" | "Mul" | "Div" | "Max" | "Min" | "PRelu") && node.input.len() != 2 {
            // Max and Min may take any number; here, the running tensor and one constant.
            return Err(Error::graph(&at, format!("{op} takes 2 inputs here, found {}", node.input.len())));
        }
        let constant = |i: usize| constant_input(node, i, &consts, &at);
        // A reduction's axes: an input from opset 13 (ReduceSum) or 18, an attribute before.
        let reduce_axes = || -> Result<Vec<i64>> {
            Ok(match node.input.get(1).filter(|n| !n.is_empty()) {
                Some(_) => match &constant(1)?.data {
                    ConstData::I64(v) => v.clone(),
                    ConstData::F32(_) => return Err(Error::graph(&at, format!("{op}'s axes must be integers"))),
                },
                None => attr(node, "axes").map(|a| a.ints.clone()).unwrap_or_default(),
            })
        };
        let needs_spatial = || {
            spatial.ok_or_else(|| {
                let layout = if dims.len() > 4 {
                    format!("is {}-D (3-D convolutions and pools are not supported)", dims.len())
                } else {
                    "is flat".to_string()
                };
                Error::graph(&at, format!("{op} needs a [N, C, H, W] or [N, C, L] tensor; the running tensor {layout}"))
            })
        };
        match op {
            "Identity" => {}
            "Dropout" => {
                // Inference: the identity, unless the graph asks for training mode.
                if node.input.get(2).is_some_and(|n| !n.is_empty())
                    && !matches!(&constant(2)?.data, ConstData::I64(v) if v.iter().all(|t| *t == 0))
                {
                    return Err(Error::graph(&at, "Dropout in training mode is not deterministic"));
                }
            }
            "Flatten" => {
                spatial = None;
                dims = vec![1, width];
            }
            "Squeeze" | "Unsqueeze" => {
                let axes = match node.input.get(1).filter(|n| !n.is_empty()) {
                    Some(_) => match &constant(1)?.data {
                        ConstData::I64(v) => Some(v.clone()),
                        ConstData::F32(_) => return Err(Error::graph(&at, format!("{op}'s axes must be integers"))),
                    },
                    None => attr(node, "axes").map(|a| a.ints.clone()),
                };
                dims = if op == "Squeeze" {
                    shape::squeezed(&dims, axes.as_deref(), &at)?
                } else {
                    shape::unsqueezed(&dims, &axes.ok_or_else(|| Error::graph(&at, "Unsqueeze without axes"))?, &at)?
                };
                spatial = spatial_of(&dims);
            }
            "Transpose" | "Pad" => {
                if pos != 0 {
                    return Err(Error::graph(&at, format!("{op} must take the running tensor first")));
                }
                if tail == Tail::Linear {
                    // Keeps a layer's bias and activation next to it.
                    return Err(Error::graph(
                        &at,
                        format!("{op} right after a layer, before its activation, is not supported"),
                    ));
                }
                let (next, map) = if op == "Transpose" {
                    let perm = shape::permutation(node, dims.len(), &at)?;
                    let (next, source) = shape::transposed(&dims, &perm);
                    (next, shape::selection(&source))
                } else {
                    let pads = match node.input.get(1).filter(|n| !n.is_empty()) {
                        Some(_) => match &constant(1)?.data {
                            ConstData::I64(v) => v.clone(),
                            ConstData::F32(_) => return Err(Error::graph(&at, "Pad's pads must be integers")),
                        },
                        None => attr(node, "pads").map(|a| a.ints.clone()).unwrap_or_default(),
                    };
                    if node.input.get(3).is_some_and(|n| !n.is_empty()) {
                        return Err(Error::graph(&at, "Pad with `axes` is not supported"));
                    }
                    let value = match node.input.get(2).filter(|n| !n.is_empty()) {
                        Some(_) => match constant(2)?.floats(&at)? {
                            [v] => f64::from(*v),
                            v => return Err(Error::graph(&at, format!("Pad's value must be a scalar, found {v:?}"))),
                        },
                        None => attr(node, "value").map_or(0.0, |a| f64::from(a.f)),
                    };
                    let mode =
                        attr(node, "mode").map_or("constant".into(), |a| String::from_utf8_lossy(&a.s).into_owned());
                    shape::pad(&dims, &pads, &mode, value, &at)?
                };
                // A layout change: composed into the next layer like a pool.
                pending = Some(then(pending.take(), map));
                width = next.iter().product();
                spatial = spatial_of(&next);
                dims = next;
            }
            "Cast" => {
                let to = attr(node, "to").map_or(0, |a| a.i);
                if !i32::try_from(to).is_ok_and(is_float_type) {
                    return Err(Error::graph(
                        &at,
                        format!("Cast is supported only to a float type (1, 10, 11), found {to}"),
                    ));
                }
            }
            "Reshape" => {
                if pos != 0 {
                    return Err(Error::graph(&at, "Reshape must reshape the running tensor, not its shape"));
                }
                let shape = match &constant(1)?.data {
                    ConstData::I64(v) => v.clone(),
                    ConstData::F32(_) => return Err(Error::graph(&at, "Reshape's shape must be int64")),
                };
                dims = shape::reshaped(&shape, &dims, &at)?;
                spatial = spatial_of(&dims);
            }
            "Relu" if pending.is_some() => {
                // relu(P·relu(y)) = P·relu(y): P only averages (another map became a layer).
            }
            "Relu" => match tail {
                Tail::Linear => {
                    layers.last_mut().expect("a linear tail has a layer").relu = true;
                    tail = Tail::Activated;
                }
                Tail::Activated => {} // ReLU is idempotent.
                Tail::Input => {
                    return Err(Error::graph(
                        &at,
                        "Relu on the model input is not supported: it must follow MatMul/Gemm",
                    ))
                }
            },
            "Add" | "Sub" if tail == Tail::Linear && (op == "Add" || pos == 0) => {
                // The layer's bias, broadcast over its outputs as numpy would (a convolution's
                // `[1, C, 1, 1]` a channel).
                let c = constant(1 - pos)?;
                let sign = if op == "Sub" { -1.0 } else { 1.0 };
                let b = per_element(c, &dims, &at)?;
                let layer = layers.last_mut().expect("a linear tail has a layer");
                for (v, d) in layer.bias.iter_mut().zip(b) {
                    *v += (sign * d) as f32;
                }
            }
            "Add" | "Sub" | "Mul" | "Div" => {
                // An elementwise constant (a scaler's offset or scale): an affine map `k·x + b`.
                let c = constant(1 - pos)?;
                let values = per_element(c, &dims, &at)?;
                if op == "Div" && pos == 1 {
                    return Err(Error::graph(&at, "Div of a constant by the running tensor is not linear"));
                }
                if op == "Div" && values.contains(&0.0) {
                    return Err(Error::graph(&at, "Div by zero"));
                }
                let (mut rows, mut offset) = (Vec::with_capacity(width), Vec::with_capacity(width));
                for (i, v) in values.into_iter().enumerate() {
                    let (k, b) = match op {
                        "Add" => (1.0, v),
                        "Sub" if pos == 0 => (1.0, -v),
                        "Sub" => (-1.0, v),
                        "Mul" => (v, 0.0),
                        _ => (1.0 / v, 0.0),
                    };
                    rows.push(vec![(i, k)]);
                    offset.push(b);
                }
                apply_affine(&mut layers, &mut pending, &mut normalize, tail, Affine { in_dim: width, rows, offset });
            }
            "LeakyRelu" | "PRelu" | "Clip" | "HardSigmoid" | "Max" | "Min" => {
                // Piecewise linear: exactly a sum of ReLU hinges of the layer's outputs (the layer
                // repeated, shifted and signed, one copy a hinge) and an affine map, composed
                // into the next layer. No new circuit: the quantized model is a ReLU network.
                let float_attr = |name: &str, default: f64| attr(node, name).map_or(default, |a| f64::from(a.f));
                // PRelu's slopes, one an output (broadcast as numpy would: a channel's `[C, 1, 1]`).
                let slopes = match op {
                    "PRelu" if pos != 0 => return Err(Error::graph(&at, "PRelu must take the running tensor first")),
                    "PRelu" => Some(per_element(constant(1)?, &dims, &at)?),
                    _ => None,
                };
                let layer = layers.last_mut().expect("a linear tail has a layer");
                let hinges = match op {
                    "LeakyRelu" => leaky_relu_hinges(float_attr("alpha", 0.01)),
                    "PRelu" => leaky_relu_hinges(1.0),
                    "Max" | "Min" => {
                        // `Max(z, c)` is a Clip from below, `Min(z, c)` from above (c a scalar).
                        let c = match constant(1 - pos)?.floats(&at)? {
                            [c] => f64::from(*c),
                            _ => {
                                return Err(Error::graph(
                                    &at,
                                    format!("{op} only of the layer and one scalar constant"),
                                ))
                            }
                        };
                        if op == "Max" {
                            clip_hinges(Some(c), None, &at)?
                        } else {
                            clip_hinges(None, Some(c), &at)?
                        }
                    }
                    "HardSigmoid" => {
                        // max(0, min(1, αz + β)): the layer scaled, then clipped to [0, 1].
                        let (alpha, beta) = (float_attr("alpha", 0.2), float_attr("beta", 0.5));
                        layer.weights.iter_mut().for_each(|w| *w = (f64::from(*w) * alpha) as f32);
                        layer.bias.iter_mut().for_each(|b| *b = (f64::from(*b) * alpha + beta) as f32);
                        clip_hinges(Some(0.0), Some(1.0), &at)?
                    }
                    _ => {
                        // Opset 11+: min and max as optional constant inputs; before: attributes.
                        let bound = |i: usize, name: &str| -> Result<Option<f64>> {
                            match node.input.get(i).filter(|n| !n.is_empty()) {
                                Some(_) => match constant(i)?.floats(&at)? {
                                    [v] => Ok(Some(f64::from(*v))),
                                    v => Err(Error::graph(
                                        &at,
                                        format!("Clip's {name} must be a scalar, found {} values", v.len()),
                                    )),
                                },
                                None => Ok(attr(node, name).map(|a| f64::from(a.f))),
                            }
                        };
                        clip_hinges(bound(1, "min")?, bound(2, "max")?, &at)?
                    }
                };
                let mut back = expand_hinges(layer, &hinges);
                if let Some(slopes) = slopes {
                    // `relu(z) − α_i · relu(−z)` for output i.
                    back.rows.iter_mut().zip(slopes).for_each(|(row, alpha)| row[1].1 = -alpha);
                }
                pending = Some(back);
                tail = Tail::Activated;
            }
            "Sigmoid" | "Tanh" if !sigmoid_head => {
                // By table: the layer requantizes its pre-activation to int8, and the function's
                // int8 table maps it to the output (exact in the engine and the circuit).
                let f = if op == "Sigmoid" { TableFunction::Sigmoid } else { TableFunction::Tanh };
                layers.last_mut().expect("a linear tail has a layer").table = Some(f);
                tail = Tail::Activated;
            }
            "Elu" | "Celu" | "Selu" | "Softplus" | "Gelu" | "HardSwish" | "Mish" => {
                // Unbounded: no int8 table; quantized in piecewise-linear form. CELU of alpha 1
                // is ELU.
                let float_attr = |name: &str| attr(node, name).map(|a| f64::from(a.f));
                let close = |v: Option<f64>, default: f64| v.is_none_or(|v| (v - default).abs() <= 1e-6 * default);
                let f = match op {
                    "Elu" | "Celu" if close(float_attr("alpha"), 1.0) => TableFunction::Elu,
                    "Selu" if close(float_attr("alpha"), SELU_ALPHA) && close(float_attr("gamma"), SELU_GAMMA) => {
                        TableFunction::Selu
                    }
                    "Elu" | "Celu" | "Selu" => {
                        return Err(unsupported(" (only with the default alpha and gamma)"));
                    }
                    "Gelu" => match attr(node, "approximate").map(|a| String::from_utf8_lossy(&a.s).into_owned()) {
                        None => TableFunction::Gelu,
                        Some(a) if a == "none" => TableFunction::Gelu,
                        Some(a) if a == "tanh" => TableFunction::GeluTanh,
                        Some(a) => {
                            return Err(unsupported(&format!(" (approximate must be `none` or `tanh`, not `{a}`)")))
                        }
                    },
                    "Softplus" => TableFunction::Softplus,
                    "HardSwish" => TableFunction::HardSwish,
                    _ => TableFunction::Mish,
                };
                layers.last_mut().expect("a linear tail has a layer").table = Some(f);
                tail = Tail::Activated;
            }
            "Sigmoid" => {
                // A binary classifier's last operator: sigmoid(s) > 1/2 exactly when s > 0. The
                // one score becomes the two outputs [-s, s], whose argmax is the class, and
                // whose second value is the logit in real units. skl2onnx's `[1 - p, p]` after it
                // is that same argmax.
                score_pair(layers.last_mut().expect("a linear tail has a layer"));
                width = 2;
                if let Some(end) = probability_pair {
                    while nodes.next_if(|(i, _)| *i <= end).is_some() {}
                }
                head = Some(out);
                continue;
            }
            "ArgMax" => {
                // A classifier's label: the argmax of its scores, which are the model's output
                // (the first of tied scores; `select_last_index` would take the last, a tie of
                // float scores being measure zero).
                if !matches!(attr(node, "axis").map_or(0, |a| a.i), 1 | -1) || dims.len() != 2 {
                    return Err(unsupported(" (only over a classifier's scores, axis 1)"));
                }
                head = Some(out);
                continue;
            }
            "Softmax" | "LogSoftmax" => {
                // A classifier's last operator: monotone, so the argmax of its input is the
                // label. The model's output is the scores before it.
                if tail != Tail::Linear || attr(node, "axis").is_some_and(|a| a.i != -1 && a.i != 1) {
                    return Err(unsupported(" (only as a classifier's last operator, over the last layer's outputs)"));
                }
                head = Some(out);
                continue;
            }
            "MatMul" => {
                if node.input.len() != 2 {
                    return Err(Error::graph(&at, format!("MatMul takes 2 inputs, found {}", node.input.len())));
                }
                let c = constant(1 - pos)?;
                let w = match (c.dims.as_slice(), pos) {
                    // x · w with w a vector: one output (skl2onnx's generalized linear models).
                    ([n], 0) => Matrix { rows: *n, cols: 1, values: c.floats(&at)?.to_vec() },
                    _ => matrix(c, &at)?,
                };
                // x·W with W [in, out] when the constant is on the right; W·x with W [out, in]
                // when it is on the left.
                let weights = if pos == 0 { w.transposed() } else { w };
                if pos == 0 && dims.len() > 2 && weights.cols != width && dims.last() == Some(&weights.cols) {
                    // x · W over the last axis of a tensor of more dimensions (PyTorch's
                    // `nn.Linear` on `[batch, time, features]`, Keras' `Dense` on a sequence): the
                    // same W at every position, one block-diagonal layer.
                    push_linear(&mut layers, &mut pending, per_position(&weights, width, &at)?);
                    *dims.last_mut().expect("more than two") = weights.rows;
                    width = dims.iter().product();
                    spatial = spatial_of(&dims);
                    channel_rows = spatial.map_or(1, |s| s.h * s.w);
                } else {
                    push_linear(&mut layers, &mut pending, dense(weights, width, &at)?);
                    width = layers.last().expect("pushed").out_dim;
                    (spatial, channel_rows) = (None, 1);
                    dims = vec![1, width];
                }
                tail = Tail::Linear;
            }
            "Gemm" => {
                if !(2..=3).contains(&node.input.len()) || pos > 1 {
                    return Err(Error::graph(
                        &at,
                        "Gemm takes the running tensor as A or B, a constant as the other, and an optional constant C",
                    ));
                }
                let layer = gemm_layer(node, pos, width, &consts, &at)?;
                push_linear(&mut layers, &mut pending, layer);
                width = layers.last().expect("pushed").out_dim;
                (spatial, channel_rows) = (None, 1);
                dims = vec![1, width];
                tail = Tail::Linear;
            }
            "Conv" | "ConvTranspose" => {
                if pos != 0 || !(2..=3).contains(&node.input.len()) {
                    return Err(Error::graph(
                        &at,
                        format!("{op} takes the running tensor, a constant kernel and an optional bias"),
                    ));
                }
                let input = needs_spatial()?;
                let bias = match node.input.get(2).filter(|n| !n.is_empty()) {
                    Some(_) => Some(constant(2)?.floats(&at)?.to_vec()),
                    None => None,
                };
                let (layer, out) = if op == "Conv" {
                    conv_layer(node, input, constant(1)?, bias.as_deref(), &at)?
                } else {
                    upsample::conv_transpose_layer(node, input, constant(1)?, bias.as_deref(), &at)?
                };
                push_linear(&mut layers, &mut pending, layer);
                width = out.len();
                (spatial, channel_rows) = (Some(out), out.h * out.w);
                tail = Tail::Linear;
            }
            "MaxPool" | "GlobalMaxPool" | "ReduceMax" => {
                // Exactly, as ReLU layers of integer weights: max(a, b) = relu(a) + relu(b − a)
                // for a, b ≥ 0, a tournament a level; the last sums compose into the next layer.
                // So only after a function that is never negative (ReLU, Sigmoid).
                let last = layers.last().expect("an activated tail has a layer");
                if !(last.relu || last.table == Some(TableFunction::Sigmoid)) {
                    let f = last.table.map_or("this activation", TableFunction::name);
                    return Err(unsupported(&format!(
                        " (after {f}: a max of values that may be negative is not a sum of ReLU hinges; only after \
                         Relu or Sigmoid)"
                    )));
                }
                if op == "ReduceMax" {
                    // A max over axes (Keras' GlobalMaxPooling2D over NHWC, PyTorch's
                    // `x.amax((2, 3))`): the same tournament over each output's values.
                    let keep = attr(node, "keepdims").is_none_or(|a| a.i != 0);
                    let (groups, next) = shape::mean_over(op, &dims, &reduce_axes()?, keep, &at)?;
                    let windows =
                        groups.rows.iter().map(|r| r.iter().map(|(i, _)| vec![(*i, 1.0)]).collect()).collect();
                    let (levels, sums) = tournament(windows, pending.take(), width, &at)?;
                    layers.extend(levels);
                    pending = Some(sums);
                    width = next.iter().product();
                    spatial = spatial_of(&next);
                    channel_rows = spatial.map_or(1, |s| s.h * s.w);
                    dims = next;
                } else {
                    let input = needs_spatial()?;
                    let (levels, sums, out) = max_pool(node, input, pending.take(), op == "GlobalMaxPool", &at)?;
                    layers.extend(levels);
                    pending = Some(sums);
                    width = out.len();
                    spatial = Some(out);
                }
            }
            "Slice" | "Gather" | "Tile" | "DepthToSpace" | "SpaceToDepth" | "ReduceMean" | "ReduceSum" => {
                // A selection of the running tensor's values (`x[:, 5:]`, `x[:, [0, 3]]`, a `Tile`), or a
                // mean or a sum over axes (PyTorch's `x.mean((2, 3))`, Keras' global average
                // pooling over NHWC): a linear map, composed into a neighbouring layer.
                let (map, next) = match op {
                    "Slice" | "Gather" | "Tile" | "DepthToSpace" | "SpaceToDepth" if pos != 0 => {
                        return Err(Error::graph(&at, format!("{op} must take the running tensor first")));
                    }
                    "Slice" => shape::slice_running(node, &consts, &dims, &at)?,
                    "Gather" => shape::gather_running(node, &consts, &dims, &at)?,
                    "Tile" => shape::tile_running(node, &consts, &dims, &at)?,
                    "DepthToSpace" | "SpaceToDepth" => shape::depth_to_space(node, &dims, &at)?,
                    _ => {
                        let keep = attr(node, "keepdims").is_none_or(|a| a.i != 0);
                        shape::mean_over(op, &dims, &reduce_axes()?, keep, &at)?
                    }
                };
                apply_map(&mut layers, &mut pending, tail, map);
                width = next.iter().product();
                spatial = spatial_of(&next);
                channel_rows = spatial.map_or(1, |s| s.h * s.w);
                dims = next;
            }
            "AveragePool" | "GlobalAveragePool" | "Resize" => {
                // A fixed linear map of the running tensor's positions, composed into a neighbouring layer.
                let input = needs_spatial()?;
                let (pool, out) = if op == "Resize" {
                    if pos != 0 {
                        return Err(Error::graph(&at, "Resize must take the running tensor first"));
                    }
                    // Opset 10: `X, scales`; from opset 11: `X, roi, scales, sizes`, either optional.
                    let given = |i: usize| node.input.get(i).filter(|n| !n.is_empty()).map(|_| constant(i)).transpose();
                    let (scales, sizes) =
                        if node.input.len() == 2 { (given(1)?, None) } else { (given(2)?, given(3)?) };
                    upsample::resize(node, &dims, scales, sizes, &at)?
                } else {
                    average_pool(node, input, op == "GlobalAveragePool", &at)?
                };
                match tail {
                    Tail::Linear => {
                        let last = layers.last_mut().expect("a linear tail has a layer");
                        *last = compose_after(&pool, last);
                        channel_rows = out.h * out.w;
                    }
                    Tail::Activated | Tail::Input => pending = Some(then(pending.take(), pool)),
                }
                width = out.len();
                spatial = Some(out);
            }
            "BatchNormalization" => {
                if pos != 0 || node.input.len() != 5 {
                    return Err(Error::graph(&at, "BatchNormalization takes the running tensor and four constants"));
                }
                let per_channel = batch_norm(node, |i| Ok(constant(i)?.floats(&at)?.to_vec()), &at)?;
                match tail {
                    Tail::Linear => {
                        let last = layers.last_mut().expect("a linear tail has a layer");
                        if per_channel.len() * channel_rows != last.out_dim {
                            return Err(Error::graph(
                                &at,
                                format!("{} channels do not divide the {} outputs", per_channel.len(), last.out_dim),
                            ));
                        }
                        let n = last.in_dim;
                        for o in 0..last.out_dim {
                            let (factor, shift) = per_channel[o / channel_rows];
                            last.weights[o * n..(o + 1) * n]
                                .iter_mut()
                                .for_each(|w| *w = (f64::from(*w) * factor) as f32);
                            last.bias[o] = (f64::from(last.bias[o]) * factor + shift) as f32;
                        }
                    }
                    Tail::Activated | Tail::Input => {
                        let block = spatial.map_or(1, |s| s.h * s.w);
                        let norm = channel_affine(&per_channel, block, width, &at)?;
                        pending = Some(then(pending.take(), norm));
                    }
                }
            }
            _ => unreachable!("filtered above"),
        }
        current = out;
    }

    let [output] = graph.output.as_slice() else {
        if head.is_some() {
            // A classifier's label and probabilities: the model's output is the scores.
            return finish(name, input_dim, layers, pending, normalize, input_scale);
        }
        return Err(Error::graph(
            "graph outputs",
            format!("expected exactly one output, found {}", graph.output.len()),
        ));
    };
    if head.is_none() && output.name != current {
        return Err(Error::graph(
            "graph outputs",
            format!("the output `{}` is not the end of the layer chain `{current}`", output.name),
        ));
    }
    finish(name, input_dim, layers, pending, normalize, input_scale)
}

/// Input `i` of `node`, which must be a constant.
fn constant_input<'a>(
    node: &NodeProto,
    i: usize,
    consts: &'a HashMap<String, Constant>,
    at: &str,
) -> Result<&'a Constant> {
    let name = node.input.get(i).ok_or_else(|| Error::graph(at, format!("missing input {i}")))?;
    consts.get(name).ok_or_else(|| {
        Error::graph(
            at,
            format!(
                "input `{name}` must be a constant (initializer or Constant node); two computed tensors \
                 combined (a residual connection or branches) are not a chain of layers"
            ),
        )
    })
}

/// The dense layer of a `Gemm` whose input `pos` (0 or 1) is the running tensor of `width`.
fn gemm_layer(
    node: &NodeProto,
    pos: usize,
    width: usize,
    consts: &HashMap<String, Constant>,
    at: &str,
) -> Result<FloatLayer> {
    let constant = |i: usize| constant_input(node, i, consts, at);
    let alpha = attr(node, "alpha").map_or(1.0, |a| a.f);
    let beta = attr(node, "beta").map_or(1.0, |a| a.f);
    let trans_a = attr(node, "transA").is_some_and(|a| a.i != 0);
    let trans_b = attr(node, "transB").is_some_and(|a| a.i != 0);
    let mut w = matrix(constant(1 - pos)?, at)?;
    // Y = op(A)·op(B). With x = A (a row), W' = op(B)ᵀ; with x = B (a column),
    // W' = op(A). For batch 1 the layout of x does not matter.
    if pos == 0 {
        if !trans_b {
            w = w.transposed();
        }
    } else if trans_a {
        w = w.transposed();
    }
    w.values.iter_mut().for_each(|v| *v *= alpha);
    let mut layer = dense(w, width, at)?;
    if node.input.len() == 3 && !node.input[2].is_empty() {
        let c = constant(2)?;
        let b: Vec<f32> = c.floats(at)?.iter().map(|v| v * beta).collect();
        add_bias(&mut layer.bias, &b, &c.dims, at)?;
    }
    Ok(layer)
}

/// The activations a layer's output takes (so a map pending after an activation becomes a layer
/// before one of them).
const ACTIVATIONS: &[&str] = &[
    "Relu",
    "LeakyRelu",
    "PRelu",
    "Clip",
    "HardSigmoid",
    "Max",
    "Min",
    "Sigmoid",
    "Tanh",
    "Elu",
    "Celu",
    "Selu",
    "Softplus",
    "Gelu",
    "HardSwish",
    "Mish",
];

/// A piecewise-linear activation as ReLU hinges of a layer's output `z`:
/// `f(z) = offset + Σ c · relu(s · z − t)` over the hinges `(s, t, c)`.
struct Hinges {
    hinges: Vec<(f64, f64, f64)>,
    offset: f64,
}

/// `LeakyRelu(z) = relu(z) − α · relu(−z)`.
fn leaky_relu_hinges(alpha: f64) -> Hinges {
    Hinges { hinges: vec![(1.0, 0.0, 1.0), (-1.0, 0.0, -alpha)], offset: 0.0 }
}

/// `Clip(z, lo, hi)`: `lo + relu(z − lo) − relu(z − hi)`; without `lo`, `z = relu(z) − relu(−z)`
/// stands for its linear part.
fn clip_hinges(lo: Option<f64>, hi: Option<f64>, at: &str) -> Result<Hinges> {
    Ok(match (lo, hi) {
        (Some(lo), Some(hi)) if lo >= hi => {
            return Err(Error::graph(at, format!("Clip with min {lo} not below max {hi}")));
        }
        (Some(lo), Some(hi)) => Hinges { hinges: vec![(1.0, lo, 1.0), (1.0, hi, -1.0)], offset: lo },
        (Some(lo), None) => Hinges { hinges: vec![(1.0, lo, 1.0)], offset: lo },
        (None, Some(hi)) => Hinges { hinges: vec![(1.0, 0.0, 1.0), (-1.0, 0.0, -1.0), (1.0, hi, -1.0)], offset: 0.0 },
        (None, None) => Hinges { hinges: vec![(1.0, 0.0, 1.0), (-1.0, 0.0, -1.0)], offset: 0.0 },
    })
}

/// Makes the last layer's outputs (its pre-activation) ReLU hinges, `z = relu(z) − relu(−z)`, so
/// that a shortcut or branches may start there and what follows leaves `z` as it is; returns the
/// map back to `z`. `what` starts there, for the error when the layer cannot be so.
fn identity_hinges(layers: &mut [FloatLayer], what: &str, at: &str) -> Result<Affine> {
    let layer = layers.last_mut().expect("a linear tail has a layer");
    if layer.exact || layer.reach.is_some() {
        return Err(Error::graph(at, format!("{what} is not supported here")));
    }
    Ok(expand_hinges(layer, &clip_hinges(None, None, at)?))
}

/// Makes `layer` (`z = W·x + b`, m rows) the hinges' ReLU layer — one copy of its rows a hinge,
/// `relu(s·W·x + s·b − t)` — and returns the affine map from it back to `f(z)` (m values).
fn expand_hinges(layer: &mut FloatLayer, h: &Hinges) -> Affine {
    let (m, n) = (layer.out_dim, layer.in_dim);
    let (mut weights, mut bias) = (Vec::with_capacity(h.hinges.len() * m * n), Vec::with_capacity(h.hinges.len() * m));
    for (s, t, _) in &h.hinges {
        weights.extend(layer.weights.iter().map(|w| (s * f64::from(*w)) as f32));
        bias.extend(layer.bias.iter().map(|b| (s * f64::from(*b) - t) as f32));
    }
    *layer = FloatLayer {
        in_dim: n,
        out_dim: h.hinges.len() * m,
        weights,
        bias,
        relu: true,
        table: None,
        exact: false,
        reach: None,
    };
    Affine {
        in_dim: h.hinges.len() * m,
        rows: (0..m).map(|i| h.hinges.iter().enumerate().map(|(j, (_, _, c))| (j * m + i, *c)).collect()).collect(),
        offset: vec![h.offset; m],
    }
}

/// The float model of the layer chain, a trailing affine map (`pending`) made a layer.
fn finish(
    name: &str,
    input_dim: usize,
    mut layers: Vec<FloatLayer>,
    mut pending: Option<Affine>,
    normalize: Option<Normalize>,
    input_scale: Option<f64>,
) -> Result<FloatModel> {
    if let Some(p) = pending.take() {
        // A trailing pool or normalization is a layer of its own.
        layers.push(affine_layer(&p)?);
    }
    if layers.is_empty() {
        return Err(Error::graph("graph", "no MatMul, Gemm or Conv layer found"));
    }
    if let Some(last) = layers.last().filter(|l| l.table.is_some()) {
        // A model that ends in Sigmoid or Tanh: the table belongs to a hidden layer, so an
        // identity layer reads its int8 values out as the int32 output (at 1/127 a unit).
        let n = last.out_dim;
        let weights = (0..n * n).map(|k| if k / n == k % n { 1.0 } else { 0.0 }).collect();
        layers.push(FloatLayer {
            in_dim: n,
            out_dim: n,
            weights,
            bias: vec![0.0; n],
            relu: false,
            table: None,
            exact: false,
            reach: None,
        });
    }
    let model = FloatModel { name: name.to_string(), input_dim, layers, normalize, input_scale };
    model.validate()?;
    Ok(model)
}

/// The number of weights of a dense layer of `rows` × `cols`, if within
/// [`MAX_LOWERED_WEIGHTS`] (a max pool's tournament, an affine map made a layer).
fn dense_len(rows: usize, cols: usize, at: &str) -> Result<usize> {
    rows.checked_mul(cols).filter(|n| *n <= MAX_LOWERED_WEIGHTS).ok_or_else(|| {
        Error::graph(
            at,
            format!("a dense layer of {rows} x {cols} weights, above the importer's limit of {MAX_LOWERED_WEIGHTS}"),
        )
    })
}

/// An affine map as a linear layer of its own.
fn affine_layer(p: &Affine) -> Result<FloatLayer> {
    let mut weights = vec![0f32; dense_len(p.rows.len(), p.in_dim, "an affine map as a layer")?];
    for (r, row) in p.rows.iter().enumerate() {
        for (i, k) in row {
            weights[r * p.in_dim + i] = *k as f32;
        }
    }
    Ok(FloatLayer {
        in_dim: p.in_dim,
        out_dim: p.rows.len(),
        weights,
        bias: p.offset.iter().map(|o| *o as f32).collect(),
        relu: false,
        table: None,
        exact: false,
        reach: None,
    })
}

impl FloatModel {
    /// The model with each `Sigmoid` or `Tanh` layer in piecewise-linear form, so that it is a
    /// ReLU network and can be proven by tiles: the layer becomes linear (its pre-activation
    /// `z`, requantized no coarser than the function's saturation needs, see
    /// [`FloatLayer::reach`]), followed by a ReLU layer of `K` hinges a unit (output `i·K + j` is
    /// `relu(z_i − k_j)`), which the next layer reads through the slope changes `d_j`
    /// ([`Interpolant`]). The functions are approximated (within 0.4% of their range at 16
    /// knots), not computed: [`crate::output_accuracy`] compares the quantized model with the
    /// original. A tree ensemble's comparisons are kept (the quantized
    /// model's steps are exact as clamps: [`crate::tiles::steps_as_clamps`]); a max pool right
    /// after a smooth function is refused.
    pub fn piecewise_linear(&self, knots: usize) -> Result<FloatModel> {
        // A tree's steps stay: they are exact as clamps of the quantized model
        // ([`crate::tiles::steps_as_clamps`]).
        self.piecewise_linear_where(knots, |f| f != TableFunction::Step)
    }

    /// Whether a layer computes a function that has no int8 table ([`TableFunction::has_table`]):
    /// such a model is quantized in piecewise-linear form only.
    pub fn needs_piecewise_linear(&self) -> bool {
        self.layers.iter().any(|l| l.table.is_some_and(|f| !f.has_table()))
    }

    /// [`Self::piecewise_linear`] for the functions without an int8 table only (`Elu`, `Selu`,
    /// `Softplus`, SiLU, `Gelu`, `HardSwish`, `Mish`); `Sigmoid` and `Tanh` keep their tables.
    pub fn piecewise_linear_untabled(&self, knots: usize) -> Result<FloatModel> {
        self.piecewise_linear_where(knots, |f| !f.has_table())
    }

    fn piecewise_linear_where(&self, knots: usize, convert: impl Fn(TableFunction) -> bool) -> Result<FloatModel> {
        let mut layers = Vec::with_capacity(self.layers.len() + 2);
        // The map from the last hinges back to the `m` values `f(z)`.
        let mut readout: Option<Affine> = None;
        for (index, layer) in self.layers.iter().enumerate() {
            let mut layer = match readout.take() {
                Some(_) if layer.exact => {
                    return Err(Error::Model(format!(
                        "layer {index} is a max pool's exact tournament right after a smooth function: it has \
                         no piecewise-linear form"
                    )))
                }
                Some(p) => compose_before(layer, &p),
                None => layer.clone(),
            };
            let Some(function) = layer.table.filter(|f| convert(*f)) else {
                layers.push(layer);
                continue;
            };
            let f = Interpolant::new(function, knots).map_err(|e| match e {
                Error::Model(m) => Error::Model(format!("layer {index}: {m} (prove the model by layers, without it)")),
                e => e,
            })?;
            let (m, k) = (layer.out_dim, f.knots.len());
            layer.table = None;
            // A bounded function's knots span its saturation: no coarser requantization than that
            // needs. An unbounded one keeps the calibration's range (its right tail is linear).
            layer.reach = function.has_table().then(|| function.saturation());
            layers.push(layer);
            let mut hinges = affine_layer(&Affine {
                in_dim: m,
                rows: (0..m * k).map(|r| vec![(r / k, 1.0)]).collect(),
                offset: (0..m * k).map(|r| -f.knots[r % k]).collect(),
            })?;
            hinges.relu = true;
            layers.push(hinges);
            readout = Some(Affine {
                in_dim: m * k,
                rows: (0..m).map(|i| f.slopes.iter().enumerate().map(|(j, d)| (i * k + j, *d)).collect()).collect(),
                offset: vec![f.offset; m],
            });
        }
        if let Some(p) = readout {
            // The smooth function was the last layer's: its values are the output.
            layers.push(affine_layer(&p)?);
        }
        let model = FloatModel {
            name: self.name.clone(),
            input_dim: self.input_dim,
            layers,
            normalize: self.normalize.clone(),
            input_scale: self.input_scale,
        };
        model.validate()?;
        Ok(model)
    }
}

/// Element `i` of a constant broadcast over `width` values (one value, or one per element;
/// `default` when empty).
fn broadcast(v: &[f32], width: usize, i: usize, default: f64, at: &str) -> Result<f64> {
    match v.len() {
        0 => Ok(default),
        1 => Ok(f64::from(v[0])),
        n if n == width => Ok(f64::from(v[i])),
        n => Err(Error::graph(at, format!("{n} values do not broadcast over the {width} inputs"))),
    }
}

/// A linear map of the running tensor: composed into the layer before it, or kept pending for
/// the next layer.
fn apply_map(layers: &mut [FloatLayer], pending: &mut Option<Affine>, tail: Tail, map: Affine) {
    match tail {
        Tail::Linear => {
            let last = layers.last_mut().expect("a linear tail has a layer");
            *last = compose_after(&map, last);
        }
        Tail::Activated | Tail::Input => *pending = Some(then(pending.take(), map)),
    }
}

/// An affine map of the running tensor: on the model input (no layer before it) it joins the
/// input's normalization where it can ([`map_input`]); right after a layer it is composed into
/// it; else it is kept pending for the next layer.
fn apply_affine(
    layers: &mut [FloatLayer],
    pending: &mut Option<Affine>,
    normalize: &mut Option<Normalize>,
    tail: Tail,
    map: Affine,
) {
    match tail {
        Tail::Input if layers.is_empty() => map_input(pending, normalize, map),
        _ => apply_map(layers, pending, tail, map),
    }
}

/// A linear map of the model's input, before any layer (after `pending`, a map of it too). Where
/// each value it computes is one input value scaled and shifted, each input value used once (a
/// scaler, feature selection, a `ColumnTransformer` of scalers), the scales and shifts become the
/// input's normalization and only the selection stays pending; the input values it drops are
/// normalized to zero, so that they take no part in the input's int8 scale. Any other map stays
/// pending whole.
fn map_input(pending: &mut Option<Affine>, normalize: &mut Option<Normalize>, map: Affine) {
    let map = then(pending.take(), map);
    let mut used = vec![false; map.in_dim];
    let mut sources = Vec::with_capacity(map.rows.len());
    for row in &map.rows {
        match row.as_slice() {
            [(i, _)] if !std::mem::replace(&mut used[*i], true) => sources.push(*i),
            _ => {
                *pending = Some(map);
                return;
            }
        }
    }
    let n = normalize.get_or_insert_with(|| Normalize::identity(map.in_dim));
    for ((row, offset), i) in map.rows.iter().zip(&map.offset).zip(&sources) {
        let k = row[0].1;
        n.scale[*i] *= k;
        n.offset[*i] = n.offset[*i] * k + offset;
    }
    for i in (0..map.in_dim).filter(|i| !used[*i]) {
        (n.scale[i], n.offset[i]) = (0.0, 0.0);
    }
    let identity = sources.len() == map.in_dim && sources.iter().enumerate().all(|(j, i)| *i == j);
    *pending = (!identity).then(|| shape::selection_of(sources, map.in_dim));
}

/// The dense layer of a `LinearRegressor` or `LinearClassifier`: `coefficients` `[rows][width]`,
/// `intercepts` `[rows]` (zero when absent).
fn linear_head(node: &NodeProto, width: usize, rows: usize, at: &str) -> Result<FloatLayer> {
    let weights = attr(node, "coefficients").map(|a| a.floats.clone()).unwrap_or_default();
    if weights.len() != rows * width {
        return Err(Error::graph(at, format!("expected {rows} x {width} coefficients, found {}", weights.len())));
    }
    let bias = match attr(node, "intercepts").map(|a| a.floats.clone()).unwrap_or_default() {
        b if b.is_empty() => vec![0.0; rows],
        b if b.len() == rows => b,
        b => return Err(Error::graph(at, format!("expected {rows} intercepts, found {}", b.len()))),
    };
    Ok(FloatLayer { in_dim: width, out_dim: rows, weights, bias, relu: false, table: None, exact: false, reach: None })
}

/// A binary classifier's one score `s` as the two outputs `[-s, s]`: their argmax is the class
/// (class 1 when s > 0; a tie, s = 0, goes to class 0), and the second is the score itself.
fn score_pair(layer: &mut FloatLayer) {
    let mut weights: Vec<f32> = layer.weights.iter().map(|w| -w).collect();
    weights.extend(&layer.weights);
    layer.weights = weights;
    layer.bias = vec![-layer.bias[0], layer.bias[0]];
    layer.out_dim = 2;
}

/// Checks a node after a classifier's scores (`head`): it may turn them into a label or
/// probabilities (`Softmax`, `ArgMax`, `ZipMap`, `Normalizer`, `ArrayFeatureExtractor` of the
/// labels 0..n − 1, `Cast`, `Reshape`, `Flatten`, `Identity`), nothing else.
fn post_processing(
    node: &NodeProto,
    ml: bool,
    head: &str,
    consts: &HashMap<String, Constant>,
    classes: usize,
    at: &str,
) -> Result<()> {
    let op = node.op_type.as_str();
    let allowed = if ml {
        matches!(op, "ZipMap" | "Normalizer" | "ArrayFeatureExtractor")
    } else {
        matches!(op, "Softmax" | "LogSoftmax" | "ArgMax" | "Cast" | "Reshape" | "Flatten" | "Identity")
    };
    if !allowed {
        return Err(Error::UnsupportedOp {
            op: if ml { format!("ai.onnx.ml::{op}") } else { op.to_string() },
            node: at.to_string(),
            note: format!(
                " (after the classifier's scores `{head}` only label and probability post-processing is supported)"
            ),
        });
    }
    if op == "ArrayFeatureExtractor" {
        // The label lookup: index → label, which must be the identity.
        if let Some(ConstData::I64(labels)) = node.input.first().and_then(|n| consts.get(n)).map(|c| &c.data) {
            if labels.len() != classes || labels.iter().enumerate().any(|(i, l)| *l != i as i64) {
                return Err(Error::graph(
                    at,
                    format!("class labels {labels:?}: expected 0, 1, …, n − 1 (the output is the class index)"),
                ));
            }
        }
    }
    Ok(())
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// The number of values of one input row: the product of the dims after the batch dimension.
fn input_width(input: &ValueInfoProto) -> Result<usize> {
    let at = format!("input `{}`", input.name);
    let tensor = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| Error::graph(&at, "the input is not a tensor"))?;
    if !is_float_type(tensor.elem_type) {
        return Err(Error::graph(&at, format!("expected a float32 input, found element type {}", tensor.elem_type)));
    }
    let dims = tensor.shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or_default();
    let feature_dims = if dims.len() >= 2 { &dims[1..] } else { dims };
    if feature_dims.is_empty() {
        return Err(Error::graph(&at, "the input has no shape"));
    }
    let mut width = 1usize;
    for d in feature_dims {
        if d.dim_value <= 0 {
            return Err(Error::graph(
                &at,
                format!(
                    "expected fixed feature dimensions, found `{}`",
                    if d.dim_param.is_empty() { d.dim_value.to_string() } else { d.dim_param.clone() }
                ),
            ));
        }
        width = usize::try_from(d.dim_value)
            .ok()
            .and_then(|d| width.checked_mul(d))
            .filter(|w| *w <= MAX_VALUES)
            .ok_or_else(|| Error::graph(&at, format!("more than {MAX_VALUES} input values")))?;
    }
    if dims.len() >= 2 && dims[0].dim_value > 1 {
        return Err(Error::graph(&at, format!("expected batch size 1 or symbolic, found {}", dims[0].dim_value)));
    }
    Ok(width)
}

struct Matrix {
    rows: usize,
    cols: usize,
    values: Vec<f32>,
}

impl Matrix {
    fn transposed(&self) -> Self {
        let mut values = vec![0.0; self.values.len()];
        for r in 0..self.rows {
            for c in 0..self.cols {
                values[c * self.rows + r] = self.values[r * self.cols + c];
            }
        }
        Self { rows: self.cols, cols: self.rows, values }
    }
}

fn matrix(c: &Constant, at: &str) -> Result<Matrix> {
    let values = c.floats(at)?.to_vec();
    match c.dims.as_slice() {
        [rows, cols] => Ok(Matrix { rows: *rows, cols: *cols, values }),
        dims => Err(Error::graph(at, format!("expected a 2-D weight matrix, found dims {dims:?}"))),
    }
}

/// The layer that applies `w` ([out, in]) at each of the positions of a tensor of `width` values
/// whose last axis is `w`'s input: block-diagonal, position `p`'s outputs `p·out..` from its inputs
/// `p·in..`.
fn per_position(w: &Matrix, width: usize, at: &str) -> Result<FloatLayer> {
    let positions = width / w.cols;
    let (in_dim, out_dim) = (width, positions * w.rows);
    let mut weights = vec![0f32; dense_len(out_dim, in_dim, at)?];
    for p in 0..positions {
        for r in 0..w.rows {
            let row = (p * w.rows + r) * in_dim + p * w.cols;
            weights[row..row + w.cols].copy_from_slice(&w.values[r * w.cols..(r + 1) * w.cols]);
        }
    }
    Ok(FloatLayer {
        in_dim,
        out_dim,
        weights,
        bias: vec![0.0; out_dim],
        relu: false,
        table: None,
        exact: false,
        reach: None,
    })
}

/// A layer from a weight matrix laid out [out, in].
fn dense(w: Matrix, width: usize, at: &str) -> Result<FloatLayer> {
    if w.cols != width {
        return Err(Error::graph(
            at,
            format!("the weight matrix expects {} inputs, but the running tensor has {width}", w.cols),
        ));
    }
    Ok(FloatLayer {
        in_dim: w.cols,
        out_dim: w.rows,
        weights: w.values,
        bias: vec![0.0; w.rows],
        relu: false,
        table: None,
        exact: false,
        reach: None,
    })
}

fn add_bias(bias: &mut [f32], b: &[f32], dims: &[usize], at: &str) -> Result<()> {
    let broadcastable = dims.iter().filter(|d| **d != 1).count() <= 1;
    if !broadcastable || !(b.len() == 1 || b.len() == bias.len()) {
        return Err(Error::graph(at, format!("bias of dims {dims:?} does not broadcast to {} outputs", bias.len())));
    }
    for (i, v) in bias.iter_mut().enumerate() {
        *v += if b.len() == 1 { b[0] } else { b[i] };
    }
    Ok(())
}

/// A `[C, H, W]` tensor layout (one sample).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Spatial {
    c: usize,
    h: usize,
    w: usize,
}

impl Spatial {
    fn len(&self) -> usize {
        self.c * self.h * self.w
    }

    fn index(&self, c: usize, y: usize, x: usize) -> usize {
        (c * self.h + y) * self.w + x
    }
}

/// A linear map with an offset, `y = P·x + offset`, as sparse rows: an average pool or a
/// batch normalization that follows an activation, waiting to be composed into the next layer.
#[derive(Clone, Debug)]
struct Affine {
    in_dim: usize,
    rows: Vec<Vec<(usize, f64)>>,
    offset: Vec<f64>,
}

impl Affine {
    /// Whether it only averages (non-negative weights, no offset): it keeps values non-negative.
    fn averages(&self) -> bool {
        self.offset.iter().all(|o| *o == 0.0) && self.rows.iter().flatten().all(|(_, k)| *k >= 0.0)
    }
}

/// The largest kernel, stride, dilation or pad a window takes (a larger one is a corrupt file).
const MAX_WINDOW: i64 = 1 << 16;

/// A 2-D window over a `[C, H, W]` tensor: kernel, strides, pads `[top, left, bottom, right]`,
/// dilations (the kernel's taps `dilations` apart).
#[derive(Clone, Copy, Debug)]
struct Window {
    kernel: [usize; 2],
    strides: [usize; 2],
    pads: [usize; 4],
    dilations: [usize; 2],
    /// A pool's `ceil_mode`: the output size rounds up, so a last window may reach past the
    /// input and its padding (and reads what it covers). A window that would start in the padding
    /// after the input is refused: PyTorch drops it, onnxruntime (before opset 19) keeps it.
    ceil: bool,
}

impl Window {
    /// Reads `kernel_shape` (or `default_kernel`), `strides`, `pads`, `dilations` and `auto_pad`.
    fn from_node(node: &NodeProto, input: Spatial, default_kernel: Option<[usize; 2]>, at: &str) -> Result<Self> {
        let pair = |name: &str, default: [usize; 2]| -> Result<[usize; 2]> {
            match attr(node, name).map(|a| a.ints.as_slice()) {
                None | Some([]) => Ok(default),
                Some([a, b]) if (1..=MAX_WINDOW).contains(a) && (1..=MAX_WINDOW).contains(b) => {
                    Ok([*a as usize, *b as usize])
                }
                // 1-D, over `[C, L]` taken as height 1.
                Some([a]) if input.h == 1 && (1..=MAX_WINDOW).contains(a) => Ok([1, *a as usize]),
                Some(v) => Err(Error::graph(
                    at,
                    format!("`{name}` must be two positive integers up to {MAX_WINDOW} (2-D), found {v:?}"),
                )),
            }
        };
        let kernel = match (attr(node, "kernel_shape"), default_kernel) {
            (Some(_), _) => pair("kernel_shape", [0, 0])?,
            (None, Some(k)) => k,
            (None, None) => return Err(Error::graph(at, "missing `kernel_shape`")),
        };
        let strides = pair("strides", [1, 1])?;
        let dilations = pair("dilations", [1, 1])?;
        // The kernel's extent over the input.
        let span = [(kernel[0] - 1) * dilations[0] + 1, (kernel[1] - 1) * dilations[1] + 1];
        let auto_pad = attr(node, "auto_pad").map(|a| String::from_utf8_lossy(&a.s).into_owned()).unwrap_or_default();
        let pads = match auto_pad.as_str() {
            "" | "NOTSET" => explicit_pads(node, input, at)?,
            "VALID" => [0; 4],
            "SAME_UPPER" | "SAME_LOWER" => {
                let total = |n: usize, k: usize, s: usize| ((n.div_ceil(s) - 1) * s + k).saturating_sub(n);
                let (th, tw) = (total(input.h, span[0], strides[0]), total(input.w, span[1], strides[1]));
                if auto_pad == "SAME_UPPER" {
                    [th / 2, tw / 2, th - th / 2, tw - tw / 2]
                } else {
                    [th - th / 2, tw - tw / 2, th / 2, tw / 2]
                }
            }
            other => return Err(Error::graph(at, format!("unknown auto_pad `{other}`"))),
        };
        let ceil = attr(node, "ceil_mode").is_some_and(|a| a.i != 0);
        let window = Self { kernel, strides, pads, dilations, ceil };
        if window.output_size(input).is_none() {
            let why = if ceil {
                " (or, rounded up by ceil_mode, a last window would start in the padding after it, which runtimes \
                 count differently)"
            } else {
                ""
            };
            return Err(Error::graph(
                at,
                format!("a {kernel:?} window does not fit the {}x{} input{why}", input.h, input.w),
            ));
        }
        Ok(window)
    }

    /// The output's height and width, if the window fits.
    fn output_size(&self, input: Spatial) -> Option<(usize, usize)> {
        let span = |k: usize, d: usize| (k.checked_sub(1)?).checked_mul(d)?.checked_add(1);
        let (sh, sw) = (span(self.kernel[0], self.dilations[0])?, span(self.kernel[1], self.dilations[1])?);
        let size = |n: usize, before: usize, after: usize, span: usize, stride: usize| -> Option<usize> {
            let room = (n + before + after).checked_sub(span)?;
            if !self.ceil {
                return Some(room / stride + 1);
            }
            let out = room.div_ceil(stride) + 1;
            ((out - 1) * stride < n + before).then_some(out)
        };
        let h = size(input.h, self.pads[0], self.pads[2], sh, self.strides[0])?;
        let w = size(input.w, self.pads[1], self.pads[3], sw, self.strides[1])?;
        Some((h, w))
    }

    /// The input positions `(ky, kx, y, x)` that output `(oy, ox)` reads (padding left out).
    fn taps(&self, input: Spatial, oy: usize, ox: usize) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
        let (kh, kw) = (self.kernel[0], self.kernel[1]);
        let [dy, dx] = self.dilations;
        let (y0, x0) = (
            (oy * self.strides[0]) as isize - self.pads[0] as isize,
            (ox * self.strides[1]) as isize - self.pads[1] as isize,
        );
        (0..kh).flat_map(move |ky| (0..kw).map(move |kx| (ky, kx))).filter_map(move |(ky, kx)| {
            let (y, x) = (y0 + (ky * dy) as isize, x0 + (kx * dx) as isize);
            (y >= 0 && x >= 0 && (y as usize) < input.h && (x as usize) < input.w)
                .then_some((ky, kx, y as usize, x as usize))
        })
    }
}

/// A `Conv` as the equivalent dense layer: row `(co, oy, ox)`, column `(ci, y, x)` (NCHW
/// flattening), zero where the kernel does not reach; padding reads zeros, which contribute
/// nothing. Returns the layer and its output layout.
fn conv_layer(
    node: &NodeProto,
    input: Spatial,
    kernel: &Constant,
    bias: Option<&[f32]>,
    at: &str,
) -> Result<(FloatLayer, Spatial)> {
    // Grouped (depthwise when group = C_in): output channel `co` reads the `c_in` input channels
    // of its group.
    let ([c_out, c_in, kh, kw], group) = kernel_dims(node, kernel, input, "C_out, C_in/group", at)?;
    if c_in.checked_mul(group) != Some(input.c) || c_out % group != 0 {
        return Err(Error::graph(
            at,
            format!(
                "a kernel of {c_out} x {c_in} channels in {group} group(s) does not fit an input of {} channels",
                input.c
            ),
        ));
    }
    let per_group = c_out / group;
    let window = Window::from_node(node, input, Some([kh, kw]), at)?;
    if window.kernel != [kh, kw] {
        return Err(Error::graph(
            at,
            format!("kernel_shape {:?} does not match the kernel's {kh}x{kw}", window.kernel),
        ));
    }
    let (oh, ow) = window.output_size(input).expect("checked by from_node");
    let out = Spatial { c: c_out, h: oh, w: ow };
    let k = kernel.floats(at)?;
    let in_dim = input.len();
    let mut weights = lowered_weights("Conv", input, out, at)?;
    for co in 0..c_out {
        for oy in 0..oh {
            for ox in 0..ow {
                let row = out.index(co, oy, ox) * in_dim;
                let first = co / per_group * c_in;
                for (ky, kx, y, x) in window.taps(input, oy, ox) {
                    for ci in 0..c_in {
                        weights[row + input.index(first + ci, y, x)] = k[((co * c_in + ci) * kh + ky) * kw + kx];
                    }
                }
            }
        }
    }
    Ok((lowered_layer(weights, input, out, bias, at)?, out))
}

/// A window's `pads` attribute, `[top, left, bottom, right]` (`[left, right]` over `[C, L]`).
fn explicit_pads(node: &NodeProto, input: Spatial, at: &str) -> Result<[usize; 4]> {
    Ok(match attr(node, "pads").map(|a| a.ints.as_slice()) {
        None | Some([]) => [0; 4],
        Some([t, l, b, r]) if [t, l, b, r].iter().all(|p| (0..=MAX_WINDOW).contains(*p)) => {
            [*t as usize, *l as usize, *b as usize, *r as usize]
        }
        Some([l, r]) if input.h == 1 && [l, r].iter().all(|p| (0..=MAX_WINDOW).contains(*p)) => {
            [0, *l as usize, 0, *r as usize]
        }
        Some(v) => {
            return Err(Error::graph(at, format!("`pads` must be 4 integers in [0, {MAX_WINDOW}], found {v:?}")))
        }
    })
}

/// A convolution kernel's dims `[a, b, kH, kW]` (a 1-D kernel `[a, b, k]` over `[C, L]`, as a 2-D
/// one of height 1; `ab` names `a` and `b` for the error) and its `group`.
fn kernel_dims(node: &NodeProto, kernel: &Constant, input: Spatial, ab: &str, at: &str) -> Result<([usize; 4], usize)> {
    let dims = match kernel.dims.as_slice() {
        [a, b, c, d] => [*a, *b, *c, *d],
        [a, b, d] if input.h == 1 => [*a, *b, 1, *d],
        dims => {
            return Err(Error::graph(
                at,
                format!("expected a [{ab}, kH, kW] (or 1-D [{ab}, k]) kernel, found dims {dims:?}"),
            ))
        }
    };
    let group = usize::try_from(attr(node, "group").map_or(1, |a| a.i)).unwrap_or(0);
    if group == 0 || dims[2] == 0 || dims[3] == 0 {
        return Err(Error::graph(at, format!("a kernel of dims {dims:?} in {group} group(s)")));
    }
    Ok((dims, group))
}

/// The zero weights of the dense layer a convolution (`op`) from `input` to `out` lowers to, if
/// it is within [`MAX_LOWERED_WEIGHTS`].
fn lowered_weights(op: &str, input: Spatial, out: Spatial, at: &str) -> Result<Vec<f32>> {
    let (in_dim, out_dim) = (input.len(), out.len());
    let lowered = in_dim.checked_mul(out_dim).filter(|n| *n <= MAX_LOWERED_WEIGHTS).ok_or_else(|| {
        Error::graph(
            at,
            format!(
                "this {op} ({} -> {} channels, {}x{} -> {}x{}) lowers to a dense layer of {out_dim} x {in_dim} \
                 weights, above the importer's limit of {MAX_LOWERED_WEIGHTS}: a convolution this wide needs a \
                 native convolution layer, which Verdict does not have yet",
                input.c, out.c, input.h, input.w, out.h, out.w
            ),
        )
    })?;
    Ok(vec![0f32; lowered])
}

/// A lowered convolution's layer: its `weights`, and its bias, one a channel of `out`.
fn lowered_layer(
    weights: Vec<f32>,
    input: Spatial,
    out: Spatial,
    bias: Option<&[f32]>,
    at: &str,
) -> Result<FloatLayer> {
    let out_dim = out.len();
    let bias = match bias {
        None => vec![0.0; out_dim],
        Some(b) if b.len() == out.c => (0..out_dim).map(|o| b[o / (out.h * out.w)]).collect(),
        Some(b) => return Err(Error::graph(at, format!("expected {} biases, found {}", out.c, b.len()))),
    };
    Ok(FloatLayer { in_dim: input.len(), out_dim, weights, bias, relu: false, table: None, exact: false, reach: None })
}

/// An `AveragePool` (or `GlobalAveragePool`, `global`) as a sparse linear map, and its output
/// layout. Without `count_include_pad`, a window at the edge averages the values it covers.
fn average_pool(node: &NodeProto, input: Spatial, global: bool, at: &str) -> Result<(Affine, Spatial)> {
    if attr(node, "ceil_mode").is_some_and(|a| a.i != 0) && attr(node, "count_include_pad").is_some_and(|a| a.i != 0) {
        // Which part of a last window past the padding would count is the runtime's choice.
        return Err(Error::graph(at, "AveragePool with both ceil_mode and count_include_pad is not supported"));
    }
    let window = if global {
        Window { kernel: [input.h, input.w], strides: [1, 1], pads: [0; 4], dilations: [1, 1], ceil: false }
    } else {
        Window::from_node(node, input, None, at)?
    };
    let include_pad = attr(node, "count_include_pad").is_some_and(|a| a.i != 0);
    let (oh, ow) = window.output_size(input).expect("checked by from_node");
    let out = Spatial { c: input.c, h: oh, w: ow };
    let mut rows = Vec::with_capacity(out.len());
    for c in 0..input.c {
        for oy in 0..oh {
            for ox in 0..ow {
                let taps: Vec<usize> = window.taps(input, oy, ox).map(|(_, _, y, x)| input.index(c, y, x)).collect();
                let count = if include_pad { window.kernel[0] * window.kernel[1] } else { taps.len().max(1) };
                rows.push(taps.into_iter().map(|i| (i, 1.0 / count as f64)).collect());
            }
        }
    }
    Ok((Affine { in_dim: input.len(), rows, offset: vec![0.0; out.len()] }, out))
}

/// `MaxPool` over non-negative values (the running tensor right after a ReLU), exactly: each
/// window's values meet in a tournament, a pair `(a, b)` becoming `relu(a) + relu(b − a) = max(a,
/// b)`, one [`FloatLayer`] of ReLU units with weights in {-1, 0, 1} a level (`exact`: quantized as
/// integers on the input's int8 scale, so the quantized max is the max of the int8 values). A
/// value without a partner passes as `relu(v) = v`. Returns the levels, the affine map from the
/// last level's units to the window maxima (their sums, to compose into the next layer), and the
/// output layout. Pads take no part (ONNX pads with −∞).
fn max_pool(
    node: &NodeProto,
    input: Spatial,
    pending: Option<Affine>,
    global: bool,
    at: &str,
) -> Result<(Vec<FloatLayer>, Affine, Spatial)> {
    if node.output.len() > 1 && node.output[1..].iter().any(|o| !o.is_empty()) {
        return Err(Error::graph(at, "MaxPool's Indices output is not supported"));
    }
    let window = if global {
        Window { kernel: [input.h, input.w], strides: [1, 1], pads: [0; 4], dilations: [1, 1], ceil: false }
    } else {
        Window::from_node(node, input, None, at)?
    };
    let (oh, ow) = window.output_size(input).expect("checked by from_node");
    let out = Spatial { c: input.c, h: oh, w: ow };
    // Each window's values, as sparse combinations of the current layer's units.
    type Value = Vec<(usize, f32)>;
    let mut windows: Vec<Vec<Value>> = Vec::with_capacity(out.len());
    for c in 0..input.c {
        for oy in 0..oh {
            for ox in 0..ow {
                let taps: Vec<Value> =
                    window.taps(input, oy, ox).map(|(_, _, y, x)| vec![(input.index(c, y, x), 1.0)]).collect();
                if taps.is_empty() {
                    return Err(Error::graph(at, "a MaxPool window lies entirely in the padding"));
                }
                windows.push(taps);
            }
        }
    }
    let (levels, sums) = tournament(windows, pending, input.len(), at)?;
    Ok((levels, sums, out))
}

/// The max of each window's values (sparse combinations of `in_dim` non-negative units, or of
/// the units under `pending`, a map that only averages them), exactly, as ReLU layers of integer
/// weights: `max(a, b) = relu(a) + relu(b − a)`, a level a round of pairs; returns the levels and
/// the map from the last one to the maxima.
fn tournament(
    mut windows: Vec<Vec<Vec<(usize, f32)>>>,
    pending: Option<Affine>,
    in_dim: usize,
    at: &str,
) -> Result<(Vec<FloatLayer>, Affine)> {
    type Value = Vec<(usize, f32)>;
    let outputs = windows.len();
    let mut in_dim = in_dim;
    if let Some(p) = pending {
        // Each value through the map: still non-negative.
        for value in windows.iter_mut().flatten() {
            let mut through: HashMap<usize, f32> = HashMap::new();
            for (j, k) in value.iter() {
                let row = p.rows.get(*j).ok_or_else(|| Error::graph(at, "a pooled value outside the tensor"))?;
                for (i, v) in row {
                    *through.entry(*i).or_default() += k * *v as f32;
                }
            }
            let mut v: Value = through.into_iter().collect();
            v.sort_by_key(|(i, _)| *i);
            *value = v;
        }
        in_dim = p.in_dim;
    }
    let mut levels = Vec::new();
    while windows.iter().any(|w| w.len() > 1) {
        let mut rows: Vec<Value> = Vec::new();
        let unit = |row: Value, rows: &mut Vec<Value>| {
            rows.push(row);
            rows.len() - 1
        };
        for values in &mut windows {
            let mut next = Vec::with_capacity(values.len().div_ceil(2));
            for pair in values.chunks(2) {
                match pair {
                    [a, b] => {
                        let mut diff: Value = b.clone();
                        diff.extend(a.iter().map(|(i, k)| (*i, -k)));
                        let (ra, rd) = (unit(a.clone(), &mut rows), unit(diff, &mut rows));
                        next.push(vec![(ra, 1.0), (rd, 1.0)]);
                    }
                    [v] => next.push(vec![(unit(v.clone(), &mut rows), 1.0)]),
                    _ => unreachable!("chunks of two"),
                }
            }
            *values = next;
        }
        let mut weights = vec![0f32; dense_len(rows.len(), in_dim, at)?];
        for (r, row) in rows.iter().enumerate() {
            for (i, k) in row {
                weights[r * in_dim + i] += k;
            }
        }
        let out_dim = rows.len();
        levels.push(FloatLayer {
            in_dim,
            out_dim,
            weights,
            bias: vec![0.0; out_dim],
            relu: true,
            table: None,
            exact: true,
            reach: None,
        });
        in_dim = out_dim;
    }
    let sums = Affine {
        in_dim,
        rows: windows
            .into_iter()
            .map(|mut v| v.pop().expect("one value").into_iter().map(|(i, k)| (i, f64::from(k))).collect())
            .collect(),
        offset: vec![0.0; outputs],
    };
    Ok((levels, sums))
}

/// `BatchNormalization` (inference): `y = scale · (x - mean) / sqrt(var + epsilon) + bias` per
/// channel, as `(factor, shift)` per channel.
fn batch_norm(node: &NodeProto, constant: impl Fn(usize) -> Result<Vec<f32>>, at: &str) -> Result<Vec<(f64, f64)>> {
    let epsilon = f64::from(attr(node, "epsilon").map_or(1e-5, |a| a.f));
    let (scale, bias, mean, var) = (constant(1)?, constant(2)?, constant(3)?, constant(4)?);
    let n = scale.len();
    if [bias.len(), mean.len(), var.len()].iter().any(|l| *l != n) {
        return Err(Error::graph(at, "BatchNormalization's scale, bias, mean and var must have one value a channel"));
    }
    (0..n)
        .map(|c| {
            let v = f64::from(var[c]) + epsilon;
            if v.is_nan() || v <= 0.0 {
                return Err(Error::graph(at, format!("channel {c}: variance + epsilon is {v}, not positive")));
            }
            let factor = f64::from(scale[c]) / v.sqrt();
            Ok((factor, f64::from(bias[c]) - factor * f64::from(mean[c])))
        })
        .collect()
}

/// A batch normalization's `(factor, shift)` a channel as a map of `width` values, `block` a
/// channel.
fn channel_affine(per_channel: &[(f64, f64)], block: usize, width: usize, at: &str) -> Result<Affine> {
    if per_channel.len() * block != width {
        return Err(Error::graph(at, format!("{} channels do not divide the {width} values", per_channel.len())));
    }
    Ok(Affine {
        in_dim: width,
        rows: (0..width).map(|i| vec![(i, per_channel[i / block].0)]).collect(),
        offset: (0..width).map(|i| per_channel[i / block].1).collect(),
    })
}

/// `P` applied after `layer`: `W' = P·W`, `b' = P·b + offset` (the layer must have no ReLU).
fn compose_after(p: &Affine, layer: &FloatLayer) -> FloatLayer {
    let n = layer.in_dim;
    let mut weights = vec![0f32; p.rows.len() * n];
    let mut bias = Vec::with_capacity(p.rows.len());
    for (r, row) in p.rows.iter().enumerate() {
        let mut acc = vec![0f64; n];
        let mut b = p.offset[r];
        for (j, k) in row {
            for (a, w) in acc.iter_mut().zip(&layer.weights[j * n..(j + 1) * n]) {
                *a += k * f64::from(*w);
            }
            b += k * f64::from(layer.bias[*j]);
        }
        for (w, a) in weights[r * n..(r + 1) * n].iter_mut().zip(acc) {
            *w = a as f32;
        }
        bias.push(b as f32);
    }
    FloatLayer { in_dim: n, out_dim: p.rows.len(), weights, bias, relu: false, table: None, exact: false, reach: None }
}

/// `layer` applied after `P`: `W' = W·P`, `b' = b + W·offset`.
fn compose_before(layer: &FloatLayer, p: &Affine) -> FloatLayer {
    let n = p.in_dim;
    let mut weights = vec![0f32; layer.out_dim * n];
    let mut bias = layer.bias.clone();
    for o in 0..layer.out_dim {
        let mut acc = vec![0f64; n];
        let mut b = f64::from(bias[o]);
        for (j, row) in p.rows.iter().enumerate() {
            let w = f64::from(layer.weights[o * layer.in_dim + j]);
            if w == 0.0 {
                continue;
            }
            for (i, k) in row {
                acc[*i] += w * k;
            }
            b += w * p.offset[j];
        }
        for (dst, a) in weights[o * n..(o + 1) * n].iter_mut().zip(acc) {
            *dst = a as f32;
        }
        bias[o] = b as f32;
    }
    FloatLayer {
        in_dim: n,
        out_dim: layer.out_dim,
        weights,
        bias,
        relu: layer.relu,
        table: layer.table,
        exact: layer.exact,
        reach: layer.reach,
    }
}

/// The input's dimensions, batch 1 (a symbolic batch included); `[1, width]` for a vector.
fn input_dims(input: &ValueInfoProto, width: usize) -> Vec<usize> {
    let dims = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| s.dim.iter().map(|d| usize::try_from(d.dim_value).unwrap_or(0)).collect::<Vec<_>>())
        .unwrap_or_default();
    match dims.split_first() {
        Some((_, rest)) if !rest.is_empty() && rest.iter().product::<usize>() == width => [&[1][..], rest].concat(),
        _ => vec![1, width],
    }
}

/// A graph of several inputs that it concatenates first, and nowhere else reads (PyTorch's
/// `forward(a, b)` over `torch.cat([a, b], 1)`, a Keras functional model's `Concatenate` of its
/// feature groups): the model's input is that concatenation, in the `Concat`'s order, as one
/// flat `[batch, d]` input named as its output. Returns it and the `Concat`'s index.
fn joined_inputs(graph: &GraphProto, inputs: &[&ValueInfoProto]) -> Result<(ValueInfoProto, usize)> {
    let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    let refuse = |why: &str| {
        Error::graph(
            "graph inputs",
            format!(
                "the graph has {} inputs ({}): {why}; several inputs are supported when the first node concatenates \
                 them all (a Concat over axis 1 of flat [batch, d] inputs) and no other node reads them",
                names.len(),
                names.join(", ")
            ),
        )
    };
    let readers: Vec<usize> =
        (0..graph.node.len()).filter(|i| graph.node[*i].input.iter().any(|n| names.contains(&n.as_str()))).collect();
    let [index] = readers.as_slice() else { return Err(refuse("more than one node reads them")) };
    let node = &graph.node[*index];
    let axis = attr(node, "axis").map_or(0, |a| a.i);
    let mut read: Vec<&str> = node.input.iter().map(String::as_str).collect();
    read.sort_unstable();
    let mut all = names.clone();
    all.sort_unstable();
    if node.op_type != "Concat" || !(node.domain.is_empty() || node.domain == "ai.onnx") || read != all {
        return Err(refuse(&format!("the node that reads them is a {} of {:?}", node.op_type, node.input)));
    }
    if !(axis == 1 || axis == -1) {
        return Err(refuse(&format!("their Concat is over axis {axis}")));
    }
    let mut width = 0usize;
    for name in &node.input {
        let input = inputs.iter().find(|i| i.name == *name).expect("one of the inputs");
        let rank = input
            .r#type
            .as_ref()
            .and_then(|t| t.tensor_type.as_ref())
            .and_then(|t| t.shape.as_ref())
            .map(|s| s.dim.len());
        if rank != Some(2) {
            return Err(refuse(&format!("`{name}` is not a flat [batch, d] tensor")));
        }
        width = width
            .checked_add(input_width(input)?)
            .filter(|w| *w <= MAX_VALUES)
            .ok_or_else(|| refuse("too many values"))?;
    }
    // The first input's description, named and sized as the concatenation.
    let mut joined = (*inputs.iter().find(|i| i.name == node.input[0]).expect("one of the inputs")).clone();
    joined.name = node.output.first().cloned().ok_or_else(|| refuse("their Concat has no output"))?;
    let shape = joined.r#type.as_mut().and_then(|t| t.tensor_type.as_mut()).and_then(|t| t.shape.as_mut());
    let dim = shape.and_then(|s| s.dim.get_mut(1)).expect("a flat input has two dimensions");
    dim.dim_value = width as i64;
    dim.dim_param.clear();
    Ok((joined, *index))
}

/// The `[C, H, W]` layout of a 4-D tensor `[1, C, H, W]`, or of a 3-D one `[1, C, L]` as height 1
/// (1-D convolutions and pools).
fn spatial_of(dims: &[usize]) -> Option<Spatial> {
    match dims {
        [1, c, h, w] => Some(Spatial { c: *c, h: *h, w: *w }),
        [1, c, l] => Some(Spatial { c: *c, h: 1, w: *l }),
        _ => None,
    }
}

/// A constant's value for each element of the running tensor (`dims`, row-major), by ONNX's
/// (numpy's) broadcasting; a vector of one value per element also goes, whatever its shape.
fn per_element(c: &Constant, dims: &[usize], at: &str) -> Result<Vec<f64>> {
    let v = c.floats(at)?;
    let width: usize = dims.iter().product();
    if v.len() == 1 || v.len() == width {
        return Ok((0..width).map(|i| f64::from(v[if v.len() == 1 { 0 } else { i }])).collect());
    }
    let rank = dims.len().max(c.dims.len());
    let pad = |d: &[usize]| [vec![1; rank - d.len()], d.to_vec()].concat();
    let (dims, cdims) = (pad(dims), pad(&c.dims));
    if dims.iter().zip(&cdims).any(|(d, k)| *k != 1 && k != d) {
        return Err(Error::graph(at, format!("a constant of dims {:?} does not broadcast to {dims:?}", c.dims)));
    }
    let mut out = Vec::with_capacity(width);
    let mut index = vec![0usize; rank];
    for _ in 0..width {
        let j = index.iter().zip(&cdims).fold(0, |acc, (i, k)| acc * k + if *k == 1 { 0 } else { *i });
        out.push(f64::from(v[j]));
        shape::next_index(&mut index, &dims);
    }
    Ok(out)
}

/// The layout of the input's features when they are `[C, H, W]`.
fn input_spatial(input: &ValueInfoProto) -> Option<Spatial> {
    let dims = &input.r#type.as_ref()?.tensor_type.as_ref()?.shape.as_ref()?.dim;
    match dims.as_slice() {
        [_, c, h, w] if [c, h, w].iter().all(|d| d.dim_value > 0) => {
            Some(Spatial { c: c.dim_value as usize, h: h.dim_value as usize, w: w.dim_value as usize })
        }
        [_, c, l] if [c, l].iter().all(|d| d.dim_value > 0) => {
            Some(Spatial { c: c.dim_value as usize, h: 1, w: l.dim_value as usize })
        }
        _ => None,
    }
}

/// `second` after `first` (either may be the identity: `first` absent).
fn then(first: Option<Affine>, second: Affine) -> Affine {
    let Some(first) = first else { return second };
    let mut rows = Vec::with_capacity(second.rows.len());
    let mut offset = Vec::with_capacity(second.rows.len());
    for (r, row) in second.rows.iter().enumerate() {
        let mut acc: HashMap<usize, f64> = HashMap::new();
        let mut b = second.offset[r];
        for (j, k) in row {
            for (i, v) in &first.rows[*j] {
                *acc.entry(*i).or_default() += k * v;
            }
            b += k * first.offset[*j];
        }
        let mut row: Vec<(usize, f64)> = acc.into_iter().collect();
        row.sort_by_key(|(i, _)| *i);
        rows.push(row);
        offset.push(b);
    }
    Affine { in_dim: first.in_dim, rows, offset }
}

/// A new linear layer on the running tensor, after any pending map.
fn push_linear(layers: &mut Vec<FloatLayer>, pending: &mut Option<Affine>, layer: FloatLayer) {
    layers.push(match pending.take() {
        Some(p) => compose_before(&layer, &p),
        None => layer,
    });
}
