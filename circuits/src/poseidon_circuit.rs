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
//!
//! The tile circuit hashes its state and its tile commitment by the wide hash ([`wide_hash`],
//! width 25: 24 elements a permutation) and permutes its sponges by [`permute_lean`], both laid
//! out for few constraints instead ([`lean_permutation`]): a whole proof's cost follows the
//! full-size values a step commits to, one a variable and one a constraint's cross term, while
//! the tile's nonzeros stay under MicroSpartan's N = 2^16 (61,413 of 65,536).

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
    quintic(cs, &x)
}

/// `x⁵` of an `x` made a variable or not (three constraints).
fn quintic<CS: ConstraintSystem<Fr>>(mut cs: CS, x: &Num) -> Result<Num, SynthesisError> {
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
pub fn hash<CS: ConstraintSystem<Fr>>(cs: CS, elements: &[Num]) -> Result<Num, SynthesisError> {
    hash_with(cs, params(), elements, false)
}

/// The wide hash ([`crate::wide_poseidon_params`], as [`PoseidonParams::hash`]): up to 24
/// elements in one permutation of width 25, laid out as [`permute_lean`].
pub fn wide_hash<CS: ConstraintSystem<Fr>>(cs: CS, elements: &[Num]) -> Result<Num, SynthesisError> {
    hash_with(cs, crate::wide_poseidon_params(), elements, true)
}

/// The sponge hash of the parameters `p` ([`PoseidonParams::hash`]), by [`lean_permutation`]
/// where `lean`, by [`permute`]'s layout otherwise.
fn hash_with<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    p: &PoseidonParams,
    elements: &[Num],
    lean: bool,
) -> Result<Num, SynthesisError> {
    let permute = |cs: nova_snark::frontend::Namespace<'_, Fr, CS::Root>, state: &[Num]| {
        if lean {
            lean_permutation(cs, p, state)
        } else {
            permute(cs, state)
        }
    };
    // The sponge's initial state: `[tag(n), 0, …]`.
    let mut state = vec![Num::zero(); p.width];
    state[0] = Num::constant::<CS>(sponge_tag(elements.len()));
    if elements.is_empty() {
        state = permute(cs.namespace(|| "permutation"), &state)?;
    }
    for (c, chunk) in elements.chunks(p.width - 1).enumerate() {
        for (s, e) in state[1..].iter_mut().zip(chunk) {
            *s = s.add_scaled(Fr::ONE, e);
        }
        state = permute(cs.namespace(|| format!("permutation {c}")), &state)?;
    }
    Ok(state.swap_remove(1))
}

/// The commitment hash's permutation (width 9) laid out as the wide hash's: see
/// [`lean_permutation`]. The tile's sponges.
pub fn permute_lean<CS: ConstraintSystem<Fr>>(cs: CS, state: &[Num]) -> Result<Vec<Num>, SynthesisError> {
    lean_permutation(cs, params(), state)
}

/// The permutation of the parameters `p`, exactly [`PoseidonParams::permute`], laid out for few
/// constraints rather than few nonzeros:
/// - in the first round, a constant S-box input (the capacity's tag, an empty lane) costs no
///   constraint, and one of at most two terms (a variable and a round constant) is squared as it
///   is rather than made a variable;
/// - every later S-box input is made a variable (it is a combination of the last round's
///   S-boxes, never a single variable);
/// - the partial rounds' other elements are never made variables again: they grow by one term a
///   round (about 2,500 more nonzeros for the wide hash than a refresh every 12 terms, against 24
///   constraints a refresh).
///
/// So the layout depends only on the input's linear combinations, and a witness generator
/// computes the rounds between the first and the last on values alone: their linear
/// combinations are only read by constraints, which a witness generator does not build.
fn lean_permutation<CS: ConstraintSystem<Fr>>(
    mut cs: CS,
    p: &PoseidonParams,
    state: &[Num],
) -> Result<Vec<Num>, SynthesisError> {
    let t = p.width;
    assert_eq!(state.len(), t, "the permutation's width");
    let half = p.full_rounds / 2;
    let rounds = p.full_rounds + p.partial_rounds;
    let values_only = cs.is_witness_generator();
    let mut k = t;
    let one = Num::constant::<CS>(Fr::ONE);
    let mut state: Vec<Num> =
        state.iter().zip(&p.round_constants[..t]).map(|(s, c)| s.add_constant::<CS>(*c)).collect();
    for round in 0..rounds {
        let mut cs = cs.namespace(|| format!("round {round}"));
        let full = round < half || round >= half + p.partial_rounds;
        // The linear layer after this round: values alone, unless a constraint outside reads it.
        let alone = values_only && round != rounds - 1;
        let combine = |terms: Vec<(Fr, &Num)>| linear(alone, terms);
        if full {
            let mut next = Vec::with_capacity(t);
            for (i, s) in state.iter().enumerate() {
                next.push(lean_sbox(cs.namespace(|| format!("s-box {i}")), s, round == 0)?);
            }
            if round != rounds - 1 {
                for (s, c) in next.iter_mut().zip(&p.round_constants[k..k + t]) {
                    *s = combine(vec![(Fr::ONE, &*s), (*c, &one)]);
                }
                k += t;
            }
            state = next;
        } else {
            let x5 = lean_sbox(cs.namespace(|| "s-box"), &state[0], false)?;
            state[0] = combine(vec![(Fr::ONE, &x5), (p.round_constants[k], &one)]);
            k += 1;
        }
        state = if round == half - 1 {
            (0..t).map(|j| combine((0..t).map(|i| (p.pre_sparse[i][j], &state[i])).collect())).collect()
        } else if round >= half && round < half + p.partial_rounds {
            let (w_hat, v_rest) = &p.sparse[round - half];
            let mut out = vec![combine((0..t).map(|i| (w_hat[i], &state[i])).collect())];
            out.extend((1..t).map(|j| combine(vec![(Fr::ONE, &state[j]), (v_rest[j - 1], &state[0])])));
            out
        } else {
            (0..t).map(|i| combine((0..t).map(|j| (p.mds[i][j], &state[j])).collect())).collect()
        };
    }
    debug_assert_eq!(k, p.round_constants.len(), "every constant is used once");
    Ok(state)
}

/// `Σ k_i · x_i`: its value alone where `alone`, else with its linear combination.
fn linear(alone: bool, terms: Vec<(Fr, &Num)>) -> Num {
    if alone {
        let value = terms.iter().try_fold(Fr::ZERO, |acc, (k, x)| x.value.map(|v| acc + *k * v));
        Num { lc: LinearCombination::zero(), value }
    } else {
        Num::combine(terms)
    }
}

/// [`lean_permutation`]'s S-box: in the `first` round, a constant input costs nothing and one of
/// at most two terms is squared as it is; otherwise the input is made a variable.
fn lean_sbox<CS: ConstraintSystem<Fr>>(mut cs: CS, x: &Num, first: bool) -> Result<Num, SynthesisError> {
    if first {
        if x.lc.iter().all(|(v, _)| v == CS::one()) {
            let c: Fr = x.lc.iter().map(|(_, k)| *k).sum();
            return Ok(Num::constant::<CS>(c.square().square() * c));
        }
        if x.lc.len() <= 2 {
            return quintic(cs, x);
        }
    }
    let value = x.value;
    let var = cs.alloc(|| "input", || value.ok_or(SynthesisError::AssignmentMissing))?;
    cs.enforce(|| "is the combination", |z| z + &x.lc, |z| z + CS::one(), |z| z + var);
    quintic(cs, &Num::var(var, value))
}

#[cfg(test)]
mod tests {
    use nova_snark::frontend::{r1cs::NovaWitness, solver::SatisfyingAssignment, Circuit};

    use super::*;
    use crate::folding::{FoldingKeys, E};

    /// The wide hash of 22 private values and a lean permutation of nine, each equal to a public
    /// input: what a tile step computes with them.
    #[derive(Clone)]
    struct Lean {
        values: Vec<Fr>,
        expected: [Fr; 2],
    }

    impl Lean {
        fn honest(seed: u64) -> Self {
            let values: Vec<Fr> = (0..22u64).map(|i| Fr::from(seed * 1_000_003 + i * 7_919)).collect();
            let mut state: Vec<Fr> = values[..9].to_vec();
            params().permute(&mut state);
            Self { expected: [crate::wide_hash(&values), state[1]], values }
        }
    }

    impl Circuit<Fr> for Lean {
        fn synthesize<CS: ConstraintSystem<Fr>>(self, cs: &mut CS) -> Result<(), SynthesisError> {
            let mut elements = Vec::new();
            for (i, v) in self.values.iter().enumerate() {
                elements.push(Num::var(cs.alloc(|| format!("value {i}"), || Ok(*v))?, Some(*v)));
            }
            let wide = wide_hash(cs.namespace(|| "wide"), &elements)?;
            let permuted = permute_lean(cs.namespace(|| "lean"), &elements[..9])?;
            for (k, (out, expected)) in [&wide, &permuted[1]].into_iter().zip(self.expected).enumerate() {
                let input = cs.alloc_input(|| format!("expected {k}"), || Ok(expected))?;
                cs.enforce(|| format!("output {k}"), |z| z + &out.lc, |z| z + CS::one(), |z| z + input);
            }
            Ok(())
        }
    }

    #[test]
    fn a_witness_generator_computes_the_lean_rounds_on_values_alone_and_satisfies_the_shape() {
        let keys = FoldingKeys::insecure_test_setup(&Lean::honest(1)).unwrap();
        let mut rng = rand::rngs::OsRng;
        let mut witness = |circuit: Lean| {
            let mut cs = SatisfyingAssignment::<E>::new();
            assert!(cs.is_witness_generator());
            circuit.synthesize(&mut cs).unwrap();
            cs.r1cs_instance_and_witness(&keys.shape, &keys.ck, &mut rng).unwrap()
        };
        for seed in [1, 2, 3] {
            let (u, w) = witness(Lean::honest(seed));
            keys.shape.is_sat(&keys.ck, &u, &w).unwrap();
        }
        // A wrong output of either is not satisfied.
        for k in 0..2 {
            let mut wrong = Lean::honest(4);
            wrong.expected[k] += Fr::ONE;
            let (u, w) = witness(wrong);
            assert!(keys.shape.is_sat(&keys.ck, &u, &w).is_err(), "output {k}");
        }
    }
}
