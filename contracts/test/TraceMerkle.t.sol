// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Base} from "./utils/Base.sol";
import {TraceMerkle} from "../sol/TraceMerkle.sol";
import {Trees} from "./utils/Trees.sol";

/// @dev Exposes the library's calldata function to tests.
contract TraceMerkleHarness {
    function verify(bytes32 root, uint256 count, uint256 index, bytes32 z, bytes32[] calldata proof)
        external
        pure
        returns (bool)
    {
        return TraceMerkle.verify(root, count, index, z, proof);
    }

    function root(bytes32[] calldata zs) external pure returns (bytes32) {
        return TraceMerkle.root(zs);
    }
}

contract TraceMerkleTest is Base {
    TraceMerkleHarness internal harness;

    function setUp() public {
        harness = new TraceMerkleHarness();
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
        assertTrue(harness.verify(Trees.root(zs), count, index, zs[index], Trees.proof(zs, index)));
    }

    function testFuzz_verify_wrongCommitmentOrIndex_fails(uint256 count, uint256 index, uint256 seed) public view {
        count = bound(count, 2, 70);
        index = bound(index, 0, count - 1);
        bytes32[] memory zs = _zs(count, seed);
        bytes32 root = Trees.root(zs);
        bytes32[] memory proof = Trees.proof(zs, index);
        assertFalse(harness.verify(root, count, index, zs[index] ^ bytes32(uint256(1)), proof));
        uint256 other = (index + 1) % count;
        assertFalse(harness.verify(root, count, other, zs[index], proof));
        proof[0] ^= bytes32(uint256(1));
        assertFalse(harness.verify(root, count, index, zs[index], proof));
    }

    function testFuzz_root_matchesTheTestTree_succeeds(uint256 count, uint256 seed) public view {
        count = bound(count, 1, 70);
        bytes32[] memory zs = _zs(count, seed);
        bytes32 root = harness.root(zs);
        assertEq(root, Trees.root(zs));
        zs[seed % count] ^= bytes32(uint256(1));
        assertTrue(harness.root(zs) != root, "every commitment is bound");
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
    function test_root_matchesRustVector_succeeds() public view {
        bytes32[] memory zs = new bytes32[](3);
        zs[0] = bytes32(uint256(1));
        zs[1] = bytes32(uint256(2));
        zs[2] = bytes32(uint256(3));
        bytes32 l0 = TraceMerkle.leaf(0, zs[0]);
        bytes32 l1 = TraceMerkle.leaf(1, zs[1]);
        bytes32 l2 = TraceMerkle.leaf(2, zs[2]);
        bytes32 root = TraceMerkle.node(TraceMerkle.node(l0, l1), TraceMerkle.node(l2, bytes32(0)));
        assertEq(root, Trees.root(zs));
        assertEq(root, RUST_ROOT_1_2_3);
        assertEq(harness.root(zs), RUST_ROOT_1_2_3);
    }

    bytes32 internal constant RUST_ROOT_1_2_3 = 0x31d1e94fe6639e2fea95b9f9c7bf102664563e4b53d7c60c31e1cae8c5619992;
}
