//! Segment proofs over a model's tiles ([`crate::tiles`]): one set of keys for every model (the
//! tile shape does not depend on the model), kept resident by whoever proves, and a reference
//! verifier.
//!
//! A tiled segment proof is a [`SegmentProof`] whose steps are tiles: it covers tiles
//! `[from, to)` and is checked against the tiled trace's commitments `z_from, …, z_to` (z_0 and
//! z_L are the plain input and output commitments). Tile `t`'s public IO is `[α_t, z_t, z_{t+1},
//! T_t]`, where `T_t` is the tile commitment (which binds `t`) and `α_t` the challenge of the
//! tile's byte lookups: its folding proof is a [`crate::challenged::ChallengedProof`] (the verifier takes IO
//! `[t, z_t, z_{t+1}, T_t]` and puts the transcript's challenge in place of `t`, as
//! `NovaVerifier.sol` does for a key with a prefix).
//!
//! The **tiled model commitment** `C` (what a tiled model registers) is the root of the Keccak
//! Merkle tree of [`TraceTree`] over the leaves `[M, T_0, …, T_{L-1}]` (M: the model's Poseidon
//! commitment, public or blinded), reduced modulo the scalar field. The proof's bytes are the
//! flat folding proof followed by the segment's tile commitments `T_from, …, T_{to-1}` (leaves
//! `from + 1 ..= to`) and one range proof for them all ([`crate::range_root`]: at each level the
//! left neighbour of the range if it starts at an odd index, then the right neighbour if it ends
//! at an even one). So the verifier needs only `C` and `L`, a one-tile proof costs the same
//! whatever the model (up to `⌈log2(L + 1)⌉` siblings), and each extra tile adds one word. The
//! transcript's context is the layer prover's, with `C`: `[C, request_id_hi, request_id_lo,
//! from, to]`.
//!
//! A model registered by its tiled commitment is disputed over its tiles: the services bisect
//! and prove over them (`verdict-runtime`'s registry, `fraud-prover prove --tiles`), and
//! `NovaVerifier.sol` checks the tile commitments' range proof against the registered `C` as
//! [`verify_tiled`] does. A model registered by its plain commitment is proven over layers
//! (`crate::prover`).

use std::{
    ops::Range,
    path::{Path, PathBuf},
};

use ff::Field;

use crate::{
    challenged::{ChallengedKeys, ChallengedVerifierKeys},
    folding::{FoldTimings, KeySource, Progress},
    prover::{
        context, read_cache, segment_claims, write_cache, KeyOrigin, ProofError, RequestId, SegmentProof, PROOF_FORMAT,
        PROOF_VERSION,
    },
    tile::{TileCircuit, TILE_CIRCUIT_VERSION},
    tiles::{
        blinded_tile_commitments, synthetic_mlp, tile_commitments, tile_params, tiled_trace, TilePlan, TileState,
        TiledTrace,
    },
    Commitment, Error, Fr, Model, Trace, TraceTree,
};

/// The tile shape's keys: the same for every model.
pub struct TileKeys {
    keys: ChallengedKeys,
}

impl std::fmt::Debug for TileKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TileKeys").field("shape", &self.keys.shape_size()).finish_non_exhaustive()
    }
}

/// The key cache file of the tile shape under `source`.
pub fn tile_keys_file(dir: &Path, source: &KeySource) -> PathBuf {
    dir.join(format!("tile-c{TILE_CIRCUIT_VERSION}-{}-v{PROOF_VERSION}.prover.keys", source.tag()))
}

impl TileKeys {
    /// Loads the tile keys from `cache_dir`, or sets them up (and caches them there).
    pub fn load_or_setup(source: &KeySource, cache_dir: Option<&Path>) -> Result<(Self, KeyOrigin), ProofError> {
        let file = cache_dir.map(|dir| tile_keys_file(dir, source));
        if let Some(keys) = file.as_ref().and_then(|f| read_cache(f, ChallengedKeys::from_bytes)) {
            if *source == KeySource::InsecureTest {
                crate::folding::warn_insecure();
            }
            return Ok((Self { keys }, KeyOrigin::Cached(file.expect("read from it"))));
        }
        // Any tile has the shape: the first of a one-tile-wide model.
        let model = synthetic_mlp(&[31, 31, 28], 0);
        let plan = TilePlan::new(&model)?;
        let spec = &plan.tiles[0];
        let input = vec![0; model.input.len];
        let circuit = TileCircuit::new(
            &model,
            spec,
            tile_params(&model, spec),
            Fr::ZERO,
            &TileState::initial(Fr::ZERO),
            &input,
            Fr::ZERO,
        );
        let keys = ChallengedKeys::setup(&circuit, source)?;
        if let Some(f) = &file {
            write_cache(f, &keys.to_bytes())?;
        }
        Ok((Self { keys }, KeyOrigin::Generated(file)))
    }

    /// The verifier's part.
    pub fn verifier(&self) -> &ChallengedVerifierKeys {
        self.keys.verifier()
    }

    /// The tile shape's `(constraints, variables, nonzeros)`.
    pub fn shape_size(&self) -> (usize, usize, usize) {
        self.keys.shape_size()
    }
}

/// A model's tiles, ready to prove and verify segments of its tiled traces.
#[derive(Clone, Debug)]
pub struct TiledModel {
    model: Model,
    plan: TilePlan,
    /// Each tile's blinding (zero for public models).
    blindings: Vec<Fr>,
    tiles: Vec<Fr>,
    /// M: the tree's leaf 0.
    leaf0: Commitment,
    commitment: Commitment,
}

/// Domain tag of a tile's blinding, derived from its layer's secret blinding element.
pub const TAG_TILE_BLINDING: u64 = 6;

/// The blinding of tile `t` of layer `l`: `H(TAG_TILE_BLINDING, blinding_l, t)`. The layer's
/// element is uniformly random and secret, so each tile commitment hides its weights.
pub fn tile_blinding(layer_blinding: Fr, t: usize) -> Fr {
    crate::poseidon_hash(&[Fr::from(TAG_TILE_BLINDING), layer_blinding, Fr::from(t as u64)])
}

/// A request's trace over tiles: the engine's activations and the tile states.
#[derive(Clone, Debug)]
pub struct TiledRun {
    /// The engine's trace (the activations the tiles read).
    pub trace: Trace,
    /// The tile states and z_0..z_L.
    pub tiled: TiledTrace,
    /// The input commitment's salt (zero for a public input).
    pub salt: Fr,
}

impl TiledModel {
    /// Tiles `model` (public weights: blinding 0), or says why it cannot be tiled.
    pub fn new(model: Model) -> Result<Self, ProofError> {
        model.validate()?;
        let plan = TilePlan::new(&model)?;
        let (tiles, leaf0) = rayon::join(|| tile_commitments(&model, &plan), || model.commitment());
        let commitment = tiled_commitment(leaf0, &tiles);
        Ok(Self { blindings: vec![Fr::ZERO; plan.len()], model, plan, tiles, leaf0, commitment })
    }

    /// Tiles a private model: each tile commitment is blinded ([`tile_blinding`]) with the
    /// model's blinding file, and proofs are bound to its blinded model commitment. Its tiles are
    /// one block each ([`TilePlan::dense`]): the tile count, which the registry holds, reveals
    /// the dimensions only, not which blocks of the hidden weights are zero.
    pub fn private(model: Model, blinding: &crate::step::Blinding) -> Result<Self, ProofError> {
        model.validate()?;
        let plan = TilePlan::dense(&model)?;
        let layers = blinding.elements(&model)?;
        let blindings: Vec<Fr> = plan.tiles.iter().map(|s| tile_blinding(layers[s.layer], s.index)).collect();
        let (tiles, leaf0) = rayon::join(
            || blinded_tile_commitments(&model, &plan, |s| blindings[s.index]),
            || blinding.model_commitment(&model),
        );
        let leaf0 = leaf0?;
        let commitment = tiled_commitment(leaf0, &tiles);
        Ok(Self { model, plan, blindings, tiles, leaf0, commitment })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The tiled model commitment `C` a proof is bound to (module documentation).
    pub fn commitment(&self) -> Commitment {
        self.commitment
    }

    /// Steps of the tiled trace: the tile count.
    pub fn steps(&self) -> usize {
        self.plan.len()
    }

    /// The tile commitments `T_0..T_{L-1}`.
    pub fn tile_commitments(&self) -> &[Fr] {
        &self.tiles
    }

    /// The tile plan.
    pub fn plan(&self) -> &TilePlan {
        &self.plan
    }

    /// Runs the model on an int8 input and tiles the trace.
    pub fn run(&self, input: &[i8]) -> Result<TiledRun, ProofError> {
        self.run_salted(input, Fr::ZERO)
    }

    /// [`run`](Self::run) for a private input whose z_0 is salted with `salt`.
    pub fn run_salted(&self, input: &[i8], salt: Fr) -> Result<TiledRun, ProofError> {
        Ok(self.tile(self.model.run(input)?, salt))
    }

    /// Tiles the engine's `trace` of this model (a stored one: the activations are all a
    /// service keeps; the tile states are recomputed in milliseconds).
    pub fn tile(&self, trace: Trace, salt: Fr) -> TiledRun {
        let tiled = tiled_trace(&self.model, &self.plan, &trace, salt);
        TiledRun { trace, tiled, salt }
    }

    /// Proves tiles `segment` of `run` for `request_id`.
    pub fn prove(
        &self,
        keys: &TileKeys,
        request_id: RequestId,
        run: &TiledRun,
        segment: Range<usize>,
        progress: impl FnMut(Progress),
    ) -> Result<(SegmentProof, FoldTimings), ProofError> {
        let steps = self.steps();
        if segment.start >= segment.end || segment.end > steps {
            return Err(Error::Input(format!(
                "segment {}..{} is not a non-empty range within 0..{steps}",
                segment.start, segment.end
            ))
            .into());
        }
        if run.tiled.commitments.len() != steps + 1 {
            return Err(Error::Input(format!(
                "the tiled trace has {} commitments, expected {}",
                run.tiled.commitments.len(),
                steps + 1
            ))
            .into());
        }
        let circuits: Vec<TileCircuit> = segment
            .clone()
            .map(|t| {
                let spec = &self.plan.tiles[t];
                let params = tile_params(&self.model, spec);
                let state = &run.tiled.states[t];
                let input = &run.trace.steps[spec.layer];
                TileCircuit::new(&self.model, spec, params, self.blindings[t], state, input, run.salt)
            })
            .collect();
        let context = context(self.commitment, request_id, &segment);
        let (proof, timings) = keys.keys.prove_with_progress(&context, &circuits, progress)?;
        let mut bytes = proof.to_flat(&keys.verifier().layout(segment.len())?)?;
        for t in segment.clone() {
            bytes.extend_from_slice(&Commitment::from_field(self.tiles[t]).0);
        }
        for sibling in self.tree().range_proof(segment.start + 1, segment.end) {
            bytes.extend_from_slice(&sibling);
        }
        let file = SegmentProof {
            format: PROOF_FORMAT.into(),
            version: PROOF_VERSION,
            mode: if self.blindings.iter().all(|b| *b == Fr::ZERO) { "tiled" } else { "tiled-private" }.into(),
            model: self.commitment,
            request_id,
            from: segment.start,
            to: segment.end,
            steps: run.tiled.commitments[segment.start..=segment.end]
                .iter()
                .map(|z| Commitment::from_field(*z))
                .collect(),
            proof: bytes,
        };
        Ok((file, timings))
    }

    /// Verifies a tiled segment proof against this model: what the contract will accept.
    pub fn verify(&self, keys: &ChallengedVerifierKeys, proof: &SegmentProof) -> Result<(), ProofError> {
        verify_tiled(keys, self.commitment, self.steps(), proof)
    }

    fn tree(&self) -> TraceTree {
        tile_tree(self.leaf0, &self.tiles)
    }
}

/// The tree over `[M, T_0, …, T_{L-1}]`.
fn tile_tree(model: Commitment, tiles: &[Fr]) -> TraceTree {
    let leaves: Vec<Commitment> =
        std::iter::once(model).chain(tiles.iter().map(|t| Commitment::from_field(*t))).collect();
    TraceTree::new(&leaves)
}

/// 32 big-endian bytes as a number modulo the scalar field (`uint256(b) % R` in Solidity).
fn reduce(bytes: &[u8; 32]) -> Fr {
    use ff::PrimeField;
    let hi = u128::from_be_bytes(bytes[..16].try_into().expect("16 bytes"));
    let lo = u128::from_be_bytes(bytes[16..].try_into().expect("16 bytes"));
    Fr::from_u128(hi) * Fr::from_u128(1u128 << 64) * Fr::from_u128(1u128 << 64) + Fr::from_u128(lo)
}

/// The tiled model commitment `C` of a model committed as `model` with tile commitments `tiles`.
pub fn tiled_commitment(model: Commitment, tiles: &[Fr]) -> Commitment {
    let root = tile_tree(model, tiles).root();
    Commitment::from_field(reduce(&root))
}

/// Verifies a tiled segment proof against the tiled model commitment `commitment` of a model of
/// `steps` tiles: the tile commitments come from the proof, each checked against `commitment`.
/// This is what a verifier that holds only the registered values (the contract) checks.
pub fn verify_tiled(
    keys: &ChallengedVerifierKeys,
    commitment: Commitment,
    steps: usize,
    proof: &SegmentProof,
) -> Result<(), ProofError> {
    let reject = |m: String| ProofError::Rejected(m);
    let segment = proof.to.checked_sub(proof.from).filter(|k| *k > 0 && proof.to <= steps).ok_or_else(|| {
        reject(format!("segment {}..{} is not a non-empty range within 0..{steps}", proof.from, proof.to))
    })?;
    let depth = (steps + 1).next_power_of_two().trailing_zeros() as usize;
    let siblings = crate::range_proof_len(proof.from + 1, proof.to, depth);
    let trailer = 32 * (segment + siblings);
    let split = proof.proof.len().checked_sub(trailer).ok_or_else(|| reject("the proof has no tile data".into()))?;
    let c = commitment.to_field().ok_or_else(|| reject(format!("{commitment} is not a scalar")))?;
    let words: Vec<[u8; 32]> = proof.proof[split..].chunks(32).map(|w| w.try_into().expect("32 bytes")).collect();
    let (tile_words, sibling_words) = words.split_at(segment);
    let mut tiles = Vec::with_capacity(segment);
    let mut leaves = Vec::with_capacity(segment);
    for (j, w) in tile_words.iter().enumerate() {
        let t = Commitment(*w);
        tiles.push(t.to_field().ok_or_else(|| reject(format!("tile commitment {j} is not a scalar")))?);
        leaves.push(crate::trace_leaf(proof.from + 1 + j, &t));
    }
    let root = crate::range_root(proof.from + 1, &leaves, sibling_words, depth).expect("the trailer's length");
    if reduce(&root) != c {
        return Err(reject(format!("tiles {}..{}: their commitments are not the model's", proof.from, proof.to)));
    }
    let mut flat = proof.clone();
    flat.proof.truncate(split);
    let (context, io) = segment_claims(commitment, steps, &flat, |t| tiles[t - proof.from])?;
    // The challenges take the positions' place: the tile commitments bind the positions.
    let io: Vec<Vec<Fr>> = io.into_iter().map(|x| x[1..].to_vec()).collect();
    keys.verify_flat(&context, &io, &flat.proof)?;
    Ok(())
}
