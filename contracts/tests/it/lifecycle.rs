//! The request lifecycle on anvil through the Rust bindings: deploy, register, request,
//! propose, settle, challenge, bisect, claim; transaction gas from receipts against the
//! budgets; reverts decoded into the contracts' typed errors.

use alloy::primitives::{Address, Bytes, FixedBytes, U256};
use verdict_contracts::{inference_oracle::InferenceOracle::InferenceOracleErrors, DisputeGame};

use crate::common::*;

#[tokio::test]
async fn lifecycle_gas_and_typed_errors_on_anvil() {
    let anvil = anvil();
    let (provider, accounts) = provider(&anvil);
    let Protocol { verifier, oracle, game } = deploy(&provider, &accounts).await;
    let (operator, watcher, user) = (accounts.operator, accounts.watcher, accounts.user);
    let fee = oracle.estimateFee(U256::from(1)).call().await.unwrap();
    assert_eq!(fee, U256::from(MODEL_FEE + OPERATOR_FEE));

    let input = Bytes::from_static(&[1, 0xfe, 0x7f, 0]);
    let output = Bytes::from_static(&[0, 0, 0, 7, 0xff, 0xff, 0xff, 0xfd]);
    let request = || {
        oracle
            .request(U256::from(1), input.clone(), FixedBytes::ZERO, Address::ZERO, 0, Bytes::new())
            .from(user)
            .value(fee)
    };
    let mut gas = Vec::new();

    // Request -> propose -> settle -> claim (twice, so the second run is the steady state in
    // which every account already holds a balance).
    for id in 1..=2u64 {
        request().send().await.unwrap().get_receipt().await.unwrap();
        let r = oracle.propose(U256::from(id), output.clone(), b32(9)).from(operator).send().await.unwrap();
        gas.push(("propose", r.get_receipt().await.unwrap().gas_used));
        warp(&provider, WINDOW).await;
        let r = oracle.settle(U256::from(id), output.clone()).from(watcher).send().await.unwrap();
        gas.push(("settle (no callback)", r.get_receipt().await.unwrap().gas_used));
        assert!(oracle.isFinalized(U256::from(id)).call().await.unwrap());
        let r = oracle.claim().from(operator).send().await.unwrap();
        gas.push(("claim", r.get_receipt().await.unwrap().gas_used));
    }

    // A revert decodes into the contract's typed error, not a string.
    let err = oracle.settle(U256::from(1), output.clone()).from(watcher).call().await.unwrap_err();
    let decoded = err.as_decoded_interface_error::<InferenceOracleErrors>().expect("a typed InferenceOracle error");
    match decoded {
        InferenceOracleErrors::InferenceOracleWrongStatus(e) => {
            assert_eq!(e.requestId, U256::from(1));
            assert_eq!(e.actual, 5, "Finalized");
        }
        other => panic!("unexpected error {other:?}"),
    }

    // A challenged proposal and one bisection move on each side.
    let zs_p: Vec<FixedBytes<32>> = {
        let mut v = vec![verifier.inputCommitment(U256::ZERO, input.clone()).call().await.unwrap()];
        v.extend((1..5).map(|i| keccak(format!("step{i}").as_bytes())));
        v.push(verifier.outputCommitment(U256::ZERO, output.clone()).call().await.unwrap());
        v
    };
    let mut zs_c = zs_p.clone();
    zs_c[4] = keccak(b"other");
    zs_c[5] = keccak(b"other end");
    request().send().await.unwrap().get_receipt().await.unwrap();
    oracle
        .propose(U256::from(3), output.clone(), root(&zs_p))
        .from(operator)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let r = oracle
        .challenge(U256::from(3), root(&zs_c))
        .from(watcher)
        .value(U256::from(CHALLENGER_BOND))
        .send()
        .await
        .unwrap();
    gas.push(("challenge", r.get_receipt().await.unwrap().gas_used));
    let opening = |zs: &[FixedBytes<32>]| DisputeGame::Opening {
        z0: zs[0],
        proof0: proof(zs, 0),
        zL: zs[5],
        proofL: proof(zs, 5),
    };
    game.openDispute(U256::from(3), input.clone(), output.clone(), opening(&zs_p))
        .from(operator)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    game.challengerOpen(U256::from(3), opening(&zs_c)).from(watcher).send().await.unwrap().get_receipt().await.unwrap();
    let r = game.proposerBisect(U256::from(3), zs_p[2], proof(&zs_p, 2)).from(operator).send().await.unwrap();
    gas.push(("bisection move (proposer)", r.get_receipt().await.unwrap().gas_used));
    let r = game.challengerBisect(U256::from(3), zs_c[2], proof(&zs_c, 2)).from(watcher).send().await.unwrap();
    gas.push(("bisection move (challenger)", r.get_receipt().await.unwrap().gas_used));
    let d = game.disputeOf(U256::from(3)).call().await.unwrap();
    assert_eq!((d.lo, d.hi), (2, 5), "agreement at the midpoint moves lo up");

    // Budgets (the contracts issue): steady-state transaction gas from receipts.
    let budget = |name: &str| match name {
        "propose" => 120_000,
        "settle (no callback)" => 60_000,
        "challenge" => 120_000,
        "claim" => 40_000,
        _ => 90_000,
    };
    println!("{:<28} {:>9} {:>9}", "transaction", "gas", "budget");
    for (name, used) in &gas {
        println!("{name:<28} {used:>9} {:>9}", budget(name));
    }
    // The first propose/settle/claim write fresh slots (first-ever balances); the budgets
    // apply to the steady state (the last measurement of each).
    for name in [
        "propose",
        "settle (no callback)",
        "claim",
        "challenge",
        "bisection move (proposer)",
        "bisection move (challenger)",
    ] {
        let used = gas.iter().rev().find(|(n, _)| *n == name).unwrap().1;
        assert!(used <= budget(name), "{name}: {used} gas > {}", budget(name));
    }
}
