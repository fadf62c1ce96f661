//! Segment proofs of a model's inference: the folding prover over the model's step circuit, the
//! reference verifier, the on-disk key cache and the proof file.
//!
//! A segment proof covers steps `[from, to)` of one request and is checked against the step
//! commitments `z_from, …, z_to`; the whole-inference proof is the segment `[0, L)`. The Keccak
//! transcript binds the verifying key's digest and the context `[M, request_id_hi,
//! request_id_lo, from, to]`; each step's public IO is `[i, z_i, z_{i+1}, M]`, so the IO chains
//! by construction and the steps cannot be reordered, dropped or moved to another segment.

use std::{
    ops::Range,
    path::{Path, PathBuf},
};

use ff::{Field, PrimeField};
use serde::{Deserialize, Serialize};

use crate::{
    folding::{FoldError, FoldTimings, FoldingKeys, FoldingProof, KeySource, Progress, VerifierKeys},
    step::{step_io, Blinding, StepCircuit, WeightMode},
    Commitment, Error, Fr, Model, Trace,
};

/// The `format` field of a segment proof file.
pub const PROOF_FORMAT: &str = "verdict-segment-proof";
/// The version of the proof file and of the keys' cache layout.
pub const PROOF_VERSION: u32 = 2;

/// What can go wrong while setting up, proving or verifying.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The model, the input or the blinding is unusable.
    #[error(transparent)]
    Model(#[from] Error),
    /// Folding or MicroSpartan failed, or the proof was rejected by the cryptographic check.
    #[error(transparent)]
    Fold(#[from] FoldError),
    /// The proof's claims do not fit what it is checked against.
    #[error("rejected: {0}")]
    Rejected(String),
}

/// A request id: 32 bytes, written as 0x-prefixed hex.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RequestId(pub [u8; 32]);

impl RequestId {
    /// The request id `n` (as a `uint256`).
    pub fn from_u64(n: u64) -> Self {
        let mut b = [0u8; 32];
        b[24..].copy_from_slice(&n.to_be_bytes());
        Self(b)
    }

    /// The id a `proveOutput` proof of request `n` by `prover` is made for, so that nobody else
    /// can submit it: `keccak256(abi.encode(uint256 n, address prover))`, as
    /// `DisputeGame.proverBoundId` computes it.
    pub fn bound_to(n: u64, prover: [u8; 20]) -> Self {
        use sha3::Digest;
        let mut preimage = [0u8; 64];
        preimage[24..32].copy_from_slice(&n.to_be_bytes());
        preimage[44..].copy_from_slice(&prover);
        Self(sha3::Keccak256::digest(preimage).into())
    }

    /// Two field elements: the high and low 128 bits.
    fn to_fields(self) -> [Fr; 2] {
        let hi = u128::from_be_bytes(self.0[..16].try_into().expect("16 bytes"));
        let lo = u128::from_be_bytes(self.0[16..].try_into().expect("16 bytes"));
        [Fr::from_u128(hi), Fr::from_u128(lo)]
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl std::str::FromStr for RequestId {
    type Err = Error;

    /// A decimal number or 0x-prefixed hex of at most 32 bytes.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::Input(format!("request id {s:?}: expected a decimal number or 0x-prefixed hex (32 bytes)"));
        if let Some(digits) = s.strip_prefix("0x") {
            if digits.is_empty() || digits.len() > 64 {
                return Err(bad());
            }
            let padded = format!("{digits:0>64}");
            let mut b = [0u8; 32];
            hex::decode_to_slice(padded, &mut b).map_err(|_| bad())?;
            Ok(Self(b))
        } else {
            s.parse::<u64>().map(Self::from_u64).map_err(|_| bad())
        }
    }
}

impl Serialize for RequestId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A proof file: the claims and the folding proof's bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentProof {
    /// Always [`PROOF_FORMAT`].
    pub format: String,
    /// [`PROOF_VERSION`].
    pub version: u32,
    /// `"public"` or `"private"` (informational; the verifier decides by its own keys).
    pub mode: String,
    /// The model commitment `M` the proof is bound to.
    pub model: Commitment,
    /// The request.
    pub request_id: RequestId,
    /// First step proven.
    pub from: usize,
    /// One past the last step proven.
    pub to: usize,
    /// `z_from, …, z_to`.
    pub steps: Vec<Commitment>,
    /// The folding proof, flat (the bytes the contract reads; `circuits/PROOF_FORMAT.md`).
    #[serde(with = "hex_bytes")]
    pub proof: Vec<u8>,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("0x{}", hex::encode(bytes)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s.strip_prefix("0x").unwrap_or(&s)).map_err(serde::de::Error::custom)
    }
}

impl SegmentProof {
    /// Reads a proof file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ProofError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.into(), source })?;
        let proof: Self = serde_json::from_str(&text)
            .map_err(|e| Error::Input(format!("{} is not a segment proof file: {e}", path.display())))?;
        if proof.format != PROOF_FORMAT || proof.version != PROOF_VERSION {
            return Err(Error::Input(format!(
                "expected a {PROOF_FORMAT} v{PROOF_VERSION} file, found {} v{}",
                proof.format, proof.version
            ))
            .into());
        }
        Ok(proof)
    }

    /// Writes a proof file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ProofError> {
        let path = path.as_ref();
        let text = serde_json::to_string_pretty(self).expect("a proof always serializes");
        std::fs::write(path, text + "\n").map_err(|source| Error::Io { path: path.into(), source })?;
        Ok(())
    }
}

/// A model's prover and verifier: its step circuit's keys in one weight mode.
pub struct ModelProver {
    model: Model,
    mode: WeightMode,
    commitment: Commitment,
    keys: Keys,
    insecure: bool,
}

/// Full keys, or only a verifier's (small and fast to load).
enum Keys {
    Prover(Box<FoldingKeys>),
    Verifier(Box<VerifierKeys>),
}

impl Keys {
    fn verifier(&self) -> &VerifierKeys {
        match self {
            Self::Prover(k) => k.verifier(),
            Self::Verifier(k) => k,
        }
    }
}

impl std::fmt::Debug for ModelProver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelProver")
            .field("model", &self.model.name)
            .field("mode", &self.mode.name())
            .field("commitment", &self.commitment)
            .finish_non_exhaustive()
    }
}

/// How a [`ModelProver`] got its keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Read from this cache file.
    Cached(PathBuf),
    /// Set up now (and written to this cache file, when there is a cache).
    Generated(Option<PathBuf>),
}

/// The cache files of a model's keys: `(prover, verifier)`.
fn cache_files(dir: &Path, model: &Model, mode: &WeightMode, source: &KeySource) -> (PathBuf, PathBuf) {
    // The shape (and so the keys) depends on the weights in public mode and only on the
    // structure in private mode. A private model's file name must say nothing about its
    // weights, so it names a hash of the structure alone (every parameter value zeroed).
    let id = match mode {
        WeightMode::Public => model.commitment().to_string()[2..18].to_string(),
        WeightMode::Private(_) => structure_tag(model),
    };
    let stem = format!("{id}-{}-c{}-{}-v{PROOF_VERSION}", mode.name(), crate::step::CIRCUIT_VERSION, source.tag());
    (dir.join(format!("{stem}.prover.keys")), dir.join(format!("{stem}.verifier.keys")))
}

/// A tag of a model's structure: SHA3-256 of the model with every weight, bias and multiplier
/// set to zero (the dimensions, activations, shifts and scales kept), first 8 bytes in hex.
fn structure_tag(model: &Model) -> String {
    use sha3::Digest;
    let mut bare = model.clone();
    for layer in &mut bare.layers {
        layer.weights.fill(0);
        layer.bias.fill(0);
        if let Some(r) = &mut layer.requant {
            r.multipliers.fill(0);
        }
    }
    let json = serde_json::to_vec(&bare).expect("a model always serializes");
    let digest = sha3::Sha3_256::digest(&json);
    format!("s{}", digest[..8].iter().map(|b| format!("{b:02x}")).collect::<String>())
}

pub(crate) fn read_cache<T>(path: &Path, decode: impl Fn(&[u8]) -> Result<T, FoldError>) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    match decode(&bytes) {
        Ok(keys) => Some(keys),
        Err(e) => {
            tracing::warn!(path = %path.display(), "ignoring an unreadable key cache: {e}");
            None
        }
    }
}

pub(crate) fn write_cache(path: &Path, bytes: &[u8]) -> Result<(), ProofError> {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|source| Error::Io { path: path.into(), source }.into())
}

impl ModelProver {
    /// Sets up (or loads from `cache_dir`) the keys of `model`'s step circuit in `mode`.
    pub fn setup(
        model: Model,
        mode: WeightMode,
        source: &KeySource,
        cache_dir: Option<&Path>,
    ) -> Result<(Self, KeyOrigin), ProofError> {
        Self::load_or_setup(model, mode, source, cache_dir, false)
    }

    fn load_or_setup(
        model: Model,
        mode: WeightMode,
        source: &KeySource,
        cache_dir: Option<&Path>,
        verifier_only: bool,
    ) -> Result<(Self, KeyOrigin), ProofError> {
        model.validate()?;
        let commitment = mode.model_commitment(&model)?;
        let insecure = *source == KeySource::InsecureTest;
        let files = cache_dir.map(|dir| cache_files(dir, &model, &mode, source));
        let cached = files.as_ref().and_then(|(prover, verifier)| {
            if verifier_only {
                let keys = read_cache(verifier, VerifierKeys::from_bytes)?;
                Some((Keys::Verifier(Box::new(keys)), verifier.clone()))
            } else {
                let keys = read_cache(prover, FoldingKeys::from_bytes)?;
                Some((Keys::Prover(Box::new(keys)), prover.clone()))
            }
        });
        if let Some((keys, path)) = cached {
            if insecure {
                crate::folding::warn_insecure();
            }
            return Ok((Self { model, mode, commitment, keys, insecure }, KeyOrigin::Cached(path)));
        }
        let circuit = StepCircuit::for_setup(&model, &mode)?;
        let keys = FoldingKeys::setup(&circuit, source)?;
        if let Some((prover, verifier)) = &files {
            write_cache(verifier, &keys.verifier().to_bytes())?;
            write_cache(prover, &keys.to_bytes())?;
        }
        let origin = KeyOrigin::Generated(files.map(|(p, v)| if verifier_only { v } else { p }));
        Ok((Self { model, mode, commitment, keys: Keys::Prover(Box::new(keys)), insecure }, origin))
    }

    /// Keys to verify proofs of `model` against its registered `commitment`. A private model's
    /// verifier knows the model's structure (its step circuit's shape), not its weights or
    /// blinding; a public model's commitment must be the model file's. Loads only the verifier's
    /// keys when they are cached.
    pub fn verifier(
        model: Model,
        private: bool,
        commitment: Commitment,
        source: &KeySource,
        cache_dir: Option<&Path>,
    ) -> Result<(Self, KeyOrigin), ProofError> {
        let mode = if private { WeightMode::Private(Blinding::zero(&model)) } else { WeightMode::Public };
        let (mut prover, origin) = Self::load_or_setup(model, mode, source, cache_dir, true)?;
        if !private && commitment != prover.commitment {
            return Err(ProofError::Rejected(format!(
                "the model file's commitment is {}, expected {commitment}",
                prover.commitment
            )));
        }
        prover.commitment = commitment;
        Ok((prover, origin))
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model commitment `M` proofs are bound to.
    pub fn commitment(&self) -> Commitment {
        self.commitment
    }

    /// Constraints of one step (padded to a power of two).
    pub fn num_constraints(&self) -> usize {
        self.keys.verifier().num_constraints()
    }

    /// The step shape's `(constraints, variables, nonzeros)`, when these are a prover's keys.
    pub fn shape_size(&self) -> Option<(usize, usize, usize)> {
        match &self.keys {
            Keys::Prover(k) => Some(k.shape_size()),
            Keys::Verifier(_) => None,
        }
    }

    /// Whether the weights are private (witness, bound by the blinded commitment).
    pub fn is_private(&self) -> bool {
        matches!(self.mode, WeightMode::Private(_))
    }

    /// Whether the keys come from the insecure test setup.
    pub fn is_insecure(&self) -> bool {
        self.insecure
    }

    /// Proves steps `segment` of `trace` (the engine's trace of this model on the request's
    /// input) for `request_id`.
    pub fn prove(
        &self,
        request_id: RequestId,
        trace: &Trace,
        segment: Range<usize>,
        progress: impl FnMut(Progress),
    ) -> Result<(SegmentProof, FoldTimings), ProofError> {
        self.prove_salted(request_id, trace, Fr::ZERO, segment, progress)
    }

    /// [`prove`](Self::prove) for a private input whose z_0 is salted with `salt`
    /// ([`crate::salted_input_commitment`]; zero: the plain z_0).
    pub fn prove_salted(
        &self,
        request_id: RequestId,
        trace: &Trace,
        salt: Fr,
        segment: Range<usize>,
        progress: impl FnMut(Progress),
    ) -> Result<(SegmentProof, FoldTimings), ProofError> {
        let steps = self.model.steps();
        if segment.start >= segment.end || segment.end > steps {
            return Err(Error::Input(format!(
                "segment {}..{} is not a non-empty range within 0..{steps}",
                segment.start, segment.end
            ))
            .into());
        }
        if trace.steps.len() != steps + 1 {
            return Err(
                Error::Input(format!("the trace has {} steps, expected {}", trace.steps.len(), steps + 1)).into()
            );
        }
        let Keys::Prover(keys) = &self.keys else {
            return Err(ProofError::Rejected("these are a verifier's keys; proving needs the prover's".into()));
        };
        let circuits = segment
            .clone()
            .map(|i| {
                let salt = if i == 0 { salt } else { Fr::ZERO };
                StepCircuit::new_salted(&self.model, &self.mode, i, &trace.steps[i], salt)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let all = self.model.step_commitments_salted(trace, salt);
        let zs = all[segment.start..=segment.end].to_vec();
        let context = context(self.commitment, request_id, &segment);
        let (proof, timings) = keys.prove_with_progress(&context, &circuits, progress)?;
        let file = SegmentProof {
            format: PROOF_FORMAT.into(),
            version: PROOF_VERSION,
            mode: self.mode.name().into(),
            model: self.commitment,
            request_id,
            from: segment.start,
            to: segment.end,
            steps: zs,
            proof: proof.to_flat(&keys.verifier().layout(segment.len())?)?,
        };
        Ok((file, timings))
    }

    /// The Solidity verifier's key blob for this model and mode (`fraud-prover export-verifier`).
    pub fn evm_key(&self) -> Result<crate::evm::EvmKey, ProofError> {
        Ok(self.keys.verifier().evm_key()?)
    }

    /// Verifies `proof` against this model's keys and commitment: what a contract accepts.
    pub fn verify(&self, proof: &SegmentProof) -> Result<(), ProofError> {
        verify_with(self.keys.verifier(), self.commitment, self.model.steps(), proof)
    }
}

pub(crate) fn context(model: Commitment, request_id: RequestId, segment: &Range<usize>) -> Vec<Fr> {
    let [hi, lo] = request_id.to_fields();
    vec![model.to_field().expect("canonical"), hi, lo, Fr::from(segment.start as u64), Fr::from(segment.end as u64)]
}

/// Checks `proof` with `keys` for the model committed as `model` with `steps` steps.
pub fn verify_with(
    keys: &VerifierKeys,
    model: Commitment,
    steps: usize,
    proof: &SegmentProof,
) -> Result<(), ProofError> {
    let m =
        model.to_field().ok_or_else(|| ProofError::Rejected(format!("model commitment {model} is not a scalar")))?;
    verify_steps(keys, model, steps, proof, |_| m)
}

/// Checks a segment proof's claims against a model committed as `model` with `steps` steps, and
/// returns the transcript context and step `i`'s public IO `[i, z_i, z_{i+1}, last(i)]` (the model
/// commitment for the layer steps, the tile commitment for the tiles) that its folding proof is
/// checked against.
pub(crate) fn segment_claims(
    model: Commitment,
    steps: usize,
    proof: &SegmentProof,
    last: impl Fn(usize) -> Fr,
) -> Result<(Vec<Fr>, Vec<Vec<Fr>>), ProofError> {
    if proof.model != model {
        return Err(ProofError::Rejected(format!("the proof is for model {}, expected {model}", proof.model)));
    }
    if proof.from >= proof.to || proof.to > steps {
        return Err(ProofError::Rejected(format!(
            "segment {}..{} is not a non-empty range within 0..{steps}",
            proof.from, proof.to
        )));
    }
    if proof.steps.len() != proof.to - proof.from + 1 {
        return Err(ProofError::Rejected(format!(
            "segment {}..{} needs {} step commitments, the proof has {}",
            proof.from,
            proof.to,
            proof.to - proof.from + 1,
            proof.steps.len()
        )));
    }
    let zs = proof
        .steps
        .iter()
        .enumerate()
        .map(|(i, z)| {
            z.to_field().ok_or_else(|| ProofError::Rejected(format!("step commitment {i} ({z}) is not a scalar")))
        })
        .collect::<Result<Vec<Fr>, _>>()?;
    let io: Vec<Vec<Fr>> =
        (proof.from..proof.to).map(|i| step_io(i, zs[i - proof.from], zs[i - proof.from + 1], last(i))).collect();
    Ok((context(model, proof.request_id, &(proof.from..proof.to)), io))
}

/// [`segment_claims`], then the folding proof of a plain step family.
pub(crate) fn verify_steps(
    keys: &VerifierKeys,
    model: Commitment,
    steps: usize,
    proof: &SegmentProof,
    last: impl Fn(usize) -> Fr,
) -> Result<(), ProofError> {
    let (context, io) = segment_claims(model, steps, proof, last)?;
    let folding = FoldingProof::from_flat(&proof.proof, &keys.layout(io.len())?)?;
    keys.verify(&context, &io, &folding)?;
    Ok(())
}
