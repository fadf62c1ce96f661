#![doc = include_str!("../README.md")]

/// Folding proofs of steps with a challenge drawn after a committed prefix (lookup arguments).
pub mod challenged;
/// The Solidity verifier's encodings: the flat proof and the verifying-key blob.
pub mod evm;
/// Folding proofs of segments of steps (Keccak-transcript native folds + MicroSpartan/HyperKZG).
pub mod folding;
/// R1CS gadgets for integer inference (the step circuits are built from them).
pub mod gadgets;
/// Byte range checks by LogUp lookups (for challenged steps).
pub mod lookup;
/// Multi-scalar multiplication for the folding prover's commitments (batch-affine buckets).
pub mod msm;
/// The commitment hash's Poseidon permutation and sponge in-circuit.
pub mod poseidon_circuit;
/// Segment proofs of a model: prover, reference verifier, key cache, proof files.
pub mod prover;
/// The uniform step circuit of a model (public or private weights).
pub mod step;
/// The tile step circuit: one fixed-size step of any model's tiled trace.
pub mod tile;
/// Segment proofs over a model's tiles, with one set of keys for every model.
pub mod tiled;

// The model pipeline the prover proves (format, engine, commitments), re-exported so that one
// import serves both.
pub use verdict_model::*;
