//! Playing a dispute and proving it, for the operator (defending a challenged proposal) and the
//! watchtower (proving the correct output of a reopened request). Defending: each move of the bisection comes from the pure solver
//! (`verdict_contracts::dispute::next_action`) over the service's own stored trace; at the end
//! the disputed segment is proven with the folding prover on a blocking worker thread, checked by
//! the reference verifier, and submitted. A proof job never blocks the chain loop: the loop starts
//! it, and a later pass submits it once done.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use alloy::{
    primitives::{Address, FixedBytes, U256},
    providers::{DynProvider, Provider},
};
use tokio::task::JoinHandle;

use crate::{
    jobs::{JobState, ProofQueue, ProofSpec},
    models::ServedModel,
};
use verdict_circuits::{
    folding::KeySource,
    prover::{ModelProver, RequestId, SegmentProof},
    step::WeightMode,
    tiled::TileKeys,
    Commitment, Fr, Model, Trace as EngineTrace,
};
use verdict_contracts::{
    dispute::{next_action, Action, DisputeView, Phase, Role, Trace},
    dispute_game::DisputeGame::{self, DisputeGameInstance},
};

/// The prover-setup flags (flattened into both services' flags and the prover's commands).
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Prover")]
pub struct ProverArgs {
    /// A directory of powers-of-tau files (`ppot_pruned_{power}.ptau`), e.g. the Ethereum PPOT
    /// ceremony's: the setup for anything of value.
    #[arg(long, env = "VERDICT_PTAU_DIR", conflicts_with = "insecure_test_setup")]
    pub ptau_dir: Option<PathBuf>,
    /// Use the insecure test setup (a public tau: anyone can forge proofs). Tests and demos only.
    #[arg(long, env = "VERDICT_INSECURE_TEST_SETUP")]
    pub insecure_test_setup: bool,
    /// Cache of proving and verifying keys; a second proof of the same model skips setup.
    #[arg(long, env = "VERDICT_KEYS_DIR", default_value = ".verdict/keys")]
    pub keys_dir: PathBuf,
}

impl ProverArgs {
    /// The key source the flags name (`None` without one).
    pub fn source(&self) -> Option<KeySource> {
        match (&self.ptau_dir, self.insecure_test_setup) {
            (Some(dir), _) => Some(KeySource::PtauDir(dir.clone())),
            (None, true) => Some(KeySource::InsecureTest),
            (None, false) => None,
        }
    }

    /// The key setup the flags ask for (`None` without one; the insecure one warns).
    pub fn config(&self) -> Option<ProverConfig> {
        let source = self.source()?;
        if source == KeySource::InsecureTest {
            verdict_circuits::folding::warn_insecure();
        }
        Some(ProverConfig { source, keys_dir: self.keys_dir.clone() })
    }
}

/// Where proving keys come from and are cached.
#[derive(Clone, Debug)]
pub struct ProverConfig {
    /// The HyperKZG setup.
    pub source: KeySource,
    /// The key cache.
    pub keys_dir: PathBuf,
}

type ProofJob = JoinHandle<Result<Vec<u8>, String>>;

/// Proof attempts for one dispute before the defender gives up: a proof that fails this often
/// fails for a reason retrying does not fix (a trace that is not the model's, as a dishonest
/// proposal has; or a broken setup), and each attempt costs seconds of CPU.
const PROOF_ATTEMPTS: u32 = 3;

/// The defender: the dispute game and the proof jobs in flight (one a request).
pub struct Defender {
    game: DisputeGameInstance<DynProvider>,
    me: Address,
    prover: Option<ProverConfig>,
    jobs: Mutex<HashMap<u64, ProofJob>>,
    failures: Mutex<HashMap<u64, u32>>,
    provers: Arc<Provers>,
    /// The tile keys, loaded once and kept resident (every tiled model shares them).
    tile_keys: Arc<Mutex<Option<Arc<TileKeys>>>>,
    /// Proofs left to `fraud-prover worker` processes ([`crate::jobs`]); `None`: proven here.
    queue: Option<ProofQueue>,
}

/// A move ready to send.
pub enum Move {
    /// `openDispute`.
    Open(DisputeGame::Opening),
    /// `proposerBisect`.
    Bisect(FixedBytes<32>, Vec<FixedBytes<32>>),
    /// `proveSegment`.
    Prove(Vec<FixedBytes<32>>, Vec<u8>),
    /// `timeout`: the challenger's clock has run out. Its challenge is dismissed (its bond is
    /// ours, less the burn share) and the proposal's window runs again.
    Timeout,
}

impl Defender {
    /// A defender playing for `me`; without a prover config it plays the bisection but cannot
    /// prove (and then loses at the proof step).
    pub fn new(provider: DynProvider, game: Address, me: Address, prover: Option<ProverConfig>) -> Self {
        Self {
            game: DisputeGame::new(game, provider),
            me,
            prover,
            jobs: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            provers: Arc::new(Mutex::new(HashMap::new())),
            tile_keys: Arc::new(Mutex::new(None)),
            queue: None,
        }
    }

    /// Leaves every proof to the workers on `queue`'s database: each is enqueued, awaited, and
    /// checked with the reference verifier here before it is used.
    pub fn with_queue(mut self, queue: ProofQueue) -> Self {
        self.queue = Some(queue);
        self
    }

    /// The digest of the on-chain verifying key (the registry's `vkDigest`) that this model's
    /// proofs (public- or private-weight, as it is served) verify against under the configured
    /// setup; `None` without a setup.
    /// Reads only the cached verifier keys (milliseconds, so a restarted service is at work at
    /// once); the first time, it sets up and caches the model's keys. A tiled model's key is the
    /// tile shape's, loaded here once and kept resident for its proofs.
    pub async fn key_digest(&self, served: &ServedModel) -> Result<Option<[u8; 32]>, String> {
        let Some(config) = self.prover.clone() else { return Ok(None) };
        let (model, tiled, tile_keys) = (served.model.clone(), served.tiled.is_some(), self.tile_keys.clone());
        let (private, commitment) = (served.is_private(), served.commitment);
        tokio::task::spawn_blocking(move || {
            let key = if tiled {
                tile_keys_for(&tile_keys, &config)?.verifier().evm_key().map_err(|e| e.to_string())
            } else {
                let (verifier, _) =
                    ModelProver::verifier(model, private, commitment, &config.source, Some(&config.keys_dir))
                        .map_err(|e| e.to_string())?;
                verifier.evm_key().map_err(|e| e.to_string())
            };
            key.map(|k| Some(k.digest()))
        })
        .await
        .map_err(|e| format!("key setup panicked: {e}"))?
    }

    /// The game.
    pub fn game(&self) -> &DisputeGameInstance<DynProvider> {
        &self.game
    }

    /// The sender.
    pub fn me(&self) -> Address {
        self.me
    }

    /// The proposer's next move in the dispute of `request`, given its stored trace (and a
    /// private input's `salt`; zero for a public input).
    pub async fn next(
        &self,
        request: u64,
        served: &ServedModel,
        trace: &[Vec<i32>],
        steps: &[Commitment],
        salt: Fr,
    ) -> Result<Option<Move>, String> {
        let d = self.game.disputeOf(U256::from(request)).call().await.map_err(|e| e.to_string())?;
        let view =
            DisputeView { phase: Phase::from(d.phase), steps: served.steps(), lo: d.lo as usize, hi: d.hi as usize };
        if view.phase == Phase::None {
            return Ok(None);
        }
        let ours = Trace::new(steps.to_vec());
        Ok(match next_action(Role::Proposer, &view, &ours) {
            Action::Wait => {
                // The challenger's move: once its clock has run out, nobody else has a reason to
                // call the timeout that gives our proposal its window back.
                let deadline = self.game.deadlineOf(U256::from(request)).call().await.map_err(|e| e.to_string())?;
                let now = self
                    .game
                    .provider()
                    .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
                    .await
                    .map_err(|e| e.to_string())?
                    .map_or(0, |b| b.header.timestamp);
                (!deadline.proposerToMove && now >= deadline.expiresAt).then_some(Move::Timeout)
            }
            Action::Open { z0, z_last } => {
                Some(Move::Open(DisputeGame::Opening { z0: z0.0, proof0: z0.1, zL: z_last.0, proofL: z_last.1 }))
            }
            Action::Bisect { z, proof, .. } => Some(Move::Bisect(z, proof)),
            Action::ProveSegment { lo, hi, steps: zs } => {
                let id = RequestId::from_u64(request);
                let segment = Segment { trace, salt, expected: &steps[lo..=hi], range: lo..hi };
                self.proof(request, id, served, segment).map(|bytes| Move::Prove(zs, bytes))
            }
        })
    }

    /// The proof of `segment` for `request`, made for the transcript's request id `id` (the
    /// request itself in a dispute; [`RequestId::bound_to`] the sender for `proveOutput`):
    /// started on a worker thread the first time, returned once done (`None` meanwhile, or
    /// without a prover setup). A proof of other step commitments than the segment's `expected`
    /// (our stored trace is not the model's) is a failure, never submitted.
    pub fn proof(&self, request: u64, id: RequestId, served: &ServedModel, segment: Segment<'_>) -> Option<Vec<u8>> {
        let Segment { trace, salt, expected, range: segment } = segment;
        let Some(config) = self.prover.clone() else {
            tracing::error!(
                request,
                "challenged at the proof step, but no prover is configured (--ptau-dir or --insecure-test-setup)"
            );
            return None;
        };
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(job) = jobs.get(&request) {
            if !job.is_finished() {
                return None;
            }
            let job = jobs.remove(&request).expect("present");
            return match futures_now(job) {
                Ok(bytes) => Some(bytes),
                Err(e) => {
                    let failed = failures.entry(request).or_default();
                    *failed += 1;
                    if *failed < PROOF_ATTEMPTS {
                        tracing::error!(request, attempt = *failed, "proof failed: {e}; retrying");
                    } else {
                        tracing::error!(
                            request,
                            "proof failed {PROOF_ATTEMPTS} times ({e}); giving up: this dispute will be lost \
                             (is the proposal's trace the model's?)"
                        );
                    }
                    None
                }
            };
        }
        if failures.get(&request).is_some_and(|f| *f >= PROOF_ATTEMPTS) {
            return None;
        }
        let spec = ProofSpec {
            request,
            request_id: id,
            model_id: served.id,
            commitment: served.commitment,
            trace: trace.to_vec(),
            salt: Commitment::from_field(salt),
            expected: expected.to_vec(),
            from: segment.start,
            to: segment.end,
        };
        let (served, provers, tile_keys) = (served.clone(), self.provers.clone(), self.tile_keys.clone());
        tracing::info!(
            request,
            from = segment.start,
            to = segment.end,
            tiled = served.tiled.is_some(),
            remote = self.queue.is_some(),
            "proving the disputed segment"
        );
        let job = match self.queue.clone() {
            None => tokio::task::spawn_blocking(move || {
                let started = std::time::Instant::now();
                let proof = prove_spec(&spec, &served, &provers, &tile_keys, &config)?;
                tracing::info!(
                    request,
                    ms = started.elapsed().as_millis() as u64,
                    bytes = proof.proof.len(),
                    "segment proven"
                );
                Ok(proof.proof)
            }),
            Some(queue) => tokio::spawn(await_worker(queue, spec, served, provers, tile_keys, config)),
        };
        jobs.insert(request, job);
        None
    }
}

/// Proves `spec` with `served` (blocking: seconds to minutes), checked by our own verifier and
/// against the step commitments it must prove: what the defender and the workers run.
pub fn prove_spec(
    spec: &ProofSpec,
    served: &ServedModel,
    provers: &Provers,
    tile_keys: &Mutex<Option<Arc<TileKeys>>>,
    config: &ProverConfig,
) -> Result<SegmentProof, String> {
    if spec.commitment != served.commitment || spec.model_id != served.id {
        return Err(format!(
            "the job is for model {} as {}, served here as model {} {}",
            spec.model_id, spec.commitment, served.id, served.commitment
        ));
    }
    let salt = spec.salt.to_field().ok_or("the job's salt is not a field element")?;
    let trace = EngineTrace { steps: spec.trace.clone() };
    let segment = spec.from..spec.to;
    let proof = match &served.tiled {
        None => {
            let mode = served.blinding.as_ref().map_or(WeightMode::Public, |b| WeightMode::Private((**b).clone()));
            let prover = prover_for(provers, served.id, served.model.clone(), mode, config)?;
            let (proof, _) =
                prover.prove_salted(spec.request_id, &trace, salt, segment, |_| {}).map_err(|e| e.to_string())?;
            // Never submit what our own verifier would refuse.
            prover.verify(&proof).map_err(|e| format!("self-check failed: {e}"))?;
            proof
        }
        Some(tiled) => {
            let keys = tile_keys_for(tile_keys, config)?;
            let run = tiled.tile(trace, salt);
            let (proof, _) = tiled.prove(&keys, spec.request_id, &run, segment, |_| {}).map_err(|e| e.to_string())?;
            tiled.verify(keys.verifier(), &proof).map_err(|e| format!("self-check failed: {e}"))?;
            proof
        }
    };
    check_steps(&proof, &spec.expected)?;
    Ok(proof)
}

/// A worker's result for `spec`, refused unless the reference verifier accepts it for this
/// model, this request and these steps.
fn check_result(
    json: &str,
    spec: &ProofSpec,
    served: &ServedModel,
    verifiers: &Provers,
    tile_keys: &Mutex<Option<Arc<TileKeys>>>,
    config: &ProverConfig,
) -> Result<SegmentProof, String> {
    let proof: SegmentProof = serde_json::from_str(json).map_err(|e| format!("unreadable proof: {e}"))?;
    if proof.request_id != spec.request_id || (proof.from, proof.to) != (spec.from, spec.to) {
        return Err(format!("a proof of steps {}..{} of another request", proof.from, proof.to));
    }
    match &served.tiled {
        None => {
            let cached = verifiers.lock().unwrap_or_else(|p| p.into_inner()).get(&served.id).cloned();
            let verifier = match cached {
                Some(v) => v,
                None => {
                    let (v, _) = ModelProver::verifier(
                        served.model.clone(),
                        served.is_private(),
                        served.commitment,
                        &config.source,
                        Some(&config.keys_dir),
                    )
                    .map_err(|e| e.to_string())?;
                    let v = Arc::new(v);
                    verifiers.lock().unwrap_or_else(|p| p.into_inner()).insert(served.id, v.clone());
                    v
                }
            };
            verifier.verify(&proof).map_err(|e| format!("the reference verifier refused it: {e}"))?;
        }
        Some(tiled) => {
            let keys = tile_keys_for(tile_keys, config)?;
            tiled.verify(keys.verifier(), &proof).map_err(|e| format!("the reference verifier refused it: {e}"))?;
        }
    }
    check_steps(&proof, &spec.expected)?;
    Ok(proof)
}

/// How often a remote proof's job is read while it is awaited.
const JOB_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Submits `spec` to the workers' queue and awaits its result, checked by the reference verifier
/// (a refused result fails the job, and a later attempt queues it again).
async fn await_worker(
    queue: ProofQueue,
    spec: ProofSpec,
    served: ServedModel,
    verifiers: Arc<Provers>,
    tile_keys: Arc<Mutex<Option<Arc<TileKeys>>>>,
    config: ProverConfig,
) -> Result<Vec<u8>, String> {
    let panicked = |e: tokio::task::JoinError| format!("a queue call panicked: {e}");
    let (q, s) = (queue.clone(), spec.clone());
    tokio::task::spawn_blocking(move || q.submit(&s)).await.map_err(panicked)?.map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let json = loop {
        let (q, s) = (queue.clone(), spec.clone());
        match tokio::task::spawn_blocking(move || q.state(&s)).await.map_err(panicked)?.map_err(|e| e.to_string())? {
            Some(JobState::Done(json)) => break json,
            Some(JobState::Failed(why)) => return Err(format!("the worker could not prove it: {why}")),
            Some(JobState::Queued | JobState::Running { .. }) => tokio::time::sleep(JOB_POLL).await,
            None => return Err("the proof job vanished from the queue".into()),
        }
    };
    let (q, s) = (queue.clone(), spec.clone());
    tokio::task::spawn_blocking(move || match check_result(&json, &s, &served, &verifiers, &tile_keys, &config) {
        Ok(proof) => {
            tracing::info!(
                request = s.request,
                ms = started.elapsed().as_millis() as u64,
                "segment proven by a worker and checked"
            );
            Ok(proof.proof)
        }
        Err(why) => {
            tracing::error!(request = s.request, "a worker's proof was refused: {why}");
            if let Err(e) = q.refuse(&s, &why) {
                tracing::warn!(request = s.request, "cannot mark the job failed: {e}");
            }
            Err(why)
        }
    })
    .await
    .map_err(|e| format!("the proof check panicked: {e}"))?
}

/// What a proof is made of: the stored trace, a private input's salt (zero for a public input),
/// the step commitments z_from..z_to we posted, and the steps `from..to`.
pub struct Segment<'a> {
    /// The stored trace (the layers' activations).
    pub trace: &'a [Vec<i32>],
    /// A private input's salt; zero for a public input.
    pub salt: Fr,
    /// Our step commitments z_from..z_to.
    pub expected: &'a [Commitment],
    /// The steps.
    pub range: std::ops::Range<usize>,
}

/// A proof proves the step commitments we posted, or it is of no use: the contract checks them
/// against our trace root.
fn check_steps(proof: &SegmentProof, expected: &[Commitment]) -> Result<(), String> {
    if proof.steps != expected {
        return Err(format!(
            "the proof's step commitments z_{}..z_{} are not the ones we posted: our stored trace is not the model's",
            proof.from, proof.to
        ));
    }
    Ok(())
}

/// The tile keys, loaded (blocking) the first time and resident after.
pub fn tile_keys_for(cache: &Mutex<Option<Arc<TileKeys>>>, config: &ProverConfig) -> Result<Arc<TileKeys>, String> {
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(keys) = cache.as_ref() {
        return Ok(keys.clone());
    }
    let started = std::time::Instant::now();
    let (keys, origin) = TileKeys::load_or_setup(&config.source, Some(&config.keys_dir)).map_err(|e| e.to_string())?;
    tracing::info!(ms = started.elapsed().as_millis() as u64, ?origin, "tile keys loaded (resident from now on)");
    let keys = Arc::new(keys);
    *cache = Some(keys.clone());
    Ok(keys)
}

/// Model provers (or verifiers) by model id, set up once.
pub type Provers = Mutex<HashMap<u64, Arc<ModelProver>>>;

/// The cached prover of `model_id` (public or private weights, `mode`), set up (blocking) the
/// first time.
fn prover_for(
    provers: &Provers,
    model_id: u64,
    model: Model,
    mode: WeightMode,
    config: &ProverConfig,
) -> Result<Arc<ModelProver>, String> {
    if let Some(p) = provers.lock().unwrap_or_else(|p| p.into_inner()).get(&model_id).cloned() {
        return Ok(p);
    }
    let (p, _) = ModelProver::setup(model, mode, &config.source, Some(&config.keys_dir)).map_err(|e| e.to_string())?;
    let p = Arc::new(p);
    provers.lock().unwrap_or_else(|p| p.into_inner()).insert(model_id, p.clone());
    Ok(p)
}

/// The result of a finished job (it is finished, so this does not block).
fn futures_now(job: ProofJob) -> Result<Vec<u8>, String> {
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| handle.block_on(job)).map_err(|e| format!("proof job panicked: {e}"))?
}
