// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Base} from "./utils/Base.sol";
import {TraceMerkle} from "../sol/TraceMerkle.sol";

/// @dev Exposes the library's calldata function to tests.
contract TraceMerkleHarness {
    function verify(bytes32 root, uint256 count, uint256 index, bytes32 z, bytes32[] calldata proof)
        external
        pure
        returns (bool)
    {
        return TraceMerkle.verify(root, count, index, z, proof);
    }
}

contract TraceMerkleTest is Base {
    TraceMerkleHarness internal harness;

    function setUp() public {
        harness = new TraceMerkleHarness();
    }

    /// @dev Builds the whole tree in memory (independently of the library's proof walk).
    function _tree(bytes32[] memory zs) internal pure returns (bytes32[][] memory levels) {
        uint256 d = TraceMerkle.depth(zs.length);
        levels = new bytes32[][](d + 1);
        levels[0] = new bytes32[](uint256(1) << d);
        for (uint256 i; i < zs.length; ++i) {
            levels[0][i] = TraceMerkle.leaf(i, zs[i]);
        }
        for (uint256 l = 1; l <= d; ++l) {
            levels[l] = new bytes32[](levels[l - 1].length / 2);
            for (uint256 i; i < levels[l].length; ++i) {
                levels[l][i] = TraceMerkle.node(levels[l - 1][2 * i], levels[l - 1][2 * i + 1]);
            }
        }
    }

    function _proof(bytes32[][] memory levels, uint256 index) internal pure returns (bytes32[] memory proof) {
        proof = new bytes32[](levels.length - 1);
        for (uint256 l; l < proof.length; ++l) {
            proof[l] = levels[l][index ^ 1];
            index >>= 1;
        }
    }

    function _zs(uint256 count, uint256 seed) internal pure returns (bytes32[] memory zs) {
        zs = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            zs[i] = keccak256(abi.encode(seed, i));
        }
    }

    function test_depth_values_succeeds() public pure {
        assertEq(TraceMerkle.depth(1), 0);
        assertEq(TraceMerkle.depth(2), 1);
        assertEq(TraceMerkle.depth(3), 2);
        assertEq(TraceMerkle.depth(4), 2);
        assertEq(TraceMerkle.depth(5), 3);
        assertEq(TraceMerkle.depth(1024), 10);
    }

    function testFuzz_verify_everyStep_succeeds(uint256 count, uint256 index, uint256 seed) public view {
        count = bound(count, 1, 70);
        index = bound(index, 0, count - 1);
        bytes32[] memory zs = _zs(count, seed);
        bytes32[][] memory levels = _tree(zs);
        bytes32 root = levels[levels.length - 1][0];
        assertTrue(harness.verify(root, count, index, zs[index], _proof(levels, index)));
    }

    function testFuzz_verify_wrongCommitmentOrIndex_fails(uint256 count, uint256 index, uint256 seed) public view {
        count = bound(count, 2, 70);
        index = bound(index, 0, count - 1);
        bytes32[] memory zs = _zs(count, seed);
        bytes32[][] memory levels = _tree(zs);
        bytes32 root = levels[levels.length - 1][0];
        bytes32[] memory proof = _proof(levels, index);
        assertFalse(harness.verify(root, count, index, zs[index] ^ bytes32(uint256(1)), proof));
        uint256 other = (index + 1) % count;
        assertFalse(harness.verify(root, count, other, zs[index], proof));
        proof[0] ^= bytes32(uint256(1));
        assertFalse(harness.verify(root, count, index, zs[index], proof));
    }

    function test_verify_badProofLength_reverts() public {
        bytes32[] memory proof = new bytes32[](1);
        vm.expectRevert(abi.encodeWithSelector(TraceMerkle.TraceMerkleBadProofLength.selector, 2, 1));
        harness.verify(bytes32(0), 4, 0, bytes32(0), proof);
    }

    function test_verify_indexOutOfRange_reverts() public {
        bytes32[] memory proof = new bytes32[](2);
        vm.expectRevert(abi.encodeWithSelector(TraceMerkle.TraceMerkleIndexOutOfRange.selector, 4, 4));
        harness.verify(bytes32(0), 4, 4, bytes32(0), proof);
    }

    /// @dev Pins the encoding shared with the Rust side (`circuits/tests/it/trace_tree.rs`).
    function test_root_matchesRustVector_succeeds() public pure {
        bytes32[] memory zs = new bytes32[](3);
        zs[0] = bytes32(uint256(1));
        zs[1] = bytes32(uint256(2));
        zs[2] = bytes32(uint256(3));
        bytes32 l0 = TraceMerkle.leaf(0, zs[0]);
        bytes32 l1 = TraceMerkle.leaf(1, zs[1]);
        bytes32 l2 = TraceMerkle.leaf(2, zs[2]);
        bytes32 root = TraceMerkle.node(TraceMerkle.node(l0, l1), TraceMerkle.node(l2, bytes32(0)));
        assertEq(root, _tree(zs)[2][0]);
        assertEq(root, RUST_ROOT_1_2_3);
    }

    bytes32 internal constant RUST_ROOT_1_2_3 = 0x31d1e94fe6639e2fea95b9f9c7bf102664563e4b53d7c60c31e1cae8c5619992;
}
