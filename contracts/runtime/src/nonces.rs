//! Nonces for the one key a process signs with: cached between transactions like alloy's
//! `CachedNonceManager`, but dropped when a send fails.
//!
//! alloy's cached manager advances its count when it fills a transaction, whether or not the
//! node then takes it. One refused send (a node hiccup, funds short for a moment) leaves a gap:
//! every later transaction of the process waits in the node's queue behind a nonce that will
//! never come, until the process restarts. Here a failed send ([`send`]) makes the next
//! transaction read the account's pending count from the node again.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use alloy::{
    contract::{CallBuilder, CallDecoder},
    network::Network,
    primitives::Address,
    providers::{PendingTransactionBuilder, Provider},
    transports::TransportResult,
};

/// The next nonce of each signing address, shared by the provider's nonce filler and the senders,
/// and the nonces of the transactions the responder is waiting on.
#[derive(Clone, Debug, Default)]
pub struct Nonces {
    /// The last nonce handed out per address; absent: ask the node.
    last: Arc<tokio::sync::Mutex<HashMap<Address, u64>>>,
    /// Transactions sent and not yet mined, by sender and nonce (a count: a replacement of the
    /// same nonce is the same transaction).
    in_flight: Arc<std::sync::Mutex<BTreeMap<(Address, u64), usize>>>,
}

/// A transaction in flight, until it is dropped.
#[derive(Debug)]
pub(crate) struct InFlight {
    nonces: Nonces,
    key: (Address, u64),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut map = self.nonces.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

impl Nonces {
    /// Records that `from`'s transaction at `nonce` is in flight (until the guard drops).
    pub(crate) fn track(&self, from: Address, nonce: u64) -> InFlight {
        *self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).entry((from, nonce)).or_default() += 1;
        InFlight { nonces: self.clone(), key: (from, nonce) }
    }

    /// Whether a later transaction of `from` is waiting behind the one at `nonce` (which then
    /// holds it up: the chain mines a sender's transactions in nonce order).
    pub fn holds_up(&self, from: Address, nonce: u64) -> bool {
        let map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        map.range((from, nonce + 1)..=(from, u64::MAX)).next().is_some()
    }

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

#[cfg(test)]
mod tests {
    use alloy::primitives::Address;

    use super::Nonces;

    #[test]
    fn a_transaction_holds_up_only_later_ones_of_its_own_sender_while_they_wait() {
        let nonces = Nonces::default();
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let first = nonces.track(a, 5);
        assert!(!nonces.holds_up(a, 5), "alone, it holds up nothing");
        let other = nonces.track(b, 9);
        assert!(!nonces.holds_up(a, 5), "another sender's transactions are not behind it");
        let later = nonces.track(a, 6);
        assert!(nonces.holds_up(a, 5));
        assert!(!nonces.holds_up(a, 6));
        let replaced = nonces.track(a, 6);
        drop(later);
        assert!(nonces.holds_up(a, 5), "a replacement of the same nonce still waits");
        drop(replaced);
        assert!(!nonces.holds_up(a, 5), "mined (or given up): nothing waits behind it any more");
        drop((first, other));
    }
}
