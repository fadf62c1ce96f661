//! Residual connections, `y = f(x) + x` (a ResNet's basic block, a residual MLP), imported as a
//! chain of layers.
//!
//! A layer of the chain reads only the layer before it, so the shortcut's `x` is carried through
//! the block's hidden layers as extra ReLU units: `relu(x_i / s_i)`, and `relu(−x_i / s_i)` too
//! unless `x` is never negative (a ReLU's output). Each hidden layer passes them on with a weight
//! of 1 (a ReLU of a non-negative value is that value), and the layer that ends the block reads
//! them back into its output `i`, `s_i · relu(x_i / s_i) − s_i · relu(−x_i / s_i) = x_i`, before
//! its activation: exact in float, a ReLU network the circuits already prove. `s_i` is the
//! largest weight of that output's row, so that the carried column does not coarsen the row's
//! int8 weights; the hidden layers' int8 scale covers the carried values too, and the import
//! report shows what that costs. A projection shortcut (ResNet's downsampling: a strided 1×1
//! convolution and a batch norm on `x`; a `Gemm` where a residual MLP changes width) is a linear
//! map `D` of `x`: the block carries `D·x` instead of `x`, and the nodes of the shortcut's path are
//! imported into `D`, not into the chain. A shortcut may start at the model input (Wide & Deep's
//! `wide(x) + deep(x)`), provided the input's normalization applies to both paths. A `Concat`
//! of the block's output and the shortcut over channels (DenseNet, Keras' Wide & Deep) is the
//! same carry, read back into rows of their own instead of into the block's. A shortcut from a
//! layer's pre-activation (a residual stream with no activation between blocks) starts after the
//! importer makes that layer's outputs ReLU hinges, `z = relu(z) − relu(−z)` ([`is_shortcut`]).

use std::collections::HashMap;

use super::{
    batch_norm, channel_affine, constant_input, conv_layer, dense, dense_len, gemm_layer, matrix, per_element,
    shape::{selection, selection_of},
    spatial_of, then, Affine, Constant, GraphProto, NodeProto, Tail,
};
use crate::{
    float::FloatLayer,
    model::{Normalize, TableFunction},
    Error, Result,
};

/// Operators that make a layer of their own: a second path that starts with one is a projection
/// shortcut, or a branch.
const LAYER_OPS: &[&str] = &["Gemm", "MatMul", "Conv", "ConvTranspose", "BatchNormalization"];

/// An open shortcut: the tensor `x` a block starts from, and where the chain stood there.
#[derive(Debug)]
pub(super) struct Skip {
    /// The tensor's name.
    pub name: String,
    /// The index of the `Add` or `Concat` node that closes the block.
    pub add: usize,
    /// The block's first layer (the chain's layer count at `x`).
    first: usize,
    /// `x` as a map of the block's first layer's input: the map pending at `x` (a pool or a
    /// normalization after the activation), or the identity.
    map: Affine,
    /// Whether `x` is never negative: a ReLU's (or a Sigmoid's) output, at most averaged.
    nonneg: bool,
    /// The dimensions of the shortcut's output, which the block's output must have too.
    dims: Vec<usize>,
    /// The nodes of a projection shortcut's path (imported into `map`, skipped by the chain).
    pub path: Vec<usize>,
    /// The tensor the closing node reads from the shortcut: `x`, or the projection's output.
    shortcut: String,
    /// The model input's normalization at `x`, which the block must leave as it is (it applies
    /// to the input on both paths).
    normalize: Option<Normalize>,
}

/// The shortcut that starts at the running tensor `current`, when node `index` (which reads it)
/// begins a residual block: `current` is read by exactly that node and, later, by an `Add` or a
/// `Concat` of it (or of a projection of it) and a computed tensor. `None` when it is not (the
/// node is imported as usual), or when `current` is a layer's pre-activation (see
/// [`is_shortcut`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn open(
    graph: &GraphProto,
    index: usize,
    current: &str,
    consts: &HashMap<String, Constant>,
    layers: &[FloatLayer],
    pending: Option<&Affine>,
    normalize: Option<&Normalize>,
    tail: Tail,
    dims: &[usize],
    at: &str,
) -> Result<Option<Skip>> {
    let readers = readers(graph, index, current);
    let [first, second] = readers.as_slice() else {
        if readers.len() > 2 && readers.iter().any(|i| LAYER_OPS.contains(&graph.node[*i].op_type.as_str())) {
            return Err(Error::graph(
                at,
                format!(
                    "`{current}` is read by {} nodes: at most two branches (or a block and its shortcut) are supported",
                    readers.len()
                ),
            ));
        }
        return Ok(None);
    };
    let layer_op = |i: usize| LAYER_OPS.contains(&graph.node[i].op_type.as_str());
    let projection = if closes(&graph.node[*second], current, consts) {
        None
    } else if layer_op(*second) {
        // A projection on the later path; or, when that path has an activation and the first
        // one has none, on the first (the chain then starts on the other).
        match project(graph, *second, current, consts, dims) {
            Ok(p) => Some(p),
            Err(e) if layer_op(*first) => Some(project(graph, *first, current, consts, dims).map_err(|_| e)?),
            Err(e) => return Err(e),
        }
    } else {
        return Ok(None);
    };
    if *first != index || tail == Tail::Linear {
        // Not the block's first node; or a layer's pre-activation, which the caller makes hinges
        // first.
        return Ok(None);
    }
    let projection = projection.unwrap_or_else(|| Projection::identity(current, dims, *second));
    Ok(Some(skip_at(current, projection, layers, pending, normalize, tail)))
}

/// The shortcut from `x` (the running tensor, `tail` not linear) along `projection` to its join.
fn skip_at(
    x: &str,
    projection: Projection,
    layers: &[FloatLayer],
    pending: Option<&Affine>,
    normalize: Option<&Normalize>,
    tail: Tail,
) -> Skip {
    // The model input (Wide & Deep's `wide(x) + deep(x)`): the block's first layer reads it.
    let last = (tail == Tail::Activated).then(|| layers.last().expect("an activated tail has a layer"));
    let at_x = pending.cloned();
    let Projection { nodes: path, map, output: shortcut, dims, add } = projection;
    let map = then(at_x, map);
    let nonneg = map.averages() && last.is_some_and(|l| l.relu || l.table == Some(TableFunction::Sigmoid));
    let normalize = normalize.cloned();
    Skip { name: x.into(), add, first: layers.len(), map, nonneg, dims, path, shortcut, normalize }
}

/// The first branch of a fork from `x` (the running tensor, `tail` not linear, dimensions
/// `dims`): a block that carries `x` to the end of the branch ([`super::branches`]).
pub(super) fn open_branch(
    x: &str,
    layers: &[FloatLayer],
    pending: Option<&Affine>,
    normalize: Option<&Normalize>,
    tail: Tail,
    dims: &[usize],
) -> Skip {
    skip_at(x, Projection::identity(x, dims, usize::MAX), layers, pending, normalize, tail)
}

/// Ends the first branch of a fork (its output, the running tensor `a`, of `dims`) by joining it
/// and the carried `x` into one flat tensor `[a; x]`: what [`close`] does for a `Concat`.
/// Returns the joined tensor's dimensions.
#[allow(clippy::too_many_arguments)]
pub(super) fn join_branch(
    mut skip: Skip,
    a: &str,
    layers: &mut [FloatLayer],
    pending: &mut Option<Affine>,
    normalize: Option<&Normalize>,
    tail: Tail,
    dims: &[usize],
    at: &str,
) -> Result<Vec<usize>> {
    // Flat, so that the branch may change the spatial dimensions.
    skip.dims = vec![1, skip.dims.iter().product()];
    let concat = NodeProto {
        input: vec![a.to_string(), skip.shortcut.clone()],
        op_type: "Concat".into(),
        attribute: vec![super::AttributeProto { name: "axis".into(), i: 1, r#type: 2, ..Default::default() }],
        ..Default::default()
    };
    let joined = close(skip, &concat, a, layers, pending, normalize, tail, &[1, dims.iter().product()], at)?;
    Ok(joined.expect("a Concat joins"))
}

/// The second branch of a fork: the running tensor is `[a; x]` (`a` of dimensions `a_dims`, the
/// first branch's output, then `x`; `tail` not linear), and the block from it carries `a` to the
/// `join`. Returns the block and the map that selects `x` from the running tensor, which the
/// branch reads.
#[allow(clippy::too_many_arguments)]
pub(super) fn open_second(
    x: &str,
    a: &str,
    a_dims: &[usize],
    join: usize,
    layers: &[FloatLayer],
    pending: Option<&Affine>,
    normalize: Option<&Normalize>,
    tail: Tail,
    width: usize,
) -> (Skip, Affine) {
    let n: usize = a_dims.iter().product();
    let projection = Projection {
        nodes: Vec::new(),
        map: selection_of((0..n).collect(), width),
        output: a.to_string(),
        dims: a_dims.to_vec(),
        add: join,
    };
    (skip_at(x, projection, layers, pending, normalize, tail), selection_of((n..width).collect(), width))
}

/// Whether `current` starts a residual block at node `index` (its first reader): its second
/// reader ends the block, or is a layer (a projection shortcut's, or the block's when the
/// projection comes first).
pub(super) fn is_shortcut(graph: &GraphProto, index: usize, current: &str, consts: &HashMap<String, Constant>) -> bool {
    match readers(graph, index, current).as_slice() {
        [first, second] if *first == index => {
            let node = &graph.node[*second];
            closes(node, current, consts) || LAYER_OPS.contains(&node.op_type.as_str())
        }
        _ => false,
    }
}

/// Whether `node` is an `Add` or a `Concat` of `tensor` and a computed tensor (a block's end).
fn closes(node: &NodeProto, tensor: &str, consts: &HashMap<String, Constant>) -> bool {
    matches!(node.op_type.as_str(), "Add" | "Concat")
        && (node.domain.is_empty() || node.domain == "ai.onnx")
        && node.input.len() == 2
        && node.input.iter().filter(|n| *n == tensor).count() == 1
        && node.input.iter().any(|n| n != tensor && !consts.contains_key(n))
}

/// A projection shortcut: the path of linear nodes from `x` to the `Add` that ends the block.
struct Projection {
    /// Its nodes, in order.
    nodes: Vec<usize>,
    /// `D`: the path's map of `x`.
    map: Affine,
    /// Its output, which the `Add` reads.
    output: String,
    /// That output's dimensions.
    dims: Vec<usize>,
    /// The `Add`.
    add: usize,
}

impl Projection {
    /// The shortcut that is `x` itself (of dimensions `dims`), up to node `add`.
    fn identity(x: &str, dims: &[usize], add: usize) -> Self {
        Projection {
            nodes: Vec::new(),
            map: identity(dims.iter().product()),
            output: x.into(),
            dims: dims.to_vec(),
            add,
        }
    }
}

/// The projection shortcut that starts at node `start`, a layer on `x` (of dimensions `dims`):
/// layers without an activation, each read only by the next, up to an `Add` of its output and a
/// computed tensor.
fn project(
    graph: &GraphProto,
    start: usize,
    x: &str,
    consts: &HashMap<String, Constant>,
    dims: &[usize],
) -> Result<Projection> {
    let (mut tensor, mut dims, mut map) = (x.to_string(), dims.to_vec(), None::<Affine>);
    let mut nodes = Vec::new();
    let mut i = start;
    loop {
        let node = &graph.node[i];
        let at =
            if node.name.is_empty() { node.output.first().cloned().unwrap_or_default() } else { node.name.clone() };
        let op = node.op_type.as_str();
        let reads: Vec<usize> = (0..node.input.len()).filter(|k| node.input[*k] == tensor).collect();
        let [pos] = reads.as_slice() else {
            return Err(Error::graph(&at, format!("expected the shortcut's {op} to read `{tensor}` once")));
        };
        let pos = *pos;
        let width: usize = dims.iter().product();
        let constant = |k: usize| constant_input(node, k, consts, &at);
        let (step, next) = match op {
            "Conv" | "ConvTranspose" if pos == 0 && (2..=3).contains(&node.input.len()) => {
                let input = spatial_of(&dims).ok_or_else(|| {
                    Error::graph(&at, "the shortcut's convolution needs a [N, C, H, W] or [N, C, L] tensor")
                })?;
                let bias = match node.input.get(2).filter(|n| !n.is_empty()) {
                    Some(_) => Some(constant(2)?.floats(&at)?.to_vec()),
                    None => None,
                };
                let (layer, out) = if op == "Conv" {
                    conv_layer(node, input, constant(1)?, bias.as_deref(), &at)?
                } else {
                    super::upsample::conv_transpose_layer(node, input, constant(1)?, bias.as_deref(), &at)?
                };
                let next = if dims.len() == 3 { vec![1, out.c, out.w] } else { vec![1, out.c, out.h, out.w] };
                (sparse(&layer), next)
            }
            "Gemm" if pos <= 1 && (2..=3).contains(&node.input.len()) => {
                let layer = gemm_layer(node, pos, width, consts, &at)?;
                let next = vec![1, layer.out_dim];
                (sparse(&layer), next)
            }
            "MatMul" if node.input.len() == 2 => {
                let w = matrix(constant(1 - pos)?, &at)?;
                let layer = dense(if pos == 0 { w.transposed() } else { w }, width, &at)?;
                let next = vec![1, layer.out_dim];
                (sparse(&layer), next)
            }
            "BatchNormalization" if pos == 0 && node.input.len() == 5 => {
                let per_channel = batch_norm(node, |k| Ok(constant(k)?.floats(&at)?.to_vec()), &at)?;
                let block = spatial_of(&dims).map_or(1, |s| s.h * s.w);
                (channel_affine(&per_channel, block, width, &at)?, dims.clone())
            }
            "Add" | "Sub" if node.input.len() == 2 && consts.contains_key(&node.input[1 - pos]) => {
                // A bias: `x + b`, `x − b` or `b − x`.
                let values = per_element(constant(1 - pos)?, &dims, &at)?;
                let (k, sign) = match (op, pos) {
                    ("Sub", 0) => (1.0, -1.0),
                    ("Sub", _) => (-1.0, 1.0),
                    _ => (1.0, 1.0),
                };
                let rows = (0..width).map(|v| vec![(v, k)]).collect();
                (Affine { in_dim: width, rows, offset: values.iter().map(|b| sign * b).collect() }, dims.clone())
            }
            "Identity" => (identity(width), dims.clone()),
            _ => {
                return Err(Error::graph(
                    &at,
                    format!(
                        "the shortcut from `{x}` applies {op}: a projection shortcut may only apply layers without an \
                         activation (Conv, ConvTranspose, Gemm, MatMul, BatchNormalization, a bias); parallel \
                         branches that each apply an activation (Inception's, a two-tower model's) are not supported"
                    ),
                ))
            }
        };
        map = Some(then(map, step));
        dims = next;
        nodes.push(i);
        tensor = node.output.first().cloned().ok_or_else(|| Error::graph(&at, "the node has no output"))?;
        let readers = readers(graph, i + 1, &tensor);
        let [reader] = readers.as_slice() else {
            return Err(Error::graph(
                &at,
                format!(
                    "the shortcut's `{tensor}` is read by {} nodes, expected one (the Add that ends the block)",
                    readers.len()
                ),
            ));
        };
        if closes(&graph.node[*reader], &tensor, consts) {
            let map = map.expect("a step was taken");
            return Ok(Projection { nodes, map, output: tensor, dims, add: *reader });
        }
        i = *reader;
    }
}

/// A dense layer as a sparse affine map.
fn sparse(layer: &FloatLayer) -> Affine {
    let n = layer.in_dim;
    Affine {
        in_dim: n,
        rows: (0..layer.out_dim)
            .map(|o| {
                let row = &layer.weights[o * n..(o + 1) * n];
                row.iter().enumerate().filter(|(_, w)| **w != 0.0).map(|(c, w)| (c, f64::from(*w))).collect()
            })
            .collect(),
        offset: layer.bias.iter().map(|b| f64::from(*b)).collect(),
    }
}

/// Closes `skip` at its `Add` or `Concat` node: the running tensor `current` (the block's output,
/// with dimensions `dims`) joined with the shortcut. The block's layers carry `x` (see the
/// module's docs); after an activation, `pending` becomes the join, composed into the next layer.
/// A `Concat` returns the joined tensor's dimensions.
#[allow(clippy::too_many_arguments)]
pub(super) fn close(
    skip: Skip,
    node: &NodeProto,
    current: &str,
    layers: &mut [FloatLayer],
    pending: &mut Option<Affine>,
    normalize: Option<&Normalize>,
    tail: Tail,
    dims: &[usize],
    at: &str,
) -> Result<Option<Vec<usize>>> {
    if normalize != skip.normalize.as_ref() {
        return Err(Error::graph(
            at,
            format!(
                "the residual block from the model input `{}` normalizes the input on one path only: only a \
                 normalization before the shortcut applies to both",
                skip.name
            ),
        ));
    }
    let ends = |name: &str| node.input.len() == 2 && node.input.iter().any(|n| n == name);
    if !(ends(current) && ends(&skip.shortcut)) {
        return Err(Error::graph(
            at,
            format!(
                "expected the {} that ends the residual block from `{}` to join `{}` and the block's output \
                 `{current}` (the graph must otherwise be a chain of layers)",
                node.op_type, skip.name, skip.shortcut
            ),
        ));
    }
    // An `Add` sums the shortcut into the block's outputs; a `Concat` (over channels, or the
    // features of a flat tensor) appends it to them, before or after.
    let concat = match node.op_type.as_str() {
        "Concat" => {
            let rank = dims.len() as i64;
            let axis = super::attr(node, "axis").map_or(i64::MAX, |a| a.i);
            let axis = if axis < 0 { axis + rank } else { axis };
            let same_but_axis = dims.len() == skip.dims.len()
                && dims.iter().zip(&skip.dims).enumerate().all(|(d, (a, b))| d == 1 || a == b);
            if axis != 1 || !same_but_axis {
                return Err(Error::graph(
                    at,
                    format!(
                        "a Concat of the block's output {dims:?} and its shortcut {:?} over axis {axis}: only over \
                         channels (axis 1) is supported",
                        skip.dims
                    ),
                ));
            }
            Some(node.input[0] == skip.shortcut)
        }
        _ if dims != skip.dims => {
            return Err(Error::graph(
                at,
                format!(
                    "the residual block's output has dimensions {dims:?} and its shortcut `{}` {:?}: an Add of \
                     tensors of different shapes (a broadcast) is not a residual connection",
                    skip.name, skip.dims
                ),
            ));
        }
        _ => None,
    };
    let k = skip.first;
    let Some(m) = layers.len().checked_sub(1).filter(|m| *m >= k) else {
        return Err(Error::graph(at, format!("the residual block from `{}` has no layer", skip.name)));
    };
    let n = skip.map.rows.len();
    let out = match tail {
        Tail::Linear => layers[m].out_dim,
        _ => pending.as_ref().map_or(layers[m].out_dim, |p| p.rows.len()),
    };
    let block: usize = dims.iter().product();
    if n != skip.dims.iter().product::<usize>() || out != block || layers[k].in_dim != skip.map.in_dim {
        return Err(Error::graph(
            at,
            format!("the residual block's output has {out} values and its shortcut `{}` {n}", skip.name),
        ));
    }
    let joined = concat.map(|_| {
        let mut next = dims.to_vec();
        next[1] += skip.dims[1];
        next
    });
    if concat.is_none() && n != out {
        return Err(Error::graph(
            at,
            format!("the residual block's output has {out} values and its shortcut `{}` {n}", skip.name),
        ));
    }
    if let (Some(first), Tail::Linear, true) = (concat, tail, m == k) {
        // One layer: the shortcut's map `P·u` becomes rows of its own.
        let rows: Vec<(Vec<(usize, f64)>, f64)> =
            skip.map.rows.iter().cloned().zip(skip.map.offset.iter().copied()).collect();
        add_rows(&mut layers[k], &rows, first, at)?;
        return Ok(joined);
    }
    if tail == Tail::Linear && m == k {
        // One layer: `W·u + b + P·u` is a layer of its own.
        let layer = &mut layers[k];
        for (i, row) in skip.map.rows.iter().enumerate() {
            for (j, c) in row {
                layer.weights[i * layer.in_dim + j] += *c as f32;
            }
            layer.bias[i] += skip.map.offset[i] as f32;
        }
        return Ok(None);
    }
    // The layers that carry `x` as units: the block's hidden layers, and its last one too when
    // the `Add` follows its activation.
    let carriers = if tail == Tail::Linear { k..m } else { k..m + 1 };
    if let Some(j) = carriers.clone().find(|j| {
        let l = &layers[*j];
        !l.relu || l.table.is_some() || l.exact || l.reach.is_some()
    }) {
        let f = layers[j].table.map_or("no ReLU", TableFunction::name);
        return Err(Error::graph(
            at,
            format!(
                "the residual block (or branch) from `{}` has a layer ({f}) that cannot carry the shortcut: only \
                 ReLU layers (or piecewise-linear activations) between its ends are supported, not a table, an exact \
                 or a max-pool layer",
                skip.name
            ),
        ));
    }
    let scale: Vec<f64> = (0..n)
        .map(|i| match tail {
            Tail::Linear if concat.is_none() => {
                let last = &layers[m];
                let row = &last.weights[i * last.in_dim..(i + 1) * last.in_dim];
                let w = row.iter().fold(0.0f64, |a, w| a.max(f64::from(w.abs())));
                if w > 0.0 {
                    w
                } else {
                    1.0
                }
            }
            _ => 1.0,
        })
        .collect();
    let signs: &[f64] = if skip.nonneg { &[1.0] } else { &[1.0, -1.0] };
    // Carried unit `t = s·n + i` holds `relu(sign_s · x_i / scale_i)`.
    let carried = n * signs.len();
    let unit = |t: usize| (signs[t / n], t % n);
    for j in carriers.clone() {
        let layer = &mut layers[j];
        let rows: Vec<(Vec<(usize, f64)>, f64)> = if j == k {
            (0..carried)
                .map(|t| {
                    let (sign, i) = unit(t);
                    let row = skip.map.rows[i].iter().map(|(c, v)| (*c, sign * v / scale[i])).collect();
                    (row, sign * skip.map.offset[i] / scale[i])
                })
                .collect()
        } else {
            add_columns(layer, carried, at)?;
            let base = layer.in_dim - carried;
            (0..carried).map(|t| (vec![(base + t, 1.0)], 0.0)).collect()
        };
        add_rows(layer, &rows, false, at)?;
    }
    // The shortcut read back from the carried units, which start at column (or output) `base`:
    // value `i` is `Σ_s scale_i · sign_s · unit(s·n + i)`.
    let base = match tail {
        Tail::Linear => layers[m].in_dim,
        _ => layers[m].out_dim - carried,
    };
    let back: Vec<(Vec<(usize, f64)>, f64)> =
        (0..n).map(|i| ((0..signs.len()).map(|sg| (base + sg * n + i, signs[sg] * scale[i])).collect(), 0.0)).collect();
    if tail == Tail::Linear {
        // The block's last layer reads the carried units back: into its outputs (an `Add`), or
        // as rows of their own (a `Concat`).
        let last = &mut layers[m];
        add_columns(last, carried, at)?;
        match concat {
            Some(first) => add_rows(last, &back, first, at)?,
            None => {
                for (i, (row, _)) in back.into_iter().enumerate() {
                    for (c, v) in row {
                        last.weights[i * last.in_dim + c] = v as f32;
                    }
                }
            }
        }
    } else {
        // After the activation: the join is a map of the last layer's outputs and carried
        // units, composed into the next layer.
        let mut map = pending.take().unwrap_or_else(|| identity(base));
        map.in_dim += carried;
        let (rows, offset): (Vec<_>, Vec<_>) = back.into_iter().unzip();
        match concat {
            Some(true) => {
                map.rows.splice(0..0, rows);
                map.offset.splice(0..0, offset);
            }
            Some(false) => {
                map.rows.extend(rows);
                map.offset.extend(offset);
            }
            None => map.rows.iter_mut().zip(rows).for_each(|(row, back)| row.extend(back)),
        }
        *pending = Some(map);
    }
    Ok(joined)
}

/// The identity map on `n` values.
fn identity(n: usize) -> Affine {
    selection(&(0..n).collect::<Vec<_>>())
}

/// The nodes from `from` on that read `tensor`.
fn readers(graph: &GraphProto, from: usize, tensor: &str) -> Vec<usize> {
    (from..graph.node.len()).filter(|i| graph.node[*i].input.iter().any(|n| n == tensor)).collect()
}

/// Appends `extra` input columns of zero weights to `layer`.
fn add_columns(layer: &mut FloatLayer, extra: usize, at: &str) -> Result<()> {
    let wide = layer.in_dim + extra;
    let mut weights = Vec::with_capacity(dense_len(layer.out_dim, wide, at)?);
    for row in layer.weights.chunks(layer.in_dim.max(1)).take(layer.out_dim) {
        weights.extend_from_slice(row);
        weights.resize(weights.len() + extra, 0.0);
    }
    layer.weights = weights;
    layer.in_dim = wide;
    Ok(())
}

/// Adds output rows `(sparse weights, bias)` to `layer`, before its rows or after them.
fn add_rows(layer: &mut FloatLayer, rows: &[(Vec<(usize, f64)>, f64)], first: bool, at: &str) -> Result<()> {
    let n = layer.in_dim;
    dense_len(layer.out_dim + rows.len(), n, at)?;
    let mut weights = vec![0f32; rows.len() * n];
    for (r, (row, _)) in rows.iter().enumerate() {
        for (c, v) in row {
            weights[r * n + c] = *v as f32;
        }
    }
    let bias = rows.iter().map(|(_, b)| *b as f32);
    if first {
        layer.weights.splice(0..0, weights);
        layer.bias.splice(0..0, bias);
    } else {
        layer.weights.extend(weights);
        layer.bias.extend(bias);
    }
    layer.out_dim += rows.len();
    Ok(())
}
