// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Base} from "./Base.sol";
import {ModelRegistry} from "../../sol/ModelRegistry.sol";
import {InferenceOracle} from "../../sol/InferenceOracle.sol";
import {DisputeGame} from "../../sol/DisputeGame.sol";
import {Trees} from "./Trees.sol";
import {IInferenceVerifier} from "../../sol/interfaces/IInferenceVerifier.sol";
import {Duration} from "../../sol/lib/Types.sol";

/// @dev A verifier for the game's unit tests that answers as told: a segment proof is accepted
///      iff its bytes are "ok" and it was told to accept that segment's ends (`accept`) or exactly
///      those step commitments (`acceptExactly`: a real proof binds every one). Commitments are
///      keccak256 of the bytes (the real verifier uses Poseidon). End-to-end tests use the real one.
contract TestVerifier is IInferenceVerifier {
    mapping(bytes32 => bool) public accepts;
    /// When set, only proofs made for this request id (the transcript's) are accepted.
    uint256 public onlyRequestId;

    function requireRequestId(uint256 id) external {
        onlyRequestId = id;
    }

    function accept(uint256 from, uint256 to, bytes32 zFrom, bytes32 zTo) external {
        accepts[keccak256(abi.encode(from, to, zFrom, zTo))] = true;
    }

    function acceptExactly(uint256 from, uint256 to, bytes32[] calldata steps) external {
        accepts[keccak256(abi.encode(from, to, steps))] = true;
    }

    function inputCommitment(uint256, bytes calldata input) external pure returns (bytes32) {
        return keccak256(abi.encodePacked("in", input));
    }

    function outputCommitment(uint256, bytes calldata output) external pure returns (bytes32) {
        return keccak256(abi.encodePacked("out", output));
    }

    function verifySegment(
        uint256,
        uint256 requestId,
        uint256 from,
        uint256 to,
        bytes32[] calldata steps,
        bytes calldata proof
    ) external view returns (bool) {
        if (onlyRequestId != 0 && requestId != onlyRequestId) return false;
        if (keccak256(proof) == keccak256("revert")) revert("verifier reverted");
        if (keccak256(proof) == keccak256("burn")) {
            // Runs out of gas: a revert without a reason.
            uint256 x;
            while (gasleft() > 0) {
                x = uint256(keccak256(abi.encode(x)));
            }
        }
        return keccak256(proof) == keccak256("ok")
            && (accepts[keccak256(abi.encode(from, to, steps[0], steps[steps.length - 1]))]
                || accepts[keccak256(abi.encode(from, to, steps))]);
    }
}

/// @dev Deploys the protocol with test parameters and builds traces.
abstract contract Fixture is Base {
    ModelRegistry internal registry;
    InferenceOracle internal oracle;
    DisputeGame internal game;
    TestVerifier internal verifier;

    address internal owner = address(0xA11CE);
    address internal treasury = address(0x7EA5);
    address internal modelOwner = address(0x0D31);
    address internal operator = address(0x0F0F);
    address internal watcher = address(0xBEEF);
    address internal user = address(0xCAFE);

    uint96 internal constant PROPOSER_BOND = 1 ether;
    uint96 internal constant CHALLENGER_BOND = 0.5 ether;
    uint96 internal constant MODEL_FEE = 0.001 ether;
    uint96 internal constant OPERATOR_FEE = 0.002 ether;
    uint64 internal constant WINDOW = 1 hours;
    uint64 internal constant CLOCK = 30 minutes;
    uint64 internal constant PROOF_WINDOW = 1 hours;
    uint16 internal constant K = 1;
    uint16 internal constant BURN_BPS = 2_000;
    uint64 internal constant CONFIG_DELAY = 2 days;

    /// Model 1: public, 5 steps, 4 int8 inputs, 2 int32 outputs. Model 2: private, 2 steps.
    uint256 internal publicModel;
    uint256 internal privateModel;
    uint32 internal constant STEPS = 5;

    function setUp() public virtual {
        vm.warp(1_000_000);
        verifier = new TestVerifier();
        registry = new ModelRegistry();
        vm.startPrank(owner);
        oracle = new InferenceOracle(registry, PROPOSER_BOND, CHALLENGER_BOND, Duration.wrap(CONFIG_DELAY), _config());
        game = new DisputeGame(oracle, K, Duration.wrap(CLOCK), Duration.wrap(PROOF_WINDOW));
        oracle.setDisputeGame(address(game));
        vm.stopPrank();
        vm.startPrank(modelOwner);
        publicModel = registry.register(
            keccak256("m1"), keccak256("vk1"), address(verifier), STEPS, 4, 2, false, MODEL_FEE, "file://m1"
        );
        privateModel =
            registry.register(keccak256("m2"), keccak256("vk2"), address(verifier), 2, 4, 2, true, MODEL_FEE, "");
        vm.stopPrank();
        actors = [owner, treasury, modelOwner, operator, watcher, user];
        vm.deal(operator, 100 ether);
        vm.deal(watcher, 100 ether);
        vm.deal(user, 100 ether);
        vm.prank(operator);
        oracle.depositBond{value: 10 ether}();
    }

    function _config() internal view returns (InferenceOracle.Config memory) {
        return InferenceOracle.Config({
            livenessWindow: Duration.wrap(WINDOW),
            operatorFee: OPERATOR_FEE,
            burnBps: BURN_BPS,
            maxCallbackGas: 500_000,
            requestTimeout: Duration.wrap(1 days),
            treasury: treasury
        });
    }

    function _fee() internal pure returns (uint256) {
        return uint256(MODEL_FEE) + OPERATOR_FEE;
    }

    function _input() internal pure returns (bytes memory) {
        return hex"01fe7f00";
    }

    function _request(uint256 modelId, address callback, uint32 gasLimit) internal returns (uint256) {
        vm.prank(user);
        return oracle.request{value: _fee()}(modelId, _input(), bytes32(0), callback, gasLimit, "data");
    }

    function _output(int32 a, int32 b) internal pure returns (bytes memory) {
        return abi.encodePacked(a, b);
    }

    /// @dev A trace z_0..z_L with z_0 bound to `_input()` and z_L to `output`; `forkAt` > 0 makes
    ///      every step from `forkAt` on differ (salted), as a liar's or a diverging trace does.
    function _trace(uint256 steps, bytes memory output, uint256 forkAt, bytes32 salt)
        internal
        view
        returns (bytes32[] memory zs)
    {
        zs = new bytes32[](steps + 1);
        zs[0] = verifier.inputCommitment(0, _input());
        for (uint256 i = 1; i < steps; ++i) {
            zs[i] = keccak256(abi.encode("step", i, forkAt != 0 && i >= forkAt ? salt : bytes32(0)));
        }
        zs[steps] = verifier.outputCommitment(0, output);
    }

    function _root(bytes32[] memory zs) internal pure returns (bytes32) {
        return Trees.root(zs);
    }

    function _proof(bytes32[] memory zs, uint256 index) internal pure returns (bytes32[] memory) {
        return Trees.proof(zs, index);
    }

    function _opening(bytes32[] memory zs) internal pure returns (DisputeGame.Opening memory o) {
        uint256 last = zs.length - 1;
        o = DisputeGame.Opening(zs[0], _proof(zs, 0), zs[last], _proof(zs, last));
    }

    function _slice(bytes32[] memory zs, uint256 lo, uint256 hi) internal pure returns (bytes32[] memory out) {
        out = new bytes32[](hi - lo + 1);
        for (uint256 i; i < out.length; ++i) {
            out[i] = zs[lo + i];
        }
    }

    /// @dev Every address that may hold a balance in the oracle.
    address[] internal actors;

    /// @dev The solvency invariant, against books kept independently of the oracle's code: it
    ///      holds exactly every actor's free and locked bond and credit, the fees of open
    ///      requests, and the bonds of open challenges.
    function _assertSolvent() internal view {
        assertEq(address(oracle).balance, _books(), "oracle balance != bonds + fees + credits");
    }

    function _books() internal view returns (uint256 books) {
        for (uint256 i; i < actors.length; ++i) {
            InferenceOracle.Account memory a = oracle.accountOf(actors[i]);
            books += uint256(a.freeBond) + a.lockedBond + a.credit;
        }
        for (uint256 id = 1; id <= oracle.requestCount(); ++id) {
            InferenceOracle.Request memory r = oracle.requestOf(id);
            InferenceOracle.Status s = r.status;
            if (s != InferenceOracle.Status.Finalized && s != InferenceOracle.Status.Cancelled) {
                books += uint256(r.modelFee) + r.operatorFee;
            }
            if (s == InferenceOracle.Status.Challenged) books += CHALLENGER_BOND;
        }
    }
}
