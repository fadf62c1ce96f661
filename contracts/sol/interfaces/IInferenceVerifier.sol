// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IInferenceVerifier
/// @notice Checks proofs about a model's execution trace. One verifier serves the models
///         registered with it; the registry stores, per model, the verifier and the digest of the
///         verifying key that its proofs must be made against.
interface IInferenceVerifier {
    /// @notice The step commitment z_0 of a public int8 input (one byte a value, two's complement).
    function inputCommitment(uint256 modelId, bytes calldata input) external view returns (bytes32);

    /// @notice The step commitment z_L of an output (big-endian int32 values, 4 bytes each).
    function outputCommitment(uint256 modelId, bytes calldata output) external view returns (bytes32);

    /// @notice Whether `proof` shows that steps [from, to) of model `modelId`, run for request
    ///         `requestId`, map `steps[0]` (= z_from) through `steps[to - from]` (= z_to).
    /// @dev Must return false or revert for anything it does not accept; never accept by default.
    function verifySegment(
        uint256 modelId,
        uint256 requestId,
        uint256 from,
        uint256 to,
        bytes32[] calldata steps,
        bytes calldata proof
    ) external view returns (bool);
}
