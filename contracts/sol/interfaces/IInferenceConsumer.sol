// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IInferenceConsumer
/// @notice Implemented by contracts that receive final inference results.
interface IInferenceConsumer {
    /// @notice Called once, with the caller-set gas limit, when request `requestId` is final.
    /// @param output The model's output: big-endian int32 values, 4 bytes each.
    /// @param callbackData The opaque bytes given at request time.
    function onInferenceResult(uint256 requestId, bytes calldata output, bytes calldata callbackData) external;
}
