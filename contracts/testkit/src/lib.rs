//! Verdict's test kit: a real anvil chain (started from alloy's node bindings, dying with its
//! handle) with the real contracts deployed — the registry, the Nova verifier, the oracle, the
//! dispute game and a price feed — the price-feed model registered with its real verifying key,
//! the operator bonded, and the files the services read. Both services' integration tests use
//! it; nothing in it is a fake. [`postgres`] starts a real PostgreSQL server for the tests of
//! the PostgreSQL backend.

pub mod postgres;

use std::{
    net::TcpListener,
    path::PathBuf,
    time::{Duration, Instant},
};

use alloy::{
    network::EthereumWallet,
    node_bindings::{Anvil, AnvilInstance},
    primitives::{aliases::U96, Address, Bytes, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use serde_json::{json, Value};
use verdict_circuits::Model;
use verdict_contracts::{ai_price_feed::AiPriceFeed, inference_oracle::InferenceOracle, DisputeGame, ModelRegistry};

/// The price-feed model's verifying-key blob (public weights, insecure test setup: the keys the
/// services derive too), set up once per test binary.
pub fn price_feed_key() -> &'static verdict_circuits::evm::EvmKey {
    static KEY: std::sync::OnceLock<verdict_circuits::evm::EvmKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let model = Model::load(root().join("models/price_feed.model.json")).unwrap();
        let source = verdict_circuits::folding::KeySource::InsecureTest;
        let (prover, _) = verdict_circuits::prover::ModelProver::setup(
            model,
            verdict_circuits::step::WeightMode::Public,
            &source,
            None,
        )
        .unwrap();
        prover.evm_key().unwrap()
    })
}

/// The operator bond (and twice the challenger bond).
pub const BOND: u64 = 1_000_000_000_000_000_000;
/// The liveness window, seconds.
pub const WINDOW: u64 = 3;
/// The API token in `api.token`.
pub const TOKEN: &str = "test-token-7f3a";
/// The dispute game's chess clock, seconds.
pub const CLOCK: u64 = 20;
/// Long enough for a segment proof on a loaded 2-core machine, short enough for a test.
pub const PROOF_WINDOW: u64 = 60;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A chain with the protocol deployed, the price-feed model registered (id 1), the operator
/// bonded, and the files the service reads.
pub struct Env {
    _anvil: AnvilInstance,
    /// Signs for the deployer, the operator, the user and the watcher.
    pub provider: DynProvider,
    /// `InferenceOracle`.
    pub oracle: InferenceOracle::InferenceOracleInstance<DynProvider>,
    /// The price feed of model 1 (its updater is `user`).
    pub feed: AiPriceFeed::AiPriceFeedInstance<DynProvider>,
    /// The consumer (anvil key 2).
    pub user: Address,
    /// The bonded operator (anvil key 1; its key in `operator.key`).
    pub operator: Address,
    /// The watchtower (anvil key 3; its key in `watcher.key`).
    pub watcher: Address,
    /// `DisputeGame`.
    pub game: verdict_contracts::dispute_game::DisputeGame::DisputeGameInstance<DynProvider>,
    /// The price-feed model (registered as model 1).
    pub model: Model,
    dir: tempfile::TempDir,
    /// The node's HTTP endpoint.
    pub rpc: String,
}

impl Env {
    /// A chain with 1-second blocks.
    pub async fn new() -> Self {
        Self::with_block_time(Some(1)).await
    }

    /// A chain with `block_time`-second blocks, or one block per transaction (`None`).
    pub async fn with_block_time(block_time: Option<u64>) -> Self {
        Self::start(block_time, &[]).await
    }

    /// A chain with `block_time`-second blocks (or one block per transaction), anvil started
    /// with `anvil_args` besides (a block gas limit, say).
    pub async fn start(block_time: Option<u64>, anvil_args: &[&str]) -> Self {
        Self::start_with_clock(block_time, anvil_args, CLOCK).await
    }

    /// [`start`](Self::start) with each side's dispute clock `clock` seconds (a model of many
    /// tiles has a long bisection).
    pub async fn start_with_clock(block_time: Option<u64>, anvil_args: &[&str], clock: u64) -> Self {
        let mut anvil = Anvil::new().path(root().join(".tools/bin/anvil")).args(anvil_args.iter().copied());
        if let Some(seconds) = block_time {
            anvil = anvil.block_time(seconds);
        }
        let anvil = anvil.try_spawn().expect("anvil starts (run scripts/setup.sh first)");
        let keys: Vec<PrivateKeySigner> = anvil.keys()[..4].iter().cloned().map(Into::into).collect();
        let (deployer, operator, user, watcher) =
            (keys[0].address(), keys[1].address(), keys[2].address(), keys[3].address());
        let mut wallet = EthereumWallet::from(keys[0].clone());
        for k in &keys[1..] {
            wallet.register_signer(k.clone());
        }
        let provider = ProviderBuilder::new().wallet(wallet).connect_http(anvil.endpoint_url()).erased();

        // The real verifier: Poseidon commitments on-chain and Nova proofs checked by NovaVerifier.
        let registry = ModelRegistry::deploy(provider.clone()).await.unwrap();
        let verifier = verdict_contracts::nova::deploy_verifier(&provider, *registry.address()).await.unwrap();
        let key = tokio::task::spawn_blocking(price_feed_key).await.unwrap();
        let config = InferenceOracle::Config {
            livenessWindow: WINDOW,
            operatorFee: U96::from(1_000_000_000_000_000u64),
            burnBps: 2_000,
            maxCallbackGas: 500_000,
            requestTimeout: 600,
            treasury: deployer,
        };
        let oracle = InferenceOracle::deploy(
            provider.clone(),
            *registry.address(),
            U96::from(BOND),
            U96::from(BOND / 2),
            86_400,
            config,
        )
        .await
        .unwrap();
        // Clocks of 20 s: long enough for the services, short enough for a timeout in a test.
        let game = DisputeGame::deploy(provider.clone(), *oracle.address(), 1, clock, PROOF_WINDOW).await.unwrap();
        oracle.setDisputeGame(*game.address()).send().await.unwrap().get_receipt().await.unwrap();
        let model = Model::load(root().join("models/price_feed.model.json")).unwrap();
        let registration = verdict_contracts::nova::Registration {
            model: &model,
            commitment: model.commitment(),
            private: false,
            fee: 1_000,
            uri: "file://models/price_feed.model.json".into(),
        };
        verdict_contracts::nova::register_model(&registry, &verifier, key, registration).await.unwrap();
        oracle
            .depositBond()
            .from(operator)
            .value(U256::from(BOND) * U256::from(20))
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        let feed = deploy_feed(&provider, *oracle.address(), "AI/USD", user).await;

        let dir = tempfile::tempdir().unwrap();
        let chain_id = provider.get_chain_id().await.unwrap();
        let deployment = json!({
            "registry": registry.address(), "oracle": oracle.address(), "dispute_game": game.address(),
            "verifier": verifier.address(), "chain_id": chain_id,
        });
        std::fs::write(dir.path().join("deployment.json"), deployment.to_string()).unwrap();
        let key = format!("0x{}", alloy::hex::encode(keys[1].to_bytes()));
        std::fs::write(dir.path().join("operator.key"), key).unwrap();
        let key = format!("0x{}", alloy::hex::encode(keys[3].to_bytes()));
        std::fs::write(dir.path().join("watcher.key"), key).unwrap();
        std::fs::write(dir.path().join("api.token"), TOKEN).unwrap();
        let rpc = anvil.endpoint();
        let game = verdict_contracts::dispute_game::DisputeGame::new(*game.address(), provider.clone());
        Self { _anvil: anvil, provider, oracle, feed, user, operator, watcher, game, model, dir, rpc }
    }

    /// A file in the chain's working folder (`deployment.json`, `operator.key`, `watcher.key`,
    /// `api.token`, databases, logs).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The log file a service started for this chain writes to.
    pub fn log_path(&self) -> PathBuf {
        self.path("service.log")
    }

    /// Asks the feed for a round on an input; returns the request id.
    pub async fn request_round(&self, input: &[i8]) -> u64 {
        let fee = self.oracle.estimateFee(U256::from(1)).call().await.unwrap();
        let bytes = Bytes::from(input.iter().map(|v| *v as u8).collect::<Vec<_>>());
        let receipt =
            self.feed.requestRound(bytes).value(fee).from(self.user).send().await.unwrap().get_receipt().await.unwrap();
        let created = receipt.decoded_log::<InferenceOracle::RequestCreated>().unwrap();
        created.requestId.try_into().unwrap()
    }

    /// Registers the price-feed model again with private weights under a fresh blinding, written
    /// to `blinding.json` in the chain's folder; returns its model id.
    pub async fn register_private(&self) -> U256 {
        use verdict_circuits::{
            folding::KeySource,
            prover::ModelProver,
            step::{Blinding, WeightMode},
        };
        let (model, path) = (self.model.clone(), self.path("blinding.json"));
        let (key, commitment) = tokio::task::spawn_blocking(move || {
            let blinding = Blinding::random(&model);
            blinding.save(&path).unwrap();
            let (prover, _) =
                ModelProver::setup(model, WeightMode::Private(blinding), &KeySource::InsecureTest, None).unwrap();
            (prover.evm_key().unwrap(), prover.commitment())
        })
        .await
        .unwrap();
        let registration = verdict_contracts::nova::Registration {
            model: &self.model,
            commitment,
            private: true,
            fee: 1_000,
            uri: String::new(),
        };
        let (registry, verifier) = self.registry_and_verifier();
        verdict_contracts::nova::register_model(&registry, &verifier, &key, registration).await.unwrap().0
    }

    /// Registers the shipped model file `models/{name}.model.json` with public weights (its
    /// layers' step key); returns its model id and the model.
    pub async fn register_public(&self, name: &str) -> (U256, Model) {
        use verdict_circuits::{folding::KeySource, prover::ModelProver, step::WeightMode};
        let model = Model::load(root().join(format!("models/{name}.model.json"))).unwrap();
        let key = {
            let model = model.clone();
            tokio::task::spawn_blocking(move || {
                let (prover, _) =
                    ModelProver::setup(model, WeightMode::Public, &KeySource::InsecureTest, None).unwrap();
                prover.evm_key().unwrap()
            })
            .await
            .unwrap()
        };
        let registration = verdict_contracts::nova::Registration {
            model: &model,
            commitment: model.commitment(),
            private: false,
            fee: 1_000,
            uri: format!("file://models/{name}.model.json"),
        };
        let (registry, verifier) = self.registry_and_verifier();
        let id = verdict_contracts::nova::register_model(&registry, &verifier, &key, registration).await.unwrap().0;
        (id, model)
    }

    /// The deployment's registry and verifier.
    fn registry_and_verifier(
        &self,
    ) -> (
        ModelRegistry::ModelRegistryInstance<DynProvider>,
        verdict_contracts::NovaVerifier::NovaVerifierInstance<DynProvider>,
    ) {
        let deployment: Value =
            serde_json::from_str(&std::fs::read_to_string(self.path("deployment.json")).unwrap()).unwrap();
        let address = |name: &str| -> Address { deployment[name].as_str().unwrap().parse().unwrap() };
        let registry = ModelRegistry::new(address("registry"), self.provider.clone());
        let verifier = verdict_contracts::NovaVerifier::new(address("verifier"), self.provider.clone());
        (registry, verifier)
    }

    /// Asks for an inference of model `id` on `input` (as `user`); returns the request id.
    pub async fn request_model(&self, id: U256, input: &[i8]) -> u64 {
        let fee = self.oracle.estimateFee(id).call().await.unwrap();
        let bytes = Bytes::from(input.iter().map(|v| *v as u8).collect::<Vec<u8>>());
        let call = self.oracle.request(id, bytes, alloy::primitives::FixedBytes::ZERO, Address::ZERO, 0, Bytes::new());
        let receipt = call.value(fee).from(self.user).send().await.unwrap().get_receipt().await.unwrap();
        receipt.decoded_log::<InferenceOracle::RequestCreated>().unwrap().requestId.to()
    }

    /// Asks for an inference of model `id` on a private `input` (as `user`): only its z_0, salted
    /// with a fresh salt, goes on chain. Returns the request id and the salt (0x-hex), which the
    /// requester hands to the operator with the input.
    pub async fn request_private(&self, id: U256, input: &[i8]) -> (u64, String) {
        use verdict_circuits::{private_input_commitment, step::random_salt, Commitment};
        let salt = random_salt();
        let z0 = private_input_commitment(input, salt);
        let fee = self.oracle.estimateFee(id).call().await.unwrap();
        let call = self.oracle.request(id, Bytes::new(), z0.0.into(), Address::ZERO, 0, Bytes::new());
        let receipt = call.value(fee).from(self.user).send().await.unwrap().get_receipt().await.unwrap();
        let rid = receipt.decoded_log::<InferenceOracle::RequestCreated>().unwrap().requestId.to();
        (rid, Commitment::from_field(salt).to_string())
    }

    /// Delivers a private input to the operator at `url` (`POST /v1/requests/{id}/input`, int8);
    /// returns the HTTP status and the JSON body.
    pub async fn deliver_input(url: &str, id: u64, input: &[i8], salt: &str) -> (u16, Value) {
        let body = json!({ "input": input, "quantized": true, "salt": salt });
        let r = reqwest::Client::new().post(format!("{url}/v1/requests/{id}/input")).json(&body).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// The `n`-th `DisputeResolved` event of request `id` (who won, who lost).
    pub async fn resolution(&self, id: u64, n: usize) -> InferenceOracle::DisputeResolved {
        let filter = Filter::new()
            .address(*self.oracle.address())
            .event_signature(InferenceOracle::DisputeResolved::SIGNATURE_HASH)
            .topic1(U256::from(id))
            .from_block(0);
        let logs = self.provider.get_logs(&filter).await.unwrap();
        logs[n].log_decode::<InferenceOracle::DisputeResolved>().unwrap().inner.data
    }

    /// Plays one move of the challenger's side of request `id`'s dispute (from `challenger`),
    /// with `trace` as the challenger's trace, when it is the challenger's turn: opens or bisects
    /// as the dispute solver says. The dispute's phase before the move.
    pub async fn challenger_move(
        &self,
        id: u64,
        steps: usize,
        trace: &verdict_contracts::dispute::Trace,
        challenger: Address,
    ) -> verdict_contracts::dispute::Phase {
        use verdict_contracts::dispute::{next_action, Action, DisputeView, Phase, Role};
        let rid = U256::from(id);
        let d = self.game.disputeOf(rid).call().await.unwrap();
        let view = DisputeView { phase: Phase::from(d.phase), steps, lo: d.lo as usize, hi: d.hi as usize };
        match next_action(Role::Challenger, &view, trace) {
            Action::Open { z0, z_last } => {
                let o = verdict_contracts::dispute_game::DisputeGame::Opening {
                    z0: z0.0,
                    proof0: z0.1,
                    zL: z_last.0,
                    proofL: z_last.1,
                };
                self.game.challengerOpen(rid, o).from(challenger).send().await.unwrap().get_receipt().await.unwrap();
            }
            Action::Bisect { z, proof, .. } => {
                let call = self.game.challengerBisect(rid, z, proof).from(challenger);
                call.send().await.unwrap().get_receipt().await.unwrap();
            }
            _ => {}
        }
        view.phase
    }

    /// How many times `E` was emitted for request `id`.
    pub async fn count<E: SolEvent>(&self, id: u64) -> usize {
        let filter = Filter::new()
            .address(*self.oracle.address())
            .event_signature(E::SIGNATURE_HASH)
            .topic1(U256::from(id))
            .from_block(0);
        self.provider.get_logs(&filter).await.unwrap().len()
    }
}

/// An `AiPriceFeed` of model 1 (8 decimals, answer = output, 200k callback gas) whose rounds only
/// `updater` may request.
pub async fn deploy_feed(
    provider: &DynProvider,
    oracle: Address,
    description: &str,
    updater: Address,
) -> AiPriceFeed::AiPriceFeedInstance<DynProvider> {
    let one = alloy::primitives::I256::try_from(1).unwrap();
    AiPriceFeed::deploy(provider.clone(), oracle, U256::from(1), 8, one, one, 200_000, updater, description.into())
        .await
        .unwrap()
}

/// A TCP port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `f` every 100 ms until it holds; panics after `limit`.
pub async fn wait_for<F: std::future::Future<Output = bool>>(limit: Duration, mut f: impl FnMut() -> F) {
    let started = Instant::now();
    while !f().await {
        assert!(started.elapsed() < limit, "timed out after {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A request's status as the operator's API shows it.
pub async fn status_of(url: &str, id: u64) -> Option<String> {
    let r = reqwest::get(format!("{url}/v1/requests/{id}")).await.ok()?;
    let v: Value = r.json().await.ok()?;
    v["status"].as_str().map(str::to_string)
}

/// A fixed int8 input of the model's width.
pub fn sample_input(model: &Model) -> Vec<i8> {
    (0..model.input.len).map(|i| ((i as i32 * 29) % 200 - 100) as i8).collect()
}
