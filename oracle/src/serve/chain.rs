//! The chain loop: follow `RequestCreated` events of the served models (polling, resuming from
//! the last processed block after a restart), compute each request with the reference engine,
//! propose it with a bond, and settle it when its window ends.
//!
//! The chain is the arbiter: before acting on a request the loop reads its on-chain status, so a
//! restart at any point (even between sending a transaction and recording it) never proposes or
//! settles twice, and every transaction is dry-run first.

use std::{sync::Arc, time::Duration};

use alloy::{
    contract::{CallBuilder, CallDecoder},
    primitives::{Address, Bytes, FixedBytes, U256},
    providers::{DynProvider, Provider},
};
use verdict_contracts::{
    dispute_game::DisputeGame::DisputeGameErrors,
    inference_oracle::InferenceOracle::{self, InferenceOracleErrors, InferenceOracleInstance},
};

use super::{
    defense::{Defender, Move},
    metrics::Metrics,
    models::{encode_output, Models},
    nonces::{self, Nonces},
};
use crate::store::{RequestRecord, RequestStatus, Store};

/// On-chain request statuses (`InferenceOracle.Status`).
pub(crate) mod status {
    pub(crate) const REQUESTED: u8 = 1;
    pub(crate) const PROPOSED: u8 = 2;
    pub(crate) const CHALLENGED: u8 = 3;
    pub(crate) const CONFIRMED: u8 = 4;
    pub(crate) const FINALIZED: u8 = 5;
    pub(crate) const CANCELLED: u8 = 6;
}

/// The latest block's timestamp (what the contracts compare deadlines with).
pub(crate) async fn block_time(provider: &DynProvider) -> Result<u64, ChainError> {
    let block = provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .map_err(rpc)?
        .ok_or_else(|| ChainError::Rpc("no latest block".into()))?;
    Ok(block.header.timestamp)
}

/// What can stop one pass of the loop (the next pass retries).
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// An RPC call failed (transient, retried).
    #[error("rpc: {0}")]
    Rpc(String),
    /// A transaction's dry run or execution reverted.
    #[error("{kind} of request {request} reverted: {reason}")]
    Reverted {
        /// `propose`, `settle`, …
        kind: &'static str,
        /// The request.
        request: u64,
        /// The decoded custom error.
        reason: String,
    },
    /// The gas estimate is above the configured cap.
    #[error("{kind} of request {request} needs {gas} gas, above the cap of {cap}")]
    GasCap {
        /// `propose`, `settle`, …
        kind: &'static str,
        /// The request.
        request: u64,
        /// The estimate.
        gas: u64,
        /// The cap.
        cap: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Tunables of the chain loop.
#[derive(Clone, Debug)]
pub struct ChainConfig {
    /// Time between passes.
    pub poll_interval: Duration,
    /// Blocks an event must be deep before it is processed.
    pub confirmations: u64,
    /// Where to start on a fresh store.
    pub start_block: u64,
    /// The most blocks one `eth_getLogs` spans.
    pub max_log_range: u64,
    /// The most gas one transaction may use.
    pub gas_cap: u64,
    /// How long to wait for a receipt before giving up on a pass.
    pub receipt_timeout: Duration,
    /// Blocks a transaction must be deep before it counts as mined.
    pub tx_confirmations: u64,
    /// How long a sent transaction may wait before it is replaced with higher fees.
    pub replace_after: Duration,
    /// The signing key's nonces, shared with the provider's nonce filler (see [`Nonces`]).
    pub nonces: Nonces,
}

/// The most replacements of one stuck transaction.
pub const MAX_REPLACEMENTS: usize = 5;

/// The receipt of whichever of `hashes` is mined (with the configured depth checked by the
/// caller's node view), polling until `wait` is over; `None` if none is.
async fn mined(
    provider: &DynProvider,
    hashes: &[alloy::primitives::B256],
    wait: Duration,
) -> Result<Option<alloy::rpc::types::TransactionReceipt>, ChainError> {
    let until = tokio::time::Instant::now() + wait;
    loop {
        for hash in hashes {
            if let Some(receipt) = provider.get_transaction_receipt(*hash).await.map_err(rpc)? {
                return Ok(Some(receipt));
            }
        }
        if tokio::time::Instant::now() >= until {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

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
    heads: super::heads::NewHeads,
}

pub(crate) fn rpc(e: impl std::fmt::Display) -> ChainError {
    ChainError::Rpc(e.to_string())
}

/// A contract error, decoded into the oracle's or the dispute game's custom errors when it is
/// one of them.
pub fn describe_revert(e: &alloy::contract::Error) -> String {
    if let Some(decoded) = e.as_decoded_interface_error::<InferenceOracleErrors>() {
        return format!("{decoded:?}");
    }
    if let Some(decoded) = e.as_decoded_interface_error::<DisputeGameErrors>() {
        return format!("{decoded:?}");
    }
    e.to_string()
}

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
        }
    }

    /// Runs a pass on every new block `heads` announces, besides the polls.
    pub fn with_heads(mut self, heads: super::heads::NewHeads) -> Self {
        self.heads = heads;
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
    /// retries with a growing pause (capped at 30 s).
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut failures = 0u32;
        loop {
            match self.tick().await {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    if matches!(e, ChainError::Rpc(_)) {
                        Metrics::inc(&self.metrics.rpc_errors);
                    }
                    tracing::warn!(failures, "chain pass failed: {e}");
                }
            }
            if !self.heads.pause(self.config.poll_interval, failures, &mut shutdown).await {
                return;
            }
        }
    }

    /// One pass: process new events, advance every open request, claim credits.
    pub async fn tick(&self) -> Result<(), ChainError> {
        self.scan().await?;
        for request in self.store.open_requests()? {
            if let Err(e) = self.advance(&request).await {
                if matches!(e, ChainError::Reverted { .. }) {
                    Metrics::inc(&self.metrics.reverts);
                }
                tracing::warn!(request = request.id, "{e}");
            }
        }
        self.claim().await
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
            for (event, log) in events {
                let model_id: u64 = event.modelId.try_into().unwrap_or(u64::MAX);
                let id: u64 = event.requestId.try_into().unwrap_or(u64::MAX);
                if !self.models.contains_key(&model_id) {
                    continue;
                }
                let input: Vec<i8> = event.input.iter().map(|b| *b as i8).collect();
                let block = log.block_number.unwrap_or(to);
                if self.store.insert_request(id, model_id, &input, &event.requester.to_string(), block)? {
                    tracing::info!(request = id, model = model_id, block, "request received");
                }
            }
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

    /// Moves one request forward by what its on-chain status allows.
    async fn advance(&self, r: &RequestRecord) -> Result<(), ChainError> {
        let id = U256::from(r.id);
        let onchain = self.oracle.requestOf(id).call().await.map_err(rpc)?;
        match onchain.status {
            status::REQUESTED if r.status == RequestStatus::Challenged => {
                // Reopened: our proposal lost its dispute. Proposing the same answer again would
                // lose again; an operator looks at it first.
                Metrics::inc(&self.metrics.disputes_lost);
                self.store.set_status(r.id, RequestStatus::Failed, None, Some("our proposal lost its dispute"))?;
                tracing::error!(request = r.id, "our proposal lost its dispute; not proposing again");
                Ok(())
            }
            status::REQUESTED => self.propose(r).await,
            status::PROPOSED | status::CONFIRMED => {
                let p = self.oracle.proposalOf(id).call().await.map_err(rpc)?;
                if p.proposer != self.me {
                    self.store.set_status(r.id, RequestStatus::Taken, None, None)?;
                    tracing::info!(request = r.id, proposer = %p.proposer, "another operator answered");
                    return Ok(());
                }
                let deadline: u64 = p.deadline;
                if r.status == RequestStatus::Challenged && onchain.status == status::CONFIRMED {
                    Metrics::inc(&self.metrics.disputes_won);
                    tracing::info!(request = r.id, "our proposal won its dispute");
                }
                let now = self.block_time().await?;
                if onchain.status == status::CONFIRMED || now >= deadline {
                    self.settle(r).await
                } else {
                    if r.status != RequestStatus::Proposed {
                        self.store.set_status(r.id, RequestStatus::Proposed, Some(deadline), None)?;
                    }
                    Ok(())
                }
            }
            status::CHALLENGED => {
                if r.status != RequestStatus::Challenged {
                    self.store.set_status(r.id, RequestStatus::Challenged, None, None)?;
                    Metrics::inc(&self.metrics.disputes_challenged);
                    tracing::warn!(request = r.id, "our proposal was challenged; defending");
                }
                self.defend(r).await
            }
            status::FINALIZED => Ok(self.store.set_status(r.id, RequestStatus::Finalized, None, None)?),
            status::CANCELLED => Ok(self.store.set_status(r.id, RequestStatus::Cancelled, None, None)?),
            other => Err(ChainError::Rpc(format!("request {} has unknown on-chain status {other}", r.id))),
        }
    }

    /// Plays our next move in the dispute of `r`, if it is ours to play.
    async fn defend(&self, r: &RequestRecord) -> Result<(), ChainError> {
        let Some(defender) = &self.defender else {
            return Ok(());
        };
        let Some((output, _)) = self.computed(r)? else {
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
            .map_err(|e| ChainError::Rpc(format!("corrupt stored step commitment: {e}")))?;
        let id = U256::from(r.id);
        let game = defender.game();
        let next = defender.next(r.id, r.model_id, &served.model, trace, &steps).await.map_err(ChainError::Rpc)?;
        match next {
            None => Ok(()),
            Some(Move::Open(o)) => {
                let input = Bytes::from(r.input.iter().map(|v| *v as u8).collect::<Vec<u8>>());
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

    /// The stored trace, computing and storing it first when needed.
    fn computed(&self, r: &RequestRecord) -> Result<Option<(Vec<u8>, FixedBytes<32>)>, ChainError> {
        let Some(served) = self.models.get(&r.model_id) else {
            return Ok(None);
        };
        if let (Some(trace), Some(root)) = (&r.trace, &r.trace_root) {
            let output = encode_output(trace.last().map_or(&[][..], Vec::as_slice));
            let root: FixedBytes<32> = root.parse().map_err(|_| ChainError::Rpc(format!("corrupt root {root}")))?;
            return Ok(Some((output, root)));
        }
        let computed = served.compute(&r.input).map(|c| if self.dishonest { c.falsified() } else { c });
        match computed {
            Ok(c) => {
                let steps: Vec<String> = c.steps.iter().map(ToString::to_string).collect();
                let root = FixedBytes::from(c.root);
                self.store.set_trace(r.id, &c.trace, &steps, &root.to_string())?;
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
        let Some((output, root)) = self.computed(r)? else {
            return Ok(());
        };
        self.store.set_status(r.id, RequestStatus::Proposing, None, None)?;
        let call = self.oracle.propose(U256::from(r.id), Bytes::from(output), root).from(self.me);
        self.send(r.id, "propose", call).await?;
        Metrics::inc(&self.metrics.proposals);
        let p = self.oracle.proposalOf(U256::from(r.id)).call().await.map_err(rpc)?;
        self.store.set_status(r.id, RequestStatus::Proposed, Some(p.deadline), None)?;
        tracing::info!(request = r.id, deadline = p.deadline, "proposed");
        Ok(())
    }

    async fn settle(&self, r: &RequestRecord) -> Result<(), ChainError> {
        let Some((output, _)) = self.computed(r)? else {
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
        send_tx(self.store.as_ref(), &self.config, request, kind, call).await
    }
}

/// Dry-runs `call` (`eth_call`), estimates its gas against the cap, sends it with EIP-1559 fees,
/// records it in the store (under `request`; 0 for none) and waits for its receipt to the
/// configured depth. A transaction not mined within `replace_after` is replaced: the same call
/// with the same nonce and fees raised to at least 125% (or the market's, when higher), up to
/// [`MAX_REPLACEMENTS`] times; whichever version is mined counts, the others are recorded as
/// replaced. A revert comes back decoded.
pub async fn send_tx<D: CallDecoder + Send + Sync + Clone>(
    store: &dyn Store,
    config: &ChainConfig,
    request: u64,
    kind: &'static str,
    call: CallBuilder<&DynProvider, D>,
) -> Result<(), ChainError> {
    if let Err(e) = call.call_raw().await {
        return Err(ChainError::Reverted { kind, request, reason: describe_revert(&e) });
    }
    let gas = call.estimate_gas().await.map_err(rpc)?;
    if gas > config.gas_cap {
        return Err(ChainError::GasCap { kind, request, gas, cap: config.gas_cap });
    }
    let provider = call.provider;
    let fees = provider.estimate_eip1559_fees().await.map_err(rpc)?;
    let (mut max_fee, mut tip) = (fees.max_fee_per_gas, fees.max_priority_fee_per_gas);
    let call = call.gas(gas + gas / 5);
    let first = call.clone().max_fee_per_gas(max_fee).max_priority_fee_per_gas(tip);
    let first = nonces::send(&config.nonces, &first).await.map_err(rpc)?;
    let first = *first.tx_hash();
    store.record_tx(&first.to_string(), request, kind)?;
    let nonce = provider
        .get_transaction_by_hash(first)
        .await
        .map_err(rpc)?
        .map(|tx| alloy::consensus::Transaction::nonce(&tx))
        .ok_or_else(|| ChainError::Rpc(format!("the node does not know the transaction {first} it just took")))?;
    let mut sent = vec![first];
    let deadline = tokio::time::Instant::now() + config.receipt_timeout;
    let receipt = loop {
        let wait = config.replace_after.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        if let Some(receipt) = mined(provider, &sent, wait).await? {
            break receipt;
        }
        if tokio::time::Instant::now() >= deadline || sent.len() > MAX_REPLACEMENTS {
            return Err(ChainError::Rpc(format!(
                "{kind} of request {request}: not mined in time ({} sent)",
                sent.len()
            )));
        }
        // Stuck: the same call, the same nonce, higher fees.
        let market = provider.estimate_eip1559_fees().await.map_err(rpc)?;
        max_fee = (max_fee + max_fee / 4).max(market.max_fee_per_gas);
        tip = (tip + tip / 4).max(market.max_priority_fee_per_gas).max(1);
        let replacement = call.clone().nonce(nonce).max_fee_per_gas(max_fee).max_priority_fee_per_gas(tip).send().await;
        match replacement {
            Ok(p) => {
                let hash = *p.tx_hash();
                tracing::warn!(request, kind, nonce, %hash, max_fee, "transaction stuck; replaced with higher fees");
                store.record_tx(&hash.to_string(), request, kind)?;
                sent.push(hash);
            }
            // The stuck one was mined meanwhile (nonce used) or the node refused the bump: wait on.
            Err(e) => tracing::warn!(request, kind, nonce, "replacement not sent: {e}"),
        }
    };
    // The configured depth before it counts.
    if let Some(block) = receipt.block_number {
        let depth = config.tx_confirmations.max(1);
        while provider.get_block_number().await.map_err(rpc)? + 1 < block + depth {
            if tokio::time::Instant::now() >= deadline {
                return Err(ChainError::Rpc(format!("{kind} of request {request}: not {depth} blocks deep in time")));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let hash = receipt.transaction_hash;
    for other in sent.iter().filter(|h| **h != hash) {
        store.finish_tx(&other.to_string(), "replaced", None)?;
    }
    let hash = hash.to_string();
    if receipt.status() {
        store.finish_tx(&hash, "mined", None)?;
        Ok(())
    } else {
        store.finish_tx(&hash, "reverted", Some("reverted on-chain"))?;
        Err(ChainError::Reverted { kind, request, reason: format!("transaction {hash} reverted") })
    }
}
