//! The dispute game's state machine as the off-chain agents see it, and the pure solver that
//! picks each side's next move from its own trace (unit-testable without a chain).
//!
//! Mirrors `DisputeGame.sol`: the same phases in the same order (so `Phase::from(u8)` decodes the
//! contract's enum) and the same transitions:
//!
//! | phase | who moves | move | next |
//! |---|---|---|---|
//! | `awaiting_proposer_open` | proposer | `openDispute` (z_0, z_L) | `awaiting_challenger_open`, or `awaiting_proof` for private models, blind challenges and L ≤ K |
//! | `awaiting_challenger_open` | challenger | `challengerOpen` (z_0, z_L) | `awaiting_proposer_mid`, or `awaiting_proof` of the whole trace [0, L] when both z_L agree (the trace roots differ inside) |
//! | `awaiting_proposer_mid` | proposer | `proposerBisect` (z_mid) | `awaiting_challenger_mid` |
//! | `awaiting_challenger_mid` | challenger | `challengerBisect` (z_mid) | `awaiting_proposer_mid`, or `awaiting_proof` once hi - lo ≤ K |
//! | `awaiting_proof` | proposer | `proveSegment` (z_lo..z_hi, proof) | resolved |
//!
//! Any awaiting phase ends by `timeout` against the side to move once its clock is spent.

use std::fmt;

use alloy::primitives::FixedBytes;
use verdict_model::{Commitment, TraceTree};

/// A step commitment as the contracts carry it.
pub type Z = FixedBytes<32>;

/// The phase of a dispute. `None` (the default) is never a live dispute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Phase {
    /// No dispute (invalid as a live state).
    #[default]
    None,
    /// The proposer must open its endpoints.
    AwaitingProposerOpen,
    /// The challenger must open its endpoints.
    AwaitingChallengerOpen,
    /// The proposer must reveal the midpoint.
    AwaitingProposerMid,
    /// The challenger must reveal the midpoint.
    AwaitingChallengerMid,
    /// The proposer must prove the segment.
    AwaitingProof,
}

impl From<u8> for Phase {
    fn from(v: u8) -> Self {
        match v {
            1 => Self::AwaitingProposerOpen,
            2 => Self::AwaitingChallengerOpen,
            3 => Self::AwaitingProposerMid,
            4 => Self::AwaitingChallengerMid,
            5 => Self::AwaitingProof,
            _ => Self::None,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::AwaitingProposerOpen => "awaiting_proposer_open",
            Self::AwaitingChallengerOpen => "awaiting_challenger_open",
            Self::AwaitingProposerMid => "awaiting_proposer_mid",
            Self::AwaitingChallengerMid => "awaiting_challenger_mid",
            Self::AwaitingProof => "awaiting_proof",
        })
    }
}

/// A side of a dispute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The operator whose proposal was challenged.
    Proposer,
    /// The challenger.
    Challenger,
}

impl Phase {
    /// The side whose move it is, if any.
    pub fn to_move(self) -> Option<Role> {
        match self {
            Self::AwaitingProposerOpen | Self::AwaitingProposerMid | Self::AwaitingProof => Some(Role::Proposer),
            Self::AwaitingChallengerOpen | Self::AwaitingChallengerMid => Some(Role::Challenger),
            Self::None => None,
        }
    }
}

/// What an agent knows of a dispute (from `DisputeGame.disputeOf`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisputeView {
    /// The effective phase.
    pub phase: Phase,
    /// L, the model's step count (the trace is z_0..z_L).
    pub steps: usize,
    /// The segment's start.
    pub lo: usize,
    /// The segment's end.
    pub hi: usize,
}

/// A move, with everything the contract call needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do: it is the other side's move, or the dispute is over.
    Wait,
    /// `openDispute` (proposer) or `challengerOpen` (challenger).
    Open {
        /// z_0 and its Merkle proof.
        z0: (Z, Vec<Z>),
        /// z_L and its Merkle proof.
        z_last: (Z, Vec<Z>),
    },
    /// `proposerBisect` / `challengerBisect` at `index`.
    Bisect {
        /// The midpoint.
        index: usize,
        /// The mover's commitment there.
        z: Z,
        /// Its Merkle proof.
        proof: Vec<Z>,
    },
    /// `proveSegment` for [lo, hi): the proposer's z_lo..z_hi (the proof itself comes from the prover).
    ProveSegment {
        /// Segment start.
        lo: usize,
        /// Segment end.
        hi: usize,
        /// z_lo..z_hi of the proposer's trace.
        steps: Vec<Z>,
    },
}

/// A trace z_0..z_L and its Merkle tree (`verdict_model::TraceTree`, as `TraceMerkle.sol`).
#[derive(Clone, Debug)]
pub struct Trace {
    tree: TraceTree,
    zs: Vec<Commitment>,
}

impl Trace {
    /// The tree over z_0..z_L (at least z_0).
    pub fn new(zs: Vec<Commitment>) -> Self {
        Self { tree: TraceTree::new(&zs), zs }
    }

    /// A trace from commitments as the contracts carry them.
    pub fn from_words(zs: &[Z]) -> Self {
        Self::new(zs.iter().map(|z| Commitment(z.0)).collect())
    }

    /// The trace root a proposal or challenge posts.
    pub fn root(&self) -> Z {
        Z::from(self.tree.root())
    }

    /// z_i.
    pub fn z(&self, i: usize) -> Z {
        Z::from(self.zs[i].0)
    }

    /// z_i with its Merkle proof.
    pub fn opening(&self, i: usize) -> (Z, Vec<Z>) {
        let proof = self.tree.proof(i).expect("index inside the trace");
        (self.z(i), proof.into_iter().map(Z::from).collect())
    }
}

/// The next move of `role` in a dispute seen as `view`, playing its own `trace`. Pure: the same
/// inputs always give the same move.
pub fn next_action(role: Role, view: &DisputeView, trace: &Trace) -> Action {
    if view.phase.to_move() != Some(role) {
        return Action::Wait;
    }
    match view.phase {
        Phase::AwaitingProposerOpen | Phase::AwaitingChallengerOpen => {
            Action::Open { z0: trace.opening(0), z_last: trace.opening(view.steps) }
        }
        Phase::AwaitingProposerMid | Phase::AwaitingChallengerMid => {
            let index = (view.lo + view.hi) / 2;
            let (z, proof) = trace.opening(index);
            Action::Bisect { index, z, proof }
        }
        Phase::AwaitingProof => {
            Action::ProveSegment { lo: view.lo, hi: view.hi, steps: (view.lo..=view.hi).map(|i| trace.z(i)).collect() }
        }
        Phase::None => Action::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(n: usize, salt: u8) -> Trace {
        Trace::new((0..=n).map(|i| Commitment([i as u8 ^ salt; 32])).collect())
    }

    #[test]
    fn phases_decode_the_contract_enum_and_print_snake_case() {
        let names: Vec<String> = (0..=6u8).map(|v| Phase::from(v).to_string()).collect();
        assert_eq!(
            names,
            [
                "none",
                "awaiting_proposer_open",
                "awaiting_challenger_open",
                "awaiting_proposer_mid",
                "awaiting_challenger_mid",
                "awaiting_proof",
                "none"
            ]
        );
        assert_eq!(Phase::default(), Phase::None);
        assert_eq!(Phase::None.to_move(), None);
    }

    #[test]
    fn moves_reveal_the_movers_own_commitments_with_valid_proofs() {
        let t = trace(5, 0);
        let root: [u8; 32] = t.root().0;
        let view = |phase, lo, hi| DisputeView { phase, steps: 5, lo, hi };
        let Action::Open { z0, z_last } = next_action(Role::Challenger, &view(Phase::AwaitingChallengerOpen, 0, 5), &t)
        else {
            panic!("open")
        };
        let proof = |p: &[Z]| p.iter().map(|z| z.0).collect::<Vec<_>>();
        assert!(TraceTree::verify(&root, 6, 0, &Commitment(z0.0 .0), &proof(&z0.1)));
        assert!(TraceTree::verify(&root, 6, 5, &Commitment(z_last.0 .0), &proof(&z_last.1)));
        let Action::Bisect { index, z, proof: p } =
            next_action(Role::Proposer, &view(Phase::AwaitingProposerMid, 2, 5), &t)
        else {
            panic!("bisect")
        };
        assert_eq!(index, 3);
        assert_eq!(z, t.z(3));
        assert!(TraceTree::verify(&root, 6, 3, &Commitment(z.0), &proof(&p)));
        assert_eq!(
            next_action(Role::Proposer, &view(Phase::AwaitingProof, 2, 3), &t),
            Action::ProveSegment { lo: 2, hi: 3, steps: vec![t.z(2), t.z(3)] }
        );
        // Never a move out of turn.
        assert_eq!(next_action(Role::Challenger, &view(Phase::AwaitingProof, 2, 3), &t), Action::Wait);
        assert_eq!(next_action(Role::Proposer, &view(Phase::AwaitingChallengerMid, 2, 5), &t), Action::Wait);
    }
}
