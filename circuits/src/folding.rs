//! Folding proofs over BN254, as DESIGN.md lays them out: the step instances of a segment are
//! folded one by one into a running relaxed instance with nova-snark's public fold parts
//! (`commit_T` and the instance and witness `fold` functions) under a Keccak transcript of our
//! own, then folded with a random satisfying instance (hiding the witness), derandomized, and
//! proven with MicroSpartan (`spartan::ppsnark`) over HyperKZG.
//!
//! The transcript binds the verifying-key digest, a caller-supplied context (model commitment,
//! request id, segment bounds), each step instance and each cross-term commitment, and the running
//! instance once, before the random fold, so that a contract can replay it. The running instance
//! is not absorbed before each step's fold: it starts all-zero and each fold is a function of what
//! the transcript absorbed and squeezed before, so absorbing it binds nothing more (and costs a
//! contract about 400 gas a step).
//!
//! Generic over the step circuit: any family of circuits with one R1CS shape and public IO.

use ff::Field;
use nova_snark::{
    errors::NovaError,
    frontend::{
        r1cs::{NovaShape, NovaWitness},
        shape_cs::ShapeCS,
        solver::SatisfyingAssignment,
        Circuit, ConstraintSystem,
    },
    provider::{hyperkzg::EvaluationEngine, keccak::Keccak256Transcript, Bn256EngineKZG},
    r1cs::{R1CSInstance, R1CSShape, R1CSWitness, RelaxedR1CSInstance, RelaxedR1CSWitness, SparseMatrix},
    spartan::ppsnark::RelaxedR1CSSNARK,
    traits::{
        commitment::CommitmentEngineTrait,
        snark::{DigestHelperTrait, RelaxedR1CSSNARKTrait},
        Engine, TranscriptEngineTrait,
    },
};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::Fr;

/// The engine: BN254 with HyperKZG commitments and the Keccak transcript.
pub type E = Bn256EngineKZG;
/// MicroSpartan over HyperKZG.
pub type Snark = RelaxedR1CSSNARK<E, EvaluationEngine<E>>;
pub(crate) type Ce = <E as Engine>::CE;
/// A commitment of the engine.
pub type Comm = <Ce as CommitmentEngineTrait<E>>::Commitment;
pub(crate) type Ck = <Ce as CommitmentEngineTrait<E>>::CommitmentKey;
type Dk = <Ce as CommitmentEngineTrait<E>>::DerandKey;

/// What can go wrong while proving or verifying.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FoldError {
    /// nova-snark refused (unsatisfied circuit, wrong sizes, rejected proof).
    #[error("nova: {0}")]
    Nova(#[from] NovaError),
    /// The bytes are not a folding proof.
    #[error("malformed proof: {0}")]
    Malformed(String),
    /// A step's circuit has another shape than the setup's.
    #[error("step {step}: expected the setup's shape ({expected} constraints), found {found}")]
    Shape {
        /// The step.
        step: usize,
        /// Constraints of the setup.
        expected: usize,
        /// Constraints of the step.
        found: usize,
    },
    /// A challenged proof's support check failed: a step's commitment made after its challenge
    /// reaches into the prefix committed before it (see [`crate::challenged`]).
    #[error("a step's commitment after the challenge reaches into the committed prefix")]
    Support,
    /// The proof covers another number of steps than the IO given.
    #[error("expected {expected} step instances, the proof has {found}")]
    StepCount {
        /// From the IO.
        expected: usize,
        /// In the proof.
        found: usize,
    },
}

/// Where the HyperKZG commitment key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// Powers of tau from a ceremony: a directory of `ppot_pruned_{power}.ptau` files (or the
    /// other names nova-snark's `commitment_key_from_ptau_dir` accepts).
    PtauDir(std::path::PathBuf),
    /// A fixed, publicly known tau: anyone can forge proofs under it. For tests and the local demo
    /// only; every use logs a warning.
    InsecureTest,
}

/// The seed of the insecure test setup's tau (public, so that every machine derives the same
/// keys and a verifier exported from one matches proofs made on another).
const INSECURE_TAU_SEED: u64 = 0x5645_5244_4943_5421;

impl KeySource {
    /// A short tag naming the source, for key-cache file names.
    pub fn tag(&self) -> String {
        match self {
            Self::InsecureTest => "insecure-test".into(),
            Self::PtauDir(dir) => {
                use sha3::{Digest, Keccak256};
                let mut names: Vec<(String, u64)> = std::fs::read_dir(dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|e| Some((e.file_name().to_string_lossy().into_owned(), e.metadata().ok()?.len())))
                    .filter(|(n, _)| n.ends_with(".ptau"))
                    .collect();
                names.sort();
                let digest = Keccak256::digest(format!("{names:?}"));
                format!("ptau-{}", hex::encode(&digest[..8]))
            }
        }
    }

    fn commitment_key(&self, shape: &R1CSShape<E>) -> Result<Ck, FoldError> {
        let floor = <Snark as RelaxedR1CSSNARKTrait<E>>::ck_floor();
        match self {
            Self::PtauDir(dir) => Ok(R1CSShape::commitment_key_from_ptau_dir(&[shape], &[&*floor], dir)?),
            Self::InsecureTest => {
                warn_insecure();
                use rand::SeedableRng;
                let n = shape.num_cons().max(shape.num_vars()).max(floor(shape));
                let rng = rand::rngs::StdRng::seed_from_u64(INSECURE_TAU_SEED);
                Ok(Ck::setup_from_rng(b"ck", n, rng))
            }
        }
    }

    /// `[τ^power]₂` of the setup whose G1 powers `ck` holds, for the support check of
    /// [`crate::challenged`] folding. The insecure test setup derives it from its public `τ`; a
    /// ceremony's comes from a `.ptau` file of the directory that holds at least `power + 1` G2
    /// powers (an unpruned Perpetual Powers of Tau file; pruned files keep two) and whose `[τ]₂`
    /// is `ck`'s.
    pub fn tau_power_g2(&self, ck: &Ck, power: usize) -> Result<G2, FoldError> {
        use nova_snark::provider::traits::{DlogGroup, PairingGroup};
        type G2Group = <<E as Engine>::GE as PairingGroup>::G2;
        match self {
            Self::InsecureTest => {
                use rand::SeedableRng;
                // `CommitmentKey::setup_from_rng` draws tau first from the same generator.
                let tau = Fr::random(rand::rngs::StdRng::seed_from_u64(INSECURE_TAU_SEED));
                let g = <<E as Engine>::GE as DlogGroup>::gen();
                if ck.ck().get(1) != Some(&(g * tau).affine()) {
                    return Err(FoldError::Malformed("the insecure test key is not the seed's".into()));
                }
                Ok((G2Group::gen() * tau.pow([power as u64])).affine())
            }
            Self::PtauDir(dir) => {
                let mut files: Vec<_> = std::fs::read_dir(dir)
                    .map_err(|e| FoldError::Malformed(format!("{}: {e}", dir.display())))?
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "ptau"))
                    .collect();
                files.sort();
                for path in files {
                    let Ok(file) = std::fs::File::open(&path) else { continue };
                    let mut reader = std::io::BufReader::new(file);
                    let read = nova_snark::provider::read_ptau::<Affine, G2>(&mut reader, 1, power + 1);
                    if let Ok((_, g2)) = read {
                        if g2.get(1) == Some(ck.tau_H()) {
                            return Ok(g2[power]);
                        }
                    }
                }
                Err(FoldError::Malformed(format!(
                    "no .ptau file in {} holds {} G2 powers of this key's tau (pruned files keep two)",
                    dir.display(),
                    power + 1
                )))
            }
        }
    }
}

/// Logs the insecure-setup warning (on every setup or key load that uses it).
pub fn warn_insecure() {
    tracing::warn!(
        "INSECURE TEST SETUP: tau is public, so anyone can forge proofs under these keys; \
         use a powers-of-tau file for anything of value"
    );
}

/// What a verifier needs, and no more: MicroSpartan's verifying key, the derandomization key,
/// the step shape's sizes (an `R1CSShape` without its matrices, which is all
/// `R1CSInstance::new` reads; the verifying key commits to the matrices themselves) and the
/// all-zero running instance.
/// Small and fast to load, unlike the prover's keys.
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct VerifierKeys {
    pub(crate) sizes: R1CSShape<E>,
    pub(crate) initial: RelaxedR1CSInstance<E>,
    dk: Dk,
    vk: <Snark as RelaxedR1CSSNARKTrait<E>>::VerifierKey,
}

/// Keys for one step shape: the padded shape, the HyperKZG commitment key, MicroSpartan's
/// prover key, and the verifier's keys.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct FoldingKeys {
    pub(crate) shape: R1CSShape<E>,
    pub(crate) ck: Ck,
    pk: <Snark as RelaxedR1CSSNARKTrait<E>>::ProverKey,
    verifier: VerifierKeys,
}

/// The first bytes of a prover keys file ([`FoldingKeys::to_bytes`]).
pub const KEYS_MAGIC: &[u8] = b"verdict-keys-2\n";

type Base = nova_snark::provider::bn256_grumpkin::bn256::Base;
type Affine = nova_snark::provider::bn256_grumpkin::bn256::Affine;
pub(crate) type G2 = <<<E as Engine>::GE as nova_snark::provider::traits::PairingGroup>::G2 as nova_snark::provider::traits::DlogGroup>::AffineGroupElement;

/// The prover keys but the commitment key's bases, borrowed for encoding.
#[derive(Serialize)]
#[serde(bound = "")]
struct KeysRest<'a> {
    h: Affine,
    tau_h: G2,
    shape: &'a R1CSShape<E>,
    pk: &'a <Snark as RelaxedR1CSSNARKTrait<E>>::ProverKey,
    verifier: &'a VerifierKeys,
}

/// [`KeysRest`], decoded.
#[derive(Deserialize)]
#[serde(bound = "")]
struct KeysRestOwned {
    h: Affine,
    tau_h: G2,
    shape: R1CSShape<E>,
    pk: <Snark as RelaxedR1CSSNARKTrait<E>>::ProverKey,
    verifier: VerifierKeys,
}

/// Where a proof's time went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FoldTimings {
    /// Synthesizing the step circuits (witness generation).
    pub witness: Duration,
    /// Committing to each step's witness and cross term, and folding.
    pub fold: Duration,
    /// Of `fold`: computing and committing to the cross terms (nova-snark's `commit_T`, with a
    /// faster MSM). Challenged folds ([`crate::challenged`]) compute each beside the step's
    /// witness commitment, so there the two overlap and this is not a share of `fold`.
    pub cross_term: Duration,
    /// The random fold, derandomization and MicroSpartan over HyperKZG.
    pub compress: Duration,
}

/// What [`FoldingKeys::prove_with_progress`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Step `step` (0-based within the proof) of `of` is folded.
    Folded {
        /// The step just folded.
        step: usize,
        /// Steps in the proof.
        of: usize,
    },
    /// All steps are folded; the random fold and the MicroSpartan proof follow (the long part).
    Compressing,
}

/// A folding proof of a segment of steps.
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct FoldingProof {
    /// Per step: its witness commitment and the cross-term commitment of its fold.
    pub steps: Vec<(Comm, Comm)>,
    /// The random relaxed instance folded in last (hides the witness).
    pub random: RelaxedR1CSInstance<E>,
    /// The cross term of the random fold.
    pub random_t: Comm,
    /// The blinds removed from the final instance's commitments.
    pub r_w: Fr,
    /// See `r_w`.
    pub r_e: Fr,
    /// MicroSpartan over HyperKZG of the derandomized final instance.
    pub snark: Snark,
}

impl FoldingProof {
    /// The proof's bytes (bincode, standard configuration).
    pub fn to_bytes(&self) -> Vec<u8> {
        bincode::serde::encode_to_vec(self, bincode::config::standard()).expect("a proof always encodes")
    }

    /// Reads a proof; any trailing byte, truncation or malformed field is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FoldError> {
        let (proof, used) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())
            .map_err(|e| FoldError::Malformed(e.to_string()))?;
        if used != bytes.len() {
            return Err(FoldError::Malformed(format!("{} trailing bytes", bytes.len() - used)));
        }
        Ok(proof)
    }
}

/// The cross term of folding the step `(x2, w2)` (its public inputs and witness) into the
/// running instance `(u1, w1)`, and its commitment blinded by `r_t`: what nova-snark's
/// `R1CSShape::commit_T` computes, with the commitment's multi-scalar multiplication by
/// [`crate::msm`].
///
/// `commit_T`'s MSM drops the zero entries and gives the rest (all full-size in a cross term) to
/// halo2curves' `msm_best`, which picks its window from their count and, below e⁹ ≈ 8,100
/// points, falls back to a method about 1.5 times slower a point. A tile step's cross term has
/// about 6,800 nonzero entries in 16,384: its commitment took 44 ms that way, and takes 20 ms
/// by [`crate::msm::msm`] (2 cores).
///
/// The term is `A·Z ∘ B·Z − u·C·Z − E₁` with `Z = Z₁ + Z₂` and `u = u₁ + 1`: for satisfying
/// instances, `A·Z₁ ∘ B·Z₁ = u₁·C·Z₁ + E₁` and `A·Z₂ ∘ B·Z₂ = C·Z₂` leave exactly the cross term
/// `A·Z₁ ∘ B·Z₂ + A·Z₂ ∘ B·Z₁ − u₁·C·Z₂ − C·Z₁` (one product of the matrices, not two).
pub(crate) fn commit_cross_term(
    shape: &R1CSShape<E>,
    bases: Bases,
    u1: &RelaxedR1CSInstance<E>,
    w1: &RelaxedR1CSWitness<E>,
    x2: &[Fr],
    w2: &R1CSWitness<E>,
    r_t: &Fr,
) -> Result<(Vec<Fr>, Comm), FoldError> {
    use nova_snark::provider::traits::DlogGroup;
    use rayon::prelude::*;
    let x1 = u1.X();
    if w1.W().len() != w2.W().len() || x1.len() != x2.len() {
        return Err(FoldError::Nova(NovaError::InvalidWitnessLength));
    }
    let u = u1.u() + Fr::ONE;
    let mut z: Vec<Fr> = w1.W().par_iter().zip(w2.W().par_iter()).map(|(a, b)| *a + b).collect();
    z.push(u);
    z.extend(x1.iter().zip(x2).map(|(a, b)| *a + b));
    let (az, bz, cz) = shape.multiply_vec(&z)?;
    let cross: Vec<Fr> = az
        .par_iter()
        .zip(bz.par_iter())
        .zip(cz.par_iter())
        .zip(w1.E().par_iter())
        .map(|(((a, b), c), e)| *a * b - u * c - e)
        .collect();
    let sum = bases.commit_at(0, &cross)? + <<E as Engine>::GE as DlogGroup>::group(bases.ck.h()) * r_t;
    Ok((cross, Comm::new(sum)))
}

/// The commitment key's bases, with the table of its first ones when a prover built one for a
/// proof of many steps ([`crate::msm::FixedBases`]).
#[derive(Clone, Copy)]
pub(crate) struct Bases<'a> {
    pub(crate) ck: &'a Ck,
    pub(crate) fixed: Option<&'a crate::msm::FixedBases>,
}

impl<'a> Bases<'a> {
    /// The key's bases without a table.
    pub(crate) fn plain(ck: &'a Ck) -> Self {
        Self { ck, fixed: None }
    }

    /// `Σ v_k · ck_(offset + k)`, unblinded: on the bases that the table holds by the table, on
    /// the others (a padded shape's blind) by [`crate::msm::msm`].
    pub(crate) fn commit_at(&self, offset: usize, v: &[Fr]) -> Result<<E as Engine>::GE, FoldError> {
        let too_long = || FoldError::Nova(NovaError::InvalidWitnessLength);
        let end = offset.checked_add(v.len()).ok_or_else(too_long)?;
        let split = self.fixed.map_or(offset, |t| t.len().clamp(offset, end)) - offset;
        let head = match self.fixed {
            Some(table) => table.msm(offset, &v[..split]).ok_or_else(too_long)?,
            None => <<E as Engine>::GE as halo2curves::group::Group>::identity(),
        };
        let bases = self.ck.ck().get(offset + split..end).ok_or_else(too_long)?;
        Ok(head + crate::msm::msm(&v[split..], bases))
    }
}

/// Synthesizes a copy of `circuit` into `cs`, with synthesis errors as fold errors.
pub(crate) fn synthesize<C: Circuit<Fr> + Clone, CS: ConstraintSystem<Fr>>(
    circuit: &C,
    cs: &mut CS,
) -> Result<(), FoldError> {
    circuit.clone().synthesize(cs).map_err(|e| FoldError::Nova(NovaError::SynthesisError { reason: e.to_string() }))
}

pub(crate) fn shape_of<C: Circuit<Fr> + Clone>(circuit: &C) -> Result<R1CSShape<E>, FoldError> {
    let mut cs = ShapeCS::<E>::new();
    synthesize(circuit, &mut cs)?;
    Ok(cs.r1cs_shape()?)
}

/// The size of `circuit`'s shape before padding: `(constraints, variables, nonzeros)`.
pub fn shape_size_of<C: Circuit<Fr> + Clone>(circuit: &C) -> Result<(usize, usize, usize), FoldError> {
    let shape = shape_of(circuit)?;
    let nnz = shape.A().len() + shape.B().len() + shape.C().len();
    Ok((shape.num_cons(), shape.num_vars(), nnz))
}

/// MicroSpartan's size parameter for a shape of `(constraints, variables, nonzeros)`: its
/// proving time follows it (DESIGN.md): `next_pow2(max(nonzeros, 2 · padded size))`.
pub fn snark_size((constraints, variables, nonzeros): (usize, usize, usize)) -> usize {
    nonzeros.next_power_of_two().max(2 * constraints.max(variables).next_power_of_two())
}

impl FoldingKeys {
    /// Setup for the shape of `circuit` (any instance of the step family) under the insecure
    /// test key (see [`KeySource::InsecureTest`]).
    pub fn insecure_test_setup<C: Circuit<Fr> + Clone>(circuit: &C) -> Result<Self, FoldError> {
        Self::setup(circuit, &KeySource::InsecureTest)
    }

    /// Setup for the shape of `circuit` with the commitment key from `source`.
    pub fn setup<C: Circuit<Fr> + Clone>(circuit: &C, source: &KeySource) -> Result<Self, FoldError> {
        Self::from_shape(&shape_of(circuit)?, source)
    }

    /// Setup for an unpadded step shape with the commitment key from `source`.
    pub(crate) fn from_shape(shape: &R1CSShape<E>, source: &KeySource) -> Result<Self, FoldError> {
        let shape = shape.pad();
        let ck = source.commitment_key(&shape)?;
        let dk = Ce::derand_key(&ck);
        let (pk, vk) = <Snark as RelaxedR1CSSNARKTrait<E>>::setup(&ck, &shape)?;
        let empty = || SparseMatrix::new(&[], shape.num_cons(), shape.num_vars() + shape.num_io() + 1);
        let sizes = R1CSShape::new(shape.num_cons(), shape.num_vars(), shape.num_io(), empty(), empty(), empty())?;
        let initial = RelaxedR1CSInstance::default(&ck, &shape);
        Ok(Self { shape, ck, pk, verifier: VerifierKeys { sizes, initial, dk, vk } })
    }

    /// The step shape's size: `(constraints, variables, nonzero matrix entries of A, B and C)`.
    /// MicroSpartan's cost follows `next_pow2(max(nonzeros, 2 · variables))`.
    pub fn shape_size(&self) -> (usize, usize, usize) {
        let nnz = self.shape.A().len() + self.shape.B().len() + self.shape.C().len();
        (self.shape.num_cons(), self.shape.num_vars(), nnz)
    }

    /// The verifier's part of the keys.
    pub fn verifier(&self) -> &VerifierKeys {
        &self.verifier
    }

    /// Constraints of one step (padded).
    pub fn num_constraints(&self) -> usize {
        self.shape.num_cons()
    }

    /// The keys' bytes, for the on-disk cache: [`KEYS_MAGIC`], the commitment key's G1 bases as
    /// raw affine coordinates (`u32` count, then `x ‖ y`, 32 bytes each, little-endian), then
    /// bincode (standard configuration) of the rest. nova-snark's own encoding stores the bases
    /// compressed, and decompressing them (a square root each) was most of a cold load: about
    /// 3 s of 3.2 s for the tile shape's 131k bases.
    pub fn to_bytes(&self) -> Vec<u8> {
        use ff::PrimeField;
        let bases = self.ck.ck();
        let mut out = Vec::with_capacity(KEYS_MAGIC.len() + 4 + 64 * bases.len());
        out.extend_from_slice(KEYS_MAGIC);
        out.extend_from_slice(&u32::try_from(bases.len()).expect("fewer than 2^32 bases").to_le_bytes());
        for p in bases {
            out.extend_from_slice(p.x.to_repr().as_ref());
            out.extend_from_slice(p.y.to_repr().as_ref());
        }
        out.extend(encode(&KeysRest {
            h: *self.ck.h(),
            tau_h: *self.ck.tau_H(),
            shape: &self.shape,
            pk: &self.pk,
            verifier: &self.verifier,
        }));
        out
    }

    /// Reads keys written by [`Self::to_bytes`]; every base is checked to be on the curve (by
    /// `CommitmentKey::new`, as nova-snark's own decoding does).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FoldError> {
        use ff::PrimeField;
        let malformed = |m: &str| FoldError::Malformed(format!("prover keys: {m}"));
        let rest =
            bytes.strip_prefix(KEYS_MAGIC).ok_or_else(|| malformed("not a verdict keys file (or an older format)"))?;
        let (count, rest) = rest.split_first_chunk::<4>().ok_or_else(|| malformed("truncated"))?;
        let count = u32::from_le_bytes(*count) as usize;
        let raw = rest.get(..64 * count).ok_or_else(|| malformed("truncated bases"))?;
        let coordinate = |b: &[u8]| {
            let mut repr = <Base as PrimeField>::Repr::default();
            repr.as_mut().copy_from_slice(b);
            Option::<Base>::from(Base::from_repr(repr)).ok_or_else(|| malformed("a coordinate is not canonical"))
        };
        let bases = raw
            .chunks_exact(64)
            .map(|p| Ok(Affine { x: coordinate(&p[..32])?, y: coordinate(&p[32..])? }))
            .collect::<Result<Vec<_>, FoldError>>()?;
        let rest: KeysRestOwned = decode(&rest[64 * count..], "prover keys")?;
        let ck = Ck::new(bases, rest.h, rest.tau_h)?;
        Ok(Self { shape: rest.shape, ck, pk: rest.pk, verifier: rest.verifier })
    }

    /// Verifies a proof (see [`VerifierKeys::verify`]).
    pub fn verify(&self, context: &[Fr], io: &[Vec<Fr>], proof: &FoldingProof) -> Result<(), FoldError> {
        self.verifier.verify(context, io, proof)
    }

    /// Proves the steps `circuits` (in order); `context` is bound into every challenge.
    pub fn prove<C: Circuit<Fr> + Clone>(&self, context: &[Fr], circuits: &[C]) -> Result<FoldingProof, FoldError> {
        Ok(self.prove_with_progress(context, circuits, |_| {})?.0)
    }

    /// [`Self::prove`], reporting each folded step and the start of the final proof.
    pub fn prove_with_progress<C: Circuit<Fr> + Clone>(
        &self,
        context: &[Fr],
        circuits: &[C],
        mut progress: impl FnMut(Progress),
    ) -> Result<(FoldingProof, FoldTimings), FoldError> {
        let mut timings = FoldTimings::default();
        let started = Instant::now();
        let mut t = self.verifier.transcript(context);
        let mut u = self.verifier.initial.clone();
        let mut w = RelaxedR1CSWitness::default(&self.shape);
        let mut steps = Vec::with_capacity(circuits.len());
        let mut rng = rand::rngs::OsRng;
        for (i, circuit) in circuits.iter().enumerate() {
            let mut cs = SatisfyingAssignment::<E>::new();
            let synthesis = Instant::now();
            synthesize(circuit, &mut cs)?;
            timings.witness += synthesis.elapsed();
            let (ui, wi) = cs.r1cs_instance_and_witness(&self.shape, &self.ck, &mut rng).map_err(|e| match e {
                NovaError::InvalidWitnessLength => {
                    FoldError::Shape { step: i, expected: self.shape.num_cons(), found: cs.aux_assignment().len() }
                }
                e => FoldError::Nova(e),
            })?;
            let r_t = Fr::random(&mut rng);
            let crossing = Instant::now();
            let (cross, comm_t) = commit_cross_term(&self.shape, Bases::plain(&self.ck), &u, &w, ui.X(), &wi, &r_t)?;
            timings.cross_term += crossing.elapsed();
            // The running instance is not absorbed: the keys' digest (its start) and what the
            // transcript absorbed and squeezed before fix it.
            t.absorb(b"u", &ui);
            t.absorb(b"T", &comm_t);
            let r = t.squeeze(b"r")?;
            steps.push((*ui.comm_W(), comm_t));
            u = u.fold(&ui, &comm_t, &r);
            w = w.fold(&wi, &cross, &r_t, &r)?;
            progress(Progress::Folded { step: i, of: circuits.len() });
        }
        progress(Progress::Compressing);
        timings.fold = started.elapsed() - timings.witness;
        let compressing = Instant::now();
        let proof = self.compress(&mut t, &u, &w, steps)?;
        timings.compress = compressing.elapsed();
        Ok((proof, timings))
    }

    /// Folds the running instance `(u, w)` with a random satisfying one (under the transcript
    /// `t`), derandomizes it and proves it with MicroSpartan: the proof's last part, after the
    /// steps' commitments `steps`.
    pub(crate) fn compress(
        &self,
        t: &mut Keccak256Transcript<E>,
        u: &RelaxedR1CSInstance<E>,
        w: &RelaxedR1CSWitness<E>,
        steps: Vec<(Comm, Comm)>,
    ) -> Result<FoldingProof, FoldError> {
        let (ur, wr) = self.shape.sample_random_instance_witness(&self.ck)?;
        let r_t = Fr::random(&mut rand::rngs::OsRng);
        let (cross, random_t) = self.shape.commit_T_relaxed(&self.ck, u, w, &ur, &wr, &r_t)?;
        t.absorb(b"U", u);
        t.absorb(b"R", &ur);
        t.absorb(b"T", &random_t);
        let r = t.squeeze(b"r")?;
        let u = u.fold_relaxed(&ur, &random_t, &r);
        let w = w.fold_relaxed(&wr, &cross, &r_t, &r)?;
        let (w, r_w, r_e) = w.derandomize();
        let u = u.derandomize(&self.verifier.dk, &r_w, &r_e);
        let snark = <Snark as RelaxedR1CSSNARKTrait<E>>::prove(&self.ck, &self.pk, &self.shape, &u, &w)?;
        Ok(FoldingProof { steps, random: ur, random_t, r_w, r_e, snark })
    }
}

impl VerifierKeys {
    /// Constraints of one step (padded).
    pub fn num_constraints(&self) -> usize {
        self.sizes.num_cons()
    }

    /// The verifying key's digest (what the transcript binds first).
    pub fn vk_digest(&self) -> Fr {
        self.vk.digest()
    }

    /// MicroSpartan's verifying key.
    pub(crate) fn snark_key(&self) -> &<Snark as RelaxedR1CSSNARKTrait<E>>::VerifierKey {
        &self.vk
    }

    /// The blinding generator's key (derandomization).
    pub(crate) fn derand_key(&self) -> &Dk {
        &self.dk
    }

    /// The keys' bytes (bincode, standard configuration), for the on-disk cache.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Reads keys written by [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FoldError> {
        decode(bytes, "verifier keys")
    }

    pub(crate) fn transcript(&self, context: &[Fr]) -> Keccak256Transcript<E> {
        let mut t = <Keccak256Transcript<E> as TranscriptEngineTrait<E>>::new(b"VerdictFold");
        t.absorb(b"vk", &self.vk.digest());
        t.absorb(b"ctx", &context);
        t
    }

    /// Verifies a proof for the steps whose public IO is `io` (one vector a step, in order).
    pub fn verify(&self, context: &[Fr], io: &[Vec<Fr>], proof: &FoldingProof) -> Result<(), FoldError> {
        if io.len() != proof.steps.len() {
            return Err(FoldError::StepCount { expected: io.len(), found: proof.steps.len() });
        }
        let mut t = self.transcript(context);
        let mut u = self.initial.clone();
        for (x, (comm_w, comm_t)) in io.iter().zip(&proof.steps) {
            let ui = R1CSInstance::new(&self.sizes, comm_w, x)?;
            t.absorb(b"u", &ui);
            t.absorb(b"T", comm_t);
            let r = t.squeeze(b"r")?;
            u = u.fold(&ui, comm_t, &r);
        }
        self.finish(&mut t, &u, proof)
    }

    /// Checks the proof's last part on the running instance `u` folded from its steps (under the
    /// transcript `t`): the random fold, the derandomization and MicroSpartan.
    pub(crate) fn finish(
        &self,
        t: &mut Keccak256Transcript<E>,
        u: &RelaxedR1CSInstance<E>,
        proof: &FoldingProof,
    ) -> Result<(), FoldError> {
        t.absorb(b"U", u);
        t.absorb(b"R", &proof.random);
        t.absorb(b"T", &proof.random_t);
        let r = t.squeeze(b"r")?;
        let u = u.fold_relaxed(&proof.random, &proof.random_t, &r);
        let u = u.derandomize(&self.dk, &proof.r_w, &proof.r_e);
        proof.snark.verify(&self.vk, &u)?;
        Ok(())
    }
}

/// Bincode (standard configuration) of a value that always encodes (keys, proof parts).
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).expect("keys and proofs always encode")
}

/// Reads bincode (standard configuration) of exactly `bytes`; `what` names it in errors.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, FoldError> {
    let (value, used): (T, usize) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .map_err(|e| FoldError::Malformed(format!("{what}: {e}")))?;
    if used != bytes.len() {
        return Err(FoldError::Malformed(format!("{what}: {} trailing bytes", bytes.len() - used)));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use nova_snark::frontend::{num::AllocatedNum, SynthesisError};

    use super::*;

    /// `x ↦ x^(2^40)` by squaring: forty quadratic constraints, whose cross terms are full-size.
    #[derive(Clone)]
    struct Squares(Fr);

    impl Circuit<Fr> for Squares {
        fn synthesize<CS: ConstraintSystem<Fr>>(self, cs: &mut CS) -> Result<(), SynthesisError> {
            let mut y = AllocatedNum::alloc_input(cs.namespace(|| "x"), || Ok(self.0))?;
            for i in 0..40 {
                y = y.square(cs.namespace(|| format!("square {i}")))?;
            }
            y.inputize(cs.namespace(|| "y"))
        }
    }

    #[test]
    fn a_commitment_by_a_table_equals_the_plain_one_on_both_sides_of_the_tables_end() {
        let keys = FoldingKeys::insecure_test_setup(&Squares(Fr::from(3))).unwrap();
        let bases = keys.ck.ck();
        let table = crate::msm::FixedBases::new(&bases[..40], crate::msm::FIXED_WINDOW_BITS);
        let mut rng = rand::rngs::OsRng;
        for (offset, len) in [(0, 0), (0, 40), (0, 64), (10, 20), (30, 20), (40, 10), (50, 5)] {
            let v: Vec<Fr> =
                (0..len).map(|i| if i % 3 == 0 { Fr::from(i as u64) } else { Fr::random(&mut rng) }).collect();
            let by_table = Bases { ck: &keys.ck, fixed: Some(&table) }.commit_at(offset, &v).unwrap();
            assert_eq!(by_table, Bases::plain(&keys.ck).commit_at(offset, &v).unwrap(), "{len} at {offset}");
        }
        // Past the key's bases: an error, with or without the table.
        let past = vec![Fr::ONE; bases.len() + 1];
        let tabulated = Bases { ck: &keys.ck, fixed: Some(&table) };
        assert!(tabulated.commit_at(0, &past).is_err());
        assert!(Bases::plain(&keys.ck).commit_at(0, &past).is_err());
        assert!(tabulated.commit_at(usize::MAX, &[Fr::ONE]).is_err());
    }

    #[test]
    fn the_cross_term_and_its_commitment_are_nova_snarks_and_the_folds_stay_satisfied() {
        let keys = FoldingKeys::insecure_test_setup(&Squares(Fr::from(3))).unwrap();
        let mut rng = rand::rngs::OsRng;
        let (mut u, mut w) = (keys.verifier.initial.clone(), RelaxedR1CSWitness::default(&keys.shape));
        for x in [2u64, 5, 7] {
            let mut cs = SatisfyingAssignment::<E>::new();
            synthesize(&Squares(Fr::from(x)), &mut cs).unwrap();
            let (ui, wi) = cs.r1cs_instance_and_witness(&keys.shape, &keys.ck, &mut rng).unwrap();
            let r_t = Fr::random(&mut rng);
            let (cross, comm_t) =
                commit_cross_term(&keys.shape, Bases::plain(&keys.ck), &u, &w, ui.X(), &wi, &r_t).unwrap();
            let (nova_cross, nova_comm_t) = keys.shape.commit_T(&keys.ck, &u, &w, &ui, &wi, &r_t).unwrap();
            assert_eq!((&cross, &comm_t), (&nova_cross, &nova_comm_t), "step {x}");
            let r = Fr::random(&mut rng);
            u = u.fold(&ui, &comm_t, &r);
            w = w.fold(&wi, &cross, &r_t, &r).unwrap();
            keys.shape.is_sat_relaxed(&keys.ck, &u, &w).unwrap();
        }
        // Another blind, another commitment (the blind is used).
        let mut cs = SatisfyingAssignment::<E>::new();
        synthesize(&Squares(Fr::from(11)), &mut cs).unwrap();
        let (ui, wi) = cs.r1cs_instance_and_witness(&keys.shape, &keys.ck, &mut rng).unwrap();
        let a = commit_cross_term(&keys.shape, Bases::plain(&keys.ck), &u, &w, ui.X(), &wi, &Fr::ONE).unwrap().1;
        let b = commit_cross_term(&keys.shape, Bases::plain(&keys.ck), &u, &w, ui.X(), &wi, &Fr::from(2)).unwrap().1;
        assert_ne!(a, b);
    }
}
