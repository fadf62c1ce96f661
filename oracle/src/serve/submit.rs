//! Requests made through the API: `POST /v1/requests` records a submission and returns at once
//! (202); a job per submission then sends its `request` transaction through the responder (dry
//! run, gas cap, fees, replacement, depth), and once it is mined records the on-chain request, so
//! the chain loop answers it like any other. A restart resumes every submission not yet created
//! or failed: one whose transaction was sent is looked up by its hash first, never sent blind.

use std::sync::Arc;

use alloy::{
    primitives::{Address, Bytes, FixedBytes, B256, U256},
    providers::{DynProvider, Provider},
};
use verdict_contracts::inference_oracle::InferenceOracle::{self, InferenceOracleInstance};
use verdict_runtime::{
    db::{DbResult, TxLog},
    responder::{send_tx, ChainConfig},
    rpc,
    scheduler::{Jobs, Outcome},
    Error, Result,
};

use super::metrics::Metrics;
use crate::store::{Store, Submission, SubmissionStatus};

/// The submitter: one job per open submission.
pub struct Submitter {
    oracle: InferenceOracleInstance<DynProvider>,
    me: Address,
    store: Arc<dyn Store>,
    config: ChainConfig,
    metrics: Arc<Metrics>,
    jobs: Jobs,
}

/// Records the responder's transactions under the submission too (its latest hash).
struct SubmissionLog<'a> {
    store: &'a dyn Store,
    id: u64,
}

impl TxLog for SubmissionLog<'_> {
    fn record_tx(&self, hash: &str, _request_id: u64, kind: &str) -> DbResult<()> {
        self.store.as_tx_log().record_tx(hash, 0, kind)?;
        self.store.set_submission(self.id, SubmissionStatus::Sent, Some(hash), None, None)
    }

    fn finish_tx(&self, hash: &str, status: &str, error: Option<&str>) -> DbResult<()> {
        self.store.as_tx_log().finish_tx(hash, status, error)
    }
}

impl Submitter {
    /// A submitter paying from `me` (the provider's wallet signs for it).
    pub fn new(
        provider: DynProvider,
        oracle: Address,
        me: Address,
        store: Arc<dyn Store>,
        config: ChainConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { oracle: InferenceOracle::new(oracle, provider), me, store, config, metrics, jobs: Jobs::new() }
    }

    /// Starts the job of submission `id` (unless it runs already).
    pub fn start(self: &Arc<Self>, id: u64) {
        let me = Arc::clone(self);
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
        let receipt = match (s.status, &s.tx_hash) {
            (SubmissionStatus::Created | SubmissionStatus::Failed, _) => return Ok(()),
            // Sent before a restart (or a failed wait): its transaction decides, never a second one
            // while the node still has it.
            (SubmissionStatus::Sent, Some(hash)) => {
                let hash: B256 = hash.parse().map_err(|_| Error::Corrupt(format!("submission {id}: hash {hash}")))?;
                let provider = self.oracle.provider();
                match provider.get_transaction_receipt(hash).await.map_err(rpc)? {
                    Some(r) => r,
                    None if provider.get_transaction_by_hash(hash).await.map_err(rpc)?.is_some() => {
                        match self.config.receipts.as_ref() {
                            Some(t) => t.wait(&[hash], self.config.receipt_timeout).await?,
                            None => None,
                        }
                        .ok_or_else(|| Error::NotMined {
                            kind: "request",
                            request: 0,
                            what: format!("submission {id}: {hash} still pending"),
                        })?
                    }
                    // Dropped by the node: send it again.
                    None => match self.send(&s).await {
                        Ok(r) => r,
                        Err(e) => return self.refused(id, e),
                    },
                }
            }
            _ => match self.send(&s).await {
                Ok(r) => r,
                Err(e) => return self.refused(id, e),
            },
        };
        if !receipt.status() {
            self.store.set_submission(id, SubmissionStatus::Failed, None, None, Some("reverted on-chain"))?;
            return Ok(());
        }
        let created = receipt
            .decoded_log::<InferenceOracle::RequestCreated>()
            .ok_or_else(|| Error::Unexpected(format!("submission {id}: no RequestCreated in its receipt")))?;
        let request: u64 = created.requestId.try_into().map_err(|_| Error::Unexpected("request id".into()))?;
        let block = receipt.block_number.unwrap_or_default();
        let me = self.me.to_string();
        match &s.salt {
            // A private input: recorded by its z_0, then delivered (ours, so it opens z_0).
            Some(salt) => {
                self.store.insert_private_request(
                    request,
                    s.model_id,
                    &created.inputCommitment.to_string(),
                    &me,
                    block,
                )?;
                self.store.deliver_input(request, &s.input, salt)?;
            }
            None => {
                self.store.insert_request(request, s.model_id, &s.input, &me, block)?;
            }
        }
        self.store.set_submission(id, SubmissionStatus::Created, None, Some(request), None)?;
        Metrics::inc(&self.metrics.api_requests);
        tracing::info!(submission = id, request, "request created");
        Ok(())
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

    async fn send(&self, s: &Submission) -> Result<alloy::rpc::types::TransactionReceipt> {
        let model = U256::from(s.model_id);
        let fee = self.oracle.estimateFee(model).call().await.map_err(rpc)?;
        // A private input goes on chain only as its salted commitment z_0.
        let (input, z0) = match &s.salt {
            Some(salt) => (Bytes::new(), FixedBytes::from(private_input_commitment(s.id, &s.input, salt)?.0)),
            None => (Bytes::from(s.input.iter().map(|v| *v as u8).collect::<Vec<u8>>()), FixedBytes::ZERO),
        };
        let call = self.oracle.request(model, input, z0, Address::ZERO, 0, Bytes::new()).value(fee).from(self.me);
        send_tx(&SubmissionLog { store: self.store.as_ref(), id: s.id }, &self.config, 0, "request", call).await
    }
}

/// A private input's salted z_0 (what the request carries on chain).
fn private_input_commitment(id: u64, input: &[i8], salt: &str) -> Result<verdict_circuits::Commitment> {
    let salt = verdict_circuits::parse_salt(salt)
        .ok_or_else(|| Error::Corrupt(format!("submission {id}: stored salt is not a field element")))?;
    Ok(verdict_circuits::private_input_commitment(input, salt))
}
