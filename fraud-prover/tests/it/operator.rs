//! A real operator (`oracle serve`, honest or `--dishonest`) on the test chain, run in-process
//! from the `verdict-oracle` library (a test-only dependency: the watchtower itself does not
//! depend on the operator).

use std::time::Duration;

use clap::Parser;
use tokio::{sync::oneshot, task::JoinHandle};
use verdict_testkit::{free_port, root, wait_for, Env};

/// A running operator service.
pub(crate) struct Operator {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<verdict_oracle::Result<()>>>,
    pub(crate) url: String,
}

impl Operator {
    /// Starts `oracle serve` for `env`'s operator key, serving model 1, with `extra` flags.
    pub(crate) fn start(env: &Env, extra: &[&str]) -> Self {
        Self::start_at(env, "oracle.sqlite", extra)
    }

    /// [`start`](Self::start) with the database `db`: a file in the chain's folder, or a
    /// `postgres://` URL.
    pub(crate) fn start_at(env: &Env, db: &str, extra: &[&str]) -> Self {
        let port = free_port();
        let deployment = env.path("deployment.json");
        let key = env.path("operator.key");
        let token = env.path("api.token");
        let db = if db.contains("://") { std::path::PathBuf::from(db) } else { env.path(db) };
        let model = format!("1={}", root().join("models/price_feed.model.json").display());
        let listen = format!("127.0.0.1:{port}");
        let mut args: Vec<&str> = vec!["oracle", "serve", "--rpc-url", &env.rpc, "--poll-ms", "200"];
        args.extend(["--deployment", deployment.to_str().unwrap(), "--key-file", key.to_str().unwrap()]);
        args.extend(["--api-token-file", token.to_str().unwrap(), "--db", db.to_str().unwrap()]);
        args.extend(["--model", &model, "--listen", &listen]);
        args.extend(extra);
        let verdict_oracle::Command::Serve(serve) = verdict_oracle::Cli::parse_from(args).command else {
            unreachable!("a serve command line")
        };
        logging();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(verdict_oracle::serve::serve_until(*serve, async move {
            let _ = stopped.await;
        }));
        Self { stop: Some(stop), task: Some(task), url: format!("http://{listen}") }
    }

    /// `oracle serve --dishonest`, started and ready.
    pub(crate) async fn dishonest(env: &Env) -> Self {
        let keys = env.path("keys");
        let liar = Self::start(env, &["--dishonest", "--insecure-test-setup", "--keys-dir", keys.to_str().unwrap()]);
        liar.ready().await;
        liar
    }

    /// Waits until its API answers `/healthz`.
    pub(crate) async fn ready(&self) {
        let client = reqwest::Client::new();
        wait_for(Duration::from_secs(120), || async {
            client.get(format!("{}/healthz", self.url)).send().await.is_ok_and(|r| r.status().is_success())
        })
        .await;
    }

    /// Stops it (as on SIGTERM; it finishes in the background).
    pub(crate) fn kill(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// What the service returned (it stops by itself only on an error).
    pub(crate) async fn outcome(mut self, limit: Duration) -> verdict_oracle::Result<()> {
        let task = self.task.take().expect("running");
        tokio::time::timeout(limit, task).await.expect("the service stopped in time").expect("no panic")
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Where the in-process services of this test binary log (one file for all; read on failure).
fn log_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("verdict-fraud-prover-it-{}.log", std::process::id()))
}

/// Sends the in-process services' logs to [`log_path`] (once a binary).
fn logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(file) = std::fs::File::create(log_path()) {
            let _ = tracing_subscriber::fmt()
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
                .try_init();
        }
    });
}

/// The whole log of the in-process services of this binary (every test's, interleaved: count
/// in it only what one test alone can write).
pub(crate) fn full_log() -> String {
    std::fs::read_to_string(log_path()).unwrap_or_default()
}

/// The last 20,000 characters of the in-process services' log.
pub(crate) fn log() -> String {
    let text = full_log();
    let mut cut = text.len().saturating_sub(20_000);
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    text[cut..].to_string()
}
