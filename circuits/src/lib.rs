#![doc = include_str!("../README.md")]

/// The Solidity verifier's encodings: the flat proof and the verifying-key blob.
pub mod evm;
/// Folding proofs of segments of steps (Keccak-transcript native folds + MicroSpartan/HyperKZG).
pub mod folding;
/// R1CS gadgets for integer inference (the step circuits are built from them).
pub mod gadgets;
/// The commitment hash's Poseidon permutation and sponge in-circuit.
pub mod poseidon_circuit;
/// Segment proofs of a model: prover, reference verifier, key cache, proof files.
pub mod prover;
/// The uniform step circuit of a model (public or private weights).
pub mod step;

// The model pipeline the prover proves (format, engine, commitments), re-exported so that one
// import serves both.
pub use verdict_model::*;
