//! Parallel branches, `y = f(x) ⊕ g(x)` where both `f` and `g` apply activations (an Inception
//! block's towers, a two-tower model, a multi-scale temporal net), imported as a chain of layers.
//!
//! The branches run one after the other. `f`'s layers carry `x` (as a residual block carries its
//! shortcut, [`super::residual`]), and its end joins its output and `x` into one tensor `[f(x);
//! x]`. Then `g`'s layers read the `x` part and carry the `f(x)` part, and the node that joins the
//! branches (an `Add`, or a `Concat` over channels) ends that second block as it ends a residual
//! one. Exact in float: ReLU layers carrying non-negative values (or both signs of any value)
//! with a weight of 1. The graph's nodes are put in that order first ([`reorder`]): `f`'s, then
//! `g`'s, the computations of constants as soon as their inputs are.

use std::collections::{BinaryHeap, HashMap, HashSet};

use super::{GraphProto, NodeProto};

/// Operators that make a layer: a branch has one, and an activation after it (without one, the
/// path is a residual block's shortcut, which [`super::residual`] imports).
const LAYER_OPS: &[&str] = &["Gemm", "MatMul", "Conv", "ConvTranspose"];

/// Two branches from a tensor `x` to the node that joins them.
#[derive(Clone, Debug)]
pub(super) struct Fork {
    /// The tensor both branches read.
    pub x: String,
    /// The first branch's nodes (its first reader of `x` first), in order.
    pub a: Vec<usize>,
    /// The second branch's nodes.
    pub b: Vec<usize>,
    /// The `Add` or `Concat` that joins them.
    pub join: usize,
}

/// The tensors that do not depend on the model's input: initializers, `Constant`s, `Shape`s and
/// what is computed from them only.
fn fixed(graph: &GraphProto) -> HashSet<&str> {
    let mut fixed: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    fixed.insert("");
    for node in &graph.node {
        if node.op_type == "Constant"
            || node.op_type == "Shape"
            || node.input.iter().all(|i| fixed.contains(i.as_str()))
        {
            fixed.extend(node.output.iter().map(String::as_str));
        }
    }
    fixed
}

/// The nodes that read `tensor` as data (a `Shape` reads only its dimensions).
fn readers(graph: &GraphProto, tensor: &str) -> Vec<usize> {
    (0..graph.node.len())
        .filter(|i| graph.node[*i].op_type != "Shape" && graph.node[*i].input.iter().any(|n| n == tensor))
        .collect()
}

/// Whether `node` joins two computed tensors (and nothing else).
fn joins(node: &NodeProto, fixed: &HashSet<&str>) -> bool {
    matches!(node.op_type.as_str(), "Add" | "Concat")
        && node.input.len() == 2
        && node.input.iter().all(|i| !fixed.contains(i.as_str()))
}

/// The chain of nodes from `start`, each read only by the next, up to the node that joins it with
/// another tensor: the chain and that node.
fn chain(graph: &GraphProto, start: usize, fixed: &HashSet<&str>) -> Option<(Vec<usize>, usize)> {
    let mut path = vec![start];
    loop {
        let last = *path.last().expect("not empty");
        let [out] = graph.node[last].output.as_slice() else { return None };
        let [next] = readers(graph, out)[..] else { return None };
        if joins(&graph.node[next], fixed) {
            return Some((path, next));
        }
        if path.len() > graph.node.len() || graph.node[next].output.len() != 1 {
            return None;
        }
        path.push(next);
    }
}

/// The forks whose branches both apply an activation (with a linear branch, the fork is a
/// residual block's shortcut, [`super::residual`]).
pub(super) fn find(graph: &GraphProto, inputs: &[&str]) -> Vec<Fork> {
    let fixed = fixed(graph);
    let tensors = inputs.iter().copied().chain(graph.node.iter().flat_map(|n| n.output.iter().map(String::as_str)));
    let mut forks = Vec::new();
    for x in tensors.filter(|t| !fixed.contains(t)) {
        let [first, second] = readers(graph, x)[..] else { continue };
        let (Some((a, ja)), Some((b, jb))) = (chain(graph, first, &fixed), chain(graph, second, &fixed)) else {
            continue;
        };
        let has = |path: &[usize], ops: &[&str]| path.iter().any(|i| ops.contains(&graph.node[*i].op_type.as_str()));
        let nonlinear = |path: &[usize]| {
            has(path, LAYER_OPS)
                && (has(path, super::ACTIVATIONS) || has(path, &["MaxPool", "GlobalMaxPool", "ReduceMax"]))
        };
        // `x` read only by each branch's first node.
        let once = |path: &[usize]| path.iter().filter(|i| graph.node[**i].input.iter().any(|t| t == x)).count() == 1;
        if ja == jb && nonlinear(&a) && nonlinear(&b) && once(&a) && once(&b) {
            forks.push(Fork { x: x.to_string(), a, b, join: ja });
        }
    }
    forks
}

/// The graph with its nodes in an order the chain can import: each fork's first branch, then
/// its second, then the join; every other node as soon as its inputs are computed (a node keeps
/// its place unless a branch must come before it). The forks' node indices follow. `None` when
/// the nodes have no such order.
pub(super) fn reorder(graph: &GraphProto, forks: &mut [Fork]) -> Option<GraphProto> {
    let n = graph.node.len();
    let mut key: Vec<(usize, u8, usize)> = (0..n).map(|i| (i, 0, i)).collect();
    for f in forks.iter() {
        f.a.iter().for_each(|i| key[*i] = (f.join, 1, *i));
        f.b.iter().for_each(|i| key[*i] = (f.join, 2, *i));
    }
    let producer: HashMap<&str, usize> =
        graph.node.iter().enumerate().flat_map(|(i, node)| node.output.iter().map(move |o| (o.as_str(), i))).collect();
    let deps: Vec<HashSet<usize>> = graph
        .node
        .iter()
        .map(|node| node.input.iter().filter_map(|i| producer.get(i.as_str()).copied()).collect())
        .collect();
    let mut waiting: Vec<usize> = deps.iter().map(HashSet::len).collect();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, d) in deps.iter().enumerate() {
        d.iter().for_each(|p| users[*p].push(i));
    }
    let mut ready: BinaryHeap<std::cmp::Reverse<(usize, u8, usize)>> =
        (0..n).filter(|i| waiting[*i] == 0).map(|i| std::cmp::Reverse(key[i])).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse((_, _, i))) = ready.pop() {
        order.push(i);
        for u in &users[i] {
            waiting[*u] -= 1;
            if waiting[*u] == 0 {
                ready.push(std::cmp::Reverse(key[*u]));
            }
        }
    }
    if order.len() != n {
        return None;
    }
    let mut position = vec![0; n];
    order.iter().enumerate().for_each(|(p, i)| position[*i] = p);
    for f in forks.iter_mut() {
        f.a.iter_mut().chain(f.b.iter_mut()).for_each(|i| *i = position[*i]);
        f.join = position[f.join];
    }
    let mut reordered = graph.clone();
    reordered.node = order.into_iter().map(|i| graph.node[i].clone()).collect();
    Some(reordered)
}
