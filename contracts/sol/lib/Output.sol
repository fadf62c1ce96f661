// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Output
/// @notice Reads model outputs: big-endian int32 values, 4 bytes each.
library Output {
    /// @notice The output length is not a whole number of int32 values.
    error OutputBadLength(uint256 length);
    /// @notice The index is past the last value.
    error OutputIndexOutOfRange(uint256 index, uint256 count);

    /// @notice Number of values.
    function count(bytes memory output) internal pure returns (uint256) {
        // INVARIANT: outputs are whole int32 values.
        if (output.length % 4 != 0) revert OutputBadLength(output.length);
        return output.length / 4;
    }

    /// @notice Value `i`.
    function valueAt(bytes memory output, uint256 i) internal pure returns (int32 v) {
        uint256 n = count(output);
        // INVARIANT: only existing values are read.
        if (i >= n) revert OutputIndexOutOfRange(i, n);
        assembly ("memory-safe") {
            v := signextend(3, shr(224, mload(add(add(output, 32), mul(i, 4)))))
        }
    }

    /// @notice Encodes values (for tests and consumers that build outputs).
    function encode(int32[] memory values) internal pure returns (bytes memory out) {
        out = new bytes(values.length * 4);
        for (uint256 i; i < values.length; ++i) {
            uint32 u = uint32(values[i]);
            out[4 * i] = bytes1(uint8(u >> 24));
            out[4 * i + 1] = bytes1(uint8(u >> 16));
            out[4 * i + 2] = bytes1(uint8(u >> 8));
            out[4 * i + 3] = bytes1(uint8(u));
        }
    }
}
