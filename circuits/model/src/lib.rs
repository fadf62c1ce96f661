#![doc = include_str!("../README.md")]

/// Poseidon commitments and the parts of their preimages (headers, trailers, packing) that the
/// step circuits rebuild in-circuit; the encoding is in `circuits/COMMITMENTS.md`.
pub mod commit;
/// The bit-exact integer reference engine.
pub mod engine;
mod error;
mod float;
mod input;
/// The model format.
pub mod model;
mod onnx;
mod poseidon_params;
mod quantize;
/// Tiles: fixed-size steps of a model's inference (the trace a dispute bisects).
pub mod tiles;
mod trace_tree;
mod trees;

pub use commit::{
    activation_commitment, layer_commitment, model_commitment_with, pack, parse_salt, poseidon_constants,
    poseidon_hash, private_input_commitment, salted_input_commitment, step_bits, wide_hash, CommitArity, Commitment,
    Fr, PACK_BITS, TAG_ACTIVATIONS, TAG_LAYER, TAG_MODEL,
};
pub use engine::{argmax, clamp_int8, requantize, Prediction, Trace};
pub use error::{Error, Result, SUPPORTED_OPS};
pub use float::{FloatLayer, FloatModel, Interpolant, DEFAULT_KNOTS, MAX_KNOTS};
pub use input::{parse_input, InputValues};
pub use model::{
    Activation, InputSpec, Layer, Model, Normalize, OutputSpec, Requant, Table, TableFunction, Task, ACC_BOUND,
    INT8_MAX, MAX_SHIFT, MODEL_FORMAT, MODEL_FORMAT_VERSION, TABLE_LEN,
};
pub use onnx::{import_onnx, import_onnx_file, MAX_LOWERED_WEIGHTS, MAX_VALUES, MIN_OPSET};
pub use poseidon_params::{poseidon_params, sponge_tag, wide_poseidon_params, PoseidonParams};
/// The protobuf messages of the ONNX subset the importer reads (they also encode).
pub mod onnx_proto {
    pub use crate::onnx::{
        AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
        TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto, DATA_TYPE_FLOAT, DATA_TYPE_INT64,
    };
}
pub use quantize::{
    accuracy, argmax_f64, layer_errors, output_accuracy, parse_csv_row, quantize, quantize_with_report, AccuracyReport,
    Adjustment, Calibration,
};
pub use trace_tree::{range_proof_len, range_root, trace_leaf, trace_node, TraceTree};
