//! Integration tests of the model pipeline (one binary).

mod commitments;
mod corpus;
mod engine;
mod fixtures;
mod folding;
mod gadgets;
mod lookup;
mod model_format;
mod onnx_errors;
mod onnx_fuzz;
mod ordering;
mod piecewise;
mod poseidon;
mod prove;
mod quantize;
mod shipped;
mod step;
mod tables;
mod tiles;
mod trace_tree;

use std::path::PathBuf;

/// An engine trace.
pub(crate) type TraceOf = verdict_circuits::Trace;

/// The repository's `models/` folder.
pub(crate) fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}
