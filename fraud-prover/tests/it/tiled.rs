//! The shipped million-weight model (`digits_1m`, 784-1024-512-10, 1,333,770 parameters,
//! 2,881 tiles) registered by tiles and disputed on anvil by the real services: a dishonest
//! `oracle serve` lies in the middle tile, `fraud-prover watch` catches it and the bisection
//! narrows to that tile, which the liar cannot prove; then, proposed again honestly and
//! challenged by a liar, the operator proves the disputed tile on-chain and wins.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, Bytes, FixedBytes, U256};
use verdict_circuits::{
    folding::KeySource,
    tiled::{TileKeys, TiledModel},
    Commitment, Model,
};
use verdict_contracts::{
    dispute::Trace, dispute_game::DisputeGame, inference_oracle::InferenceOracle, nova, ModelRegistry, NovaVerifier,
};
use verdict_fraud_prover::watch::WatchArgs;
use verdict_runtime::{models::ModelArg, prover::ProverArgs};
use verdict_testkit::{free_port, root, sample_input, Env};

use crate::{operator::Operator, watch::args, watch::start_watch};

/// A clock for a bisection of 12 rounds with 1-second blocks, with room for a loaded machine.
const CLOCK: u64 = 120;

/// The game's events of `id` of type `E`, decoded.
async fn game_events<E: alloy::sol_types::SolEvent>(env: &Env, id: U256) -> Vec<E> {
    let filter = alloy::rpc::types::Filter::new()
        .address(*env.game.address())
        .event_signature(E::SIGNATURE_HASH)
        .topic1(id)
        .from_block(0);
    let logs = alloy::providers::Provider::get_logs(&env.provider, &filter).await.unwrap();
    logs.iter().map(|l| l.log_decode::<E>().unwrap().inner.data).collect()
}

/// Where dispute `id` stands: its moves and segment, whose move it is and until when, and the
/// chain's time (the test's own game: the services' shared log interleaves every test's).
async fn game_state(env: &Env, id: U256) -> String {
    let moves = game_events::<DisputeGame::Moved>(env, id).await;
    let ready = game_events::<DisputeGame::SegmentReady>(env, id).await;
    let ended = game_events::<DisputeGame::DisputeEnded>(env, id).await;
    let deadline = env.game.deadlineOf(id).call().await.map(|d| (d.expiresAt, d.proposerToMove));
    let block = alloy::providers::Provider::get_block_by_number(&env.provider, alloy::eips::BlockNumberOrTag::Latest)
        .await
        .ok()
        .flatten()
        .map(|b| (b.header.number, b.header.timestamp));
    format!(
        "{} moves (last by {:?}), segments {:?}, ended {:?}, deadline (expires at, proposer to move) {deadline:?}, \
         latest block (number, timestamp) {block:?}",
        moves.len(),
        moves.last().map(|m| m.mover),
        ready.iter().map(|r| (r.lo, r.hi)).collect::<Vec<_>>(),
        ended.iter().map(|e| (e.proposerWon, e.reason)).collect::<Vec<_>>(),
    )
}

// Workers as the services' own runtime has them (`service_runtime`: 16 at least): two
// in-process services and the test share this one, and a blocking call on a worker (a store
// commit, a trace) must not hold up the other's moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 16)]
async fn a_million_weight_model_is_disputed_tile_by_tile_on_chain() {
    let env = Env::start_with_clock(Some(1), &[], CLOCK).await;
    let path = root().join("models/digits_1m.model.json");
    let model = Model::load(&path).unwrap();
    assert_eq!(model.parameter_count(), 1_333_770);

    // Registered by tiles: its tiled commitment, its tile count, the tile key (model 2).
    let keys = env.path("keys");
    let (tiled, key) = {
        let (model, keys) = (model.clone(), keys.clone());
        tokio::task::spawn_blocking(move || {
            let tiled = TiledModel::new(model).unwrap();
            let (tile_keys, _) = TileKeys::load_or_setup(&KeySource::InsecureTest, Some(&keys)).unwrap();
            (tiled, tile_keys.verifier().evm_key().unwrap())
        })
        .await
        .unwrap()
    };
    let tiles = tiled.steps();
    assert_eq!(tiles, 2_881);
    let deployment: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("deployment.json")).unwrap()).unwrap();
    let registry = ModelRegistry::new(deployment["registry"].as_str().unwrap().parse().unwrap(), env.provider.clone());
    let verifier = NovaVerifier::new(deployment["verifier"].as_str().unwrap().parse().unwrap(), env.provider.clone());
    let uri = "file://models/digits_1m.model.json".to_string();
    let (model_id, _) =
        nova::register_tiled_model(&registry, &verifier, &key, &tiled, false, 1_000, uri).await.unwrap();

    // The liar and the watchtower, both serving model 2 by tiles from the same file.
    let served = format!("{model_id}={}", path.display());
    let keys_flag = keys.to_str().unwrap();
    let liar =
        Operator::start(&env, &["--dishonest", "--insecure-test-setup", "--keys-dir", keys_flag, "--model", &served]);
    liar.ready().await;
    let port = free_port();
    let watch_args = WatchArgs {
        models: vec![ModelArg { id: model_id.to(), path: Some(path.clone()) }],
        prover: ProverArgs { ptau_dir: None, insecure_test_setup: true, keys_dir: keys.clone() },
        ..args(&env, port)
    };
    let watcher = start_watch(watch_args).await;

    // A request of model 2, proposed with the lie.
    let input = sample_input(&model);
    let fee = env.oracle.estimateFee(model_id).call().await.unwrap();
    let bytes = Bytes::from(input.iter().map(|v| *v as u8).collect::<Vec<u8>>());
    let call = env.oracle.request(model_id, bytes, FixedBytes::ZERO, Address::ZERO, 0, Bytes::new());
    let receipt = call.value(fee).from(env.user).send().await.unwrap().get_receipt().await.unwrap();
    let rid = receipt.decoded_log::<InferenceOracle::RequestCreated>().unwrap().requestId;
    let id: u64 = rid.to();

    // The watchtower challenges, the bisection runs 12 rounds to the middle tile, the liar cannot
    // prove it, and the watchtower wins when the proof window runs out.
    let started = Instant::now();
    while env.count::<InferenceOracle::DisputeResolved>(id).await == 0 {
        if started.elapsed() > Duration::from_secs(2 * CLOCK + 180) {
            panic!("the dispute did not end: {}; log:\n{}", game_state(&env, rid).await, crate::operator::log());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ready = game_events::<DisputeGame::SegmentReady>(&env, rid).await;
    let ended = game_events::<DisputeGame::DisputeEnded>(&env, rid).await;
    let moves = game_events::<DisputeGame::Moved>(&env, rid).await;
    assert!(
        !ready.is_empty(),
        "no segment reached ({} moves, ended {:?}); log:\n{}",
        moves.len(),
        ended.iter().map(|e| (e.proposerWon, e.reason)).collect::<Vec<_>>(),
        crate::operator::log()
    );
    let middle = tiles / 2;
    assert_eq!(
        (ready[0].lo.to::<usize>(), ready[0].hi.to::<usize>()),
        (middle, middle + 1),
        "the bisection narrows to the lie's tile"
    );
    let moves = game_events::<DisputeGame::Moved>(&env, rid).await;
    // The challenger's opening, then at most ⌈log2(2881)⌉ = 12 rounds of two moves (halving
    // rounds up or down on the way).
    let rounds = (moves.len() - 1) / 2;
    assert!(moves.len() % 2 == 1 && rounds <= 12, "{} moves", moves.len());
    let ended = game_events::<DisputeGame::DisputeEnded>(&env, rid).await;
    assert!(!ended[0].proposerWon);
    let resolved = crate::watch::resolution(&env, id).await;
    assert_eq!((resolved.winner, resolved.loser), (env.watcher, env.operator));
    eprintln!("the liar lost at tile {middle} of {tiles} after {rounds} rounds, {:?}", started.elapsed());
    drop(liar);
    // The reopened request's whole proof (2,881 tiles, ~99M gas) is over the watchtower's gas
    // cap: it leaves the request to be proposed again.
    assert_eq!(env.oracle.requestOf(rid).call().await.unwrap().status, 1, "Requested: open again");

    // Proposed again by the honest operator (a fresh database), then challenged by a liar that
    // the test plays: its trace parts from the honest one after the middle tile.
    let honest = Operator::start_at(
        &env,
        "honest.sqlite",
        &["--insecure-test-setup", "--keys-dir", keys_flag, "--model", &served],
    );
    honest.ready().await;
    let started = Instant::now();
    while env.count::<InferenceOracle::Proposed>(id).await < 2 {
        assert!(started.elapsed() < Duration::from_secs(60), "not proposed again; log:\n{}", crate::operator::log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let run = tiled.run(&input).unwrap();
    let honest_steps: Vec<Commitment> = run.tiled.commitments.iter().map(|z| Commitment::from_field(*z)).collect();
    let mut words: Vec<FixedBytes<32>> = honest_steps.iter().map(|z| FixedBytes::from(z.0)).collect();
    for w in &mut words[middle + 1..] {
        w.0[31] ^= 1;
    }
    let lie = Trace::from_words(&words);
    let bond = env.oracle.challengerBond().call().await.unwrap();
    let challenged = env.oracle.challenge(rid, lie.root()).value(U256::from(bond)).from(env.user).send().await;
    challenged.unwrap().get_receipt().await.unwrap();
    let started = Instant::now();
    while env.count::<InferenceOracle::DisputeResolved>(id).await < 2 {
        if started.elapsed() > Duration::from_secs(2 * CLOCK + 120) {
            panic!("the second dispute did not end: {}; log:\n{}", game_state(&env, rid).await, crate::operator::log());
        }
        env.challenger_move(id, tiles, &lie, env.user).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    watcher.abort();
    let ready = game_events::<DisputeGame::SegmentReady>(&env, rid).await;
    assert_eq!((ready[1].lo.to::<usize>(), ready[1].hi.to::<usize>()), (middle, middle + 1));
    let ended = game_events::<DisputeGame::DisputeEnded>(&env, rid).await;
    assert!(ended[1].proposerWon, "the one-tile proof was accepted on-chain");
    let resolved = crate::watch::resolution_at(&env, id, 1).await;
    assert_eq!((resolved.winner, resolved.loser), (env.operator, env.user));
    // The proof's gas, from the operator's own record of its transactions.
    let doc: serde_json::Value =
        reqwest::get(format!("{}/v1/requests/{id}", honest.url)).await.unwrap().json().await.unwrap();
    let proof_tx = doc["transactions"].as_array().unwrap().iter().find(|t| t["kind"] == "prove_segment").cloned();
    let hash: alloy::primitives::TxHash =
        proof_tx.as_ref().and_then(|t| t["hash"].as_str()).expect("a mined prove_segment").parse().unwrap();
    let receipt = alloy::providers::Provider::get_transaction_receipt(&env.provider, hash).await.unwrap().unwrap();
    eprintln!("proveSegment of one tile of {tiles}: {} gas", receipt.gas_used);
    assert!(receipt.gas_used < 1_000_000, "{} gas", receipt.gas_used);
}
