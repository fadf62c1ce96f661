//! Activations written as several elementwise nodes, as exporters write the functions their
//! opset lacks: PyTorch's `nn.GELU` below opset 20 is `Div` by √2, `Erf`, `Add` 1, `Mul` by the
//! input and `Mul` by ½, its tanh approximation adds `Pow` (or `Mul`) for the cube; SiLU is
//! `Sigmoid` then `Mul`; Keras' hard swish is `x · relu6(x + 3) / 6`; Mish written out is
//! `x · tanh(softplus(x))`.
//!
//! Each uses the layer's output more than once, which a chain of layers never does, so the
//! importer looks for such a subgraph only there. It evaluates the subgraph as a function of one
//! real number on a grid and accepts it when it is one of the functions the model proves (within
//! 1e-5, far below the 5e-4 between GELU and its tanh approximation). So neither the nodes' order,
//! nor the constants' form (`Div` by √2 or `Mul` by 1/√2, `Pow` or a product), nor `Constant`
//! nodes between them matter; a subgraph that computes anything else is refused with its values.

use std::collections::{HashMap, HashSet};

use super::{attr, is_float_type, Constant, GraphProto, NodeProto};
use crate::{model::erf, model::TableFunction, Error, Result};

/// The elementwise operators the subgraph may use (on the running tensor, its own outputs and
/// scalar constants).
const ELEMENTWISE_OPS: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Erf",
    "Tanh",
    "Sigmoid",
    "Exp",
    "Log",
    "Softplus",
    "Relu",
    "Clip",
    "HardSigmoid",
    "Neg",
    "Sqrt",
    "Abs",
    "Reciprocal",
    "Max",
    "Min",
    "Cast",
    "Identity",
    "Greater",
    "GreaterOrEqual",
    "Less",
    "LessOrEqual",
    "Where",
];

/// The most nodes (`Constant`s included) a subgraph may span.
const MAX_NODES: usize = 32;

/// The functions a subgraph may compute: those that gate their input by a function of it.
/// And Softplus, which PyTorch's `dynamo` exporter writes with its threshold: `Where(x > 20, x,
/// Softplus(x))`.
const CANDIDATES: &[TableFunction] = &[
    TableFunction::Silu,
    TableFunction::Gelu,
    TableFunction::GeluTanh,
    TableFunction::Mish,
    TableFunction::HardSwish,
    TableFunction::Softplus,
];

/// A subgraph recognized as one activation.
#[derive(Debug)]
pub(super) struct Fused {
    /// The activation it computes.
    pub function: TableFunction,
    /// The index of its last node (its nodes are `start..=end`).
    pub end: usize,
    /// Its output: the activation's.
    pub output: String,
    /// The `Constant` nodes among its nodes, for later nodes that read them too.
    pub constants: Vec<(String, Constant)>,
}

/// The activation that the nodes from `start` on compute of the running tensor `current`, when
/// they use it more than once; `None` when they do not (the node is imported on its own). An
/// error when they do but compute none of [`CANDIDATES`].
pub(super) fn fuse(
    graph: &GraphProto,
    start: usize,
    current: &str,
    consts: &HashMap<String, Constant>,
    at: &str,
) -> Result<Option<Fused>> {
    let window = &graph.node[start..graph.node.len().min(start + MAX_NODES)];
    let uses = window.iter().flat_map(|n| &n.input).filter(|i| *i == current).count();
    if uses < 2 {
        return Ok(None);
    }
    // The longest run of nodes that read only the running tensor, their own outputs and scalars.
    let mut scalars: HashMap<String, f64> = HashMap::new();
    let mut constants = Vec::new();
    let mut produced: HashSet<&str> = HashSet::from([current]);
    let mut end = None;
    for (i, node) in window.iter().enumerate() {
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            break;
        }
        if node.op_type == "Constant" {
            let (Some(t), [out]) = (attr(node, "value").and_then(|a| a.t.as_ref()), node.output.as_slice()) else {
                break;
            };
            let c = Constant::from_proto(t, at)?;
            if let Some(v) = scalar(&c) {
                scalars.insert(out.clone(), v);
            }
            constants.push((out.clone(), c));
            end = Some(start + i);
            continue;
        }
        let reads = |name: &String| {
            name.is_empty()
                || produced.contains(name.as_str())
                || scalars.contains_key(name)
                || consts.get(name).and_then(scalar).is_some()
        };
        let [out] = node.output.as_slice() else { break };
        // A Cast only to a float type (to an integer it would round).
        let cast_to_int =
            node.op_type == "Cast" && !attr(node, "to").is_some_and(|a| i32::try_from(a.i).is_ok_and(is_float_type));
        if !ELEMENTWISE_OPS.contains(&node.op_type.as_str())
            || cast_to_int
            || !node.input.iter().all(reads)
            || !node.input.iter().any(|n| produced.contains(n.as_str()))
        {
            break;
        }
        produced.insert(out);
        end = Some(start + i);
    }
    let Some(end) = end else { return Ok(None) };
    // Its prefixes that end in a node whose output is the only one read after them, longest
    // first: the first that computes a candidate is the activation.
    let mut refused = None;
    for last in (start..=end).rev() {
        let node = &graph.node[last];
        if node.op_type == "Constant" {
            continue;
        }
        let output = &node.output[0];
        let members = &graph.node[start..=last];
        let inner: HashSet<&str> = members
            .iter()
            .filter(|n| n.op_type != "Constant")
            .map(|n| n.output[0].as_str())
            .filter(|o| *o != output.as_str())
            .collect();
        let escapes = graph.node[last + 1..]
            .iter()
            .flat_map(|n| &n.input)
            .chain(graph.output.iter().map(|o| &o.name))
            .any(|name| name == current || inner.contains(name.as_str()));
        let uses = members.iter().flat_map(|n| &n.input).filter(|i| *i == current).count();
        if escapes || uses < 2 || graph.output.iter().any(|o| o.name == current) {
            continue;
        }
        let f = |x: f64| evaluate(members, current, x, consts, &scalars);
        if let Some(function) = CANDIDATES.iter().copied().find(|c| same_function(&f, *c)) {
            constants.retain(|(name, _)| members.iter().any(|n| n.output.first() == Some(name)));
            return Ok(Some(Fused { function, end: last, output: output.clone(), constants }));
        }
        refused.get_or_insert_with(|| {
            let ops: Vec<&str> = members.iter().map(|n| n.op_type.as_str()).filter(|o| *o != "Constant").collect();
            let values: Vec<String> =
                [-2.0, -1.0, 1.0, 2.0].iter().map(|x| format!("f({x}) = {:.4}", f(*x).unwrap_or(f64::NAN))).collect();
            format!(
                " (the nodes {} use `{current}` more than once: neither an activation written out as one of {} \
                 ({}), nor a chain of layers, as a residual connection or branches would not be)",
                ops.join(", "),
                CANDIDATES.iter().map(|c| c.name()).collect::<Vec<_>>().join(", "),
                values.join(", ")
            )
        });
    }
    match refused {
        Some(note) => Err(Error::UnsupportedOp { op: "elementwise subgraph".into(), node: at.into(), note }),
        None => Ok(None),
    }
}

/// The value of a one-element constant.
pub(super) fn scalar(c: &Constant) -> Option<f64> {
    match &c.data {
        super::ConstData::F32(v) if v.len() == 1 => Some(f64::from(v[0])),
        super::ConstData::I64(v) if v.len() == 1 => Some(v[0] as f64),
        _ => None,
    }
}

/// Whether `f` is `function` on a grid over [-8, 8] (within 1e-5, relative beyond 1).
fn same_function(f: &impl Fn(f64) -> Option<f64>, function: TableFunction) -> bool {
    (-128..=128).map(|i| f64::from(i) / 16.0).all(|x| {
        let want = function.apply(x);
        f(x).is_some_and(|got| (got - want).abs() <= 1e-5 * want.abs().max(1.0))
    })
}

/// The subgraph's output at `x` (`None` where an operator is undefined or a value not finite).
fn evaluate(
    nodes: &[NodeProto],
    current: &str,
    x: f64,
    consts: &HashMap<String, Constant>,
    scalars: &HashMap<String, f64>,
) -> Option<f64> {
    let mut values: HashMap<&str, f64> = HashMap::from([(current, x)]);
    let mut out = x;
    for node in nodes.iter().filter(|n| n.op_type != "Constant") {
        let input = |i: usize| -> Option<f64> {
            let name = node.input.get(i).filter(|n| !n.is_empty())?;
            values
                .get(name.as_str())
                .copied()
                .or_else(|| scalars.get(name).copied())
                .or_else(|| consts.get(name).and_then(scalar))
        };
        let a = input(0)?;
        let float_attr = |name: &str, default: f64| attr(node, name).map_or(default, |v| f64::from(v.f));
        out = match node.op_type.as_str() {
            "Add" => a + input(1)?,
            "Sub" => a - input(1)?,
            "Mul" => a * input(1)?,
            "Div" => a / input(1)?,
            "Pow" => a.powf(input(1)?),
            "Erf" => erf(a),
            "Tanh" => a.tanh(),
            "Sigmoid" => TableFunction::Sigmoid.apply(a),
            "Exp" => a.exp(),
            "Log" => a.ln(),
            "Softplus" => TableFunction::Softplus.apply(a),
            "Relu" => a.max(0.0),
            "Clip" => {
                // Opset 11+: bounds as inputs; before: attributes.
                let lo = input(1).or_else(|| attr(node, "min").map(|v| f64::from(v.f)));
                let hi = input(2).or_else(|| attr(node, "max").map(|v| f64::from(v.f)));
                a.max(lo.unwrap_or(f64::NEG_INFINITY)).min(hi.unwrap_or(f64::INFINITY))
            }
            "HardSigmoid" => (float_attr("alpha", 0.2) * a + float_attr("beta", 0.5)).clamp(0.0, 1.0),
            "Neg" => -a,
            "Sqrt" => a.sqrt(),
            "Abs" => a.abs(),
            "Reciprocal" => 1.0 / a,
            "Max" => node.input.iter().enumerate().skip(1).try_fold(a, |m, (i, _)| Some(m.max(input(i)?)))?,
            "Min" => node.input.iter().enumerate().skip(1).try_fold(a, |m, (i, _)| Some(m.min(input(i)?)))?,
            // Comparisons are 1 or 0, as `Where` reads them.
            "Greater" => f64::from(u8::from(a > input(1)?)),
            "GreaterOrEqual" => f64::from(u8::from(a >= input(1)?)),
            "Less" => f64::from(u8::from(a < input(1)?)),
            "LessOrEqual" => f64::from(u8::from(a <= input(1)?)),
            "Where" => {
                if a != 0.0 {
                    input(1)?
                } else {
                    input(2)?
                }
            }
            _ => a, // Identity, or a Cast to a float type
        };
        if !out.is_finite() {
            return None;
        }
        values.insert(node.output[0].as_str(), out);
    }
    Some(out)
}
