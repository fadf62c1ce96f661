// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Base} from "./utils/Base.sol";
import {Fixture, TestVerifier} from "./utils/Fixture.sol";
import {InferenceOracle} from "../sol/InferenceOracle.sol";
import {DisputeGame} from "../sol/DisputeGame.sol";
import {Trees} from "./utils/Trees.sol";
import {Duration, Timestamp} from "../sol/lib/Types.sol";

/// @dev Drives the protocol with bounded random actions by a few actors; every action either
///      succeeds or reverts as a whole (reverts are ignored: the invariants must hold regardless).
contract Handler is Base {
    InferenceOracle internal immutable oracle;
    DisputeGame internal immutable game;
    TestVerifier internal immutable verifier;
    uint256 internal immutable modelId;
    uint256 internal immutable fee;

    address[3] public operators = [address(0x1001), address(0x1002), address(0x1003)];
    address[2] public challengers = [address(0x2001), address(0x2002)];
    address public requester = address(0x3001);
    address public puppet = address(0x4001);

    bytes internal constant INPUT = hex"01fe7f00";
    bytes internal good = abi.encodePacked(int32(7), int32(-3));
    bytes internal bad = abi.encodePacked(int32(9), int32(9));
    bytes32[] internal honest;
    bytes32[] internal liar;
    mapping(uint256 => bool) public lied;

    /// @dev Ghost: the output hash each request was finalized with.
    mapping(uint256 => bytes32) public finalizedWith;
    uint256[] public finalized;

    /// @dev Ghost: how long the live proposal of each request has stood unchallenged, in total
    ///      (`openTime` plus the time since `openSince` while it is `Proposed`), and whether a
    ///      segment proof confirmed it.
    mapping(uint256 => uint256) public openTime;
    mapping(uint256 => uint256) public openSince;
    mapping(uint256 => bool) public proven;
    /// @dev Ghost: requests finalized by `settle` with neither a proof nor a full window unchallenged.
    uint256 public unprovenFinalizations;
    /// @dev Ghost: challenges made (so a run that never disputes anything is visible).
    uint256 public challenges;
    uint256 internal immutable window;

    constructor(InferenceOracle oracle_, DisputeGame game_, TestVerifier verifier_, uint256 modelId_, uint256 steps) {
        oracle = oracle_;
        game = game_;
        verifier = verifier_;
        modelId = modelId_;
        fee = oracle_.estimateFee(modelId_);
        (Duration w,,,,,) = oracle_.config();
        window = Duration.unwrap(w);
        honest = _trace(steps, good, 0);
        liar = _trace(steps, bad, 2);
        // The honest trace's steps are provable; the liar's divergent step is not.
        for (uint256 i; i < steps; ++i) {
            verifier.accept(i, i + 1, honest[i], honest[i + 1]);
        }
        verifier.accept(0, steps, honest[0], honest[steps]);
        for (uint256 i; i < 3; ++i) {
            vm.deal(operators[i], 1_000 ether);
            vm.prank(operators[i]);
            oracle.depositBond{value: 5 ether}();
        }
        vm.deal(challengers[0], 1_000 ether);
        vm.deal(challengers[1], 1_000 ether);
        vm.deal(requester, 1_000 ether);
        vm.deal(puppet, 1_000 ether);
    }

    function actors() external view returns (address[] memory a) {
        a = new address[](7);
        (a[0], a[1], a[2], a[3], a[4], a[5], a[6]) =
        (operators[0], operators[1], operators[2], challengers[0], challengers[1], requester, puppet);
    }

    function finalizedCount() external view returns (uint256) {
        return finalized.length;
    }

    // ------------------------------------------------------------------ actions

    function request() external {
        vm.prank(requester);
        oracle.request{value: fee}(modelId, INPUT, bytes32(0), address(0), 0, "");
    }

    function propose(uint256 idSeed, uint256 opSeed, bool lie) external {
        uint256 id = _id(idSeed);
        vm.prank(operators[opSeed % 3]);
        try oracle.propose(id, lie ? bad : good, _root(lie ? liar : honest)) {
            lied[id] = lie;
            openTime[id] = 0;
            openSince[id] = block.timestamp;
            proven[id] = false;
        } catch {}
    }

    function challenge(uint256 idSeed, uint256 chSeed) external {
        uint256 id = _id(idSeed);
        // A challenger claims the opposite of the proposal.
        bytes32 root = _root(lied[id] ? honest : liar);
        // The bond is read before the prank: a call in between would use the prank up.
        uint256 bond = oracle.challengerBond();
        vm.prank(challengers[chSeed % 2]);
        try oracle.challenge{value: bond}(id, root) {
            openTime[id] += block.timestamp - openSince[id];
            ++challenges;
        } catch {}
    }

    /// @dev The attack, as one action: the proposer's own sock puppet challenges with a junk
    ///      root, the proposer opens the dispute, the puppet walks away, its clock runs out, and
    ///      the proposer tries to settle at once.
    function puppetChallenge(uint256 idSeed) external {
        uint256 id = _id(idSeed);
        uint256 bond = oracle.challengerBond();
        vm.prank(puppet);
        try oracle.challenge{value: bond}(id, keccak256("junk")) {
            openTime[id] += block.timestamp - openSince[id];
            ++challenges;
        } catch {
            return;
        }
        InferenceOracle.DisputeContext memory c = oracle.disputeContext(id);
        vm.prank(c.proposer);
        try game.openDispute(id, INPUT, lied[id] ? bad : good, _opening(lied[id] ? liar : honest)) {} catch {}
        vm.warp(block.timestamp + Duration.unwrap(game.clock()));
        this.timeout(idSeed);
        this.settle(idSeed);
    }

    function settle(uint256 idSeed) external {
        uint256 id = _id(idSeed);
        bytes memory out = lied[id] ? bad : good;
        InferenceOracle.Status before = oracle.requestOf(id).status;
        try oracle.settle(id, out) {
            bool fullWindow = openTime[id] + (block.timestamp - openSince[id]) >= window;
            bool ok = before == InferenceOracle.Status.Confirmed ? proven[id] : fullWindow;
            if (!ok) ++unprovenFinalizations;
            _recordFinal(id);
        } catch {}
    }

    function warp(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 0, 2 hours));
    }

    /// @dev Plays the next move of a dispute for whichever side is to move, honestly for its trace.
    function move(uint256 idSeed) external {
        uint256 id = _id(idSeed);
        InferenceOracle.DisputeContext memory c = oracle.disputeContext(id);
        if (c.status != InferenceOracle.Status.Challenged) return;
        DisputeGame.Dispute memory d = game.disputeOf(id);
        bytes32[] memory p = lied[id] ? liar : honest;
        bytes32[] memory ch = lied[id] ? honest : liar;
        if (d.phase == DisputeGame.Phase.AwaitingProposerOpen) {
            vm.prank(c.proposer);
            try game.openDispute(id, INPUT, lied[id] ? bad : good, _opening(p)) {} catch {}
        } else if (d.phase == DisputeGame.Phase.AwaitingChallengerOpen) {
            vm.prank(c.challenger);
            try game.challengerOpen(id, _opening(ch)) {} catch {}
        } else if (d.phase == DisputeGame.Phase.AwaitingProposerMid) {
            uint256 mid = (uint256(d.lo) + d.hi) / 2;
            vm.prank(c.proposer);
            try game.proposerBisect(id, p[mid], _proof(p, mid)) {} catch {}
        } else if (d.phase == DisputeGame.Phase.AwaitingChallengerMid) {
            uint256 mid = (uint256(d.lo) + d.hi) / 2;
            vm.prank(c.challenger);
            try game.challengerBisect(id, ch[mid], _proof(ch, mid)) {} catch {}
        } else if (d.phase == DisputeGame.Phase.AwaitingProof) {
            bytes32[] memory seg = new bytes32[](d.hi - d.lo + 1);
            for (uint256 i; i < seg.length; ++i) {
                seg[i] = p[d.lo + i];
            }
            vm.prank(c.proposer);
            try game.proveSegment(id, seg, "ok") {
                proven[id] = oracle.requestOf(id).status == InferenceOracle.Status.Confirmed;
            } catch {}
        }
    }

    function timeout(uint256 idSeed) external {
        uint256 id = _id(idSeed);
        try game.timeout(id) {
            // A dismissed challenge: the proposal's window runs again.
            if (oracle.requestOf(id).status == InferenceOracle.Status.Proposed) openSince[id] = block.timestamp;
        } catch {}
    }

    function proveOutput(uint256 idSeed, uint256 chSeed) external {
        uint256 id = _id(idSeed);
        vm.prank(challengers[chSeed % 2]);
        try game.proveOutput(id, INPUT, good, honest, "ok") {
            lied[id] = false;
            _recordFinal(id);
        } catch {}
    }

    function claim(uint256 who) external {
        address a = _actor(who);
        vm.prank(a);
        try oracle.claim() {} catch {}
    }

    function deposit(uint256 opSeed, uint256 amount) external {
        vm.prank(operators[opSeed % 3]);
        oracle.depositBond{value: bound(amount, 0, 3 ether)}();
    }

    function withdraw(uint256 opSeed, uint256 amount) external {
        vm.prank(operators[opSeed % 3]);
        try oracle.withdrawBond(bound(amount, 0, 6 ether)) {} catch {}
    }

    function cancel(uint256 idSeed) external {
        vm.prank(requester);
        try oracle.cancel(_id(idSeed)) {} catch {}
    }

    // ------------------------------------------------------------------ helpers

    function _recordFinal(uint256 id) internal {
        (, bytes32 h,) = oracle.resultOf(id);
        finalizedWith[id] = h;
        finalized.push(id);
    }

    function _id(uint256 seed) internal view returns (uint256) {
        uint256 n = oracle.requestCount();
        return n == 0 ? 0 : 1 + seed % n;
    }

    function _actor(uint256 seed) internal view returns (address) {
        uint256 i = seed % 7;
        if (i < 3) return operators[i];
        if (i < 5) return challengers[i - 3];
        return i == 5 ? requester : puppet;
    }

    function _trace(uint256 steps, bytes memory out, uint256 forkAt) internal view returns (bytes32[] memory zs) {
        zs = new bytes32[](steps + 1);
        zs[0] = verifier.inputCommitment(0, INPUT);
        for (uint256 i = 1; i < steps; ++i) {
            zs[i] = keccak256(abi.encode("step", i, forkAt != 0 && i >= forkAt));
        }
        zs[steps] = verifier.outputCommitment(0, out);
    }

    function _root(bytes32[] memory zs) internal pure returns (bytes32) {
        return Trees.root(zs);
    }

    function _proof(bytes32[] memory zs, uint256 index) internal pure returns (bytes32[] memory) {
        return Trees.proof(zs, index);
    }

    function _opening(bytes32[] memory zs) internal pure returns (DisputeGame.Opening memory) {
        uint256 last = zs.length - 1;
        return DisputeGame.Opening(zs[0], _proof(zs, 0), zs[last], _proof(zs, last));
    }
}

contract InvariantsTest is Fixture {
    Handler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new Handler(oracle, game, verifier, publicModel, STEPS);
        address[] memory a = handler.actors();
        for (uint256 i; i < a.length; ++i) {
            actors.push(a[i]);
        }
        targetContract(address(handler));
    }

    /// @dev The oracle holds exactly the sum of locked bonds, free bonds, unpaid fees and
    ///      unclaimed credits.
    function invariant_solvency() public view {
        _assertSolvent();
    }

    /// @dev A finalized result never changes.
    function invariant_finalResultsNeverChange() public view {
        for (uint256 i; i < handler.finalizedCount(); ++i) {
            uint256 id = handler.finalized(i);
            (bool fin, bytes32 h,) = oracle.resultOf(id);
            assertTrue(fin, "a final request stays final");
            assertEq(h, handler.finalizedWith(id), "a final output never changes");
        }
    }

    /// @dev No request is finalized by `settle` with an output whose proposal was neither proven
    ///      nor left unchallenged for a full liveness window (in total: a dismissed challenge
    ///      pauses the window, it does not end it). Sock-puppet challenges are among the actions.
    function invariant_noFinalityWithoutProofOrFullWindow() public view {
        assertEq(handler.unprovenFinalizations(), 0, "a proposal became final without a proof or a full window");
    }

    /// @dev Every open dispute ends within both clocks plus the proof window: the side to move
    ///      runs out of time by then at the latest.
    function invariant_disputesEndInBoundedTime() public view {
        for (uint256 id = 1; id <= oracle.requestCount(); ++id) {
            InferenceOracle.DisputeContext memory c = oracle.disputeContext(id);
            if (c.status != InferenceOracle.Status.Challenged) continue;
            (Timestamp at,) = game.deadlineOf(id);
            assertLe(
                Timestamp.unwrap(at),
                Timestamp.unwrap(c.challengedAt) + 2 * CLOCK + PROOF_WINDOW,
                "dispute deadline past both clocks + proof window"
            );
        }
    }
}
