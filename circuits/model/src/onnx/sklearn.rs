//! What skl2onnx writes around scikit-learn's linear models, beyond `LinearRegressor` and
//! `LinearClassifier`: a binary classifier's two-class output written out as nodes (`[-s, s]` of
//! its score, `[1 − p, p]` of its probability), feature selection (`ArrayFeatureExtractor` of
//! the input's columns), a `ColumnTransformer`, and support vector machines with a linear kernel.

use std::collections::HashMap;

use super::{attr, elementwise::scalar, shape, Affine, ConstData, Constant, GraphProto, NodeProto};
use crate::{float::FloatLayer, Error, Result};

/// The index of the `Concat` that ends a binary classifier's two-class output of `s`, when the
/// node at `first` starts it: `Mul(s, -1)` or `Neg(s)` then `Concat([-s, s])` (skl2onnx's
/// `SGDClassifier`, `LinearSVC`, `Perceptron`: scores), or, with `complement` 1, `Sub(1, s)` then
/// `Concat([1 - s, s])` (a binary `MLPClassifier`: probabilities). Both orders of the class
/// columns are the two outputs `[-s, s]` as the importer writes them: their argmax is the same.
pub(super) fn two_class(
    graph: &GraphProto,
    first: usize,
    s: &str,
    consts: &HashMap<String, Constant>,
    complement: f64,
) -> Option<usize> {
    let (negate, concat) = (graph.node.get(first)?, graph.node.get(first + 1)?);
    let is = |name: &String, value: f64| consts.get(name).and_then(scalar) == Some(value);
    let negates = match (negate.op_type.as_str(), negate.input.as_slice()) {
        ("Neg", [x]) => complement == 0.0 && x == s,
        ("Mul", [a, b]) => complement == 0.0 && ((a == s && is(b, -1.0)) || (b == s && is(a, -1.0))),
        ("Sub", [c, x]) => x == s && is(c, complement),
        _ => false,
    };
    let axis = attr(concat, "axis").map_or(0, |a| a.i);
    let joins = concat.op_type == "Concat"
        && (axis == 1 || axis == -1)
        && matches!(concat.input.as_slice(), [a, b] if Some(a) == negate.output.first() && b == s);
    (negates && joins && (negate.domain.is_empty() && concat.domain.is_empty())).then_some(first + 1)
}

/// `ArrayFeatureExtractor` of the running tensor (flat, `width` values) at constant column
/// indices: scikit-learn's feature selection (`SelectKBest`, `VarianceThreshold`), a selection.
pub(super) fn feature_extractor(
    node: &NodeProto,
    consts: &HashMap<String, Constant>,
    width: usize,
    at: &str,
) -> Result<Affine> {
    let indices = node
        .input
        .get(1)
        .and_then(|name| consts.get(name))
        .ok_or_else(|| Error::graph(at, "ArrayFeatureExtractor of the running tensor needs constant indices"))?;
    let ConstData::I64(values) = &indices.data else {
        return Err(Error::graph(at, "ArrayFeatureExtractor's indices must be integers"));
    };
    let picked = shape::gather_indices(values, width, at)?;
    Ok(shape::selection_of(picked, width))
}

/// The dense layer of an `SVMRegressor` with a linear kernel: `Σ_j c_j ⟨v_j, x⟩ + ρ` is the one
/// row `Σ_j c_j v_j` with bias `ρ`.
pub(super) fn svm_regressor(node: &NodeProto, width: usize, at: &str) -> Result<FloatLayer> {
    if attr(node, "one_class").is_some_and(|a| a.i != 0) {
        return Err(svm_refused(node, at, "a one-class SVM's output is the sign of its score, a comparison"));
    }
    let (row, rho) = linear_svm(node, width, at)?;
    Ok(one_row(row, rho))
}

/// The one-score layer of a binary `SVMClassifier` with a linear kernel: onnxruntime's class-1
/// score is `-(Σ_j c_j ⟨v_j, x⟩ + ρ)` (scikit-learn's `decision_function`), the class 1 when it is
/// positive; one of three or more classes is its pairwise votes ([`svm_votes`]). Platt scaling
/// (`probability=True`) moves the decision and is refused.
pub(super) fn svm_classifier(node: &NodeProto, width: usize, at: &str) -> Result<Vec<FloatLayer>> {
    let labels = crate::trees::class_labels(node, at)?;
    if attr(node, "prob_a").is_some_and(|a| !a.floats.is_empty()) {
        return Err(svm_refused(node, at, "probability=True: Platt scaling moves the decision"));
    }
    if labels > 2 {
        return svm_votes(node, width, labels, at);
    }
    let (row, rho) = linear_svm(node, width, at)?;
    let mut layer = one_row(row.iter().map(|w| -w).collect(), -rho);
    super::score_pair(&mut layer);
    Ok(vec![layer])
}

/// An SVM classifier of `classes ≥ 3` classes (libsvm's one-against-one, as the ONNX operator
/// defines it): for each pair `i < j` the decision `s_ij = ρ_ij + Σ_{v ∈ i} c_{j−1,v}⟨v, x⟩ +
/// Σ_{v ∈ j} c_{i,v}⟨v, x⟩` votes for `i` when positive and for `j` otherwise, and the label is
/// the first class with the most votes. With a linear kernel each decision is one dense row, so
/// the votes are two layers: the decisions under a step (`[s_ij ≥ 0]`, which differs from the
/// runtime's `s_ij > 0` only on the decision boundary) and the vote counts, whose argmax (the
/// first of equal counts, as the runtime's) is the label.
fn svm_votes(node: &NodeProto, width: usize, classes: usize, at: &str) -> Result<Vec<FloatLayer>> {
    linear_kernel(node, at)?;
    let floats = |name: &str| attr(node, name).map(|a| a.floats.clone()).unwrap_or_default();
    let (coefficients, vectors, rho) = (floats("coefficients"), floats("support_vectors"), floats("rho"));
    let per_class: Vec<usize> = attr(node, "vectors_per_class")
        .map(|a| a.ints.iter().map(|n| usize::try_from(*n).unwrap_or(usize::MAX)).collect())
        .unwrap_or_default();
    let count = per_class.iter().try_fold(0usize, |s, n| s.checked_add(*n));
    let pairs = classes.saturating_mul(classes - 1) / 2;
    let fits = per_class.len() == classes
        && count.is_some_and(|c| {
            c > 0
                && Some(vectors.len()) == c.checked_mul(width)
                && Some(coefficients.len()) == c.checked_mul(classes - 1)
        })
        && rho.len() == pairs;
    if !fits {
        return Err(Error::graph(
            at,
            format!(
                "{} coefficients, {} support vector values, {} rho and vectors per class {per_class:?}: expected \
                 {} coefficient rows over the vectors of {width} features and one rho for each of {pairs} pairs",
                coefficients.len(),
                vectors.len(),
                rho.len(),
                classes - 1
            ),
        ));
    }
    // Both layers' dense weights within the importer's bound (a hostile label count).
    super::dense_len(pairs, width, at)?;
    super::dense_len(classes, pairs, at)?;
    let vector_count = vectors.len() / width;
    let starts: Vec<usize> = per_class.iter().scan(0, |s, n| Some(std::mem::replace(s, *s + n))).collect();
    // The decision rows, one a pair in the runtime's order.
    let mut rows = Vec::with_capacity(pairs * width);
    let mut bias = Vec::with_capacity(pairs);
    // Layer 2: votes of class c = Σ_{pairs (c, j)} g + Σ_{pairs (i, c)} (1 − g).
    let mut votes = vec![0f32; classes * pairs];
    let mut vote_bias = vec![0f32; classes];
    let mut k = 0;
    for i in 0..classes {
        for j in i + 1..classes {
            let mut row = vec![0f64; width];
            for (class, coefficient_row) in [(i, j - 1), (j, i)] {
                for v in starts[class]..starts[class] + per_class[class] {
                    let c = f64::from(coefficients[coefficient_row * vector_count + v]);
                    let vector = &vectors[v * width..(v + 1) * width];
                    row.iter_mut().zip(vector).for_each(|(w, x)| *w += c * f64::from(*x));
                }
            }
            rows.extend(row.into_iter().map(|w| w as f32));
            bias.push(rho[k]);
            votes[i * pairs + k] = 1.0;
            votes[j * pairs + k] = -1.0;
            vote_bias[j] += 1.0;
            k += 1;
        }
    }
    let decisions = FloatLayer {
        in_dim: width,
        out_dim: pairs,
        weights: rows,
        bias,
        relu: false,
        table: Some(crate::model::TableFunction::Step),
        exact: false,
        reach: None,
    };
    let counts = FloatLayer {
        in_dim: pairs,
        out_dim: classes,
        weights: votes,
        bias: vote_bias,
        relu: false,
        table: None,
        exact: false,
        reach: None,
    };
    Ok(vec![decisions, counts])
}

/// The nodes after `from` that compute only from `tensor` and constants (each input is `tensor`,
/// one of these nodes' outputs, or an initializer), when none of their outputs is read by any
/// other node: a side computation that ends at graph outputs.
pub(super) fn derived_only(graph: &GraphProto, from: usize, tensor: &str) -> Vec<usize> {
    let constants: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut tensors = vec![tensor.to_string()];
    let mut nodes = Vec::new();
    for (i, node) in graph.node.iter().enumerate().skip(from + 1) {
        let derived = node.input.iter().any(|x| tensors.contains(x))
            && node.input.iter().all(|x| x.is_empty() || tensors.contains(x) || constants.contains(&x.as_str()));
        if derived {
            nodes.push(i);
            tensors.extend(node.output.iter().cloned());
        }
    }
    let read_elsewhere = graph
        .node
        .iter()
        .enumerate()
        .any(|(i, n)| !nodes.contains(&i) && i != from && n.input.iter().any(|x| tensors[1..].contains(x)));
    if read_elsewhere {
        Vec::new()
    } else {
        nodes
    }
}

/// Refuses an SVM whose kernel is not linear or whose output is transformed. Other kernels (RBF,
/// polynomial, sigmoid) compare the input with each support vector, which no chain of layers
/// computes.
fn linear_kernel(node: &NodeProto, at: &str) -> Result<()> {
    let text = |name: &str| attr(node, name).map(|a| String::from_utf8_lossy(&a.s).to_string());
    let kernel = text("kernel_type").unwrap_or_else(|| "LINEAR".into());
    if kernel != "LINEAR" {
        return Err(svm_refused(
            node,
            at,
            &format!(
                "kernel {kernel}: only LINEAR; a non-linear kernel compares the input with each support vector, \
                 which is not a chain of layers"
            ),
        ));
    }
    if text("post_transform").is_some_and(|t| t != "NONE") {
        return Err(svm_refused(node, at, "only post_transform NONE"));
    }
    Ok(())
}

fn svm_refused(node: &NodeProto, at: &str, note: &str) -> Error {
    Error::UnsupportedOp {
        op: format!("ai.onnx.ml::{}", node.op_type),
        node: at.to_string(),
        note: format!(" ({note})"),
    }
}

/// A linear-kernel SVM's `(Σ_j c_j v_j, ρ)`, its one decision function (other kernels are
/// refused by [`linear_kernel`]).
fn linear_svm(node: &NodeProto, width: usize, at: &str) -> Result<(Vec<f64>, f32)> {
    linear_kernel(node, at)?;
    let floats = |name: &str| attr(node, name).map(|a| a.floats.clone()).unwrap_or_default();
    let (coefficients, vectors, rho) = (floats("coefficients"), floats("support_vectors"), floats("rho"));
    let [rho] = rho.as_slice() else {
        return Err(Error::graph(at, format!("expected one rho, found {}", rho.len())));
    };
    if coefficients.is_empty() || vectors.len() != coefficients.len() * width {
        return Err(Error::graph(
            at,
            format!(
                "{} coefficients and {} support vector values: expected one coefficient for each vector of {width} features",
                coefficients.len(),
                vectors.len()
            ),
        ));
    }
    let mut row = vec![0f64; width];
    for (c, v) in coefficients.iter().zip(vectors.chunks(width)) {
        row.iter_mut().zip(v).for_each(|(w, x)| *w += f64::from(*c) * f64::from(*x));
    }
    Ok((row, *rho))
}

/// A dense layer of one output.
fn one_row(row: Vec<f64>, bias: f32) -> FloatLayer {
    FloatLayer {
        in_dim: row.len(),
        out_dim: 1,
        weights: row.into_iter().map(|w| w as f32).collect(),
        bias: vec![bias],
        relu: false,
        table: None,
        exact: false,
        reach: None,
    }
}

/// The affine map that the nodes from `start` on compute of the running tensor `x` (flat, of
/// `width` values) when several of them read it and all of them, up to one tensor that the rest
/// of the graph reads, are affine: a `ColumnTransformer`'s column groups (`ArrayFeatureExtractor`,
/// `Gather`), their scalers (`Scaler`; `Mul`, `Add`, `Sub` and `Div` by constants), `Cast`s and
/// `Identity`s, and the `Concat` that joins them. The map, the index of its last node and the
/// name of its output; `None` when the nodes are not such a fan-out (the chain imports them, or
/// refuses them, as it would otherwise).
pub(super) fn affine_fan_out(
    graph: &GraphProto,
    start: usize,
    x: &str,
    width: usize,
    consts: &HashMap<String, Constant>,
) -> Result<Option<(Affine, usize, String)>> {
    let nodes = &graph.node[start..];
    // Readers of each tensor among the nodes not yet evaluated, and the graph's outputs.
    let readers = |name: &str, from: usize| nodes[from..].iter().flat_map(|n| &n.input).filter(|i| *i == name).count();
    if readers(x, 0) < 2 {
        return Ok(None);
    }
    let is_output = |name: &str| graph.output.iter().any(|o| o.name == name);
    let mut maps: HashMap<&str, Affine> = HashMap::from([(
        x,
        Affine { in_dim: width, rows: (0..width).map(|i| vec![(i, 1.0)]).collect(), offset: vec![0.0; width] },
    )]);
    for (k, node) in nodes.iter().enumerate() {
        let at = node.name.as_str();
        let [out] = node.output.as_slice() else { return Ok(None) };
        let mapped: Vec<&Affine> = node.input.iter().filter_map(|i| maps.get(i.as_str())).collect();
        let Some(first) = mapped.first() else { return Ok(None) };
        let constant = |i: usize| node.input.get(i).and_then(|n| consts.get(n));
        let result = match (node.op_type.as_str(), node.input.len()) {
            ("Identity", 1) => Some((*first).clone()),
            ("Cast", 1) if attr(node, "to").is_some_and(|a| super::is_float_type(a.i as i32)) => Some((*first).clone()),
            ("ArrayFeatureExtractor" | "Gather", 2)
                if node.input[0] != node.input[1] && maps.contains_key(node.input[0].as_str()) =>
            {
                if node.op_type == "Gather" && !matches!(attr(node, "axis").map_or(0, |a| a.i), 1 | -1) {
                    return Ok(None);
                }
                match constant(1).map(|c| &c.data) {
                    Some(ConstData::I64(_)) => Some(super::then(
                        Some((*first).clone()),
                        feature_extractor(node, consts, first.rows.len(), at)?,
                    )),
                    _ => None,
                }
            }
            ("Scaler", 1) => {
                let floats = |name: &str| attr(node, name).map(|a| a.floats.clone()).unwrap_or_default();
                let (offset, scale) = (floats("offset"), floats("scale"));
                let n = first.rows.len();
                let pick = |v: &[f32], i: usize, default: f64| -> Option<f64> {
                    match v.len() {
                        0 => Some(default),
                        1 => Some(f64::from(v[0])),
                        m if m == n => Some(f64::from(v[i])),
                        _ => None,
                    }
                };
                let terms: Option<Vec<(f64, f64)>> = (0..n)
                    .map(|i| Some((pick(&scale, i, 1.0)?, -pick(&offset, i, 0.0)? * pick(&scale, i, 1.0)?)))
                    .collect();
                terms.map(|t| elementwise(first, &t))
            }
            ("Mul" | "Add" | "Sub" | "Div", 2) if mapped.len() == 1 => {
                let pos = usize::from(!maps.contains_key(node.input[0].as_str()));
                let values = match constant(1 - pos).map(|c| c.floats(at)).transpose()? {
                    Some(v) if v.len() == 1 || v.len() == first.rows.len() => v.to_vec(),
                    _ => return Ok(None),
                };
                let c = |i: usize| f64::from(values[if values.len() == 1 { 0 } else { i }]);
                let terms: Option<Vec<(f64, f64)>> = (0..first.rows.len())
                    .map(|i| match (node.op_type.as_str(), pos) {
                        ("Mul", _) => Some((c(i), 0.0)),
                        ("Add", _) => Some((1.0, c(i))),
                        ("Sub", 0) => Some((1.0, -c(i))),
                        ("Sub", _) => Some((-1.0, c(i))),
                        ("Div", 0) if c(i) != 0.0 => Some((1.0 / c(i), 0.0)),
                        _ => None,
                    })
                    .collect();
                terms.map(|t| elementwise(first, &t))
            }
            ("Concat", _)
                if matches!(attr(node, "axis").map_or(0, |a| a.i), 1 | -1) && mapped.len() == node.input.len() =>
            {
                Some(Affine {
                    in_dim: width,
                    rows: mapped.iter().flat_map(|m| m.rows.iter().cloned()).collect(),
                    offset: mapped.iter().flat_map(|m| m.offset.iter().copied()).collect(),
                })
            }
            _ => None,
        };
        let Some(map) = result else { return Ok(None) };
        maps.insert(out.as_str(), map);
        // Closed when every tensor it computed is read only within it, but its last.
        let open: Vec<&&str> =
            maps.keys().filter(|name| readers(name, k + 1) > 0 || (is_output(name) && **name != x)).collect();
        if k > 0 && open.len() == 1 && *open[0] == out.as_str() {
            return Ok(maps.remove(out.as_str()).map(|m| (m, start + k, out.clone())));
        }
    }
    Ok(None)
}

/// `k_i · m_i + c_i` for each row `m_i` of `m` and `(k_i, c_i)` of `terms`.
fn elementwise(m: &Affine, terms: &[(f64, f64)]) -> Affine {
    Affine {
        in_dim: m.in_dim,
        rows: m.rows.iter().zip(terms).map(|(row, (k, _))| row.iter().map(|(i, v)| (*i, v * k)).collect()).collect(),
        offset: m.offset.iter().zip(terms).map(|(o, (k, c))| o * k + c).collect(),
    }
}
