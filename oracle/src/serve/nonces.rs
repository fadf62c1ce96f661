//! Nonces for the one key a process signs with: cached between transactions like alloy's
//! `CachedNonceManager`, but dropped when a send fails.
//!
//! alloy's cached manager advances its count when it fills a transaction, whether or not the
//! node then takes it. One refused send (a node hiccup, funds short for a moment) leaves a gap:
//! every later transaction of the process waits in the node's queue behind a nonce that will
//! never come, until the process restarts. Here a failed send ([`send`]) makes the next
//! transaction read the account's pending count from the node again.

use std::{collections::HashMap, sync::Arc};

use alloy::{
    contract::{CallBuilder, CallDecoder},
    network::Network,
    primitives::Address,
    providers::{PendingTransactionBuilder, Provider},
    transports::TransportResult,
};

/// The next nonce of each signing address, shared by the provider's nonce filler and the senders.
#[derive(Clone, Debug, Default)]
pub struct Nonces {
    /// The last nonce handed out per address; absent: ask the node.
    last: Arc<tokio::sync::Mutex<HashMap<Address, u64>>>,
}

impl Nonces {
    /// Forgets every cached count: the next transaction asks the node for the pending count.
    pub async fn forget(&self) {
        self.last.lock().await.clear();
    }
}

#[async_trait::async_trait]
impl alloy::providers::fillers::NonceManager for Nonces {
    async fn get_next_nonce<P, N>(&self, provider: &P, address: Address) -> TransportResult<u64>
    where
        P: Provider<N>,
        N: Network,
    {
        // Held across the node query, so two first transactions cannot both take the same count.
        let mut last = self.last.lock().await;
        let next = match last.get(&address) {
            Some(n) => n + 1,
            None => provider.get_transaction_count(address).pending().await?,
        };
        last.insert(address, next);
        Ok(next)
    }
}

/// Sends `call` (its nonce filled from `nonces` unless set); a refused send makes `nonces` read
/// the pending count from the node for the next one, so no gap is left behind.
pub async fn send<P: Provider, D: CallDecoder>(
    nonces: &Nonces,
    call: &CallBuilder<P, D>,
) -> alloy::contract::Result<PendingTransactionBuilder<alloy::network::Ethereum>> {
    let sent = call.send().await;
    if sent.is_err() {
        nonces.forget().await;
    }
    sent
}
