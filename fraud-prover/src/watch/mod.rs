//! The watchtower (`fraud-prover watch`): re-executes every proposal of the models it watches,
//! challenges the wrong ones within their window, plays the challenger's side of the bisection
//! (each move from the pure solver), calls the timeout when the proposer runs out of clock, and,
//! once a wrong proposal is thrown out, proves the correct output so that the consumer gets it;
//! then claims its credits.
//!
//! Layered as STYLE.md asks: the monitor (`scan`) records every request of a watched model, the
//! scheduler (`tick`) visits every open record, the agent (`advance`) reads the chain and asks
//! the pure [`decide`] (and, in a dispute, the pure solver) what to do, and the responder
//! (`send_tx`) sends it. Every proposal of every request is checked, whoever challenged before:
//! a request stays watched until it is final. Like the operator, it acts only on the chain's
//! current state, so a restart at any point resumes every open dispute.
//!
//! Private models and private inputs cannot be re-executed. With `--blind-challenge ID` the
//! watchtower challenges every proposal of private model `ID` blind (no trace of its own), and
//! with `--blind-challenge-private-inputs` every proposal of a private-input request of a watched
//! model, except those of operators named with `--trust`: the proposer must then prove the whole
//! inference (from the request's z_0) within the proof window, or lose its bond. Off by default,
//! because an honest proposer proves and the challenger's bond is lost; it is for operators the
//! watcher has reason not to trust.

use std::{
    collections::HashSet,
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

mod decide;

pub use decide::{decide, Action, Facts, Local, Proposal, RequestStatus};

use alloy::{
    primitives::{keccak256, Address, Bytes, FixedBytes, B256, U256},
    providers::{DynProvider, Provider},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use axum::{extract::State, http::StatusCode, routing::get, Json, Router};
use clap::Args;
use serde_json::json;
use verdict_circuits::{Commitment, Fr};
use verdict_contracts::{
    dispute::{next_action, Action as DisputeAction, DisputeView, Phase, Role, Trace},
    dispute_game::DisputeGame,
    inference_oracle::InferenceOracle,
};

use verdict_runtime::{
    check_public_registrations, check_registration, connect,
    jobs::ProofQueue,
    lease::Leader,
    load_models,
    models::{encode_output, ModelArg, Models, ServedModel},
    prover::{Defender, ProverArgs, Segment},
    receipts::Receipts,
    responder::{block_time, send_tx, ChainConfig},
    rpc,
    scheduler::{run_passes, Jobs, Outcome},
    shutdown_signal, ChainArgs, Error as ChainError, NewHeads,
};

use crate::{
    store::{SqlWatchStore, WatchRecord, WatchStatus, WatchStore},
    Error,
};

/// `fraud-prover watch` flags (each with a `VERDICT_*` variable). The key comes from
/// `--key-file` or `VERDICT_WATCHER_KEY`, never from a flag value.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The chain.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// A file holding the watcher's hex private key (or set `VERDICT_WATCHER_KEY`).
    #[arg(long, env = "VERDICT_WATCHER_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Watch registered model `ID` with the model file `PATH` (`ID=PATH`), or with the file at
    /// the model's registered URI (`ID`), checked against the registry.
    #[arg(long = "model", env = "VERDICT_MODELS", value_delimiter = ',')]
    pub models: Vec<ModelArg>,
    /// Challenge every proposal of private model `ID` blind, by bond (the proposer must prove
    /// the whole inference or lose). Off by default: each proposal an honest operator proves
    /// costs the challenger bond.
    #[arg(long = "blind-challenge", env = "VERDICT_BLIND_CHALLENGE", value_delimiter = ',', value_name = "ID")]
    pub blind_challenge: Vec<u64>,
    /// Challenge every proposal of a private-input request (only its commitment z_0 is on
    /// chain) of a watched model blind, as `--blind-challenge` does for private models. Off by
    /// default: such requests are not watched.
    #[arg(long, env = "VERDICT_BLIND_CHALLENGE_PRIVATE_INPUTS")]
    pub blind_challenge_private_inputs: bool,
    /// Operators never challenged blind.
    #[arg(long = "trust", env = "VERDICT_TRUSTED_OPERATORS", value_delimiter = ',', value_name = "ADDRESS")]
    pub trust: Vec<Address>,
    /// The store: a SQLite file's path, or a `postgres://` URL (a database that several instances
    /// of this watchtower may share: one acts at a time, the others stand by).
    #[arg(long, env = "VERDICT_DB", default_value = ".verdict/watchtower.sqlite")]
    pub db: PathBuf,
    /// Where `/healthz` and `/metrics` listen.
    #[arg(long, env = "VERDICT_LISTEN", default_value = "127.0.0.1:9090")]
    pub listen: std::net::SocketAddr,
    /// Do not challenge with less than this many seconds left in the window.
    #[arg(long, env = "VERDICT_MIN_MARGIN", default_value_t = 2)]
    pub min_margin: u64,
    /// The most gas one transaction may use.
    #[arg(long, env = "VERDICT_GAS_CAP", default_value_t = 3_000_000)]
    pub gas_cap: u64,
    /// The prover's key setup (proving the correct output needs one).
    #[command(flatten)]
    pub prover: ProverArgs,
    /// Leave proofs to `fraud-prover worker` processes on the same database (`--db`); each
    /// result is checked here with the reference verifier before it is submitted.
    #[arg(long, env = "VERDICT_PROOF_WORKERS")]
    pub proof_workers: bool,
}

/// What the watchtower counts.
#[derive(Debug, Default)]
pub struct WatchMetrics {
    /// Proposals re-executed (each proposal once).
    pub checked: AtomicU64,
    /// Proposals that differ from our trace.
    pub mismatches: AtomicU64,
    /// Challenges mined.
    pub challenges: AtomicU64,
    /// Disputes we won.
    pub won: AtomicU64,
    /// Disputes we lost.
    pub lost: AtomicU64,
    /// Correct outputs proven after a win.
    pub proven: AtomicU64,
    /// Failed RPC calls.
    pub rpc_errors: AtomicU64,
}

/// The watchtower.
pub struct Watcher {
    provider: DynProvider,
    oracle: InferenceOracle::InferenceOracleInstance<DynProvider>,
    game: DisputeGame::DisputeGameInstance<DynProvider>,
    me: Address,
    store: Arc<dyn WatchStore>,
    models: Arc<Models>,
    blind: HashSet<u64>,
    /// Challenge private-input requests of watched models blind.
    blind_private_inputs: bool,
    trusted: HashSet<Address>,
    metrics: Arc<WatchMetrics>,
    config: ChainConfig,
    margin: u64,
    prover: Defender,
    heads: NewHeads,
    /// One job in flight per watched request.
    jobs: Jobs,
    /// Reopened requests whose whole proof we do not attempt (logged once).
    unprovable: std::sync::Mutex<HashSet<u64>>,
}

/// The scheduler's key for the credit claim (request ids are below it).
const CLAIM_JOB: u64 = u64::MAX;

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn corrupt(what: impl std::fmt::Display) -> ChainError {
    ChainError::Corrupt(format!("watch record: {what}"))
}

/// The stored step commitments of a record (none for a blind one).
fn steps_of(w: &WatchRecord) -> Result<Vec<Commitment>, ChainError> {
    w.steps.iter().map(|z| z.parse()).collect::<Result<_, _>>().map_err(corrupt)
}

/// Our answer to a request: keccak256 of the correct output and our trace root; `None` for a
/// blind record.
fn answer(w: &WatchRecord, steps: &[Commitment]) -> Option<(B256, B256)> {
    (!steps.is_empty()).then(|| {
        let output = encode_output(w.trace.last().map_or(&[][..], Vec::as_slice));
        (keccak256(&output), Trace::new(steps.to_vec()).root())
    })
}

impl Watcher {
    async fn block_time(&self) -> Result<u64, ChainError> {
        block_time(&self.provider).await
    }

    /// One pass: collect the jobs that finished, record new requests (the monitor), and start
    /// a job for every open record that has none in flight (the agent), and one to claim
    /// credits. A pass never waits on a job, so one request's stuck transaction or long proof
    /// holds up no other dispute. A failing scan does not hold up the disputes in flight: they
    /// are scheduled first, and the scan's error is returned afterwards.
    pub async fn tick(self: &Arc<Self>) -> Result<(), ChainError> {
        // Another instance holds the lease: it acts, this one stands by.
        if self.config.leader.as_ref().is_some_and(|l| !l.is_held()) {
            return Ok(());
        }
        for (id, outcome) in self.jobs.collect().await {
            match outcome {
                Outcome::Done => {}
                Outcome::Failed(e) => tracing::warn!(request = id, retryable = e.is_retryable(), "{e}"),
                Outcome::Panicked(e) => tracing::error!(request = id, "job panicked: {e}"),
            }
        }
        let scanned = self.scan().await;
        if let Err(e) = &scanned {
            tracing::warn!("scan failed (disputes still advance): {e}");
        }
        let now = self.block_time().await?;
        for w in self.store.open_watched()? {
            let me = Arc::clone(self);
            self.jobs.start(w.id, async move { me.advance(&w, now).await });
        }
        let me = Arc::clone(self);
        self.jobs.start(CLAIM_JOB, async move { me.claim().await });
        scanned
    }

    /// Claims our credits (bonds won) when there are any.
    async fn claim(&self) -> Result<(), ChainError> {
        let account = self.oracle.accountOf(self.me).call().await.map_err(rpc)?;
        if account.credit.to::<u128>() > 0 {
            self.send(0, "claim", self.oracle.claim().from(self.me)).await?;
            tracing::info!(wei = account.credit.to::<u128>(), "claimed credits");
        }
        Ok(())
    }

    /// Sends through the responder, recording in our store.
    async fn send<D: alloy::contract::CallDecoder + Send + Sync + Clone>(
        &self,
        request: u64,
        kind: &'static str,
        call: alloy::contract::CallBuilder<&DynProvider, D>,
    ) -> Result<(), ChainError> {
        send_tx(self.store.as_tx_log(), &self.config, request, kind, call).await.map(drop)
    }

    /// The monitor: records every new request of a watched model with our trace of it (or, for a
    /// `--blind-challenge` model, without one) and counts every proposal of a watched request
    /// against it, reading `RequestCreated` and `Proposed` logs in ranges of at most
    /// `max_log_range` blocks that are `confirmations` deep, resuming after a restart. (What to
    /// do about a proposal is the agent's: it reads the live proposal from the chain.)
    async fn scan(&self) -> Result<(), ChainError> {
        let head = self.provider.get_block_number().await.map_err(rpc)?;
        let safe = head.saturating_sub(self.config.confirmations);
        let mut from = match self.store.meta("watch:last_block")?.and_then(|v| v.parse::<u64>().ok()) {
            Some(b) => b + 1,
            None => self.config.start_block,
        };
        while from <= safe {
            let to = safe.min(from + self.config.max_log_range.max(1) - 1);
            let events =
                self.oracle.RequestCreated_filter().from_block(from).to_block(to).query().await.map_err(rpc)?;
            for (event, log) in events {
                let id: u64 = event.requestId.try_into().unwrap_or(u64::MAX);
                let model_id: u64 = event.modelId.try_into().unwrap_or(u64::MAX);
                let block = log.block_number.unwrap_or(to);
                let mut record = WatchRecord {
                    id,
                    model_id,
                    block,
                    input: Vec::new(),
                    trace: Vec::new(),
                    steps: Vec::new(),
                    status: WatchStatus::Watching,
                    checked: None,
                    detail: None,
                };
                let private_input = event.input.is_empty();
                if self.blind.contains(&model_id) {
                    record.detail = Some("a private model: challenged blind unless its proposer is trusted".into());
                } else if private_input && self.blind_private_inputs && self.models.contains_key(&model_id) {
                    record.detail = Some("a private input: challenged blind unless its proposer is trusted".into());
                } else if let Some(served) = self.models.get(&model_id) {
                    if private_input {
                        tracing::warn!(request = id, "a private input cannot be re-executed; not watching it");
                        continue;
                    }
                    let input: Vec<i8> = event.input.iter().map(|b| *b as i8).collect();
                    let ours = match served.compute(&input, Fr::from(0u64)) {
                        Ok(ours) => ours,
                        Err(e) => {
                            // The contract accepts only inputs the circuits can prove, so this is
                            // a model/registry mismatch, not a request to skip quietly.
                            tracing::error!(request = id, "cannot re-execute the request: {e}");
                            continue;
                        }
                    };
                    record.input = input;
                    record.trace = ours.trace;
                    record.steps = ours.steps.iter().map(ToString::to_string).collect();
                } else {
                    continue;
                }
                if self.store.insert_watched(&record)? {
                    tracing::debug!(request = id, model = model_id, block, "watching a request");
                }
            }
            let proposals = self.oracle.Proposed_filter().from_block(from).to_block(to).query().await.map_err(rpc)?;
            for (p, _) in proposals {
                let id: u64 = p.requestId.try_into().unwrap_or(u64::MAX);
                let Some(w) = self.store.watched(id)? else { continue };
                let wrong = match answer(&w, &steps_of(&w)?) {
                    None => !self.trusted.contains(&p.proposer),
                    Some((output, root)) => keccak256(&p.output) != output || root != p.traceRoot,
                };
                inc(&self.metrics.checked);
                if wrong && p.proposer != self.me {
                    inc(&self.metrics.mismatches);
                }
            }
            // Recorded after the requests: a crash in between re-reads the range, and inserting a
            // known request is a no-op.
            self.store.set_meta("watch:last_block", &to.to_string())?;
            from = to + 1;
        }
        Ok(())
    }

    /// What the chain says about request `rid` at block time `now`.
    async fn facts(&self, rid: U256, now: u64) -> Result<Facts, ChainError> {
        let onchain = self.oracle.requestOf(rid).call().await.map_err(rpc)?;
        let status = RequestStatus::read(rid.to(), onchain.status)?;
        let proposal = match status {
            RequestStatus::Proposed | RequestStatus::Challenged | RequestStatus::Confirmed => {
                let p = self.oracle.proposalOf(rid).call().await.map_err(rpc)?;
                Some(Proposal {
                    proposer: p.proposer,
                    output_hash: p.outputHash,
                    trace_root: p.traceRoot,
                    deadline: p.deadline,
                })
            }
            _ => None,
        };
        let challenger = if status == RequestStatus::Challenged {
            Some(self.oracle.challengeOf(rid).call().await.map_err(rpc)?.challenger)
        } else {
            None
        };
        Ok(Facts { status, proposal, challenger, now })
    }

    /// The agent: reads the chain, asks the pure [`decide`] what to do, does it, and records
    /// where the request stands.
    async fn advance(&self, w: &WatchRecord, now: u64) -> Result<(), ChainError> {
        let rid = U256::from(w.id);
        // A blind record has no trace (and the model no weights we hold).
        let blind = w.steps.is_empty();
        let steps = steps_of(w)?;
        let checked: Option<B256> = w.checked.as_deref().map(str::parse).transpose().map_err(corrupt)?;
        let facts = self.facts(rid, now).await?;
        let ours = answer(w, &steps);
        let trusted = facts.proposal.is_some_and(|p| self.trusted.contains(&p.proposer));
        let local = Local { status: w.status, checked, ours, me: self.me, trusted, margin: self.margin };
        let (mut next, checked, actions) = decide(&facts, &local);
        let checked = checked.map(|k| k.to_string());
        let mut detail = None;
        let mut outcome = Ok(());
        for action in actions {
            let done = match action {
                Action::Checked { wrong } => {
                    // Counted by the monitor, from the proposal's event; here it is reported.
                    if wrong {
                        let proposer = facts.proposal.map(|p| p.proposer).unwrap_or_default();
                        tracing::warn!(request = w.id, %proposer, "the proposal is wrong{}", if blind { " (blind: untrusted)" } else { "" });
                        detail = Some(format!("a wrong proposal by {proposer}"));
                    }
                    Ok(())
                }
                Action::Challenge { root } => match self.challenge(w, rid, root, &steps).await {
                    Ok(true) => {
                        next = WatchStatus::Challenged;
                        Ok(())
                    }
                    Ok(false) => {
                        next = WatchStatus::Done;
                        detail = Some("our two evaluations disagree; not challenging".into());
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                Action::CountChallenge => {
                    // Our challenge was mined but not recorded (a crash between the two).
                    inc(&self.metrics.challenges);
                    Ok(())
                }
                Action::Play => self.play(w, rid, blind, &steps).await,
                Action::CountOutcome => self.count_outcome(w).await,
                Action::ProveOutput => self.prove_output(w, rid, &steps).await,
            };
            if let Err(e) = done {
                outcome = Err(e);
                break;
            }
        }
        if next == WatchStatus::Late && w.status != WatchStatus::Late {
            detail = Some("the window closed before we could challenge".into());
        }
        self.store.set_watched(w.id, next, checked.as_deref(), detail.as_deref())?;
        outcome
    }

    /// Challenges the live proposal; `false` (and no challenge) when our two evaluations of the
    /// request disagree.
    async fn challenge(
        &self,
        w: &WatchRecord,
        rid: U256,
        root: Option<B256>,
        steps: &[Commitment],
    ) -> Result<bool, ChainError> {
        let bond = self.oracle.challengerBond().call().await.map_err(rpc)?;
        let Some(root) = root else {
            let call = self.oracle.challenge(rid, FixedBytes::ZERO).value(U256::from(bond)).from(self.me);
            self.send(w.id, "challenge", call).await?;
            inc(&self.metrics.challenges);
            tracing::info!(request = w.id, "challenged blind");
            return Ok(true);
        };
        let served = self.served(w.model_id)?;
        // Second evaluation path: the model re-read from disk and checked against the registry
        // again, and the trace recomputed from it, must give our commitments.
        let again = served.compute(&w.input, Fr::from(0u64))?;
        if again.steps != steps {
            tracing::error!(request = w.id, "our two evaluations disagree; not challenging");
            return Ok(false);
        }
        let call = self.oracle.challenge(rid, root).value(U256::from(bond)).from(self.me);
        self.send(w.id, "challenge", call).await?;
        inc(&self.metrics.challenges);
        tracing::info!(request = w.id, "challenged");
        Ok(true)
    }

    fn served(&self, model_id: u64) -> Result<&ServedModel, ChainError> {
        self.models.get(&model_id).ok_or_else(|| ChainError::Corrupt(format!("model {model_id} is not watched")))
    }

    /// The challenger's next move in our live dispute, or the proposer's timeout once it is due.
    async fn play(&self, w: &WatchRecord, rid: U256, blind: bool, steps: &[Commitment]) -> Result<(), ChainError> {
        let d = self.game.disputeOf(rid).call().await.map_err(rpc)?;
        let action = if blind {
            // The proposer moves alone: it opens and proves, or runs out of time.
            DisputeAction::Wait
        } else {
            let view = DisputeView {
                phase: Phase::from(d.phase),
                steps: self.served(w.model_id)?.steps(),
                lo: d.lo as usize,
                hi: d.hi as usize,
            };
            next_action(Role::Challenger, &view, &Trace::new(steps.to_vec()))
        };
        match action {
            DisputeAction::Open { z0, z_last } => {
                let o = DisputeGame::Opening { z0: z0.0, proof0: z0.1, zL: z_last.0, proofL: z_last.1 };
                let call = self.game.challengerOpen(rid, o).from(self.me);
                self.send(w.id, "challenger_open", call).await
            }
            DisputeAction::Bisect { z, proof, .. } => {
                let call = self.game.challengerBisect(rid, z, proof).from(self.me);
                self.send(w.id, "challenger_bisect", call).await
            }
            _ => {
                // The proposer's move: call the timeout once its clock has run out.
                let (expires, proposer_to_move) = match self.game.deadlineOf(rid).call().await {
                    Ok(r) => (r.expiresAt, r.proposerToMove),
                    Err(_) => return Ok(()),
                };
                if proposer_to_move && self.block_time().await? > expires {
                    let call = self.game.timeout(rid).from(self.me);
                    self.send(w.id, "timeout", call).await?;
                }
                Ok(())
            }
        }
    }

    /// Counts how our ended dispute went, from its `DisputeResolved` event (logs from the
    /// request's block on).
    async fn count_outcome(&self, w: &WatchRecord) -> Result<(), ChainError> {
        let resolved = Filter::new()
            .address(*self.oracle.address())
            .event_signature(InferenceOracle::DisputeResolved::SIGNATURE_HASH)
            .topic1(U256::from(w.id))
            .from_block(w.block);
        let logs = self.provider.get_logs(&resolved).await.map_err(rpc)?;
        let last = logs.iter().rev().find_map(|l| l.log_decode::<InferenceOracle::DisputeResolved>().ok());
        match last.map(|l| l.inner.data.winner) {
            Some(winner) if winner == self.me => {
                inc(&self.metrics.won);
                tracing::info!(request = w.id, "we won the dispute");
            }
            Some(_) => {
                inc(&self.metrics.lost);
                tracing::error!(request = w.id, "we lost a dispute");
            }
            None => tracing::warn!(request = w.id, "our dispute ended, but its resolution is not in the logs yet"),
        }
        Ok(())
    }

    /// Gives the consumer the correct output of a reopened request: a proof of the whole
    /// inference (started on a worker the first time; sent once it is ready).
    async fn prove_output(&self, w: &WatchRecord, rid: U256, steps: &[Commitment]) -> Result<(), ChainError> {
        let served = self.served(w.model_id)?;
        if self.unprovable.lock().unwrap_or_else(|p| p.into_inner()).contains(&w.id) {
            return Ok(());
        }
        // A whole proof over many tiles costs more gas than we may spend (or a block holds):
        // the reopened request is left for an operator to propose again, which any can.
        let gas = verdict_contracts::nova::whole_proof_gas(served.steps());
        if served.tiled.is_some() && gas > self.config.gas_cap {
            if self.unprovable.lock().unwrap_or_else(|p| p.into_inner()).insert(w.id) {
                tracing::info!(
                    request = w.id,
                    tiles = served.steps(),
                    gas,
                    cap = self.config.gas_cap,
                    "not proving the reopened request's output: its whole proof would cost more than the gas cap; \
                     it is open for any operator to propose again"
                );
            }
            return Ok(());
        }
        // Made for the id bound to our address: nobody can take it from the mempool.
        let id = verdict_circuits::prover::RequestId::bound_to(w.id, self.me.into_array());
        let segment = Segment { trace: &w.trace, salt: Fr::from(0u64), expected: steps, range: 0..served.steps() };
        let Some(proof) = self.prover.proof(w.id, id, served, segment) else {
            return Ok(());
        };
        let input = Bytes::from(w.input.iter().map(|v| *v as u8).collect::<Vec<u8>>());
        let output = Bytes::from(encode_output(w.trace.last().map_or(&[][..], Vec::as_slice)));
        let zs: Vec<FixedBytes<32>> = steps.iter().map(|z| FixedBytes::from(z.0)).collect();
        let call = self.game.proveOutput(rid, input, output, zs, Bytes::from(proof)).from(self.me);
        match self.send(w.id, "prove_output", call).await {
            // The estimate let it through, but the transaction (the proof and the on-chain
            // commitments of the input and output) needs more gas than we may spend: proving it
            // again would burn the same CPU for the same refusal. Left to re-proposal.
            Err(ChainError::GasCap { gas, cap, .. }) => {
                self.unprovable.lock().unwrap_or_else(|p| p.into_inner()).insert(w.id);
                tracing::warn!(
                    request = w.id,
                    gas,
                    cap,
                    "not proving the reopened request's output: proveOutput needs more gas than the gas cap; \
                     it is open for any operator to propose again"
                );
                return Ok(());
            }
            sent => sent?,
        }
        inc(&self.metrics.proven);
        tracing::info!(request = w.id, "the correct output is proven on-chain");
        Ok(())
    }

    /// Runs passes until `shutdown`, backing off on failures; jobs still in flight then get a
    /// few seconds to finish.
    pub async fn run(self: Arc<Self>, shutdown: tokio::sync::watch::Receiver<bool>) {
        let on_failure = |e: &ChainError, failures: u32| {
            inc(&self.metrics.rpc_errors);
            tracing::warn!(failures, retryable = e.is_retryable(), "watch pass failed: {e}");
        };
        run_passes(&self.heads, self.config.poll_interval, &self.jobs, shutdown, || self.tick(), on_failure).await;
    }
}

fn render(metrics: &WatchMetrics, store: &dyn WatchStore, leader: &Leader) -> String {
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let mut out = String::new();
    for (name, help, v) in [
        ("verdict_watch_proposals_checked_total", "Proposals re-executed.", get(&metrics.checked)),
        ("verdict_watch_mismatches_total", "Proposals that differ from our re-execution.", get(&metrics.mismatches)),
        ("verdict_watch_challenges_total", "Challenges mined.", get(&metrics.challenges)),
        ("verdict_watch_outputs_proven_total", "Correct outputs proven after a win.", get(&metrics.proven)),
        ("verdict_watch_rpc_errors_total", "Failed passes.", get(&metrics.rpc_errors)),
    ] {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"));
    }
    out.push_str(
        "# HELP verdict_watch_disputes_total Our disputes, by outcome.\n# TYPE verdict_watch_disputes_total counter\n",
    );
    out.push_str(&format!("verdict_watch_disputes_total{{outcome=\"won\"}} {}\n", get(&metrics.won)));
    out.push_str(&format!("verdict_watch_disputes_total{{outcome=\"lost\"}} {}\n", get(&metrics.lost)));
    out.push_str(
        "# HELP verdict_watch_proposals Watched proposals, by status.\n# TYPE verdict_watch_proposals gauge\n",
    );
    for (status, n) in store.watched_counts().unwrap_or_default() {
        out.push_str(&format!("verdict_watch_proposals{{status=\"{status}\"}} {n}\n"));
    }
    leader.render_metrics(&mut out, "verdict_watch");
    out
}

/// The `--blind-challenge` models, each checked to be registered with private weights (a public
/// model is re-executed, never challenged blind).
async fn blind_models(provider: &DynProvider, registry: Address, args: &WatchArgs) -> crate::Result<HashSet<u64>> {
    if args.models.is_empty() && args.blind_challenge.is_empty() {
        return Err(Error::usage("nothing to watch: name models with --model ID[=PATH] (or --blind-challenge ID)"));
    }
    let registry = verdict_contracts::ModelRegistry::new(registry, provider.clone());
    let mut blind = HashSet::new();
    for &id in &args.blind_challenge {
        let m = registry
            .model(U256::from(id))
            .call()
            .await
            .map_err(|e| ChainError::Rpc(format!("cannot read model {id}: {e}")))?;
        if !m.isPrivate {
            return Err(Error::usage(format!(
                "--blind-challenge {id}: model {id} has public weights; watch it with --model {id} (blind challenges \
                 are for private models)"
            )));
        }
        if args.models.iter().any(|m| m.id == id) {
            return Err(Error::usage(format!("model {id} is named by both --model and --blind-challenge")));
        }
        blind.insert(id);
    }
    Ok(blind)
}

/// Runs the watchtower until Ctrl-C or SIGTERM.
pub async fn watch(args: WatchArgs) -> crate::Result<()> {
    watch_until(args, shutdown_signal()).await
}

/// Runs the watchtower until `shutdown` resolves.
pub async fn watch_until(args: WatchArgs, shutdown: impl std::future::Future<Output = ()>) -> crate::Result<()> {
    let verdict_runtime::Connection { provider, me, deployment, nonces } =
        connect(&args.chain.rpc_url, args.key_file.as_ref(), "VERDICT_WATCHER_KEY", "watcher", &args.chain.deployment)
            .await?;
    let models = Arc::new(load_models(&provider, deployment.registry, &args.models, &[]).await?);
    let blind = blind_models(&provider, deployment.registry, &args).await?;
    let store: Arc<dyn WatchStore> = Arc::new(SqlWatchStore::open(&args.db)?);
    let mut prover = Defender::new(provider.clone(), deployment.dispute_game, me, args.prover.config());
    if args.proof_workers {
        prover = prover.with_queue(ProofQueue::new(store.db().clone()));
    }
    // Never challenge under a registration that could take an honest challenger's bond.
    check_public_registrations(&provider, &deployment, &models, &prover).await?;
    for &id in &blind {
        check_registration(&provider, &deployment, id, true, None).await?;
    }
    let metrics = Arc::new(WatchMetrics::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // Instances sharing the database act one at a time: the lease's holder.
    let (listener, local, leader) =
        Leader::listen_and_start("watchtower", store.db(), me, &args.chain, args.listen, &nonces, &stopped).await?;
    let mut config =
        args.chain.config(args.gas_cap, nonces, Some(Receipts::spawn(provider.clone(), Duration::from_millis(250))));
    config.leader = Some(leader.clone());
    let watcher = Watcher {
        oracle: InferenceOracle::new(deployment.oracle, provider.clone()),
        game: DisputeGame::new(deployment.dispute_game, provider.clone()),
        provider: provider.clone(),
        me,
        store: store.clone(),
        models,
        blind,
        blind_private_inputs: args.blind_challenge_private_inputs,
        trusted: args.trust.iter().copied().collect(),
        metrics: metrics.clone(),
        config,
        margin: args.min_margin,
        prover,
        heads: args.chain.heads(),
        jobs: Jobs::new(),
        unprovable: std::sync::Mutex::new(HashSet::new()),
    };
    type Shared = (Arc<WatchMetrics>, Arc<dyn WatchStore>, DynProvider, Leader);
    let state: Shared = (metrics, store, provider, leader.clone());
    let app = Router::new()
        .route(
            "/healthz",
            get(|State((_, store, provider, leader)): State<Shared>| async move {
                let chain = provider.get_block_number().await.is_ok();
                let db = store.probe().is_ok();
                let code = if chain && db { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
                (code, Json(json!({ "ok": chain && db, "chain": chain, "store": db, "lease": leader.health() })))
            }),
        )
        .route(
            "/metrics",
            get(|State((metrics, store, _, leader)): State<Shared>| async move {
                render(&metrics, store.as_ref(), &leader)
            }),
        )
        .with_state(state);
    tracing::info!(watcher = %me, listen = %local, instance = leader.holder(), "watching");
    let task = tokio::spawn(Arc::new(watcher).run(stopped.clone()));
    let mut on_stop = stopped;
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = on_stop.changed().await;
    });
    let server = tokio::spawn(async move { server.await });
    shutdown.await;
    let _ = stop.send(true);
    let _ = task.await;
    match server.await {
        Ok(served) => served.map_err(|source| Error::Io { what: "the metrics server failed".into(), source })?,
        Err(e) => tracing::error!("the metrics task panicked: {e}"),
    }
    Ok(())
}
