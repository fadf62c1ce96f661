//! The models a service serves: local model files matched against the registry.

use std::{collections::BTreeMap, path::PathBuf, str::FromStr};

use serde::Serialize;
use verdict_circuits::{Commitment, Model, TraceTree};

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

/// One served model.
#[derive(Debug)]
pub struct ServedModel {
    /// The registry's id.
    pub id: u64,
    /// The model.
    pub model: Model,
    /// Its public commitment (checked against the registry at startup).
    pub commitment: Commitment,
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
    /// Runs the engine on `input` and commits to the trace.
    pub fn compute(&self, input: &[i8]) -> Result<Computed, verdict_circuits::Error> {
        let trace = self.model.run(input)?;
        let steps = self.model.step_commitments(&trace);
        let root = TraceTree::new(&steps).root();
        Ok(Computed { output: encode_output(trace.output()), root, steps, trace: trace.steps })
    }
}

impl Computed {
    /// A lie consistent with itself: the output's first value + 1000, its step commitment z_L
    /// and the root recomputed (what a dishonest operator posts; tests and demos only).
    pub fn falsified(mut self) -> Self {
        let last = self.steps.len() - 1;
        if let Some(v) = self.trace[last].first_mut() {
            *v = v.saturating_add(1000);
        }
        self.steps[last] = Commitment::from_field(verdict_circuits::activation_commitment(last, &self.trace[last], 32));
        self.root = TraceTree::new(&self.steps).root();
        self.output = encode_output(&self.trace[last]);
        self
    }
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
    /// The model's name.
    pub name: String,
    /// `regression` or `classification`.
    pub task: String,
    /// The public model commitment.
    pub commitment: Commitment,
    /// int8 input values.
    pub input_len: usize,
    /// int32 output values.
    pub output_len: usize,
    /// Steps (layers).
    pub steps: usize,
    /// Weights and biases.
    pub parameters: usize,
}

impl ServedModel {
    /// The API view.
    pub fn view(&self) -> ModelView {
        ModelView {
            id: self.id,
            name: self.model.name.clone(),
            task: match self.model.task {
                verdict_circuits::Task::Regression => "regression".into(),
                verdict_circuits::Task::Classification => "classification".into(),
            },
            commitment: self.commitment,
            input_len: self.model.input.len,
            output_len: self.model.output_len(),
            steps: self.model.steps(),
            parameters: self.model.parameter_count(),
        }
    }
}

/// The served models by registry id.
pub type Models = BTreeMap<u64, ServedModel>;
