//! The watchtower against a dishonest operator on anvil with the real contracts: it re-executes
//! the proposal, challenges, plays the dispute, calls the timeout when the liar stops answering,
//! proves the correct output for the consumer with a real whole-inference proof, and collects.
//! The watchtower runs in-process here (its command is `fraud-prover watch`); a restart is an
//! aborted task followed by a fresh one over the same store.

use std::time::{Duration, Instant};

use alloy::primitives::{Bytes, FixedBytes, U256};
use verdict_circuits::{activation_commitment, Commitment, Fr};
use verdict_contracts::{
    dispute::{Trace, Z},
    dispute_game::DisputeGame,
    inference_oracle::InferenceOracle,
};
use verdict_fraud_prover::watch::WatchArgs;
use verdict_runtime::{models::ModelArg, prover::ProverArgs, ChainArgs};

use verdict_testkit::{free_port, sample_input, Env, CLOCK, PROOF_WINDOW};

use crate::operator::Operator;

/// `oracle serve --dishonest`, started and ready.
pub(crate) async fn dishonest_service(env: &Env) -> Operator {
    Operator::dishonest(env).await
}

/// The first `DisputeResolved` event of request `id`.
pub(crate) async fn resolution(env: &Env, id: u64) -> InferenceOracle::DisputeResolved {
    resolution_at(env, id, 0).await
}

/// The `n`-th `DisputeResolved` event of request `id`.
pub(crate) async fn resolution_at(env: &Env, id: u64, n: usize) -> InferenceOracle::DisputeResolved {
    env.resolution(id, n).await
}

pub(crate) fn args(env: &Env, port: u16) -> WatchArgs {
    WatchArgs {
        chain: ChainArgs {
            rpc_url: env.rpc.clone(),
            deployment: env.path("deployment.json"),
            ws_url: Some(env.rpc.replace("http://", "ws://")),
            poll_ms: 200,
            confirmations: 0,
            start_block: 0,
            tx_confirmations: 1,
            replace_after_secs: 60,
            instance: None,
            lease_ttl_secs: 10,
        },
        key_file: Some(env.path("watcher.key")),
        models: vec![ModelArg {
            id: 1,
            path: Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/price_feed.model.json")),
        }],
        db: env.path("watchtower.sqlite"),
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        min_margin: 1,
        gas_cap: 3_000_000,
        prover: ProverArgs { ptau_dir: None, insecure_test_setup: true, keys_dir: env.path("watch-keys") },
        proof_workers: false,
        blind_challenge: vec![],
        blind_challenge_private_inputs: false,
        trust: vec![],
    }
}

/// Starts the watchtower in-process and waits until it is ready (it listens once its models and
/// their registrations are checked, which sets up their keys the first time).
pub(crate) async fn start_watch(args: WatchArgs) -> tokio::task::JoinHandle<verdict_fraud_prover::Result<()>> {
    let health = format!("http://{}/healthz", args.listen);
    let watcher = tokio::spawn(verdict_fraud_prover::watch::watch(args));
    let started = Instant::now();
    while !reqwest::get(&health).await.is_ok_and(|r| r.status().is_success()) {
        assert!(!watcher.is_finished(), "the watchtower stopped at startup");
        assert!(started.elapsed() < Duration::from_secs(120), "the watchtower did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watcher
}

/// The liar's `openDispute` with the solver's opening of its trace, mined.
async fn open_as_liar(env: &Env, rid: U256, input: &[i8], output: &Bytes, z0: (Z, Vec<Z>), z_last: (Z, Vec<Z>)) {
    let o = DisputeGame::Opening { z0: z0.0, proof0: z0.1, zL: z_last.0, proofL: z_last.1 };
    let input = Bytes::from(input.iter().map(|v| *v as u8).collect::<Vec<u8>>());
    let sent = env.game.openDispute(rid, input, output.clone(), o).from(env.operator).send().await.unwrap();
    sent.get_receipt().await.unwrap();
}

/// The consumer got the honest answer, proven by the watchtower on the reopened request.
pub(crate) async fn assert_the_watchtower_answered(env: &Env, id: u64, honest: &verdict_circuits::Trace) {
    let result = env.oracle.resultOf(U256::from(id)).call().await.unwrap();
    assert_eq!(result.operator, env.watcher, "the watchtower answered the reopened request");
    let r = env.feed.latestRoundData().call().await.unwrap();
    assert_eq!(r._1, alloy::primitives::I256::try_from(honest.output()[0]).unwrap(), "the right answer");
}

/// Starts the watchtower (in-process) on a free port, then has the operator propose `output`
/// with `root` for a fresh feed round on `input`; returns the task, the request id and the port.
async fn watch_a_proposal(
    env: &Env,
    input: &[i8],
    output: Bytes,
    root: FixedBytes<32>,
) -> (tokio::task::JoinHandle<verdict_fraud_prover::Result<()>>, u64, u16) {
    let port = free_port();
    let watcher = start_watch(args(env, port)).await;
    let id = env.request_round(input).await;
    env.oracle
        .propose(U256::from(id), output, root)
        .from(env.operator)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    (watcher, id, port)
}

/// A liar's proposal: the honest output moved by `delta`, with a consistent trace (the honest
/// step commitments, but z_L commits to the wrong output): `(output, trace root)`.
fn consistent_lie(
    model: &verdict_circuits::Model,
    honest: &verdict_circuits::Trace,
    delta: i32,
) -> (Bytes, FixedBytes<32>) {
    let wrong: Vec<i32> = honest.output().iter().map(|v| v + delta).collect();
    let mut lie: Vec<FixedBytes<32>> = model.step_commitments(honest).iter().map(|z| FixedBytes::from(z.0)).collect();
    let z_last: Fr = activation_commitment(model.steps(), &wrong, 32);
    lie[model.steps()] = FixedBytes::from(Commitment::from_field(z_last).0);
    let output = Bytes::from(wrong.iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>());
    (output, Trace::from_words(&lie).root())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lying_operator_that_stops_answering_is_caught_and_the_consumer_gets_the_right_output() {
    let env = Env::new().await;
    let model = &env.model;
    let input = sample_input(model);
    let honest = model.run(&input).unwrap();
    let (output, root) = consistent_lie(model, &honest, 1000);
    let (mut watcher, id, port) = watch_a_proposal(&env, &input, output, root).await;

    // Restart the watchtower once it has challenged (an aborted task, then a fresh one).
    let started = Instant::now();
    let mut restarted = false;
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(4 * CLOCK + PROOF_WINDOW + 90),
            "the watchtower did not win in time; service log:\n{}",
            crate::operator::log()
        );
        let challenged = env.count::<InferenceOracle::Challenged>(id).await == 1;
        if challenged && !restarted {
            watcher.abort();
            let _ = watcher.await;
            watcher = tokio::spawn(verdict_fraud_prover::watch::watch(args(&env, port + 1)));
            restarted = true;
        }
        if env.count::<InferenceOracle::Finalized>(id).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    watcher.abort();

    // The consumer got the honest answer, proven; the liar's bond went to the watcher.
    assert_the_watchtower_answered(&env, id, &honest).await;
    assert_eq!(env.count::<InferenceOracle::DisputeResolved>(id).await, 1);
    let resolved = resolution(&env, id).await;
    assert_eq!((resolved.winner, resolved.loser), (env.watcher, env.operator));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_liar_that_plays_the_bisection_and_submits_a_bad_proof_loses_to_the_watchtower() {
    use verdict_contracts::dispute::{next_action, Action, DisputeView, Phase, Role};

    let env = Env::new().await;
    let model = &env.model;
    let input = sample_input(model);
    let honest = model.run(&input).unwrap();
    let words: Vec<FixedBytes<32>> = model.step_commitments(&honest).iter().map(|z| FixedBytes::from(z.0)).collect();
    let l = model.steps();
    // A wrong output whose trace diverges from step 2 on (so the bisection has work to do).
    let wrong: Vec<i32> = honest.output().iter().map(|v| v - 7).collect();
    let mut lie = words.clone();
    lie[2].0[31] ^= 1;
    lie[l] = FixedBytes::from(Commitment::from_field(activation_commitment(l, &wrong, 32)).0);
    let liar = Trace::from_words(&lie);
    let output = Bytes::from(wrong.iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>());

    let (watcher, id, _) = watch_a_proposal(&env, &input, output.clone(), liar.root()).await;
    let rid = U256::from(id);

    // The liar plays its side with the solver, and at the end submits a proof that is not one.
    let started = Instant::now();
    let mut bad_proof_sent = false;
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(4 * CLOCK + PROOF_WINDOW + 90),
            "the watchtower did not win in time; service log:\n{}",
            crate::operator::log()
        );
        if env.count::<InferenceOracle::Challenged>(id).await == 1 {
            let d = env.game.disputeOf(rid).call().await.unwrap();
            let view = DisputeView { phase: Phase::from(d.phase), steps: l, lo: d.lo as usize, hi: d.hi as usize };
            let call = match next_action(Role::Proposer, &view, &liar) {
                Action::Open { z0, z_last } => {
                    open_as_liar(&env, rid, &input, &output, z0, z_last).await;
                    None
                }
                Action::Bisect { z, proof, .. } => {
                    Some(env.game.proposerBisect(rid, z, proof).from(env.operator).send().await)
                }
                Action::ProveSegment { steps, .. } if !bad_proof_sent => {
                    bad_proof_sent = true;
                    Some(
                        env.game
                            .proveSegment(rid, steps, Bytes::from_static(b"not a proof"))
                            .from(env.operator)
                            .send()
                            .await,
                    )
                }
                _ => None,
            };
            if let Some(sent) = call {
                sent.unwrap().get_receipt().await.unwrap();
            }
        }
        if env.count::<InferenceOracle::Finalized>(id).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    watcher.abort();
    assert!(bad_proof_sent, "the dispute reached the proof step");
    assert_the_watchtower_answered(&env, id, &honest).await;
}

/// Case (2): the right output with one wrong step commitment in the middle. Both traces end at
/// the same z_L, so the game asks the liar to prove its whole posted trace. A real proof of the
/// honest chain is refused (its commitments are not the posted trace), and the proof of its own
/// trace fails: the liar loses its bond, and the consumer gets the (right) output from the
/// watchtower's proof.
#[tokio::test(flavor = "multi_thread")]
async fn a_right_output_with_a_wrong_step_commitment_inside_loses_its_bond() {
    use verdict_circuits::{
        folding::KeySource,
        prover::{ModelProver, RequestId},
        step::WeightMode,
    };
    use verdict_contracts::dispute::{next_action, Action, DisputeView, Phase, Role};

    let env = Env::new().await;
    let model = &env.model;
    let l = model.steps();
    let input = sample_input(model);
    let honest = model.run(&input).unwrap();
    let words: Vec<FixedBytes<32>> = model.step_commitments(&honest).iter().map(|z| FixedBytes::from(z.0)).collect();
    let mut lie = words.clone();
    lie[1].0[31] ^= 1;
    let liar = Trace::from_words(&lie);
    let output = Bytes::from(honest.output().iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>());

    // A real proof of the honest trace, the best the liar can have, made before it proposes (so
    // that proving does not eat its clock).
    let id = env.request_round(&input).await;
    let rid = U256::from(id);
    let keys = env.path("liar-keys");
    let honest_trace = honest.clone();
    let (model_copy, request) = (model.clone(), RequestId::from_u64(id));
    let real_proof = tokio::task::spawn_blocking(move || {
        let (prover, _) = ModelProver::setup(model_copy, WeightMode::Public, &KeySource::InsecureTest, Some(&keys))?;
        prover.prove(request, &honest_trace, 0..l, |_| {}).map(|(p, _)| p.proof)
    })
    .await
    .unwrap()
    .unwrap();
    let port = free_port();
    let watcher = start_watch(args(&env, port)).await;
    let proposed = env.oracle.propose(rid, output.clone(), liar.root()).from(env.operator).send().await.unwrap();
    proposed.get_receipt().await.unwrap();

    let started = Instant::now();
    let mut tried = false;
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(4 * CLOCK + PROOF_WINDOW + 90),
            "the watchtower did not win in time; service log:\n{}",
            crate::operator::log()
        );
        if env.count::<InferenceOracle::Challenged>(id).await == 1 && !tried {
            let d = env.game.disputeOf(rid).call().await.unwrap();
            let view = DisputeView { phase: Phase::from(d.phase), steps: l, lo: d.lo as usize, hi: d.hi as usize };
            match next_action(Role::Proposer, &view, &liar) {
                Action::Open { z0, z_last } => open_as_liar(&env, rid, &input, &output, z0, z_last).await,
                Action::ProveSegment { lo, hi, steps } => {
                    // The challenger agreed on z_L: the whole trace is due.
                    assert_eq!((lo, hi), (0, l));
                    let proof = Bytes::from(real_proof.clone());
                    let refused =
                        env.game.proveSegment(rid, words.clone(), proof.clone()).from(env.operator).call().await;
                    let err = refused.expect_err("the honest chain is not the liar's posted trace");
                    assert!(
                        matches!(
                            err.as_decoded_interface_error::<DisputeGame::DisputeGameErrors>(),
                            Some(DisputeGame::DisputeGameErrors::DisputeGameNotProposersTrace(_))
                        ),
                        "{err}"
                    );
                    let own = env.game.proveSegment(rid, steps, proof).from(env.operator).gas(3_000_000);
                    own.send().await.unwrap().get_receipt().await.unwrap();
                    tried = true;
                }
                _ => {}
            }
        }
        if env.count::<InferenceOracle::Finalized>(id).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    watcher.abort();
    assert!(tried, "the dispute reached the whole-trace proof");
    let ended = alloy::rpc::types::Filter::new()
        .address(*env.game.address())
        .event_signature(<DisputeGame::DisputeEnded as alloy::sol_types::SolEvent>::SIGNATURE_HASH)
        .topic1(rid)
        .from_block(0);
    let logs = alloy::providers::Provider::get_logs(&env.provider, &ended).await.unwrap();
    let ended = logs[0].log_decode::<DisputeGame::DisputeEnded>().unwrap().inner.data;
    assert!(!ended.proposerWon);
    assert_eq!(ended.reason, 1, "ProofRejected");
    let slashed = resolution(&env, id).await;
    assert_eq!((slashed.winner, slashed.loser), (env.watcher, env.operator));
    assert_the_watchtower_answered(&env, id, &honest).await;
}

/// Blind challenges (`--blind-challenge`, off by default): the price-feed model registered again
/// with private weights. A trusted operator's proposal is left alone; an untrusted one's is
/// challenged without a trace, and an operator that does not prove the whole inference in time
/// loses its bond, and the request opens again for any operator; the same operator proposing
/// again is challenged blind again.
#[tokio::test(flavor = "multi_thread")]
async fn a_blind_challenge_of_a_private_model_wins_when_the_operator_does_not_prove() {
    use verdict_circuits::{
        folding::KeySource,
        prover::ModelProver,
        step::{Blinding, WeightMode},
    };
    use verdict_contracts::{nova, ModelRegistry, NovaVerifier};

    let env = Env::new().await;
    let model = env.model.clone();
    let (key, commitment) = tokio::task::spawn_blocking(move || {
        let blinding = Blinding::random(&model);
        let (prover, _) = ModelProver::setup(model, WeightMode::Private(blinding), &KeySource::InsecureTest, None)?;
        prover.evm_key().map(|k| (k, prover.commitment()))
    })
    .await
    .unwrap()
    .unwrap();
    let deployment: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("deployment.json")).unwrap()).unwrap();
    let registry = ModelRegistry::new(deployment["registry"].as_str().unwrap().parse().unwrap(), env.provider.clone());
    let verifier =
        NovaVerifier::new(registry.model(U256::from(1)).call().await.unwrap().verifier, env.provider.clone());
    let registration =
        nova::Registration { model: &env.model, commitment, private: true, fee: 1_000, uri: String::new() };
    let (private_id, _) = nova::register_model(&registry, &verifier, &key, registration).await.unwrap();

    let input = sample_input(&env.model);
    let honest = env.model.run(&input).unwrap();
    let output = Bytes::from(honest.output().iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>());
    let root = Trace::new(env.model.step_commitments(&honest)).root();
    let propose = || async {
        let fee = env.oracle.estimateFee(private_id).call().await.unwrap();
        let bytes = Bytes::from(input.iter().map(|v| *v as u8).collect::<Vec<u8>>());
        let call =
            env.oracle.request(private_id, bytes, FixedBytes::ZERO, alloy::primitives::Address::ZERO, 0, Bytes::new());
        let receipt = call.value(fee).from(env.user).send().await.unwrap().get_receipt().await.unwrap();
        let rid = receipt.decoded_log::<InferenceOracle::RequestCreated>().unwrap().requestId;
        let call = env.oracle.propose(rid, output.clone(), root).from(env.operator);
        if let Err(e) = call.call().await {
            panic!("propose refused: {e}");
        }
        assert!(call.send().await.unwrap().get_receipt().await.unwrap().status());
        rid.to::<u64>()
    };
    let blind_args = |port: u16, db: &str, trust: Vec<alloy::primitives::Address>| WatchArgs {
        models: vec![],
        blind_challenge: vec![private_id.to::<u64>()],
        trust,
        db: env.path(db),
        ..args(&env, port)
    };

    // Trusted: never challenged; the proposal settles after its window.
    let trusting = start_watch(blind_args(free_port(), "trusting.sqlite", vec![env.operator])).await;
    let trusted = propose().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let settled = env.oracle.settle(U256::from(trusted), output.clone()).from(env.user).send().await.unwrap();
    settled.get_receipt().await.unwrap();
    trusting.abort();
    assert_eq!(env.count::<InferenceOracle::Challenged>(trusted).await, 0, "a trusted operator is not challenged");

    // Untrusted: challenged blind; the operator never opens, its clock runs out, the watchtower wins.
    let port = free_port();
    let watcher = start_watch(blind_args(port, "blind.sqlite", vec![])).await;
    let id = propose().await;
    let started = Instant::now();
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    loop {
        assert!(started.elapsed() < Duration::from_secs(CLOCK + 60), "the blind challenge was not won in time");
        let text = match reqwest::get(&metrics).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains("verdict_watch_proposals{status=\"reopened\"} 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let challenge = env.oracle.challengeOf(U256::from(id)).call().await.unwrap();
    assert_eq!(challenge.traceRoot, FixedBytes::<32>::ZERO, "a blind challenge carries no trace");
    let slashed = resolution(&env, id).await;
    assert_eq!((slashed.winner, slashed.loser), (env.watcher, env.operator));
    let request = env.oracle.requestOf(U256::from(id)).call().await.unwrap();
    assert_eq!(request.status, 1, "Requested: open again for any operator");

    // Proposed again by the same untrusted operator: challenged blind again.
    let again = env.oracle.propose(U256::from(id), output.clone(), root).from(env.operator);
    assert!(again.send().await.unwrap().get_receipt().await.unwrap().status());
    while env.count::<InferenceOracle::Challenged>(id).await < 2 {
        assert!(started.elapsed() < Duration::from_secs(CLOCK + 120), "the second proposal was not challenged");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    watcher.abort();
    assert_eq!(env.oracle.challengeOf(U256::from(id)).call().await.unwrap().challenger, env.watcher);
}

/// The same lie proposed again once the first was thrown out, before the watchtower's proof (here
/// it has no prover, so it never proves): the new proposal is checked like the first and
/// challenged again. A second liar cannot slip in behind the first.
#[tokio::test(flavor = "multi_thread")]
async fn a_lie_proposed_again_after_the_reopening_is_challenged_again() {
    let env = Env::new().await;
    let model = &env.model;
    let input = sample_input(model);
    let honest = model.run(&input).unwrap();
    let (output, root) = consistent_lie(model, &honest, -7);

    let port = free_port();
    let watcher = start_watch(WatchArgs {
        prover: ProverArgs { insecure_test_setup: false, ..args(&env, port).prover },
        ..args(&env, port)
    })
    .await;
    let id = env.request_round(&input).await;
    let rid = U256::from(id);
    let propose = || async {
        let call = env.oracle.propose(rid, output.clone(), root).from(env.operator);
        if let Err(e) = call.call().await {
            panic!("propose refused: {e}");
        }
        assert!(call.send().await.unwrap().get_receipt().await.unwrap().status());
    };
    propose().await;
    // The liar does not answer: the watchtower wins by timeout and the request reopens.
    let started = Instant::now();
    while env.oracle.requestOf(rid).call().await.unwrap().status != 1 {
        assert!(started.elapsed() < Duration::from_secs(4 * CLOCK + 90), "the first lie was not thrown out");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    propose().await;
    while env.count::<InferenceOracle::Challenged>(id).await < 2 {
        if started.elapsed() > Duration::from_secs(4 * CLOCK + 150) {
            let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
            panic!("the second lie was not challenged; metrics:\n{metrics}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
    watcher.abort();
    assert!(metrics.contains("verdict_watch_mismatches_total 2"), "{metrics}");
    assert!(metrics.contains("verdict_watch_disputes_total{outcome=\"won\"} 1"), "{metrics}");
    assert_eq!(env.oracle.challengeOf(rid).call().await.unwrap().challenger, env.watcher);
}

/// The sock-puppet attack (issue: "a proposer must never win without a proof"): the liar's own
/// second account challenges the lie first, in the proposal's block, with a junk root, so the
/// honest watchtower's challenge cannot land; the liar opens the dispute and lets the puppet's
/// clock run out. The contract now dismisses the puppet's challenge (its bond is forfeited) and
/// puts the lie back in its window instead of confirming it; the watchtower, which kept watching
/// the request although someone else had challenged it, challenges the lie, wins when the liar
/// stops answering, and proves the right output for the consumer. (Before: the timeout confirmed
/// the lie, and the watchtower had marked the request done when it saw another challenger.)
#[tokio::test(flavor = "multi_thread")]
async fn a_lie_challenged_first_by_a_sock_puppet_that_walks_away_is_still_caught() {
    let env = Env::new().await;
    let model = &env.model;
    let input = sample_input(model);
    let honest = model.run(&input).unwrap();
    let (output, root) = consistent_lie(model, &honest, 55);
    let id = env.request_round(&input).await;
    let rid = U256::from(id);
    let raw = |method: &'static str, params: serde_json::Value| {
        let provider = env.provider.clone();
        async move {
            let _: serde_json::Value =
                alloy::providers::Provider::raw_request(&provider, method.into(), params).await.unwrap();
        }
    };
    // The proposal and the puppet's challenge in one block (mining paused in between).
    raw("evm_setIntervalMining", serde_json::json!([0])).await;
    let proposed = env.oracle.propose(rid, output.clone(), root).from(env.operator).send().await.unwrap();
    let bond = env.oracle.challengerBond().call().await.unwrap();
    let junk = FixedBytes::<32>::repeat_byte(0x99);
    let puppet = env.oracle.challenge(rid, junk).value(U256::from(bond)).from(env.user).send().await.unwrap();
    raw("evm_mine", serde_json::json!([])).await;
    raw("evm_setIntervalMining", serde_json::json!([1])).await;
    assert!(proposed.get_receipt().await.unwrap().status());
    assert!(puppet.get_receipt().await.unwrap().status());

    let port = free_port();
    let watcher = start_watch(args(&env, port)).await;
    // The liar opens its side, and then the puppet never answers.
    let l = model.steps();
    let lie = {
        let mut zs: Vec<FixedBytes<32>> =
            model.step_commitments(&honest).iter().map(|z| FixedBytes::from(z.0)).collect();
        let wrong: Vec<i32> = honest.output().iter().map(|v| v + 55).collect();
        zs[l] = FixedBytes::from(Commitment::from_field(activation_commitment(l, &wrong, 32)).0);
        Trace::from_words(&zs)
    };
    assert_eq!(lie.root(), root);
    open_as_liar(&env, rid, &input, &output, lie.opening(0), lie.opening(l)).await;
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(CLOCK + 30), "the puppet's clock did not run out");
        tokio::time::sleep(Duration::from_millis(500)).await;
        if env.game.timeout(rid).from(env.operator).call().await.is_ok() {
            env.game.timeout(rid).from(env.operator).send().await.unwrap().get_receipt().await.unwrap();
            break;
        }
    }
    assert_eq!(env.count::<InferenceOracle::ChallengeDismissed>(id).await, 1, "the puppet's challenge is dismissed");
    // The watchtower challenges the lie in the rest of its window, and wins.
    while env.count::<InferenceOracle::Finalized>(id).await == 0 {
        let limit = Duration::from_secs(3 * CLOCK + PROOF_WINDOW + 90);
        assert!(started.elapsed() < limit, "the lie was not caught after the dismissal");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
    watcher.abort();
    assert_eq!(env.count::<InferenceOracle::Challenged>(id).await, 2, "the puppet's, then the watchtower's");
    assert_the_watchtower_answered(&env, id, &honest).await;
    assert!(metrics.contains("verdict_watch_proposals_checked_total 1"), "one proposal, checked once: {metrics}");
    assert!(metrics.contains("verdict_watch_disputes_total{outcome=\"won\"} 1"), "{metrics}");
}

/// The dishonest mode of `oracle serve` (a real service process that proposes a wrong output with
/// a consistent trace and plays the dispute with it) against the watchtower: the lie is caught,
/// the liar cannot prove its last step and times out, loses its bond, and the consumer gets the
/// right answer from the watchtower's whole-inference proof, verified on-chain.
#[tokio::test(flavor = "multi_thread")]
async fn the_dishonest_service_is_caught_and_the_consumer_gets_the_right_answer() {
    let env = Env::new().await;
    let input = sample_input(&env.model);
    let honest = env.model.run(&input).unwrap();
    let mut liar = dishonest_service(&env).await;
    let port = free_port();
    let watcher = start_watch(args(&env, port)).await;
    let id = env.request_round(&input).await;
    let started = Instant::now();
    while env.count::<InferenceOracle::Finalized>(id).await == 0 {
        let limit = Duration::from_secs(4 * CLOCK + PROOF_WINDOW + 90);
        assert!(started.elapsed() < limit, "no resolution; service log:\n{}", crate::operator::log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    watcher.abort();
    liar.kill();
    assert_eq!(env.count::<InferenceOracle::Challenged>(id).await, 1);
    assert_the_watchtower_answered(&env, id, &honest).await;
    let slashed = resolution(&env, id).await;
    assert_eq!((slashed.winner, slashed.loser), (env.watcher, env.operator));
}

/// A watchtower whose gas cap admits every dispute move but not `proveOutput` (about 1.8M gas
/// for the price feed: the proof and the on-chain commitments of the input and output) wins the
/// dispute, then leaves the reopened request to re-proposal: it says so once and does not prove
/// it again on every pass (it did: each pass proved the whole inference and was refused at the
/// cap, burning seconds of CPU for nothing).
#[tokio::test(flavor = "multi_thread")]
async fn a_proof_over_the_gas_cap_is_not_made_again_on_every_pass() {
    let env = Env::new().await;
    let mut liar = dishonest_service(&env).await;
    let port = free_port();
    let watcher = start_watch(WatchArgs { gas_cap: 1_200_000, ..args(&env, port) }).await;
    let id = env.request_round(&sample_input(&env.model)).await;
    let started = Instant::now();
    while env.count::<InferenceOracle::DisputeResolved>(id).await == 0 {
        let limit = Duration::from_secs(4 * CLOCK + PROOF_WINDOW + 90);
        assert!(started.elapsed() < limit, "no resolution; log:\n{}", crate::operator::log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    liar.kill();
    let slashed = resolution(&env, id).await;
    assert_eq!((slashed.winner, slashed.loser), (env.watcher, env.operator));
    // Passes run every 200 ms: 15 s is dozens of them.
    tokio::time::sleep(Duration::from_secs(15)).await;
    watcher.abort();
    assert_eq!(env.count::<InferenceOracle::Finalized>(id).await, 0, "not proven: over the cap");
    assert_eq!(env.oracle.requestOf(U256::from(id)).call().await.unwrap().status, 1, "open for re-proposal");
    // Counted in the whole log: the tests running beside this one can push the line out of the
    // tail (they did, in CI). No other test sets a gas cap below proveOutput's.
    let said = crate::operator::full_log().matches("proveOutput needs more gas than the gas cap").count();
    assert_eq!(said, 1, "refused once, then left alone; log:\n{}", crate::operator::log());
}

/// An honest operator over a few hundred requests: the watchtower checks every proposal and never
/// challenges one (its own bug must not cost its bond). One block per transaction, to keep it fast.
#[tokio::test(flavor = "multi_thread")]
async fn an_honest_operator_is_never_challenged_over_hundreds_of_requests() {
    const REQUESTS: usize = 200;
    let env = Env::with_block_time(None).await;
    let mut honest = Operator::start(&env, &[]);
    honest.ready().await;
    let port = free_port();
    let watcher = start_watch(args(&env, port)).await;
    let model = &env.model;
    let rows: Vec<Vec<i8>> = (0..REQUESTS)
        .map(|k| (0..model.input.len).map(|i| (((i * 31 + k * 17) % 255) as i32 - 127) as i8).collect())
        .collect();
    for input in &rows {
        env.request_round(input).await;
    }
    // Every request final (the operator settles them in whatever order their windows end, so the
    // feed keeps only the rounds that stay in request order: count the requests, not the rounds).
    let all_final = alloy::rpc::types::Filter::new()
        .address(*env.oracle.address())
        .event_signature(<InferenceOracle::Finalized as alloy::sol_types::SolEvent>::SIGNATURE_HASH)
        .from_block(0);
    let started = Instant::now();
    loop {
        let finalized = alloy::providers::Provider::get_logs(&env.provider, &all_final).await.unwrap().len();
        if finalized == REQUESTS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{finalized} of {REQUESTS} requests final; log:\n{}",
            crate::operator::log()
        );
        // Blocks come with transactions only: a heartbeat block lets the liveness windows pass.
        let _: serde_json::Value =
            alloy::providers::Provider::raw_request(&env.provider, "evm_mine".into(), ()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The watchtower may still be a pass behind the last settlement.
    let mut metrics = String::new();
    for _ in 0..120 {
        metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
        if metrics.contains(&format!("verdict_watch_proposals_checked_total {REQUESTS}\n")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    watcher.abort();
    honest.kill();
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{name} missing from the watchtower's metrics:\n{metrics}"))
    };
    assert_eq!(value("verdict_watch_proposals_checked_total"), REQUESTS as u64, "every proposal checked");
    assert_eq!(value("verdict_watch_mismatches_total"), 0);
    for id in [1, REQUESTS as u64 / 2, REQUESTS as u64] {
        assert_eq!(env.count::<InferenceOracle::Challenged>(id).await, 0, "request {id} challenged");
    }
    let challenged = alloy::rpc::types::Filter::new()
        .address(*env.oracle.address())
        .event_signature(<InferenceOracle::Challenged as alloy::sol_types::SolEvent>::SIGNATURE_HASH)
        .from_block(0);
    assert!(alloy::providers::Provider::get_logs(&env.provider, &challenged).await.unwrap().is_empty());
}

/// A crash between sending the challenge and recording it: the challenge is mined, the store
/// still says "mismatch". The restarted watchtower learns from the chain that the challenge is
/// its own, plays the dispute, wins, and proves the correct output for the consumer. (Before,
/// the reopened request was left unproven: the stall the SIGKILL test once showed.)
#[tokio::test(flavor = "multi_thread")]
async fn a_challenge_mined_but_not_recorded_before_a_crash_is_still_played_and_won() {
    use verdict_fraud_prover::store::{SqlWatchStore, WatchRecord, WatchStatus, WatchStore};
    let env = Env::new().await;
    let input = sample_input(&env.model);
    let honest = env.model.run(&input).unwrap();
    let zs: Vec<Commitment> = env.model.step_commitments(&honest);
    let mut liar = dishonest_service(&env).await;
    let id = env.request_round(&input).await;
    let rid = U256::from(id);
    let started = Instant::now();
    while env.count::<InferenceOracle::Proposed>(id).await == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "no proposal; service log:\n{}", crate::operator::log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // What the crashed watchtower left: its verdict recorded, its challenge mined, no more.
    {
        let store = SqlWatchStore::open(env.path("watchtower.sqlite")).unwrap();
        store
            .insert_watched(&WatchRecord {
                id,
                model_id: 1,
                block: 0,
                input: input.clone(),
                trace: honest.steps.clone(),
                steps: zs.iter().map(ToString::to_string).collect(),
                status: WatchStatus::Mismatch,
                checked: None,
                detail: None,
            })
            .unwrap();
    }
    let bond = env.oracle.challengerBond().call().await.unwrap();
    let challenge = env.oracle.challenge(rid, Trace::new(zs).root()).value(U256::from(bond)).from(env.watcher);
    challenge.send().await.unwrap().get_receipt().await.unwrap();

    let port = free_port();
    let watcher = start_watch(args(&env, port)).await;
    while env.count::<InferenceOracle::Finalized>(id).await == 0 {
        let limit = Duration::from_secs(4 * CLOCK + PROOF_WINDOW + 120);
        assert!(started.elapsed() < limit, "no resolution; service log:\n{}", crate::operator::log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
    watcher.abort();
    liar.kill();
    let slashed = resolution(&env, id).await;
    assert_eq!((slashed.winner, slashed.loser), (env.watcher, env.operator));
    assert_the_watchtower_answered(&env, id, &honest).await;
    assert!(metrics.contains("verdict_watch_challenges_total 1"), "{metrics}");
}

/// A child process of a test, SIGKILLed (and reaped) when dropped: a failing test leaves no
/// service running.
pub(crate) struct Process(pub(crate) std::process::Child);

impl Process {
    /// SIGKILL, and wait for it to end.
    pub(crate) fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `fraud-prover watch` as a process watching the price-feed model, its log appended to `log`.
pub(crate) fn watch_process(env: &Env, log: &std::path::Path, extra: &[&str]) -> Process {
    use std::process::{Command, Stdio};
    let model = format!(
        "1={}",
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/price_feed.model.json").display()
    );
    Command::new(env!("CARGO_BIN_EXE_fraud-prover"))
        .args(["watch", "--rpc-url", &env.rpc, "--poll-ms", "200", "--min-margin", "1", "--insecure-test-setup"])
        .arg("--deployment")
        .arg(env.path("deployment.json"))
        .arg("--key-file")
        .arg(env.path("watcher.key"))
        .arg("--keys-dir")
        .arg(env.path("watch-keys"))
        .args(["--model", &model, "--listen", &format!("127.0.0.1:{}", free_port())])
        .args(extra)
        .env_remove("VERDICT_WATCHER_KEY")
        .env("VERDICT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap())
        .spawn()
        .map(Process)
        .unwrap()
}

/// Waits until `n` watchtower processes logging to `log` have started.
pub(crate) async fn wait_for_watching(log: &std::path::Path, n: usize) {
    let started = Instant::now();
    while std::fs::read_to_string(log).unwrap_or_default().matches(" watching").count() < n {
        assert!(started.elapsed() < Duration::from_secs(120), "the watchtower did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two watchtower instances (one key) share one PostgreSQL database: the lease's holder
/// challenges a lie and is SIGKILLed once the bisection runs; the standby takes the lease over and
/// plays the dispute on, wins it, and proves the correct output for the consumer.
#[tokio::test(flavor = "multi_thread")]
async fn a_standby_watchtower_takes_a_dispute_over_when_the_holder_is_killed() {
    let env = Env::new().await;
    let input = sample_input(&env.model);
    let honest = env.model.run(&input).unwrap();
    let mut liar = dishonest_service(&env).await;
    let log = env.path("watch-instances.log");
    let db = verdict_testkit::postgres::database();
    let instance = |name: &'static str| ["--db", db.as_str(), "--instance", name, "--lease-ttl-secs", "3"];
    let mut holder = watch_process(&env, &log, &instance("w1"));
    wait_for_watching(&log, 1).await;
    let mut standby = watch_process(&env, &log, &instance("w2"));
    wait_for_watching(&log, 2).await;
    let id = env.request_round(&input).await;
    let rid = U256::from(id);
    let started = Instant::now();
    // Killed once the dispute's bisection has begun (a move made after the dispute opened).
    let mut opened = None;
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no bisection; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let d = env.game.disputeOf(rid).call().await.unwrap();
        let stage = (d.phase, d.lo, d.hi);
        match opened {
            None if d.phase != 0 => opened = Some(stage),
            Some(first) if first != stage => break,
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    holder.kill(); // SIGKILL
    while env.count::<InferenceOracle::Finalized>(id).await == 0 {
        let limit = Duration::from_secs(6 * CLOCK + PROOF_WINDOW + 120);
        assert!(
            started.elapsed() < limit,
            "no resolution; log:\n{}\nservice log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            crate::operator::log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    standby.kill();
    liar.kill();
    // The log without its colours.
    let text: String = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .split('\x1b')
        .enumerate()
        .map(|(i, part)| if i == 0 { part } else { part.split_once('m').map_or(part, |(_, rest)| rest) })
        .collect();
    assert!(
        text.lines().any(|l| l.contains("holds the lease") && l.contains("instance=w2") && l.contains("epoch=2")),
        "the standby took the lease over:\n{text}"
    );
    let slashed = resolution(&env, id).await;
    assert_eq!((slashed.winner, slashed.loser), (env.watcher, env.operator));
    assert_the_watchtower_answered(&env, id, &honest).await;
}

/// The watchtower as a process (`fraud-prover watch`), SIGKILLed
/// at every stage of a dispute (the proposal, the challenge, each move, the proof window) and
/// restarted over the same store: the dispute is still won and the consumer gets the right answer.
#[tokio::test(flavor = "multi_thread")]
async fn the_watchtower_survives_sigkill_at_every_stage_of_a_dispute() {
    let env = Env::new().await;
    let input = sample_input(&env.model);
    let honest = env.model.run(&input).unwrap();
    let mut liar = dishonest_service(&env).await;
    let log = env.path("watch-process.log");
    let db = env.path("watchtower.sqlite").display().to_string();
    let spawn = || watch_process(&env, &log, &["--db", &db]);
    let mut watcher = spawn();
    // Ready before the first request: the first start sets up the model's keys (restarts read
    // the cached verifier key, in milliseconds).
    wait_for_watching(&log, 1).await;
    let id = env.request_round(&input).await;
    let rid = U256::from(id);
    let mut seen = Vec::new();
    let started = Instant::now();
    loop {
        let limit = Duration::from_secs(6 * CLOCK + PROOF_WINDOW + 120);
        assert!(
            started.elapsed() < limit,
            "no resolution; stages {seen:?}; watchtower log:\n{}\nservice log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            crate::operator::log()
        );
        let status = env.oracle.requestOf(rid).call().await.unwrap().status;
        if env.count::<InferenceOracle::Finalized>(id).await == 1 {
            break;
        }
        let d = env.game.disputeOf(rid).call().await.unwrap();
        let stage = (status, d.phase, d.lo, d.hi);
        // A stage of the proposal or its dispute the watchtower has not been killed at yet,
        // the reopened request it must then prove included (status 1 after the proposal).
        if env.count::<InferenceOracle::Proposed>(id).await == 1 && !seen.contains(&stage) {
            seen.push(stage);
            watcher.kill(); // SIGKILL
            watcher = spawn();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    watcher.kill();
    liar.kill();
    assert!(seen.len() >= 5, "killed at too few stages: {seen:?}");
    assert!(seen.iter().any(|s| s.1 == 5), "killed while the proof was due: {seen:?}");
    assert!(seen.iter().any(|s| s.0 == 1), "killed after the reopening, before the proof: {seen:?}");
    assert_the_watchtower_answered(&env, id, &honest).await;
    eprintln!("killed at {} stages: {seen:?}", seen.len());
}

/// Weights from the URI a model is registered with (`--model ID` without a path): fetched over
/// HTTP or from a file, used only when they open the registered commitment.
#[tokio::test(flavor = "multi_thread")]
async fn model_weights_come_from_the_registered_uri_and_must_match_the_commitment() {
    use verdict_runtime::load_models;
    let env = Env::new().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let good = std::fs::read_to_string(root.join("models/price_feed.model.json")).unwrap();
    let mut tampered: serde_json::Value = serde_json::from_str(&good).unwrap();
    // One weight changed: the first byte of the hex string, plus one.
    let hex = tampered["layers"][0]["weights"].as_str().unwrap().to_string();
    let first = u8::from_str_radix(&hex[..2], 16).unwrap().wrapping_add(1);
    tampered["layers"][0]["weights"] = format!("{first:02x}{}", &hex[2..]).into();
    let tampered = tampered.to_string();
    let app = axum::Router::new()
        .route("/good.json", axum::routing::get(move || std::future::ready(good.clone())))
        .route("/tampered.json", axum::routing::get(move || std::future::ready(tampered.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let deployment = verdict_contracts::Deployment::load(env.path("deployment.json")).unwrap();
    let registry = verdict_contracts::ModelRegistry::new(deployment.registry, env.provider.clone());
    let from_registry = [ModelArg { id: 1, path: None }];
    let set_uri = |uri: String| {
        let registry = registry.clone();
        async move { registry.setUri(U256::from(1), uri).send().await.unwrap().get_receipt().await.unwrap() }
    };

    set_uri(format!("{base}/good.json")).await;
    let models = load_models(&env.provider, deployment.registry, &from_registry, &[]).await.unwrap();
    assert_eq!(models[&1].model.name, env.model.name);
    assert_eq!(models[&1].commitment, env.model.commitment());

    set_uri(format!("file://{}", root.join("models/price_feed.model.json").display())).await;
    assert!(load_models(&env.provider, deployment.registry, &from_registry, &[]).await.is_ok());

    set_uri(format!("{base}/tampered.json")).await;
    let err = load_models(&env.provider, deployment.registry, &from_registry, &[]).await.unwrap_err().to_string();
    assert!(err.contains("refusing to serve it"), "{err}");

    for (uri, expected) in [(format!("{base}/missing.json"), "404"), ("ipfs://Qm".to_string(), "unsupported URI")] {
        set_uri(uri).await;
        let err =
            format!("{:#}", load_models(&env.provider, deployment.registry, &from_registry, &[]).await.unwrap_err());
        assert!(err.contains(expected), "{err}");
    }
}

/// A model registration that could take an honest party's bond is refused, by `fraud-prover
/// watch` and by `oracle serve`, with an error that names the mismatch: a verifier other than
/// the deployment's `NovaVerifier` (a model owner's own could reject every honest proof), a
/// verifying key of another circuit (it would let a liar prove another computation), and a
/// private registration used as a public model. (Before, only the weights and the shape were
/// checked: all three were served and watched.)
#[tokio::test(flavor = "multi_thread")]
async fn registrations_with_another_verifier_or_key_are_refused_by_name() {
    use verdict_circuits::{folding::KeySource, prover::ModelProver, step::WeightMode, Model};
    use verdict_contracts::{nova, ModelRegistry, NovaVerifier};

    let env = Env::new().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let deployment = verdict_contracts::Deployment::load(env.path("deployment.json")).unwrap();
    let registry = ModelRegistry::new(deployment.registry, env.provider.clone());
    let ours = NovaVerifier::new(deployment.verifier, env.provider.clone());
    let keys = tokio::task::spawn_blocking({
        let price = env.model.clone();
        let npc = Model::load(root.join("models/tictactoe.model.json")).unwrap();
        move || {
            let key = |m: Model| {
                ModelProver::setup(m, WeightMode::Public, &KeySource::InsecureTest, None).unwrap().0.evm_key().unwrap()
            };
            (key(price), key(npc))
        }
    })
    .await
    .unwrap();
    let registration = |private: bool| nova::Registration {
        model: &env.model,
        commitment: env.model.commitment(),
        private,
        fee: 1_000,
        uri: String::new(),
    };
    let other = nova::deploy_verifier(&env.provider, deployment.registry).await.unwrap();
    let (foreign, _) = nova::register_model(&registry, &other, &keys.0, registration(false)).await.unwrap();
    let (wrong_key, _) = nova::register_model(&registry, &ours, &keys.1, registration(false)).await.unwrap();
    let (private, _) = nova::register_model(&registry, &ours, &keys.0, registration(true)).await.unwrap();

    let path = root.join("models/price_feed.model.json");
    for (id, expected) in [
        (foreign, "not the deployment's NovaVerifier"),
        (wrong_key, "its circuit's key under this setup is"),
        (private, "registered with private weights"),
    ] {
        let id: u64 = id.to();
        let watching = WatchArgs {
            models: vec![ModelArg { id, path: Some(path.clone()) }],
            db: env.path(&format!("refused-{id}.sqlite")),
            ..args(&env, free_port())
        };
        let err = tokio::time::timeout(Duration::from_secs(120), verdict_fraud_prover::watch::watch(watching))
            .await
            .expect("refused at startup, not watched")
            .expect_err("the watchtower must refuse it");
        assert!(format!("{err:#}").contains(expected), "model {id}: {err:#}");
    }
    // `oracle serve` runs the same check before it serves anything.
    let model = format!("{}={}", foreign.to::<u64>(), path.display());
    let keys = env.path("serve-keys");
    let service =
        Operator::start(&env, &["--model", &model, "--insecure-test-setup", "--keys-dir", keys.to_str().unwrap()]);
    let err = service.outcome(Duration::from_secs(120)).await.expect_err("the service must refuse it");
    assert!(format!("{err:#}").contains("not the deployment's NovaVerifier"), "{err:#}");
}

/// `--confirmations N`: a request is recorded only once its block is N deep (the scan reads logs
/// in bounded ranges up to the head less N). Before, the watchtower had no confirmation depth:
/// it acted on logs of the head block, which a reorg can drop.
#[tokio::test(flavor = "multi_thread")]
async fn requests_are_recorded_only_once_confirmed() {
    let env = Env::new().await;
    let port = free_port();
    let watcher = start_watch(WatchArgs {
        chain: ChainArgs { confirmations: 3, ..args(&env, port).chain },
        prover: ProverArgs { insecure_test_setup: false, ..args(&env, port).prover },
        ..args(&env, port)
    })
    .await;
    let metrics =
        || async { reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap() };
    let watching = "verdict_watch_proposals{status=\"watching\"} 1";
    let id = env.request_round(&sample_input(&env.model)).await;
    let filter = alloy::rpc::types::Filter::new()
        .address(*env.oracle.address())
        .event_signature(<InferenceOracle::RequestCreated as alloy::sol_types::SolEvent>::SIGNATURE_HASH)
        .topic1(U256::from(id))
        .from_block(0);
    let logs = alloy::providers::Provider::get_logs(&env.provider, &filter).await.unwrap();
    let block = logs[0].block_number.unwrap();
    let started = Instant::now();
    let mut seen_unconfirmed = false;
    loop {
        assert!(started.elapsed() < Duration::from_secs(30), "the request was never recorded");
        let before = alloy::providers::Provider::get_block_number(&env.provider).await.unwrap();
        let text = metrics().await;
        let after = alloy::providers::Provider::get_block_number(&env.provider).await.unwrap();
        if after < block + 3 {
            assert!(!text.contains(watching), "recorded at head {before}..{after}, block {block}: {text}");
            seen_unconfirmed = true;
        } else if text.contains(watching) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    watcher.abort();
    assert!(seen_unconfirmed, "the request's block was never seen unconfirmed");
}
