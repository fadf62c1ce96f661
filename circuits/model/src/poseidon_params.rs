//! The Poseidon parameters of the commitment hash, exported for other implementations (the
//! Solidity `Poseidon` library), and a straightforward re-implementation of the permutation from
//! them that the tests hold against nova-snark's own sponge.
//!
//! nova-snark stores the permutation in neptune's optimized static form: compressed round
//! constants, the MDS matrix, a pre-sparse matrix and one sparse matrix per partial round. They
//! are read through the crate's own serde encoding of `PoseidonConstants`.

use ff::{Field, PrimeField};
use std::sync::OnceLock;

use nova_snark::frontend::gadgets::poseidon::{IOPattern, SpongeOp};

use crate::{
    commit::{poseidon_constants, wide_poseidon_constants},
    Fr,
};

/// The permutation's parameters in the order a port consumes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoseidonParams {
    /// State width t (arity + 1).
    pub width: usize,
    /// Full rounds (half before, half after the partial rounds).
    pub full_rounds: usize,
    /// Partial rounds.
    pub partial_rounds: usize,
    /// Compressed round constants: `width · full_rounds + partial_rounds` of them.
    pub round_constants: Vec<Fr>,
    /// The MDS matrix M, `mds[i][j]`, applied as `s'_i = Σ_j M[i][j] s_j`.
    pub mds: Vec<Vec<Fr>>,
    /// The pre-sparse matrix P, applied as `s'_j = Σ_i P[i][j] s_i` after the last first-half full round.
    pub pre_sparse: Vec<Vec<Fr>>,
    /// Per partial round: `w_hat` (width) and `v_rest` (width - 1) of its sparse matrix.
    pub sparse: Vec<(Vec<Fr>, Vec<Fr>)>,
}

fn field(v: &serde_json::Value) -> Fr {
    // nova-snark serializes field elements as the little-endian hex of their representation.
    let hex_le = v.as_str().expect("field elements serialize as hex strings");
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_le, &mut bytes).expect("32 bytes");
    Option::from(Fr::from_repr(bytes.into())).expect("canonical")
}

fn vector(v: &serde_json::Value) -> Vec<Fr> {
    v.as_array().expect("an array").iter().map(field).collect()
}

fn matrix(v: &serde_json::Value) -> Vec<Vec<Fr>> {
    v.as_array().expect("rows").iter().map(vector).collect()
}

/// The commitment hash's parameters.
pub fn poseidon_params() -> PoseidonParams {
    params_of(serde_json::to_value(poseidon_constants()).expect("constants serialize"))
}

/// The wide hash's parameters: Poseidon of width 25 (rate 24), `Strength::Standard`, as
/// nova-snark generates them for a sponge of arity 24 (its round numbers for that width, its
/// Grain round constants and Cauchy MDS matrix). It hashes a tile's state and a tile
/// commitment's preimage, 22 and 24 elements, in one permutation each
/// ([`crate::tiles::TileState::commitment`], [`crate::tiles::tile_commitment`]); no contract
/// computes it.
pub fn wide_poseidon_params() -> &'static PoseidonParams {
    static PARAMS: OnceLock<PoseidonParams> = OnceLock::new();
    PARAMS.get_or_init(|| params_of(serde_json::to_value(wide_poseidon_constants()).expect("constants serialize")))
}

/// The parameters from nova-snark's serde encoding of its `PoseidonConstants`.
fn params_of(v: serde_json::Value) -> PoseidonParams {
    let full_rounds = v["rf"].as_u64().expect("rf") as usize;
    let partial_rounds = v["rp"].as_u64().expect("rp") as usize;
    let mds = matrix(&v["mds"]["m"]);
    let params = PoseidonParams {
        width: mds.len(),
        full_rounds,
        partial_rounds,
        round_constants: vector(&v["crc"]),
        mds,
        pre_sparse: matrix(&v["psm"]),
        sparse: v["sm"]
            .as_array()
            .expect("sparse matrices")
            .iter()
            .map(|m| (vector(&m["w_hat"]), vector(&m["v_rest"])))
            .collect(),
    };
    assert_eq!(params.round_constants.len(), params.width * full_rounds + partial_rounds);
    assert_eq!(params.sparse.len(), partial_rounds);
    params
}

/// The sponge's initial capacity element for absorbing `n` elements then squeezing one: the
/// value of the IO pattern `[Absorb(n), Squeeze(1)]` with domain separator 0.
pub fn sponge_tag(n: usize) -> Fr {
    let value = IOPattern(vec![SpongeOp::Absorb(n as u32), SpongeOp::Squeeze(1)]).value(0);
    Fr::from_u128(value)
}

impl PoseidonParams {
    /// The permutation, computed straightforwardly from the exported parameters.
    pub fn permute(&self, state: &mut [Fr]) {
        let t = self.width;
        let half = self.full_rounds / 2;
        let sbox = |x: Fr| x.square().square() * x;
        let mut k = 0;
        for (s, c) in state.iter_mut().zip(&self.round_constants[..t]) {
            *s += c;
        }
        k += t;
        let rounds = self.full_rounds + self.partial_rounds;
        for round in 0..rounds {
            let full = round < half || round >= half + self.partial_rounds;
            let last = round == rounds - 1;
            if full {
                for s in state.iter_mut() {
                    *s = sbox(*s);
                }
                if !last {
                    for (s, c) in state.iter_mut().zip(&self.round_constants[k..k + t]) {
                        *s += c;
                    }
                    k += t;
                }
            } else {
                state[0] = sbox(state[0]) + self.round_constants[k];
                k += 1;
            }
            let next: Vec<Fr> = if round == half - 1 {
                (0..t).map(|j| (0..t).map(|i| self.pre_sparse[i][j] * state[i]).sum()).collect()
            } else if round >= half && round < half + self.partial_rounds {
                let (w_hat, v_rest) = &self.sparse[round - half];
                let mut out = vec![Fr::ZERO; t];
                out[0] = (0..t).map(|i| w_hat[i] * state[i]).sum();
                for j in 1..t {
                    out[j] = state[j] + v_rest[j - 1] * state[0];
                }
                out
            } else {
                (0..t).map(|i| (0..t).map(|j| self.mds[i][j] * state[j]).sum()).collect()
            };
            state.copy_from_slice(&next);
        }
        assert_eq!(k, self.round_constants.len(), "every constant is used once");
    }

    /// The sponge hash (as [`crate::poseidon_hash`]): state `[tag, 0, …]`; each group of up to
    /// `width - 1` elements is added into the rate and permuted; the output is `state[1]`.
    pub fn hash(&self, elements: &[Fr]) -> Fr {
        let rate = self.width - 1;
        let mut state = vec![Fr::ZERO; self.width];
        state[0] = sponge_tag(elements.len());
        if elements.is_empty() {
            self.permute(&mut state);
        }
        for chunk in elements.chunks(rate) {
            for (s, e) in state[1..].iter_mut().zip(chunk) {
                *s += e;
            }
            self.permute(&mut state);
        }
        state[1]
    }

    /// The parameters as 32-byte big-endian words, in this order: round constants, MDS (row
    /// major), pre-sparse (row major), then per partial round `w_hat` followed by `v_rest`.
    /// This is the constants blob of `contracts/sol/lib/Poseidon.sol`.
    pub fn to_words(&self) -> Vec<[u8; 32]> {
        let mut out = Vec::new();
        let mut push = |f: &Fr| {
            let mut b: [u8; 32] = f.to_repr().into();
            b.reverse();
            out.push(b);
        };
        self.round_constants.iter().for_each(&mut push);
        self.mds.iter().flatten().for_each(&mut push);
        self.pre_sparse.iter().flatten().for_each(&mut push);
        for (w, v) in &self.sparse {
            w.iter().chain(v).for_each(&mut push);
        }
        out
    }
}
