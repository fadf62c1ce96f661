//! Receipts of the transactions in flight, tracked in the background: one task follows the
//! chain head and reads each new block's receipts once (`eth_getBlockReceipts`), and every
//! sender waiting on a transaction is woken when its receipt appears. A thousand transactions in
//! flight cost one call a block, not a thousand polls; a sender still asks the node directly
//! every few seconds, so a missed block (a reconnect, a reorg) never strands it.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::{
    eips::BlockNumberOrTag,
    primitives::B256,
    providers::{DynProvider, Provider},
    rpc::types::TransactionReceipt,
};
use tokio::sync::Notify;

use crate::error::{rpc, Result};

/// How often a waiter asks the node itself, whatever the tracker saw.
const DIRECT_CHECK: Duration = Duration::from_secs(3);

#[derive(Debug, Default)]
struct Shared {
    /// How many waiters want each hash.
    wanted: HashMap<B256, usize>,
    /// Receipts seen for wanted hashes, kept until their waiters leave.
    found: HashMap<B256, TransactionReceipt>,
}

/// The tracker; clones share it.
#[derive(Clone, Debug)]
pub struct Receipts {
    provider: DynProvider,
    shared: Arc<Mutex<Shared>>,
    /// Notified after each block's receipts are read.
    block: Arc<Notify>,
    /// The latest block's base fee, once seen (0: not yet).
    base_fee: Arc<std::sync::atomic::AtomicU64>,
}

impl Receipts {
    /// Starts following the head of `provider`'s chain, every `poll`; the task lives as long as
    /// the runtime.
    pub fn spawn(provider: DynProvider, poll: Duration) -> Self {
        let tracker =
            Self { provider, shared: Arc::default(), block: Arc::new(Notify::new()), base_fee: Arc::default() };
        let t = tracker.clone();
        tokio::spawn(async move {
            let mut next: Option<u64> = None;
            loop {
                match t.follow(&mut next).await {
                    Ok(()) => {}
                    Err(e) => tracing::debug!("receipt tracker: {e}"),
                }
                tokio::time::sleep(poll).await;
            }
        });
        tracker
    }

    /// Reads the receipts of every block from `next` to the head.
    async fn follow(&self, next: &mut Option<u64>) -> Result<()> {
        let latest = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(rpc)?
            .ok_or_else(|| crate::Error::Unexpected("no latest block".into()))?;
        let head = latest.header.number;
        self.base_fee.store(latest.header.base_fee_per_gas.unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
        let mut block = next.unwrap_or(head);
        while block <= head {
            let wanted = !self.shared.lock().unwrap_or_else(|p| p.into_inner()).wanted.is_empty();
            if wanted {
                let receipts = self
                    .provider
                    .get_block_receipts(BlockNumberOrTag::Number(block).into())
                    .await
                    .map_err(rpc)?
                    .unwrap_or_default();
                let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
                for r in receipts {
                    if shared.wanted.contains_key(&r.transaction_hash) {
                        shared.found.insert(r.transaction_hash, r);
                    }
                }
            }
            block += 1;
            *next = Some(block);
            self.block.notify_waiters();
        }
        Ok(())
    }

    /// The receipt of whichever of `hashes` is mined first, waiting up to `wait`; `None` if none
    /// is by then.
    pub async fn wait(&self, hashes: &[B256], wait: Duration) -> Result<Option<TransactionReceipt>> {
        let until = tokio::time::Instant::now() + wait;
        let _interest = Interest::new(self, hashes);
        let mut direct = tokio::time::Instant::now();
        loop {
            let woken = self.block.notified();
            if let Some(r) = self.take(hashes) {
                return Ok(Some(r));
            }
            if tokio::time::Instant::now() >= direct {
                // Also ask the node: covers a transaction mined before we registered, and blocks
                // the tracker missed.
                for hash in hashes {
                    if let Some(r) = self.provider.get_transaction_receipt(*hash).await.map_err(rpc)? {
                        return Ok(Some(r));
                    }
                }
                direct = tokio::time::Instant::now() + DIRECT_CHECK;
            }
            let now = tokio::time::Instant::now();
            if now >= until {
                return Ok(None);
            }
            let _ = tokio::time::timeout_at(until.min(direct), woken).await;
        }
    }

    fn take(&self, hashes: &[B256]) -> Option<TransactionReceipt> {
        let shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        hashes.iter().find_map(|h| shared.found.get(h).cloned())
    }

    /// The latest block's base fee, as last seen (`None` before the first block).
    pub fn base_fee(&self) -> Option<u128> {
        let fee = self.base_fee.load(std::sync::atomic::Ordering::Relaxed);
        (fee > 0).then_some(u128::from(fee))
    }
}

/// A waiter's registration, dropped when it stops waiting.
struct Interest<'a> {
    tracker: &'a Receipts,
    hashes: HashSet<B256>,
}

impl<'a> Interest<'a> {
    fn new(tracker: &'a Receipts, hashes: &[B256]) -> Self {
        let hashes: HashSet<B256> = hashes.iter().copied().collect();
        let mut shared = tracker.shared.lock().unwrap_or_else(|p| p.into_inner());
        for h in &hashes {
            *shared.wanted.entry(*h).or_default() += 1;
        }
        Self { tracker, hashes }
    }
}

impl Drop for Interest<'_> {
    fn drop(&mut self) {
        let mut shared = self.tracker.shared.lock().unwrap_or_else(|p| p.into_inner());
        for h in &self.hashes {
            if let Some(n) = shared.wanted.get_mut(h) {
                *n -= 1;
                if *n == 0 {
                    shared.wanted.remove(h);
                    shared.found.remove(h);
                }
            }
        }
    }
}
