//! ONNX import of MLP-style graphs into a [`FloatModel`].
//!
//! The protobuf messages below are the subset of `onnx.proto` that the importer reads, written by
//! hand with their field numbers, so no code generator is needed. They also encode, which the
//! tests use to build graphs.

use std::{collections::HashMap, path::Path};

use prost::Message;

use crate::{
    float::{FloatLayer, FloatModel},
    Error, Result,
};

/// The oldest default-domain opset the importer accepts.
pub const MIN_OPSET: i64 = 11;

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
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
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
        let count: usize = dims.iter().product();
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
            other => {
                return Err(Error::graph(
                    at,
                    format!("tensor data type {other} is not supported: expected float32 (1) or int64 (7)"),
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
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or_else(|| Error::OnnxDecode("no default-domain opset_import: not an onnx model".into()))?;
    if opset < MIN_OPSET {
        return Err(Error::Opset { found: opset });
    }
    let graph = model.graph.as_ref().ok_or_else(|| Error::OnnxDecode("the model has no graph".into()))?;

    let mut consts: HashMap<String, Constant> = HashMap::new();
    for t in &graph.initializer {
        consts.insert(t.name.clone(), Constant::from_proto(t, &format!("initializer `{}`", t.name))?);
    }
    let inputs: Vec<&ValueInfoProto> = graph.input.iter().filter(|i| !consts.contains_key(&i.name)).collect();
    let [input] = inputs.as_slice() else {
        return Err(Error::graph(
            "graph inputs",
            format!("expected exactly one non-constant input, found {}", inputs.len()),
        ));
    };
    let input_dim = input_width(input)?;

    let mut current = input.name.clone();
    let mut width = input_dim;
    let mut tail = Tail::Input;
    let mut layers: Vec<FloatLayer> = Vec::new();

    for node in &graph.node {
        let at = if node.name.is_empty() {
            node.output.first().cloned().unwrap_or_else(|| node.op_type.clone())
        } else {
            node.name.clone()
        };
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(Error::UnsupportedOp {
                op: format!("{}::{}", node.domain, node.op_type),
                node: at,
                note: " (only the default onnx domain is supported)".into(),
            });
        }
        let out = node.output.first().cloned().ok_or_else(|| Error::graph(&at, "the node has no output"))?;
        let op = node.op_type.as_str();
        if op == "Constant" {
            let t = attr(node, "value")
                .and_then(|a| a.t.as_ref())
                .ok_or_else(|| Error::graph(&at, "Constant without a tensor `value` attribute"))?;
            consts.insert(out, Constant::from_proto(t, &at)?);
            continue;
        }
        let unsupported = |note: &str| Error::UnsupportedOp { op: op.to_string(), node: at.clone(), note: note.into() };
        match op {
            "MatMul" | "Gemm" | "Add" | "Relu" | "Flatten" | "Reshape" | "Identity" | "Cast" => {}
            "Sigmoid" | "Tanh" => return Err(unsupported(" (no sound circuit for it yet)")),
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
        let constant = |i: usize| -> Result<&Constant> {
            let name = node.input.get(i).ok_or_else(|| Error::graph(&at, format!("missing input {i}")))?;
            consts.get(name).ok_or_else(|| {
                Error::graph(&at, format!("input `{name}` must be a constant (initializer or Constant node)"))
            })
        };
        match op {
            "Identity" | "Flatten" => {}
            "Cast" => {
                let to = attr(node, "to").map_or(0, |a| a.i);
                if to != i64::from(DATA_TYPE_FLOAT) {
                    return Err(Error::graph(&at, format!("Cast is supported only to float32 (1), found {to}")));
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
                check_reshape(&shape, width, &at)?;
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
            "Add" => {
                if tail != Tail::Linear {
                    return Err(Error::graph(
                        &at,
                        "Add of a constant is supported only as the bias right after MatMul/Gemm",
                    ));
                }
                let c = constant(1 - pos)?;
                let b = c.floats(&at)?;
                let layer = layers.last_mut().expect("a linear tail has a layer");
                add_bias(&mut layer.bias, b, &c.dims, &at)?;
            }
            "MatMul" => {
                if node.input.len() != 2 {
                    return Err(Error::graph(&at, format!("MatMul takes 2 inputs, found {}", node.input.len())));
                }
                let c = constant(1 - pos)?;
                let w = matrix(c, &at)?;
                // x·W with W [in, out] when the constant is on the right; W·x with W [out, in]
                // when it is on the left.
                let weights = if pos == 0 { w.transposed() } else { w };
                layers.push(dense(weights, width, &at)?);
                width = layers.last().expect("pushed").out_dim;
                tail = Tail::Linear;
            }
            "Gemm" => {
                if !(2..=3).contains(&node.input.len()) || pos > 1 {
                    return Err(Error::graph(
                        &at,
                        "Gemm takes the running tensor as A or B, a constant as the other, and an optional constant C",
                    ));
                }
                let alpha = attr(node, "alpha").map_or(1.0, |a| a.f);
                let beta = attr(node, "beta").map_or(1.0, |a| a.f);
                let trans_a = attr(node, "transA").is_some_and(|a| a.i != 0);
                let trans_b = attr(node, "transB").is_some_and(|a| a.i != 0);
                let mut w = matrix(constant(1 - pos)?, &at)?;
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
                layers.push(dense(w, width, &at)?);
                width = layers.last().expect("pushed").out_dim;
                if node.input.len() == 3 && !node.input[2].is_empty() {
                    let c = constant(2)?;
                    let b: Vec<f32> = c.floats(&at)?.iter().map(|v| v * beta).collect();
                    let layer = layers.last_mut().expect("pushed");
                    add_bias(&mut layer.bias, &b, &c.dims, &at)?;
                }
                tail = Tail::Linear;
            }
            _ => unreachable!("filtered above"),
        }
        current = out;
    }

    let [output] = graph.output.as_slice() else {
        return Err(Error::graph(
            "graph outputs",
            format!("expected exactly one output, found {}", graph.output.len()),
        ));
    };
    if output.name != current {
        return Err(Error::graph(
            "graph outputs",
            format!("the output `{}` is not the end of the layer chain `{current}`", output.name),
        ));
    }
    if layers.is_empty() {
        return Err(Error::graph("graph", "no MatMul or Gemm layer found"));
    }
    let model = FloatModel { name: name.to_string(), input_dim, layers };
    model.validate()?;
    Ok(model)
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
    if tensor.elem_type != DATA_TYPE_FLOAT {
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
        width *= d.dim_value as usize;
    }
    if dims.len() >= 2 && dims[0].dim_value > 1 {
        return Err(Error::graph(&at, format!("expected batch size 1 or symbolic, found {}", dims[0].dim_value)));
    }
    Ok(width)
}

fn check_reshape(shape: &[i64], width: usize, at: &str) -> Result<()> {
    let mut known = 1i64;
    let mut inferred = 0;
    for d in shape {
        match *d {
            -1 => inferred += 1,
            0 => {} // copies the dimension: batch 1 or the feature width
            d if d > 0 => known *= d,
            d => return Err(Error::graph(at, format!("invalid reshape dimension {d}"))),
        }
    }
    let ok = inferred <= 1 && (known == width as i64 || (inferred == 1 && width as i64 % known == 0) || known == 1);
    if !ok {
        return Err(Error::graph(at, format!("cannot reshape {width} values to {shape:?}")));
    }
    Ok(())
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

/// A layer from a weight matrix laid out [out, in].
fn dense(w: Matrix, width: usize, at: &str) -> Result<FloatLayer> {
    if w.cols != width {
        return Err(Error::graph(
            at,
            format!("the weight matrix expects {} inputs, but the running tensor has {width}", w.cols),
        ));
    }
    Ok(FloatLayer { in_dim: w.cols, out_dim: w.rows, weights: w.values, bias: vec![0.0; w.rows], relu: false })
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
