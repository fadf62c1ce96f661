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
//! the tile's nonzeros stay under MicroSpartan's N = 2^16 (59,093 of 65,536).

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
/// - every later S-box input is a variable: the next round's inputs are made variables, and
///   an S-box's `x⁵` is **left open** and defined by them instead of being a variable of its
///   own. After a full round, `in = M · y` for `y_j = x⁵_j + c_j`, so `x⁴_j · x_j = (M⁻¹ ·
///   in)_j − c_j` is `x⁵`'s constraint (the first round's constant S-boxes: `(M⁻¹ · in)_j` equal
///   to the constant, a linear constraint); after a partial round, the next input
///   `in₀ = ŵ₀ · y + Σ_(i≥1) ŵ_i s_i` defines `y = x⁵ + c`, and the other elements become
///   `s_i + v_i · y`. An open S-box costs three constraints and three variables (`x`, `x²`,
///   `x⁴`), where making its input a variable and `x⁵` one took four of each; the round before
///   the partial rounds (one input could not define all its outputs) and the last round (no next
///   round) close theirs;
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
    let inverse = mds_inverse(p);
    let mut k = t;
    let one = Num::constant::<CS>(Fr::ONE);
    let mut state: Vec<Num> =
        state.iter().zip(&p.round_constants[..t]).map(|(s, c)| s.add_constant::<CS>(*c)).collect();
    // The last round's S-boxes, whose `x⁵` this round's inputs define.
    let mut pending = Pending::None;
    for round in 0..rounds {
        let mut cs = cs.namespace(|| format!("round {round}"));
        let full = round < half || round >= half + p.partial_rounds;
        // This round's `x⁵` is left to the next round's inputs, except before the partial rounds
        // (one input would have to define all of them) and in the last round (no next round).
        let defer = round != half - 1 && round != rounds - 1;
        // The linear layer after this round: values alone, unless a constraint outside reads it.
        let alone = values_only && round != rounds - 1;
        let combine = |terms: Vec<(Fr, &Num)>| linear(alone, terms);
        // The inputs that the last round's S-boxes left undefined, made variables.
        match std::mem::replace(&mut pending, Pending::None) {
            Pending::None => {}
            Pending::Full(boxes) => {
                // `y = M⁻¹ · in`: each S-box's `x⁵` plus the round constant added after it.
                let inputs = (0..t)
                    .map(|m| alloc(cs.namespace(|| format!("input {m}")), state[m].value))
                    .collect::<Result<Vec<_>, _>>()?;
                // A witness generator builds no constraint.
                for (j, (b, c)) in boxes.into_iter().enumerate().filter(|_| !values_only) {
                    let y = Num::combine((0..t).map(|m| (inverse[j][m], &inputs[m])));
                    match b {
                        SBox::Open { x4, x } => cs.enforce(
                            || format!("x^4 * x {j}"),
                            |z| z + x4,
                            |z| z + &x.lc,
                            |z| z + &y.lc - (c, CS::one()),
                        ),
                        // A constant S-box (the first round's): `y` is the constant.
                        b => {
                            let c = b.value().map_or(c, |v| v + c);
                            cs.enforce(
                                || format!("constant {j}"),
                                |z| z + &y.lc,
                                |z| z + CS::one(),
                                |z| z + (c, CS::one()),
                            )
                        }
                    }
                }
                state = inputs;
            }
            Pending::Partial(partial) => {
                let PartialBox { x4, x, c, w0, rest, before } = *partial;
                // `y = (in₀ − Σ_(i≥1) ŵ_i s_i) / ŵ₀`, the S-box's `x⁵` plus its round constant.
                // The others: `s_i + v_i · y`.
                let input = alloc(cs.namespace(|| "input 0"), state[0].value)?;
                let y = linear(values_only, vec![(w0, &input), (-w0, &rest)]);
                cs.enforce(|| "x^4 * x", |z| z + x4, |z| z + &x.lc, |z| z + &y.lc - (c, CS::one()));
                let others = before
                    .iter()
                    .zip(&p.sparse[round - half - 1].1)
                    .map(|(s, v)| combine(vec![(Fr::ONE, s), (*v, &y)]));
                state = std::iter::once(input).chain(others).collect();
            }
        }
        if full {
            let mut next = Vec::with_capacity(t);
            let mut boxes = Vec::with_capacity(t);
            for (i, s) in state.iter().enumerate() {
                let b = lean_sbox(cs.namespace(|| format!("s-box {i}")), s, round == 0, defer)?;
                let c = if round == rounds - 1 { Fr::ZERO } else { p.round_constants[k + i] };
                next.push(match &b {
                    SBox::Constant(v) => Num::constant::<CS>(*v + c),
                    SBox::Var(x5) => combine(vec![(Fr::ONE, x5), (c, &one)]),
                    SBox::Open { .. } => Num { lc: LinearCombination::zero(), value: b.value().map(|v| v + c) },
                });
                boxes.push((b, c));
            }
            if round != rounds - 1 {
                k += t;
            }
            state = if round == half - 1 {
                (0..t).map(|j| combine((0..t).map(|i| (p.pre_sparse[i][j], &next[i])).collect())).collect()
            } else {
                let values: Vec<Option<Fr>> = (0..t)
                    .map(|i| (0..t).try_fold(Fr::ZERO, |acc, j| next[j].value.map(|v| acc + p.mds[i][j] * v)))
                    .collect();
                if defer {
                    pending = Pending::Full(boxes);
                    values.into_iter().map(|value| Num { lc: LinearCombination::zero(), value }).collect()
                } else {
                    (0..t).map(|i| combine((0..t).map(|j| (p.mds[i][j], &next[j])).collect())).collect()
                }
            };
        } else {
            let b = lean_sbox(cs.namespace(|| "s-box"), &state[0], false, true)?;
            let c = p.round_constants[k];
            k += 1;
            let w_hat = &p.sparse[round - half].0;
            let y = b.value().map(|v| v + c);
            let rest = combine((1..t).map(|i| (w_hat[i], &state[i])).collect());
            // Only the next input's value: the others are the next round's to build.
            let next = y.zip(rest.value).map(|(y, r)| w_hat[0] * y + r);
            let SBox::Open { x4, x } = b else { unreachable!("a partial round's S-box is left open") };
            let w0 = w_hat[0].invert().expect("the sparse matrices' first entries are nonzero");
            let before = state.split_off(1);
            pending = Pending::Partial(Box::new(PartialBox { x4, x, c, w0, rest, before }));
            state = vec![Num { lc: LinearCombination::zero(), value: next }];
        }
    }
    debug_assert_eq!(k, p.round_constants.len(), "every constant is used once");
    Ok(state)
}

/// S-boxes whose `x⁵` the next round's inputs define ([`lean_permutation`]).
enum Pending {
    None,
    /// A full round's, one per element, each with the round constant added after it.
    Full(Vec<(SBox, Fr)>),
    /// A partial round's.
    Partial(Box<PartialBox>),
}

/// A partial round's open S-box: `x⁴`, `x` and the constant `c` added after it, `1/ŵ₀`,
/// `Σ_(i≥1) ŵ_i s_i` and the other elements `s_i` before its sparse layer.
struct PartialBox {
    x4: Variable,
    x: Num,
    c: Fr,
    w0: Fr,
    rest: Num,
    before: Vec<Num>,
}

/// An S-box's output: a constant (a constant input's), a variable, or left open: `x⁵` of `x`
/// by its `x⁴`, for the next round's inputs to define.
enum SBox {
    Constant(Fr),
    Var(Num),
    Open { x4: Variable, x: Num },
}

impl SBox {
    /// `x⁵`.
    fn value(&self) -> Option<Fr> {
        match self {
            SBox::Constant(c) => Some(*c),
            SBox::Var(x5) => x5.value,
            SBox::Open { x, .. } => x.value.map(|v| v.square().square() * v),
        }
    }
}

/// A variable of value `value`.
fn alloc<CS: ConstraintSystem<Fr>>(mut cs: CS, value: Option<Fr>) -> Result<Num, SynthesisError> {
    let var = cs.alloc(|| "value", || value.ok_or(SynthesisError::AssignmentMissing))?;
    Ok(Num::var(var, value))
}

/// `M⁻¹` of `p`'s MDS matrix, `inverse[j][m]` (computed once a width).
fn mds_inverse(p: &PoseidonParams) -> &'static [Vec<Fr>] {
    type Inverses = Vec<(usize, &'static [Vec<Fr>])>;
    static INVERSES: std::sync::Mutex<Inverses> = std::sync::Mutex::new(Vec::new());
    let mut inverses = INVERSES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, inverse)) = inverses.iter().find(|(w, _)| *w == p.width) {
        return inverse;
    }
    let inverse: &'static [Vec<Fr>] = Box::leak(invert(&p.mds).into_boxed_slice());
    inverses.push((p.width, inverse));
    inverse
}

/// The inverse of the invertible square matrix `m`, by Gauss-Jordan elimination.
fn invert(m: &[Vec<Fr>]) -> Vec<Vec<Fr>> {
    let n = m.len();
    let mut a: Vec<Vec<Fr>> = m
        .iter()
        .enumerate()
        .map(|(i, row)| row.iter().copied().chain((0..n).map(|j| if i == j { Fr::ONE } else { Fr::ZERO })).collect())
        .collect();
    for col in 0..n {
        let pivot = (col..n).find(|r| !bool::from(a[*r][col].is_zero())).expect("an MDS matrix is invertible");
        a.swap(col, pivot);
        let inv = a[col][col].invert().expect("a nonzero pivot");
        a[col].iter_mut().for_each(|v| *v *= inv);
        let pivot_row = a[col].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != col && !bool::from(row[col].is_zero()) {
                let f = row[col];
                row.iter_mut().zip(&pivot_row).for_each(|(v, p)| *v -= f * p);
            }
        }
    }
    a.into_iter().map(|row| row[n..].to_vec()).collect()
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
/// at most two terms is squared as it is; otherwise the input is made a variable, unless it is
/// one. Where `defer`, `x⁵` is left open (two constraints here, the third where the next
/// round's inputs are made variables); otherwise it is a variable (three).
fn lean_sbox<CS: ConstraintSystem<Fr>>(mut cs: CS, x: &Num, first: bool, defer: bool) -> Result<SBox, SynthesisError> {
    if first && x.lc.iter().all(|(v, _)| v == CS::one()) {
        let c: Fr = x.lc.iter().map(|(_, k)| *k).sum();
        return Ok(SBox::Constant(c.square().square() * c));
    }
    // `materialize` keeps an input that is already a variable.
    let x = if first && x.lc.len() <= 2 { x.clone() } else { x.materialize(cs.namespace(|| "input"))? };
    let x2 = x.value.map(|v| v.square());
    let x4 = x2.map(|v| v.square());
    let v2 = cs.alloc(|| "x^2", || x2.ok_or(SynthesisError::AssignmentMissing))?;
    cs.enforce(|| "x * x", |z| z + &x.lc, |z| z + &x.lc, |z| z + v2);
    let v4 = cs.alloc(|| "x^4", || x4.ok_or(SynthesisError::AssignmentMissing))?;
    cs.enforce(|| "x^2 * x^2", |z| z + v2, |z| z + v2, |z| z + v4);
    if defer {
        return Ok(SBox::Open { x4: v4, x });
    }
    let x5 = x4.zip(x.value).map(|(a, b)| a * b);
    let v5 = cs.alloc(|| "x^5", || x5.ok_or(SynthesisError::AssignmentMissing))?;
    cs.enforce(|| "x^4 * x", |z| z + v4, |z| z + &x.lc, |z| z + v5);
    Ok(SBox::Var(Num::var(v5, x5)))
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
    fn the_mds_inverses_invert_and_an_open_s_box_saves_a_variable_and_a_constraint() {
        for p in [params(), crate::wide_poseidon_params()] {
            let inverse = mds_inverse(p);
            for (i, row) in p.mds.iter().enumerate() {
                for j in 0..p.width {
                    let product: Fr = row.iter().zip(inverse).map(|(m, inv)| *m * inv[j]).sum();
                    assert_eq!(product, if i == j { Fr::ONE } else { Fr::ZERO }, "width {}", p.width);
                }
            }
        }
        // The wide hash of 22 variables (width 25, rounds 0-3 full, 4-62 partial, 63-66 full),
        // round by round; each constraint allocates one variable. An open S-box costs `x²` and
        // `x⁴` in its round and `x⁵`'s constraint where the next round's inputs are made
        // variables; a closed one (rounds 3 and 66) `x²`, `x⁴`, `x⁵`.
        let mut cs = nova_snark::frontend::shape_cs::ShapeCS::<E>::new();
        let values: Vec<Num> =
            (0..22).map(|i| Num::var(cs.alloc(|| format!("value {i}"), || Ok(Fr::ZERO)).unwrap(), None)).collect();
        wide_hash(cs.namespace(|| "wide"), &values).unwrap();
        let p = crate::wide_poseidon_params();
        assert_eq!((p.width, p.full_rounds, p.partial_rounds), (25, 8, 59));
        let rounds = [
            22 * 2,      // 0: the inputs with their constants squared as they are, 3 constants free
            25 + 25 * 2, // 1, 2: the last round's x⁵ (or constant) by the inputs made variables
            25 + 25 * 2,
            25 + 25 * 3,       // 3: closed, before the partial rounds
            1 + 2,             // 4: its input made a variable
            58 * (1 + 2),      // 5-62: the last round's x⁵ by the input made a variable
            1 + 24 + 25 * 2,   // 63: the other 24 inputs made variables
            2 * (25 + 25 * 2), // 64, 65
            25 + 25 * 3,       // 66: closed, the last
        ];
        let expected: usize = rounds.iter().sum();
        assert_eq!(expected, 796);
        assert_eq!(cs.num_constraints(), expected);
        assert_eq!(cs.num_aux(), 22 + expected);
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
