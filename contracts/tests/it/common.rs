//! Shared setup of the anvil tests: a chain, funded keys, the protocol deployed with a test
//! verifier, and trace helpers.

use std::path::PathBuf;

use alloy::{
    network::EthereumWallet,
    node_bindings::{Anvil, AnvilInstance},
    primitives::{aliases::U96, Address, FixedBytes, U256},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    sol,
};
use verdict_contracts::{dispute::Trace, DisputeGame, InferenceOracle, ModelRegistry};

sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    #[allow(missing_docs)]
    TestVerifier,
    "out/Fixture.sol/TestVerifier.json"
);

pub(crate) const PROPOSER_BOND: u64 = 1_000_000_000_000_000_000;
pub(crate) const CHALLENGER_BOND: u64 = 500_000_000_000_000_000;
pub(crate) const MODEL_FEE: u64 = 1_000;
pub(crate) const OPERATOR_FEE: u64 = 1_000_000_000_000_000;
pub(crate) const WINDOW: u64 = 60;
pub(crate) const BURN_BPS: u16 = 2_000;

pub(crate) fn anvil() -> AnvilInstance {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/anvil");
    Anvil::new().path(path).try_spawn().expect("anvil starts (run scripts/setup.sh first)")
}

pub(crate) fn b32(i: u64) -> FixedBytes<32> {
    FixedBytes::from(U256::from(i))
}

pub(crate) fn keccak(data: &[u8]) -> FixedBytes<32> {
    alloy::primitives::keccak256(data)
}

pub(crate) fn root(zs: &[FixedBytes<32>]) -> FixedBytes<32> {
    Trace::from_words(zs).root()
}

pub(crate) fn proof(zs: &[FixedBytes<32>], i: usize) -> Vec<FixedBytes<32>> {
    Trace::from_words(zs).opening(i).1
}

pub(crate) async fn warp(provider: &impl Provider, secs: u64) {
    let _: serde_json::Value = provider.raw_request("evm_increaseTime".into(), (secs,)).await.unwrap();
    let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
}

/// The accounts of a test: deployer (also model owner and treasury), operator, watcher, user.
pub(crate) struct Accounts {
    pub(crate) deployer: Address,
    pub(crate) operator: Address,
    pub(crate) watcher: Address,
    pub(crate) user: Address,
}

/// A provider that signs for the first four anvil keys.
pub(crate) fn provider(anvil: &AnvilInstance) -> (impl Provider + Clone, Accounts) {
    let keys: Vec<PrivateKeySigner> = anvil.keys()[..4].iter().cloned().map(Into::into).collect();
    let accounts = Accounts {
        deployer: keys[0].address(),
        operator: keys[1].address(),
        watcher: keys[2].address(),
        user: keys[3].address(),
    };
    let mut wallet = EthereumWallet::from(keys[0].clone());
    for k in &keys[1..] {
        wallet.register_signer(k.clone());
    }
    (ProviderBuilder::new().wallet(wallet).connect_http(anvil.endpoint_url()), accounts)
}

/// The protocol, deployed with a 5-step public model (id 1, 4 int8 inputs, 2 int32 outputs)
/// whose verifier is the test verifier, and the operator bonded with 5 proposer bonds.
pub(crate) struct Protocol<P: Provider + Clone> {
    pub(crate) verifier: TestVerifier::TestVerifierInstance<P>,
    pub(crate) oracle: InferenceOracle::InferenceOracleInstance<P>,
    pub(crate) game: DisputeGame::DisputeGameInstance<P>,
}

pub(crate) async fn deploy<P: Provider + Clone>(provider: &P, accounts: &Accounts) -> Protocol<P> {
    let verifier = TestVerifier::deploy(provider.clone()).await.unwrap();
    let registry = ModelRegistry::deploy(provider.clone()).await.unwrap();
    let config = InferenceOracle::Config {
        livenessWindow: WINDOW,
        operatorFee: U96::from(OPERATOR_FEE),
        burnBps: BURN_BPS,
        maxCallbackGas: 500_000,
        requestTimeout: 600,
        treasury: accounts.deployer,
    };
    let oracle = InferenceOracle::deploy(
        provider.clone(),
        *registry.address(),
        U96::from(PROPOSER_BOND),
        U96::from(CHALLENGER_BOND),
        86_400,
        config,
    )
    .await
    .unwrap();
    let game = DisputeGame::deploy(provider.clone(), *oracle.address(), 1, 120, 300).await.unwrap();
    oracle.setDisputeGame(*game.address()).send().await.unwrap().get_receipt().await.unwrap();
    registry
        .register(b32(1), b32(2), *verifier.address(), 5, 4, 2, false, U96::from(MODEL_FEE), "file://m".into())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    oracle
        .depositBond()
        .from(accounts.operator)
        .value(U256::from(5 * PROPOSER_BOND))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    Protocol { verifier, oracle, game }
}
