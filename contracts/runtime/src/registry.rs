//! The served models, loaded and matched against the registry, and the registrations a service
//! refuses to rely on.

use std::time::Duration;

use alloy::{
    primitives::{Address, B256, U256},
    providers::DynProvider,
};
use verdict_circuits::{step::Blinding, tiled::TiledModel, Commitment, Model};
use verdict_contracts::{model_registry::ModelRegistry, Deployment};

use crate::{
    error::{rpc, Error, Result},
    models::{BlindingArg, ModelArg, Models, ServedModel},
    prover::Defender,
};

/// Loads the served models and checks each against the registry (commitment and shape); a
/// model with a blinding in `blindings` is a private one.
pub async fn load_models(
    provider: &DynProvider,
    registry: Address,
    args: &[ModelArg],
    blindings: &[BlindingArg],
) -> Result<Models> {
    let registry = ModelRegistry::new(registry, provider.clone());
    if let Some(b) = blindings.iter().find(|b| !args.iter().any(|m| m.id == b.id)) {
        return Err(Error::refused(format!(
            "--blinding {}: model {} is not served (name it with --model {}=PATH)",
            b.id, b.id, b.id
        )));
    }
    let mut models = Models::new();
    for arg in args {
        let onchain = registry
            .model(U256::from(arg.id))
            .call()
            .await
            .map_err(|e| Error::Rpc(format!("cannot read model {} from the registry: {e}", arg.id)))?;
        let (model, origin) = match &arg.path {
            Some(path) => (Model::load(path)?, path.display().to_string()),
            None => (
                fetch_model(&onchain.uri).await.map_err(|e| Error::refused(format!("model {}: {e}", arg.id)))?,
                onchain.uri.clone(),
            ),
        };
        let registered = Commitment(onchain.commitment.0);
        let blinding = match blindings.iter().find(|b| b.id == arg.id) {
            Some(b) => Some(Blinding::load(&b.path)?),
            None => None,
        };
        let served = served_as_registered(arg.id, model, blinding, registered, &origin)?;
        if usize::from(onchain.inputLen) != served.model.input.len
            || usize::from(onchain.outputLen) != served.model.output_len()
            || onchain.steps as usize != served.steps()
        {
            return Err(Error::refused(format!("model {}: the registry's shape differs from {origin}", arg.id)));
        }
        tracing::info!(
            model = arg.id,
            name = %served.model.name,
            from = %origin,
            steps = served.steps(),
            tiled = served.tiled.is_some(),
            "model loaded and matched to the registry"
        );
        models.insert(arg.id, served);
    }
    Ok(models)
}

/// `model` served as it is registered: by layers when `registered` is its model commitment, by
/// tiles when it is its tiled commitment C (module `verdict_circuits::tiled`); with `blinding`,
/// the blinded ones of a private model. Refused when it opens neither (`origin` names the file).
pub fn served_as_registered(
    id: u64,
    model: Model,
    blinding: Option<Blinding>,
    registered: Commitment,
    origin: &str,
) -> Result<ServedModel> {
    let layered = match &blinding {
        Some(b) => b.model_commitment(&model)?,
        None => model.commitment(),
    };
    // INVARIANT: weights are used only when they open the registered commitment.
    if registered == layered {
        return Ok(ServedModel::new(id, model, registered, None, blinding));
    }
    let tiled = match &blinding {
        Some(b) => TiledModel::private(model.clone(), b),
        None => TiledModel::new(model.clone()),
    };
    let by_tiles = match tiled {
        Ok(tiled) if tiled.commitment() == registered => {
            let (tiles, private) = (tiled.steps(), blinding.is_some());
            let served = ServedModel::new(id, model, registered, Some(tiled), blinding);
            if private && !served.defends_blind_challenges() {
                // A blind challenge is answered by a proof of every tile: it could not be sent.
                let max = verdict_contracts::nova::MAX_WHOLE_PROOF_TILES;
                return Err(Error::refused(format!(
                    "model {id} is private and has {tiles} tiles: the whole-inference proof that answers a blind \
                     challenge is limited to {max} tiles, so it could not be defended; refusing to serve it"
                )));
            }
            return Ok(served);
        }
        Ok(tiled) => format!("{} by tiles", tiled.commitment()),
        Err(e) => format!("nothing by tiles ({e})"),
    };
    let with = if blinding.is_some() { " with its blinding" } else { "" };
    Err(Error::refused(format!(
        "model {id} in the registry commits to {registered}, but {origin}{with} commits to {layered} by layers and \
         {by_tiles}; refusing to serve it",
    )))
}

/// Refuses a model whose registration this service cannot rely on, naming the mismatch: its
/// verifier must be the deployment's `NovaVerifier` (a model owner's own verifier could reject
/// every honest proof, or accept every false one), its key must be published there, its weight
/// mode must be the expected one, and, when `digest` is given (the digest of the key this
/// service's circuit for the model exports under its setup), its `vkDigest` must be exactly that
/// (a key for another circuit would let a liar prove another computation).
pub async fn check_registration(
    provider: &DynProvider,
    deployment: &Deployment,
    id: u64,
    private: bool,
    digest: Option<[u8; 32]>,
) -> Result<()> {
    let registry = ModelRegistry::new(deployment.registry, provider.clone());
    let m = registry
        .model(U256::from(id))
        .call()
        .await
        .map_err(|e| Error::Rpc(format!("cannot read model {id} from the registry: {e}")))?;
    // INVARIANT: proofs about this model are judged by the deployment's own verifier.
    if m.verifier != deployment.verifier {
        return Err(Error::refused(format!(
            "model {id} is registered with verifier {}, not the deployment's NovaVerifier {}; refusing it",
            m.verifier, deployment.verifier
        )));
    }
    if m.isPrivate != private {
        let (is, expected) = if m.isPrivate { ("private", "public") } else { ("public", "private") };
        return Err(Error::refused(format!(
            "model {id} is registered with {is} weights, but is used here as a {expected} model; refusing it"
        )));
    }
    let verifier = verdict_contracts::NovaVerifier::new(deployment.verifier, provider.clone());
    let pointer = verifier.keyOf(m.vkDigest).call().await.map_err(rpc)?;
    if pointer == Address::ZERO {
        return Err(Error::refused(format!(
            "model {id}: its verifying key {} is not published in the NovaVerifier; refusing it",
            m.vkDigest
        )));
    }
    match digest {
        Some(ours) if ours != m.vkDigest.0 => {
            return Err(Error::refused(format!(
            "model {id} is registered with verifying key {}, but its circuit's key under this setup is {}; refusing it",
            m.vkDigest,
            B256::from(ours)
        )))
        }
        Some(_) => tracing::info!(model = id, vk = %m.vkDigest, "verifying key matches the registry"),
        None => tracing::warn!(
            model = id,
            "no prover setup: the registered verifying key cannot be checked against the model's circuit"
        ),
    }
    Ok(())
}

/// [`check_registration`] of every served model (public or private, as it is served), with the
/// digest of its circuit's key under `defender`'s setup (when it has one).
pub async fn check_public_registrations(
    provider: &DynProvider,
    deployment: &Deployment,
    models: &Models,
    defender: &Defender,
) -> Result<()> {
    for (id, served) in models {
        let digest = defender.key_digest(served).await.map_err(|e| Error::Prover(format!("model {id}: {e}")))?;
        check_registration(provider, deployment, *id, served.is_private(), digest).await?;
    }
    Ok(())
}

/// The model file at a registered URI: `file://PATH` (relative to the working directory) or
/// `http://…` (at most 64 MiB, 30 s).
pub async fn fetch_model(uri: &str) -> Result<Model> {
    const LIMIT: u64 = 64 << 20;
    if let Some(path) = uri.strip_prefix("file://") {
        return Ok(Model::load(path)?);
    }
    if uri.starts_with("http://") {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(rpc)?;
        let response = client.get(uri).send().await.and_then(|r| r.error_for_status()).map_err(rpc)?;
        if response.content_length().is_some_and(|n| n > LIMIT) {
            return Err(Error::refused(format!("{uri}: larger than 64 MiB")));
        }
        let bytes = response.bytes().await.map_err(rpc)?;
        if bytes.len() as u64 > LIMIT {
            return Err(Error::refused(format!("{uri}: larger than 64 MiB")));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| Error::refused(format!("{uri}: not UTF-8")))?;
        return Model::from_json(text).map_err(|e| Error::refused(format!("{uri}: not a model file: {e}")));
    }
    if uri.is_empty() {
        return Err(Error::refused("no URI is registered (a private model?): pass ID=PATH"));
    }
    Err(Error::refused(format!("unsupported URI {uri:?}: expected file://PATH or http://…; pass ID=PATH instead")))
}
