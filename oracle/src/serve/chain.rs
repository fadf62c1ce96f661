//! The chain loop: follow `RequestCreated` events of the served models (polling, resuming from
//! the last processed block after a restart), compute each request with the reference engine,
//! propose it with a bond, and settle it when its window ends.
//!
//! The chain is the arbiter: before acting on a request the loop reads its on-chain status, so a
//! restart at any point (even between sending a transaction and recording it) never proposes or
//! settles twice, and every transaction is dry-run first.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use alloy::{
    contract::{CallBuilder, CallDecoder},
    primitives::{Address, Bytes, FixedBytes, U256},
    providers::{DynProvider, Provider},
};
use verdict_contracts::inference_oracle::InferenceOracle::{self, InferenceOracleErrors, InferenceOracleInstance};
use verdict_runtime::{
    batch::{BatchLog, Batcher, SendBatch},
    models::{encode_output, Models},
    prover::{Defender, Move},
    responder::{block_time, send_tx, ChainConfig},
    rpc,
    scheduler::{run_passes, Jobs, Outcome},
    Error as ChainError, NewHeads, RequestStatus as OnChain, Revert,
};

use super::{
    decide::{decide, Action, Facts},
    metrics::Metrics,
    submit::Submitter,
};
use crate::store::{Incoming, IncomingInput, RequestRecord, RequestStatus, Store};

/// The operator side of the chain: proposes and settles for the served models.
pub struct Operator {
    provider: DynProvider,
    oracle: InferenceOracleInstance<DynProvider>,
    me: Address,
    store: Arc<dyn Store>,
    models: Arc<Models>,
    metrics: Arc<Metrics>,
    config: ChainConfig,
    defender: Option<Defender>,
    /// Lie on every proposal (tests and demos).
    dishonest: bool,
    /// Wakes the loop on new blocks (a subscription, when the node offers one).
    heads: NewHeads,
    /// One job in flight per request.
    jobs: Jobs,
    /// The API's requests, resumed on every pass.
    submitter: Option<Arc<Submitter>>,
    /// When each request's job last started (a proposal in its window is looked at again only
    /// now and then, or at once when the scan sees it challenged).
    visited: std::sync::Mutex<HashMap<u64, tokio::time::Instant>>,
    /// Requests of ours the scan saw challenged since their last job.
    challenged: std::sync::Mutex<HashSet<u64>>,
    /// Proposals made at about the same time share a transaction (`proposeMany`).
    proposals: Batcher<(Bytes, FixedBytes<32>)>,
}

/// How often a proposal of ours inside its window is read from the chain when no event says it
/// changed.
const REVISIT: Duration = Duration::from_secs(5);

/// The scheduler's key for the credit claim (request ids are below it).
const CLAIM_JOB: u64 = u64::MAX;

impl Operator {
    /// An operator sending from `me` (the provider's wallet must sign for it).
    pub fn new(
        provider: DynProvider,
        oracle: Address,
        me: Address,
        store: Arc<dyn Store>,
        models: Arc<Models>,
        metrics: Arc<Metrics>,
        config: ChainConfig,
    ) -> Self {
        let oracle = InferenceOracle::new(oracle, provider.clone());
        let proposals = Batcher::new(
            verdict_runtime::batch::DEFAULT_MAX,
            propose_many(oracle.clone(), me, store.clone(), config.clone()),
        );
        Self {
            provider,
            oracle,
            me,
            store,
            models,
            metrics,
            config,
            defender: None,
            dishonest: false,
            heads: Default::default(),
            jobs: Jobs::new(),
            submitter: None,
            visited: Default::default(),
            challenged: Default::default(),
            proposals,
        }
    }

    /// Proposals (and the API's requests, see [`Submitter::with_batch_max`]) share transactions
    /// of at most `max` (1: one transaction each).
    pub fn with_batch_max(mut self, max: usize) -> Self {
        self.proposals =
            Batcher::new(max, propose_many(self.oracle.clone(), self.me, self.store.clone(), self.config.clone()));
        self
    }

    /// Runs a pass on every new block `heads` announces, besides the polls.
    pub fn with_heads(mut self, heads: NewHeads) -> Self {
        self.heads = heads;
        self
    }

    /// Resumes the API's open requests on every pass.
    pub fn with_submitter(mut self, submitter: Arc<Submitter>) -> Self {
        self.submitter = Some(submitter);
        self
    }

    /// Lies on every proposal (see `ServeArgs::dishonest`): tests and demos only.
    pub fn dishonest(mut self, dishonest: bool) -> Self {
        self.dishonest = dishonest;
        self
    }

    /// Defends challenged proposals with `defender` (without one, a challenge is only logged).
    pub fn with_defender(mut self, defender: Defender) -> Self {
        self.defender = Some(defender);
        self
    }

    /// Runs passes until `shutdown` resolves. Errors are logged and counted; the next pass
    /// retries with a growing pause (capped at 30 s). Jobs still in flight at shutdown get a few
    /// seconds to finish.
    pub async fn run(self: Arc<Self>, shutdown: tokio::sync::watch::Receiver<bool>) {
        let on_failure = |e: &ChainError, failures: u32| {
            if e.is_retryable() {
                Metrics::inc(&self.metrics.rpc_errors);
            }
            tracing::warn!(failures, retryable = e.is_retryable(), "chain pass failed: {e}");
        };
        run_passes(&self.heads, self.config.poll_interval, &self.jobs, shutdown, || self.tick(), on_failure).await;
    }

    /// One pass: collect the jobs that finished, process new events, start a job for every open
    /// request that has none in flight, and one to claim credits. A pass never waits on a job:
    /// each request's transaction (and receipt) is its own job's, so a stuck one holds up no
    /// other request.
    pub async fn tick(self: &Arc<Self>) -> Result<(), ChainError> {
        // Another instance holds the lease: it acts, this one stands by.
        if self.config.leader.as_ref().is_some_and(|l| !l.is_held()) {
            return Ok(());
        }
        let mut bond_short = 0usize;
        for (id, outcome) in self.jobs.collect().await {
            match outcome {
                Outcome::Done => {}
                // All our bond is locked in proposals in their windows: this one waits for one to
                // settle (said once a pass, not once a request).
                Outcome::Failed(ChainError::Reverted { revert, .. })
                    if matches!(*revert, Revert::Oracle(InferenceOracleErrors::InferenceOracleInsufficientBond(_))) =>
                {
                    bond_short += 1;
                }
                Outcome::Failed(e) => {
                    if matches!(e, ChainError::Reverted { .. } | ChainError::GasCap { .. }) {
                        Metrics::inc(&self.metrics.reverts);
                    }
                    tracing::warn!(request = id, retryable = e.is_retryable(), "{e}");
                }
                Outcome::Panicked(e) => tracing::error!(request = id, "job panicked: {e}"),
            }
        }
        self.metrics.waiting_for_bond.store(bond_short as u64, std::sync::atomic::Ordering::Relaxed);
        if bond_short > 0 {
            tracing::warn!(requests = bond_short, "proposals wait for free bond (deposit more to serve them at once)");
        }
        if let Some(submitter) = &self.submitter {
            submitter.resume().await?;
        }
        self.scan().await?;
        let now = self.block_time().await?;
        let requests = self.store.open_requests()?;
        {
            let mut visited = self.visited.lock().unwrap_or_else(|p| p.into_inner());
            let mut challenged = self.challenged.lock().unwrap_or_else(|p| p.into_inner());
            let open: HashSet<u64> = requests.iter().map(|r| r.id).collect();
            for request in requests {
                // Nothing can happen to a proposal of ours inside its window but a challenge,
                // which the scan reports: it is read again only every `REVISIT`, or at once when
                // challenged.
                let quiet = request.status == RequestStatus::Proposed
                    && request.deadline.is_some_and(|d| d > now)
                    && !challenged.contains(&request.id)
                    && visited.get(&request.id).is_some_and(|t| t.elapsed() < REVISIT);
                if quiet || self.jobs.is_running(request.id) {
                    continue;
                }
                challenged.remove(&request.id);
                visited.insert(request.id, tokio::time::Instant::now());
                let me = Arc::clone(self);
                self.jobs.start(request.id, async move {
                    match me.store.request(request.id)? {
                        Some(record) => me.advance(&record, now).await,
                        None => Ok(()),
                    }
                });
            }
            visited.retain(|id, _| open.contains(id));
            // A challenge of a request we hold no open record of is not ours to act on.
            challenged.retain(|id| open.contains(id));
        }
        let me = Arc::clone(self);
        self.jobs.start(CLAIM_JOB, async move { me.claim().await });
        Ok(())
    }

    /// Claims the operator's credits (fees earned, bonds won) when there are any.
    async fn claim(&self) -> Result<(), ChainError> {
        let account = self.oracle.accountOf(self.me).call().await.map_err(rpc)?;
        let credit: u128 = account.credit.to();
        if credit == 0 {
            return Ok(());
        }
        self.send(0, "claim", self.oracle.claim().from(self.me)).await?;
        Metrics::inc(&self.metrics.claims);
        tracing::info!(wei = credit, "claimed credits");
        Ok(())
    }

    async fn scan(&self) -> Result<(), ChainError> {
        let head = self.provider.get_block_number().await.map_err(rpc)?;
        let safe = head.saturating_sub(self.config.confirmations);
        let mut from = match self.store.last_block()? {
            Some(b) => b + 1,
            None => self.config.start_block,
        };
        while from <= safe {
            let to = safe.min(from + self.config.max_log_range - 1);
            let events =
                self.oracle.RequestCreated_filter().from_block(from).to_block(to).query().await.map_err(rpc)?;
            let mut incoming = Vec::new();
            for (event, log) in events {
                let model_id: u64 = event.modelId.try_into().unwrap_or(u64::MAX);
                let id: u64 = event.requestId.try_into().unwrap_or(u64::MAX);
                if !self.models.contains_key(&model_id) {
                    continue;
                }
                // A private input: only its commitment z_0 is on chain; the requester delivers the
                // input over the API (`POST /v1/requests/{id}/input`), checked to open z_0.
                let input = if event.input.is_empty() {
                    IncomingInput::Private(event.inputCommitment.to_string())
                } else {
                    IncomingInput::Public(event.input.iter().map(|b| *b as i8).collect())
                };
                let block = log.block_number.unwrap_or(to);
                incoming.push(Incoming { id, model_id, input, requester: event.requester.to_string(), block });
            }
            // One write for the range's requests.
            let new = self.store.insert_requests(&incoming)?;
            for (r, new) in incoming.iter().zip(new) {
                if new {
                    tracing::info!(
                        request = r.id,
                        model = r.model_id,
                        block = r.block,
                        private_input = matches!(r.input, IncomingInput::Private(_)),
                        "request received"
                    );
                }
            }
            let challenges =
                self.oracle.Challenged_filter().from_block(from).to_block(to).query().await.map_err(rpc)?;
            let mut challenged = self.challenged.lock().unwrap_or_else(|p| p.into_inner());
            for (event, _) in challenges {
                challenged.insert(event.requestId.try_into().unwrap_or(u64::MAX));
            }
            drop(challenged);
            // Recorded after the requests: a crash in between re-reads the range, and inserting
            // a known request is a no-op.
            self.store.set_last_block(to)?;
            self.metrics.last_block.store(to, std::sync::atomic::Ordering::Relaxed);
            from = to + 1;
        }
        let last = self.store.last_block()?.unwrap_or(0);
        self.metrics.lag_blocks.store(head.saturating_sub(last), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Moves one request forward by what its on-chain status allows ([`decide`]), at block time
    /// `now` (read once a pass).
    async fn advance(&self, r: &RequestRecord, now: u64) -> Result<(), ChainError> {
        let id = U256::from(r.id);
        let onchain = self.oracle.requestOf(id).call().await.map_err(rpc)?;
        let status = OnChain::read(r.id, onchain.status)?;
        let proposal = if matches!(status, OnChain::Proposed | OnChain::Confirmed) {
            let p = self.oracle.proposalOf(id).call().await.map_err(rpc)?;
            Some((p.proposer, p.deadline))
        } else {
            None
        };
        // A private input not delivered yet is awaited until the request's timeout.
        let awaiting_input = r.awaiting_input().then(|| onchain.createdAt.saturating_add(onchain.timeout));
        let d = decide(&Facts { status, proposal, now, awaiting_input }, r.status, self.me);
        if let Some(next) = d.status {
            self.store.set_status(r.id, next, d.deadline, d.error)?;
            match next {
                RequestStatus::Taken => {
                    tracing::info!(request = r.id, proposer = ?proposal.map(|p| p.0), "another operator answered")
                }
                RequestStatus::Failed => {
                    tracing::error!(request = r.id, "our proposal lost its dispute; not proposing again")
                }
                RequestStatus::Expired => {
                    tracing::warn!(request = r.id, "the private input never arrived before the request's timeout")
                }
                _ => {}
            }
        }
        for action in d.actions {
            match action {
                Action::Propose => self.propose(r).await?,
                Action::Settle => self.settle(r).await?,
                Action::Defend => self.defend(r).await?,
                Action::CountChallenged => {
                    Metrics::inc(&self.metrics.disputes_challenged);
                    tracing::warn!(request = r.id, "our proposal was challenged; defending");
                }
                Action::CountWon => {
                    Metrics::inc(&self.metrics.disputes_won);
                    tracing::info!(request = r.id, "our proposal won its dispute");
                }
                Action::CountLost => Metrics::inc(&self.metrics.disputes_lost),
            }
        }
        Ok(())
    }

    /// Plays our next move in the dispute of `r`, if it is ours to play.
    async fn defend(&self, r: &RequestRecord) -> Result<(), ChainError> {
        let Some(defender) = &self.defender else {
            return Ok(());
        };
        let Some((output, _)) = self.computed(r, RequestStatus::Computed)? else {
            return Ok(());
        };
        let stored = self.store.request(r.id)?.unwrap_or_else(|| r.clone());
        let (Some(trace), Some(steps), Some(served)) = (&stored.trace, &stored.steps, self.models.get(&r.model_id))
        else {
            return Ok(());
        };
        let steps: Vec<verdict_circuits::Commitment> = steps
            .iter()
            .map(|z| z.parse())
            .collect::<Result<_, _>>()
            .map_err(|e| ChainError::Corrupt(format!("stored step commitment of request {}: {e}", r.id)))?;
        let id = U256::from(r.id);
        let game = defender.game();
        let next = defender.next(r.id, served, trace, &steps, salt_of(r)?).await.map_err(ChainError::Rpc)?;
        match next {
            None => Ok(()),
            Some(Move::Open(o)) => {
                // INVARIANT: a private input never goes on chain (the game reads its z_0 from the
                // request).
                let input = if r.input_commitment.is_some() {
                    Bytes::new()
                } else {
                    Bytes::from(r.input.iter().map(|v| *v as u8).collect::<Vec<u8>>())
                };
                self.send(r.id, "open_dispute", game.openDispute(id, input, Bytes::from(output), o).from(self.me)).await
            }
            Some(Move::Bisect(z, proof)) => {
                self.send(r.id, "proposer_bisect", game.proposerBisect(id, z, proof).from(self.me)).await
            }
            Some(Move::Prove(steps, proof)) => {
                self.send(r.id, "prove_segment", game.proveSegment(id, steps, Bytes::from(proof)).from(self.me)).await
            }
            Some(Move::Timeout) => {
                tracing::warn!(request = r.id, "the challenger ran out of clock; dismissing its challenge");
                self.send(r.id, "timeout", game.timeout(id).from(self.me)).await
            }
        }
    }

    async fn block_time(&self) -> Result<u64, ChainError> {
        block_time(&self.provider).await
    }

    /// The stored trace, computing and storing it first when needed (with status `then`).
    fn computed(
        &self,
        r: &RequestRecord,
        then: RequestStatus,
    ) -> Result<Option<(Vec<u8>, FixedBytes<32>)>, ChainError> {
        let Some(served) = self.models.get(&r.model_id) else {
            return Ok(None);
        };
        if let (Some(trace), Some(root)) = (&r.trace, &r.trace_root) {
            let output = encode_output(trace.last().map_or(&[][..], Vec::as_slice));
            let root: FixedBytes<32> =
                root.parse().map_err(|_| ChainError::Corrupt(format!("trace root {root} of request {}", r.id)))?;
            return Ok(Some((output, root)));
        }
        let salt = salt_of(r)?;
        let computed = if self.dishonest { served.compute_lie(&r.input, salt) } else { served.compute(&r.input, salt) };
        let computed = computed.and_then(|c| match &r.input_commitment {
            // Checked when it was delivered; checked again before anything is posted.
            Some(z0) if c.steps.first().map(ToString::to_string).as_deref() != Some(z0.as_str()) => {
                Err(verdict_circuits::Error::Input("the delivered input does not open the request's z_0".into()))
            }
            _ => Ok(c),
        });
        match computed {
            Ok(c) => {
                let steps: Vec<String> = c.steps.iter().map(ToString::to_string).collect();
                let root = FixedBytes::from(c.root);
                self.store.set_trace(r.id, &c.trace, &steps, &root.to_string(), then)?;
                Ok(Some((c.output, root)))
            }
            Err(e) => {
                self.store.set_status(r.id, RequestStatus::Failed, None, Some(&e.to_string()))?;
                tracing::warn!(request = r.id, "cannot serve: {e}");
                Ok(None)
            }
        }
    }

    async fn propose(&self, r: &RequestRecord) -> Result<(), ChainError> {
        if r.awaiting_input() {
            return Ok(()); // not delivered yet (a race with the delivery; the next pass has it)
        }
        let Some((output, root)) = self.computed(r, RequestStatus::Proposing)? else {
            return Ok(());
        };
        if r.trace.is_some() {
            // Computed before (a restart): the trace was not written just now with the status.
            self.store.set_status(r.id, RequestStatus::Proposing, None, None)?;
        }
        let included = self.proposals.submit(r.id, (Bytes::from(output), root)).await?;
        Metrics::inc(&self.metrics.proposals);
        let deadline = included
            .receipt
            .inner
            .logs()
            .iter()
            .filter_map(|l| l.log_decode::<InferenceOracle::Proposed>().ok())
            .find(|e| e.inner.requestId == U256::from(r.id))
            .map(|e| e.inner.deadline)
            .ok_or_else(|| ChainError::Unexpected(format!("no Proposed event of request {} in its receipt", r.id)))?;
        self.store.set_status(r.id, RequestStatus::Proposed, Some(deadline), None)?;
        tracing::info!(request = r.id, deadline, batch = included.size, "proposed");
        Ok(())
    }

    async fn settle(&self, r: &RequestRecord) -> Result<(), ChainError> {
        let Some((output, _)) = self.computed(r, RequestStatus::Computed)? else {
            return Ok(());
        };
        self.store.set_status(r.id, RequestStatus::Settling, None, None)?;
        let call = self.oracle.settle(U256::from(r.id), Bytes::from(output)).from(self.me);
        self.send(r.id, "settle", call).await?;
        Metrics::inc(&self.metrics.settlements);
        self.store.set_status(r.id, RequestStatus::Finalized, None, None)?;
        tracing::info!(request = r.id, "settled");
        Ok(())
    }

    /// Dry-runs, estimates (against the cap), sends, records and awaits one transaction.
    async fn send<D: CallDecoder + Send + Sync + Clone>(
        &self,
        request: u64,
        kind: &'static str,
        call: CallBuilder<&DynProvider, D>,
    ) -> Result<(), ChainError> {
        send_tx(self.store.as_tx_log(), &self.config, request, kind, call).await.map(drop)
    }
}

/// Sends a batch of proposals: `propose` for one, `proposeMany` for several, recorded under each
/// request.
fn propose_many(
    oracle: InferenceOracleInstance<DynProvider>,
    me: Address,
    store: Arc<dyn Store>,
    config: ChainConfig,
) -> SendBatch<(Bytes, FixedBytes<32>)> {
    Arc::new(move |items: Vec<(u64, (Bytes, FixedBytes<32>))>| {
        let (oracle, store, config) = (oracle.clone(), store.clone(), config.clone());
        Box::pin(async move {
            let ids: Vec<u64> = items.iter().map(|(id, _)| *id).collect();
            if let [(id, (output, root))] = &items[..] {
                let call = oracle.propose(U256::from(*id), output.clone(), *root).from(me);
                return send_tx(store.as_tx_log(), &config, *id, "propose", call).await;
            }
            let (outputs, roots): (Vec<Bytes>, Vec<FixedBytes<32>>) = items.into_iter().map(|(_, p)| p).unzip();
            let call = oracle.proposeMany(ids.iter().map(|id| U256::from(*id)).collect(), outputs, roots).from(me);
            let log = BatchLog { log: store.as_tx_log(), requests: &ids };
            send_tx(&log, &config, ids[0], "propose", call).await
        })
    })
}

/// A request's salt: a delivered private input's, zero for a public input.
fn salt_of(r: &RequestRecord) -> Result<verdict_circuits::Fr, ChainError> {
    match &r.salt {
        None => Ok(verdict_circuits::Fr::from(0u64)),
        Some(s) => verdict_circuits::parse_salt(s)
            .ok_or_else(|| ChainError::Corrupt(format!("stored salt of request {} is not a field element", r.id))),
    }
}
