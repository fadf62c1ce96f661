//! The responder against anvil: a stuck transaction replaced with higher fees, and a refused send
//! that leaves no nonce gap.

use std::time::Duration;

use alloy::{primitives::U256, providers::Provider};
use serde_json::{json, Value};
use verdict_contracts::inference_oracle::InferenceOracle;
use verdict_runtime::{
    db::{Db, Schema},
    responder::send_tx,
};
use verdict_testkit::Env;

/// The chain settings of the `send_tx` tests: one confirmation, a 1M gas cap.
fn send_config(
    receipt_timeout: Duration,
    replace_after: Duration,
    nonces: verdict_runtime::Nonces,
    receipts: Option<verdict_runtime::receipts::Receipts>,
) -> verdict_runtime::responder::ChainConfig {
    verdict_runtime::responder::ChainConfig {
        poll_interval: Duration::from_millis(200),
        confirmations: 0,
        start_block: 0,
        max_log_range: 2_000,
        gas_cap: 1_000_000,
        receipt_timeout,
        tx_confirmations: 1,
        replace_after,
        nonces,
        receipts,
        leader: None,
    }
}

/// A transaction that cannot be mined (its fee cap falls below the base fee) is replaced with the
/// same nonce and higher fees; exactly one version is mined, the other recorded as replaced.
#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_transaction_is_replaced_with_higher_fees() {
    let env = Env::new().await;
    let store = Db::open(env.path("stuck.sqlite"), &Schema::NONE).unwrap();
    // Receipts from the background tracker (one read a block), as the services wait for them.
    let tracker = verdict_runtime::receipts::Receipts::spawn(env.provider.clone(), Duration::from_millis(250));
    let config = send_config(Duration::from_secs(60), Duration::from_secs(3), Default::default(), Some(tracker));
    let rpc = |method: &'static str, params: Value| {
        let provider = env.provider.clone();
        async move {
            let _: Value = provider.raw_request(method.into(), params).await.unwrap();
        }
    };
    let before = env.oracle.accountOf(env.operator).call().await.unwrap().freeBond;
    // Stop mining, let the deposit into the pool at today's fees, then make blocks cost far more.
    rpc("evm_setIntervalMining", json!([0])).await;
    rpc("evm_setAutomine", json!([false])).await;
    let store_ref = &store;
    let config_ref = &config;
    let deposit = env.oracle.depositBond().value(U256::from(7u64)).from(env.operator);
    let sending = send_tx(store_ref, config_ref, 99, "deposit", deposit);
    let chain = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        rpc("anvil_setNextBlockBaseFeePerGas", json!(["0x2540be4000"])).await; // 160 gwei
        rpc("evm_setIntervalMining", json!([1])).await;
    };
    let (sent, ()) = tokio::join!(sending, chain);
    sent.unwrap();
    let txs = store.transactions(99).unwrap();
    let statuses: Vec<&str> = txs.iter().map(|t| t.status.as_str()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "mined").count(), 1, "{statuses:?}");
    assert!(statuses.contains(&"replaced"), "the stuck transaction was replaced: {statuses:?}");
    let after = env.oracle.accountOf(env.operator).call().await.unwrap().freeBond;
    assert_eq!(after - before, alloy::primitives::aliases::U80::from(7u64), "deposited exactly once");
}

/// A send the node refuses (here: no funds for gas) leaves no nonce gap: the next transaction of
/// the same process takes the nonce the refused one would have had, and is mined. (alloy's cached
/// nonce manager would hand out the next nonce and that transaction would wait forever.)
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_send_leaves_no_nonce_gap() {
    let env = Env::new().await;
    let key = env.path("poor.key");
    std::fs::write(&key, format!("{:064x}", 0xA11CE_u64)).unwrap();
    let verdict_runtime::Connection { provider, me, nonces, .. } =
        verdict_runtime::connect(&env.rpc, Some(&key), "VERDICT_TEST_UNSET_KEY", "test", &env.path("deployment.json"))
            .await
            .unwrap();
    let store = Db::open(env.path("nonces.sqlite"), &Schema::NONE).unwrap();
    let config = send_config(Duration::from_secs(20), Duration::from_secs(5), nonces, None);
    let oracle = InferenceOracle::new(*env.oracle.address(), provider.clone());
    let deposit = || oracle.depositBond().from(me);
    // No ether: the dry run passes (no value, no gas price), the node refuses the send.
    let err = send_tx(&store, &config, 1, "deposit", deposit()).await.unwrap_err().to_string();
    assert!(err.to_lowercase().contains("fund"), "{err}");
    assert_eq!(provider.get_transaction_count(me).pending().await.unwrap(), 0);
    let _: Value = env.provider.raw_request("anvil_setBalance".into(), json!([me, "0xde0b6b3a7640000"])).await.unwrap(); // 1 ether
    send_tx(&store, &config, 1, "deposit", deposit()).await.expect("mined with nonce 0");
    assert_eq!(provider.get_transaction_count(me).await.unwrap(), 1);
    send_tx(&store, &config, 1, "deposit", deposit()).await.expect("and the next one with nonce 1");
    assert_eq!(provider.get_transaction_count(me).await.unwrap(), 2);
}
