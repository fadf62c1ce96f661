//! Tree ensembles (`ai.onnx.ml` `TreeEnsembleClassifier` and `TreeEnsembleRegressor`, as
//! skl2onnx and onnxmltools write them) as three dense layers, the GEMM formulation of
//! Hummingbird (Nakandala et al., OSDI 2020) with comparisons and path tests by exact tables:
//!
//! 1. one row per internal node `n` on feature `f` with threshold `t`: `g_n = [a·(x_f − t) ≥ 0]`
//!    (`a = −1` for `≤` and `>`, `+1` for `≥` and `<`), a [`TableFunction::Step`] layer;
//! 2. one row per leaf: `[Σ_path s_n − depth + ½ ≥ 0]`, where `s_n` is `g_n` when the path takes
//!    the branch `g_n = 1` selects and `1 − g_n` otherwise: 1 exactly when every comparison on
//!    the path goes its way, again a step;
//! 3. the outputs: each leaf's values (class scores or targets) summed, plus the base values.
//!
//! Each feature is normalized so that its thresholds lie in [-0.95, 0.95] (a tree only compares
//! a feature with its thresholds, so inputs beyond them may saturate), exactly in float32 (see
//! [`exact_normalization`]), and the int8 input scale is fixed at 1/127: a comparison of the
//! quantized input is the float comparison of the dequantized one.

use std::collections::HashMap;

use crate::{
    float::FloatLayer,
    model::{Normalize, TableFunction},
    onnx_proto::{AttributeProto, NodeProto},
    Error, Result,
};

/// The imported ensemble: its three layers and the per-feature normalization to compose after
/// whatever normalization the input already has.
pub(crate) struct Ensemble {
    pub layers: Vec<FloatLayer>,
    /// `x'' = (x' − center) · factor`, one a feature.
    pub normalize: Normalize,
    /// Outputs (classes or targets).
    pub outputs: usize,
}

/// Where the normalized thresholds of a feature lie: within ±`REACH`, so that an input beyond
/// every threshold (clamped at ±1) is still on the same side of each.
const REACH: f64 = 0.95;

/// A node's `(tree id, node id)`.
type NodeKey = (i64, i64);
/// The internal nodes on a leaf's path, each with the value of `g` that goes the leaf's way.
type Path = Vec<(usize, bool)>;

#[derive(Clone, Copy)]
struct Node {
    feature: usize,
    threshold: f64,
    /// `a` of `g = [a·(x − t) ≥ 0]`.
    sign: f64,
    /// The value of `g` that takes the true branch.
    true_is: bool,
    true_child: i64,
    false_child: i64,
    leaf: bool,
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// Imports a `TreeEnsembleClassifier` (`classifier`) or `TreeEnsembleRegressor` reading `width`
/// features.
pub(crate) fn tree_ensemble(node: &NodeProto, width: usize, classifier: bool, at: &str) -> Result<Ensemble> {
    let bad = |msg: String| Error::graph(at, msg);
    let ints = |name: &str| attr(node, name).map(|a| a.ints.clone()).unwrap_or_default();
    let floats = |name: &str| attr(node, name).map(|a| a.floats.clone()).unwrap_or_default();
    let string = |name: &str| attr(node, name).map(|a| String::from_utf8_lossy(&a.s).to_string());
    for tensor in ["nodes_values_as_tensor", "class_weights_as_tensor", "target_weights_as_tensor"] {
        if attr(node, tensor).is_some() {
            return Err(bad(format!("`{tensor}` (double precision) is not supported: export float32 attributes")));
        }
    }
    let (tree_ids, node_ids, features, values) =
        (ints("nodes_treeids"), ints("nodes_nodeids"), ints("nodes_featureids"), floats("nodes_values"));
    let (trues, falses) = (ints("nodes_truenodeids"), ints("nodes_falsenodeids"));
    let modes: Vec<String> = attr(node, "nodes_modes")
        .map(|a| a.strings.iter().map(|s| String::from_utf8_lossy(s).to_string()).collect())
        .unwrap_or_default();
    let n = tree_ids.len();
    if n == 0 {
        return Err(bad("a tree ensemble without nodes".into()));
    }
    if [node_ids.len(), features.len(), values.len(), trues.len(), falses.len(), modes.len()].iter().any(|l| *l != n) {
        return Err(bad("the nodes_* attributes differ in length".into()));
    }
    let mut nodes: HashMap<(i64, i64), Node> = HashMap::with_capacity(n);
    let mut trees: Vec<i64> = Vec::new();
    for k in 0..n {
        let (sign, true_is, leaf) = match modes[k].as_str() {
            "BRANCH_LEQ" => (-1.0, true, false),
            "BRANCH_GTE" => (1.0, true, false),
            "BRANCH_LT" => (1.0, false, false),
            "BRANCH_GT" => (-1.0, false, false),
            "LEAF" => (0.0, false, true),
            other => {
                return Err(Error::UnsupportedOp {
                    op: format!("ai.onnx.ml::{}", node.op_type),
                    node: at.to_string(),
                    note: format!(" (node mode {other}: only BRANCH_LEQ, BRANCH_LT, BRANCH_GTE, BRANCH_GT and LEAF)"),
                })
            }
        };
        let feature = usize::try_from(features[k]).ok().filter(|f| leaf || *f < width).ok_or_else(|| {
            bad(format!("node {} of tree {} reads feature {}, of {width}", node_ids[k], tree_ids[k], features[k]))
        })?;
        if !leaf && !values[k].is_finite() {
            return Err(bad(format!("node {} of tree {} has a non-finite threshold", node_ids[k], tree_ids[k])));
        }
        let entry = Node {
            feature,
            threshold: f64::from(values[k]),
            sign,
            true_is,
            true_child: trues[k],
            false_child: falses[k],
            leaf,
        };
        if nodes.insert((tree_ids[k], node_ids[k]), entry).is_some() {
            return Err(bad(format!("node {} of tree {} appears twice", node_ids[k], tree_ids[k])));
        }
        if !trees.contains(&tree_ids[k]) {
            trees.push(tree_ids[k]);
        }
    }

    // Leaf values: (tree, node) -> [(output, weight)].
    let prefix = if classifier { "class" } else { "target" };
    let (w_trees, w_nodes, w_ids, w_values) = (
        ints(&format!("{prefix}_treeids")),
        ints(&format!("{prefix}_nodeids")),
        ints(&format!("{prefix}_ids")),
        floats(&format!("{prefix}_weights")),
    );
    if [w_nodes.len(), w_ids.len(), w_values.len()].iter().any(|l| *l != w_trees.len()) {
        return Err(bad(format!("the {prefix}_* attributes differ in length")));
    }
    let labels = if classifier { Some(class_labels(node, at)?) } else { None };
    let targets = match labels {
        Some(l) => l,
        None => usize::try_from(attr(node, "n_targets").map_or(1, |a| a.i)).unwrap_or(0).max(1),
    };
    // A binary classifier with one score (class id 0 only): the score is the positive class's.
    let binary = labels == Some(2) && w_ids.iter().all(|i| *i == 0);
    let scores = if binary { 1 } else { targets };
    let transform = string("post_transform").unwrap_or_else(|| "NONE".into());
    let aggregate = string("aggregate_function").unwrap_or_else(|| "SUM".into());
    let divide = match aggregate.as_str() {
        "SUM" => 1.0,
        "AVERAGE" => trees.len() as f64,
        other => {
            return Err(Error::UnsupportedOp {
                op: format!("ai.onnx.ml::{}", node.op_type),
                node: at.to_string(),
                note: format!(" (aggregate_function {other}: only SUM and AVERAGE are linear)"),
            })
        }
    };
    if !classifier && transform != "NONE" {
        return Err(Error::UnsupportedOp {
            op: format!("ai.onnx.ml::{}", node.op_type),
            node: at.to_string(),
            note: " (only post_transform NONE: a regressor's output is its sum)".into(),
        });
    }
    let mut leaf_values: HashMap<(i64, i64), Vec<(usize, f64)>> = HashMap::new();
    for k in 0..w_trees.len() {
        let output = usize::try_from(w_ids[k])
            .ok()
            .filter(|o| *o < scores)
            .ok_or_else(|| bad(format!("a leaf weight for output {}, of {scores}", w_ids[k])))?;
        if !w_values[k].is_finite() {
            return Err(bad("a non-finite leaf weight".into()));
        }
        let key = (w_trees[k], w_nodes[k]);
        if !nodes.get(&key).is_some_and(|n| n.leaf) {
            return Err(bad(format!("a weight for node {} of tree {}, which is not a leaf", key.1, key.0)));
        }
        leaf_values.entry(key).or_default().push((output, f64::from(w_values[k]) / divide));
    }
    let base = floats("base_values");
    if !(base.is_empty() || base.len() == scores) {
        return Err(bad(format!("{} base values for {scores} outputs", base.len())));
    }

    // Walk every tree from its root (the node no other node points to): internal nodes and
    // leaves in order, each leaf with its path of (internal node, g that goes its way).
    let mut internal: Vec<Node> = Vec::new();
    let mut leaves: Vec<(NodeKey, Path)> = Vec::new();
    for &tree in &trees {
        let children: Vec<i64> = nodes
            .iter()
            .filter(|((t, _), n)| *t == tree && !n.leaf)
            .flat_map(|(_, n)| [n.true_child, n.false_child])
            .collect();
        let mut roots = nodes.keys().filter(|(t, id)| *t == tree && !children.contains(id));
        let (Some(&root), None) = (roots.next(), roots.next()) else {
            return Err(bad(format!("tree {tree} does not have exactly one root")));
        };
        let mut stack = vec![(root, Vec::new())];
        let mut seen = 0usize;
        while let Some((key, path)) = stack.pop() {
            seen += 1;
            if seen > n {
                return Err(bad(format!("tree {tree} has a cycle")));
            }
            let node =
                *nodes.get(&key).ok_or_else(|| bad(format!("tree {tree} points to a missing node {}", key.1)))?;
            if node.leaf {
                leaves.push((key, path));
                continue;
            }
            let index = internal.len();
            internal.push(node);
            let mut on_false = path.clone();
            on_false.push((index, !node.true_is));
            let mut on_true = path;
            on_true.push((index, node.true_is));
            stack.push(((tree, node.false_child), on_false));
            stack.push(((tree, node.true_child), on_true));
        }
    }

    // Per-feature normalization: the thresholds of feature f into [-REACH, REACH].
    let mut center = vec![0.0f64; width];
    let mut factor = vec![1.0f64; width];
    for f in 0..width {
        let ts: Vec<f64> = internal.iter().filter(|n| n.feature == f).map(|n| n.threshold).collect();
        if !ts.is_empty() {
            (center[f], factor[f]) = exact_normalization(&ts);
        }
    }

    // Layer 1: the comparisons. A model with no comparison at all (every tree a leaf) gets one
    // constant row, which no leaf reads.
    let mut w1 = Vec::with_capacity(internal.len().max(1) * width);
    let mut b1 = Vec::with_capacity(internal.len().max(1));
    for n in &internal {
        let theta = (n.threshold - center[n.feature]) * factor[n.feature];
        w1.extend((0..width).map(|f| if f == n.feature { n.sign as f32 } else { 0.0 }));
        b1.push((-n.sign * theta) as f32);
    }
    if internal.is_empty() {
        w1.extend(std::iter::repeat_n(0.0, width));
        b1.push(0.5);
    }
    let rows1 = b1.len();
    // Layer 2: the leaves.
    let mut w2 = vec![0f32; leaves.len() * rows1];
    let mut b2 = Vec::with_capacity(leaves.len());
    for (l, (_, path)) in leaves.iter().enumerate() {
        let mut against = 0usize;
        for (i, goes) in path {
            w2[l * rows1 + i] = if *goes { 1.0 } else { -1.0 };
            against += usize::from(!goes);
        }
        b2.push((against as f64 - path.len() as f64 + 0.5) as f32);
    }
    // Layer 3: the outputs.
    let outputs = if binary { 2 } else { targets };
    let mut w3 = vec![0f32; outputs * leaves.len()];
    let mut b3: Vec<f64> =
        if base.is_empty() { vec![0.0; scores] } else { base.iter().map(|b| f64::from(*b)).collect() };
    for (l, (key, _)) in leaves.iter().enumerate() {
        for (o, w) in leaf_values.get(key).map_or(&[][..], Vec::as_slice) {
            if binary {
                w3[l] -= *w as f32;
                w3[leaves.len() + l] += *w as f32;
            } else {
                w3[o * leaves.len() + l] += *w as f32;
            }
        }
    }
    if binary {
        // Class 1 when the score passes the runtime's threshold: 0 after a logistic (or with
        // negative weights), 0.5 for probabilities (all weights non-negative).
        let probabilities = w_values.iter().chain(&base).all(|w| *w >= 0.0);
        let threshold = if transform == "NONE" && probabilities { 0.5 } else { 0.0 };
        let s = b3[0] - threshold;
        b3 = vec![-s, s];
    }
    // Each tree's leaf values centred on their midpoint, which goes into the bias: exactly one
    // leaf of a tree is reached, so the outputs are the same, and a row's int8 weights (one scale
    // for every leaf of every tree) no longer spend their range on what a tree adds to every
    // input (LightGBM's first tree carries the target's mean).
    for (o, bias) in b3.iter_mut().enumerate() {
        let row = &mut w3[o * leaves.len()..(o + 1) * leaves.len()];
        let mut spans: HashMap<i64, (f64, f64)> = HashMap::new();
        for (((tree, _), _), w) in leaves.iter().zip(row.iter()) {
            let span = spans.entry(*tree).or_insert((f64::INFINITY, f64::NEG_INFINITY));
            *span = (span.0.min(f64::from(*w)), span.1.max(f64::from(*w)));
        }
        let mid = |tree: &i64| spans.get(tree).map_or(0.0, |(lo, hi)| f64::from(((lo + hi) / 2.0) as f32));
        for (((tree, _), _), w) in leaves.iter().zip(row.iter_mut()) {
            *w = (f64::from(*w) - mid(tree)) as f32;
        }
        *bias += spans.keys().map(mid).sum::<f64>();
    }
    let layers = vec![
        FloatLayer {
            in_dim: width,
            out_dim: rows1,
            weights: w1,
            bias: b1,
            relu: false,
            table: Some(TableFunction::Step),
            exact: false,
            reach: None,
        },
        FloatLayer {
            in_dim: rows1,
            out_dim: leaves.len(),
            weights: w2,
            bias: b2,
            relu: false,
            table: Some(TableFunction::Step),
            exact: false,
            reach: None,
        },
        FloatLayer {
            in_dim: leaves.len(),
            out_dim: outputs,
            weights: w3,
            bias: b3.iter().map(|b| *b as f32).collect(),
            relu: false,
            table: None,
            exact: false,
            reach: None,
        },
    ];
    let offset = center.iter().zip(&factor).map(|(c, k)| -c * k).collect();
    Ok(Ensemble { layers, normalize: Normalize { scale: factor, offset }, outputs })
}

/// A feature's normalization `x'' = (x − center) · factor` for its float32 thresholds `ts`,
/// chosen so that every normalized threshold is exact in float32 and the float model's
/// comparisons are the runtime's, ties included (an input equal to a threshold is common: the
/// runtime compares float32 values): `factor` is a power of two, and `center`, the midpoint
/// rounded to a multiple of the thresholds' largest float32 ulp, makes each `t − center` exact
/// (else the center is 0). The thresholds then lie within ±`REACH` (at least half of it).
fn exact_normalization(ts: &[f64]) -> (f64, f64) {
    let ulp = |t: f64| {
        let exponent = ((t as f32).to_bits() >> 23) & 0xff;
        2f64.powi(exponent.max(1) as i32 - 127 - 23)
    };
    let (lo, hi) = ts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), t| (l.min(*t), h.max(*t)));
    let unit = ts.iter().map(|t| ulp(*t)).fold(0.0, f64::max);
    let midpoint = ((lo + hi) / 2.0 / unit).round() * unit;
    let exact = |c: f64| ts.iter().all(|t| f64::from((t - c) as f32) == t - c);
    let center = if exact(midpoint) { midpoint } else { 0.0 };
    let half = ts.iter().map(|t| (t - center).abs()).fold(0.0, f64::max);
    // One threshold at the center: only its side matters; scale by its size.
    let span = if half > 0.0 { half } else { lo.abs().max(1e-6) };
    (center, 2f64.powi((REACH / span).log2().floor() as i32))
}

/// The number of class labels (`classlabels_int64s` or `classlabels_ints` must be 0..n − 1;
/// strings are read in order).
pub(crate) fn class_labels(node: &NodeProto, at: &str) -> Result<usize> {
    let ints = ["classlabels_int64s", "classlabels_ints"]
        .iter()
        .find_map(|name| attr(node, name).map(|a| &a.ints).filter(|v| !v.is_empty()));
    if let Some(ints) = ints {
        if ints.iter().enumerate().any(|(i, l)| *l != i as i64) {
            return Err(Error::graph(
                at,
                format!("class labels {ints:?}: expected 0, 1, …, n − 1 (the output is the class index)"),
            ));
        }
        return Ok(ints.len());
    }
    match attr(node, "classlabels_strings").map(|a| a.strings.len()) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(Error::graph(at, "a classifier without class labels")),
    }
}
