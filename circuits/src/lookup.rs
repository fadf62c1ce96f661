//! Byte range checks by lookups into the table `0..256` (LogUp, Haböck 2022, "Multivariate
//! lookups based on logarithmic derivatives"), for the steps of [`crate::challenged`] folding.
//!
//! A step proves that each looked-up value `f_i` is a byte by showing, for a challenge `α`,
//!
//! ```text
//! Σ_i 1 / (α − f_i)  =  Σ_j m_j / (α − j)        (j = 0..256)
//! ```
//!
//! where `m_j` counts the lookups of `j`. A lookup costs one constraint, `(α − f_i) · h_i = 1`,
//! a table entry one, `(α − j) · g_j = m_j`, and one constraint checks `Σ h = Σ g`. As rational
//! functions of `α` the two sides are equal exactly when the multiset of the `f_i` is the table's
//! entries counted `m_j` times (the field's characteristic exceeds the number of lookups), so
//! every `f_i` is a byte. If they differ, the two sides agree at no more than `lookups + 256`
//! points, so a challenge drawn after the `f_i` and `m_j` are fixed catches a wrong byte except
//! with probability `(lookups + 256) / r`, about `2^-240`.
//!
//! The `f_i` and `m_j` are fixed by the folding: they are the step's first witness variables
//! (the prefix `W₁`, allocated by [`ByteLookups::allocate`] before anything else), whose
//! commitment the transcript absorbs before it draws `α`. The prefix starts with one variable
//! that no constraint reads, which the folding sets to a random value so that the prefix's
//! commitment hides the bytes.

use std::ops::Range;

use ff::{BatchInvert, Field, PrimeField};
use nova_snark::frontend::{ConstraintSystem, LinearCombination, SynthesisError};

use crate::{poseidon_circuit::Num, Fr};

/// The table's size: the bytes `0..256`.
pub const TABLE: usize = 256;

/// The looked-up values of a step and the table's multiplicities, allocated as the step's first
/// witness variables.
#[derive(Clone, Debug)]
pub struct ByteLookups {
    values: Vec<Num>,
    multiplicities: Vec<Num>,
}

impl ByteLookups {
    /// Witness variables of the prefix for `lookups` lookups: the blind, the values and the
    /// table's multiplicities.
    pub const fn prefix_len(lookups: usize) -> usize {
        1 + lookups + TABLE
    }

    /// Allocates the prefix: the blind, the `values` (one lookup each; `None` while only the
    /// shape is synthesized) and their multiplicities, counted here. Must come before the step's
    /// other witness variables.
    pub fn allocate<CS: ConstraintSystem<Fr>>(cs: &mut CS, values: &[Option<u8>]) -> Result<Self, SynthesisError> {
        let mut counts = [0u64; TABLE];
        let known = values.iter().all(Option::is_some);
        for v in values.iter().flatten() {
            counts[usize::from(*v)] += 1;
        }
        let values: Vec<Option<Fr>> = values.iter().map(|v| v.map(|b| Fr::from(u64::from(b)))).collect();
        let multiplicities: Vec<Option<Fr>> = counts.iter().map(|m| known.then(|| Fr::from(*m))).collect();
        Self::allocate_unchecked(cs, &values, &multiplicities)
    }

    /// [`Self::allocate`] with any field values and multiplicities, for tests that the argument
    /// rejects what is not a byte or miscounted.
    pub fn allocate_unchecked<CS: ConstraintSystem<Fr>>(
        cs: &mut CS,
        values: &[Option<Fr>],
        multiplicities: &[Option<Fr>],
    ) -> Result<Self, SynthesisError> {
        assert_eq!(multiplicities.len(), TABLE, "one multiplicity a table entry");
        // The blind: no constraint reads it; the folding gives it a random value.
        cs.alloc(|| "blind", || Ok(Fr::ZERO))?;
        let mut alloc = |what: &'static str, (i, value): (usize, &Option<Fr>)| {
            let var = cs.alloc(|| format!("{what} {i}"), || value.ok_or(SynthesisError::AssignmentMissing))?;
            Ok(Num::var(var, *value))
        };
        let values = values.iter().enumerate().map(|v| alloc("looked up", v)).collect::<Result<_, SynthesisError>>()?;
        let multiplicities = multiplicities
            .iter()
            .enumerate()
            .map(|m| alloc("multiplicity", m))
            .collect::<Result<_, SynthesisError>>()?;
        Ok(Self { values, multiplicities })
    }

    /// The looked-up values, in allocation order.
    pub fn values(&self) -> &[Num] {
        &self.values
    }

    /// `Σ_k 256^k · values[range][k]`: the integer whose little-endian bytes are `range`'s.
    pub fn word(&self, range: Range<usize>) -> Num {
        let radix = Fr::from(256u64);
        let mut weight = Fr::ONE;
        let mut sum = Num::zero();
        for v in &self.values[range] {
            sum = sum.add_scaled(weight, v);
            weight *= radix;
        }
        sum
    }

    /// Enforces that every looked-up value is a byte, under the challenge `alpha` (a public input
    /// the folding draws after committing the prefix). Allocates `h_i` for each lookup, then `g_j`
    /// for each table entry: the values [`Self::challenged_values`] computes.
    pub fn enforce<CS: ConstraintSystem<Fr>>(&self, mut cs: CS, alpha: &Num) -> Result<(), SynthesisError> {
        let inverses = alpha.value.map(table_inverses);
        let quotient = |x: Option<Fr>, k: Option<Fr>| {
            alpha.value.zip(inverses.as_ref()).zip(x).zip(k).map(|(((a, table), x), k)| quotient(a, table, x, k))
        };
        let mut sum = LinearCombination::zero();
        for (i, f) in self.values.iter().enumerate() {
            let h = quotient(f.value, Some(Fr::ONE));
            let h = cs.alloc(|| format!("h_{i}"), || h.ok_or(SynthesisError::AssignmentMissing))?;
            cs.enforce(|| format!("(α − f_{i}) h = 1"), |z| z + &alpha.lc - &f.lc, |z| z + h, |z| z + CS::one());
            sum = sum + h;
        }
        for (j, m) in self.multiplicities.iter().enumerate() {
            let entry = Fr::from(j as u64);
            let g = quotient(Some(entry), m.value);
            let g = cs.alloc(|| format!("g_{j}"), || g.ok_or(SynthesisError::AssignmentMissing))?;
            cs.enforce(|| format!("(α − {j}) g = m"), |z| z + &alpha.lc - (entry, CS::one()), |z| z + g, |z| z + &m.lc);
            sum = sum - g;
        }
        cs.enforce(|| "Σ h = Σ g", |z| z + &sum, |z| z + CS::one(), |z| z);
        Ok(())
    }

    /// The values [`Self::enforce`] allocates under `alpha` (the `h_i`, then the `g_j`), from a
    /// prefix as [`Self::allocate`] lays it out (`prefix[0]` the blind, then `lookups` values and
    /// the table's multiplicities): the part of a step's witness that depends on `α`, without
    /// synthesizing the step again. `None` if the prefix is shorter than that layout.
    pub fn challenged_values(prefix: &[Fr], lookups: usize, alpha: Fr) -> Option<Vec<Fr>> {
        let values = prefix.get(1..1 + lookups)?;
        let multiplicities = prefix.get(1 + lookups..Self::prefix_len(lookups))?;
        let table = table_inverses(alpha);
        let hs = values.iter().map(|f| quotient(alpha, &table, *f, Fr::ONE));
        let gs = multiplicities.iter().enumerate().map(|(j, m)| quotient(alpha, &table, Fr::from(j as u64), *m));
        Some(hs.chain(gs).collect())
    }
}

/// `(α − j)⁻¹` for the table's entries, inverted together: every honest lookup's is one.
fn table_inverses(alpha: Fr) -> Vec<Fr> {
    let mut v: Vec<Fr> = (0..TABLE as u64).map(|j| alpha - Fr::from(j)).collect();
    v.iter_mut().batch_invert();
    v
}

/// `(α − x)⁻¹ · k`; zero where `α = x`, which leaves the constraint unsatisfied (an honest prover
/// meets it with negligible probability).
fn quotient(alpha: Fr, table: &[Fr], x: Fr, k: Fr) -> Fr {
    let inverse = match byte_of(&x) {
        Some(j) => table[j],
        None => Option::<Fr>::from((alpha - x).invert()).unwrap_or(Fr::ZERO),
    };
    inverse * k
}

/// `x` as a table index, if it is one (`0..256`).
fn byte_of(x: &Fr) -> Option<usize> {
    let repr = x.to_repr();
    let bytes = repr.as_ref();
    bytes[1..].iter().all(|b| *b == 0).then(|| usize::from(bytes[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_tables_entries_are_bytes() {
        assert_eq!(byte_of(&Fr::ZERO), Some(0));
        assert_eq!(byte_of(&Fr::from(255u64)), Some(255));
        assert_eq!(byte_of(&Fr::from(256u64)), None);
        assert_eq!(byte_of(&-Fr::ONE), None);
        assert_eq!(byte_of(&(Fr::from(1u64 << 40) + Fr::from(7u64))), None);
    }
}
