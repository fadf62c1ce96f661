//! The request lifecycle on anvil through the Rust bindings: deploy, register, request,
//! propose, settle, challenge, bisect, claim; transaction gas from receipts against the
//! budgets; reverts decoded into the contracts' typed errors.

use std::path::PathBuf;

use alloy::{
    network::EthereumWallet,
    node_bindings::{Anvil, AnvilInstance},
    primitives::{aliases::U96, Address, Bytes, FixedBytes, U256},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    sol,
};
use verdict_contracts::{
    inference_oracle::InferenceOracle::InferenceOracleErrors, DisputeGame, InferenceOracle, ModelRegistry,
};

sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    TestVerifier,
    "out/Fixture.sol/TestVerifier.json"
);

fn anvil() -> AnvilInstance {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/anvil");
    Anvil::new().path(path).try_spawn().expect("anvil starts (run scripts/setup.sh first)")
}

const PROPOSER_BOND: u64 = 1_000_000_000_000_000_000;
const CHALLENGER_BOND: u64 = 500_000_000_000_000_000;
const MODEL_FEE: u64 = 1_000;
const OPERATOR_FEE: u64 = 1_000_000_000_000_000;
const WINDOW: u64 = 60;

fn b32(i: u64) -> FixedBytes<32> {
    FixedBytes::from(U256::from(i))
}

fn keccak(data: &[u8]) -> FixedBytes<32> {
    alloy::primitives::keccak256(data)
}

/// Leaf and node hashing as TraceMerkle.sol (checked against the Rust TraceTree in circuits).
fn leaf(i: u64, z: FixedBytes<32>) -> FixedBytes<32> {
    let mut buf = vec![0u8];
    buf.extend_from_slice(&U256::from(i).to_be_bytes::<32>());
    buf.extend_from_slice(z.as_slice());
    keccak(&buf)
}

fn node(l: FixedBytes<32>, r: FixedBytes<32>) -> FixedBytes<32> {
    let mut buf = vec![1u8];
    buf.extend_from_slice(l.as_slice());
    buf.extend_from_slice(r.as_slice());
    keccak(&buf)
}

fn levels(zs: &[FixedBytes<32>]) -> Vec<Vec<FixedBytes<32>>> {
    let mut level: Vec<_> = zs.iter().enumerate().map(|(i, z)| leaf(i as u64, *z)).collect();
    level.resize(zs.len().next_power_of_two(), FixedBytes::ZERO);
    let mut out = vec![level];
    while out.last().unwrap().len() > 1 {
        let next = out.last().unwrap().chunks(2).map(|p| node(p[0], p[1])).collect();
        out.push(next);
    }
    out
}

fn proof(zs: &[FixedBytes<32>], mut i: usize) -> Vec<FixedBytes<32>> {
    let lv = levels(zs);
    let mut out = Vec::new();
    for level in &lv[..lv.len() - 1] {
        out.push(level[i ^ 1]);
        i >>= 1;
    }
    out
}

fn root(zs: &[FixedBytes<32>]) -> FixedBytes<32> {
    levels(zs).last().unwrap()[0]
}

async fn warp(provider: &impl Provider, secs: u64) {
    let _: serde_json::Value = provider.raw_request("evm_increaseTime".into(), (secs,)).await.unwrap();
    let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
}

#[tokio::test]
async fn lifecycle_gas_and_typed_errors_on_anvil() {
    let anvil = anvil();
    let keys: Vec<PrivateKeySigner> = anvil.keys()[..4].iter().cloned().map(Into::into).collect();
    let (deployer, operator, watcher, user) =
        (keys[0].address(), keys[1].address(), keys[2].address(), keys[3].address());
    let mut wallet = EthereumWallet::from(keys[0].clone());
    for k in &keys[1..] {
        wallet.register_signer(k.clone());
    }
    let provider = ProviderBuilder::new().wallet(wallet).connect_http(anvil.endpoint_url());

    // Deploy.
    let verifier = TestVerifier::deploy(&provider).await.unwrap();
    let registry = ModelRegistry::deploy(&provider).await.unwrap();
    let config = InferenceOracle::Config {
        livenessWindow: WINDOW,
        operatorFee: U96::from(OPERATOR_FEE),
        burnBps: 2_000,
        maxCallbackGas: 500_000,
        requestTimeout: 600,
        treasury: deployer,
    };
    let oracle = InferenceOracle::deploy(
        &provider,
        *registry.address(),
        U96::from(PROPOSER_BOND),
        U96::from(CHALLENGER_BOND),
        config,
    )
    .await
    .unwrap();
    let game = DisputeGame::deploy(&provider, *oracle.address(), 1, 120, 300).await.unwrap();
    oracle.setDisputeGame(*game.address()).send().await.unwrap().get_receipt().await.unwrap();

    // Register a 5-step model owned by the deployer.
    registry
        .register(b32(1), b32(2), *verifier.address(), 5, 4, 2, false, U96::from(MODEL_FEE), "file://m".into())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let fee = oracle.estimateFee(U256::from(1)).call().await.unwrap();
    assert_eq!(fee, U256::from(MODEL_FEE + OPERATOR_FEE));
    oracle
        .depositBond()
        .from(operator)
        .value(U256::from(5 * PROPOSER_BOND))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();

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
