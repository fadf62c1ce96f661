//! The local demo's driver (`scripts/demo.sh`): a whole Verdict system on a fresh anvil chain.
//!
//! It deploys the contracts, registers four shipped models with their on-chain verifying keys
//! and the price model again with private weights, starts an honest `oracle serve`, a
//! `fraud-prover watch` watchtower (trusting the honest operator's private answers) and (later) a
//! dishonest `oracle serve --dishonest`, then runs the AI price feed, a tic-tac-toe game against
//! the NPC, digit classification through the HTTP API, a lie that the watchtower catches, and
//! the privacy modes: a proprietary (private-weight) price model and a borrower's private credit
//! data, each lied about and caught by a blind challenge, then answered honestly and never
//! challenged, printing one line per on-chain event. It ends with a summary table and exits non-zero with
//! the reason on any failure. Every process it starts is stopped when it ends.
//!
//! Usage: `cargo run -p verdict-oracle --example demo -- <bin dir> <work dir>` (the `oracle` and
//! `fraud-prover` binaries must be built; `scripts/demo.sh` does both).

use std::{
    collections::BTreeMap,
    io::IsTerminal,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{
    network::EthereumWallet,
    node_bindings::Anvil,
    primitives::{aliases::U96, Address, Bytes, FixedBytes, I256, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use anyhow::{bail, Context};
use verdict_circuits::{
    folding::KeySource,
    private_input_commitment,
    prover::ModelProver,
    step::{random_salt, Blinding, WeightMode},
    Commitment, InputValues, Model,
};
use verdict_contracts::{
    ai_price_feed::AiPriceFeed, dispute_game::DisputeGame, inference_oracle::InferenceOracle, nova,
    tic_tac_toe::TicTacToe, ModelRegistry, NovaVerifier,
};

const LIVENESS: u64 = 4;
const CLOCK: u64 = 20;
const PROOF_WINDOW: u64 = 30;
const BOND: u64 = 1_000_000_000_000_000_000;
const TOKEN: &str = "demo-token";
/// `TicTacToe.State`: the player's turn, the NPC's turn.
const PLAYER_TO_MOVE: u8 = 1;
const NPC_TO_MOVE: u8 = 2;

struct Style {
    bold: &'static str,
    dim: &'static str,
    green: &'static str,
    red: &'static str,
    yellow: &'static str,
    reset: &'static str,
}

fn style() -> &'static Style {
    static COLOUR: Style = Style {
        bold: "\x1b[1m",
        dim: "\x1b[2m",
        green: "\x1b[32m",
        red: "\x1b[31m",
        yellow: "\x1b[33m",
        reset: "\x1b[0m",
    };
    static PLAIN: Style = Style { bold: "", dim: "", green: "", red: "", yellow: "", reset: "" };
    // `VERDICT_DEMO_COLOR=1`: colours through a pipe (scripts/demo.sh filters the output).
    if std::io::stdout().is_terminal() || std::env::var("VERDICT_DEMO_COLOR").as_deref() == Ok("1") {
        &COLOUR
    } else {
        &PLAIN
    }
}

fn step(text: &str) {
    let s = style();
    println!("{}==> {text}{}", s.bold, s.reset);
}

/// Child processes, killed (and reaped) when dropped.
#[derive(Default)]
struct Processes(Mutex<BTreeMap<&'static str, Child>>);

impl Processes {
    fn start(&self, name: &'static str, mut command: Command, log: &Path) -> anyhow::Result<()> {
        let log = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = command.stdout(Stdio::null()).stderr(log).spawn().with_context(|| format!("starting {name}"))?;
        self.0.lock().expect("not poisoned").insert(name, child);
        Ok(())
    }

    fn stop(&self, name: &str) {
        if let Some(mut child) = self.0.lock().expect("not poisoned").remove(name) {
            // SIGTERM first: the services shut down cleanly; then make sure.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            for _ in 0..50 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn check_alive(&self) -> anyhow::Result<()> {
        for (name, child) in self.0.lock().expect("not poisoned").iter_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                bail!("{name} exited ({status}); see its log in .demo/");
            }
        }
        Ok(())
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        let names: Vec<&'static str> = self.0.lock().map(|m| m.keys().copied().collect()).unwrap_or_default();
        for name in names {
            self.stop(name);
        }
    }
}

/// The deployed system.
struct System {
    provider: DynProvider,
    registry: ModelRegistry::ModelRegistryInstance<DynProvider>,
    oracle: InferenceOracle::InferenceOracleInstance<DynProvider>,
    game: DisputeGame::DisputeGameInstance<DynProvider>,
    feed: AiPriceFeed::AiPriceFeedInstance<DynProvider>,
    tictactoe: TicTacToe::TicTacToeInstance<DynProvider>,
    verifier: NovaVerifier::NovaVerifierInstance<DynProvider>,
    names: BTreeMap<Address, &'static str>,
    watcher: Address,
    liar: Address,
}

/// What the summary reports.
#[derive(Default)]
struct Tally {
    requests: u64,
    finalized: u64,
    proposals: u64,
    challenges: u64,
    disputes_won_by_challenger: u64,
    bond_reward: U256,
    bond_burned: U256,
    prove_output_gas: u64,
    verify_gas: u64,
    proof_bytes: usize,
    dispute_seconds: u64,
    registration_gas: u64,
}

fn wei_to_eth(w: U256) -> String {
    let milli: U256 = w / U256::from(1_000_000_000_000_000u64);
    format!("{}.{:03} ETH", milli / U256::from(1000), milli % U256::from(1000))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if let Err(e) = run().await {
        let s = style();
        eprintln!("{}demo failed:{} {e:#}", s.red, s.reset);
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    let mut args = std::env::args().skip(1);
    let bin = PathBuf::from(args.next().context("usage: demo <bin dir> <work dir>")?);
    let work = PathBuf::from(args.next().context("usage: demo <bin dir> <work dir>")?);
    // `--latency`: the watchtower's latency benchmark instead of the demo.
    let latency = args.next().as_deref() == Some("--latency");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::create_dir_all(&work)?;
    let keys_dir = work.join("keys");
    let processes = Arc::new(Processes::default());

    step("local chain: anvil with 1-second blocks");
    let anvil = Anvil::new().path(root.join(".tools/bin/anvil")).block_time(1).try_spawn()?;
    let keys: Vec<PrivateKeySigner> = anvil.keys()[..5].iter().cloned().map(Into::into).collect();
    let [deployer, honest, liar, watcher, user] = [0, 1, 2, 3, 4].map(|i| keys[i].address());
    let mut wallet = EthereumWallet::from(keys[0].clone());
    for k in &keys[1..] {
        wallet.register_signer(k.clone());
    }
    let provider = ProviderBuilder::new().wallet(wallet).connect_http(anvil.endpoint_url()).erased();
    println!("    anvil at {} (stopped on exit)", anvil.endpoint());

    step("contracts: registry, Nova verifier, oracle, dispute game, AI price feed, tic-tac-toe");
    let registry = ModelRegistry::deploy(provider.clone()).await?;
    let verifier = nova::deploy_verifier(&provider, *registry.address()).await?;
    let config = InferenceOracle::Config {
        livenessWindow: LIVENESS,
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
    .await?;
    let game = DisputeGame::deploy(provider.clone(), *oracle.address(), 1, CLOCK, PROOF_WINDOW).await?;
    oracle.setDisputeGame(*game.address()).send().await?.get_receipt().await?;
    println!(
        "    oracle {}, game {}, verifier {}; liveness window {LIVENESS} s, dispute clocks {CLOCK} s, proof window {PROOF_WINDOW} s",
        oracle.address(),
        game.address(),
        verifier.address()
    );

    step("models: export each verifying key, publish it on-chain, register the model with its digest");
    let mut tally = Tally::default();
    let mut models = BTreeMap::new();
    // Models 1-4 and 6 with public weights (model 5 is the private one, below).
    let register_public = |id: u64, name: &'static str| {
        let (root, keys_dir, registry, verifier) = (root.clone(), keys_dir.clone(), registry.clone(), verifier.clone());
        async move {
            let model = Model::load(root.join(format!("models/{name}.model.json")))?;
            let setup = Instant::now();
            let prover = tokio::task::spawn_blocking({
                let model = model.clone();
                move || ModelProver::setup(model, WeightMode::Public, &KeySource::InsecureTest, Some(&keys_dir))
            })
            .await??
            .0;
            let key = prover.evm_key()?;
            let registration = nova::Registration {
                model: &model,
                commitment: model.commitment(),
                private: false,
                fee: 100_000_000_000_000,
                uri: format!("file://models/{name}.model.json"),
            };
            let (registered, gas) = nova::register_model(&registry, &verifier, &key, registration).await?;
            if registered != U256::from(id) {
                bail!("{name} was registered as model {registered}, expected {id}");
            }
            let digest = FixedBytes::<32>::from(key.digest());
            println!(
                "    model {id} {name:<10} {} steps, commitment {}, vkDigest {digest} (keys {:.1} s, insecure test setup)",
                model.steps(),
                model.commitment(),
                setup.elapsed().as_secs_f64()
            );
            anyhow::Ok((model, gas))
        }
    };
    for (id, name) in [(1u64, "price_feed"), (2, "tictactoe"), (3, "digits"), (4, "credit")] {
        let (model, gas) = register_public(id, name).await?;
        tally.registration_gas += gas;
        models.insert(id, (name, model));
    }
    // Model 5: the price model again, registered with private weights (a proprietary model): its
    // commitment is blinded, and its weights never leave its operators.
    let blinding_path = work.join("price.blinding.json");
    let price = models[&1].1.clone();
    let blinding = Blinding::random(&price);
    blinding.save(&blinding_path)?;
    let private_prover = tokio::task::spawn_blocking({
        let (model, blinding, keys_dir) = (price.clone(), blinding.clone(), keys_dir.clone());
        move || ModelProver::setup(model, WeightMode::Private(blinding), &KeySource::InsecureTest, Some(&keys_dir))
    })
    .await??
    .0;
    let commitment = blinding.model_commitment(&price)?;
    let registration =
        nova::Registration { model: &price, commitment, private: true, fee: 100_000_000_000_000, uri: String::new() };
    let (_, gas) = nova::register_model(&registry, &verifier, &private_prover.evm_key()?, registration).await?;
    tally.registration_gas += gas;
    println!(
        "    model 5 price (private) {} steps, blinded commitment {commitment}: the weights stay with its operators",
        price.steps()
    );
    // Model 6: a lender's gradient-boosted credit model (40 trees, as scikit-learn exports them).
    let (model, gas) = register_public(6, "credit_gbdt").await?;
    tally.registration_gas += gas;
    models.insert(6, ("credit_gbdt", model));
    let one = I256::try_from(1)?;
    let feed = AiPriceFeed::deploy(
        provider.clone(),
        *oracle.address(),
        U256::from(1),
        0,
        one,
        one,
        200_000,
        user,
        "AI/USD".into(),
    )
    .await?;
    let tictactoe = TicTacToe::deploy(provider.clone(), *oracle.address(), U256::from(2)).await?;
    for operator in [honest, liar] {
        oracle.depositBond().from(operator).value(U256::from(5 * BOND)).send().await?.get_receipt().await?;
    }
    let names = BTreeMap::from([
        (honest, "honest oracle"),
        (liar, "dishonest oracle"),
        (watcher, "watchtower"),
        (user, "user"),
        (*feed.address(), "price feed"),
        (*tictactoe.address(), "tic-tac-toe"),
    ]);
    let system = Arc::new(System {
        provider: provider.clone(),
        registry,
        oracle,
        game,
        feed,
        tictactoe,
        verifier: verifier.clone(),
        names,
        watcher,
        liar,
    });

    // The files the services read.
    let deployment = serde_json::json!({
        "registry": system.registry.address(), "oracle": system.oracle.address(),
        "dispute_game": system.game.address(), "verifier": system.verifier.address(),
        "chain_id": provider.get_chain_id().await?,
    });
    std::fs::write(work.join("deployment.json"), deployment.to_string())?;
    for (file, key) in [("honest.key", &keys[1]), ("liar.key", &keys[2]), ("watcher.key", &keys[3])] {
        std::fs::write(work.join(file), format!("0x{}", alloy::hex::encode(key.to_bytes())))?;
    }
    std::fs::write(work.join("api.token"), TOKEN)?;
    for db in ["honest.sqlite", "liar.sqlite", "watcher.sqlite"] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(work.join(format!("{db}{suffix}")));
        }
    }
    let model_args: Vec<String> = models
        .iter()
        .map(|(id, (name, _))| format!("{id}={}", root.join(format!("models/{name}.model.json")).display()))
        .collect();
    let private_model_arg = format!("5={}", root.join("models/price_feed.model.json").display());
    let blinding_arg = format!("5={}", blinding_path.display());
    let api_port = free_port()?;
    let api = format!("http://127.0.0.1:{api_port}");
    let serve = |key: &str, db: &str, port: u16, dishonest: bool| {
        let mut c = Command::new(bin.join("oracle"));
        c.args(["serve", "--rpc-url", &anvil.endpoint(), "--ws-url", &anvil.ws_endpoint()])
            .args(["--poll-ms", "1000", "--insecure-test-setup"])
            .arg("--deployment")
            .arg(work.join("deployment.json"))
            .arg("--key-file")
            .arg(work.join(key))
            .arg("--api-token-file")
            .arg(work.join("api.token"))
            .arg("--db")
            .arg(work.join(db))
            .arg("--keys-dir")
            .arg(&keys_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--model")
            .arg(model_args.join(","))
            .args(["--model", &private_model_arg, "--blinding", &blinding_arg])
            .env_remove("VERDICT_OPERATOR_KEY")
            .env("RUST_LOG", "info");
        if dishonest {
            c.arg("--dishonest");
        }
        c
    };

    let mut watch = Command::new(bin.join("fraud-prover"));
    watch
        .args(["watch", "--rpc-url", &anvil.endpoint(), "--ws-url", &anvil.ws_endpoint()])
        .args(["--poll-ms", "1000", "--min-margin", "1", "--insecure-test-setup"])
        .arg("--deployment")
        .arg(work.join("deployment.json"))
        .arg("--key-file")
        .arg(work.join("watcher.key"))
        .arg("--db")
        .arg(work.join("watcher.sqlite"))
        .arg("--keys-dir")
        .arg(&keys_dir)
        .args(["--listen", &format!("127.0.0.1:{}", free_port()?)])
        .arg("--model")
        .arg(model_args.join(","))
        // Private weights and private inputs cannot be re-executed: challenged blind, except the
        // honest operator's (a watcher's own trust list).
        .args(["--blind-challenge", "5", "--blind-challenge-private-inputs", "--trust", &honest.to_string()])
        .env("RUST_LOG", "info");
    if latency {
        step("services: a dishonest oracle (oracle serve --dishonest) and a watchtower (fraud-prover watch)");
        processes.start("watchtower", watch, &work.join("watcher.log"))?;
        let liar_port = free_port()?;
        processes.start(
            "dishonest oracle",
            serve("liar.key", "liar.sqlite", liar_port, true),
            &work.join("liar.log"),
        )?;
        wait_http(&format!("http://127.0.0.1:{liar_port}/healthz"), Duration::from_secs(120), &processes).await?;
        return watch_latency(&system, &models, &processes, user).await;
    }
    step("services: an honest oracle (oracle serve) and a watchtower (fraud-prover watch)");
    processes.start(
        "honest oracle",
        serve("honest.key", "honest.sqlite", api_port, false),
        &work.join("honest.log"),
    )?;
    processes.start("watchtower", watch, &work.join("watcher.log"))?;
    wait_http(&format!("{api}/healthz"), Duration::from_secs(120), &processes).await?;
    println!("    honest oracle API on {api} (OpenAPI at {api}/openapi.json); logs in {}", work.display());

    // Every on-chain event from here on, one line each.
    let tally = Arc::new(Mutex::new(tally));
    let from_block = provider.get_block_number().await?;
    let mut named = models.clone();
    named.insert(5, ("price (private)", price.clone()));
    let events = tokio::spawn(print_events(system.clone(), named, tally.clone(), from_block, started));

    step("1. the AI price feed: three rounds, read back as a DeFi protocol would (latestRoundData)");
    let (_, price_model) = &models[&1];
    let csv = std::fs::read_to_string(root.join("models/price_feed.calibration.csv"))?;
    for (round, line) in csv.lines().skip(1).take(3).enumerate() {
        let input = quantize(price_model, line)?;
        let fee = system.oracle.estimateFee(U256::from(1)).call().await?;
        system.feed.requestRound(input.into()).value(fee).from(user).send().await?.get_receipt().await?;
        let want = round as u64 + 1;
        wait_until(Duration::from_secs(90), &processes, || async {
            Ok(system.feed.latestRoundData().call().await?._0.to::<u64>() >= want)
        })
        .await
        .with_context(|| format!("price round {want} was not finalized"))?;
        let r = system.feed.latestRoundData().call().await?;
        let answer: i32 = r._1.try_into()?;
        println!(
            "    {}latestRoundData(){} round {} answer {} (the model's predicted return: {}), updatedAt {}",
            style().green,
            style().reset,
            r._0,
            r._1,
            prediction_text(&price_model.predict(&[answer])),
            r._3
        );
    }

    step("2. tic-tac-toe against the NPC: each NPC move is an oracle request answered on-chain");
    let receipt = system.tictactoe.newGame().from(user).send().await?.get_receipt().await?;
    let game_id = receipt.decoded_log::<TicTacToe::GameStarted>().context("no GameStarted")?.gameId;
    for _ in 0..5 {
        let g = system.tictactoe.gameOf(game_id).call().await?;
        if g.state != PLAYER_TO_MOVE {
            break; // over
        }
        let board: [u8; 9] = g.board;
        let cell = [4u8, 0, 8, 2, 6, 1, 3, 5, 7].into_iter().find(|c| board[*c as usize] == 0).context("board full")?;
        let fee = system.oracle.estimateFee(U256::from(2)).call().await?;
        system.tictactoe.play(game_id, cell).value(fee).from(user).send().await?.get_receipt().await?;
        println!("    you play X at cell {cell}");
        wait_until(Duration::from_secs(90), &processes, || async {
            Ok(system.tictactoe.gameOf(game_id).call().await?.state != NPC_TO_MOVE)
        })
        .await
        .context("the NPC did not answer")?;
        let g = system.tictactoe.gameOf(game_id).call().await?;
        print_board(&g.board);
    }
    let g = system.tictactoe.gameOf(game_id).call().await?;
    let result =
        ["none", "player to move", "NPC to move", "you won", "the NPC won", "a draw"].get(g.state as usize).copied();
    println!("    game over: {}", result.unwrap_or("?"));

    step("3. digit classification on request, through the oracle's HTTP API (POST /v1/requests)");
    let http = reqwest::Client::new();
    let digits = std::fs::read_to_string(root.join("models/digits.test.csv"))?;
    let mut asked = Vec::new();
    for line in digits.lines().skip(1).take(3) {
        let values: Vec<f64> = line.split(',').map(|v| v.trim().parse()).collect::<Result<_, _>>()?;
        let (pixels, label) = values.split_at(64);
        let response: serde_json::Value = http
            .post(format!("{api}/v1/requests"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({ "model_id": 3, "input": pixels }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = response["id"].as_str().context("no submission id")?.to_string();
        println!("    POST /v1/requests: accepted as {id} (an 8x8 image of a {})", label[0]);
        asked.push((id, label[0] as i64));
    }
    for (id, label) in asked {
        let url = format!("{api}/v1/requests/{id}");
        wait_until(Duration::from_secs(90), &processes, || async {
            let r: serde_json::Value = http.get(&url).send().await?.json().await?;
            Ok(r["status"] == "finalized")
        })
        .await
        .with_context(|| format!("digit request {id} was not finalized"))?;
        let r: serde_json::Value = http.get(&url).send().await?.json().await?;
        let class = r["prediction"]["class"].as_i64();
        println!(
            "    GET /v1/requests/{id}: request {} finalized, the model says {} (label {label})",
            r["request_id"],
            class.map_or_else(|| r["prediction"].to_string(), |c| c.to_string())
        );
    }

    step("4. a dishonest oracle lies on a price round; the watchtower catches it");
    processes.stop("honest oracle");
    println!("    the honest oracle goes offline; a dishonest one (oracle serve --dishonest) takes the next round");
    let liar_port = free_port()?;
    let liar_api = format!("http://127.0.0.1:{liar_port}");
    processes.start("dishonest oracle", serve("liar.key", "liar.sqlite", liar_port, true), &work.join("liar.log"))?;
    let line = csv.lines().nth(4).context("calibration rows")?;
    let input = quantize(price_model, line)?;
    let truth = price_model.run(&input.iter().map(|b| *b as i8).collect::<Vec<_>>())?.output()[0];
    let fee = system.oracle.estimateFee(U256::from(1)).call().await?;
    let receipt = system.feed.requestRound(input.into()).value(fee).from(user).send().await?.get_receipt().await?;
    let id = receipt.decoded_log::<InferenceOracle::RequestCreated>().context("no RequestCreated")?.requestId;
    println!("    round requested: request {id}; the true answer is {truth}");
    wait_until(Duration::from_secs(4 * CLOCK + PROOF_WINDOW + 150), &processes, || async {
        Ok(system.oracle.resultOf(id).call().await?.finalized)
    })
    .await
    .context("the lie was not resolved in time")?;
    let r = system.feed.latestRoundData().call().await?;
    let answer: i32 = r._1.try_into()?;
    if answer != truth {
        bail!("the corrected round has answer {answer}, expected {truth}");
    }
    println!(
        "    {}latestRoundData(){} round {} answer {} = the true answer: the lie never reached the feed",
        style().green,
        style().reset,
        r._0,
        r._1
    );

    step("5. privacy: a proprietary price model (private weights) and a borrower's private data (private input)");
    println!("    model 5 is the price model with private weights; model 4 scores credit risk on a borrower's data,");
    println!("    which goes on chain only as a salted commitment z_0 and reaches the operator over its API");
    let price_input = quantize(price_model, csv.lines().nth(5).context("calibration rows")?)?;
    let price_truth = price.run(&price_input.iter().map(|b| *b as i8).collect::<Vec<_>>())?.output().to_vec();
    let fee = system.oracle.estimateFee(U256::from(5)).call().await?;
    let call =
        system.oracle.request(U256::from(5), price_input.into(), FixedBytes::ZERO, Address::ZERO, 0, Bytes::new());
    let receipt = call.value(fee).from(user).send().await?.get_receipt().await?;
    let private_model_request =
        receipt.decoded_log::<InferenceOracle::RequestCreated>().context("no RequestCreated")?.requestId;
    // A borrower: high utilization, late payments, a large loan for the income.
    let (_, credit) = &models[&4];
    let borrower = [34.0, 41.0, 0.52, 0.93, 2.0, 6.0, 4.0, 0.55];
    let credit_input = InputValues(borrower.to_vec()).for_model(credit, false)?;
    let credit_truth = credit.run(&credit_input)?.output().to_vec();
    let salt = random_salt();
    let z0 = private_input_commitment(&credit_input, salt);
    let fee = system.oracle.estimateFee(U256::from(4)).call().await?;
    let call = system.oracle.request(U256::from(4), Bytes::new(), z0.0.into(), Address::ZERO, 0, Bytes::new());
    let receipt = call.value(fee).from(user).send().await?.get_receipt().await?;
    let private_input_request =
        receipt.decoded_log::<InferenceOracle::RequestCreated>().context("no RequestCreated")?.requestId;
    println!("    request {private_input_request}: only z_0 = {} on chain", short(&FixedBytes::from(z0.0)));
    let delivery = serde_json::json!({ "input": credit_input, "quantized": true, "salt": Commitment::from_field(salt).to_string() });
    let deliver = |api: String| {
        let (http, body) = (http.clone(), delivery.clone());
        async move {
            http.post(format!("{api}/v1/requests/{private_input_request}/input"))
                .json(&body)
                .send()
                .await?
                .error_for_status()
                .context("the input was refused")?;
            anyhow::Ok(())
        }
    };
    deliver(liar_api.clone()).await?;
    println!(
        "    the borrower delivers the input to the dishonest oracle (POST /v1/requests/{private_input_request}/input)"
    );
    for id in [private_model_request, private_input_request] {
        wait_until(Duration::from_secs(2 * CLOCK + PROOF_WINDOW + 120), &processes, || async {
            Ok(system.oracle.requestOf(id).call().await?.status == 1
                && system
                    .provider
                    .get_logs(
                        &Filter::new()
                            .address(*system.oracle.address())
                            .event_signature(InferenceOracle::DisputeResolved::SIGNATURE_HASH)
                            .topic1(id)
                            .from_block(0),
                    )
                    .await?
                    .len()
                    == 1)
        })
        .await
        .with_context(|| format!("the lie about request {id} was not resolved in time"))?;
    }
    println!("    the dishonest oracle could not prove either answer from its request's z_0: it lost both bonds");
    processes.stop("dishonest oracle");
    processes.start(
        "honest oracle",
        serve("honest.key", "honest.sqlite", api_port, false),
        &work.join("honest.log"),
    )?;
    wait_http(&format!("{api}/healthz"), Duration::from_secs(120), &processes).await?;
    deliver(api.clone()).await?;
    println!("    the honest oracle is back; the borrower hands it the input too");
    let challenges_before = tally.lock().expect("not poisoned").challenges;
    for (id, truth) in [(private_model_request, &price_truth), (private_input_request, &credit_truth)] {
        wait_until(Duration::from_secs(120), &processes, || async {
            Ok(system.oracle.resultOf(id).call().await?.finalized)
        })
        .await
        .with_context(|| format!("request {id} was not answered"))?;
        let expected: Vec<u8> = truth.iter().flat_map(|v| v.to_be_bytes()).collect();
        if system.oracle.resultOf(id).call().await?.outputHash != alloy::primitives::keccak256(&expected) {
            bail!("request {id} was finalized with another output than the model's");
        }
    }
    let risk = match credit.predict(&credit_truth) {
        verdict_circuits::Prediction::Classification { class: 1 } => "likely to default (class 1)",
        _ => "likely to repay (class 0)",
    };
    println!(
        "    {}finalized{} the private price answer {:?} and the borrower's risk score: {risk}, both unchallenged:",
        style().green,
        style().reset,
        price_truth,
    );
    println!("    the watchtower trusts the honest operator's private answers and challenged neither");

    step("6. lending: credit decisions from a 40-tree gradient-boosted model (model 6, scikit-learn via ONNX)");
    let (_, gbdt) = &models[&6];
    let mut decisions = Vec::new();
    for (who, applicant) in [
        ("a steady applicant", [45.0, 78.0, 0.22, 0.18, 0.0, 19.0, 6.0, 0.2]),
        ("a stretched applicant", [29.0, 24.0, 0.9, 0.95, 3.0, 2.0, 2.0, 0.8]),
    ] {
        let input = InputValues(applicant.to_vec()).for_model(gbdt, false)?;
        let truth = gbdt.run(&input)?.output().to_vec();
        let bytes = Bytes::from(input.iter().map(|v| *v as u8).collect::<Vec<u8>>());
        let fee = system.oracle.estimateFee(U256::from(6)).call().await?;
        let call = system.oracle.request(U256::from(6), bytes, FixedBytes::ZERO, Address::ZERO, 0, Bytes::new());
        let receipt = call.value(fee).from(user).send().await?.get_receipt().await?;
        let id = receipt.decoded_log::<InferenceOracle::RequestCreated>().context("no RequestCreated")?.requestId;
        decisions.push((who, id, truth));
    }
    for (who, id, truth) in &decisions {
        wait_until(Duration::from_secs(120), &processes, || async {
            Ok(system.oracle.resultOf(*id).call().await?.finalized)
        })
        .await
        .with_context(|| format!("credit decision {id} was not answered"))?;
        let expected: Vec<u8> = truth.iter().flat_map(|v| v.to_be_bytes()).collect();
        if system.oracle.resultOf(*id).call().await?.outputHash != alloy::primitives::keccak256(&expected) {
            bail!("credit decision {id} was finalized with another output than the model's");
        }
        let decision = match gbdt.predict(truth) {
            verdict_circuits::Prediction::Classification { class: 1 } => "refuse (likely to default)",
            _ => "approve (likely to repay)",
        };
        println!("    {}finalized{} {who}: {decision}, checked by the watchtower", style().green, style().reset);
    }
    println!("    a lie about such a decision is caught like the others: fraud-prover's lending test");
    processes.stop("honest oracle");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    events.abort();
    if tally.lock().expect("not poisoned").challenges != challenges_before {
        bail!("the trusted honest operator's private answers were challenged");
    }

    step("summary");
    let rounds = system.feed.latestRoundData().call().await?._0;
    let t = tally.lock().expect("not poisoned");
    let rows = [
        ("requests", t.requests.to_string()),
        ("finalized", t.finalized.to_string()),
        ("price rounds", rounds.to_string()),
        ("proposals", t.proposals.to_string()),
        ("challenges", t.challenges.to_string()),
        ("disputes won by the challenger", t.disputes_won_by_challenger.to_string()),
        ("bond paid to the watchtower", wei_to_eth(t.bond_reward)),
        ("bond burned to the treasury", wei_to_eth(t.bond_burned)),
        ("challenge to corrected answer", format!("{} s", t.dispute_seconds)),
        ("Nova proof on-chain: bytes", t.proof_bytes.to_string()),
        ("Nova proof on-chain: NovaVerifier gas", t.verify_gas.to_string()),
        ("proveOutput gas (Poseidon z_0, z_L + verifier)", t.prove_output_gas.to_string()),
        ("model registration gas (6 models)", t.registration_gas.to_string()),
        ("wall time", format!("{} s", started.elapsed().as_secs())),
    ];
    for (k, v) in rows {
        println!("    {k:<46} {v}");
    }
    if t.challenges != 3 || t.disputes_won_by_challenger != 3 || t.prove_output_gas == 0 {
        bail!("expected three disputes won by the watchtower (one lie per privacy mode) and one proven output");
    }
    drop(t);
    drop(processes);
    println!("{}demo ok{}", style().green, style().reset);
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A CSV row's first `input.len` values, quantized as the model's input.
fn quantize(model: &Model, line: &str) -> anyhow::Result<Vec<u8>> {
    let values: Vec<f64> = line.split(',').map(|v| v.trim().parse()).collect::<Result<_, _>>()?;
    let input = InputValues(values[..model.input.len].to_vec()).for_model(model, false)?;
    Ok(input.iter().map(|v| *v as u8).collect())
}

fn print_board(board: &[u8; 9]) {
    let cell = |v: u8| match v {
        1 => 'X',
        2 => 'O',
        _ => '.',
    };
    for row in board.chunks(3) {
        println!("        {} {} {}", cell(row[0]), cell(row[1]), cell(row[2]));
    }
}

async fn wait_http(url: &str, limit: Duration, processes: &Processes) -> anyhow::Result<()> {
    wait_until(limit, processes, || async { Ok(reqwest::get(url).await.is_ok_and(|r| r.status().is_success())) })
        .await
        .with_context(|| format!("{url} did not come up"))
}

async fn wait_until<F: std::future::Future<Output = anyhow::Result<bool>>>(
    limit: Duration,
    processes: &Processes,
    mut ready: impl FnMut() -> F,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        processes.check_alive()?;
        if ready().await.unwrap_or(false) {
            // Let the event printer catch up, so that the narrative stays in order.
            tokio::time::sleep(Duration::from_millis(900)).await;
            return Ok(());
        }
        if started.elapsed() > limit {
            bail!("timed out after {} s", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Prints every event of the oracle, the game, the feed and the tic-tac-toe contract from
/// `from` on, one line each, and tallies them.
async fn print_events(
    system: Arc<System>,
    models: BTreeMap<u64, (&'static str, Model)>,
    tally: Arc<Mutex<Tally>>,
    mut from: u64,
    started: Instant,
) {
    let s = style();
    let name = |a: &Address| system.names.get(a).map_or_else(|| a.to_string(), |n| (*n).to_string());
    let mut challenged_at = 0u64;
    // Requests challenged blind: their dispute goes straight to the whole inference.
    let mut blind = std::collections::HashSet::new();
    loop {
        let Ok(head) = system.provider.get_block_number().await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        if head >= from {
            let filter = Filter::new()
                .address(vec![*system.oracle.address(), *system.game.address(), *system.tictactoe.address()])
                .from_block(from)
                .to_block(head);
            if let Ok(logs) = system.provider.get_logs(&filter).await {
                for log in logs {
                    let at = format!("{}[{:>4}s]{}", s.dim, started.elapsed().as_secs(), s.reset);
                    // The gas of a proven output's transaction (fetched before the tally is locked).
                    let (mut proven_gas, mut verify_gas, mut proof_bytes) = (0, 0, 0);
                    if log.topic0() == Some(&DisputeGame::OutputProven::SIGNATURE_HASH) {
                        if let Some(h) = log.transaction_hash {
                            if let Ok(Some(r)) = system.provider.get_transaction_receipt(h).await {
                                proven_gas = r.gas_used;
                            }
                            (verify_gas, proof_bytes) = verification_gas(&system, h).await.unwrap_or((0, 0));
                        }
                    }
                    let mut t = tally.lock().expect("not poisoned");
                    let line = if let Ok(e) = log.log_decode::<InferenceOracle::RequestCreated>() {
                        let e = e.inner.data;
                        t.requests += 1;
                        let model = models.get(&e.modelId.to::<u64>()).map_or("?", |(n, _)| *n);
                        format!("request {} for {model} from {}", e.requestId, name(&e.requester))
                    } else if let Ok(e) = log.log_decode::<InferenceOracle::Proposed>() {
                        let e = e.inner.data;
                        t.proposals += 1;
                        let lie = e.proposer == system.liar;
                        format!(
                            "{}proposed{} {} by {} with a {} bond: output {}",
                            if lie { s.yellow } else { "" },
                            if lie { s.reset } else { "" },
                            e.requestId,
                            name(&e.proposer),
                            wei_to_eth(U256::from(BOND)),
                            output_text(&e.output)
                        )
                    } else if let Ok(e) = log.log_decode::<InferenceOracle::Challenged>() {
                        let e = e.inner.data;
                        t.challenges += 1;
                        challenged_at = started.elapsed().as_secs();
                        if e.traceRoot == FixedBytes::ZERO {
                            blind.insert(e.requestId);
                        }
                        format!(
                            "{}challenged{} {} by {} (bond 0.5 ETH): {}",
                            s.red,
                            s.reset,
                            e.requestId,
                            name(&e.challenger),
                            if e.traceRoot == FixedBytes::ZERO {
                                "blind (private weights or input cannot be re-executed; the proposer must prove the whole inference)"
                            } else {
                                "its re-execution disagrees"
                            }
                        )
                    } else if let Ok(e) = log.log_decode::<DisputeGame::DisputeOpened>() {
                        format!("dispute {}: the proposer opens its trace ends (z_0, z_L)", e.inner.data.requestId)
                    } else if let Ok(e) = log.log_decode::<DisputeGame::Moved>() {
                        let e = e.inner.data;
                        format!(
                            "dispute {}: {} reveals z_{} = {} with its Merkle proof",
                            e.requestId,
                            name(&e.mover),
                            e.index,
                            short(&e.z)
                        )
                    } else if let Ok(e) = log.log_decode::<DisputeGame::SegmentReady>() {
                        let e = e.inner.data;
                        if blind.contains(&e.requestId) {
                            format!(
                                "dispute {}: challenged blind, the proposer must prove the whole inference (steps {}..{}) from the request's z_0 within {PROOF_WINDOW} s",
                                e.requestId, e.lo, e.hi
                            )
                        } else {
                            format!(
                            "dispute {}: first disagreement narrowed to step {}..{}; the proposer must prove it within {PROOF_WINDOW} s",
                            e.requestId, e.lo, e.hi
                        )
                        }
                    } else if let Ok(e) = log.log_decode::<DisputeGame::DisputeEnded>() {
                        let e = e.inner.data;
                        let reason = ["proof accepted", "proof rejected", "proposer timed out", "challenger timed out"]
                            .get(e.reason as usize)
                            .copied()
                            .unwrap_or("?");
                        format!(
                            "dispute {} ended: {reason}; {} wins",
                            e.requestId,
                            if e.proposerWon { "the proposer" } else { "the challenger" }
                        )
                    } else if let Ok(e) = log.log_decode::<InferenceOracle::DisputeResolved>() {
                        let e = e.inner.data;
                        if e.winner == system.watcher {
                            t.disputes_won_by_challenger += 1;
                        }
                        t.bond_reward += e.reward;
                        t.bond_burned += e.burned;
                        format!(
                            "{}slashed{} {}: {} gets {} of {}'s bond, {} burned",
                            s.red,
                            s.reset,
                            e.requestId,
                            name(&e.winner),
                            wei_to_eth(e.reward),
                            name(&e.loser),
                            wei_to_eth(e.burned)
                        )
                    } else if let Ok(e) = log.log_decode::<InferenceOracle::RequestReopened>() {
                        format!("request {} reopened: it takes a proven answer", e.inner.data.requestId)
                    } else if let Ok(e) = log.log_decode::<DisputeGame::OutputProven>() {
                        let e = e.inner.data;
                        let gas = proven_gas;
                        t.prove_output_gas = gas;
                        t.verify_gas = verify_gas;
                        t.proof_bytes = proof_bytes;
                        if challenged_at > 0 {
                            t.dispute_seconds = started.elapsed().as_secs().saturating_sub(challenged_at);
                        }
                        format!(
                            "{}proven{} {}: {} submits a whole-inference Nova proof ({proof_bytes} bytes); NovaVerifier accepts it on-chain ({verify_gas} gas of proveOutput's {gas})",
                            s.green,
                            s.reset,
                            e.requestId,
                            name(&e.prover),
                        )
                    } else if let Ok(e) = log.log_decode::<InferenceOracle::Finalized>() {
                        let e = e.inner.data;
                        t.finalized += 1;
                        format!(
                            "finalized {} ({}): output {}, answered by {}",
                            e.requestId,
                            if e.proven { "proven" } else { "optimistic, unchallenged" },
                            output_text(&e.output),
                            name(&e.operator)
                        )
                    } else if let Ok(e) = log.log_decode::<TicTacToe::Moved>() {
                        let e = e.inner.data;
                        if !e.npc {
                            continue;
                        }
                        format!("tic-tac-toe game {}: the NPC plays O at cell {}", e.gameId, e.cell)
                    } else {
                        continue;
                    };
                    drop(t);
                    println!("    {at} {line}");
                }
                from = head + 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

/// The watchtower's latency (`--latency`): one request per shipped model, all answered by the
/// dishonest oracle; from each proposal to the challenge transaction and from the challenge to
/// the resolution (the correct answer final), by block timestamps on the 1-second chain.
async fn watch_latency(
    system: &System,
    models: &BTreeMap<u64, (&'static str, Model)>,
    processes: &Processes,
    user: Address,
) -> anyhow::Result<()> {
    step("watchtower latency: one lie per model, caught and resolved");
    let mut ids = Vec::new();
    for (id, (name, model)) in models {
        // int8 values in the symmetric range [-127, 127].
        let input: Vec<u8> = (0..model.input.len).map(|i| ((((i * 37 + 11) % 255) as i32 - 127) as i8) as u8).collect();
        let fee = system.oracle.estimateFee(U256::from(*id)).call().await?;
        let receipt = system
            .oracle
            .request(U256::from(*id), input.into(), FixedBytes::ZERO, Address::ZERO, 0, Bytes::new())
            .value(fee)
            .from(user)
            .send()
            .await?
            .get_receipt()
            .await?;
        let request = receipt.decoded_log::<InferenceOracle::RequestCreated>().context("no RequestCreated")?.requestId;
        ids.push((*name, request));
    }
    for (name, request) in &ids {
        wait_until(Duration::from_secs(4 * CLOCK + PROOF_WINDOW + 240), processes, || async {
            Ok(system.oracle.resultOf(*request).call().await?.finalized)
        })
        .await
        .with_context(|| format!("{name}: the lie was not resolved in time"))?;
    }
    println!(
        "    {:<11} {:>5} {:>26} {:>30} {:>22}",
        "model", "steps", "proposal → challenge tx (s)", "challenge → correct answer (s)", "ended by"
    );
    for (name, request) in ids {
        let at = |sig| async move {
            let filter = Filter::new()
                .address(vec![*system.oracle.address(), *system.game.address()])
                .event_signature(sig)
                .topic1(request)
                .from_block(0);
            let log = system.provider.get_logs(&filter).await?.into_iter().next().context("missing event")?;
            let block = log.block_number.context("pending log")?;
            let header = system.provider.get_block_by_number(block.into()).await?.context("no block")?;
            anyhow::Ok(header.header.timestamp)
        };
        let proposed = at(InferenceOracle::Proposed::SIGNATURE_HASH).await?;
        let challenged = at(InferenceOracle::Challenged::SIGNATURE_HASH).await?;
        let finalized = at(InferenceOracle::Finalized::SIGNATURE_HASH).await?;
        let steps = models.values().find(|(n, _)| *n == name).map_or(0, |(_, m)| m.steps());
        println!(
            "    {:<11} {:>5} {:>26} {:>30} {:>22}",
            name,
            steps,
            challenged - proposed,
            finalized - challenged,
            "timeout + proveOutput"
        );
    }
    println!(
        "    anvil, 1-second blocks; liveness {LIVENESS} s, clocks {CLOCK} s, proof window {PROOF_WINDOW} s: \
         the liar cannot prove its last step, so each dispute waits out the proof window"
    );
    Ok(())
}

/// The gas of `verifySegment` alone on the proof of a `proveOutput` transaction, and the proof's
/// size (the transaction's input, decoded and checked again with `eth_estimateGas`).
async fn verification_gas(system: &System, tx: FixedBytes<32>) -> anyhow::Result<(u64, usize)> {
    use alloy::{consensus::Transaction as _, sol_types::SolCall};
    let sent = system.provider.get_transaction_by_hash(tx).await?.context("no transaction")?;
    let call = DisputeGame::proveOutputCall::abi_decode(sent.input())?;
    let request = system.oracle.requestOf(call.requestId).call().await?;
    let len = call.proof.len();
    // A proven output's proof is made for the request id bound to its sender.
    let bound = system.game.proverBoundId(call.requestId, sent.inner.signer()).call().await?;
    let gas = system
        .verifier
        .verifySegment(
            U256::from(request.modelId),
            bound,
            U256::ZERO,
            U256::from(call.steps.len() - 1),
            call.steps,
            call.proof,
        )
        .estimate_gas()
        .await?;
    Ok((gas, len))
}

fn prediction_text(p: &verdict_circuits::Prediction) -> String {
    match p {
        verdict_circuits::Prediction::Regression { values } => format!("{:.4}", values.first().copied().unwrap_or(0.0)),
        verdict_circuits::Prediction::Classification { class } => format!("class {class}"),
    }
}

fn short(z: &FixedBytes<32>) -> String {
    let h = z.to_string();
    format!("{}…", &h[..10])
}

fn output_text(output: &Bytes) -> String {
    let values: Vec<i32> = output.chunks(4).map(|c| i32::from_be_bytes(c.try_into().unwrap_or([0; 4]))).collect();
    format!("{values:?}")
}
