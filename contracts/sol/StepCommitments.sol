// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {DataContract} from "./lib/DataContract.sol";
import {Poseidon} from "./lib/Poseidon.sol";

/// @title StepCommitments
/// @notice Computes step commitments z_i on-chain, exactly as `verdict_circuits::activation_commitment`:
///         z = H(1, step, len, bits, pack(values, bits)…), so a verifier can bind z_0 to a
///         request's input and z_L to a proposed output. Spec: circuits/COMMITMENTS.md.
/// @dev Holds the Poseidon constants in two data contracts, written once at construction.
contract StepCommitments {
    /// @notice The constants blob does not have the expected size.
    error StepCommitmentsBadConstants(uint256 length);
    /// @notice Only int8 (8) and int32 (32) values are committed.
    error StepCommitmentsBadWidth(uint256 bits);
    /// @notice int32 values come as whole 4-byte words.
    error StepCommitmentsBadLength(uint256 length);

    /// @notice The two data contracts holding the Poseidon constants.
    address public immutable constants0;
    /// @notice See `constants0`.
    address public immutable constants1;

    constructor(bytes memory poseidonConstants) {
        // INVARIANT: the constants are exactly the exported ones' size.
        if (poseidonConstants.length != Poseidon.WORDS * 32) {
            revert StepCommitmentsBadConstants(poseidonConstants.length);
        }
        uint256 half = 640 * 32;
        bytes memory a = new bytes(half);
        bytes memory b = new bytes(poseidonConstants.length - half);
        for (uint256 i; i < half; ++i) {
            a[i] = poseidonConstants[i];
        }
        for (uint256 i; i < b.length; ++i) {
            b[i] = poseidonConstants[half + i];
        }
        constants0 = DataContract.write(a);
        constants1 = DataContract.write(b);
    }

    /// @notice The Poseidon constants, read back from the data contracts.
    function poseidonConstants() public view returns (bytes memory c) {
        c = new bytes(Poseidon.WORDS * 32);
        DataContract.readInto(constants1, c, DataContract.readInto(constants0, c, 0));
    }

    /// @notice z for step `step` with `values`: int8 values one byte each (two's complement) for
    ///         `bits` = 8, big-endian int32 words for `bits` = 32.
    function commitment(uint256 step, bytes calldata values, uint256 bits) external view returns (bytes32) {
        uint256 width;
        if (bits == 8) {
            width = 1;
        } else if (bits == 32) {
            width = 4;
            // INVARIANT: int32 values are whole words.
            if (values.length % 4 != 0) revert StepCommitmentsBadLength(values.length);
        } else {
            // INVARIANT: only the widths of the spec are committed.
            revert StepCommitmentsBadWidth(bits);
        }
        uint256 count = values.length / width;
        uint256 perElement = 248 / bits;
        uint256 packed = (count + perElement - 1) / perElement;
        uint256[] memory elements = new uint256[](4 + packed);
        (elements[0], elements[1], elements[2], elements[3]) = (1, step, count, bits);
        uint256 offset = 1 << (bits - 1);
        for (uint256 i; i < count; ++i) {
            uint256 raw = 0;
            for (uint256 b; b < width; ++b) {
                raw = (raw << 8) | uint8(values[i * width + b]);
            }
            // Two's complement to the offset encoding v + 2^(bits-1): flip the sign bit.
            uint256 u = raw ^ offset;
            elements[4 + i / perElement] |= u << (bits * (i % perElement));
        }
        return bytes32(Poseidon.hash(elements, poseidonConstants()));
    }
}
