//! `oracle serve`: the operator service. A chain loop ([`chain::Operator`]) that answers the
//! served models' requests and settles them, and the HTTP API ([`api::router`]), over one
//! [`Store`](crate::store::Store).

pub mod api;
pub mod chain;
pub mod defense;
pub mod feeds;
/// New-block subscriptions over WebSocket.
pub mod heads;
pub mod metrics;
pub mod models;
pub mod nonces;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use alloy::{
    network::EthereumWallet,
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use anyhow::{bail, Context};
use clap::Args;
use verdict_circuits::{Commitment, Model};
use verdict_contracts::{model_registry::ModelRegistry, Deployment};

use self::{
    api::{AppState, RateLimiter},
    chain::{ChainConfig, Operator},
    metrics::Metrics,
    models::{ModelArg, Models, ServedModel},
    nonces::Nonces,
};
use crate::store::{SqliteStore, Store};

/// `oracle serve` flags. Each has an environment variable; `--config FILE` reads a TOML file
/// whose keys are the flags' long names (flags given on the command line win). Secrets never
/// come from a flag value: the operator key from `--key-file` or `VERDICT_OPERATOR_KEY`, the API
/// token from `--api-token-file` or `VERDICT_API_TOKEN`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML file of flag values (keys are the long flag names).
    #[arg(long, env = "VERDICT_CONFIG")]
    pub config: Option<PathBuf>,
    /// The JSON-RPC endpoint.
    #[arg(long, env = "VERDICT_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: String,
    /// The deployment file (`contracts/deployments/*.json`).
    #[arg(long, env = "VERDICT_DEPLOYMENT")]
    pub deployment: PathBuf,
    /// A file holding the operator's hex private key (or set `VERDICT_OPERATOR_KEY`).
    #[arg(long, env = "VERDICT_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Serve registered model `ID` with the model file `PATH` (repeat, or comma-separate).
    #[arg(long = "model", env = "VERDICT_MODELS", value_delimiter = ',', required = true)]
    pub models: Vec<ModelArg>,
    /// The SQLite file.
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
    /// A WebSocket endpoint of the same node (ws://…): a pass runs on every new block it
    /// announces (`eth_subscribe`), besides the polls. Without it, the service polls only.
    #[arg(long, env = "VERDICT_WS_URL")]
    pub ws_url: Option<String>,
    /// Milliseconds between chain passes.
    #[arg(long, env = "VERDICT_POLL_MS", default_value_t = 1000)]
    pub poll_ms: u64,
    /// Blocks an event must be deep before it is processed.
    #[arg(long, env = "VERDICT_CONFIRMATIONS", default_value_t = 0)]
    pub confirmations: u64,
    /// The first block to scan on a fresh store.
    #[arg(long, env = "VERDICT_START_BLOCK", default_value_t = 0)]
    pub start_block: u64,
    /// Blocks a sent transaction must be deep before the service moves on.
    #[arg(long, env = "VERDICT_TX_CONFIRMATIONS", default_value_t = 1)]
    pub tx_confirmations: u64,
    /// Allow this browser origin cross-origin access to the API (CORS is off without it).
    #[arg(long, env = "VERDICT_CORS_ORIGIN")]
    pub cors_origin: Option<String>,
    /// Seconds a sent transaction may stay unmined before it is replaced (same nonce, fees
    /// raised to at least 125%).
    #[arg(long, env = "VERDICT_REPLACE_AFTER_SECS", default_value_t = 60)]
    pub replace_after_secs: u64,
    /// The most gas one transaction may use.
    #[arg(long, env = "VERDICT_GAS_CAP", default_value_t = 2_000_000)]
    pub gas_cap: u64,
    /// A scheduled feed: `contract=0x…,source=csv:PATH|http(s)://URL,every=SECONDS` (repeat).
    /// The contract is an `AiPriceFeed` of a served model; the service pays each round's fee.
    #[arg(long = "feed", env = "VERDICT_FEEDS", value_delimiter = ';')]
    pub feeds: Vec<feeds::FeedSpec>,
    /// Powers-of-tau files for the prover's keys (defending disputes needs a setup).
    #[arg(long, env = "VERDICT_PTAU_DIR", conflicts_with = "insecure_test_setup")]
    pub ptau_dir: Option<PathBuf>,
    /// Prove with the insecure test setup (public tau): tests and the local demo only.
    #[arg(long, env = "VERDICT_INSECURE_TEST_SETUP")]
    pub insecure_test_setup: bool,
    /// The proving-key cache.
    #[arg(long, env = "VERDICT_KEYS_DIR", default_value = ".verdict/keys")]
    pub keys_dir: PathBuf,
    /// Lie on purpose, for tests and the demo: propose a wrong output (its first value + 1000)
    /// with a trace consistent with it, and play the dispute with that trace (the final proof
    /// then cannot be made, so the lie loses its bond). Never on a real chain.
    #[arg(long, env = "VERDICT_DISHONEST", hide = true)]
    pub dishonest: bool,
}

fn read_secret(file: Option<&PathBuf>, env: &str, what: &str) -> anyhow::Result<Option<String>> {
    if let Some(path) = file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read the {what} file {}", path.display()))?;
        return Ok(Some(text.trim().to_string()));
    }
    Ok(std::env::var(env).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()))
}

/// Turns `--config FILE` into command-line arguments placed before the given ones (which win).
pub fn expand_config(args: Vec<String>) -> anyhow::Result<Vec<String>> {
    let Some(pos) = args.iter().position(|a| a == "--config" || a.starts_with("--config=")) else {
        return Ok(args);
    };
    let path = match args[pos].strip_prefix("--config=") {
        Some(p) => p.to_string(),
        None => args.get(pos + 1).cloned().context("--config needs a file")?,
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read the config file {path}"))?;
    let table: toml::Table = text.parse().with_context(|| format!("invalid TOML in {path}"))?;
    let Some(serve) = args.iter().position(|a| a == "serve") else {
        return Ok(args);
    };
    let mut from_file = Vec::new();
    for (key, value) in table {
        if matches!(key.as_str(), "key" | "operator_key" | "api_token") {
            bail!("{path}: secrets do not belong in the config file; use key_file / api_token_file");
        }
        let flag = format!("--{}", key.replace('_', "-"));
        let values: Vec<String> = match value {
            toml::Value::String(s) => vec![s],
            toml::Value::Integer(i) => vec![i.to_string()],
            toml::Value::Boolean(b) => vec![b.to_string()],
            toml::Value::Array(items) => {
                items.into_iter().map(|v| v.as_str().map_or(v.to_string(), str::to_string)).collect()
            }
            other => bail!("{path}: unsupported value for {key}: {other}"),
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

/// The signing provider for the key from `key_file` (or the `key_env` variable), checked to
/// serve the deployment's chain: `(provider, the key's address, the deployment, its nonces)`.
/// The provider fills gas, the chain id and nonces (from the returned [`Nonces`]) and signs.
pub async fn connect(
    rpc_url: &str,
    key_file: Option<&PathBuf>,
    key_env: &str,
    role: &str,
    deployment: &std::path::Path,
) -> anyhow::Result<(DynProvider, Address, Deployment, Nonces)> {
    let key = read_secret(key_file, key_env, "key")?
        .with_context(|| format!("no {role} key: pass --key-file or set {key_env}"))?;
    let signer: PrivateKeySigner = key.parse().with_context(|| format!("the {role} key is not a hex private key"))?;
    let me = signer.address();
    let deployment = Deployment::load(deployment)?;
    let url = rpc_url.parse().with_context(|| format!("invalid RPC URL {rpc_url}"))?;
    let nonces = Nonces::default();
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_nonce_management(nonces.clone())
        .fetch_chain_id()
        .wallet(EthereumWallet::from(signer))
        .connect_http(url)
        .erased();
    let chain_id = provider.get_chain_id().await.context("the chain is not reachable")?;
    if chain_id != deployment.chain_id {
        bail!("the RPC serves chain {chain_id}, the deployment is for chain {}", deployment.chain_id);
    }
    Ok((provider, me, deployment, nonces))
}

/// The prover's key setup the flags ask for (`None` without one; the insecure one warns).
pub fn prover_config(
    ptau_dir: Option<&PathBuf>,
    insecure_test_setup: bool,
    keys_dir: &std::path::Path,
) -> Option<defense::ProverConfig> {
    let source = match (ptau_dir, insecure_test_setup) {
        (Some(dir), _) => verdict_circuits::folding::KeySource::PtauDir(dir.clone()),
        (None, true) => {
            verdict_circuits::folding::warn_insecure();
            verdict_circuits::folding::KeySource::InsecureTest
        }
        (None, false) => return None,
    };
    Some(defense::ProverConfig { source, keys_dir: keys_dir.to_path_buf() })
}

/// Loads the served models and checks each against the registry (commitment and shape).
pub async fn load_models(provider: &DynProvider, registry: Address, args: &[ModelArg]) -> anyhow::Result<Models> {
    let registry = ModelRegistry::new(registry, provider.clone());
    let mut models = Models::new();
    for arg in args {
        let onchain = registry
            .model(alloy::primitives::U256::from(arg.id))
            .call()
            .await
            .with_context(|| format!("cannot read model {} from the registry", arg.id))?;
        let (model, origin) = match &arg.path {
            Some(path) => (Model::load(path)?, path.display().to_string()),
            None => {
                (fetch_model(&onchain.uri).await.with_context(|| format!("model {}", arg.id))?, onchain.uri.clone())
            }
        };
        let commitment = model.commitment();
        let registered = Commitment(onchain.commitment.0);
        // INVARIANT: weights are used only when they open the registered commitment.
        if registered != commitment {
            bail!(
                "model {} in the registry commits to {registered}, but {origin} commits to {commitment}; refusing to serve it",
                arg.id,
            );
        }
        if usize::from(onchain.inputLen) != model.input.len
            || usize::from(onchain.outputLen) != model.output_len()
            || onchain.steps as usize != model.steps()
        {
            bail!("model {}: the registry's shape differs from {origin}", arg.id);
        }
        tracing::info!(model = arg.id, name = %model.name, from = %origin, "model loaded and matched to the registry");
        models.insert(arg.id, ServedModel { id: arg.id, model, commitment });
    }
    Ok(models)
}

/// Refuses a model whose registration this service cannot rely on, naming the mismatch: its
/// verifier must be the deployment's `NovaVerifier` (a model owner's own verifier could reject
/// every honest proof, or accept every false one), its key must be published there, its weight
/// mode must be the expected one, and, when `digest` is given (the digest of the key this
/// service's circuit for the model exports under its setup), its `vkDigest` must be exactly that
/// (a key for another circuit would let a liar prove another computation).
pub async fn check_registration(
    provider: &DynProvider,
    deployment: &Deployment,
    id: u64,
    private: bool,
    digest: Option<[u8; 32]>,
) -> anyhow::Result<()> {
    let registry = ModelRegistry::new(deployment.registry, provider.clone());
    let m = registry
        .model(alloy::primitives::U256::from(id))
        .call()
        .await
        .with_context(|| format!("cannot read model {id} from the registry"))?;
    // INVARIANT: proofs about this model are judged by the deployment's own verifier.
    if m.verifier != deployment.verifier {
        bail!(
            "model {id} is registered with verifier {}, not the deployment's NovaVerifier {}; refusing it",
            m.verifier,
            deployment.verifier
        );
    }
    if m.isPrivate != private {
        let (is, expected) = if m.isPrivate { ("private", "public") } else { ("public", "private") };
        bail!("model {id} is registered with {is} weights, but is used here as a {expected} model; refusing it");
    }
    let verifier = verdict_contracts::NovaVerifier::new(deployment.verifier, provider.clone());
    let pointer =
        verifier.keyOf(m.vkDigest).call().await.with_context(|| format!("model {id}: cannot read its key"))?;
    if pointer == Address::ZERO {
        bail!("model {id}: its verifying key {} is not published in the NovaVerifier; refusing it", m.vkDigest);
    }
    match digest {
        Some(ours) if ours != m.vkDigest.0 => bail!(
            "model {id} is registered with verifying key {}, but its circuit's key under this setup is {}; refusing it",
            m.vkDigest,
            alloy::primitives::B256::from(ours)
        ),
        Some(_) => tracing::info!(model = id, vk = %m.vkDigest, "verifying key matches the registry"),
        None => tracing::warn!(
            model = id,
            "no prover setup: the registered verifying key cannot be checked against the model's circuit"
        ),
    }
    Ok(())
}

/// [`check_registration`] of every served public model, with the digest of its circuit's key under
/// `defender`'s setup (when it has one).
pub async fn check_public_registrations(
    provider: &DynProvider,
    deployment: &Deployment,
    models: &Models,
    defender: &defense::Defender,
) -> anyhow::Result<()> {
    for (id, served) in models {
        let digest = defender.key_digest(&served.model).await.map_err(|e| anyhow::anyhow!("model {id}: {e}"))?;
        check_registration(provider, deployment, *id, false, digest).await?;
    }
    Ok(())
}

/// The model file at a registered URI: `file://PATH` (relative to the working directory) or
/// `http://…` (at most 64 MiB, 30 s).
pub async fn fetch_model(uri: &str) -> anyhow::Result<Model> {
    if let Some(path) = uri.strip_prefix("file://") {
        return Ok(Model::load(path)?);
    }
    if uri.starts_with("http://") {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        let response = client.get(uri).send().await?.error_for_status()?;
        if response.content_length().is_some_and(|n| n > 64 << 20) {
            bail!("{uri}: larger than 64 MiB");
        }
        let bytes = response.bytes().await?;
        if bytes.len() > 64 << 20 {
            bail!("{uri}: larger than 64 MiB");
        }
        let text = std::str::from_utf8(&bytes).with_context(|| format!("{uri}: not UTF-8"))?;
        return Model::from_json(text).with_context(|| format!("{uri}: not a model file"));
    }
    if uri.is_empty() {
        bail!("no URI is registered (a private model?): pass ID=PATH");
    }
    bail!("unsupported URI {uri:?}: expected file://PATH or http://…; pass ID=PATH instead")
}

/// Runs the service until Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let token = read_secret(args.api_token_file.as_ref(), "VERDICT_API_TOKEN", "API token")?;
    let (provider, me, deployment, nonces) =
        connect(&args.rpc_url, args.key_file.as_ref(), "VERDICT_OPERATOR_KEY", "operator", &args.deployment).await?;
    let models = Arc::new(load_models(&provider, deployment.registry, &args.models).await?);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&args.db)?);
    let metrics = Arc::new(Metrics::default());
    let config = ChainConfig {
        poll_interval: Duration::from_millis(args.poll_ms.max(50)),
        confirmations: args.confirmations,
        start_block: args.start_block,
        max_log_range: 2_000,
        gas_cap: args.gas_cap,
        receipt_timeout: Duration::from_secs(120).max(Duration::from_secs(args.replace_after_secs * 4)),
        tx_confirmations: args.tx_confirmations,
        replace_after: Duration::from_secs(args.replace_after_secs.max(1)),
        nonces: nonces.clone(),
    };
    let mut scheduled = Vec::new();
    for spec in &args.feeds {
        scheduled.push(
            feeds::Feed::new(
                spec.clone(),
                provider.clone(),
                nonces.clone(),
                deployment.oracle,
                me,
                &models,
                store.clone(),
            )
            .await?,
        );
    }
    let prover = prover_config(args.ptau_dir.as_ref(), args.insecure_test_setup, &args.keys_dir);
    if prover.is_none() {
        tracing::warn!("no prover setup (--ptau-dir or --insecure-test-setup): challenged proposals cannot be proven");
    }
    let defender = defense::Defender::new(provider.clone(), deployment.dispute_game, me, prover);
    check_public_registrations(&provider, &deployment, &models, &defender).await?;
    if args.dishonest {
        tracing::warn!("DISHONEST MODE: every proposal is a deliberate lie (tests and demos only)");
    }
    let operator =
        Operator::new(provider.clone(), deployment.oracle, me, store.clone(), models.clone(), metrics.clone(), config)
            .with_defender(defender)
            .dishonest(args.dishonest)
            .with_heads(args.ws_url.clone().map_or_else(heads::NewHeads::none, heads::NewHeads::subscribe));
    let state = Arc::new(AppState {
        store,
        models,
        metrics,
        provider,
        nonces,
        oracle: deployment.oracle,
        me,
        token,
        limiter: RateLimiter::new(args.rate_limit),
        cors_origin: args
            .cors_origin
            .as_deref()
            .map(axum::http::HeaderValue::from_str)
            .transpose()
            .context("--cors-origin is not a valid header value")?,
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(operator = %me, listen = %listener.local_addr()?, "serving");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let chain = tokio::spawn(operator.run(stopped.clone()));
    let feeds = tokio::spawn(feeds::run(scheduled, stopped.clone()));
    let mut on_stop = stopped.clone();
    let server = axum::serve(listener, api::router(state)).with_graceful_shutdown(async move {
        let _ = on_stop.changed().await;
    });
    let server = tokio::spawn(async move { server.await });
    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop.send(true);
    let _ = chain.await;
    let _ = feeds.await;
    server.await.context("the API task panicked")?.context("the API server failed")?;
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
