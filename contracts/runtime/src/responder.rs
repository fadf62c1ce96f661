//! The responder: the one place a transaction is sent. Every send is dry-run first (`eth_call`,
//! a revert comes back decoded as a typed [`Revert`]), estimated against the gas cap, sent with
//! EIP-1559 fees and a nonce from the process's [`Nonces`], recorded in the [`TxLog`] before it
//! is awaited, replaced with higher fees when it sits unmined, and counted once it is deep
//! enough. Each send waits only for its own transaction: the agents run one job per request or
//! dispute, so a stuck transaction holds up its own job and nothing else.

use std::time::Duration;

use alloy::{
    contract::{CallBuilder, CallDecoder},
    providers::{DynProvider, Provider},
    rpc::types::TransactionReceipt,
};

use crate::{
    db::TxLog,
    error::{rpc, Error, Result, Revert},
    nonces::{self, Nonces},
    receipts::Receipts,
};

/// The latest block's timestamp (what the contracts compare deadlines with).
pub async fn block_time(provider: &DynProvider) -> Result<u64> {
    let block = provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .map_err(rpc)?
        .ok_or_else(|| Error::Unexpected("no latest block".into()))?;
    Ok(block.header.timestamp)
}

/// Tunables of the chain loops and the responder.
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
    /// The background receipt tracker (without one, each send polls for its own receipt).
    pub receipts: Option<Receipts>,
    /// The service's lease: without it held, nothing is sent ([`crate::lease`]); `None` sends
    /// unconditionally (a process that runs alone).
    pub leader: Option<crate::lease::Leader>,
}

/// The most replacements of one stuck transaction.
pub const MAX_REPLACEMENTS: usize = 5;

/// The receipt of whichever of `hashes` is mined (with the configured depth checked by the
/// caller's node view), polling until `wait` is over; `None` if none is.
async fn mined(
    provider: &DynProvider,
    hashes: &[alloy::primitives::B256],
    wait: Duration,
) -> Result<Option<TransactionReceipt>> {
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

/// How often a transaction that holds up a later one of ours is checked for being stuck: three
/// polls, at least 3 s (a block or so).
fn hold_up_after(config: &ChainConfig) -> Duration {
    (config.poll_interval * 3).max(Duration::from_secs(3))
}

/// The latest block's base fee (the tracker's, when there is one).
async fn base_fee(provider: &DynProvider, tracker: Option<&Receipts>) -> Result<u128> {
    if let Some(fee) = tracker.and_then(Receipts::base_fee) {
        return Ok(fee);
    }
    let block = provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .map_err(rpc)?
        .ok_or_else(|| Error::Unexpected("no latest block".into()))?;
    Ok(u128::from(block.header.base_fee_per_gas.unwrap_or(0)))
}

/// Dry-runs `call` (`eth_call`), estimates its gas against the cap, sends it with EIP-1559 fees,
/// records it in the store (under `request`; 0 for none) and waits for its receipt to the
/// configured depth. A transaction not mined within `replace_after` is replaced: the same call
/// with the same nonce and fees raised to at least 125% (or the market's, when higher), up to
/// [`MAX_REPLACEMENTS`] times; whichever version is mined counts, the others are recorded as
/// replaced. A transaction that a later one of the same sender waits behind is replaced as soon
/// as it cannot be mined as it is (its fee cap below the base fee; checked every
/// [`hold_up_after`]): the chain mines a sender's transactions in nonce order, so one stuck
/// settlement would otherwise hold up a dispute move for `replace_after`. A revert comes back
/// decoded.
pub async fn send_tx<D: CallDecoder + Send + Sync + Clone>(
    log: &dyn TxLog,
    config: &ChainConfig,
    request: u64,
    kind: &'static str,
    call: CallBuilder<&DynProvider, D>,
) -> Result<TransactionReceipt> {
    // The fence: only the lease's holder sends.
    if config.leader.as_ref().is_some_and(|l| !l.is_held()) {
        return Err(Error::NotLeader { kind, request });
    }
    // The dry run: estimating gas executes the call, and a revert comes back with its data.
    let gas = call.estimate_gas().await.map_err(|e| match e.as_revert_data() {
        Some(_) => Error::Reverted { kind, request, revert: Revert::boxed(&e) },
        None => rpc(e),
    })?;
    if gas > config.gas_cap {
        return Err(Error::GasCap { kind, request, gas, cap: config.gas_cap });
    }
    let provider = call.provider;
    let fees = provider.estimate_eip1559_fees().await.map_err(rpc)?;
    let (mut max_fee, mut tip) = (fees.max_fee_per_gas, fees.max_priority_fee_per_gas);
    let call = call.gas(gas + gas / 5);
    let first = call.clone().max_fee_per_gas(max_fee).max_priority_fee_per_gas(tip);
    let first = nonces::send(&config.nonces, &first).await.map_err(rpc)?;
    let first = *first.tx_hash();
    log.record_tx(&first.to_string(), request, kind)?;
    let (nonce, from) = provider
        .get_transaction_by_hash(first)
        .await
        .map_err(rpc)?
        .map(|tx| (alloy::consensus::Transaction::nonce(&tx), tx.inner.signer()))
        .ok_or_else(|| Error::Unexpected(format!("the node does not know the transaction {first} it just took")))?;
    // Registered until this send returns: a later send of ours waiting behind it makes it urgent.
    let _in_flight = config.nonces.track(from, nonce);
    let hold_up = hold_up_after(config);
    let mut sent = vec![first];
    let mut last_sent = tokio::time::Instant::now();
    let mut next_check = last_sent + hold_up;
    let deadline = last_sent + config.receipt_timeout;
    let receipt = loop {
        // Replaced after `replace_after`; or, when a later transaction of ours waits behind it (a
        // dispute move must not wait a minute for a settlement's fees), as soon as it cannot be
        // mined as it is (its fee cap below the base fee), checked every `hold_up`.
        let due = last_sent + config.replace_after;
        let now = tokio::time::Instant::now();
        let wait = due.min(deadline).min(next_check).saturating_duration_since(now);
        let receipt = match &config.receipts {
            Some(tracker) => tracker.wait(&sent, wait).await?,
            None => mined(provider, &sent, wait).await?,
        };
        if let Some(receipt) = receipt {
            break receipt;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline || sent.len() > MAX_REPLACEMENTS {
            return Err(Error::NotMined { kind, request, what: format!("not mined in time ({} sent)", sent.len()) });
        }
        let urgent = now >= next_check
            && config.nonces.holds_up(from, nonce)
            && max_fee < base_fee(provider, config.receipts.as_ref()).await?;
        if now >= next_check {
            next_check = now + hold_up;
        }
        if now < due && !urgent {
            continue;
        }
        last_sent = now;
        // Stuck: the same call, the same nonce, higher fees.
        let market = provider.estimate_eip1559_fees().await.map_err(rpc)?;
        max_fee = (max_fee + max_fee / 4).max(market.max_fee_per_gas);
        tip = (tip + tip / 4).max(market.max_priority_fee_per_gas).max(1);
        let replacement = call.clone().nonce(nonce).max_fee_per_gas(max_fee).max_priority_fee_per_gas(tip).send().await;
        match replacement {
            Ok(p) => {
                let hash = *p.tx_hash();
                tracing::warn!(request, kind, nonce, %hash, max_fee, urgent, "transaction stuck; replaced with higher fees");
                log.record_tx(&hash.to_string(), request, kind)?;
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
                return Err(Error::NotMined { kind, request, what: format!("not {depth} blocks deep in time") });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let hash = receipt.transaction_hash;
    for other in sent.iter().filter(|h| **h != hash) {
        log.finish_tx(&other.to_string(), "replaced", None)?;
    }
    let hash = hash.to_string();
    if receipt.status() {
        log.finish_tx(&hash, "mined", None)?;
        Ok(receipt)
    } else {
        log.finish_tx(&hash, "reverted", Some("reverted on-chain"))?;
        Err(Error::Reverted { kind, request, revert: Box::new(Revert::Other(format!("transaction {hash} reverted"))) })
    }
}
