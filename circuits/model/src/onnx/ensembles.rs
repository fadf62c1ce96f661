//! Ensembles of models over one input, as skl2onnx writes scikit-learn's `VotingRegressor`,
//! `BaggingRegressor`, `BaggingClassifier` and `StackingRegressor`: several
//! `TreeEnsembleRegressor`s, `TreeEnsembleClassifier`s or `LinearRegressor`s reading the same
//! tensor, each output scaled by a constant, and joined by a `Sum` (voting: `Mul(y_i, w_i)`,
//! `Flatten`, `Sum`), by a mean (bagging: `Reshape` to `[1, N, C]`, `Concat` on axis 0,
//! `ReduceMean` over it) or by a final linear regressor over their outputs (stacking: `Concat` on
//! axis 1, then `LinearRegressor`, its coefficients the weights and its intercept added).
//!
//! A weighted sum of tree ensembles is one tree ensemble: every member's trees, each leaf's
//! values and each member's base values times its weight. A weighted sum of linear regressors is
//! one linear regressor. So the members and the nodes that join them are rewritten as that one
//! node, which the importer then reads as it reads any ensemble. Members whose outputs are not
//! linear in their leaves (a `post_transform` other than `NONE`: a mean of probabilities after a
//! logistic or a softmax) or of different kinds (trees beside a linear model) are refused by name.

use std::collections::HashMap;

use super::{attr, elementwise::scalar, AttributeProto, ConstData, Constant, GraphProto, NodeProto};
use crate::{Error, Result};

/// The operators an ensemble's members may be.
const MEMBERS: &[&str] = &["TreeEnsembleRegressor", "TreeEnsembleClassifier", "LinearRegressor"];

/// ONNX's FLOAT and DOUBLE element types: a `Cast` to either keeps the values.
const FLOAT_TYPES: &[i64] = &[1, 11];

/// One member: its node and the weight of its output in the join.
struct Member {
    node: usize,
    weight: f64,
}

/// Members joined by one node, and every node the merged member replaces.
struct Group {
    members: Vec<Member>,
    /// The join's output: the merged member's output.
    output: String,
    /// The join (where the merged member goes).
    join: usize,
    /// The members, the nodes between them and the join, and the join.
    replaced: Vec<usize>,
    /// What the join adds (a stacking regressor's intercept).
    bias: f64,
}

/// The graph with every ensemble of members merged into one member, or `None` when it has none.
pub(super) fn merge(graph: &GraphProto, consts: &HashMap<String, Constant>) -> Result<Option<GraphProto>> {
    if !graph.node.iter().any(|n| MEMBERS.contains(&n.op_type.as_str())) {
        return Ok(None);
    }
    let mut merged: Option<GraphProto> = None;
    // Each merge removes at least two nodes: at most half the graph's nodes are joins.
    for _ in 0..=graph.node.len() / 2 {
        let current = merged.as_ref().unwrap_or(graph);
        let Some(group) = (0..current.node.len()).find_map(|j| group(current, consts, j)) else {
            return match unjoinable(current, consts) {
                Some(err) => Err(err),
                None => Ok(merged),
            };
        };
        let node = merged_member(current, &group)?;
        let mut next = current.clone();
        next.node = current
            .node
            .iter()
            .enumerate()
            .filter_map(|(i, n)| match i {
                _ if i == group.join => Some(node.clone()),
                _ if group.replaced.contains(&i) => None,
                _ => Some(n.clone()),
            })
            .collect();
        merged = Some(next);
    }
    Ok(merged)
}

/// A `Concat` of the outputs of several members read otherwise than by a mean (AdaBoost's
/// weighted median, a stacked model): refused by name.
fn unjoinable(graph: &GraphProto, consts: &HashMap<String, Constant>) -> Option<Error> {
    graph.node.iter().find_map(|node| {
        let members = node.op_type == "Concat"
            && node.input.len() >= 2
            && node.input.iter().all(|i| member_of(graph, consts, i, &mut Vec::new()).is_some());
        if !members {
            return None;
        }
        let out = node.output.first()?;
        let reader = graph.node.iter().find(|n| n.input.contains(out)).map_or("the graph's output", |n| &n.op_type);
        Some(Error::UnsupportedOp {
            op: "Concat".into(),
            node: if node.name.is_empty() { out.clone() } else { node.name.clone() },
            note: format!(
                " (the outputs of {} models over one input, joined and read by {reader}: only their weighted sum \
                 or mean is one model)",
                node.input.len()
            ),
        })
    })
}

/// The node that writes `tensor`.
fn producer(graph: &GraphProto, tensor: &str) -> Option<usize> {
    graph.node.iter().position(|n| n.output.iter().any(|o| o == tensor))
}

/// How many nodes read `tensor`, and whether it is a graph output.
fn uses(graph: &GraphProto, tensor: &str) -> usize {
    graph.node.iter().filter(|n| n.input.iter().any(|i| i == tensor)).count()
        + graph.output.iter().filter(|o| o.name == tensor).count()
}

/// The output of a member that the ensemble reads: a classifier's probabilities, a regressor's
/// values.
fn value_output(node: &NodeProto) -> Option<&str> {
    let index = usize::from(node.op_type == "TreeEnsembleClassifier");
    node.output.get(index).map(String::as_str)
}

/// Whether a member outputs one value: a regressor of one target (a classifier's output is its
/// class scores).
fn one_value(member: &NodeProto) -> bool {
    member.op_type != "TreeEnsembleClassifier"
        && attr(member, "targets").or_else(|| attr(member, "n_targets")).map_or(1, |a| a.i) == 1
}

/// A `Concat` axis or a reduction's axes, made non-negative for a tensor of `rank` dimensions.
fn axis(a: i64, rank: usize) -> Option<usize> {
    let a = if a < 0 { a + rank as i64 } else { a };
    usize::try_from(a).ok().filter(|a| *a < rank)
}

/// The member that `tensor` comes from, through nodes that only scale it by a constant or
/// reshape it (each read once), with its weight and the constant shape of its `Reshape`, if any.
fn member_of(
    graph: &GraphProto,
    consts: &HashMap<String, Constant>,
    tensor: &str,
    path: &mut Vec<usize>,
) -> Option<(Member, Option<Vec<i64>>)> {
    let (mut tensor, mut weight, mut reshape) = (tensor.to_string(), 1.0, None);
    loop {
        let index = producer(graph, &tensor)?;
        let node = &graph.node[index];
        if uses(graph, &tensor) != 1 {
            return None;
        }
        path.push(index);
        match node.op_type.as_str() {
            op if MEMBERS.contains(&op) => {
                // A classifier's labels must go unread (hard voting reads them).
                let labels_unread = node.op_type != "TreeEnsembleClassifier"
                    || node.output.first().is_none_or(|label| uses(graph, label) == 0);
                return (value_output(node) == Some(tensor.as_str()) && labels_unread)
                    .then_some((Member { node: index, weight }, reshape));
            }
            "Mul" => {
                let [a, b] = node.input.as_slice() else { return None };
                let (data, c) = match (consts.get(a), consts.get(b)) {
                    (None, Some(c)) => (a, c),
                    (Some(c), None) => (b, c),
                    _ => return None,
                };
                weight *= scalar(c)?;
                tensor = data.clone();
            }
            "Flatten" | "Identity" => tensor = node.input.first()?.clone(),
            "Cast" if attr(node, "to").is_some_and(|a| FLOAT_TYPES.contains(&a.i)) => {
                tensor = node.input.first()?.clone()
            }
            "Reshape" if reshape.is_none() => {
                let shape = node.input.get(1).and_then(|s| consts.get(s))?;
                let ConstData::I64(shape) = &shape.data else { return None };
                reshape = Some(shape.clone());
                tensor = node.input.first()?.clone();
            }
            _ => return None,
        }
    }
}

/// The members that the node at `join` joins, when it is a `Sum` (or `Add`) of scaled members,
/// or a mean (`ReduceMean`, or `ReduceSum`) over a `Concat` of members each given a unit axis
/// there.
fn group(graph: &GraphProto, consts: &HashMap<String, Constant>, join: usize) -> Option<Group> {
    let node = &graph.node[join];
    let stacking = node.domain == "ai.onnx.ml" && node.op_type == "LinearRegressor";
    if !node.domain.is_empty() && !stacking {
        return None;
    }
    let mut replaced = vec![join];
    let mut members = Vec::new();
    let mut bias = 0.0;
    match node.op_type.as_str() {
        // A stacking regressor: a linear regressor of one target over the members' outputs,
        // each of one value, joined by a `Concat` over features.
        "LinearRegressor" => {
            let concat_index = producer(graph, node.input.first()?)?;
            let concat = &graph.node[concat_index];
            let axis = attr(concat, "axis").map_or(0, |a| a.i);
            let one_target = attr(node, "targets").map_or(1, |a| a.i) == 1;
            let linear = attr(node, "post_transform").is_none_or(|a| a.s == b"NONE");
            if concat.op_type != "Concat" || !(axis == 1 || axis == -1) || !one_target || !linear {
                return None;
            }
            if uses(graph, node.input.first()?) != 1 {
                return None;
            }
            replaced.push(concat_index);
            let coefficients = attr(node, "coefficients").map(|a| a.floats.clone()).unwrap_or_default();
            if coefficients.len() != concat.input.len() {
                return None;
            }
            bias = attr(node, "intercepts").and_then(|a| a.floats.first()).map_or(0.0, |b| f64::from(*b));
            for (input, c) in concat.input.iter().zip(&coefficients) {
                let (mut member, reshape) = member_of(graph, consts, input, &mut replaced)?;
                if reshape.is_some() || !one_value(&graph.node[member.node]) {
                    return None;
                }
                member.weight *= f64::from(*c);
                members.push(member);
            }
        }
        "Sum" | "Add" => {
            for input in &node.input {
                let (member, reshape) = member_of(graph, consts, input, &mut replaced)?;
                if reshape.is_some() {
                    return None;
                }
                members.push(member);
            }
        }
        "ReduceMean" | "ReduceSum" => {
            let concat_index = producer(graph, node.input.first()?)?;
            let concat = &graph.node[concat_index];
            if concat.op_type != "Concat" || uses(graph, node.input.first()?) != 1 {
                return None;
            }
            replaced.push(concat_index);
            let axes = match node.input.get(1).filter(|s| !s.is_empty()) {
                Some(name) => match &consts.get(name)?.data {
                    ConstData::I64(v) => v.clone(),
                    ConstData::F32(_) => return None,
                },
                None => attr(node, "axes").map(|a| a.ints.clone()).unwrap_or_default(),
            };
            let keepdims = attr(node, "keepdims").map_or(1, |a| a.i);
            let concat_axis = attr(concat, "axis").map_or(0, |a| a.i);
            if keepdims != 0 || axes.len() != 1 {
                return None;
            }
            for input in &concat.input {
                let (member, reshape) = member_of(graph, consts, input, &mut replaced)?;
                // The member's output [N, C] with a unit axis where the Concat joins: the mean over
                // that axis is the mean of the members. Without a Reshape, [N, 1] joined on axis 1.
                let unit_axis = match &reshape {
                    Some(shape) => {
                        let a = axis(concat_axis, shape.len())?;
                        let mut rest = shape.clone();
                        (rest.remove(a) == 1 && rest.len() == 2).then_some(a)?
                    }
                    None => {
                        one_value(&graph.node[member.node]).then_some(())?;
                        axis(concat_axis, 2).filter(|a| *a == 1)?
                    }
                };
                let rank = if reshape.is_some() { 3 } else { 2 };
                if axis(axes[0], rank) != Some(unit_axis) {
                    return None;
                }
                members.push(member);
            }
            if node.op_type == "ReduceMean" {
                let k = members.len() as f64;
                members.iter_mut().for_each(|m| m.weight /= k);
            }
        }
        _ => return None,
    }
    let first = &graph.node[members.first()?.node];
    let x = first.input.first()?;
    let alike = members.iter().all(|m| {
        let n = &graph.node[m.node];
        n.domain == "ai.onnx.ml" && n.input.first() == Some(x) && MEMBERS.contains(&n.op_type.as_str())
    });
    alike.then(|| Group { members, output: node.output.first().cloned().unwrap_or_default(), join, replaced, bias })
}

/// A string attribute.
fn string(node: &NodeProto, name: &str) -> Option<String> {
    attr(node, name).map(|a| String::from_utf8_lossy(&a.s).to_string())
}

/// The one member that `group`'s members sum to.
fn merged_member(graph: &GraphProto, group: &Group) -> Result<NodeProto> {
    let join = &graph.node[group.join];
    let at = if join.name.is_empty() { group.output.clone() } else { join.name.clone() };
    let join_op = match join.domain.as_str() {
        "" => join.op_type.clone(),
        domain => format!("{domain}::{}", join.op_type),
    };
    let refuse = |note: String| Error::UnsupportedOp { op: join_op.clone(), node: at.clone(), note };
    let nodes: Vec<&NodeProto> = group.members.iter().map(|m| &graph.node[m.node]).collect();
    let op = nodes[0].op_type.as_str();
    if let Some(other) = nodes.iter().find(|n| n.op_type != op) {
        return Err(refuse(format!(
            " (an ensemble of a {op} and a {}: a sum of different kinds of models is not one model of either \
             kind; only ensembles of tree ensembles, or of linear regressors)",
            other.op_type
        )));
    }
    for n in &nodes {
        if let Some(t) = string(n, "post_transform").filter(|t| t != "NONE") {
            return Err(refuse(format!(
                " (a member's post_transform {t}: a sum of transformed outputs is not one model; only members \
                 with post_transform NONE)"
            )));
        }
        if let Some(a) = n.attribute.iter().find(|a| a.t.is_some() || a.name.ends_with("_as_tensor")) {
            return Err(Error::graph(
                &at,
                format!("a member's `{}` (double precision) is not supported: export float32 attributes", a.name),
            ));
        }
    }
    let weights: Vec<f64> = group.members.iter().map(|m| m.weight).collect();
    let mut node = match op {
        "LinearRegressor" => merged_linear(&nodes, &weights, group.bias, &at)?,
        _ => merged_trees(&nodes, &weights, group.bias, op == "TreeEnsembleClassifier", &at)?,
    };
    node.name = format!("{at}_merged");
    node.op_type = op.to_string();
    node.domain = "ai.onnx.ml".into();
    node.input = vec![nodes[0].input[0].clone()];
    node.output = match op {
        // Its labels go unread: the importer takes the probabilities, the join's output.
        "TreeEnsembleClassifier" => vec![format!("{}_merged_label", group.output), group.output.clone()],
        _ => vec![group.output.clone()],
    };
    Ok(node)
}

fn floats(node: &NodeProto, name: &str) -> Vec<f32> {
    attr(node, name).map(|a| a.floats.clone()).unwrap_or_default()
}

fn float_list(name: &str, floats: Vec<f32>) -> AttributeProto {
    AttributeProto { name: name.into(), floats, r#type: 6, ..Default::default() }
}

/// Linear regressors summed: `Σ w_i (A_i x + b_i)`.
fn merged_linear(nodes: &[&NodeProto], weights: &[f64], bias: f64, at: &str) -> Result<NodeProto> {
    let targets = attr(nodes[0], "targets").map_or(1, |a| a.i);
    let len = floats(nodes[0], "coefficients").len();
    if !(1..=len.max(1) as i64).contains(&targets) {
        return Err(Error::graph(at, format!("a linear regressor of {targets} targets and {len} coefficients")));
    }
    let mut coefficients = vec![0f64; len];
    let mut intercepts = vec![bias; targets as usize];
    for (n, w) in nodes.iter().zip(weights) {
        let (c, b) = (floats(n, "coefficients"), floats(n, "intercepts"));
        if attr(n, "targets").map_or(1, |a| a.i) != targets || c.len() != len || b.len() > intercepts.len() {
            return Err(Error::graph(at, "the ensemble's linear regressors differ in their inputs or targets"));
        }
        coefficients.iter_mut().zip(&c).for_each(|(s, v)| *s += w * f64::from(*v));
        intercepts.iter_mut().zip(&b).for_each(|(s, v)| *s += w * f64::from(*v));
    }
    let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<_>>();
    let attribute = vec![
        float_list("coefficients", f32s(coefficients)),
        float_list("intercepts", f32s(intercepts)),
        AttributeProto { name: "targets".into(), i: targets, r#type: 2, ..Default::default() },
    ];
    Ok(NodeProto { attribute, ..Default::default() })
}

/// Tree ensembles summed: every member's trees (renumbered after the earlier members'), each
/// leaf's values times its member's weight (and divided by its tree count for an `AVERAGE`),
/// and the members' base values summed with their weights.
fn merged_trees(nodes: &[&NodeProto], weights: &[f64], bias: f64, classifier: bool, at: &str) -> Result<NodeProto> {
    let prefix = if classifier { "class" } else { "target" };
    let tree_attrs = ["nodes_treeids".to_string(), format!("{prefix}_treeids")];
    let weight_attr = format!("{prefix}_weights");
    // The attributes every member must agree on: its outputs.
    let same = ["classlabels_int64s", "classlabels_ints", "classlabels_strings", "n_targets"];
    // The per-node and per-leaf lists, concatenated.
    let listed = |a: &&AttributeProto| {
        (a.name.starts_with("nodes_") || a.name.starts_with(&format!("{prefix}_"))) && !same.contains(&a.name.as_str())
    };
    let lists: Vec<&AttributeProto> = nodes[0].attribute.iter().filter(listed).collect();
    for n in &nodes[1..] {
        for name in same {
            if attr(n, name) != attr(nodes[0], name) {
                return Err(Error::graph(at, format!("the ensemble's members differ in `{name}`")));
            }
        }
        let names = |n: &NodeProto| {
            let mut v: Vec<String> = n.attribute.iter().filter(listed).map(|a| a.name.clone()).collect();
            v.sort();
            v
        };
        if names(n) != names(nodes[0]) {
            return Err(Error::graph(at, "the ensemble's members have different node attributes"));
        }
    }
    // A binary classifier written with one score (class id 0) cannot join one with two.
    if classifier {
        let one_score = |n: &NodeProto| attr(n, "class_ids").is_some_and(|a| a.ints.iter().all(|i| *i == 0));
        if nodes.iter().any(|n| one_score(n) != one_score(nodes[0])) {
            return Err(Error::graph(at, "the ensemble's classifiers write their class scores differently"));
        }
    }
    let mut merged: Vec<AttributeProto> =
        lists.iter().map(|a| AttributeProto { name: a.name.clone(), r#type: a.r#type, ..Default::default() }).collect();
    let mut base: Vec<f64> = Vec::new();
    let mut offset = 0i64;
    for (n, w) in nodes.iter().zip(weights) {
        let trees = attr(n, "nodes_treeids").map(|a| a.ints.clone()).unwrap_or_default();
        let count = {
            let mut t = trees.clone();
            t.sort_unstable();
            t.dedup();
            t.len().max(1)
        };
        let scale = match string(n, "aggregate_function").as_deref() {
            None | Some("SUM") => *w,
            Some("AVERAGE") => w / count as f64,
            Some(other) => {
                return Err(Error::graph(at, format!("a member's aggregate_function {other}: only SUM and AVERAGE")))
            }
        };
        for m in merged.iter_mut() {
            let a = attr(n, &m.name).expect("every member has the same lists");
            if tree_attrs.contains(&m.name) {
                let renumbered: Option<Vec<i64>> = a.ints.iter().map(|t| t.checked_add(offset)).collect();
                m.ints.extend(renumbered.ok_or_else(|| Error::graph(at, "tree ids out of range"))?);
            } else if m.name == weight_attr {
                m.floats.extend(a.floats.iter().map(|v| (f64::from(*v) * scale) as f32));
            } else {
                m.ints.extend_from_slice(&a.ints);
                m.floats.extend_from_slice(&a.floats);
                m.strings.extend(a.strings.iter().cloned());
            }
        }
        let b = floats(n, "base_values");
        if base.len() < b.len() {
            base.resize(b.len(), 0.0);
        }
        base.iter_mut().zip(&b).for_each(|(s, v)| *s += w * f64::from(*v));
        if let Some(m) = trees.iter().max() {
            offset = m
                .checked_add(1)
                .and_then(|next| offset.checked_add(next))
                .ok_or_else(|| Error::graph(at, "tree ids out of range"))?;
        }
    }
    for name in same {
        if let Some(a) = attr(nodes[0], name) {
            merged.push(a.clone());
        }
    }
    if bias != 0.0 {
        // A stacking regressor's intercept (its members have one output each).
        base.resize(base.len().max(1), 0.0);
        base[0] += bias;
    }
    if !base.is_empty() {
        merged.push(float_list("base_values", base.into_iter().map(|v| v as f32).collect()));
    }
    Ok(NodeProto { attribute: merged, ..Default::default() })
}
