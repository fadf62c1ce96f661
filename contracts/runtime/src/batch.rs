//! Batches: calls of one kind that jobs make at about the same time (the proposals of the
//! requests one block brought, the requests the API took in a moment) share one transaction, so
//! that the node and the service do a transaction's work (dry run, fees, send, receipt) once a
//! batch rather than once a request.
//!
//! Each job still awaits its own item: [`Batcher::submit`] returns when the transaction that
//! carried the item is mined, with its receipt and the item's place in the batch. Batches go out
//! on their own tasks, so a stuck batch holds up no later one. A batch whose dry run reverts
//! (one refused element reverts the whole call) or that is over the gas cap is sent again as
//! single items (each then fails or succeeds on its own, with its own typed revert), and a
//! transaction that reverts on-chain likewise: no item fails because of another.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
    time::Duration,
};

use alloy::rpc::types::TransactionReceipt;
use tokio::sync::{mpsc, oneshot};

use crate::{
    db::{DbResult, TxLog},
    Error, Result,
};

/// How long a batch waits for more items after its first one arrived.
pub const LINGER: Duration = Duration::from_millis(50);

/// The most items of one transaction by default (about 150k gas a request, 100k a proposal:
/// well under the default gas cap of 5M).
pub const DEFAULT_MAX: usize = 20;

/// Where an item went: the receipt of its transaction and its index among the items that
/// transaction carried (in ascending key order).
#[derive(Clone, Debug)]
pub struct Included {
    /// The mined transaction's receipt.
    pub receipt: Arc<TransactionReceipt>,
    /// The item's place in the batch.
    pub index: usize,
    /// How many items the transaction carried.
    pub size: usize,
}

/// Sends a batch (ascending keys) as one transaction: the keys and items, in order.
pub type SendBatch<T> =
    Arc<dyn Fn(Vec<(u64, T)>) -> Pin<Box<dyn Future<Output = Result<TransactionReceipt>> + Send>> + Send + Sync>;

type Waiter<T> = (u64, T, oneshot::Sender<Result<Included>>);

/// Collects items into batches of at most `max`, each sent by `send`.
pub struct Batcher<T> {
    max: usize,
    send: SendBatch<T>,
    queue: OnceLock<mpsc::UnboundedSender<Waiter<T>>>,
}

impl<T: Clone + Send + 'static> Batcher<T> {
    /// Batches of at most `max` items (at least 1), sent by `send`.
    pub fn new(max: usize, send: SendBatch<T>) -> Self {
        Self { max: max.max(1), send, queue: OnceLock::new() }
    }

    /// Adds `item` (keyed by `key`, e.g. its request id: a batch is sent in ascending key order)
    /// to the next batch and waits until its transaction is mined.
    pub async fn submit(&self, key: u64, item: T) -> Result<Included> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(collect(rx, self.max, self.send.clone()));
            tx
        });
        let (done, result) = oneshot::channel();
        queue.send((key, item, done)).map_err(|_| Error::Unexpected("the batcher stopped".into()))?;
        result.await.map_err(|_| Error::Unexpected("a batch was dropped before it was sent".into()))?
    }
}

/// Gathers what arrives within [`LINGER`] of a batch's first item (up to `max`), then hands the
/// batch to its own task.
async fn collect<T: Clone + Send + 'static>(
    mut rx: mpsc::UnboundedReceiver<Waiter<T>>,
    max: usize,
    send: SendBatch<T>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let until = tokio::time::Instant::now() + LINGER;
        while batch.len() < max {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(w)) => batch.push(w),
                Ok(None) | Err(_) => break,
            }
        }
        batch.sort_by_key(|w| w.0);
        tokio::spawn(dispatch(batch, send.clone()));
    }
}

/// Sends `batch`; on a revert or the gas cap, each item alone.
fn dispatch<T: Clone + Send + 'static>(
    batch: Vec<Waiter<T>>,
    send: SendBatch<T>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let items: Vec<(u64, T)> = batch.iter().map(|(k, t, _)| (*k, t.clone())).collect();
        let size = batch.len();
        match send(items).await {
            Ok(receipt) => {
                let receipt = Arc::new(receipt);
                for (index, (_, _, done)) in batch.into_iter().enumerate() {
                    let _ = done.send(Ok(Included { receipt: receipt.clone(), index, size }));
                }
            }
            Err(Error::Reverted { .. } | Error::GasCap { .. }) if size > 1 => {
                tracing::debug!(size, "a batch was refused; sending its items one by one");
                let singles = batch.into_iter().map(|w| dispatch(vec![w], send.clone()));
                futures_util::future::join_all(singles).await;
            }
            Err(e) => {
                let mut e = Some(e);
                for (index, (_, _, done)) in batch.into_iter().enumerate() {
                    // The first waiter gets the error itself, the others its like.
                    let err =
                        if index + 1 == size { e.take().expect("once") } else { share(e.as_ref().expect("kept")) };
                    let _ = done.send(Err(err));
                }
            }
        }
    })
}

/// Records a batch's transactions (replacements too) under each of its requests.
pub struct BatchLog<'a> {
    /// Where transactions are recorded.
    pub log: &'a dyn TxLog,
    /// The requests the transaction carries.
    pub requests: &'a [u64],
}

impl TxLog for BatchLog<'_> {
    fn record_tx(&self, hash: &str, _request_id: u64, kind: &str) -> DbResult<()> {
        self.log.record_batch_tx(hash, self.requests, kind)
    }

    fn finish_tx(&self, hash: &str, status: &str, error: Option<&str>) -> DbResult<()> {
        self.log.finish_tx(hash, status, error)
    }

    fn record_batch_tx(&self, hash: &str, request_ids: &[u64], kind: &str) -> DbResult<()> {
        self.log.record_batch_tx(hash, request_ids, kind)
    }
}

/// An error like `e` for another item of the same batch (as retryable as `e`).
fn share(e: &Error) -> Error {
    match e {
        Error::Rpc(s) => Error::Rpc(s.clone()),
        Error::NotMined { kind, request, what } => Error::NotMined { kind, request: *request, what: what.clone() },
        Error::NotLeader { kind, request } => Error::NotLeader { kind, request: *request },
        e if e.is_retryable() => Error::Unexpected(format!("its batch failed: {e}")),
        e => Error::Refused(format!("its batch failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::Revert;

    fn receipt() -> TransactionReceipt {
        serde_json::from_value(serde_json::json!({
            "transactionHash": "0x0000000000000000000000000000000000000000000000000000000000000001",
            "transactionIndex": "0x0", "blockHash": null, "blockNumber": "0x1",
            "from": "0x0000000000000000000000000000000000000001", "to": null,
            "gasUsed": "0x5208", "effectiveGasPrice": "0x1", "cumulativeGasUsed": "0x5208",
            "contractAddress": null, "logs": [], "logsBloom": format!("0x{}", "0".repeat(512)),
            "type": "0x2", "status": "0x1"
        }))
        .expect("a receipt")
    }

    /// A sender that records every batch and refuses any batch holding a refused key.
    fn sender(sent: Arc<Mutex<Vec<Vec<u64>>>>, refused: u64) -> SendBatch<u64> {
        Arc::new(move |items: Vec<(u64, u64)>| {
            let sent = sent.clone();
            Box::pin(async move {
                let keys: Vec<u64> = items.iter().map(|(k, _)| *k).collect();
                sent.lock().unwrap().push(keys.clone());
                if keys.contains(&refused) {
                    return Err(Error::Reverted {
                        kind: "propose",
                        request: keys[0],
                        revert: Box::new(Revert::Other("refused".into())),
                    });
                }
                Ok(receipt())
            })
        })
    }

    #[tokio::test]
    async fn items_that_arrive_together_share_one_transaction_in_key_order() {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let batcher = Arc::new(Batcher::new(8, sender(sent.clone(), u64::MAX)));
        let waits = [5u64, 3, 9, 1].map(|k| {
            let b = batcher.clone();
            tokio::spawn(async move { (k, b.submit(k, k * 10).await) })
        });
        let mut places = Vec::new();
        for w in waits {
            let (k, included) = w.await.unwrap();
            let included = included.unwrap();
            assert_eq!(included.size, 4);
            places.push((k, included.index));
        }
        places.sort();
        assert_eq!(places, vec![(1, 0), (3, 1), (5, 2), (9, 3)]);
        assert_eq!(*sent.lock().unwrap(), vec![vec![1, 3, 5, 9]]);
    }

    #[tokio::test]
    async fn a_batch_is_at_most_max_items() {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let batcher = Arc::new(Batcher::new(3, sender(sent.clone(), u64::MAX)));
        let waits: Vec<_> = (0..7u64)
            .map(|k| {
                let b = batcher.clone();
                tokio::spawn(async move { b.submit(k, k).await })
            })
            .collect();
        for w in waits {
            w.await.unwrap().unwrap();
        }
        let sizes: Vec<usize> = sent.lock().unwrap().iter().map(Vec::len).collect();
        assert!(sizes.iter().all(|s| *s <= 3) && sizes.iter().sum::<usize>() == 7, "{sizes:?}");
    }

    #[tokio::test]
    async fn a_refused_batch_is_sent_again_item_by_item_and_only_the_refused_one_fails() {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let batcher = Arc::new(Batcher::new(8, sender(sent.clone(), 2)));
        let waits = [1u64, 2, 3].map(|k| {
            let b = batcher.clone();
            tokio::spawn(async move { (k, b.submit(k, k).await) })
        });
        for w in waits {
            match w.await.unwrap() {
                (2, Err(Error::Reverted { request: 2, .. })) => {}
                (2, other) => panic!("the refused item: {other:?}"),
                (k, Ok(included)) => assert_eq!((included.index, included.size), (0, 1), "item {k} alone"),
                (k, Err(e)) => panic!("item {k} failed: {e}"),
            }
        }
        let mut batches = sent.lock().unwrap().clone();
        assert_eq!(batches.remove(0), vec![1, 2, 3]);
        batches.sort();
        assert_eq!(batches, vec![vec![1], vec![2], vec![3]]);
    }

    #[tokio::test]
    async fn a_batch_that_was_not_mined_fails_every_item_retryably() {
        let batcher = Arc::new(Batcher::new(
            8,
            Arc::new(|_items: Vec<(u64, u64)>| {
                Box::pin(async {
                    Err(Error::NotMined { kind: "request", request: 0, what: "not mined in time".into() })
                }) as Pin<Box<dyn Future<Output = Result<TransactionReceipt>> + Send>>
            }),
        ));
        let waits = [1u64, 2].map(|k| {
            let b = batcher.clone();
            tokio::spawn(async move { b.submit(k, k).await })
        });
        for w in waits {
            let e = w.await.unwrap().unwrap_err();
            assert!(e.is_retryable() && matches!(e, Error::NotMined { .. }), "{e}");
        }
    }
}
