//! The privacy modes measured (issue 18): for every shipped model, in each mode (public model
//! and input; a private input; a private model; both private), the time of the whole-inference
//! proof that answers a blind challenge, and the gas of the whole dispute path on anvil with the
//! real contracts: `request`, `propose`, a blind `challenge`, `openDispute`, and `proveSegment`
//! of the whole inference, verified on-chain. Run by `scripts/bench_private.sh`; `--models a,b`
//! runs only those.
//!
//! Proofs use the insecure test setup (neither the gas nor the proving time depends on it). A
//! model of more tiles than a whole proof can carry (`nova::MAX_WHOLE_PROOF_TILES`) is listed as
//! such: it takes neither private weights nor private inputs.

use std::time::Instant;

use alloy::{
    primitives::{Address, Bytes, FixedBytes, U256},
    rpc::types::TransactionReceipt,
};
use verdict_circuits::{
    folding::KeySource,
    private_input_commitment,
    prover::{ModelProver, RequestId, SegmentProof},
    step::{random_salt, Blinding, WeightMode},
    tiled::{TileKeys, TiledModel},
    Commitment, Fr, Model, TraceTree,
};
use verdict_contracts::{dispute::Trace, inference_oracle::InferenceOracle, nova, ModelRegistry, NovaVerifier};
use verdict_testkit::{root, Env};

/// One row: what the mode cost.
struct Row {
    prove_s: f64,
    gas: [u64; 5],
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    // One block a transaction: the dispute path runs as fast as the node mines.
    let env = Env::with_block_time(None).await;
    let deployment: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(env.path("deployment.json"))?)?;
    let address = |name: &str| -> anyhow::Result<Address> {
        Ok(deployment[name].as_str().ok_or_else(|| anyhow::anyhow!("no {name}"))?.parse()?)
    };
    let registry = ModelRegistry::new(address("registry")?, env.provider.clone());
    let verifier = NovaVerifier::new(address("verifier")?, env.provider.clone());
    let keys_dir = root().join(".verdict/keys");
    let tile_keys = tokio::task::spawn_blocking({
        let keys_dir = keys_dir.clone();
        move || TileKeys::load_or_setup(&KeySource::InsecureTest, Some(&keys_dir)).map(|k| k.0)
    })
    .await??;
    let tile_key = tile_keys.verifier().evm_key()?;
    let tile_keys = std::sync::Arc::new(tile_keys);

    println!(
        "{:<11} {:<10} {:<14} {:>9} {:>9} {:>9} {:>9} {:>11} {:>12} {:>10}",
        "model",
        "steps",
        "mode",
        "prove s",
        "request",
        "propose",
        "challenge",
        "openDispute",
        "proveSegment",
        "total gas"
    );
    let args: Vec<String> = std::env::args().collect();
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--models")
        .map(|i| args.get(i + 1).map(|m| m.split(',').map(str::to_string).collect()).unwrap_or_default());
    for (name, tiled) in [
        ("price_feed", false),
        ("tictactoe", false),
        ("digits", false),
        ("credit", false),
        ("credit_gbdt", false),
        ("digits_cnn", true),
        ("digits_lenet", true),
        ("digits_1m", true),
    ] {
        if only.as_ref().is_some_and(|o| !o.iter().any(|m| m == name)) {
            continue;
        }
        let model = Model::load(root().join(format!("models/{name}.model.json")))?;
        let blinding = Blinding::random(&model);
        for (private_model, private_input) in [(false, false), (false, true), (true, false), (true, true)] {
            let mode = match (private_model, private_input) {
                (false, false) => "public",
                (false, true) => "private input",
                (true, false) => "private model",
                (true, true) => "both private",
            };
            let (row, steps) = if tiled {
                let t = if private_model {
                    TiledModel::private(model.clone(), &blinding)?
                } else {
                    TiledModel::new(model.clone())?
                };
                if t.steps() > nova::MAX_WHOLE_PROOF_TILES {
                    println!(
                        "{name:<11} {:<10} {mode:<14} not offered: a whole proof of {} tiles exceeds {} (about {} gas)",
                        format!("{} tiles", t.steps()),
                        t.steps(),
                        nova::MAX_WHOLE_PROOF_TILES,
                        nova::whole_proof_gas(t.steps())
                    );
                    continue;
                }
                let (id, _) =
                    nova::register_tiled_model(&registry, &verifier, &tile_key, &t, private_model, 1, String::new())
                        .await?;
                let steps = t.steps();
                let (t, keys) = (std::sync::Arc::new(t), tile_keys.clone());
                let row = dispute(&env, id, &model, steps, private_input, move |rid, input, salt| {
                    let run = t.run_salted(input, salt)?;
                    Ok(t.prove(&keys, RequestId::from_u64(rid), &run, 0..steps, |_| {})?.0)
                })
                .await?;
                (row, format!("{steps} tiles"))
            } else {
                let mode = if private_model { WeightMode::Private(blinding.clone()) } else { WeightMode::Public };
                let prover = ModelProver::setup(model.clone(), mode, &KeySource::InsecureTest, Some(&keys_dir))?.0;
                let commitment = if private_model { blinding.model_commitment(&model)? } else { prover.commitment() };
                let registration = nova::Registration {
                    model: &model,
                    commitment,
                    private: private_model,
                    fee: 1,
                    uri: String::new(),
                };
                let (id, _) = nova::register_model(&registry, &verifier, &prover.evm_key()?, registration).await?;
                let steps = model.steps();
                let prover = std::sync::Arc::new(prover);
                let run = model.clone();
                let row = dispute(&env, id, &model, steps, private_input, move |rid, input, salt| {
                    let trace = run.run(input)?;
                    Ok(prover.prove_salted(RequestId::from_u64(rid), &trace, salt, 0..steps, |_| {})?.0)
                })
                .await?;
                (row, format!("{steps} layers"))
            };
            println!(
                "{name:<11} {steps:<10} {mode:<14} {:>9.2} {:>9} {:>9} {:>9} {:>11} {:>12} {:>10}",
                row.prove_s,
                row.gas[0],
                row.gas[1],
                row.gas[2],
                row.gas[3],
                row.gas[4],
                row.gas.iter().sum::<u64>()
            );
        }
    }
    println!("prove s: the whole-inference proof (wall clock, this machine); gas: each transaction's gasUsed on anvil");
    Ok(())
}

/// Plays one blind dispute of model `id` to the end: the operator proves the whole inference
/// (`prove`, timed) and wins. Returns the proving time and each transaction's gas.
async fn dispute(
    env: &Env,
    id: U256,
    model: &Model,
    steps: usize,
    private_input: bool,
    prove: impl FnOnce(u64, &[i8], Fr) -> anyhow::Result<SegmentProof> + Send + 'static,
) -> anyhow::Result<Row> {
    let input: Vec<i8> = (0..model.input.len as i32).map(|i| ((i * 37 + 11) % 255 - 127) as i8).collect();
    let salt = if private_input { random_salt() } else { Fr::from(0u64) };
    let fee = env.oracle.estimateFee(id).call().await?;
    let (bytes, z0) = if private_input {
        (Bytes::new(), FixedBytes::from(private_input_commitment(&input, salt).0))
    } else {
        (Bytes::from(input.iter().map(|v| *v as u8).collect::<Vec<u8>>()), FixedBytes::ZERO)
    };
    let call = env.oracle.request(id, bytes, z0, Address::ZERO, 0, Bytes::new()).value(fee).from(env.user);
    let request = mined(call.send().await?.get_receipt().await?)?;
    let rid: u64 = request
        .decoded_log::<InferenceOracle::RequestCreated>()
        .ok_or_else(|| anyhow::anyhow!("no RequestCreated"))?
        .requestId
        .to();

    // The proof first (timed), so that the dispute's clocks never wait on it.
    let started = Instant::now();
    let proof = {
        let input = input.clone();
        tokio::task::spawn_blocking(move || prove(rid, &input, salt)).await??
    };
    let prove_s = started.elapsed().as_secs_f64();
    let steps_z: Vec<Commitment> = proof.steps.clone();
    anyhow::ensure!(steps_z.len() == steps + 1, "a whole proof carries z_0..z_L");
    let output: Vec<u8> = {
        let trace = model.run(&input)?;
        trace.output().iter().flat_map(|v| v.to_be_bytes()).collect()
    };
    let root = TraceTree::new(&steps_z).root();

    let rid_u = U256::from(rid);
    let propose = env.oracle.propose(rid_u, Bytes::from(output.clone()), root.into()).from(env.operator);
    let propose = mined(propose.send().await?.get_receipt().await?)?;
    let bond = env.oracle.challengerBond().call().await?;
    let challenge = env.oracle.challenge(rid_u, FixedBytes::ZERO).value(U256::from(bond)).from(env.watcher);
    let challenge = mined(challenge.send().await?.get_receipt().await?)?;
    let trace = Trace::new(steps_z.clone());
    let (z0, proof0) = trace.opening(0);
    let (zl, proofl) = trace.opening(steps);
    let opening = verdict_contracts::dispute_game::DisputeGame::Opening { z0, proof0, zL: zl, proofL: proofl };
    let input_bytes =
        if private_input { Bytes::new() } else { Bytes::from(input.iter().map(|v| *v as u8).collect::<Vec<u8>>()) };
    let open = env.game.openDispute(rid_u, input_bytes, Bytes::from(output), opening).from(env.operator);
    let open = mined(open.send().await?.get_receipt().await?)?;
    let zs: Vec<FixedBytes<32>> = steps_z.iter().map(|z| FixedBytes::from(z.0)).collect();
    let prove_call = env.game.proveSegment(rid_u, zs, Bytes::from(proof.proof)).from(env.operator).gas(30_000_000);
    let proven = mined(prove_call.send().await?.get_receipt().await?)?;
    let resolved = env.resolution(rid, 0).await;
    anyhow::ensure!(resolved.winner == env.operator, "the honest proposer wins");
    Ok(Row { prove_s, gas: [request.gas_used, propose.gas_used, challenge.gas_used, open.gas_used, proven.gas_used] })
}

fn mined(r: TransactionReceipt) -> anyhow::Result<TransactionReceipt> {
    anyhow::ensure!(r.status(), "transaction {} reverted", r.transaction_hash);
    Ok(r)
}
