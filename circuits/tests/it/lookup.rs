//! The LogUp byte lookups ([`verdict_circuits::lookup`]) on their own: honest values satisfy them
//! under any challenge, values that are not bytes or miscounted multiplicities do not, and a
//! prover that knew the challenge in advance could forge them (why the folding draws it after
//! committing the prefix).

use ff::Field;
use nova_snark::frontend::{num::AllocatedNum, util_cs::test_cs::TestConstraintSystem, ConstraintSystem};
use verdict_circuits::{
    lookup::{ByteLookups, TABLE},
    poseidon_circuit::Num,
    Fr,
};

/// Whether `values` with `multiplicities` satisfy the lookups under `alpha`.
fn satisfied(values: &[Fr], multiplicities: &[Fr], alpha: Fr) -> bool {
    let mut cs = TestConstraintSystem::<Fr>::new();
    let a = AllocatedNum::alloc_input(cs.namespace(|| "alpha"), || Ok(alpha)).unwrap();
    let values: Vec<Option<Fr>> = values.iter().map(|v| Some(*v)).collect();
    let multiplicities: Vec<Option<Fr>> = multiplicities.iter().map(|m| Some(*m)).collect();
    let lookups = ByteLookups::allocate_unchecked(&mut cs, &values, &multiplicities).unwrap();
    lookups.enforce(cs.namespace(|| "lookups"), &Num::var(a.get_variable(), Some(alpha))).unwrap();
    cs.is_satisfied()
}

fn counts(values: &[Fr]) -> Vec<Fr> {
    (0..TABLE).map(|j| Fr::from(values.iter().filter(|v| **v == Fr::from(j as u64)).count() as u64)).collect()
}

fn bytes(values: &[u64]) -> Vec<Fr> {
    values.iter().map(|v| Fr::from(*v)).collect()
}

fn alpha(seed: u64) -> Fr {
    use rand::SeedableRng;
    Fr::random(rand::rngs::StdRng::seed_from_u64(seed))
}

#[test]
fn bytes_with_their_counts_satisfy_the_lookups() {
    let mut values: Vec<u64> = (0..256).collect();
    values.extend([0, 0, 255, 17, 17, 17, 128]);
    let values = bytes(&values);
    for seed in 0..4 {
        assert!(satisfied(&values, &counts(&values), alpha(seed)));
    }
    // The allocating constructor counts them itself.
    let mut cs = TestConstraintSystem::<Fr>::new();
    let a = AllocatedNum::alloc_input(cs.namespace(|| "alpha"), || Ok(alpha(9))).unwrap();
    let lookups = ByteLookups::allocate(&mut cs, &[Some(3), Some(250), Some(3)]).unwrap();
    assert_eq!(lookups.word(0..3).value, Some(Fr::from(3 + 250 * 256 + 3 * 65536)));
    lookups.enforce(cs.namespace(|| "lookups"), &Num::var(a.get_variable(), Some(alpha(9)))).unwrap();
    assert!(cs.is_satisfied());
}

#[test]
fn a_value_that_is_not_a_byte_is_rejected_whatever_the_counts() {
    let base = bytes(&[1, 2, 3, 250]);
    for bad in [Fr::from(256u64), -Fr::ONE, Fr::from(1u64 << 40), -Fr::from(256u64)] {
        let mut values = base.clone();
        values.push(bad);
        let honest = counts(&values);
        // Counted as if it were each of a few bytes.
        for as_entry in [None, Some(0usize), Some(255), Some(1)] {
            let mut m = honest.clone();
            if let Some(j) = as_entry {
                m[j] += Fr::ONE;
            }
            for seed in 0..3 {
                assert!(!satisfied(&values, &m, alpha(seed)), "{bad:?} counted as {as_entry:?}");
            }
        }
    }
}

#[test]
fn a_miscounted_multiplicity_is_rejected() {
    let values = bytes(&[5, 5, 9, 200]);
    for (j, delta) in [(5, -Fr::ONE), (5, Fr::ONE), (9, Fr::ONE), (0, Fr::ONE), (200, -Fr::ONE)] {
        let mut m = counts(&values);
        m[j] += delta;
        assert!(!satisfied(&values, &m, alpha(j as u64)), "entry {j}");
    }
}

#[test]
fn a_prover_that_knows_the_challenge_first_can_forge_a_multiplicity() {
    // Why the prefix (values and multiplicities) is committed before the challenge: knowing `α`,
    // a prover solves for a multiplicity that balances a non-byte.
    let a = alpha(42);
    let values = bytes(&[7, 300]);
    let mut m = counts(&values);
    let lhs: Fr = values.iter().map(|f| (a - f).invert().unwrap()).sum();
    let others: Fr = (1..TABLE).map(|j| m[j] * (a - Fr::from(j as u64)).invert().unwrap()).sum();
    m[0] = (lhs - others) * a;
    assert!(satisfied(&values, &m, a));
    assert!(!satisfied(&values, &m, alpha(43)));
}
