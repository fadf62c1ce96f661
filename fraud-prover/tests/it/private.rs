//! Private models served by `oracle serve --blinding` (issue 18, in part): the price-feed model
//! registered again with private weights. A blind challenge by `fraud-prover watch
//! --blind-challenge` is answered with a proof of the whole inference in private-weight mode,
//! verified on-chain, and the challenger loses its bond; a dishonest operator of a private model
//! cannot make that proof and loses its own. The API never shows the model's weights, its
//! traces or its inner step commitments.

use std::time::{Duration, Instant};

use alloy::primitives::U256;
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
    let model = format!("{id}={}", root().join("models/price_feed.model.json").display());
    let blinding = format!("{id}={}", env.path("blinding.json").display());
    let keys = env.path("keys");
    let mut flags = vec!["--insecure-test-setup", "--keys-dir", keys.to_str().unwrap(), "--model", &model];
    flags.extend(["--blinding", &blinding]);
    if dishonest {
        flags.push("--dishonest");
    }
    let operator = Operator::start(env, &flags);
    operator.ready().await;
    let port = free_port();
    let watcher = start_watch(WatchArgs { models: vec![], blind_challenge: vec![id.to()], ..args(env, port) }).await;
    let rid = env.request_model(id, &sample_input(&env.model)).await;
    (operator, watcher, id, rid)
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
async fn a_dishonest_operator_of_a_private_model_loses_its_bond_to_a_blind_challenge() {
    let env = Env::new().await;
    let (_operator, watcher, _, rid) = private_dispute(&env, true).await;
    wait_resolved(&env, rid, Duration::from_secs(2 * CLOCK + PROOF_WINDOW + 90)).await;
    watcher.abort();
    let resolved = crate::watch::resolution(&env, rid).await;
    assert_eq!((resolved.winner, resolved.loser), (env.watcher, env.operator), "the liar loses its bond");
    assert_eq!(env.oracle.requestOf(U256::from(rid)).call().await.unwrap().status, 1, "open again");
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
    for (name, tiles) in [("price_feed", 5), ("digits_1m", 1_479)] {
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
    assert!(err.to_string().contains("is private and has 1479 tiles"), "{err}");
}
