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
