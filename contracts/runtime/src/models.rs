//! The models a service serves: local model files matched against the registry.

use std::{collections::BTreeMap, path::PathBuf, str::FromStr, sync::Arc};

use serde::Serialize;
use verdict_circuits::{
    step::Blinding,
    tiled::TiledModel,
    tiles::{tiled_trace, TILE_COLS},
    Commitment, Fr, Model, TraceTree,
};

/// `ID=PATH`: serve registered model `ID` with the model file at `PATH`; `ID` alone: with the
/// model file fetched from the URI the model is registered with (`file://` or `http://`).
/// Either way the file must match the registered commitment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelArg {
    /// The registry's model id.
    pub id: u64,
    /// The model file; `None` to fetch it from the registered URI.
    pub path: Option<PathBuf>,
}

impl FromStr for ModelArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (id, path) = match s.split_once('=') {
            Some((id, path)) => (id, Some(PathBuf::from(path.trim()))),
            None => (s, None),
        };
        let id = id.trim().parse().map_err(|_| format!("model id {id:?} is not a number (expected ID=PATH or ID)"))?;
        Ok(Self { id, path })
    }
}

/// `ID=PATH`: private model `ID`'s blinding file (`fraud-prover blinding`): with it, the model
/// file opens the registered (blinded) commitment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlindingArg {
    /// The registry's model id.
    pub id: u64,
    /// The blinding file.
    pub path: PathBuf,
}

impl FromStr for BlindingArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (id, path) = s.split_once('=').ok_or_else(|| format!("expected ID=PATH, found {s:?}"))?;
        let id = id.trim().parse().map_err(|_| format!("model id {id:?} is not a number (expected ID=PATH)"))?;
        Ok(Self { id, path: PathBuf::from(path.trim()) })
    }
}

/// One served model.
#[derive(Clone, Debug)]
pub struct ServedModel {
    /// The registry's id.
    pub id: u64,
    /// The model.
    pub model: Model,
    /// Its registered commitment (checked against the registry at startup): the model
    /// commitment, or the tiled commitment C of a model registered by tiles.
    pub commitment: Commitment,
    /// Its tiles, when it is registered by tiles: its steps are then tiles, and a disputed step
    /// is one tile whatever the model's size.
    pub tiled: Option<Arc<TiledModel>>,
    /// A private model's blinding: its weights and trace are never served, and its proofs are
    /// made in private-weight mode.
    pub blinding: Option<Arc<Blinding>>,
}

/// A computed inference: what a proposal needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Computed {
    /// z_0..z_L preimages.
    pub trace: Vec<Vec<i32>>,
    /// z_0..z_L.
    pub steps: Vec<Commitment>,
    /// The Keccak Merkle root over the steps.
    pub root: [u8; 32],
    /// The output as the contract takes it: big-endian int32 values.
    pub output: Vec<u8>,
}

impl ServedModel {
    /// A model served as registered under `commitment` (which it opens): by layers, or by tiles
    /// (`tiled`, made private by [`TiledModel::private`] for a private model); public, or private
    /// with `blinding`.
    pub fn new(
        id: u64,
        model: Model,
        commitment: Commitment,
        tiled: Option<TiledModel>,
        blinding: Option<Blinding>,
    ) -> Self {
        Self { id, model, commitment, tiled: tiled.map(Arc::new), blinding: blinding.map(Arc::new) }
    }

    /// Registered with private weights.
    pub fn is_private(&self) -> bool {
        self.blinding.is_some()
    }

    /// Whether a blind challenge (of a private model, or of a private input) can be answered: by
    /// a whole-inference proof, which a model by layers always fits and a model by tiles only up
    /// to [`verdict_contracts::nova::MAX_WHOLE_PROOF_TILES`] tiles.
    pub fn defends_blind_challenges(&self) -> bool {
        self.tiled.as_ref().is_none_or(|t| t.steps() <= verdict_contracts::nova::MAX_WHOLE_PROOF_TILES)
    }

    /// Steps of its traces, as the registry counts them: layers, or tiles.
    pub fn steps(&self) -> usize {
        self.tiled.as_ref().map_or_else(|| self.model.steps(), |t| t.steps())
    }

    /// Runs the engine on `input` and commits to the trace (the layers' or the tiles' step
    /// commitments; the stored trace is the layers' activations either way). `salt` is a private
    /// input's ([`verdict_circuits::salted_input_commitment`]: z_0 is then the salted commitment
    /// the request was made with); zero for a public input.
    pub fn compute(&self, input: &[i8], salt: Fr) -> Result<Computed, verdict_circuits::Error> {
        let trace = self.model.run(input)?;
        let steps = match &self.tiled {
            None => self.model.step_commitments_salted(&trace, salt),
            Some(tiled) => tile_commitments(&self.model, tiled, &trace, salt),
        };
        let root = TraceTree::new(&steps).root();
        Ok(Computed { output: encode_output(trace.output()), root, steps, trace: trace.steps })
    }

    /// What a dishonest operator posts (tests and demos only), a lie consistent with itself. By
    /// layers: the output's first value + 1000, with z_L and the root recomputed. By tiles: the
    /// trace of a model whose middle tile's weights are off by 100 each, so that the traces part
    /// at that tile (z_0..z_t agree, z_{t+1} on differ) and the bisection narrows to it.
    pub fn compute_lie(&self, input: &[i8], salt: Fr) -> Result<Computed, verdict_circuits::Error> {
        let Some(tiled) = &self.tiled else {
            let mut c = self.compute(input, salt)?;
            let (last, z) = (c.trace.len() - 1, c.steps.len() - 1);
            if let Some(v) = c.trace[last].first_mut() {
                *v = v.saturating_add(1000);
            }
            c.steps[z] = Commitment::from_field(verdict_circuits::activation_commitment(z, &c.trace[last], 32));
            c.root = TraceTree::new(&c.steps).root();
            c.output = encode_output(&c.trace[last]);
            return Ok(c);
        };
        let spec = &tiled.plan().tiles[tiled.steps() / 2];
        let mut wrong = self.model.clone();
        let layer = &mut wrong.layers[spec.layer];
        let rows = spec.first_row()..spec.first_row() + spec.valid_rows();
        let cols = TILE_COLS * spec.col_block..(TILE_COLS * (spec.col_block + 1)).min(layer.in_dim);
        for r in rows {
            for c in cols.clone() {
                let w = &mut layer.weights[r * layer.in_dim + c];
                *w = if *w >= 0 { *w - 100 } else { *w + 100 };
            }
        }
        let trace = wrong.run(input)?;
        let steps = tile_commitments(&wrong, tiled, &trace, salt);
        let root = TraceTree::new(&steps).root();
        Ok(Computed { output: encode_output(trace.output()), root, steps, trace: trace.steps })
    }
}

/// z_0..z_L of `model`'s trace over `tiled`'s tiles (z_0 salted with `salt`, zero for a public
/// input).
fn tile_commitments(model: &Model, tiled: &TiledModel, trace: &verdict_circuits::Trace, salt: Fr) -> Vec<Commitment> {
    let run = tiled_trace(model, tiled.plan(), trace, salt);
    run.commitments.iter().map(|z| Commitment::from_field(*z)).collect()
}

/// The contract's output encoding: each int32 big-endian.
pub fn encode_output(values: &[i32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// What the API shows of a model.
#[derive(Clone, Debug, Serialize)]
pub struct ModelView {
    /// The registry's id.
    pub id: u64,
    /// The model's name (absent for a private model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Registered with private weights (its weights and traces are not served).
    pub private: bool,
    /// `regression` or `classification`.
    pub task: String,
    /// The public model commitment.
    pub commitment: Commitment,
    /// int8 input values.
    pub input_len: usize,
    /// int32 output values.
    pub output_len: usize,
    /// Steps: layers, or tiles when `tiled`.
    pub steps: usize,
    /// Registered by tiles (a disputed step is one tile).
    pub tiled: bool,
    /// Weights and biases (absent for a private model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<usize>,
}

impl ServedModel {
    /// The API view.
    pub fn view(&self) -> ModelView {
        let private = self.is_private();
        ModelView {
            id: self.id,
            // A private model shows what the registry shows, no more.
            name: (!private).then(|| self.model.name.clone()),
            private,
            task: match self.model.task {
                verdict_circuits::Task::Regression => "regression".into(),
                verdict_circuits::Task::Classification => "classification".into(),
            },
            commitment: self.commitment,
            input_len: self.model.input.len,
            output_len: self.model.output_len(),
            steps: self.steps(),
            tiled: self.tiled.is_some(),
            parameters: (!private).then(|| self.model.parameter_count()),
        }
    }
}

/// The served models by registry id.
pub type Models = BTreeMap<u64, ServedModel>;
