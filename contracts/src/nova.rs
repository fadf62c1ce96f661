//! The on-chain Nova verifier from Rust: deploy it, publish a model's verifying-key blob, and
//! check a proof file with `verifySegment` (an `eth_call`, with its gas).

use alloy::primitives::aliases::U96;
use alloy::{
    contract::Error as ContractError,
    primitives::{Address, Bytes, FixedBytes, U256},
    providers::Provider,
};
use verdict_circuits::{evm::EvmKey, prover::SegmentProof, Commitment, Model};

use crate::{
    model_registry::ModelRegistry::{ModelRegistered, ModelRegistryInstance},
    nova_verifier::NovaVerifier::NovaVerifierErrors,
    NovaVerifier, StepCommitments,
};

/// The Poseidon constants `StepCommitments` is deployed with (`data/poseidon_t9.hex`).
pub fn poseidon_constants() -> Bytes {
    let hex = include_str!("../data/poseidon_t9.hex").trim();
    Bytes::from(alloy::hex::decode(hex).expect("the shipped constants are hex"))
}

/// Deploys `StepCommitments` and a `NovaVerifier` serving the models of `registry`.
pub async fn deploy_verifier<P: Provider + Clone>(
    provider: &P,
    registry: Address,
) -> Result<NovaVerifier::NovaVerifierInstance<P>, ContractError> {
    let commitments = StepCommitments::deploy(provider.clone(), poseidon_constants()).await?;
    NovaVerifier::deploy(provider.clone(), registry, *commitments.address()).await
}

/// Publishes `key` (once; a second publication is a no-op) and returns its digest, the
/// `vkDigest` to register the model with.
pub async fn publish_key<P: Provider + Clone>(
    verifier: &NovaVerifier::NovaVerifierInstance<P>,
    key: &EvmKey,
) -> Result<FixedBytes<32>, ContractError> {
    let digest = FixedBytes::from(key.digest());
    if verifier.keyOf(digest).call().await? == Address::ZERO {
        let receipt = verifier.publishKey(Bytes::from(key.blob.clone())).send().await?.get_receipt().await?;
        if !receipt.status() {
            return Err(ContractError::UnknownSelector(Default::default()));
        }
    }
    Ok(digest)
}

/// Publishes the tile circuit's key blob as a tile key (idempotent); returns its digest.
pub async fn publish_tile_key<P: Provider + Clone>(
    verifier: &NovaVerifier::NovaVerifierInstance<P>,
    key: &EvmKey,
) -> Result<FixedBytes<32>, ContractError> {
    let digest = FixedBytes::from(key.digest());
    if !verifier.isTileKey(digest).call().await? {
        let receipt = verifier.publishTileKey(Bytes::from(key.blob.clone())).send().await?.get_receipt().await?;
        if !receipt.status() {
            return Err(ContractError::UnknownSelector(Default::default()));
        }
    }
    Ok(digest)
}

/// Registers a tiled model: its tiled commitment, its tile count as the step count, the tile key
/// (published first). Returns the model id and the registration's gas.
pub async fn register_tiled_model<P: Provider + Clone>(
    registry: &ModelRegistryInstance<P>,
    verifier: &NovaVerifier::NovaVerifierInstance<P>,
    key: &EvmKey,
    tiled: &verdict_circuits::tiled::TiledModel,
    private: bool,
    fee: u64,
    uri: String,
) -> Result<(U256, u64), ContractError> {
    let digest = publish_tile_key(verifier, key).await?;
    let r = Registration { model: tiled.model(), commitment: tiled.commitment(), private, fee, uri };
    register_under(registry, *verifier.address(), digest, r, tiled.steps()).await
}

/// Gas of a whole-inference proof of a tiled model of `tiles` tiles (`proveOutput`), estimated
/// from the verifier's measured cost (README, "Gas": about 865k for one tile, 29.2k for each
/// further one, checked by `tiled_proofs_verify_on_chain_at_a_gas_independent_of_the_model`) with
/// room for the game's bookkeeping (the trace root over every tile). At the 30M block gas limit
/// that is about 930 tiles.
pub fn whole_proof_gas(tiles: usize) -> u64 {
    const FIRST: u64 = 950_000;
    const PER_TILE: u64 = 31_000;
    FIRST + PER_TILE * (tiles.max(1) as u64 - 1)
}

/// The most tiles a whole-inference proof can have and still be sent: its calldata (about 7.5 KB,
/// then 224 bytes a tile: the tile's `C₁`, `C₂` and cross term, and its tile commitment) reaches
/// the 128 KB transaction size of common mempools at about 550 tiles, and its gas
/// ([`whole_proof_gas`]) a 30M-gas block at about 930. A private model is defended by such a
/// proof, so one of more tiles cannot be defended (README, "Security model").
pub const MAX_WHOLE_PROOF_TILES: usize = 550;

/// How a model is registered: everything but the key, which [`register_model`] publishes.
#[derive(Clone, Debug)]
pub struct Registration<'a> {
    /// The model (its shape).
    pub model: &'a Model,
    /// Its commitment: the public one, or the blinded one of a private model.
    pub commitment: Commitment,
    /// Private weights.
    pub private: bool,
    /// The model fee (wei).
    pub fee: u64,
    /// Where its weights can be fetched (empty for a private model).
    pub uri: String,
}

/// Publishes `key` with `verifier` and registers the model with it; returns the model id and
/// the registration's gas.
pub async fn register_model<P: Provider + Clone>(
    registry: &ModelRegistryInstance<P>,
    verifier: &NovaVerifier::NovaVerifierInstance<P>,
    key: &EvmKey,
    r: Registration<'_>,
) -> Result<(U256, u64), ContractError> {
    let digest = publish_key(verifier, key).await?;
    let steps = r.model.steps();
    register_under(registry, *verifier.address(), digest, r, steps).await
}

/// Registers `r` under the published key `digest` of `verifier` with `steps` steps.
async fn register_under<P: Provider + Clone>(
    registry: &ModelRegistryInstance<P>,
    verifier: Address,
    digest: FixedBytes<32>,
    r: Registration<'_>,
    steps: usize,
) -> Result<(U256, u64), ContractError> {
    let receipt = registry
        .register(
            FixedBytes::from(r.commitment.0),
            digest,
            verifier,
            steps as u32,
            r.model.input.len as u16,
            r.model.output_len() as u16,
            r.private,
            U96::from(r.fee),
            r.uri,
        )
        .send()
        .await?
        .get_receipt()
        .await?;
    let id = receipt
        .decoded_log::<ModelRegistered>()
        .map(|e| e.modelId)
        .ok_or_else(|| ContractError::UnknownSelector(Default::default()))?;
    Ok((id, receipt.gas_used))
}

/// `verifySegment`'s arguments for a proof file: (request id, from, to, steps, proof).
pub fn segment_args(proof: &SegmentProof) -> (U256, U256, U256, Vec<FixedBytes<32>>, Bytes) {
    (
        U256::from_be_bytes(proof.request_id.0),
        U256::from(proof.from),
        U256::from(proof.to),
        proof.steps.iter().map(|z| FixedBytes::from(z.0)).collect(),
        Bytes::from(proof.proof.clone()),
    )
}

/// The contract's verdict on `proof` for model `model_id`: `Ok(gas)` (the gas of a transaction
/// calling it, as `eth_estimateGas` measures it) or `Err` with the name of its custom error.
pub async fn verify_on_chain<P: Provider + Clone>(
    verifier: &NovaVerifier::NovaVerifierInstance<P>,
    model_id: U256,
    proof: &SegmentProof,
) -> Result<u64, String> {
    let (request, from, to, steps, bytes) = segment_args(proof);
    let call = verifier.verifySegment(model_id, request, from, to, steps, bytes);
    match call.call().await {
        Ok(true) => call.estimate_gas().await.map_err(|e| format!("gas estimate failed: {e}")),
        Ok(false) => Err("returned false".into()),
        Err(e) => Err(revert_name(&e)),
    }
}

/// The name of a `NovaVerifier` custom error, or the error's text.
pub fn revert_name(e: &ContractError) -> String {
    match e.as_decoded_interface_error::<NovaVerifierErrors>() {
        Some(err) => format!("{err:?}").split('(').next().unwrap_or_default().to_string(),
        None => e.to_string(),
    }
}
