//! The commitment hash (Poseidon, width 9, as [`crate::poseidon_hash`]) in-circuit, laid out for
//! few nonzeros, which is what MicroSpartan's cost follows (DESIGN.md).
//!
//! It follows [`PoseidonParams::permute`] (neptune's optimized static form) round by round. State
//! elements are linear combinations, so the linear layers cost no constraint; a quintic S-box
//! costs four constraints (its input made a variable, then `x²`, `x⁴`, `x⁵`), about 21
//! nonzeros. In the partial rounds only the first element goes through an S-box and the others
//! only grow by one term a round; they are made variables again when they grow past
//! [`REFRESH_TERMS`], which bounds the S-box inputs' width. About 3,530 nonzeros a permutation,
//! against 5,900 for nova-snark's compact sponge circuit (and 9,700 for its plain one).

use std::sync::OnceLock;

use ff::Field;
use nova_snark::frontend::{ConstraintSystem, LinearCombination, SynthesisError, Variable};

use crate::{poseidon_params, sponge_tag, Fr, PoseidonParams};

/// Terms past which the partial rounds' growing state elements are made variables again.
pub const REFRESH_TERMS: usize = 12;

fn params() -> &'static PoseidonParams {
    static PARAMS: OnceLock<PoseidonParams> = OnceLock::new();
    PARAMS.get_or_init(poseidon_params)
}

/// A field element in-circuit: a linear combination of variables and its value (`None` while only
/// the shape is synthesized).
#[derive(Clone, Debug)]
pub struct Num {
    /// The linear combination.
    pub lc: LinearCombination<Fr>,
    /// Its value.
    pub value: Option<Fr>,
}

impl Num {
    /// The constant `c`.
    pub fn constant<CS: ConstraintSystem<Fr>>(c: Fr) -> Self {
        Self { lc: LinearCombination::zero() + (c, CS::one()), value: Some(c) }
    }

    /// Zero (no terms).
    pub fn zero() -> Self {
        Self { lc: LinearCombination::zero(), value: Some(Fr::ZERO) }
    }

    /// The variable `var`, whose value is `value`.
    pub fn var(var: Variable, value: Option<Fr>) -> Self {
        Self { lc: LinearCombination::zero() + var, value }
    }

    /// `self + k · other`.
    pub fn add_scaled(&self, k: Fr, other: &Self) -> Self {
        let mut lc = self.lc.clone();
        for (var, coeff) in other.lc.iter() {
            lc = lc + (k * coeff, var);
        }
        Self { lc, value: self.value.zip(other.value).map(|(a, b)| a + k * b) }
    }

    /// `self + c`.
    pub fn add_constant<CS: ConstraintSystem<Fr>>(&self, c: Fr) -> Self {
        self.add_scaled(c, &Self::constant::<CS>(Fr::ONE))
    }

    /// `Σ k_i · x_i`, built in one linear combination (no copy of the partial sums).
    pub fn combine<'a>(terms: impl IntoIterator<Item = (Fr, &'a Self)>) -> Self {
        let mut lc = LinearCombination::zero();
        let mut value = Some(Fr::ZERO);
        for (k, x) in terms {
            for (var, coeff) in x.lc.iter() {
                lc = lc + (k * coeff, var);
            }
            value = value.zip(x.value).map(|(a, b)| a + k * b);
        }
        Self { lc, value }
    }

    /// The same value as one variable (one constraint), unless it already is one.
    pub fn materialize<CS: ConstraintSystem<Fr>>(&self, mut cs: CS) -> Result<Self, SynthesisError> {
        let single = self.lc.len() == 1 && self.lc.iter().all(|(v, c)| *c == Fr::ONE && v != CS::one());
        if single {
            return Ok(self.clone());
        }
        let value = self.value;
        let var = cs.alloc(|| "value", || value.ok_or(SynthesisError::AssignmentMissing))?;
        cs.enforce(|| "is the combination", |z| z + &self.lc, |z| z + CS::one(), |z| z + var);
        Ok(Self::var(var, value))
    }
}

/// `x⁵`, with `x` first made a variable.
fn sbox<CS: ConstraintSystem<Fr>>(mut cs: CS, x: &Num) -> Result<Num, SynthesisError> {
    let x = x.materialize(cs.namespace(|| "input"))?;
    let x2 = x.value.map(|v| v.square());
    let x4 = x2.map(|v| v.square());
    let x5 = x4.zip(x.value).map(|(a, b)| a * b);
    let v2 = cs.alloc(|| "x^2", || x2.ok_or(SynthesisError::AssignmentMissing))?;
    cs.enforce(|| "x * x", |z| z + &x.lc, |z| z + &x.lc, |z| z + v2);
    let v4 = cs.alloc(|| "x^4", || x4.ok_or(SynthesisError::AssignmentMissing))?;
    cs.enforce(|| "x^2 * x^2", |z| z + v2, |z| z + v2, |z| z + v4);
    let v5 = cs.alloc(|| "x^5", || x5.ok_or(SynthesisError::AssignmentMissing))?;
    cs.enforce(|| "x^4 * x", |z| z + v4, |z| z + &x.lc, |z| z + v5);
    Ok(Num::var(v5, x5))
}

/// The Poseidon permutation of `state` (width 9), exactly [`PoseidonParams::permute`].
pub fn permute<CS: ConstraintSystem<Fr>>(mut cs: CS, state: &[Num]) -> Result<Vec<Num>, SynthesisError> {
    let p = params();
    let t = p.width;
    assert_eq!(state.len(), t, "the permutation's width");
    let half = p.full_rounds / 2;
    let rounds = p.full_rounds + p.partial_rounds;
    let mut k = t;
    let mut state: Vec<Num> =
        state.iter().zip(&p.round_constants[..t]).map(|(s, c)| s.add_constant::<CS>(*c)).collect();
    for round in 0..rounds {
        let mut cs = cs.namespace(|| format!("round {round}"));
        let full = round < half || round >= half + p.partial_rounds;
        if full {
            let mut next = Vec::with_capacity(t);
            for (i, s) in state.iter().enumerate() {
                next.push(sbox(cs.namespace(|| format!("s-box {i}")), s)?);
            }
            if round != rounds - 1 {
                next = next.iter().zip(&p.round_constants[k..k + t]).map(|(s, c)| s.add_constant::<CS>(*c)).collect();
                k += t;
            }
            state = next;
        } else {
            state[0] = sbox(cs.namespace(|| "s-box"), &state[0])?.add_constant::<CS>(p.round_constants[k]);
            k += 1;
        }
        state = if round == half - 1 {
            (0..t).map(|j| Num::combine((0..t).map(|i| (p.pre_sparse[i][j], &state[i])))).collect()
        } else if round >= half && round < half + p.partial_rounds {
            let (w_hat, v_rest) = &p.sparse[round - half];
            let mut out = vec![Num::combine((0..t).map(|i| (w_hat[i], &state[i])))];
            out.extend((1..t).map(|j| state[j].add_scaled(v_rest[j - 1], &state[0])));
            if out[1..].iter().any(|s| s.lc.len() > REFRESH_TERMS) {
                for (j, s) in out.iter_mut().enumerate().skip(1) {
                    *s = s.materialize(cs.namespace(|| format!("refresh {j}")))?;
                }
            }
            out
        } else {
            (0..t).map(|i| Num::combine((0..t).map(|j| (p.mds[i][j], &state[j])))).collect()
        };
    }
    debug_assert_eq!(k, p.round_constants.len(), "every constant is used once");
    Ok(state)
}

/// The rate: elements absorbed a permutation.
pub fn rate() -> usize {
    params().width - 1
}

/// `H(elements)` (as [`crate::poseidon_hash`]): each group of up to eight elements is added into
/// the rate and permuted; the output is `state[1]`, a linear combination.
pub fn hash<CS: ConstraintSystem<Fr>>(mut cs: CS, elements: &[Num]) -> Result<Num, SynthesisError> {
    // The sponge's initial state: `[tag(n), 0, …]`.
    let mut state = vec![Num::zero(); params().width];
    state[0] = Num::constant::<CS>(sponge_tag(elements.len()));
    if elements.is_empty() {
        state = permute(cs.namespace(|| "permutation"), &state)?;
    }
    for (c, chunk) in elements.chunks(rate()).enumerate() {
        for (s, e) in state[1..].iter_mut().zip(chunk) {
            *s = s.add_scaled(Fr::ONE, e);
        }
        state = permute(cs.namespace(|| format!("permutation {c}")), &state)?;
    }
    Ok(state.swap_remove(1))
}
