//! Requests made through the API: `POST /v1/requests` records a submission and returns at once
//! (202); a job per submission then sends its request through the responder (dry run, gas cap,
//! fees, replacement, depth), in one `requestMany` transaction with the submissions that arrived
//! at about the same time ([`verdict_runtime::batch`]), and once it is mined records the on-chain
//! request, so the chain loop answers it like any other. A restart resumes every submission not
//! yet created or failed: one whose transaction was sent is looked up by its hash first, never
//! sent blind; its request is the one at its place among the submissions that transaction carried
//! (a batch is sent in ascending submission order).

use std::{collections::HashMap, sync::Arc};

use alloy::{
    primitives::{Address, Bytes, FixedBytes, B256, U256},
    providers::{DynProvider, Provider},
    rpc::types::TransactionReceipt,
};
use verdict_contracts::inference_oracle::InferenceOracle::{self, InferenceOracleInstance};
use verdict_runtime::{
    batch::{Batcher, SendBatch},
    db::{DbResult, TxLog},
    responder::{send_tx, ChainConfig},
    rpc,
    scheduler::{Jobs, Outcome},
    Error, Result,
};

use super::metrics::Metrics;
use crate::store::{Incoming, IncomingInput, Store, Submission, SubmissionStatus};

/// The submitter: one job per open submission.
pub struct Submitter {
    oracle: InferenceOracleInstance<DynProvider>,
    me: Address,
    store: Arc<dyn Store>,
    config: ChainConfig,
    metrics: Arc<Metrics>,
    jobs: Jobs,
    /// Submissions made at about the same time share a transaction.
    batcher: Batcher<Call>,
    /// The chain's runtime: jobs started from the API's threads run there.
    runtime: tokio::runtime::Handle,
}

/// One submission's call: the model, its input bytes (empty for a private input) and z_0 (zero
/// for a public input).
type Call = (U256, Bytes, FixedBytes<32>);

/// Records the responder's transactions under the submissions they carry too (their latest
/// hash).
struct SubmissionLog<'a> {
    store: &'a dyn Store,
    ids: &'a [u64],
}

impl TxLog for SubmissionLog<'_> {
    fn record_tx(&self, hash: &str, _request_id: u64, kind: &str) -> DbResult<()> {
        self.store.as_tx_log().record_tx(hash, 0, kind)?;
        self.store.set_submissions_sent(self.ids, hash)
    }

    fn finish_tx(&self, hash: &str, status: &str, error: Option<&str>) -> DbResult<()> {
        self.store.as_tx_log().finish_tx(hash, status, error)
    }
}

impl Submitter {
    /// A submitter paying from `me` (the provider's wallet signs for it); its jobs run on the
    /// runtime it is made on.
    pub fn new(
        provider: DynProvider,
        oracle: Address,
        me: Address,
        store: Arc<dyn Store>,
        config: ChainConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        let oracle = InferenceOracle::new(oracle, provider);
        let batcher = Batcher::new(
            verdict_runtime::batch::DEFAULT_MAX,
            request_many(oracle.clone(), me, store.clone(), config.clone()),
        );
        let runtime = tokio::runtime::Handle::current();
        Self { oracle, me, store, config, metrics, jobs: Jobs::new(), batcher, runtime }
    }

    /// Submissions share transactions of at most `max` (1: one transaction each).
    pub fn with_batch_max(mut self, max: usize) -> Self {
        self.batcher =
            Batcher::new(max, request_many(self.oracle.clone(), self.me, self.store.clone(), self.config.clone()));
        self
    }

    /// Starts the job of submission `id` (unless it runs already).
    pub fn start(self: &Arc<Self>, id: u64) {
        let me = Arc::clone(self);
        let _chain = self.runtime.enter();
        self.jobs.start(id, async move { me.submit(id).await });
    }

    /// Logs the jobs that finished and starts one for every open submission without one (after a
    /// restart, or a failure the next pass may fix).
    pub async fn resume(self: &Arc<Self>) -> Result<()> {
        for (id, outcome) in self.jobs.collect().await {
            match outcome {
                Outcome::Done => {}
                Outcome::Failed(e) => tracing::warn!(submission = id, retryable = e.is_retryable(), "{e}"),
                Outcome::Panicked(e) => tracing::error!(submission = id, "job panicked: {e}"),
            }
        }
        for s in self.store.open_submissions()? {
            self.start(s.id);
        }
        Ok(())
    }

    /// Sends submission `id`'s request and records what the chain made of it.
    async fn submit(&self, id: u64) -> Result<()> {
        let Some(s) = self.store.submission(id)? else { return Ok(()) };
        let (receipt, index) = match (s.status, &s.tx_hash) {
            (SubmissionStatus::Created | SubmissionStatus::Failed, _) => return Ok(()),
            // Sent before a restart (or a failed wait): its transaction decides, never a second one
            // while the node still has it.
            (SubmissionStatus::Sent, Some(hash)) => {
                let hash: B256 = hash.parse().map_err(|_| Error::Corrupt(format!("submission {id}: hash {hash}")))?;
                let provider = self.oracle.provider();
                let mined = match provider.get_transaction_receipt(hash).await.map_err(rpc)? {
                    Some(r) => Some(r),
                    None if provider.get_transaction_by_hash(hash).await.map_err(rpc)?.is_some() => Some(
                        match self.config.receipts.as_ref() {
                            Some(t) => t.wait(&[hash], self.config.receipt_timeout).await?,
                            None => None,
                        }
                        .ok_or_else(|| Error::NotMined {
                            kind: "request",
                            request: 0,
                            what: format!("submission {id}: {hash} still pending"),
                        })?,
                    ),
                    // Dropped by the node: send it again.
                    None => None,
                };
                let placed = match mined {
                    Some(r) => self.place_in(&r, id)?.map(|index| (Arc::new(r), index)),
                    None => None,
                };
                match placed {
                    Some(placed) => placed,
                    None => match self.send(&s).await {
                        Ok(sent) => sent,
                        Err(e) => return self.refused(id, e),
                    },
                }
            }
            _ => match self.send(&s).await {
                Ok(sent) => sent,
                Err(e) => return self.refused(id, e),
            },
        };
        if !receipt.status() {
            self.store.set_submission(id, SubmissionStatus::Failed, None, None, Some("reverted on-chain"))?;
            return Ok(());
        }
        let created = created_events(&receipt).into_iter().nth(index).ok_or_else(|| {
            Error::Unexpected(format!("submission {id}: no RequestCreated at place {index} of its receipt"))
        })?;
        let request: u64 = created.requestId.try_into().map_err(|_| Error::Unexpected("request id".into()))?;
        let block = receipt.block_number.unwrap_or_default();
        // A private input: recorded by its z_0, then delivered (ours, so it opens z_0).
        let (input, delivered) = match &s.salt {
            Some(salt) => {
                (IncomingInput::Private(created.inputCommitment.to_string()), Some((&s.input[..], &salt[..])))
            }
            None => (IncomingInput::Public(s.input.clone()), None),
        };
        let incoming = Incoming { id: request, model_id: s.model_id, input, requester: self.me.to_string(), block };
        self.store.record_created(id, &incoming, delivered)?;
        Metrics::inc(&self.metrics.api_requests);
        tracing::info!(submission = id, request, "request created");
        Ok(())
    }

    /// Submission `id`'s place in the transaction of `receipt`: among the submissions recorded
    /// as sent in it, in ascending order (as the batch was sent), which must be as many as the
    /// requests it created. `None` for a batch that reverted on-chain before a restart could send
    /// its items one by one: it is sent again, as the batcher would have (no item fails for
    /// another).
    fn place_in(&self, receipt: &TransactionReceipt, id: u64) -> Result<Option<usize>> {
        let hash = receipt.transaction_hash.to_string();
        let carried = self.store.submissions_sent_in(&hash)?;
        if !receipt.status() && carried.len() > 1 {
            return Ok(None);
        }
        let created = created_events(receipt).len();
        match carried.iter().position(|s| *s == id) {
            Some(index) if !receipt.status() || carried.len() == created => Ok(Some(index)),
            _ => Err(Error::Corrupt(format!(
                "submission {id}: {hash} created {created} requests, but {} submissions are recorded as sent in it",
                carried.len()
            ))),
        }
    }

    /// A send that the chain refused (a revert, the gas cap) fails the submission for good; any
    /// other error is left for the next pass.
    fn refused(&self, id: u64, e: Error) -> Result<()> {
        if e.is_retryable() {
            return Err(e);
        }
        tracing::warn!(submission = id, "request refused: {e}");
        self.store.set_submission(id, SubmissionStatus::Failed, None, None, Some(&e.to_string()))?;
        Ok(())
    }

    /// Sends submission `s` in the next batch: its transaction's receipt and its place in it.
    async fn send(&self, s: &Submission) -> Result<(Arc<TransactionReceipt>, usize)> {
        // A private input goes on chain only as its salted commitment z_0.
        let (input, z0) = match &s.salt {
            Some(salt) => (Bytes::new(), FixedBytes::from(private_input_commitment(s.id, &s.input, salt)?.0)),
            None => (Bytes::from(s.input.iter().map(|v| *v as u8).collect::<Vec<u8>>()), FixedBytes::ZERO),
        };
        let included = self.batcher.submit(s.id, (U256::from(s.model_id), input, z0)).await?;
        Ok((included.receipt, included.index))
    }
}

/// The `RequestCreated` events of a receipt, in order.
fn created_events(receipt: &TransactionReceipt) -> Vec<InferenceOracle::RequestCreated> {
    receipt
        .inner
        .logs()
        .iter()
        .filter_map(|l| l.log_decode::<InferenceOracle::RequestCreated>().ok())
        .map(|l| l.inner.data)
        .collect()
}

/// Sends a batch of submissions: `request` for one, `requestMany` for several, paying the sum of
/// their fees (read once a model).
fn request_many(
    oracle: InferenceOracleInstance<DynProvider>,
    me: Address,
    store: Arc<dyn Store>,
    config: ChainConfig,
) -> SendBatch<Call> {
    Arc::new(move |items: Vec<(u64, Call)>| {
        let (oracle, store, config) = (oracle.clone(), store.clone(), config.clone());
        Box::pin(async move {
            let mut fees: HashMap<U256, U256> = HashMap::new();
            for (_, (model, _, _)) in &items {
                if !fees.contains_key(model) {
                    fees.insert(*model, oracle.estimateFee(*model).call().await.map_err(rpc)?);
                }
            }
            let ids: Vec<u64> = items.iter().map(|(id, _)| *id).collect();
            let log = SubmissionLog { store: store.as_ref(), ids: &ids };
            if let [(_, (model, input, z0))] = &items[..] {
                let call = oracle
                    .request(*model, input.clone(), *z0, Address::ZERO, 0, Bytes::new())
                    .value(fees[model])
                    .from(me);
                return send_tx(&log, &config, 0, "request", call).await;
            }
            let total: U256 = items.iter().map(|(_, (model, _, _))| fees[model]).sum();
            let requests = items
                .into_iter()
                .map(|(_, (model, input, z0))| InferenceOracle::NewRequest {
                    modelId: model,
                    input,
                    inputCommitment: z0,
                    callback: Address::ZERO,
                    callbackGasLimit: 0,
                    callbackData: Bytes::new(),
                })
                .collect();
            let call = oracle.requestMany(requests).value(total).from(me);
            send_tx(&log, &config, 0, "request", call).await
        })
    })
}

/// A private input's salted z_0 (what the request carries on chain).
fn private_input_commitment(id: u64, input: &[i8], salt: &str) -> Result<verdict_circuits::Commitment> {
    let salt = verdict_circuits::parse_salt(salt)
        .ok_or_else(|| Error::Corrupt(format!("submission {id}: stored salt is not a field element")))?;
    Ok(verdict_circuits::private_input_commitment(input, salt))
}
