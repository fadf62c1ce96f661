//! Gas of the on-chain Nova verifier on anvil, for every shipped model and weight mode: the
//! whole-inference proof, a one-step segment proof, the marginal gas per extra folded step, and
//! the proof's calldata size. Run by `scripts/bench_gas.sh` (`just bench`).
//!
//! Proofs are made under the insecure test setup (gas does not depend on the setup).

use std::path::PathBuf;

use alloy::{
    network::EthereumWallet, node_bindings::Anvil, providers::ProviderBuilder, signers::local::PrivateKeySigner,
};
use verdict_circuits::{
    folding::KeySource,
    prover::{ModelProver, RequestId},
    step::{Blinding, WeightMode},
    Model,
};
use verdict_contracts::{nova, ModelRegistry};

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let anvil = Anvil::new().path(root.join(".tools/bin/anvil")).try_spawn()?;
    let signer: PrivateKeySigner = anvil.keys()[0].clone().into();
    let provider = ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(anvil.endpoint_url());
    let registry = ModelRegistry::deploy(provider.clone()).await?;
    let verifier = nova::deploy_verifier(&provider, *registry.address()).await?;
    println!(
        "{:<11} {:<8} {:>5} {:>11} {:>11} {:>13} {:>15} {:>11}",
        "model", "weights", "steps", "whole gas", "1-step gas", "gas per step", "whole calldata", "N (log2)"
    );
    for name in ["price_feed", "tictactoe", "digits"] {
        let model = Model::load(root.join(format!("models/{name}.model.json")))?;
        let blinding = Blinding::random(&model);
        for mode in [WeightMode::Public, WeightMode::Private(blinding.clone())] {
            let prover = ModelProver::setup(model.clone(), mode, &KeySource::InsecureTest, None)?.0;
            let key = prover.evm_key()?;
            let commitment = if prover.is_private() { blinding.model_commitment(&model)? } else { prover.commitment() };
            let registration = nova::Registration {
                model: &model,
                commitment,
                private: prover.is_private(),
                fee: 1,
                uri: String::new(),
            };
            let (id, _) = nova::register_model(&registry, &verifier, &key, registration).await?;
            let input: Vec<i8> = (0..model.input.len as i32).map(|i| ((i * 37 + 11) % 255 - 127) as i8).collect();
            let trace = model.run(&input)?;
            let steps = model.steps();
            let mut gas = Vec::new();
            let mut whole_len = 0;
            for segment in [0..steps, steps - 1..steps] {
                let (proof, _) = prover.prove(RequestId::from_u64(1), &trace, segment.clone(), |_| {})?;
                if segment.start == 0 {
                    whole_len = proof.proof.len();
                }
                let used = nova::verify_on_chain(&verifier, id, &proof)
                    .await
                    .map_err(|e| anyhow::anyhow!("{name} {segment:?}: rejected on chain: {e}"))?;
                gas.push(used);
            }
            let per_step = (gas[0] - gas[1]) / (steps as u64 - 1);
            println!(
                "{:<11} {:<8} {:>5} {:>11} {:>11} {:>13} {:>15} {:>11}",
                name,
                if prover.is_private() { "private" } else { "public" },
                steps,
                gas[0],
                gas[1],
                per_step,
                format!("{whole_len} B"),
                key.inner
            );
        }
    }
    println!("gas: eth_estimateGas of verifySegment on anvil (transaction base and calldata included)");
    Ok(())
}
