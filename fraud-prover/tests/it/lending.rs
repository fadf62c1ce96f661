//! The lending use case on anvil: a lender asks for a credit decision from the shipped
//! gradient-boosted ensemble (`credit_gbdt`, 40 trees, as skl2onnx exports it), a dishonest
//! `oracle serve` approves a borrower the model refuses, and `fraud-prover watch` catches the lie:
//! it wins the dispute (the liar cannot prove the step it lied in) and proves the model's own
//! decision on-chain for the lender.

use std::time::{Duration, Instant};

use alloy::primitives::{keccak256, U256};
use verdict_circuits::{argmax, InputValues};
use verdict_contracts::inference_oracle::InferenceOracle;
use verdict_runtime::models::{encode_output, ModelArg};
use verdict_testkit::{free_port, root, Env, CLOCK, PROOF_WINDOW};

use crate::{
    operator::Operator,
    watch::{args, resolution, start_watch},
};

/// Class 1 of `credit_gbdt`: the borrower is expected to default.
const DEFAULTS: usize = 1;

#[tokio::test(flavor = "multi_thread")]
async fn a_lie_approving_a_borrower_the_tree_ensemble_refuses_is_caught_and_the_lender_gets_the_models_decision() {
    let env = Env::new().await;
    let (model_id, model) = env.register_public("credit_gbdt").await;
    let path = root().join("models/credit_gbdt.model.json");
    // A risky borrower from the held-out book: age 29, 24k$ a year, debt-to-income 0.9, credit
    // lines 95% used, 3 late payments, 2 years of history, 2 accounts, a loan of 80% of income.
    let borrower = vec![29.0, 24.0, 0.9, 0.95, 3.0, 2.0, 2.0, 0.8];
    let input = InputValues(borrower).for_model(&model, false).unwrap();
    let honest = model.run(&input).unwrap();
    assert_eq!(argmax(honest.output()), DEFAULTS, "the model refuses this borrower");

    let keys = env.path("keys");
    let served = format!("{model_id}={}", path.display());
    let mut liar = Operator::start(
        &env,
        &["--dishonest", "--insecure-test-setup", "--keys-dir", keys.to_str().unwrap(), "--model", &served],
    );
    liar.ready().await;
    let port = free_port();
    let mut watch_args = args(&env, port);
    watch_args.models.push(ModelArg { id: model_id.to(), path: Some(path.clone()) });
    let watcher = start_watch(watch_args).await;

    let id = env.request_model(model_id, &input).await;
    let started = Instant::now();
    while env.count::<InferenceOracle::Finalized>(id).await == 0 {
        let limit = Duration::from_secs(4 * CLOCK + PROOF_WINDOW + 120);
        assert!(started.elapsed() < limit, "no final decision; log:\n{}", crate::operator::log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    watcher.abort();
    liar.kill();
    assert_eq!(env.count::<InferenceOracle::Challenged>(id).await, 1, "the lie was challenged once");
    let slashed = resolution(&env, id).await;
    assert_eq!((slashed.winner, slashed.loser), (env.watcher, env.operator), "the liar lost its bond");
    let result = env.oracle.resultOf(U256::from(id)).call().await.unwrap();
    assert!(result.finalized);
    assert_eq!(result.operator, env.watcher, "the watchtower proved the decision");
    assert_eq!(
        result.outputHash,
        keccak256(encode_output(honest.output())),
        "the lender got the model's decision (refuse), not the lie"
    );
}
