//! Shapes: the running tensor's dimensions, the shape computations that exporters write around
//! it (PyTorch's `x.view(x.size(0), -1)` is `Shape`, `Gather`, `Unsqueeze`, `Concat`, `Reshape`),
//! evaluated at import, and the layout changes (`Transpose`, `Pad`) that become linear maps.

use super::{
    attr, is_float_type, Affine, ConstData, Constant, NodeProto, Spatial, DATA_TYPE_INT32, DATA_TYPE_INT64, MAX_VALUES,
};
use crate::{Error, Result};

/// Operators evaluated at import when every input is a constant (or, for `Shape`, the running
/// tensor, whose dimensions are known).
pub(super) const FOLDED_OPS: &[&str] = &[
    "Shape",
    "Gather",
    "Unsqueeze",
    "Squeeze",
    "Concat",
    "Slice",
    "Cast",
    "Identity",
    "Reshape",
    "Transpose",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Expand",
    "ConstantOfShape",
    "Sqrt",
    "Reciprocal",
    "Neg",
    "Abs",
    "Exp",
    "Log",
];

/// Evaluates `node` at import when it computes on constants only: `Shape` of the running tensor
/// (its dimensions `running`, batch 1), of an `earlier` one or of a constant, and the integer and layout operators of
/// [`FOLDED_OPS`] on constants. `None` when the node reads a tensor that is not constant.
pub(super) fn fold(
    node: &NodeProto,
    consts: &std::collections::HashMap<String, Constant>,
    current: &str,
    running: &[usize],
    earlier: &std::collections::HashMap<String, Vec<usize>>,
    at: &str,
) -> Result<Option<Constant>> {
    let op = node.op_type.as_str();
    if !FOLDED_OPS.contains(&op) {
        return Ok(None);
    }
    if op == "Shape" {
        let Some(input) = node.input.first() else { return Err(Error::graph(at, "Shape without an input")) };
        let dims: Vec<usize> = if input == current {
            running.to_vec()
        } else if let Some(d) = earlier.get(input) {
            // An earlier running tensor (tf2onnx takes a flatten's shape before its transpose).
            d.clone()
        } else if let Some(c) = consts.get(input) {
            c.dims.clone()
        } else {
            return Ok(None);
        };
        // Opset 15's `start` and `end` take a slice of the dimensions.
        let n = dims.len() as i64;
        let clamp = |v: i64| (if v < 0 { v + n } else { v }).clamp(0, n) as usize;
        let start = attr(node, "start").map_or(0, |a| clamp(a.i));
        let end = attr(node, "end").map_or(dims.len(), |a| clamp(a.i));
        let values: Vec<i64> = dims[start..end.max(start)].iter().map(|d| *d as i64).collect();
        return Ok(Some(Constant { dims: vec![values.len()], data: ConstData::I64(values) }));
    }
    if op == "ConstantOfShape" {
        // A tensor of one value (default a float zero): an LSTM's initial state, say.
        let Some(shape) = node.input.first().and_then(|n| consts.get(n)) else { return Ok(None) };
        let dims = shape_dims(shape, op, at)?;
        let value = match attr(node, "value").and_then(|a| a.t.as_ref()) {
            None => Constant { dims: vec![1], data: ConstData::F32(vec![0.0]) },
            Some(t) => Constant::from_proto(t, at)?,
        };
        if value.count() != 1 {
            return Err(Error::graph(at, "ConstantOfShape's value must be one element"));
        }
        let n = count_of(&dims, at)?;
        return Ok(Some(Constant { dims, data: value.data.select(std::iter::repeat_n(0, n)) }));
    }
    let inputs: Option<Vec<&Constant>> = node.input.iter().filter(|n| !n.is_empty()).map(|n| consts.get(n)).collect();
    let Some(inputs) = inputs else { return Ok(None) };
    let Some(first) = inputs.first() else { return Err(Error::graph(at, format!("{op} without an input"))) };
    let ints = |c: &Constant| -> Result<Vec<i64>> {
        match &c.data {
            ConstData::I64(v) => Ok(v.clone()),
            ConstData::F32(_) => Err(Error::graph(at, format!("{op}: expected an integer tensor"))),
        }
    };
    // Axes come as the second input from opset 13 (Unsqueeze, Squeeze) or as an attribute.
    let axes = || -> Result<Option<Vec<i64>>> {
        match inputs.get(1) {
            Some(c) => Ok(Some(ints(c)?)),
            None => Ok(attr(node, "axes").map(|a| a.ints.clone())),
        }
    };
    let folded = match op {
        "Identity" => (*first).clone(),
        "Cast" => {
            let to = attr(node, "to").map_or(0, |a| a.i as i32);
            let data = match (&first.data, to) {
                (ConstData::I64(v), t) if is_float_type(t) => ConstData::F32(v.iter().map(|x| *x as f32).collect()),
                // tf2onnx computes shapes in int32 (6) and casts back to int64 (7).
                (ConstData::F32(v), DATA_TYPE_INT64 | DATA_TYPE_INT32) => {
                    ConstData::I64(v.iter().map(|x| *x as i64).collect())
                }
                (d, t) if is_float_type(t) || t == DATA_TYPE_INT64 || t == DATA_TYPE_INT32 => d.clone(),
                (_, other) => return Err(Error::graph(at, format!("Cast of a constant to type {other}"))),
            };
            Constant { dims: first.dims.clone(), data }
        }
        "Unsqueeze" => {
            let axes = axes()?.ok_or_else(|| Error::graph(at, "Unsqueeze without axes"))?;
            Constant { dims: unsqueezed(&first.dims, &axes, at)?, data: first.data.clone() }
        }
        "Squeeze" => Constant { dims: squeezed(&first.dims, axes()?.as_deref(), at)?, data: first.data.clone() },
        "Reshape" => {
            let shape = ints(inputs.get(1).ok_or_else(|| Error::graph(at, "Reshape without a shape"))?)?;
            Constant { dims: reshaped(&shape, &first.dims, at)?, data: first.data.clone() }
        }
        "Concat" => {
            let axis = attr(node, "axis").map_or(0, |a| a.i);
            if inputs.iter().any(|c| c.dims.len() != 1) || !(axis == 0 || axis == -1) {
                return Err(Error::graph(at, "Concat of constants: only 1-D tensors are supported"));
            }
            let data = match &first.data {
                ConstData::I64(_) => {
                    ConstData::I64(inputs.iter().map(|c| ints(c)).collect::<Result<Vec<_>>>()?.concat())
                }
                ConstData::F32(_) => ConstData::F32(
                    inputs.iter().map(|c| c.floats(at).map(<[f32]>::to_vec)).collect::<Result<Vec<_>>>()?.concat(),
                ),
            };
            let n = inputs.iter().map(|c| c.count()).sum();
            Constant { dims: vec![n], data }
        }
        "Gather" => {
            let axis = attr(node, "axis").map_or(0, |a| a.i);
            let indices = inputs.get(1).ok_or_else(|| Error::graph(at, "Gather without indices"))?;
            if first.dims.len() != 1 || axis != 0 {
                return Err(Error::graph(at, "Gather of a constant: only from a 1-D tensor"));
            }
            let picked = gather_indices(&ints(indices)?, first.dims[0], at)?;
            Constant { dims: indices.dims.clone(), data: first.data.select(picked) }
        }
        "Slice" => {
            let (starts, ends) = match (inputs.get(1), inputs.get(2)) {
                (Some(s), Some(e)) => (ints(s)?, ints(e)?),
                _ => (
                    attr(node, "starts").map(|a| a.ints.clone()).unwrap_or_default(),
                    attr(node, "ends").map(|a| a.ints.clone()).unwrap_or_default(),
                ),
            };
            let axes = inputs.get(3).map(|c| ints(c)).transpose()?.unwrap_or_else(|| vec![0]);
            let steps = inputs.get(4).map(|c| ints(c)).transpose()?.unwrap_or_else(|| vec![1]);
            if first.dims.len() != 1 || starts.len() != 1 || ends.len() != 1 || axes != [0] && axes != [-1] {
                return Err(Error::graph(at, "Slice of a constant: only one axis of a 1-D tensor"));
            }
            if steps != [1] {
                return Err(Error::graph(at, "Slice of a constant: only step 1"));
            }
            let n = first.dims[0] as i64;
            let clamp = |v: i64| (if v < 0 { v + n } else { v }).clamp(0, n) as usize;
            let (s, e) = (clamp(starts[0]), clamp(ends[0]).max(clamp(starts[0])));
            Constant { dims: vec![e - s], data: first.data.select(s..e) }
        }
        "Transpose" => {
            let perm = permutation(node, first.dims.len(), at)?;
            let (dims, map) = transposed(&first.dims, &perm);
            Constant { dims, data: first.data.select(map) }
        }
        "Add" | "Sub" | "Mul" | "Div" => {
            // Arithmetic on constants: a shape's integers (ONNX's truncating division), or floats
            // an exporter left unfolded. One value broadcasts over the other's.
            let [a, b] = inputs.as_slice() else { return Err(Error::graph(at, format!("{op} takes two inputs"))) };
            let n = a.count().max(b.count());
            if ![a.count(), b.count()].iter().all(|c| *c == n || *c == 1) {
                return Err(Error::graph(at, format!("{op} of constants: {} and {} values", a.count(), b.count())));
            }
            let pick = |c: &Constant, i: usize| if c.count() == 1 { 0 } else { i };
            let data = match (&a.data, &b.data) {
                (ConstData::I64(x), ConstData::I64(y)) => ConstData::I64(
                    (0..n)
                        .map(|i| {
                            let (x, y) = (x[pick(a, i)], y[pick(b, i)]);
                            match op {
                                "Add" => x.checked_add(y),
                                "Sub" => x.checked_sub(y),
                                "Mul" => x.checked_mul(y),
                                _ => x.checked_div(y),
                            }
                            .ok_or_else(|| {
                                Error::graph(at, format!("{op} of constants {x} and {y} overflows or divides by zero"))
                            })
                        })
                        .collect::<Result<_>>()?,
                ),
                (ConstData::F32(x), ConstData::F32(y)) => ConstData::F32(
                    (0..n)
                        .map(|i| {
                            let (x, y) = (x[pick(a, i)], y[pick(b, i)]);
                            match op {
                                "Add" => x + y,
                                "Sub" => x - y,
                                "Mul" => x * y,
                                _ => x / y,
                            }
                        })
                        .collect(),
                ),
                _ => return Err(Error::graph(at, format!("{op} of an integer and a float constant"))),
            };
            let dims = if a.count() >= b.count() { a.dims.clone() } else { b.dims.clone() };
            Constant { dims, data }
        }
        "Sqrt" | "Reciprocal" | "Neg" | "Abs" | "Exp" | "Log" => {
            // Elementwise on a float constant (a whitened PCA divides by the root of its
            // explained variances).
            let f = |x: f32| match op {
                "Sqrt" => x.sqrt(),
                "Reciprocal" => x.recip(),
                "Neg" => -x,
                "Abs" => x.abs(),
                "Exp" => x.exp(),
                _ => x.ln(),
            };
            let values: Vec<f32> = first.floats(at)?.iter().map(|x| f(*x)).collect();
            if let Some(x) = first.floats(at)?.iter().find(|x| !f(**x).is_finite()) {
                return Err(Error::graph(at, format!("{op} of the constant {x} is not a finite number")));
            }
            Constant { dims: first.dims.clone(), data: ConstData::F32(values) }
        }
        "Expand" => {
            // numpy broadcasting of the constant to the shape (or the shape to it).
            let shape = shape_dims(inputs.get(1).ok_or_else(|| Error::graph(at, "Expand without a shape"))?, op, at)?;
            let rank = shape.len().max(first.dims.len());
            let pad = |d: &[usize]| std::iter::repeat_n(1, rank - d.len()).chain(d.iter().copied()).collect::<Vec<_>>();
            let (from, to) = (pad(&first.dims), pad(&shape));
            let dims = from
                .iter()
                .zip(&to)
                .map(|(a, b)| match (*a, *b) {
                    (a, b) if a == b || b == 1 => Ok(a),
                    (1, b) => Ok(b),
                    (a, b) => Err(Error::graph(at, format!("Expand: dimension {a} does not broadcast to {b}"))),
                })
                .collect::<Result<Vec<_>>>()?;
            let n = count_of(&dims, at)?;
            let source = strides(&from);
            let mut index = vec![0; rank];
            let mut picked = Vec::with_capacity(n);
            for _ in 0..n {
                picked.push(
                    index.iter().zip(&from).zip(&source).map(|((i, d), s)| if *d == 1 { 0 } else { i * s }).sum(),
                );
                next_index(&mut index, &dims);
            }
            Constant { dims, data: first.data.select(picked) }
        }
        _ => unreachable!("in FOLDED_OPS"),
    };
    Ok(Some(folded))
}

/// A shape input's dimensions (non-negative integers).
fn shape_dims(shape: &Constant, op: &str, at: &str) -> Result<Vec<usize>> {
    match &shape.data {
        ConstData::I64(v) if shape.dims.len() == 1 => v
            .iter()
            .map(|d| usize::try_from(*d).map_err(|_| Error::graph(at, format!("{op}: negative dimension {d}"))))
            .collect(),
        _ => Err(Error::graph(at, format!("{op}'s shape must be a 1-D integer tensor"))),
    }
}

/// The number of values of `dims`, at most [`MAX_VALUES`].
fn count_of(dims: &[usize], at: &str) -> Result<usize> {
    values_in(dims)
        .ok_or_else(|| Error::graph(at, format!("a constant of dims {dims:?}: more than {MAX_VALUES} values")))
}

/// The number of values of a tensor of `dims`, if at most [`MAX_VALUES`].
pub(super) fn values_in(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |n, d| n.checked_mul(*d)).filter(|n| *n <= MAX_VALUES)
}

/// `Transpose`'s `perm` (default: the dimensions reversed), checked to be a permutation.
pub(super) fn permutation(node: &NodeProto, rank: usize, at: &str) -> Result<Vec<usize>> {
    let perm: Vec<usize> = match attr(node, "perm") {
        Some(a) => a.ints.iter().map(|p| usize::try_from(*p).unwrap_or(usize::MAX)).collect(),
        None => (0..rank).rev().collect(),
    };
    let mut seen = vec![false; rank];
    for p in &perm {
        match seen.get_mut(*p) {
            Some(s) if !*s => *s = true,
            _ => return Err(Error::graph(at, format!("`perm` {perm:?} is not a permutation of {rank} dimensions"))),
        }
    }
    if perm.len() != rank {
        return Err(Error::graph(at, format!("`perm` {perm:?} is not a permutation of {rank} dimensions")));
    }
    Ok(perm)
}

/// The dimensions after transposing `dims` by `perm`, and for each output element (row-major)
/// the input element it takes.
pub(super) fn transposed(dims: &[usize], perm: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let out: Vec<usize> = perm.iter().map(|p| dims[*p]).collect();
    let strides = strides(dims);
    let total: usize = dims.iter().product();
    let mut source = Vec::with_capacity(total);
    let mut index = vec![0usize; out.len()];
    for _ in 0..total {
        source.push(index.iter().zip(perm).map(|(i, p)| i * strides[*p]).sum());
        next_index(&mut index, &out);
    }
    (out, source)
}

/// `ReduceMean` (or `ReduceSum`, `op`) over `axes` of a tensor of `dims` (batch 1) as a linear
/// map: each output the average (or the sum) of the values it reduces. Returns the map and the output's dimensions (`keep`: the
/// reduced axes stay, of size 1). The batch axis cannot be reduced, nor can all axes by default.
pub(super) fn mean_over(op: &str, dims: &[usize], axes: &[i64], keep: bool, at: &str) -> Result<(Affine, Vec<usize>)> {
    let rank = dims.len() as i64;
    if axes.is_empty() {
        return Err(Error::graph(at, format!("{op} without axes reduces the batch axis too")));
    }
    let mut reduced = vec![false; dims.len()];
    for a in axes {
        let axis = if *a < 0 { a + rank } else { *a };
        if !(1..rank).contains(&axis) {
            return Err(Error::graph(
                at,
                format!("{op} over axis {a} of a rank-{rank} tensor (only axes after the batch axis)"),
            ));
        }
        reduced[axis as usize] = true;
    }
    let kept: Vec<usize> = dims.iter().zip(&reduced).map(|(d, r)| if *r { 1 } else { *d }).collect();
    let count: usize = dims.iter().zip(&reduced).filter(|(_, r)| **r).map(|(d, _)| d).product();
    let (width, out): (usize, usize) = (dims.iter().product(), kept.iter().product());
    let mut rows = vec![Vec::new(); out];
    let mut index = vec![0usize; dims.len()];
    let kept_strides = strides(&kept);
    for i in 0..width {
        let o: usize =
            index.iter().zip(&reduced).zip(&kept_strides).map(|((x, r), s)| if *r { 0 } else { x * s }).sum();
        // A mean, or a sum (`ReduceSum`).
        rows[o].push((i, if op == "ReduceSum" { 1.0 } else { 1.0 / count.max(1) as f64 }));
        next_index(&mut index, dims);
    }
    let next = if keep { kept } else { dims.iter().zip(&reduced).filter(|(_, r)| !**r).map(|(d, _)| *d).collect() };
    Ok((Affine { in_dim: width, rows, offset: vec![0.0; out] }, next))
}

/// Steps a row-major index over `dims` (last dimension fastest; wraps to zero at the end).
pub(super) fn next_index(index: &mut [usize], dims: &[usize]) {
    for d in (0..dims.len()).rev() {
        index[d] += 1;
        if index[d] < dims[d] {
            return;
        }
        index[d] = 0;
    }
}

fn strides(dims: &[usize]) -> Vec<usize> {
    let mut strides = vec![1usize; dims.len()];
    for d in (0..dims.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * dims[d + 1];
    }
    strides
}

/// A permutation of the running tensor's elements as a linear map.
pub(super) fn selection(source: &[usize]) -> Affine {
    Affine {
        in_dim: source.len(),
        rows: source.iter().map(|i| vec![(*i, 1.0)]).collect(),
        offset: vec![0.0; source.len()],
    }
}

/// `Pad` of the running tensor (`dims`, batch 1) as an affine map: `pads` is ONNX's
/// `[x1_begin, x2_begin, …, x1_end, x2_end, …]` (negative crops), `mode` `constant` (with
/// `value`), `edge` or `reflect`. Returns the padded dimensions and the map.
pub(super) fn pad(dims: &[usize], pads: &[i64], mode: &str, value: f64, at: &str) -> Result<(Vec<usize>, Affine)> {
    let rank = dims.len();
    if pads.len() != 2 * rank {
        return Err(Error::graph(
            at,
            format!("expected {} pads for a {rank}-D tensor, found {}", 2 * rank, pads.len()),
        ));
    }
    if pads[0] != 0 || pads[rank] != 0 {
        return Err(Error::graph(at, "Pad of the batch dimension is not supported"));
    }
    let out = dims
        .iter()
        .enumerate()
        .map(|(d, n)| {
            let m = (*n as i64).checked_add(pads[d]).and_then(|m| m.checked_add(pads[rank + d]));
            m.and_then(|m| usize::try_from(m).ok())
                .filter(|m| *m > 0)
                .ok_or_else(|| Error::graph(at, format!("Pad leaves dimension {d} empty or out of range")))
        })
        .collect::<Result<Vec<usize>>>()?;
    if values_in(&out).is_none() {
        return Err(Error::graph(at, format!("Pad to {out:?}: more than {MAX_VALUES} values")));
    }
    if mode == "reflect" && dims.iter().enumerate().any(|(d, n)| pads[d] >= *n as i64 || pads[rank + d] >= *n as i64) {
        return Err(Error::graph(at, "Pad in reflect mode by as much as the dimension"));
    }
    if !matches!(mode, "constant" | "edge" | "reflect") {
        return Err(Error::graph(at, format!("Pad mode `{mode}` is not supported (constant, edge, reflect)")));
    }
    let strides = strides(dims);
    let total: usize = out.iter().product();
    let (mut rows, mut offset) = (Vec::with_capacity(total), Vec::with_capacity(total));
    let mut index = vec![0usize; rank];
    for _ in 0..total {
        let mut source = Some(0usize);
        for d in 0..rank {
            let n = dims[d] as i64;
            let mut i = index[d] as i64 - pads[d];
            if !(0..n).contains(&i) {
                i = match mode {
                    "edge" => i.clamp(0, n - 1),
                    "reflect" if i < 0 => -i,
                    "reflect" => 2 * (n - 1) - i,
                    _ => {
                        source = None;
                        break;
                    }
                };
            }
            source = source.map(|s| s + i as usize * strides[d]);
        }
        match source {
            Some(s) => {
                rows.push(vec![(s, 1.0)]);
                offset.push(0.0);
            }
            None => {
                rows.push(Vec::new());
                offset.push(value);
            }
        }
        next_index(&mut index, &out);
    }
    Ok((out, Affine { in_dim: dims.iter().product(), rows, offset }))
}

/// `Unsqueeze`: ones inserted at `axes` (of the output's rank).
pub(super) fn unsqueezed(dims: &[usize], axes: &[i64], at: &str) -> Result<Vec<usize>> {
    let rank = (dims.len() + axes.len()) as i64;
    let mut axes: Vec<usize> = axes
        .iter()
        .map(|a| {
            let a = if *a < 0 { a + rank } else { *a };
            (0..rank).contains(&a).then_some(a as usize).ok_or_else(|| Error::graph(at, format!("Unsqueeze axis {a}")))
        })
        .collect::<Result<_>>()?;
    axes.sort_unstable();
    let mut out = dims.to_vec();
    for a in axes {
        out.insert(a.min(out.len()), 1);
    }
    Ok(out)
}

/// `Squeeze`: the ones at `axes` removed (every one when absent).
pub(super) fn squeezed(dims: &[usize], axes: Option<&[i64]>, at: &str) -> Result<Vec<usize>> {
    let rank = dims.len() as i64;
    let drop: Vec<usize> = match axes {
        None => (0..dims.len()).filter(|d| dims[*d] == 1).collect(),
        Some(axes) => axes
            .iter()
            .map(|a| {
                let a = if *a < 0 { a + rank } else { *a };
                (0..rank).contains(&a).then_some(a as usize).filter(|a| dims[*a] == 1).ok_or_else(|| {
                    Error::graph(at, format!("Squeeze axis {a} is not a dimension of size 1 of {dims:?}"))
                })
            })
            .collect::<Result<_>>()?,
    };
    Ok(dims.iter().enumerate().filter(|(d, _)| !drop.contains(d)).map(|(_, n)| *n).collect())
}

/// `Reshape`'s target (`0` copies the dimension, `-1` is inferred) for a tensor of `dims`.
pub(super) fn reshaped(shape: &[i64], dims: &[usize], at: &str) -> Result<Vec<usize>> {
    let total: usize = dims.iter().product();
    let mut out = Vec::with_capacity(shape.len());
    let mut inferred = None;
    for (i, d) in shape.iter().enumerate() {
        match *d {
            -1 if inferred.is_none() => {
                inferred = Some(i);
                out.push(1);
            }
            0 => out.push(
                *dims.get(i).ok_or_else(|| Error::graph(at, format!("Reshape copies dimension {i} of {dims:?}")))?,
            ),
            d if d > 0 => out.push(d as usize),
            d => return Err(Error::graph(at, format!("invalid reshape dimension {d} in {shape:?}"))),
        }
    }
    let product = |v: &[usize]| v.iter().try_fold(1usize, |n, d| n.checked_mul(*d));
    let known = product(&out).ok_or_else(|| Error::graph(at, format!("cannot reshape {dims:?} to {shape:?}")))?;
    if let Some(i) = inferred {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(Error::graph(at, format!("cannot reshape {dims:?} to {shape:?}")));
        }
        out[i] = total / known;
    }
    if product(&out) != Some(total) {
        return Err(Error::graph(at, format!("cannot reshape {dims:?} ({total} values) to {shape:?}")));
    }
    Ok(out)
}

/// The integers of input `i` of `node`, a constant; `None` when the input is absent.
fn int_input(
    node: &NodeProto,
    i: usize,
    consts: &std::collections::HashMap<String, Constant>,
    at: &str,
) -> Result<Option<Vec<i64>>> {
    let Some(name) = node.input.get(i).filter(|n| !n.is_empty()) else { return Ok(None) };
    match consts.get(name).map(|c| &c.data) {
        Some(ConstData::I64(v)) => Ok(Some(v.clone())),
        Some(ConstData::F32(_)) => Err(Error::graph(at, format!("{}'s input {i} must be integers", node.op_type))),
        None => Err(Error::graph(at, format!("{}'s input `{name}` must be a constant", node.op_type))),
    }
}

/// The source index, in a tensor of `dims`, of each output of a selection that keeps, on each
/// axis, the listed indices (`kept[d]`): the output is the product of the kept lists.
fn select(dims: &[usize], kept: &[Vec<usize>], at: &str) -> Result<(Affine, Vec<usize>)> {
    let next: Vec<usize> = kept.iter().map(Vec::len).collect();
    let Some(out) = values_in(&next) else {
        return Err(Error::graph(at, format!("a selection of dims {next:?} is too large")));
    };
    let stride = strides(dims);
    let mut source = Vec::with_capacity(out);
    let mut index = vec![0usize; next.len()];
    for _ in 0..out {
        source.push(index.iter().enumerate().map(|(d, o)| kept[d][*o] * stride[d]).sum());
        next_index(&mut index, &next);
    }
    Ok((selection_of(source, dims.iter().product()), next))
}

/// `Tile` of the running tensor (dimensions `dims`, batch 1; `repeats` a constant, one an axis,
/// the batch's 1): a selection that repeats each axis, and the output's dimensions. Keras'
/// `UpSampling2D` over NHWC is an `Unsqueeze`, a `Tile` and a `Reshape`, twice.
pub(super) fn tile_running(
    node: &NodeProto,
    consts: &std::collections::HashMap<String, Constant>,
    dims: &[usize],
    at: &str,
) -> Result<(Affine, Vec<usize>)> {
    let repeats = int_input(node, 1, consts, at)?
        .ok_or_else(|| Error::graph(at, "Tile of the running tensor needs its repeats as a constant"))?;
    if repeats.len() != dims.len() {
        return Err(Error::graph(at, format!("Tile: {} repeats for a rank-{} tensor", repeats.len(), dims.len())));
    }
    if repeats.first() != Some(&1) {
        return Err(Error::graph(at, "Tile over the batch axis is not supported"));
    }
    let kept = dims
        .iter()
        .zip(&repeats)
        .map(|(d, r)| {
            let n = usize::try_from(*r).ok().filter(|r| *r >= 1).and_then(|r| r.checked_mul(*d));
            let n = n.filter(|n| *n <= MAX_VALUES).ok_or_else(|| Error::graph(at, format!("Tile: a repeat of {r}")))?;
            Ok((0..n).map(|o| o % d).collect())
        })
        .collect::<Result<Vec<Vec<usize>>>>()?;
    select(dims, &kept, at)
}

/// `DepthToSpace` (PyTorch's `PixelShuffle`; `DCR` or `CRD` mode) or `SpaceToDepth` of a `[N, C,
/// H, W]` running tensor with `blocksize` b: a permutation of its values, and the output's
/// dimensions.
pub(super) fn depth_to_space(node: &NodeProto, dims: &[usize], at: &str) -> Result<(Affine, Vec<usize>)> {
    let op = node.op_type.as_str();
    let &[1, c, h, w] = dims else {
        return Err(Error::graph(at, format!("{op} needs a [N, C, H, W] tensor, found dims {dims:?}")));
    };
    let b = attr(node, "blocksize").and_then(|a| usize::try_from(a.i).ok()).filter(|b| (1..=1 << 12).contains(b));
    let Some(b) = b else { return Err(Error::graph(at, format!("{op} needs a positive blocksize"))) };
    let mode = attr(node, "mode").map_or_else(|| "DCR".to_string(), |a| String::from_utf8_lossy(&a.s).into_owned());
    let input = Spatial { c, h, w };
    let mut source = Vec::with_capacity(c * h * w);
    if op == "DepthToSpace" {
        if c % (b * b) != 0 || !(mode == "DCR" || mode == "CRD") {
            return Err(Error::graph(at, format!("DepthToSpace of {c} channels by blocks of {b} in mode `{mode}`")));
        }
        let oc = c / (b * b);
        for o in 0..oc {
            for y in 0..h * b {
                for x in 0..w * b {
                    let (by, bx) = (y % b, x % b);
                    // DCR: the block offset is the channel's high part; CRD: its low part.
                    let ci = if mode == "DCR" { (by * b + bx) * oc + o } else { (o * b + by) * b + bx };
                    source.push(input.index(ci, y / b, x / b));
                }
            }
        }
        return Ok((selection_of(source, c * h * w), vec![1, oc, h * b, w * b]));
    }
    if h % b != 0 || w % b != 0 {
        return Err(Error::graph(at, format!("SpaceToDepth of a {h}x{w} tensor by blocks of {b}")));
    }
    let (oh, ow) = (h / b, w / b);
    for o in 0..c * b * b {
        // The channel's high part is the block offset (the inverse of DepthToSpace's DCR).
        let (offset, ci) = (o / c, o % c);
        for y in 0..oh {
            for x in 0..ow {
                source.push(input.index(ci, y * b + offset / b, x * b + offset % b));
            }
        }
    }
    Ok((selection_of(source, c * h * w), vec![1, c * b * b, oh, ow]))
}

/// [`selection`] of a tensor of `in_dim` values.
pub(super) fn selection_of(source: Vec<usize>, in_dim: usize) -> Affine {
    let mut map = selection(&source);
    map.in_dim = in_dim;
    map
}

/// `Slice` of the running tensor (dimensions `dims`, batch 1; `starts`, `ends`, `axes` and
/// `steps` constants, as numpy slices them): a selection, and the output's dimensions. The batch
/// axis must be kept whole.
pub(super) fn slice_running(
    node: &NodeProto,
    consts: &std::collections::HashMap<String, Constant>,
    dims: &[usize],
    at: &str,
) -> Result<(Affine, Vec<usize>)> {
    let missing = || Error::graph(at, "Slice of the running tensor needs its starts and ends as constants");
    let starts = int_input(node, 1, consts, at)?.ok_or_else(missing)?;
    let ends = int_input(node, 2, consts, at)?.ok_or_else(missing)?;
    let rank = dims.len() as i64;
    let axes = int_input(node, 3, consts, at)?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = int_input(node, 4, consts, at)?.unwrap_or_else(|| vec![1; starts.len()]);
    if [ends.len(), axes.len(), steps.len()].iter().any(|l| *l != starts.len()) {
        return Err(Error::graph(at, "Slice's starts, ends, axes and steps must have one value an axis"));
    }
    let mut kept: Vec<Vec<usize>> = dims.iter().map(|d| (0..*d).collect()).collect();
    for k in 0..starts.len() {
        let axis = if axes[k] < 0 { axes[k] + rank } else { axes[k] };
        if !(0..rank).contains(&axis) {
            return Err(Error::graph(at, format!("Slice over axis {} of a rank-{rank} tensor", axes[k])));
        }
        let n = dims[axis as usize] as i64;
        let step = steps[k];
        let at_axis = |v: i64| if v < 0 { v.saturating_add(n) } else { v };
        let picked: Vec<usize> = match step {
            0 => return Err(Error::graph(at, "Slice with a step of 0")),
            s if s > 0 => {
                let (a, b) = (at_axis(starts[k]).clamp(0, n), at_axis(ends[k]).clamp(0, n));
                (a..b).step_by(s.unsigned_abs().min(n.max(1) as u64) as usize).map(|i| i as usize).collect()
            }
            s => {
                let (a, b) = (at_axis(starts[k]).clamp(-1, n - 1), at_axis(ends[k]).clamp(-1, n - 1));
                let mut v = Vec::new();
                let mut i = a;
                while i > b {
                    v.push(i as usize);
                    i = i.saturating_add(s);
                }
                v
            }
        };
        if axis == 0 && picked != [0] {
            return Err(Error::graph(at, "Slice over the batch axis is not supported"));
        }
        kept[axis as usize] = picked;
    }
    select(dims, &kept, at)
}

/// `Gather` of constant indices from the running tensor (dimensions `dims`, batch 1) along an
/// axis after the batch's: a selection (numpy's `x[:, indices]`), and the output's dimensions.
pub(super) fn gather_running(
    node: &NodeProto,
    consts: &std::collections::HashMap<String, Constant>,
    dims: &[usize],
    at: &str,
) -> Result<(Affine, Vec<usize>)> {
    let rank = dims.len() as i64;
    let axis = attr(node, "axis").map_or(0, |a| a.i);
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(1..rank).contains(&axis) {
        return Err(Error::graph(
            at,
            format!("Gather along axis {axis} of a rank-{rank} tensor (only after the batch axis)"),
        ));
    }
    let name = node.input.get(1).ok_or_else(|| Error::graph(at, "Gather without indices"))?;
    let indices =
        consts.get(name).ok_or_else(|| Error::graph(at, format!("Gather's indices `{name}` must be a constant")))?;
    let ConstData::I64(values) = &indices.data else {
        return Err(Error::graph(at, "Gather's indices must be integers"));
    };
    let axis = axis as usize;
    let picked = gather_indices(values, dims[axis], at)?;
    // Gathered along `axis`, then the indices' own dimensions in its place.
    let mut kept: Vec<Vec<usize>> = dims.iter().map(|d| (0..*d).collect()).collect();
    kept[axis] = picked;
    let (map, _) = select(dims, &kept, at)?;
    let mut next = dims[..axis].to_vec();
    next.extend(&indices.dims);
    next.extend(&dims[axis + 1..]);
    Ok((map, next))
}

/// `Gather`'s indices into `n` values (negative ones from the end), each checked in range.
pub(super) fn gather_indices(indices: &[i64], n: usize, at: &str) -> Result<Vec<usize>> {
    let n = n as i64;
    indices
        .iter()
        .map(|i| {
            let j = if *i < 0 { i + n } else { *i };
            (0..n)
                .contains(&j)
                .then_some(j as usize)
                .ok_or_else(|| Error::graph(at, format!("Gather index {i} out of range for {n} values")))
        })
        .collect()
}
