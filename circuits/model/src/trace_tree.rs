//! The Merkle tree over a trace's step commitments, as `contracts/sol/TraceMerkle.sol` checks it.
//!
//! Leaves are `keccak256(0x00 ‖ uint256 index ‖ z_index)`, inner nodes
//! `keccak256(0x01 ‖ left ‖ right)`, padded to a power of two with zero leaves (`[0; 32]`, not
//! hashed). The root is the "trace root" a proposal posts.

use sha3::{Digest, Keccak256};

use crate::Commitment;

/// A Merkle tree over z_0..z_L.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceTree {
    /// `levels[0]` are the (padded) leaves, the last level is the root.
    levels: Vec<Vec<[u8; 32]>>,
    count: usize,
}

fn hash65(prefix: u8, a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update([prefix]);
    h.update(a);
    h.update(b);
    h.finalize().into()
}

/// The leaf of step `index`.
pub fn trace_leaf(index: usize, z: &Commitment) -> [u8; 32] {
    let mut i = [0u8; 32];
    i[24..].copy_from_slice(&(index as u64).to_be_bytes());
    hash65(0x00, &i, &z.0)
}

/// The parent of two nodes.
pub fn trace_node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    hash65(0x01, left, right)
}

impl TraceTree {
    /// Builds the tree; `steps` must not be empty.
    pub fn new(steps: &[Commitment]) -> Self {
        assert!(!steps.is_empty(), "a trace has at least z_0");
        let width = steps.len().next_power_of_two();
        let mut leaves: Vec<[u8; 32]> = steps.iter().enumerate().map(|(i, z)| trace_leaf(i, z)).collect();
        leaves.resize(width, [0u8; 32]);
        let mut levels = vec![leaves];
        while levels.last().expect("non-empty").len() > 1 {
            let next = levels.last().expect("non-empty").chunks(2).map(|p| trace_node(&p[0], &p[1])).collect();
            levels.push(next);
        }
        Self { levels, count: steps.len() }
    }

    /// The root.
    pub fn root(&self) -> [u8; 32] {
        self.levels.last().expect("non-empty")[0]
    }

    /// Number of steps (leaves before padding).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always false: a trace has at least z_0.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The node at `index` of `level` (0: the padded leaves), if there is one.
    pub fn node(&self, level: usize, index: usize) -> Option<[u8; 32]> {
        self.levels.get(level)?.get(index).copied()
    }

    /// The siblings that prove the consecutive leaves `lo..=hi` at once ([`range_root`]'s order).
    pub fn range_proof(&self, lo: usize, hi: usize) -> Vec<[u8; 32]> {
        let mut out = Vec::new();
        range_walk(lo, hi, self.levels.len() - 1, |level, index| {
            out.push(self.levels[level][index]);
        });
        out
    }

    /// The sibling path of step `index`, leaf level first; `None` outside the trace.
    pub fn proof(&self, index: usize) -> Option<Vec<[u8; 32]>> {
        if index >= self.count {
            return None;
        }
        let mut position = index;
        let mut out = Vec::with_capacity(self.levels.len() - 1);
        for level in &self.levels[..self.levels.len() - 1] {
            out.push(level[position ^ 1]);
            position >>= 1;
        }
        Some(out)
    }

    /// Checks a proof the way the contract does.
    pub fn verify(root: &[u8; 32], count: usize, index: usize, z: &Commitment, proof: &[[u8; 32]]) -> bool {
        if index >= count || proof.len() != count.next_power_of_two().trailing_zeros() as usize {
            return false;
        }
        let mut h = trace_leaf(index, z);
        let mut position = index;
        for sibling in proof {
            h = if position & 1 == 0 { trace_node(&h, sibling) } else { trace_node(sibling, &h) };
            position >>= 1;
        }
        &h == root
    }
}

/// Walks the levels of a range proof of the leaves `lo..=hi` in a tree of `depth` levels, calling
/// `sibling(level, index)` for each sibling it needs, in order: at each level, the left
/// neighbour of the range when it starts at an odd index, then the right neighbour when it ends
/// at an even one.
fn range_walk(mut lo: usize, mut hi: usize, depth: usize, mut sibling: impl FnMut(usize, usize)) {
    for level in 0..depth {
        if lo & 1 == 1 {
            sibling(level, lo - 1);
            lo -= 1;
        }
        if hi & 1 == 0 {
            sibling(level, hi + 1);
            hi += 1;
        }
        (lo, hi) = (lo >> 1, hi >> 1);
    }
}

/// How many siblings a range proof of the leaves `lo..=hi` in a tree of `depth` levels has.
pub fn range_proof_len(lo: usize, hi: usize, depth: usize) -> usize {
    let mut n = 0;
    range_walk(lo, hi, depth, |_, _| n += 1);
    n
}

/// The root that the consecutive leaf hashes `leaves` (at `lo..`) and the range proof's
/// `siblings` lead to, or `None` when the proof has the wrong length: what
/// `NovaVerifier._tiles` computes.
pub fn range_root(lo: usize, leaves: &[[u8; 32]], siblings: &[[u8; 32]], depth: usize) -> Option<[u8; 32]> {
    let hi = lo + leaves.len().checked_sub(1)?;
    if siblings.len() != range_proof_len(lo, hi, depth) {
        return None;
    }
    let (mut lo, mut hi) = (lo, hi);
    let mut nodes: Vec<[u8; 32]> = leaves.to_vec();
    let mut next = siblings.iter();
    for _ in 0..depth {
        if lo & 1 == 1 {
            nodes.insert(0, *next.next()?);
            lo -= 1;
        }
        if hi & 1 == 0 {
            nodes.push(*next.next()?);
            hi += 1;
        }
        nodes = nodes.chunks(2).map(|p| trace_node(&p[0], &p[1])).collect();
        (lo, hi) = (lo >> 1, hi >> 1);
    }
    nodes.first().copied()
}
