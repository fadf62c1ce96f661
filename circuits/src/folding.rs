//! Folding proofs over BN254, as DESIGN.md lays them out: the step instances of a segment are
//! folded one by one into a running relaxed instance with nova-snark's public fold parts
//! (`commit_T` and the instance and witness `fold` functions) under a Keccak transcript of our
//! own, then folded with a random satisfying instance (hiding the witness), derandomized, and
//! proven with MicroSpartan (`spartan::ppsnark`) over HyperKZG.
//!
//! The transcript binds the verifying-key digest, a caller-supplied context (model commitment,
//! request id, segment bounds), the running instance before each fold, each step instance and
//! each cross-term commitment, so that a contract can replay it.
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
    r1cs::{R1CSInstance, R1CSShape, RelaxedR1CSInstance, RelaxedR1CSWitness},
    spartan::ppsnark::RelaxedR1CSSNARK,
    traits::{
        commitment::CommitmentEngineTrait,
        snark::{DigestHelperTrait, RelaxedR1CSSNARKTrait},
        Engine, TranscriptEngineTrait,
    },
};
use serde::{Deserialize, Serialize};

use crate::Fr;

/// The engine: BN254 with HyperKZG commitments and the Keccak transcript.
pub type E = Bn256EngineKZG;
/// MicroSpartan over HyperKZG.
pub type Snark = RelaxedR1CSSNARK<E, EvaluationEngine<E>>;
type Ce = <E as Engine>::CE;
/// A commitment of the engine.
pub type Comm = <Ce as CommitmentEngineTrait<E>>::Commitment;
type Ck = <Ce as CommitmentEngineTrait<E>>::CommitmentKey;
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
    /// The proof covers another number of steps than the IO given.
    #[error("expected {expected} step instances, the proof has {found}")]
    StepCount {
        /// From the IO.
        expected: usize,
        /// In the proof.
        found: usize,
    },
}

/// Keys for one step shape. The commitment key comes from an insecure test setup (random tau):
/// for tests only; deployments load a powers-of-tau file.
pub struct FoldingKeys {
    shape: R1CSShape<E>,
    ck: Ck,
    dk: Dk,
    pk: <Snark as RelaxedR1CSSNARKTrait<E>>::ProverKey,
    vk: <Snark as RelaxedR1CSSNARKTrait<E>>::VerifierKey,
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

/// Synthesizes a copy of `circuit` into `cs`, with synthesis errors as fold errors.
fn synthesize<C: Circuit<Fr> + Clone, CS: ConstraintSystem<Fr>>(circuit: &C, cs: &mut CS) -> Result<(), FoldError> {
    circuit.clone().synthesize(cs).map_err(|e| FoldError::Nova(NovaError::SynthesisError { reason: e.to_string() }))
}

fn shape_of<C: Circuit<Fr> + Clone>(circuit: &C) -> Result<R1CSShape<E>, FoldError> {
    let mut cs = ShapeCS::<E>::new();
    synthesize(circuit, &mut cs)?;
    Ok(cs.r1cs_shape()?)
}

impl FoldingKeys {
    /// Setup for the shape of `circuit` (any instance of the step family).
    pub fn insecure_test_setup<C: Circuit<Fr> + Clone>(circuit: &C) -> Result<Self, FoldError> {
        let shape = shape_of(circuit)?.pad();
        let floor = <Snark as RelaxedR1CSSNARKTrait<E>>::ck_floor();
        let ck = R1CSShape::commitment_key(&[&shape], &[&*floor])?;
        let dk = Ce::derand_key(&ck);
        let (pk, vk) = <Snark as RelaxedR1CSSNARKTrait<E>>::setup(&ck, &shape)?;
        Ok(Self { shape, ck, dk, pk, vk })
    }

    /// Constraints of one step (padded).
    pub fn num_constraints(&self) -> usize {
        self.shape.num_cons()
    }

    fn transcript(&self, context: &[Fr]) -> Keccak256Transcript<E> {
        let mut t = <Keccak256Transcript<E> as TranscriptEngineTrait<E>>::new(b"VerdictFold");
        t.absorb(b"vk", &self.vk.digest());
        t.absorb(b"ctx", &context);
        t
    }

    /// Proves the steps `circuits` (in order); `context` is bound into every challenge.
    pub fn prove<C: Circuit<Fr> + Clone>(&self, context: &[Fr], circuits: &[C]) -> Result<FoldingProof, FoldError> {
        let mut t = self.transcript(context);
        let mut u = RelaxedR1CSInstance::default(&self.ck, &self.shape);
        let mut w = RelaxedR1CSWitness::default(&self.shape);
        let mut steps = Vec::with_capacity(circuits.len());
        let mut rng = rand::rngs::OsRng;
        for (i, circuit) in circuits.iter().enumerate() {
            let mut cs = SatisfyingAssignment::<E>::new();
            synthesize(circuit, &mut cs)?;
            let (ui, wi) = cs.r1cs_instance_and_witness(&self.shape, &self.ck, &mut rng).map_err(|e| match e {
                NovaError::InvalidWitnessLength => {
                    FoldError::Shape { step: i, expected: self.shape.num_cons(), found: cs.aux_assignment().len() }
                }
                e => FoldError::Nova(e),
            })?;
            let r_t = Fr::random(&mut rng);
            let (cross, comm_t) = self.shape.commit_T(&self.ck, &u, &w, &ui, &wi, &r_t)?;
            t.absorb(b"U", &u);
            t.absorb(b"u", &ui);
            t.absorb(b"T", &comm_t);
            let r = t.squeeze(b"r")?;
            steps.push((*ui.comm_W(), comm_t));
            u = u.fold(&ui, &comm_t, &r);
            w = w.fold(&wi, &cross, &r_t, &r)?;
        }
        let (ur, wr) = self.shape.sample_random_instance_witness(&self.ck)?;
        let r_t = Fr::random(&mut rng);
        let (cross, random_t) = self.shape.commit_T_relaxed(&self.ck, &u, &w, &ur, &wr, &r_t)?;
        t.absorb(b"U", &u);
        t.absorb(b"R", &ur);
        t.absorb(b"T", &random_t);
        let r = t.squeeze(b"r")?;
        let u = u.fold_relaxed(&ur, &random_t, &r);
        let w = w.fold_relaxed(&wr, &cross, &r_t, &r)?;
        let (w, r_w, r_e) = w.derandomize();
        let u = u.derandomize(&self.dk, &r_w, &r_e);
        let snark = <Snark as RelaxedR1CSSNARKTrait<E>>::prove(&self.ck, &self.pk, &self.shape, &u, &w)?;
        Ok(FoldingProof { steps, random: ur, random_t, r_w, r_e, snark })
    }

    /// Verifies a proof for the steps whose public IO is `io` (one vector a step, in order).
    pub fn verify(&self, context: &[Fr], io: &[Vec<Fr>], proof: &FoldingProof) -> Result<(), FoldError> {
        if io.len() != proof.steps.len() {
            return Err(FoldError::StepCount { expected: io.len(), found: proof.steps.len() });
        }
        let mut t = self.transcript(context);
        let mut u = RelaxedR1CSInstance::default(&self.ck, &self.shape);
        for (x, (comm_w, comm_t)) in io.iter().zip(&proof.steps) {
            let ui = R1CSInstance::new(&self.shape, comm_w, x)?;
            t.absorb(b"U", &u);
            t.absorb(b"u", &ui);
            t.absorb(b"T", comm_t);
            let r = t.squeeze(b"r")?;
            u = u.fold(&ui, comm_t, &r);
        }
        t.absorb(b"U", &u);
        t.absorb(b"R", &proof.random);
        t.absorb(b"T", &proof.random_t);
        let r = t.squeeze(b"r")?;
        let u = u.fold_relaxed(&proof.random, &proof.random_t, &r);
        let u = u.derandomize(&self.dk, &proof.r_w, &proof.r_e);
        proof.snark.verify(&self.vk, &u)?;
        Ok(())
    }
}
