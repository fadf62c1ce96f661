//! The in-circuit hashes: the commitment hash and the wide hash (width 25, the tile's state and
//! tile commitments) compute exactly their native hashes, and every variable they allocate is
//! pinned: changing any one of them alone leaves the constraints unsatisfied.

use ff::Field;
use nova_snark::frontend::{
    util_cs::test_cs::TestConstraintSystem, ConstraintSystem, Index, LinearCombination, SynthesisError, Variable,
};
use proptest::prelude::*;
use verdict_circuits::{
    poseidon_circuit::{hash, permute_lean, wide_hash, Num},
    poseidon_hash, poseidon_params, wide_hash as native_wide_hash, Fr,
};

/// Which in-circuit hash: the commitment hash, the wide hash, or the lean permutation's first
/// output ([`lean_first`]).
#[derive(Clone, Copy, Debug)]
enum Hash {
    Commitment,
    Wide,
    Lean,
}

impl Hash {
    fn circuit<CS: ConstraintSystem<Fr>>(self, cs: CS, elements: &[Num]) -> Result<Num, SynthesisError> {
        match self {
            Hash::Commitment => hash(cs, elements),
            Hash::Wide => wide_hash(cs, elements),
            Hash::Lean => lean_first(cs, elements),
        }
    }

    fn native(self, values: &[Fr]) -> Fr {
        match self {
            Hash::Commitment => poseidon_hash(values),
            Hash::Wide => native_wide_hash(values),
            Hash::Lean => native_lean_first(values),
        }
    }
}

/// A constraint system that adds `delta` to the value of its `target`-th private variable: a
/// prover that lies about exactly one intermediate value.
struct Perturb {
    inner: TestConstraintSystem<Fr>,
    target: usize,
    delta: Fr,
    allocated: usize,
}

impl Perturb {
    fn new(target: usize, delta: Fr) -> Self {
        Self { inner: TestConstraintSystem::new(), target, delta, allocated: 0 }
    }
}

impl ConstraintSystem<Fr> for Perturb {
    type Root = Self;

    fn alloc<F, A, AR>(&mut self, annotation: A, f: F) -> Result<Variable, SynthesisError>
    where
        F: FnOnce() -> Result<Fr, SynthesisError>,
        A: FnOnce() -> AR,
        AR: Into<String>,
    {
        let hit = self.allocated == self.target;
        self.allocated += 1;
        let delta = self.delta;
        self.inner.alloc(annotation, || f().map(|v| if hit { v + delta } else { v }))
    }

    fn alloc_input<F, A, AR>(&mut self, annotation: A, f: F) -> Result<Variable, SynthesisError>
    where
        F: FnOnce() -> Result<Fr, SynthesisError>,
        A: FnOnce() -> AR,
        AR: Into<String>,
    {
        self.inner.alloc_input(annotation, f)
    }

    fn enforce<A, AR, LA, LB, LC>(&mut self, annotation: A, a: LA, b: LB, c: LC)
    where
        A: FnOnce() -> AR,
        AR: Into<String>,
        LA: FnOnce(LinearCombination<Fr>) -> LinearCombination<Fr>,
        LB: FnOnce(LinearCombination<Fr>) -> LinearCombination<Fr>,
        LC: FnOnce(LinearCombination<Fr>) -> LinearCombination<Fr>,
    {
        self.inner.enforce(annotation, a, b, c)
    }

    fn push_namespace<NR, N>(&mut self, name_fn: N)
    where
        NR: Into<String>,
        N: FnOnce() -> NR,
    {
        self.inner.push_namespace(name_fn)
    }

    fn pop_namespace(&mut self) {
        self.inner.pop_namespace()
    }

    fn get_root(&mut self) -> &mut Self::Root {
        self
    }
}

/// Allocates `values` as private inputs and constrains `H(values)` to the public `expected`.
fn hash_equals<CS: ConstraintSystem<Fr>>(cs: &mut CS, values: &[Fr], expected: Fr) {
    hashed_equals(cs, Hash::Commitment, values, expected)
}

/// [`hash_equals`] by the in-circuit hash `h`.
fn hashed_equals<CS: ConstraintSystem<Fr>>(cs: &mut CS, h: Hash, values: &[Fr], expected: Fr) {
    let elements: Vec<Num> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Num::var(cs.alloc(|| format!("element {i}"), || Ok(*v)).unwrap(), Some(*v)))
        .collect();
    let out = h.circuit(cs.namespace(|| "hash"), &elements).unwrap();
    let expected = cs.alloc_input(|| "expected", || Ok(expected)).unwrap();
    cs.enforce(|| "the hash", |z| z + &out.lc, |z| z + CS::one(), |z| z + expected);
    assert!(matches!(Variable::get_unchecked(&expected), Index::Input(1)));
}

fn elements(n: usize, seed: u64) -> Vec<Fr> {
    (0..n as u64).map(|i| Fr::from(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i * 0x1234_5678_9ABC))).collect()
}

#[test]
fn the_circuit_hash_is_the_native_hash_for_every_length_up_to_three_permutations() {
    for n in 0..=24 {
        let values = elements(n, n as u64 + 1);
        let mut cs = TestConstraintSystem::<Fr>::new();
        hash_equals(&mut cs, &values, poseidon_hash(&values));
        assert!(cs.is_satisfied(), "length {n}: {:?}", cs.which_is_unsatisfied());
        let mut wrong = TestConstraintSystem::<Fr>::new();
        hash_equals(&mut wrong, &values, poseidon_hash(&values) + Fr::ONE);
        assert!(!wrong.is_satisfied(), "length {n}: a wrong hash is accepted");
    }
}

#[test]
fn one_permutation_costs_under_four_thousand_nonzeros() {
    let values = elements(8, 7);
    let mut cs = nova_snark::frontend::test_shape_cs::TestShapeCS::<nova_snark::provider::Bn256EngineKZG>::new();
    hash_equals(&mut cs, &values, Fr::ZERO);
    let nnz: usize = cs.constraints.iter().map(|(a, b, c, _)| a.len() + b.len() + c.len()).sum();
    assert!(nnz < 4_000, "{nnz} nonzeros for one permutation");
}

#[test]
fn the_wide_circuit_hash_is_the_native_one_for_every_length_of_one_permutation() {
    for n in 0..=24 {
        let values = elements(n, n as u64 + 5);
        let mut cs = TestConstraintSystem::<Fr>::new();
        hashed_equals(&mut cs, Hash::Wide, &values, native_wide_hash(&values));
        assert!(cs.is_satisfied(), "length {n}: {:?}", cs.which_is_unsatisfied());
        let mut wrong = TestConstraintSystem::<Fr>::new();
        hashed_equals(&mut wrong, Hash::Wide, &values, native_wide_hash(&values) + Fr::ONE);
        assert!(!wrong.is_satisfied(), "length {n}: a wrong hash is accepted");
    }
}

/// A lean permutation of the commitment hash's width, its first output as a hash.
fn lean_first<CS: ConstraintSystem<Fr>>(cs: CS, elements: &[Num]) -> Result<Num, SynthesisError> {
    let mut state = vec![Num::zero(); 9];
    for (s, e) in state.iter_mut().zip(elements) {
        *s = e.clone();
    }
    Ok(permute_lean(cs, &state)?.swap_remove(1))
}

fn native_lean_first(values: &[Fr]) -> Fr {
    let mut state = [Fr::ZERO; 9];
    state[..values.len()].copy_from_slice(values);
    poseidon_params().permute(&mut state);
    state[1]
}

#[test]
fn the_lean_permutation_is_the_native_one() {
    for n in [1, 2, 5, 9] {
        let values = elements(n, 40 + n as u64);
        let mut cs = TestConstraintSystem::<Fr>::new();
        hashed_equals(&mut cs, Hash::Lean, &values, native_lean_first(&values));
        assert!(cs.is_satisfied(), "{n} inputs: {:?}", cs.which_is_unsatisfied());
        let mut wrong = TestConstraintSystem::<Fr>::new();
        hashed_equals(&mut wrong, Hash::Lean, &values, native_lean_first(&values) - Fr::ONE);
        assert!(!wrong.is_satisfied(), "{n} inputs: a wrong output is accepted");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any one intermediate variable changed (by any nonzero amount) breaks a constraint.
    #[test]
    fn every_intermediate_value_is_pinned(n in 1usize..=17, which in 0usize..10_000, delta in 1u64..u64::MAX) {
        let values = elements(n, which as u64);
        let count = {
            let mut cs = Perturb::new(usize::MAX, Fr::ZERO);
            hash_equals(&mut cs, &values, poseidon_hash(&values));
            prop_assert!(cs.inner.is_satisfied());
            cs.allocated
        };
        // Skip the inputs themselves (free private values): only the hash's own variables.
        let target = n + which % (count - n);
        let mut cs = Perturb::new(target, Fr::from(delta));
        hash_equals(&mut cs, &values, poseidon_hash(&values));
        prop_assert!(!cs.inner.is_satisfied(), "variable {target} of {count} is free");
    }

    /// The same for the wide hash and the lean permutation.
    #[test]
    fn every_intermediate_value_of_the_lean_layout_is_pinned(
        n in 1usize..=24, which in 0usize..10_000, delta in 1u64..u64::MAX, wide in any::<bool>(),
    ) {
        let h = if wide { Hash::Wide } else { Hash::Lean };
        let n = if wide { n } else { 1 + n % 9 };
        let values = elements(n, which as u64 + 99);
        let count = {
            let mut cs = Perturb::new(usize::MAX, Fr::ZERO);
            hashed_equals(&mut cs, h, &values, h.native(&values));
            prop_assert!(cs.inner.is_satisfied());
            cs.allocated
        };
        let target = n + which % (count - n);
        let mut cs = Perturb::new(target, Fr::from(delta));
        hashed_equals(&mut cs, h, &values, h.native(&values));
        prop_assert!(!cs.inner.is_satisfied(), "{h:?}: variable {target} of {count} is free");
    }
}
