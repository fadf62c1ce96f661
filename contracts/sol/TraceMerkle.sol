// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title TraceMerkle
/// @notice Merkle commitments to an execution trace z_0..z_L (the step commitments).
/// @dev Leaves are `keccak256(0x00 ‖ uint256 index ‖ z_index)`, inner nodes
///      `keccak256(0x01 ‖ left ‖ right)`; the tree is padded to a power of two with zero leaves
///      (`bytes32(0)`, not hashed). `verdict_circuits::TraceTree` builds the same tree off-chain.
library TraceMerkle {
    /// @notice The proof length does not match the tree depth for `count` leaves.
    error TraceMerkleBadProofLength(uint256 expected, uint256 actual);
    /// @notice The index is outside the trace.
    error TraceMerkleIndexOutOfRange(uint256 index, uint256 count);

    /// @notice The depth of the tree over `count` leaves: ceil(log2(count)), 0 for one leaf.
    function depth(uint256 count) internal pure returns (uint256 d) {
        while ((uint256(1) << d) < count) {
            unchecked {
                ++d;
            }
        }
    }

    /// @notice The leaf of step `index` with commitment `z`.
    function leaf(uint256 index, bytes32 z) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 0x00)
            mstore(add(p, 1), index)
            mstore(add(p, 33), z)
            h := keccak256(p, 65)
        }
    }

    /// @notice The parent of two nodes.
    function node(bytes32 left, bytes32 right) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 0x01)
            mstore(add(p, 1), left)
            mstore(add(p, 33), right)
            h := keccak256(p, 65)
        }
    }

    /// @notice The root of the trace `zs` (z_0..z_L), as a proposal posts it.
    function root(bytes32[] calldata zs) internal pure returns (bytes32) {
        uint256 count = zs.length;
        uint256 width = uint256(1) << depth(count);
        bytes32[] memory level = new bytes32[](width);
        for (uint256 i; i < count; ++i) {
            level[i] = leaf(i, zs[i]);
        }
        // Padding leaves stay zero. Each pass halves the level in place.
        while (width > 1) {
            width >>= 1;
            for (uint256 i; i < width; ++i) {
                level[i] = node(level[2 * i], level[2 * i + 1]);
            }
        }
        return level[0];
    }

    /// @notice Whether `z` is step `index` of the trace with root `root` over `count` steps.
    function verify(bytes32 root, uint256 count, uint256 index, bytes32 z, bytes32[] calldata proof)
        internal
        pure
        returns (bool)
    {
        // INVARIANT: only steps of the trace have leaves.
        if (index >= count) revert TraceMerkleIndexOutOfRange(index, count);
        uint256 d = depth(count);
        // INVARIANT: a proof has exactly one sibling per level.
        if (proof.length != d) revert TraceMerkleBadProofLength(d, proof.length);
        bytes32 h = leaf(index, z);
        uint256 position = index;
        for (uint256 i; i < d; ++i) {
            h = (position & 1 == 0) ? node(h, proof[i]) : node(proof[i], h);
            position >>= 1;
        }
        return h == root;
    }
}
