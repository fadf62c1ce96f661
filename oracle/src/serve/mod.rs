//! `oracle serve`: the operator service. A chain loop ([`chain::Operator`]) that answers the
//! served models' requests and settles them, and the HTTP API ([`api::router`]), over one
//! [`Store`](crate::store::Store).

pub mod api;
pub mod chain;
pub mod decide;
pub mod feeds;
pub mod metrics;
pub mod submit;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use clap::Args;
use verdict_runtime::{
    check_public_registrations, connect,
    jobs::ProofQueue,
    lease::Leader,
    load_models,
    models::ModelArg,
    prover::{Defender, ProverArgs},
    read_secret,
    receipts::Receipts,
    shutdown_signal, ChainArgs,
};

use self::{
    api::{AppState, RateLimiter},
    chain::Operator,
    metrics::Metrics,
    submit::Submitter,
};
use crate::{
    store::{SqlStore, Store},
    Error,
};

/// `oracle serve` flags. Each has an environment variable; `--config FILE` reads a TOML file
/// whose keys are the flags' long names (flags given on the command line win). Secrets never
/// come from a flag value: the operator key from `--key-file` or `VERDICT_OPERATOR_KEY`, the API
/// token from `--api-token-file` or `VERDICT_API_TOKEN`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML file of flag values (keys are the long flag names).
    #[arg(long, env = "VERDICT_CONFIG")]
    pub config: Option<PathBuf>,
    /// The chain.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// A file holding the operator's hex private key (or set `VERDICT_OPERATOR_KEY`).
    #[arg(long, env = "VERDICT_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Serve registered model `ID` with the model file `PATH` (repeat, or comma-separate).
    #[arg(long = "model", env = "VERDICT_MODELS", value_delimiter = ',', required = true)]
    pub models: Vec<ModelArg>,
    /// Serve model `ID` as a private model with the blinding file `PATH` (`fraud-prover
    /// blinding`; repeat, or comma-separate): the model file and the blinding must open its
    /// registered commitment. Its weights and traces are never served; a challenge is answered
    /// with a proof of the whole inference in private-weight mode.
    #[arg(long = "blinding", env = "VERDICT_BLINDINGS", value_delimiter = ',', value_name = "ID=PATH")]
    pub blindings: Vec<verdict_runtime::models::BlindingArg>,
    /// The store: a SQLite file's path, or a `postgres://` URL (a database that several instances
    /// of this operator may share: one acts at a time, the others stand by).
    #[arg(long, env = "VERDICT_DB", default_value = ".verdict/oracle.sqlite")]
    pub db: PathBuf,
    /// Where the HTTP API listens.
    #[arg(long, env = "VERDICT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// A file holding the API's bearer token (or set `VERDICT_API_TOKEN`); without one, the API
    /// takes no writes.
    #[arg(long, env = "VERDICT_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,
    /// Writes a token may make a minute.
    #[arg(long, env = "VERDICT_RATE_LIMIT", default_value_t = 60)]
    pub rate_limit: u32,
    /// Allow this browser origin cross-origin access to the API (CORS is off without it).
    #[arg(long, env = "VERDICT_CORS_ORIGIN")]
    pub cors_origin: Option<String>,
    /// The most gas one transaction may use. `openDispute` recomputes the input's commitment
    /// on-chain: 2.66M gas for a 784-value input (`digits_1m`); a one-tile proof is about 865k.
    #[arg(long, env = "VERDICT_GAS_CAP", default_value_t = 5_000_000)]
    pub gas_cap: u64,
    /// The most requests one transaction carries: the proposals of requests that arrive
    /// together go out as one `proposeMany`, and the API's requests as one `requestMany` (a
    /// batch that reverts is sent again one by one). 1 sends one transaction a request.
    #[arg(long, env = "VERDICT_BATCH_MAX", default_value_t = verdict_runtime::batch::DEFAULT_MAX, value_parser = clap::value_parser!(usize))]
    pub batch_max: usize,
    /// A scheduled feed: `contract=0x…,source=csv:PATH|http(s)://URL,every=SECONDS` (repeat).
    /// The contract is an `AiPriceFeed` of a served model; the service pays each round's fee.
    #[arg(long = "feed", env = "VERDICT_FEEDS", value_delimiter = ';')]
    pub feeds: Vec<feeds::FeedSpec>,
    /// The prover's key setup (defending disputes needs one).
    #[command(flatten)]
    pub prover: ProverArgs,
    /// Leave proofs to `fraud-prover worker` processes on the same database (`--db`, shared over
    /// PostgreSQL with workers on other machines); each result is checked here with the
    /// reference verifier before it is submitted. Without it, proofs are made in this process.
    #[arg(long, env = "VERDICT_PROOF_WORKERS")]
    pub proof_workers: bool,
    /// Lie on purpose, for tests and the demo: propose a wrong output (its first value + 1000)
    /// with a trace consistent with it, and play the dispute with that trace (the final proof
    /// then cannot be made, so the lie loses its bond). Never on a real chain.
    #[arg(long, env = "VERDICT_DISHONEST", hide = true)]
    pub dishonest: bool,
}

/// Turns `--config FILE` into command-line arguments placed before the given ones (which win).
pub fn expand_config(args: Vec<String>) -> crate::Result<Vec<String>> {
    let Some(pos) = args.iter().position(|a| a == "--config" || a.starts_with("--config=")) else {
        return Ok(args);
    };
    let path = match args[pos].strip_prefix("--config=") {
        Some(p) => p.to_string(),
        None => args.get(pos + 1).cloned().ok_or_else(|| Error::config("--config needs a file"))?,
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|source| Error::Io { what: format!("cannot read the config file {path}"), source })?;
    let table: toml::Table = text.parse().map_err(|e| Error::config(format!("invalid TOML in {path}: {e}")))?;
    let Some(serve) = args.iter().position(|a| a == "serve") else {
        return Ok(args);
    };
    let mut from_file = Vec::new();
    for (key, value) in table {
        if matches!(key.as_str(), "key" | "operator_key" | "api_token") {
            return Err(Error::config(format!(
                "{path}: secrets do not belong in the config file; use key_file / api_token_file"
            )));
        }
        let flag = format!("--{}", key.replace('_', "-"));
        let values: Vec<String> = match value {
            toml::Value::String(s) => vec![s],
            toml::Value::Integer(i) => vec![i.to_string()],
            toml::Value::Boolean(b) => vec![b.to_string()],
            toml::Value::Array(items) => {
                items.into_iter().map(|v| v.as_str().map_or(v.to_string(), str::to_string)).collect()
            }
            other => return Err(Error::config(format!("{path}: unsupported value for {key}: {other}"))),
        };
        for v in values {
            from_file.push(flag.clone());
            from_file.push(v);
        }
    }
    let mut out = args[..=serve].to_vec();
    out.extend(from_file);
    out.extend(args[serve + 1..].iter().cloned());
    Ok(out)
}

/// Runs the service until Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs) -> crate::Result<()> {
    serve_until(args, shutdown_signal()).await
}

/// Runs the service until `shutdown` resolves (then stops taking work, lets the jobs in flight
/// finish for a moment, and returns).
pub async fn serve_until(args: ServeArgs, shutdown: impl std::future::Future<Output = ()>) -> crate::Result<()> {
    let token = read_secret(args.api_token_file.as_ref(), "VERDICT_API_TOKEN", "API token")?;
    let verdict_runtime::Connection { provider, me, deployment, nonces } = connect(
        &args.chain.rpc_url,
        args.key_file.as_ref(),
        "VERDICT_OPERATOR_KEY",
        "operator",
        &args.chain.deployment,
    )
    .await?;
    let models = Arc::new(load_models(&provider, deployment.registry, &args.models, &args.blindings).await?);
    let store: Arc<dyn Store> = Arc::new(SqlStore::open(&args.db)?);
    let metrics = Arc::new(Metrics::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // Instances sharing the database act one at a time: the lease's holder.
    let (listener, local, leader) =
        Leader::listen_and_start("operator", store.db(), me, &args.chain, args.listen, &nonces, &stopped).await?;
    let receipts = Receipts::spawn(provider.clone(), Duration::from_millis(250));
    let mut config = args.chain.config(args.gas_cap, nonces.clone(), Some(receipts));
    config.leader = Some(leader.clone());
    let mut scheduled = Vec::new();
    for spec in &args.feeds {
        scheduled.push(
            feeds::Feed::new(
                spec.clone(),
                provider.clone(),
                config.clone(),
                deployment.oracle,
                me,
                &models,
                store.clone(),
            )
            .await?,
        );
    }
    let prover = args.prover.config();
    if prover.is_none() {
        tracing::warn!("no prover setup (--ptau-dir or --insecure-test-setup): challenged proposals cannot be proven");
    }
    let mut defender = Defender::new(provider.clone(), deployment.dispute_game, me, prover);
    if args.proof_workers {
        defender = defender.with_queue(ProofQueue::new(store.db().clone()));
    }
    check_public_registrations(&provider, &deployment, &models, &defender).await?;
    if args.dishonest {
        tracing::warn!("DISHONEST MODE: every proposal is a deliberate lie (tests and demos only)");
    }
    let submitter = Arc::new(
        Submitter::new(provider.clone(), deployment.oracle, me, store.clone(), config.clone(), metrics.clone())
            .with_batch_max(args.batch_max),
    );
    let operator =
        Operator::new(provider.clone(), deployment.oracle, me, store.clone(), models.clone(), metrics.clone(), config)
            .with_batch_max(args.batch_max)
            .with_defender(defender)
            .with_submitter(submitter.clone())
            .dishonest(args.dishonest)
            .with_heads(args.chain.heads());
    let state = Arc::new(AppState {
        store,
        models,
        metrics,
        oracle: verdict_contracts::inference_oracle::InferenceOracle::new(deployment.oracle, provider.clone()),
        provider,
        submitter,
        leader: leader.clone(),
        token,
        limiter: RateLimiter::new(args.rate_limit),
        cors_origin: args
            .cors_origin
            .as_deref()
            .map(axum::http::HeaderValue::from_str)
            .transpose()
            .map_err(|_| Error::config("--cors-origin is not a valid header value"))?,
    });
    tracing::info!(operator = %me, listen = %local, instance = leader.holder(), "serving");
    let chain = tokio::spawn(Arc::new(operator).run(stopped.clone()));
    let feeds = tokio::spawn(feeds::run(scheduled, leader, stopped.clone()));
    let mut on_stop = stopped.clone();
    let app = api::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    // The API runs on threads of its own, its socket on their I/O driver: a burst of chain jobs
    // (a block's requests, each writing to the store) cannot hold up its answers.
    let api_runtime = ApiRuntime(Some(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(API_THREADS)
            .thread_name("verdict-api")
            .enable_all()
            .build()
            .map_err(|source| Error::Io { what: "cannot start the API's threads".into(), source })?,
    ));
    let listener = listener.into_std().map_err(|source| Error::Io { what: "the API's socket".into(), source })?;
    let server = api_runtime.handle().spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = on_stop.changed().await;
            })
            .await
    });
    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop.send(true);
    let _ = chain.await;
    let _ = feeds.await;
    let served = server.await;
    drop(api_runtime);
    match served {
        Ok(served) => served.map_err(|source| Error::Io { what: "the API server failed".into(), source })?,
        Err(e) => tracing::error!("the API task panicked: {e}"),
    }
    Ok(())
}

/// The API's own worker threads.
const API_THREADS: usize = 4;

/// The API's runtime, shut down in the background when dropped: the service's future may be
/// dropped on an async thread (a task aborted mid-flight), where dropping a runtime would panic.
struct ApiRuntime(Option<tokio::runtime::Runtime>);

impl ApiRuntime {
    fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().expect("the runtime lives until dropped").handle()
    }
}

impl Drop for ApiRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
