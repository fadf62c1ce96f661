//! Private models served by `oracle serve --blinding` (issue 18, in part): the price-feed model
//! registered again with private weights. A blind challenge by `fraud-prover watch
//! --blind-challenge` is answered with a proof of the whole inference in private-weight mode,
//! verified on-chain, and the challenger loses its bond; a dishonest operator of a private model
//! cannot make that proof and loses its own. The API never shows the model's weights, its
//! traces or its inner step commitments.

use std::time::{Duration, Instant};

use alloy::{primitives::U256, providers::Provider};
use verdict_circuits::{folding::KeySource, step::Blinding};
use verdict_contracts::{inference_oracle::InferenceOracle, nova, ModelRegistry, NovaVerifier};
use verdict_fraud_prover::watch::WatchArgs;
use verdict_testkit::{free_port, root, sample_input, Env, CLOCK, PROOF_WINDOW};

use crate::{operator::Operator, watch::args, watch::start_watch};

/// The operator serving the private model (`--blinding`), honest or not; the blind watchtower;
/// one request of the private model. Returns them and the request id.
async fn private_dispute(
    env: &Env,
    dishonest: bool,
) -> (Operator, tokio::task::JoinHandle<verdict_fraud_prover::Result<()>>, U256, u64) {
    let id = env.register_private().await;
    let operator = private_operator(env, id, dishonest, "oracle.sqlite").await;
    let port = free_port();
    let watcher = start_watch(WatchArgs { models: vec![], blind_challenge: vec![id.to()], ..args(env, port) }).await;
    let rid = env.request_model(id, &sample_input(&env.model)).await;
    (operator, watcher, id, rid)
}

/// `oracle serve` of the price-feed model (1) and its private twin `id` (`--blinding`), honest or
/// not, with its database `db` in the chain's folder; started and ready.
async fn private_operator(env: &Env, id: U256, dishonest: bool, db: &str) -> Operator {
    let model = format!("{id}={}", root().join("models/price_feed.model.json").display());
    let blinding = format!("{id}={}", env.path("blinding.json").display());
    let keys = env.path("keys");
    let mut flags = vec!["--insecure-test-setup", "--keys-dir", keys.to_str().unwrap(), "--model", &model];
    flags.extend(["--blinding", &blinding]);
    if dishonest {
        flags.push("--dishonest");
    }
    let operator = Operator::start_at(env, db, &flags);
    operator.ready().await;
    operator
}

async fn wait_resolved(env: &Env, rid: u64, limit: Duration) {
    let started = Instant::now();
    while env.count::<InferenceOracle::DisputeResolved>(rid).await == 0 {
        assert!(started.elapsed() < limit, "the dispute did not end; log:\n{}", crate::operator::log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_model_is_served_and_its_proposal_defended_against_a_blind_challenge() {
    let env = Env::new().await;
    let (operator, watcher, id, rid) = private_dispute(&env, false).await;

    // What the API shows of a private model: what the registry shows.
    let view: serde_json::Value =
        reqwest::get(format!("{}/v1/models/{id}", operator.url)).await.unwrap().json().await.unwrap();
    assert_eq!(view["private"], true, "{view}");
    assert!(view.get("parameters").is_none() && view.get("name").is_none(), "{view}");

    wait_resolved(&env, rid, Duration::from_secs(CLOCK + PROOF_WINDOW + 60)).await;
    let resolved = crate::watch::resolution(&env, rid).await;
    assert_eq!((resolved.winner, resolved.loser), (env.operator, env.watcher), "the blind challenger loses");
    // The proposal stands and settles.
    let started = Instant::now();
    while env.count::<InferenceOracle::Finalized>(rid).await == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "not settled; log:\n{}", crate::operator::log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    watcher.abort();

    let r = reqwest::get(format!("{}/v1/requests/{rid}/trace", operator.url)).await.unwrap();
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "private_model", "{body}");
    let doc: serde_json::Value =
        reqwest::get(format!("{}/v1/requests/{rid}", operator.url)).await.unwrap().json().await.unwrap();
    assert!(doc["steps"].is_null(), "inner step commitments are not shown: {doc}");
    let kinds: Vec<&str> = doc["transactions"].as_array().unwrap().iter().filter_map(|t| t["kind"].as_str()).collect();
    assert!(kinds.contains(&"prove_segment"), "defended with a whole private proof: {kinds:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dishonest_operator_of_a_private_model_loses_its_bond_to_a_blind_challenge_and_an_honest_one_answers() {
    let env = Env::new().await;
    let (mut liar, watcher, id, rid) = private_dispute(&env, true).await;
    wait_resolved(&env, rid, Duration::from_secs(2 * CLOCK + PROOF_WINDOW + 90)).await;
    watcher.abort();
    let resolved = crate::watch::resolution(&env, rid).await;
    assert_eq!((resolved.winner, resolved.loser), (env.watcher, env.operator), "the liar loses its bond");
    assert_eq!(env.oracle.requestOf(U256::from(rid)).call().await.unwrap().status, 1, "open again");
    // An honest operator of the model answers the reopened request: the consumer gets the model's
    // output.
    liar.kill();
    let _ = liar.outcome(Duration::from_secs(30)).await;
    let _honest = private_operator(&env, id, false, "honest.sqlite").await;
    assert_final_output(&env, rid, &sample_input(&env.model), Duration::from_secs(60)).await;
}

/// A private model of more tiles than a whole-inference proof can carry could not be defended
/// against a blind challenge: the services refuse it by name. Its smaller sibling, private by
/// tiles, is served.
#[tokio::test(flavor = "multi_thread")]
async fn a_private_model_too_large_to_defend_is_refused() {
    use verdict_circuits::{
        tiled::{TileKeys, TiledModel},
        Model,
    };
    use verdict_runtime::{load_models, models::BlindingArg, models::ModelArg};

    let env = Env::new().await;
    let deployment: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("deployment.json")).unwrap()).unwrap();
    let registry = ModelRegistry::new(deployment["registry"].as_str().unwrap().parse().unwrap(), env.provider.clone());
    let verifier = NovaVerifier::new(deployment["verifier"].as_str().unwrap().parse().unwrap(), env.provider.clone());
    let keys = env.path("keys");
    let key = {
        let keys = keys.clone();
        tokio::task::spawn_blocking(move || {
            TileKeys::load_or_setup(&KeySource::InsecureTest, Some(&keys)).unwrap().0.verifier().evm_key().unwrap()
        })
        .await
        .unwrap()
    };
    let mut args = Vec::new();
    for (name, tiles) in [("price_feed", 6), ("digits_1m", 2_881)] {
        let path = root().join(format!("models/{name}.model.json"));
        let blinding_path = env.path(&format!("{name}.blinding.json"));
        let tiled = {
            let (path, blinding_path) = (path.clone(), blinding_path.clone());
            tokio::task::spawn_blocking(move || {
                let model = Model::load(&path).unwrap();
                let blinding = Blinding::random(&model);
                blinding.save(&blinding_path).unwrap();
                TiledModel::private(model, &blinding).unwrap()
            })
            .await
            .unwrap()
        };
        assert_eq!(tiled.steps(), tiles);
        let (id, _) =
            nova::register_tiled_model(&registry, &verifier, &key, &tiled, true, 1, String::new()).await.unwrap();
        args.push((ModelArg { id: id.to(), path: Some(path) }, BlindingArg { id: id.to(), path: blinding_path }));
    }
    let registry = *registry.address();
    let (small, large) = (&args[0], &args[1]);
    let served = load_models(&env.provider, registry, std::slice::from_ref(&small.0), std::slice::from_ref(&small.1))
        .await
        .unwrap();
    let served = &served[&small.0.id];
    assert!(served.is_private() && served.tiled.is_some());
    let err = load_models(&env.provider, registry, std::slice::from_ref(&large.0), std::slice::from_ref(&large.1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is private and has 2881 tiles"), "{err}");
}

/// The operator (honest or not) serving the public price-feed model and its private twin, the
/// watchtower challenging blind every proposal of a private input and of the private model, and
/// one private-input request of each model, delivered to the operator over the API. Returns the
/// operator, the watchtower and, for each request, its id, input and salt.
async fn private_input_disputes(
    env: &Env,
    dishonest: bool,
) -> (Operator, tokio::task::JoinHandle<verdict_fraud_prover::Result<()>>, Vec<(u64, Vec<i8>, String)>) {
    let private_id = env.register_private().await;
    let operator = private_operator(env, private_id, dishonest, "oracle.sqlite").await;
    let watcher = start_watch(WatchArgs {
        blind_challenge: vec![private_id.to()],
        blind_challenge_private_inputs: true,
        ..args(env, free_port())
    })
    .await;
    let mut requests = Vec::new();
    for (model_id, shift) in [(U256::from(1), 0i8), (private_id, 3)] {
        let input: Vec<i8> = sample_input(&env.model).iter().map(|v| v.saturating_add(shift)).collect();
        let (rid, salt) = env.request_private(model_id, &input).await;
        let (status, body) = Env::deliver_input(&operator.url, rid, &input, &salt).await;
        assert_eq!(status, 200, "{body}");
        requests.push((rid, input, salt));
    }
    (operator, watcher, requests)
}

/// The output the consumer reads for request `rid`, once final: it must be the model's on `input`.
async fn assert_final_output(env: &Env, rid: u64, input: &[i8], limit: Duration) {
    let started = Instant::now();
    while env.count::<InferenceOracle::Finalized>(rid).await == 0 {
        assert!(started.elapsed() < limit, "request {rid} not final; log:\n{}", crate::operator::log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let expected: Vec<u8> = env.model.run(input).unwrap().output().iter().flat_map(|v| v.to_be_bytes()).collect();
    let result = env.oracle.resultOf(U256::from(rid)).call().await.unwrap();
    assert!(result.finalized);
    assert_eq!(result.outputHash, alloy::primitives::keccak256(&expected), "request {rid}: the model's output");
}

/// A private input (public model) and both private (private model, private input): each
/// proposal is challenged blind, defended with a proof of the whole inference from the request's
/// salted z_0 (in private-weight mode for the private model), verified on-chain; the challenger
/// loses its bond and the proposal settles with the model's output. The input never goes on
/// chain: not in the request, not in `openDispute`.
#[tokio::test(flavor = "multi_thread")]
async fn private_inputs_are_defended_against_blind_challenges_in_both_modes() {
    let env = Env::new().await;
    let (operator, watcher, requests) = private_input_disputes(&env, false).await;
    for (rid, input, _) in &requests {
        wait_resolved(&env, *rid, Duration::from_secs(CLOCK + PROOF_WINDOW + 90)).await;
        let resolved = crate::watch::resolution(&env, *rid).await;
        assert_eq!((resolved.winner, resolved.loser), (env.operator, env.watcher), "the blind challenger loses");
        assert_final_output(&env, *rid, input, Duration::from_secs(60)).await;
        let doc: serde_json::Value =
            reqwest::get(format!("{}/v1/requests/{rid}", operator.url)).await.unwrap().json().await.unwrap();
        let kinds: Vec<&str> =
            doc["transactions"].as_array().unwrap().iter().filter_map(|t| t["kind"].as_str()).collect();
        assert!(kinds.contains(&"open_dispute") && kinds.contains(&"prove_segment"), "{kinds:?}");
        assert!(doc["input"].is_null() && doc["steps"].is_null(), "{doc}");
    }
    watcher.abort();
    // `openDispute` carried no input: the game read z_0 from the request.
    let filter = alloy::rpc::types::Filter::new()
        .address(*env.game.address())
        .event_signature(
            <verdict_contracts::dispute_game::DisputeGame::DisputeOpened as alloy::sol_types::SolEvent>::SIGNATURE_HASH,
        )
        .from_block(0);
    let opened = env.provider.get_logs(&filter).await.unwrap();
    assert_eq!(opened.len(), 2);
    for log in opened {
        let tx = env.provider.get_transaction_by_hash(log.transaction_hash.unwrap()).await.unwrap().unwrap();
        let call =
            <verdict_contracts::dispute_game::DisputeGame::openDisputeCall as alloy::sol_types::SolCall>::abi_decode(
                alloy::consensus::Transaction::input(&tx),
            )
            .unwrap();
        assert!(call.input.is_empty(), "a private input never goes on chain");
    }
}

/// A dishonest operator in each private-input mode cannot prove its lie from z_0: it loses its
/// bond to the blind challenger and the request is open again; an honest operator, handed the
/// input by its requester, answers it, and the consumer gets the model's output.
#[tokio::test(flavor = "multi_thread")]
async fn a_dishonest_operator_of_a_private_input_loses_its_bond_and_an_honest_one_answers() {
    let env = Env::new().await;
    let (mut liar, watcher, requests) = private_input_disputes(&env, true).await;
    for (rid, _, _) in &requests {
        wait_resolved(&env, *rid, Duration::from_secs(2 * CLOCK + PROOF_WINDOW + 90)).await;
        let resolved = crate::watch::resolution(&env, *rid).await;
        assert_eq!((resolved.winner, resolved.loser), (env.watcher, env.operator), "the liar loses its bond");
        assert_eq!(env.oracle.requestOf(U256::from(*rid)).call().await.unwrap().status, 1, "open again");
    }
    watcher.abort();
    liar.kill();
    let _ = liar.outcome(Duration::from_secs(30)).await;

    let private_model = env.oracle.requestOf(U256::from(requests[1].0)).call().await.unwrap().modelId;
    let honest = private_operator(&env, U256::from(private_model), false, "honest.sqlite").await;
    for (rid, input, salt) in &requests {
        let (status, body) = Env::deliver_input(&honest.url, *rid, input, salt).await;
        assert_eq!(status, 200, "{body}");
    }
    for (rid, input, _) in &requests {
        assert_final_output(&env, *rid, input, Duration::from_secs(60)).await;
    }
}
