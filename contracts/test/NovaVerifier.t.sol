// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Base} from "./utils/Base.sol";
import {NovaVerifier} from "../sol/NovaVerifier.sol";
import {ModelRegistry} from "../sol/ModelRegistry.sol";
import {StepCommitments} from "../sol/StepCommitments.sol";

interface VmNova {
    function readFile(string calldata path) external view returns (string memory);
    function readFileBinary(string calldata path) external view returns (bytes memory);
    function parseBytes(string calldata s) external pure returns (bytes memory);
    function trim(string calldata s) external pure returns (string memory);
    function parseJsonBytes(string calldata json, string calldata key) external pure returns (bytes memory);
    function parseJsonUint(string calldata json, string calldata key) external pure returns (uint256);
    function parseJsonBytes32(string calldata json, string calldata key) external pure returns (bytes32);
    function parseJsonBytes32Array(string calldata json, string calldata key) external pure returns (bytes32[] memory);
}

/// @dev The verifier on a real proof of the price-feed model (contracts/data/nova/, made by
///      `fraud-prover prove` under the insecure test setup; `scripts/nova_fixture.sh` remakes it):
///      acceptance, gas, and rejection of tampered proofs with the right custom errors. The
///      cross-language tests with fresh proofs of every model are in contracts/tests/it/nova.rs.
contract NovaVerifierTest is Base {
    VmNova internal constant files = VmNova(address(uint160(uint256(keccak256("hevm cheat code")))));

    NovaVerifier internal nova;
    ModelRegistry internal registry;
    uint256 internal modelId;
    uint256 internal requestId;
    uint256 internal from;
    uint256 internal to;
    bytes32[] internal steps;
    bytes internal proof;

    function setUp() public {
        bytes memory c = files.parseBytes(files.trim(files.readFile("data/poseidon_t9.hex")));
        registry = new ModelRegistry();
        nova = new NovaVerifier(registry, new StepCommitments(c));
        bytes32 digest = nova.publishKey(files.readFileBinary("data/nova/price_feed.key"));
        string memory json = files.readFile("data/nova/price_feed.proof.json");
        requestId = uint256(files.parseJsonBytes32(json, ".request_id"));
        from = files.parseJsonUint(json, ".from");
        to = files.parseJsonUint(json, ".to");
        steps = files.parseJsonBytes32Array(json, ".steps");
        proof = files.parseJsonBytes(json, ".proof");
        modelId = registry.register(
            files.parseJsonBytes32(json, ".model"), digest, address(nova), uint32(to), 16, 1, false, 0, ""
        );
    }

    function test_verifySegment_wholePriceFeedProof_succeeds() public {
        assertTrue(nova.verifySegment(modelId, requestId, from, to, steps, proof));
        vm.snapshotGasLastCall("verifySegment_price_feed_whole");
    }

    function _verify(bytes memory p) internal view {
        nova.verifySegment(modelId, requestId, from, to, steps, p);
    }

    /// @dev Any single flipped bit of the proof is rejected (with one of the verifier's errors).
    function testFuzz_verifySegment_flippedBit_reverts(uint256 at, uint8 bit) public {
        at = bound(at, 0, proof.length - 1);
        bytes memory bad = bytes.concat(proof);
        bad[at] = bad[at] ^ bytes1(uint8(1) << (bit % 8));
        (bool ok, bytes memory err) =
            address(nova).staticcall(abi.encodeCall(nova.verifySegment, (modelId, requestId, from, to, steps, bad)));
        assertFalse(ok);
        assertTrue(err.length >= 4, "a custom error, not an out-of-gas");
    }

    function test_verifySegment_otherRequest_reverts() public {
        vm.expectRevert();
        nova.verifySegment(modelId, requestId + 1, from, to, steps, proof);
    }

    function test_verifySegment_changedStepCommitment_reverts() public {
        for (uint256 i; i < steps.length; ++i) {
            bytes32[] memory bad = steps;
            bad[i] = bytes32(uint256(bad[i]) ^ 1);
            vm.expectRevert();
            nova.verifySegment(modelId, requestId, from, to, bad, proof);
            bad[i] = bytes32(uint256(bad[i]) ^ 1);
        }
    }

    function test_verifySegment_reorderedSteps_reverts() public {
        bytes32[] memory bad = steps;
        (bad[1], bad[2]) = (bad[2], bad[1]);
        vm.expectRevert();
        nova.verifySegment(modelId, requestId, from, to, bad, proof);
    }

    function test_verifySegment_truncated_reverts() public {
        bytes memory bad = new bytes(proof.length - 1);
        vm.expectRevert(
            abi.encodeWithSelector(NovaVerifier.NovaVerifierBadProofLength.selector, proof.length, proof.length - 1)
        );
        nova.verifySegment(modelId, requestId, from, to, steps, bad);
    }

    function test_verifySegment_otherSegment_reverts() public {
        bytes32[] memory shorter = new bytes32[](steps.length - 1);
        for (uint256 i; i < shorter.length; ++i) {
            shorter[i] = steps[i + 1];
        }
        // The proof's length fits 3 steps: fewer steps fail on length, before any cryptography.
        vm.expectRevert();
        nova.verifySegment(modelId, requestId, from + 1, to, shorter, proof);
        vm.expectRevert(abi.encodeWithSelector(NovaVerifier.NovaVerifierBadSegment.selector, from, to + 1, to));
        nova.verifySegment(modelId, requestId, from, to + 1, steps, proof);
        vm.expectRevert(abi.encodeWithSelector(NovaVerifier.NovaVerifierBadStepCount.selector, 4, 3));
        nova.verifySegment(modelId, requestId, from, to, shorter, proof);
    }

    function test_verifySegment_offCurvePoint_reverts() public {
        bytes memory bad = bytes.concat(proof);
        bad[63] = bad[63] ^ 0x01;
        vm.expectRevert(abi.encodeWithSelector(NovaVerifier.NovaVerifierBadPoint.selector, 0));
        _verify(bad);
    }

    function test_verifySegment_scalarAtModulus_reverts() public {
        bytes memory bad = bytes.concat(proof);
        // r_W sits after the steps (128 bytes each), the random instance (288) and its cross term.
        uint256 at = 128 * (to - from) + 352;
        uint256 r = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
        assembly {
            mstore(add(add(bad, 32), at), r)
        }
        vm.expectRevert(abi.encodeWithSelector(NovaVerifier.NovaVerifierNotCanonical.selector, at));
        _verify(bad);
    }

    function test_publishKey_badBlob_reverts() public {
        bytes memory key = files.readFileBinary("data/nova/price_feed.key");
        vm.expectRevert(NovaVerifier.NovaVerifierBadKey.selector);
        nova.publishKey(bytes.concat(key, hex"00"));
        key[159] = key[159] ^ 0x01; // G's y
        vm.expectRevert(NovaVerifier.NovaVerifierBadKey.selector);
        nova.publishKey(key);
    }

    /// @dev The G2 points H (bytes 192..320) and tau·H (320..448) are checked too: off the curve,
    ///      or the identity, the key is refused. (Before, only the G1 points were checked.)
    function test_publishKey_badG2Point_reverts() public {
        bytes memory good = files.readFileBinary("data/nova/price_feed.key");
        for (uint256 at = 319; at < 448; at += 128) {
            bytes memory key = bytes.concat(good);
            key[at] = key[at] ^ 0x01;
            vm.expectRevert(NovaVerifier.NovaVerifierBadKey.selector);
            nova.publishKey(key);
        }
        bytes memory zero = bytes.concat(good);
        for (uint256 i = 320; i < 448; ++i) {
            zero[i] = 0;
        }
        vm.expectRevert(NovaVerifier.NovaVerifierBadKey.selector);
        nova.publishKey(zero);
    }

    function test_verifySegment_unpublishedKey_reverts() public {
        uint256 other =
            registry.register(bytes32(uint256(1)), bytes32(uint256(2)), address(nova), 3, 16, 1, false, 0, "");
        vm.expectRevert(abi.encodeWithSelector(NovaVerifier.NovaVerifierUnknownKey.selector, bytes32(uint256(2))));
        nova.verifySegment(other, requestId, from, to, steps, proof);
    }
}

/// @dev The verifier's challenged mode (`verdict_circuits::challenged`: LogUp steps whose prefix
///      is committed before their challenge) on real proofs of 1 and 3 steps of the LogUp probe's
///      16 × 31 tile shape (contracts/data/nova/logup_probe*, made by `cargo run --release -p
///      verdict-circuits --example logup_probe -- 16x31 1 --fixture contracts/data/nova` under the
///      insecure test setup): acceptance, gas, the support check, and the key's checks.
contract NovaVerifierChallengedTest is Base {
    VmNova internal constant files = VmNova(address(uint160(uint256(keccak256("hevm cheat code")))));

    NovaVerifier internal nova;
    ModelRegistry internal registry;
    bytes32 internal digest;

    struct Fixture {
        uint256 modelId;
        uint256 requestId;
        uint256 from;
        uint256 to;
        bytes32[] steps;
        bytes proof;
    }

    function setUp() public {
        bytes memory c = files.parseBytes(files.trim(files.readFile("data/poseidon_t9.hex")));
        registry = new ModelRegistry();
        nova = new NovaVerifier(registry, new StepCommitments(c));
        digest = nova.publishKey(files.readFileBinary("data/nova/logup_probe.key"));
    }

    function _fixture(string memory name) internal returns (Fixture memory f) {
        string memory json = files.readFile(string.concat("data/nova/", name));
        f.requestId = uint256(files.parseJsonBytes32(json, ".request_id"));
        f.from = files.parseJsonUint(json, ".from");
        f.to = files.parseJsonUint(json, ".to");
        f.steps = files.parseJsonBytes32Array(json, ".steps");
        f.proof = files.parseJsonBytes(json, ".proof");
        f.modelId = registry.register(
            files.parseJsonBytes32(json, ".model"), digest, address(nova), uint32(f.to), 16, 1, false, 0, ""
        );
    }

    function _verify(Fixture memory f, bytes memory p) internal view {
        nova.verifySegment(f.modelId, f.requestId, f.from, f.to, f.steps, p);
    }

    function test_verifySegment_challengedOneStep_succeeds() public {
        Fixture memory f = _fixture("logup_probe_1.proof.json");
        assertTrue(nova.verifySegment(f.modelId, f.requestId, f.from, f.to, f.steps, f.proof));
        vm.snapshotGasLastCall("verifySegment_logup_16x31_one_step");
    }

    function test_verifySegment_challengedThreeSteps_succeeds() public {
        Fixture memory f = _fixture("logup_probe_3.proof.json");
        assertTrue(nova.verifySegment(f.modelId, f.requestId, f.from, f.to, f.steps, f.proof));
        vm.snapshotGasLastCall("verifySegment_logup_16x31_three_steps");
    }

    /// @dev A prover that moves part of C1 into C2 after the challenge keeps C1 + C2 but not the
    ///      support: here C2 of step 0 replaced by C1 (a valid point), and Q by another point.
    function test_verifySegment_supportViolated_reverts() public {
        Fixture memory f = _fixture("logup_probe_1.proof.json");
        bytes memory bad = bytes.concat(f.proof);
        for (uint256 i; i < 64; ++i) {
            bad[64 + i] = f.proof[i];
        }
        vm.expectRevert();
        _verify(f, bad);
        // Q (after the step's C1 ‖ C2 ‖ T) replaced by C1: only the support check can notice.
        bad = bytes.concat(f.proof);
        for (uint256 i; i < 64; ++i) {
            bad[192 + i] = f.proof[i];
        }
        vm.expectRevert(NovaVerifier.NovaVerifierSupport.selector);
        _verify(f, bad);
    }

    /// @dev Any single flipped bit of a challenged proof is rejected with one of the errors.
    function testFuzz_verifySegment_challengedFlippedBit_reverts(uint256 at, uint8 bit) public {
        Fixture memory f = _fixture("logup_probe_1.proof.json");
        at = bound(at, 0, f.proof.length - 1);
        bytes memory bad = bytes.concat(f.proof);
        bad[at] = bad[at] ^ bytes1(uint8(1) << (bit % 8));
        (bool ok, bytes memory err) = address(nova)
            .staticcall(abi.encodeCall(nova.verifySegment, (f.modelId, f.requestId, f.from, f.to, f.steps, bad)));
        assertFalse(ok);
        assertTrue(err.length >= 4, "a custom error, not an out-of-gas");
    }

    function test_verifySegment_challengedOtherClaims_revert() public {
        Fixture memory f = _fixture("logup_probe_3.proof.json");
        vm.expectRevert();
        nova.verifySegment(f.modelId, f.requestId + 1, f.from, f.to, f.steps, f.proof);
        bytes32[] memory bad = f.steps;
        (bad[1], bad[2]) = (bad[2], bad[1]);
        vm.expectRevert();
        nova.verifySegment(f.modelId, f.requestId, f.from, f.to, bad, f.proof);
    }

    /// @dev The blob's last five words: the prefix, then tau^prefix · H. A challenged key without
    ///      tau^prefix · H, with it off the curve, or a prefix beyond the witness is refused; so is a
    ///      plain key with one.
    function test_publishKey_challengedKeyChecks_revert() public {
        bytes memory good = files.readFileBinary("data/nova/logup_probe.key");
        bytes memory key = bytes.concat(good);
        for (uint256 i = 992; i < 1120; ++i) {
            key[i] = 0;
        }
        vm.expectRevert(NovaVerifier.NovaVerifierBadKey.selector);
        nova.publishKey(key);
        key = bytes.concat(good);
        key[1119] = key[1119] ^ 0x01;
        vm.expectRevert(NovaVerifier.NovaVerifierBadKey.selector);
        nova.publishKey(key);
        key = bytes.concat(good);
        key[960] = 0x01; // prefix ≥ 2^248
        vm.expectRevert(NovaVerifier.NovaVerifierBadKey.selector);
        nova.publishKey(key);
        key = bytes.concat(good);
        for (uint256 i = 960; i < 992; ++i) {
            key[i] = 0;
        }
        vm.expectRevert(NovaVerifier.NovaVerifierBadKey.selector);
        nova.publishKey(key);
    }
}
