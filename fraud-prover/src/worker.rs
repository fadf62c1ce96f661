//! `fraud-prover worker`: proves the proof jobs that services started with `--proof-workers`
//! leave in their database (`verdict_runtime::jobs`). A worker needs the database URL, the model
//! files (and a private model's blinding) and the keys, not the chain: each job names the model's
//! registered commitment, which the worker's files must open.
//!
//! One job at a time (a proof takes the machine's cores): claim, prove on a blocking thread while
//! a heartbeat renews the job's lease, record the proof (or why it failed). A worker killed
//! mid-proof leaves its job to the next claim after the lease. `/healthz` and `/metrics` report
//! the worker and the queue.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::{extract::State, http::StatusCode, routing::get, Json, Router};
use clap::Args;
use serde_json::json;
use verdict_circuits::{step::Blinding, Model};
use verdict_runtime::{
    db::Db,
    jobs::{Claimed, ProofQueue},
    models::{BlindingArg, ModelArg, ServedModel},
    prover::{prove_spec, ProverArgs, ProverConfig, Provers},
    served_as_registered, shutdown_signal,
};

use crate::Error;

/// `fraud-prover worker` flags (each with a `VERDICT_*` variable).
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The services' database: a `postgres://` URL (or, on the services' machine, their SQLite
    /// file).
    #[arg(long, env = "VERDICT_DB")]
    pub db: PathBuf,
    /// Prove for model `ID` with the model file `PATH` (repeat, or comma-separate). Jobs of other
    /// models are left to other workers.
    #[arg(long = "model", env = "VERDICT_MODELS", value_delimiter = ',', required = true)]
    pub models: Vec<ModelArg>,
    /// A private model's blinding file (`ID=PATH`; repeat, or comma-separate).
    #[arg(long = "blinding", env = "VERDICT_BLINDINGS", value_delimiter = ',', value_name = "ID=PATH")]
    pub blindings: Vec<BlindingArg>,
    /// The prover's key setup (the services' own).
    #[command(flatten)]
    pub prover: ProverArgs,
    /// This worker's name in the queue (default: the host's name and the listen address).
    #[arg(long, env = "VERDICT_INSTANCE")]
    pub instance: Option<String>,
    /// Seconds a claimed job stays this worker's without a heartbeat (renewed every third of
    /// it); a worker that dies loses its job to the next claim after this.
    #[arg(long, env = "VERDICT_JOB_LEASE_SECS", default_value_t = 30)]
    pub lease_secs: u64,
    /// Milliseconds between looks at the queue when it is empty.
    #[arg(long, env = "VERDICT_POLL_MS", default_value_t = 500)]
    pub poll_ms: u64,
    /// Where `/healthz` and `/metrics` listen.
    #[arg(long, env = "VERDICT_LISTEN", default_value = "127.0.0.1:8092")]
    pub listen: SocketAddr,
}

/// The worker's counters.
#[derive(Debug, Default)]
struct WorkerMetrics {
    done: AtomicU64,
    failed: AtomicU64,
    lost: AtomicU64,
    /// The job being proven (0: none).
    current: AtomicU64,
}

/// A model file as loaded, before a job names the commitment it is registered under.
struct ModelFile {
    model: Model,
    blinding: Option<Blinding>,
    origin: String,
}

/// Served models by (registry id, registered commitment).
type ServedByCommitment = HashMap<(u64, [u8; 32]), Arc<ServedModel>>;

/// Everything a proof needs, shared with the blocking prover thread.
struct Prover {
    files: HashMap<u64, ModelFile>,
    /// Served models by (id, registered commitment), made on first use.
    served: Mutex<ServedByCommitment>,
    provers: Provers,
    tile_keys: Mutex<Option<Arc<verdict_circuits::tiled::TileKeys>>>,
    config: ProverConfig,
}

impl Prover {
    fn served(&self, claimed: &Claimed) -> Result<Arc<ServedModel>, String> {
        let spec = &claimed.spec;
        let key = (spec.model_id, spec.commitment.0);
        if let Some(s) = self.served.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(s.clone());
        }
        let file =
            self.files.get(&spec.model_id).ok_or_else(|| format!("model {} is not served here", spec.model_id))?;
        let served = served_as_registered(
            spec.model_id,
            file.model.clone(),
            file.blinding.clone(),
            spec.commitment,
            &file.origin,
        )
        .map_err(|e| e.to_string())?;
        let served = Arc::new(served);
        self.served.lock().unwrap_or_else(|p| p.into_inner()).insert(key, served.clone());
        Ok(served)
    }

    /// The proof file of `claimed` (JSON), or why it cannot be made.
    fn prove(&self, claimed: &Claimed) -> Result<String, String> {
        let served = self.served(claimed)?;
        let proof = prove_spec(&claimed.spec, &served, &self.provers, &self.tile_keys, &self.config)?;
        serde_json::to_string(&proof).map_err(|e| e.to_string())
    }
}

/// Runs the worker until Ctrl-C or SIGTERM.
pub async fn work(args: WorkerArgs) -> crate::Result<()> {
    work_until(args, shutdown_signal()).await
}

/// Runs the worker until `shutdown` resolves (a proof in progress is abandoned: its lease runs
/// out and another worker claims it).
pub async fn work_until(args: WorkerArgs, shutdown: impl std::future::Future<Output = ()>) -> crate::Result<()> {
    let config = args.prover.config().ok_or_else(|| {
        Error::usage("a worker needs a key setup: --ptau-dir DIR (or --insecure-test-setup for tests)")
    })?;
    if let Some(b) = args.blindings.iter().find(|b| !args.models.iter().any(|m| m.id == b.id)) {
        return Err(Error::usage(format!("--blinding {}: model {} is not named by --model", b.id, b.id)));
    }
    let mut files = HashMap::new();
    for m in &args.models {
        let path = m
            .path
            .as_ref()
            .ok_or_else(|| Error::usage(format!("--model {}: a worker needs the model file (ID=PATH)", m.id)))?;
        let blinding = match args.blindings.iter().find(|b| b.id == m.id) {
            Some(b) => Some(Blinding::load(&b.path)?),
            None => None,
        };
        files.insert(m.id, ModelFile { model: Model::load(path)?, blinding, origin: path.display().to_string() });
    }
    let models: Vec<u64> = files.keys().copied().collect();
    let db = Arc::new(Db::open_shared(&args.db)?);
    let queue = ProofQueue::new(db.clone());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| Error::Io { what: format!("cannot listen on {}", args.listen), source })?;
    let local = listener.local_addr().map_err(|source| Error::Io { what: "the listener's address".into(), source })?;
    let name = args.instance.clone().unwrap_or_else(|| verdict_runtime::default_instance_name(local));
    let prover = Arc::new(Prover {
        files,
        served: Mutex::new(HashMap::new()),
        provers: Mutex::new(HashMap::new()),
        tile_keys: Mutex::new(None),
        config,
    });
    let metrics = Arc::new(WorkerMetrics::default());
    let lease = Duration::from_secs(args.lease_secs.max(1));
    type Shared = (Arc<WorkerMetrics>, ProofQueue, Arc<Db>, String);
    let state: Shared = (metrics.clone(), queue.clone(), db, name.clone());
    let app = Router::new()
        .route(
            "/healthz",
            get(|State((metrics, _, db, name)): State<Shared>| async move {
                let store = tokio::task::spawn_blocking(move || db.probe().is_ok()).await.unwrap_or(false);
                let code = if store { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
                let current = metrics.current.load(Ordering::Relaxed);
                (code, Json(json!({ "ok": store, "worker": name, "store": store, "job": (current != 0).then_some(current) })))
            }),
        )
        .route(
            "/metrics",
            get(|State((metrics, queue, _, _)): State<Shared>| async move {
                let stats = tokio::task::spawn_blocking(move || queue.stats()).await.ok().and_then(Result::ok);
                render(&metrics, stats.as_ref())
            }),
        )
        .with_state(state);
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let mut on_stop = stopped.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = on_stop.changed().await;
            })
            .await
    });
    tracing::info!(worker = %name, listen = %local, ?models, "proof worker ready");
    let poll = Duration::from_millis(args.poll_ms.max(50));
    let work = async {
        loop {
            let (q, n, m) = (queue.clone(), name.clone(), models.clone());
            let claimed = tokio::task::spawn_blocking(move || q.claim(&n, &m, lease)).await;
            match claimed {
                Ok(Ok(Some(job))) => run_job(&queue, &name, lease, &prover, &metrics, job).await,
                Ok(Ok(None)) => tokio::time::sleep(poll).await,
                Ok(Err(e)) => {
                    tracing::warn!("cannot read the queue: {e}");
                    tokio::time::sleep(poll * 4).await;
                }
                Err(e) => tracing::error!("the claim panicked: {e}"),
            }
        }
    };
    tokio::select! {
        () = work => {}
        () = shutdown => {}
        _ = stopped.changed() => {}
    }
    tracing::info!("shutting down");
    let _ = stop.send(true);
    match server.await {
        Ok(served) => served.map_err(|source| Error::Io { what: "the health server failed".into(), source })?,
        Err(e) => tracing::error!("the health task panicked: {e}"),
    }
    Ok(())
}

/// Proves one claimed job under a heartbeat and records the outcome.
async fn run_job(
    queue: &ProofQueue,
    name: &str,
    lease: Duration,
    prover: &Arc<Prover>,
    metrics: &Arc<WorkerMetrics>,
    job: Claimed,
) {
    let (id, request) = (job.id, job.spec.request);
    tracing::info!(
        job = id,
        request,
        model = job.spec.model_id,
        from = job.spec.from,
        to = job.spec.to,
        attempt = job.attempts,
        "proving"
    );
    metrics.current.store(id, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let heartbeat = {
        let (queue, name) = (queue.clone(), name.to_string());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                let (q, n) = (queue.clone(), name.clone());
                match tokio::task::spawn_blocking(move || q.heartbeat(id, &n, lease)).await {
                    Ok(Ok(true)) => {}
                    Ok(Ok(false)) => {
                        tracing::warn!(job = id, "the job's lease ran out and another worker holds it");
                        return;
                    }
                    Ok(Err(e)) => tracing::warn!(job = id, "cannot renew the job's lease: {e}"),
                    Err(e) => tracing::warn!(job = id, "the heartbeat panicked: {e}"),
                }
            }
        })
    };
    let p = prover.clone();
    let result = tokio::task::spawn_blocking(move || p.prove(&job))
        .await
        .unwrap_or_else(|e| Err(format!("the prover panicked: {e}")));
    heartbeat.abort();
    metrics.current.store(0, Ordering::Relaxed);
    let ms = started.elapsed().as_millis() as u64;
    let outcome = result.as_deref().map_err(String::as_str);
    let (q, n, r) = (queue.clone(), name.to_string(), outcome.map(str::to_string).map_err(str::to_string));
    let recorded = tokio::task::spawn_blocking(move || q.finish(id, &n, r.as_deref().map_err(String::as_str))).await;
    match (&result, recorded) {
        (_, Ok(Ok(false))) => {
            metrics.lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(job = id, ms, "finished a job another worker holds now: its result is discarded");
        }
        (Ok(_), Ok(Ok(true))) => {
            metrics.done.fetch_add(1, Ordering::Relaxed);
            tracing::info!(job = id, request, ms, "proven");
        }
        (Err(why), Ok(Ok(true))) => {
            metrics.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(job = id, request, ms, "cannot prove it: {why}");
        }
        (_, Ok(Err(e))) => tracing::warn!(job = id, "cannot record the result (the job will be claimed again): {e}"),
        (_, Err(e)) => tracing::error!(job = id, "recording the result panicked: {e}"),
    }
}

fn render(metrics: &WorkerMetrics, stats: Option<&verdict_runtime::jobs::QueueStats>) -> String {
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let mut out = String::new();
    for (name, help, v) in [
        ("verdict_worker_jobs_proven_total", "Jobs this worker proved.", get(&metrics.done)),
        ("verdict_worker_jobs_failed_total", "Jobs this worker could not prove.", get(&metrics.failed)),
        ("verdict_worker_jobs_lost_total", "Jobs finished after another worker took them over.", get(&metrics.lost)),
    ] {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"));
    }
    out.push_str(&format!(
        "# HELP verdict_worker_busy 1 while this worker proves a job.\n# TYPE verdict_worker_busy gauge\nverdict_worker_busy {}\n",
        u8::from(get(&metrics.current) != 0)
    ));
    if let Some(stats) = stats {
        stats.render(&mut out, "verdict_worker");
    }
    out
}
