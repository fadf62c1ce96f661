//! Scheduled feeds: every N seconds, take the next input from a source and ask an
//! `AiPriceFeed` consumer for a round (the service pays the fee). The chain loop then answers the
//! request like any other.
//!
//! Sources are pluggable ([`Source`]): a CSV file (rows in order, cycling) and an HTTP endpoint
//! returning JSON (reqwest). The cursor and the time of the last round are written to the store
//! before the round is requested, so a restart never requests a round twice (at worst it skips
//! one).

use std::{path::PathBuf, str::FromStr, sync::Arc, time::Duration};

use alloy::{
    primitives::{Address, Bytes, U256},
    providers::DynProvider,
};
use verdict_circuits::{parse_csv_row, Model};
use verdict_contracts::{ai_price_feed::AiPriceFeed, inference_oracle::InferenceOracle};

use verdict_runtime::{
    models::Models,
    responder::{send_tx, ChainConfig},
};

use crate::{store::Store, Error};

/// Where a feed's inputs come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    /// A CSV file of real-valued rows (an optional header is skipped), read in order, cycling.
    Csv(PathBuf),
    /// A URL answering a JSON array of numbers, or an object with an `input` array.
    Http(String),
}

/// `--feed contract=0x…,source=csv:PATH|http:URL,every=SECONDS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedSpec {
    /// The `AiPriceFeed` consumer.
    pub contract: Address,
    /// Its input source.
    pub source: SourceSpec,
    /// Seconds between rounds.
    pub every: u64,
}

impl FromStr for FeedSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (mut contract, mut source, mut every) = (None, None, None);
        for part in s.split(',') {
            let (k, v) = part.split_once('=').ok_or_else(|| format!("expected key=value in {part:?}"))?;
            match k.trim() {
                "contract" => contract = Some(v.trim().parse::<Address>().map_err(|e| format!("contract: {e}"))?),
                "source" => {
                    source = Some(match v.trim().split_once(':') {
                        Some(("csv", path)) => SourceSpec::Csv(PathBuf::from(path)),
                        Some(("http", _)) | Some(("https", _)) => SourceSpec::Http(v.trim().to_string()),
                        _ => return Err(format!("source {v:?}: expected csv:PATH or an http(s) URL")),
                    })
                }
                "every" => {
                    let n: u64 =
                        v.trim().trim_end_matches('s').parse().map_err(|_| format!("every {v:?}: expected seconds"))?;
                    if n == 0 {
                        return Err("every must be at least 1 second".into());
                    }
                    every = Some(n);
                }
                other => return Err(format!("unknown feed key {other:?} (contract, source, every)")),
            }
        }
        Ok(Self {
            contract: contract.ok_or("missing contract=")?,
            source: source.ok_or("missing source=")?,
            every: every.ok_or("missing every=")?,
        })
    }
}

/// A source of real-valued inputs.
pub enum Source {
    /// Rows of a CSV file.
    Csv(Vec<Vec<f64>>),
    /// An HTTP JSON endpoint.
    Http {
        /// The URL.
        url: String,
        /// The client (with a timeout).
        client: reqwest::Client,
    },
}

impl Source {
    /// Opens a source; a CSV file is read (and checked) once.
    pub fn open(spec: &SourceSpec) -> Result<Self, String> {
        match spec {
            SourceSpec::Csv(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("feed source {}: {e}", path.display()))?;
                let mut rows = Vec::new();
                for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                    match parse_csv_row(line) {
                        Ok(row) => rows.push(row),
                        Err(_) if i == 0 => {} // a header
                        Err(e) => return Err(format!("feed source {} line {}: {e}", path.display(), i + 1)),
                    }
                }
                if rows.is_empty() {
                    return Err(format!("feed source {} has no rows", path.display()));
                }
                Ok(Self::Csv(rows))
            }
            SourceSpec::Http(url) => Ok(Self::Http {
                url: url.clone(),
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|e| e.to_string())?,
            }),
        }
    }

    /// The input for round number `cursor`.
    pub async fn input(&self, cursor: u64) -> Result<Vec<f64>, String> {
        match self {
            Self::Csv(rows) => Ok(rows[(cursor % rows.len() as u64) as usize].clone()),
            Self::Http { url, client } => {
                let doc: serde_json::Value = async { client.get(url).send().await?.error_for_status()?.json().await }
                    .await
                    .map_err(|e| format!("{url}: {e}"))?;
                let values = doc.get("input").unwrap_or(&doc);
                serde_json::from_value(values.clone())
                    .map_err(|e| format!("{url}: expected a JSON array of numbers or {{\"input\": [...]}}: {e}"))
            }
        }
    }
}

/// One running feed.
pub struct Feed {
    spec: FeedSpec,
    source: Source,
    model: Model,
    consumer: AiPriceFeed::AiPriceFeedInstance<DynProvider>,
    oracle: InferenceOracle::InferenceOracleInstance<DynProvider>,
    model_id: U256,
    me: Address,
    config: ChainConfig,
    store: Arc<dyn Store>,
}

impl Feed {
    /// Sets up a feed: its consumer's model must be one the service serves, and the service's key
    /// its updater.
    pub async fn new(
        spec: FeedSpec,
        provider: DynProvider,
        config: ChainConfig,
        oracle: Address,
        me: Address,
        models: &Models,
        store: Arc<dyn Store>,
    ) -> crate::Result<Self> {
        let feed = spec.contract.to_string();
        let refused = |message: String| Error::Feed { feed: feed.clone(), message, retryable: false };
        let consumer = AiPriceFeed::new(spec.contract, provider.clone());
        let model_id = consumer.modelId().call().await.map_err(verdict_runtime::rpc)?;
        let served = u64::try_from(model_id)
            .ok()
            .and_then(|id| models.get(&id))
            .ok_or_else(|| refused(format!("it is for model {model_id}, which this service does not serve")))?;
        let updater = consumer.updater().call().await.map_err(verdict_runtime::rpc)?;
        // INVARIANT: only the feed's updater may request its rounds (it chooses the inputs).
        if updater != me {
            return Err(refused(format!(
                "its updater is {updater}, not this service's key {me}; only the updater may request rounds"
            )));
        }
        let source = Source::open(&spec.source).map_err(refused)?;
        Ok(Self {
            model: served.model.clone(),
            source,
            consumer,
            oracle: InferenceOracle::new(oracle, provider),
            model_id,
            me,
            config,
            store,
            spec,
        })
    }

    fn key(&self, what: &str) -> String {
        format!("feed:{}:{what}", self.spec.contract)
    }

    /// Requests a round when one is due; returns the request id when it made one.
    pub async fn tick(&self, now: u64) -> crate::Result<Option<u64>> {
        let feed = || self.spec.contract.to_string();
        let last: u64 = self.store.meta(&self.key("last"))?.and_then(|v| v.parse().ok()).unwrap_or(0);
        if now < last + self.spec.every {
            return Ok(None);
        }
        let cursor: u64 = self.store.meta(&self.key("cursor"))?.and_then(|v| v.parse().ok()).unwrap_or(0);
        let values = self.source.input(cursor).await.map_err(|message| Error::Feed {
            feed: feed(),
            message,
            retryable: true,
        })?;
        let input = self.model.quantize_input(&values)?;
        // Written before acting: a crash after this skips the round, never repeats it.
        self.store.set_meta(&self.key("cursor"), &(cursor + 1).to_string())?;
        self.store.set_meta(&self.key("last"), &now.to_string())?;
        let fee = self.oracle.estimateFee(self.model_id).call().await.map_err(verdict_runtime::rpc)?;
        let bytes = Bytes::from(input.iter().map(|v| *v as u8).collect::<Vec<u8>>());
        let call = self.consumer.requestRound(bytes).value(fee).from(self.me);
        // Through the responder: dry run, gas cap, fees, replacement, depth, recorded.
        let receipt = send_tx(self.store.as_tx_log(), &self.config, 0, "request_round", call).await?;
        let id = receipt
            .decoded_log::<InferenceOracle::RequestCreated>()
            .and_then(|created| u64::try_from(created.requestId).ok())
            .ok_or_else(|| Error::Feed {
                feed: feed(),
                message: "no RequestCreated in the round's receipt".into(),
                retryable: false,
            })?;
        tracing::info!(feed = %self.spec.contract, request = id, cursor, "feed round requested");
        Ok(Some(id))
    }
}

/// Runs the feeds until `shutdown`: a pass a second while this instance holds the lease, each
/// feed on its own schedule.
pub async fn run(
    feeds: Vec<Feed>,
    leader: verdict_runtime::lease::Leader,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if feeds.is_empty() {
        return;
    }
    loop {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        for feed in feeds.iter().filter(|_| leader.is_held()) {
            if let Err(e) = feed.tick(now).await {
                tracing::warn!(feed = %feed.spec.contract, "{e:#}");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
