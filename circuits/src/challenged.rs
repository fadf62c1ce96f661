//! Folding proofs of steps that draw a challenge: a lookup argument ([`crate::lookup`]) needs
//! its looked-up values and multiplicities fixed before its challenge `α`, and the rest of the
//! step's witness (the inverses `1/(α − f)`) depends on `α`.
//!
//! A step's witness `W` is committed in two parts: `C₁` to its first `s` variables (the prefix
//! `W₁`, blinded by its first variable), absorbed by the transcript before it draws `α`, and `C₂`
//! to the rest, committed with the key's generators from position `s` on (blinded by the last
//! padding variable). `α` is the step's first public input; the instance folded is
//! `(C₁ + C₂, α ‖ x)`, exactly as in [`crate::folding`] otherwise.
//!
//! `C₁` binds `W₁` only if `C₂` has no coefficient below `s`, or a prover could commit to any
//! `C₁`, learn `α`, and move the prefix it needs into `C₂`. With HyperKZG's monomial key
//! (`ck_k = τ^k · G`), `C₂ = τ^s · Q` for `Q` the commitment to `W[s..]` shifted down by `s`,
//! and the proof shows it by one pairing over the whole segment:
//!
//! ```text
//! e(Σ_i r_i · C₂,i, [1]₂) = e(Q, [τ^s]₂),    Q = commit(Σ_i r_i · W_i[s..])
//! ```
//!
//! with `r_i` the fold challenge of step `i`, drawn after `C₂,i` is fixed. Under the algebraic
//! group model each `C₂,i = τ^s Q_i + L_i` with `L_i` on the positions below `s`; the sum's low
//! part `Σ r_i L_i` is zero only if every `L_i` is (each `r_i` is drawn after `L_i` and the
//! earlier ones are fixed), except with probability `steps / r`.

use ff::Field;
use nova_snark::{
    frontend::{solver::SatisfyingAssignment, Circuit, ConstraintSystem},
    provider::{
        hyperkzg::Commitment,
        traits::{DlogGroup, PairingGroup},
    },
    r1cs::{R1CSInstance, R1CSShape, R1CSWitness, RelaxedR1CSWitness, SparseMatrix},
    traits::{Engine, TranscriptEngineTrait},
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{
    folding::{
        commit_cross_term, decode, encode, shape_of, synthesize, Bases, Comm, FoldError, FoldTimings, FoldingKeys,
        FoldingProof, KeySource, Progress, VerifierKeys, E, G2,
    },
    Fr,
};
use std::{sync::OnceLock, time::Instant};

use crate::msm::{FixedBases, FIXED_WINDOW_BITS};

type G1 = <E as Engine>::GE;

/// A step circuit whose first `prefix_len` witness variables are committed before the
/// challenge that the rest depends on.
pub trait ChallengedStep: Circuit<Fr> + Clone + Sync {
    /// The prefix `W₁`'s length: the variables allocated first. Its first variable must be one
    /// that no constraint reads (the folding sets it to a random blind), as
    /// [`crate::lookup::ByteLookups::allocate`] allocates it.
    fn prefix_len(&self) -> usize;

    /// This step with the challenge `alpha`, its first public input.
    fn with_challenge(&self, alpha: Fr) -> Self;

    /// The witness values that depend on `alpha`, computed from the `prefix` without synthesizing
    /// the step again: `(at, values)` are the values of the variables `at..at + values.len()`.
    /// A step that gives them must depend on `α` nowhere else in its witness; the prover then
    /// synthesizes each step once, before the challenges, several steps at a time. `None` (the
    /// default): the prover synthesizes the step again under `α`.
    fn challenged_values(&self, prefix: &[Fr], alpha: Fr) -> Option<(usize, Vec<Fr>)> {
        let _ = (prefix, alpha);
        None
    }
}

/// The verifier's keys: [`VerifierKeys`], the prefix length `s` and `[τ^s]₂`.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct ChallengedVerifierKeys {
    keys: VerifierKeys,
    prefix: usize,
    tau_prefix: G2,
}

/// The first bytes of a challenged keys file ([`ChallengedKeys::to_bytes`]).
pub const CHALLENGED_KEYS_MAGIC: &[u8] = b"verdict-challenged-keys-1\n";

/// The prover's keys: [`FoldingKeys`] and the verifier's.
pub struct ChallengedKeys {
    keys: FoldingKeys,
    verifier: ChallengedVerifierKeys,
    /// The table of the commitment key's first bases, built by the first proof of at least
    /// [`FIXED_BASES_FROM_STEPS`] steps and kept with the keys.
    fixed: OnceLock<FixedBases>,
}

/// Steps from which a proof commits with a table of the bases' multiples
/// ([`crate::msm::FixedBases`]): building it (about 0.2 s for a tile step's bases) takes about
/// as long as the table saves over 30–40 tile steps' commitments, and the keys keep it for the
/// next proof; a one-step dispute proof commits without it.
pub const FIXED_BASES_FROM_STEPS: usize = 32;

/// A folding proof of a segment of challenged steps.
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct ChallengedProof {
    /// Per step, the prefix's commitment `C₁`.
    pub prefixes: Vec<Comm>,
    /// `Q`: the commitment to the fold-weighted sum of the steps' `W[s..]`, shifted down by `s`.
    pub shifted: Comm,
    /// The rest, as [`crate::folding`]'s proof, whose `steps` hold `(C₂, T)` a step.
    pub folding: FoldingProof,
}

impl ChallengedProof {
    /// The proof's bytes (bincode, standard configuration).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Reads a proof; any trailing byte, truncation or malformed field is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FoldError> {
        decode(bytes, "challenged proof")
    }
}

/// The bases a table serves ([`FixedBases`]): the variables that a constraint reads and the
/// constraints that read one (a cross term's nonzero entries), not the padding.
fn tabulated(shape: &R1CSShape<E>) -> usize {
    let vars = shape.num_vars();
    let matrices = [shape.A(), shape.B(), shape.C()];
    let read = matrices.iter().flat_map(|m| m.indices.iter()).filter(|col| **col < vars).max().map_or(0, |c| c + 1);
    let rows = (0..shape.num_cons())
        .rev()
        .find(|row| matrices.iter().any(|m| m.indptr[row + 1] > m.indptr[*row]))
        .map_or(0, |row| row + 1);
    read.max(rows)
}

/// Runs of a step's witness (after its prefix) that equal the last step's witness at the same
/// positions, with their commitments: a run that lasts is committed once, not once a step. A
/// tile's sponge permutations hold the same values at every tile that does not permute
/// ([`crate::tile`]), about 800 full-size values of a tile step's 4,800.
#[derive(Default)]
struct Repeats {
    last: Vec<Fr>,
    /// `(start, end, Σ w_k · G_(offset + k) over start..end)`, disjoint, each inside a run that
    /// has held since its commitment was computed.
    runs: Vec<(usize, usize, G1)>,
}

/// Fewest equal values a run must have to be committed on its own: committing it costs a sum of
/// its own (about 2^13 additions of buckets, [`FixedBases`]) on top of the values' additions.
const MIN_RUN: usize = 256;

impl Repeats {
    /// `Σ w_k · G_(offset + k)`, the runs equal to the last witness's by their commitments.
    fn commit(&mut self, bases: Bases, offset: usize, w: &[Fr]) -> Result<G1, FoldError> {
        let mut equal = Vec::new();
        if self.last.len() == w.len() {
            let mut k = 0;
            while k < w.len() {
                let start = k;
                while k < w.len() && w[k] == self.last[k] {
                    k += 1;
                }
                if k - start >= MIN_RUN {
                    equal.push((start, k));
                }
                k += 1;
            }
        }
        let inside = |(a, b): (usize, usize)| equal.iter().any(|(x, y)| *x <= a && b <= *y);
        self.runs.retain(|(a, b, _)| inside((*a, *b)));
        for (x, y) in equal.iter().copied() {
            if !self.runs.iter().any(|(a, b, _)| x <= *a && *b <= y) {
                self.runs.push((x, y, bases.commit_at(offset + x, &w[x..y])?));
            }
        }
        let mut rest = w.to_vec();
        let mut sum = <G1 as halo2curves::group::Group>::identity();
        for (a, b, c) in &self.runs {
            rest[*a..*b].fill(Fr::ZERO);
            sum += c;
        }
        self.last = w.to_vec();
        Ok(sum + bases.commit_at(offset, &rest)?)
    }
}

/// Steps synthesized together, in parallel, before their challenges are drawn (their witnesses
/// held meanwhile: about half a megabyte each for a tile).
const SYNTHESIS_BATCH: usize = 16;

/// A step's witness and public inputs (the constant `1` left out).
fn assignment<C: ChallengedStep>(circuit: &C) -> Result<(Vec<Fr>, Vec<Fr>), FoldError> {
    let mut cs = SatisfyingAssignment::<E>::new();
    synthesize(circuit, &mut cs)?;
    Ok((cs.aux_assignment().to_vec(), cs.input_assignment()[1..].to_vec()))
}

fn too_short(step: usize, vars: usize, prefix: usize) -> FoldError {
    FoldError::Malformed(format!("step {step}: the step allocates {vars} variables, fewer than its prefix {prefix}"))
}

fn add(a: &Comm, b: &Comm) -> Comm {
    Commitment::new(a.into_inner() + b.into_inner())
}

fn scale(a: &Comm, k: &Fr) -> Comm {
    Commitment::new(a.into_inner() * k)
}

impl ChallengedKeys {
    /// Setup for the shape of `circuit` (any step of the family) with the commitment key from
    /// `source`. Refuses a circuit whose prefix's first variable, or whose padded shape's last
    /// variable, a constraint reads: the two blinds.
    pub fn setup<C: ChallengedStep>(circuit: &C, source: &KeySource) -> Result<Self, FoldError> {
        let prefix = circuit.prefix_len();
        let unpadded = shape_of(circuit)?;
        let keys = FoldingKeys::from_shape(&unpadded, source)?;
        let vars = keys.shape.num_vars();
        if prefix == 0 || prefix >= unpadded.num_vars() || unpadded.num_vars() >= vars {
            return Err(FoldError::Malformed(format!(
                "a challenged step needs 0 < prefix ({prefix}) < variables ({}) < padded variables ({vars})",
                unpadded.num_vars()
            )));
        }
        let read =
            |col: usize| [keys.shape.A(), keys.shape.B(), keys.shape.C()].iter().any(|m| m.indices.contains(&col));
        if read(0) || read(vars - 1) {
            return Err(FoldError::Malformed("a constraint reads a blind (the prefix's first variable)".into()));
        }
        // Every witness variable of a constraint whose A reads α (the lookups' and the table's
        // constraints: the looked-up values and the multiplicities) must lie in the prefix, or
        // the prefix's commitment would not fix it before α.
        let (a, c) = (keys.shape.A(), keys.shape.C());
        let alpha = vars + 1;
        let mut reads_alpha = 0;
        for row in 0..keys.shape.num_cons() {
            let cols = |m: &SparseMatrix<Fr>| m.indices[m.indptr[row]..m.indptr[row + 1]].to_vec();
            let (a_cols, c_cols) = (cols(a), cols(c));
            if a_cols.contains(&alpha) {
                reads_alpha += 1;
                if let Some(col) = a_cols.iter().chain(&c_cols).find(|col| (prefix..vars).contains(*col)) {
                    return Err(FoldError::Malformed(format!(
                        "constraint {row} combines the challenge with variable {col}, outside the prefix of {prefix}"
                    )));
                }
            }
        }
        if reads_alpha == 0 {
            return Err(FoldError::Malformed("no constraint reads the challenge (the first public input)".into()));
        }
        let tau_prefix = source.tau_power_g2(&keys.ck, prefix)?;
        let verifier = ChallengedVerifierKeys { keys: keys.verifier().clone(), prefix, tau_prefix };
        Ok(Self { keys, verifier, fixed: OnceLock::new() })
    }

    /// The verifier's part of the keys.
    pub fn verifier(&self) -> &ChallengedVerifierKeys {
        &self.verifier
    }

    /// The keys' bytes, for an on-disk cache: [`CHALLENGED_KEYS_MAGIC`], the length of the
    /// folding keys' bytes (`u64`, little-endian), those bytes ([`FoldingKeys::to_bytes`]: the
    /// commitment key's bases raw, fast to load), then bincode of `s` and `[τ^s]₂`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let keys = self.keys.to_bytes();
        let mut out = CHALLENGED_KEYS_MAGIC.to_vec();
        out.extend_from_slice(&(keys.len() as u64).to_le_bytes());
        out.extend(keys);
        out.extend(encode(&(self.verifier.prefix, self.verifier.tau_prefix)));
        out
    }

    /// Reads keys written by [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FoldError> {
        let malformed = |m: &str| FoldError::Malformed(format!("challenged keys: {m}"));
        let rest = bytes.strip_prefix(CHALLENGED_KEYS_MAGIC).ok_or_else(|| malformed("not a challenged keys file"))?;
        let (len, rest) = rest.split_first_chunk::<8>().ok_or_else(|| malformed("truncated"))?;
        let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| malformed("length"))?;
        let (keys, rest) = (rest.get(..len).ok_or_else(|| malformed("truncated"))?, &rest[len..]);
        let keys = FoldingKeys::from_bytes(keys)?;
        let (prefix, tau_prefix): (usize, G2) = decode(rest, "challenged keys")?;
        let verifier = ChallengedVerifierKeys { keys: keys.verifier().clone(), prefix, tau_prefix };
        Ok(Self { keys, verifier, fixed: OnceLock::new() })
    }

    /// The step shape's size: `(constraints, variables, nonzeros)`.
    pub fn shape_size(&self) -> (usize, usize, usize) {
        self.keys.shape_size()
    }

    /// Proves the steps `circuits` (in order; whatever challenge each holds, the prover replaces
    /// it with the transcript's); `context` is bound into every challenge.
    pub fn prove<C: ChallengedStep>(&self, context: &[Fr], circuits: &[C]) -> Result<ChallengedProof, FoldError> {
        Ok(self.prove_with_progress(context, circuits, |_| {})?.0)
    }

    /// [`Self::prove`], reporting each folded step to `progress`, with the time of each phase.
    pub fn prove_with_progress<C: ChallengedStep>(
        &self,
        context: &[Fr],
        circuits: &[C],
        progress: impl FnMut(Progress),
    ) -> Result<(ChallengedProof, FoldTimings), FoldError> {
        self.prove_moving(context, circuits, |c1| *c1, progress)
    }

    /// [`Self::prove`] with each step's `C₁` replaced by `moved(C₁)` before the challenge, and
    /// `C₂` by what keeps `C₁ + C₂` (a cheating prover's move, for the support check's tests).
    fn prove_moving<C: ChallengedStep>(
        &self,
        context: &[Fr],
        circuits: &[C],
        moved: impl Fn(&Comm) -> Comm,
        mut progress: impl FnMut(Progress),
    ) -> Result<(ChallengedProof, FoldTimings), FoldError> {
        let mut timings = FoldTimings::default();
        let started = Instant::now();
        let (keys, s) = (&self.keys, self.verifier.prefix);
        let (shape, ck) = (&keys.shape, &keys.ck);
        let vars = shape.num_vars();
        let fixed = (circuits.len() >= FIXED_BASES_FROM_STEPS).then(|| {
            self.fixed.get_or_init(|| {
                let bases = ck.ck();
                FixedBases::new(&bases[..bases.len().min(tabulated(shape))], FIXED_WINDOW_BITS)
            })
        });
        let tabulated = Bases { ck, fixed };
        let msm = |offset: usize, v: &[Fr]| tabulated.commit_at(offset, v).map(Commitment::new);
        let mut repeats = Repeats::default();
        // The prefix (bytes and a blind) by the plain sum, which takes small scalars faster.
        let plain = |v: &[Fr]| Bases::plain(ck).commit_at(0, v).map(Commitment::new);
        let mut rng = rand::rngs::OsRng;
        let mut t = self.verifier.keys.transcript(context);
        t.absorb(b"s", &Fr::from(s as u64));
        let mut u = self.verifier.keys.initial.clone();
        let mut w = RelaxedR1CSWitness::default(shape);
        let mut prefixes = Vec::with_capacity(circuits.len());
        let mut steps = Vec::with_capacity(circuits.len());
        let mut shifted = vec![Fr::ZERO; vars - s];
        // The steps are synthesized a batch at a time, in parallel, under the challenge each
        // holds; each batch's witnesses wait for their challenges.
        let mut batch: std::collections::VecDeque<(Vec<Fr>, Vec<Fr>)> = Default::default();
        for (i, circuit) in circuits.iter().enumerate() {
            if batch.is_empty() {
                let synthesis = Instant::now();
                let ahead = &circuits[i..circuits.len().min(i + SYNTHESIS_BATCH)];
                batch = ahead.par_iter().map(assignment).collect::<Result<_, _>>()?;
                timings.witness += synthesis.elapsed();
            }
            let (mut all, mut x) = batch.pop_front().expect("a witness a step of the batch");
            let mut w1 = all.get(..s).ok_or_else(|| too_short(i, all.len(), s))?.to_vec();
            w1[0] = Fr::random(&mut rng);
            let honest = plain(&w1)?;
            let c1 = moved(&honest);
            t.absorb(b"C1", &c1);
            let alpha = t.squeeze(b"a")?;
            let synthesis = Instant::now();
            match circuit.challenged_values(&all[..s], alpha) {
                Some((at, values)) => {
                    let to = at.checked_add(values.len()).filter(|to| at >= s && *to <= all.len());
                    let to = to.ok_or_else(|| {
                        FoldError::Malformed(format!("step {i}: its challenged values are not after its prefix"))
                    })?;
                    all[at..to].copy_from_slice(&values);
                    let input = x.first_mut().ok_or_else(|| {
                        FoldError::Malformed(format!("step {i}: no public input to hold the challenge"))
                    })?;
                    *input = alpha;
                }
                None => {
                    (all, x) = assignment(&circuit.with_challenge(alpha))?;
                    if all.get(1..s) != w1.get(1..) {
                        return Err(FoldError::Malformed(format!("step {i}: the prefix changed with the challenge")));
                    }
                }
            }
            timings.witness += synthesis.elapsed();
            if all.len() >= vars {
                return Err(FoldError::Malformed(format!(
                    "step {i}: {} witness variables, the setup's shape has room for {}",
                    all.len(),
                    vars - 1
                )));
            }
            all[0] = w1[0];
            all.resize(vars, Fr::ZERO);
            all[vars - 1] = Fr::random(&mut rng);
            // Unblinded: the blinds are the two random variables.
            let wi = R1CSWitness::new(shape, &all, &mut rng)?.derandomize().0;
            let r_t = Fr::random(&mut rng);
            // The witness commitment and the cross term side by side (neither needs the other).
            let (c2, crossed) = rayon::join(
                || repeats.commit(tabulated, s, &all[s..]).map(Commitment::<E>::new),
                || {
                    let crossing = Instant::now();
                    commit_cross_term(shape, tabulated, &u, &w, &x, &wi, &r_t).map(|c| (c, crossing.elapsed()))
                },
            );
            let c2 = c2?;
            let ((cross, comm_t), crossing) = crossed?;
            timings.cross_term += crossing;
            // What `moved` took from C₁ goes into C₂ (nothing for an honest prover).
            let c2 = Commitment::new(c2.into_inner() + honest.into_inner() - c1.into_inner());
            let ui = R1CSInstance::new(shape, &add(&c1, &c2), &x)?;
            t.absorb(b"u", &ui);
            t.absorb(b"T", &comm_t);
            let r = t.squeeze(b"r")?;
            for (acc, v) in shifted.iter_mut().zip(&all[s..]) {
                *acc += r * v;
            }
            prefixes.push(c1);
            steps.push((c2, comm_t));
            u = u.fold(&ui, &comm_t, &r);
            w = w.fold(&wi, &cross, &r_t, &r)?;
            progress(Progress::Folded { step: i, of: circuits.len() });
        }
        let shifted = msm(0, &shifted)?;
        progress(Progress::Compressing);
        timings.fold = started.elapsed() - timings.witness;
        let compressing = Instant::now();
        let folding = keys.compress(&mut t, &u, &w, steps)?;
        timings.compress = compressing.elapsed();
        Ok((ChallengedProof { prefixes, shifted, folding }, timings))
    }
}

impl ChallengedVerifierKeys {
    /// The prefix length `s`.
    pub fn prefix_len(&self) -> usize {
        self.prefix
    }

    /// `[τ^s]₂`.
    pub fn tau_prefix(&self) -> &G2 {
        &self.tau_prefix
    }

    /// The keys of the folds and MicroSpartan, as for plain steps.
    pub fn plain(&self) -> &VerifierKeys {
        &self.keys
    }

    /// The keys' bytes (bincode, standard configuration).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Reads keys written by [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FoldError> {
        decode(bytes, "challenged verifier keys")
    }

    /// Verifies a proof for the steps whose public IO, the challenge left out, is `io` (one
    /// vector a step, in order); the challenges come from the transcript.
    pub fn verify(&self, context: &[Fr], io: &[Vec<Fr>], proof: &ChallengedProof) -> Result<(), FoldError> {
        let steps = &proof.folding.steps;
        if io.len() != steps.len() || proof.prefixes.len() != steps.len() {
            return Err(FoldError::StepCount { expected: io.len(), found: steps.len().min(proof.prefixes.len()) });
        }
        let keys = &self.keys;
        let mut t = keys.transcript(context);
        t.absorb(b"s", &Fr::from(self.prefix as u64));
        let mut u = keys.initial.clone();
        let mut support = Commitment::new(G1::zero());
        for ((x, c1), (c2, comm_t)) in io.iter().zip(&proof.prefixes).zip(steps) {
            t.absorb(b"C1", c1);
            let alpha = t.squeeze(b"a")?;
            let x: Vec<Fr> = [alpha].into_iter().chain(x.iter().copied()).collect();
            let ui = R1CSInstance::new(&keys.sizes, &add(c1, c2), &x)?;
            t.absorb(b"u", &ui);
            t.absorb(b"T", comm_t);
            let r = t.squeeze(b"r")?;
            support = add(&support, &scale(c2, &r));
            u = u.fold(&ui, comm_t, &r);
        }
        let one = <<G1 as PairingGroup>::G2 as DlogGroup>::gen();
        let tau_prefix = <<G1 as PairingGroup>::G2 as DlogGroup>::group(&self.tau_prefix);
        if G1::pairing(&support.into_inner(), &one) != G1::pairing(&proof.shifted.into_inner(), &tau_prefix) {
            return Err(FoldError::Support);
        }
        keys.finish(&mut t, &u, &proof.folding)
    }
}

#[cfg(test)]
mod tests {
    use nova_snark::frontend::{num::AllocatedNum, Circuit, ConstraintSystem, SynthesisError};

    use super::*;
    use crate::{lookup::ByteLookups, poseidon_circuit::Num};

    /// A step that claims `value` (its first input) is a 32-bit integer by looking up its four
    /// bytes, and squares the looked-up bytes' sum (some work after the challenge). `bytes` are
    /// the claimed bytes: honest or not.
    #[derive(Clone)]
    struct Word {
        value: Fr,
        bytes: [Fr; 4],
        alpha: Fr,
    }

    impl Word {
        fn honest(value: u32) -> Self {
            let bytes = value.to_le_bytes().map(|b| Fr::from(u64::from(b)));
            Self { value: Fr::from(u64::from(value)), bytes, alpha: Fr::ZERO }
        }
    }

    impl Circuit<Fr> for Word {
        fn synthesize<CS: ConstraintSystem<Fr>>(self, cs: &mut CS) -> Result<(), SynthesisError> {
            let alpha = AllocatedNum::alloc_input(cs.namespace(|| "alpha"), || Ok(self.alpha))?;
            let value = AllocatedNum::alloc_input(cs.namespace(|| "value"), || Ok(self.value))?;
            // Two more inputs, as the tile's four (the flat encoding's layout).
            AllocatedNum::alloc_input(cs.namespace(|| "square"), || Ok(self.value.square()))?;
            AllocatedNum::alloc_input(cs.namespace(|| "zero"), || Ok(Fr::ZERO))?;
            let alpha = Num::var(alpha.get_variable(), Some(self.alpha));
            let mut counts = [Fr::ZERO; crate::lookup::TABLE];
            for b in &self.bytes {
                if let Some(c) = counts.iter_mut().enumerate().find(|(j, _)| Fr::from(*j as u64) == *b) {
                    *c.1 += Fr::ONE;
                }
            }
            let values: Vec<Option<Fr>> = self.bytes.iter().map(|b| Some(*b)).collect();
            let counts: Vec<Option<Fr>> = counts.iter().map(|c| Some(*c)).collect();
            let lookups = ByteLookups::allocate_unchecked(cs, &values, &counts)?;
            let word = lookups.word(0..4);
            cs.enforce(|| "the bytes are the value", |z| z + &word.lc, |z| z + CS::one(), |z| z + value.get_variable());
            let sq = AllocatedNum::alloc(cs.namespace(|| "square"), || Ok(self.value.square()))?;
            cs.enforce(|| "square", |z| z + &word.lc, |z| z + &word.lc, |z| z + sq.get_variable());
            lookups.enforce(cs.namespace(|| "lookups"), &alpha)
        }
    }

    impl ChallengedStep for Word {
        fn prefix_len(&self) -> usize {
            ByteLookups::prefix_len(4)
        }

        fn with_challenge(&self, alpha: Fr) -> Self {
            Self { alpha, ..self.clone() }
        }

        /// The lookups' quotients, after the square (what the prover computes without a second
        /// synthesis; [`Faulty`] leaves them out, so the tests cover both ways).
        fn challenged_values(&self, prefix: &[Fr], alpha: Fr) -> Option<(usize, Vec<Fr>)> {
            Some((prefix.len() + 1, ByteLookups::challenged_values(prefix, 4, alpha)?))
        }
    }

    fn keys() -> ChallengedKeys {
        ChallengedKeys::setup(&Word::honest(0), &KeySource::InsecureTest).unwrap()
    }

    fn io(steps: &[Word]) -> Vec<Vec<Fr>> {
        steps.iter().map(|s| vec![s.value, s.value.square(), Fr::ZERO]).collect()
    }

    fn support_error(e: FoldError) -> bool {
        matches!(e, FoldError::Support)
    }

    #[test]
    fn honest_steps_prove_and_verify_and_tampering_is_rejected() {
        let keys = keys();
        let steps = [Word::honest(0xdead_beef), Word::honest(7), Word::honest(u32::MAX)];
        let ctx = [Fr::from(5u64)];
        let proof = keys.prove(&ctx, &steps).unwrap();
        let vk = ChallengedVerifierKeys::from_bytes(&keys.verifier().to_bytes()).unwrap();
        vk.verify(&ctx, &io(&steps), &proof).unwrap();
        let proof = ChallengedProof::from_bytes(&proof.to_bytes()).unwrap();
        vk.verify(&ctx, &io(&steps), &proof).unwrap();

        // Another context, another public input, steps reordered or dropped.
        assert!(vk.verify(&[Fr::from(6u64)], &io(&steps), &proof).is_err());
        let mut wrong = io(&steps);
        wrong[1][0] += Fr::ONE;
        assert!(vk.verify(&ctx, &wrong, &proof).is_err());
        let mut swapped = io(&steps);
        swapped.swap(0, 2);
        assert!(vk.verify(&ctx, &swapped, &proof).is_err());
        assert!(vk.verify(&ctx, &io(&steps[..2]), &proof).is_err());

        // A prefix commitment, a step commitment or Q changed.
        let g = Commitment::new(G1::gen());
        let mut bad = proof.clone();
        bad.prefixes[1] = add(&bad.prefixes[1], &g);
        assert!(vk.verify(&ctx, &io(&steps), &bad).is_err());
        let mut bad = proof.clone();
        bad.folding.steps[2].0 = add(&bad.folding.steps[2].0, &g);
        assert!(vk.verify(&ctx, &io(&steps), &bad).is_err());
        let mut bad = proof.clone();
        bad.shifted = add(&bad.shifted, &g);
        assert!(support_error(vk.verify(&ctx, &io(&steps), &bad).unwrap_err()));
    }

    #[test]
    fn runs_equal_to_the_last_witness_are_committed_once_and_every_sum_is_the_plain_one() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let ck = crate::folding::Ck::setup_from_rng(b"ck", 2_048, rand::rngs::StdRng::seed_from_u64(12));
        // The table ends inside the witness, as a padded shape's does.
        let table = FixedBases::new(&ck.ck()[..1_500], FIXED_WINDOW_BITS);
        let (n, offset) = (1_600, 7);
        let mut w: Vec<Fr> = (0..n)
            .map(|i| if i % 4 == 0 { Fr::from(rng.gen_range(0..256u64)) } else { Fr::random(&mut rng) })
            .collect();
        let mut change = |w: &mut Vec<Fr>, range: std::ops::Range<usize>| {
            range.for_each(|k| w[k] = Fr::random(&mut rng));
        };
        for bases in [Bases { ck: &ck, fixed: Some(&table) }, Bases::plain(&ck)] {
            let mut repeats = Repeats::default();
            let mut step = |w: &[Fr], runs: &[(usize, usize)]| {
                let sum = repeats.commit(bases, offset, w).unwrap();
                assert_eq!(sum, bases.commit_at(offset, w).unwrap(), "runs {runs:?}");
                let mut held: Vec<(usize, usize)> = repeats.runs.iter().map(|(a, b, _)| (*a, *b)).collect();
                held.sort();
                assert_eq!(held, runs);
            };
            step(&w, &[]);
            // Two runs of equal values, long enough.
            change(&mut w, 0..100);
            change(&mut w, 1_200..1_300);
            step(&w, &[(100, 1_200), (1_300, n)]);
            // One value inside the first changes: the first is dropped and a new run starts
            // before it; the second is inside the run after it, and holds.
            change(&mut w, 700..701);
            step(&w, &[(0, 700), (1_300, n)]);
            // Nothing changes: the runs held are inside the one run, and reused.
            step(&w, &[(0, 700), (1_300, n)]);
            // Runs too short to commit alone, and the others cut.
            change(&mut w, 200..201);
            change(&mut w, 1_500..1_501);
            change(&mut w, 1_000..1_001);
            step(&w, &[(201, 1_000), (1_001, 1_500)]);
            // Another length: nothing is equal.
            step(&w[..n - 1], &[]);
        }
    }

    #[test]
    fn a_proof_of_many_steps_commits_by_the_table_and_verifies() {
        let keys = keys();
        let steps: Vec<Word> =
            (0..FIXED_BASES_FROM_STEPS as u32 + 1).map(|i| Word::honest(i.wrapping_mul(0x9e37_79b9))).collect();
        let ctx = [Fr::from(9u64)];
        assert!(keys.fixed.get().is_none(), "no table before a long proof");
        let proof = keys.prove(&ctx, &steps).unwrap();
        let table = keys.fixed.get().expect("a long proof builds the table");
        assert_eq!(table.len(), tabulated(&keys.keys.shape));
        assert!(table.len() < keys.keys.shape.num_vars(), "the padding is not tabulated");
        keys.verifier().verify(&ctx, &io(&steps), &proof).unwrap();
        // Tampering is caught as without the table.
        let mut bad = proof.clone();
        bad.folding.steps[FIXED_BASES_FROM_STEPS].0 =
            add(&bad.folding.steps[FIXED_BASES_FROM_STEPS].0, &Commitment::new(G1::gen()));
        assert!(keys.verifier().verify(&ctx, &io(&steps), &bad).is_err());
        let mut wrong = io(&steps);
        wrong[FIXED_BASES_FROM_STEPS / 2][0] += Fr::ONE;
        assert!(keys.verifier().verify(&ctx, &wrong, &proof).is_err());
        // A short proof after it commits without the table and verifies too.
        let short = keys.prove(&ctx, &steps[..2]).unwrap();
        keys.verifier().verify(&ctx, &io(&steps[..2]), &short).unwrap();
    }

    #[test]
    fn a_step_commitment_that_reaches_into_the_prefix_is_rejected() {
        // The cheat the support check exists for: commit C₁ to anything, learn α, and put the
        // difference to the prefix actually used into C₂. Here the witness is honest, so only the
        // support check can notice that C₂ holds a prefix position (position 1 or s − 1).
        let keys = keys();
        let steps = [Word::honest(1234), Word::honest(99)];
        let ctx = [Fr::ONE];
        let bases = keys.keys.ck.ck().to_vec();
        for position in [1, keys.verifier.prefix - 1] {
            let base = Commitment::new(<G1 as DlogGroup>::group(&bases[position]));
            let proof = keys.prove_moving(&ctx, &steps, |c1| add(c1, &base), |_| {}).unwrap().0;
            let e = keys.verifier().verify(&ctx, &io(&steps), &proof).unwrap_err();
            assert!(support_error(e), "position {position}");
        }
        // A move on a position past the prefix, with `Q` left as the honest witness's, fails the
        // same check: `Q` must match the `C₂` sent.
        let base = Commitment::new(<G1 as DlogGroup>::group(&bases[keys.verifier.prefix]));
        let proof = keys.prove_moving(&ctx, &steps, |c1| add(c1, &base), |_| {}).unwrap().0;
        assert!(support_error(keys.verifier().verify(&ctx, &io(&steps), &proof).unwrap_err()));
        // And no move at all verifies.
        let proof = keys.prove_moving(&ctx, &steps, |c1| *c1, |_| {}).unwrap().0;
        keys.verifier().verify(&ctx, &io(&steps), &proof).unwrap();
    }

    #[test]
    fn a_value_that_is_not_a_byte_does_not_prove() {
        // 0x1_00 claimed as the "bytes" [256, 0, 0, 0]: the sum is right, the lookup is not.
        let keys = keys();
        let mut cheat = Word::honest(256);
        cheat.bytes = [Fr::from(256u64), Fr::ZERO, Fr::ZERO, Fr::ZERO];
        // And a negative "byte" borrowed from the next: 256 = (−256) + 2·256.
        let mut borrow = Word::honest(256);
        borrow.bytes = [-Fr::from(256u64), Fr::from(2u64), Fr::ZERO, Fr::ZERO];
        for step in [cheat, borrow] {
            let steps = [Word::honest(3), step];
            if let Ok(proof) = keys.prove(&[], &steps) {
                assert!(keys.verifier().verify(&[], &io(&steps), &proof).is_err());
            }
        }
    }

    /// A [`Word`] whose declared prefix is one short, or whose prefix changes with `α`.
    #[derive(Clone)]
    struct Faulty {
        word: Word,
        short: bool,
        moving: bool,
    }

    impl Circuit<Fr> for Faulty {
        fn synthesize<CS: ConstraintSystem<Fr>>(self, cs: &mut CS) -> Result<(), SynthesisError> {
            self.word.synthesize(cs)
        }
    }

    impl ChallengedStep for Faulty {
        fn prefix_len(&self) -> usize {
            self.word.prefix_len() - usize::from(self.short)
        }

        fn with_challenge(&self, alpha: Fr) -> Self {
            let mut word = self.word.with_challenge(alpha);
            if self.moving {
                word.bytes[0] += alpha;
            }
            Self { word, ..self.clone() }
        }
    }

    #[test]
    fn a_circuit_whose_prefix_depends_on_the_challenge_is_refused_by_the_prover() {
        let moving = |v| Faulty { word: Word::honest(v), short: false, moving: true };
        let keys = ChallengedKeys::setup(&moving(0), &KeySource::InsecureTest).unwrap();
        let e = keys.prove(&[], &[moving(5)]).err().unwrap();
        assert!(e.to_string().contains("prefix changed"), "{e}");
    }

    #[test]
    fn a_circuit_whose_prefix_misses_a_looked_up_value_is_refused_at_setup() {
        let short = Faulty { word: Word::honest(0), short: true, moving: false };
        let e = ChallengedKeys::setup(&short, &KeySource::InsecureTest).err().unwrap();
        assert!(e.to_string().contains("outside the prefix"), "{e}");
    }

    #[test]
    fn a_ptau_directory_supplies_tau_to_the_prefix_in_g2_or_a_clear_error() {
        type G2Group = <G1 as PairingGroup>::G2;
        let insecure = keys();
        let (g1_count, g2_count) = (insecure.keys.ck.ck().len(), insecure.verifier.prefix + 1);
        let power = g1_count.trailing_zeros();
        let tau = Fr::random(rand::rngs::OsRng);
        let powers: Vec<Fr> = std::iter::successors(Some(Fr::ONE), |p| Some(*p * tau)).take(g1_count).collect();
        let g1: Vec<_> = powers.iter().map(|p| (G1::gen() * p).affine()).collect();
        let g2: Vec<G2> = powers[..g2_count].iter().map(|p| (G2Group::gen() * p).affine()).collect();
        let write = |dir: &std::path::Path, g2: Vec<G2>| {
            let mut file = std::fs::File::create(dir.join(format!("ppot_pruned_{power:02}.ptau"))).unwrap();
            nova_snark::provider::write_ptau(&mut file, g1.clone(), g2, power).unwrap();
        };
        let full = tempfile::tempdir().unwrap();
        write(full.path(), g2.clone());
        let source = KeySource::PtauDir(full.path().into());
        let keys = ChallengedKeys::setup(&Word::honest(0), &source).unwrap();
        let steps = [Word::honest(77)];
        let proof = keys.prove(&[], &steps).unwrap();
        keys.verifier().verify(&[], &io(&steps), &proof).unwrap();
        // The insecure setup's verifier keys are another tau's.
        assert!(insecure.verifier().verify(&[], &io(&steps), &proof).is_err());

        let pruned = tempfile::tempdir().unwrap();
        write(pruned.path(), g2[..2].to_vec());
        let e = ChallengedKeys::setup(&Word::honest(0), &KeySource::PtauDir(pruned.path().into())).err().unwrap();
        assert!(e.to_string().contains("G2 powers"), "{e}");
    }

    #[test]
    fn keys_round_trip_through_their_bytes_and_refuse_other_bytes() {
        let keys = keys();
        let bytes = keys.to_bytes();
        let loaded = ChallengedKeys::from_bytes(&bytes).unwrap();
        assert_eq!(loaded.verifier().to_bytes(), keys.verifier().to_bytes());
        let steps = [Word::honest(9)];
        let proof = loaded.prove(&[], &steps).unwrap();
        keys.verifier().verify(&[], &io(&steps), &proof).unwrap();
        assert!(ChallengedKeys::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(ChallengedKeys::from_bytes(&bytes[1..]).is_err());
        let mut other = bytes.clone();
        other.push(0);
        assert!(ChallengedKeys::from_bytes(&other).is_err());
    }

    #[test]
    fn the_flat_proof_and_the_key_blob_are_what_the_contract_reads() {
        let keys = keys();
        let steps = [Word::honest(31), Word::honest(1 << 20)];
        let ctx = [Fr::from(3u64)];
        let proof = keys.prove(&ctx, &steps).unwrap();
        let vk = keys.verifier();
        let layout = vk.layout(2).unwrap();
        let flat = proof.to_flat(&layout).unwrap();
        assert_eq!(flat.len(), layout.len());
        assert_eq!(layout.len(), vk.plain().layout(2).unwrap().len() + 3 * 64);
        vk.verify_flat(&ctx, &io(&steps), &flat).unwrap();
        // Each part moved: a prefix commitment, a step commitment, Q, a snark byte.
        for at in [64 + 5, 192 + 64 + 7, 3 * 192 - 128 + 3, 6 * 64 + 31, flat.len() - 40] {
            let mut bad = flat.clone();
            bad[at] ^= 1;
            assert!(vk.verify_flat(&ctx, &io(&steps), &bad).is_err(), "byte {at}");
        }
        assert!(vk.verify_flat(&ctx, &io(&steps), &flat[1..]).is_err());
        // The blob: the plain key's 30 words, then s and [τ^s]₂ in EIP-197's order (the same
        // encoding as the key's [τ]₂, which nova-snark writes).
        let blob = vk.evm_key().unwrap().blob;
        assert_eq!(blob.len(), crate::evm::VK_WORDS * 32);
        assert_eq!(blob[..30 * 32], vk.plain().evm_key().unwrap().blob[..30 * 32]);
        assert_eq!(blob[10 * 32..14 * 32], crate::evm::g2_words(keys.keys.ck.tau_H())[..]);
        assert_eq!(blob[30 * 32..31 * 32], crate::evm::scalar_bytes(&Fr::from(vk.prefix_len() as u64)));
        assert_eq!(blob[31 * 32..], crate::evm::g2_words(vk.tau_prefix())[..]);
        assert!(vk.plain().evm_key().unwrap().blob[30 * 32..].iter().all(|b| *b == 0));
    }
}
