// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {InferenceOracle} from "../sol/InferenceOracle.sol";
import {DisputeGame} from "../sol/DisputeGame.sol";
import {Timestamp} from "../sol/lib/Types.sol";

contract DisputeGameTest is Fixture {
    bytes internal good = _output(7, -3);
    bytes internal bad = _output(9, 9);
    bytes32[] internal honest;
    bytes32[] internal liar;

    function setUp() public override {
        super.setUp();
        honest = _trace(STEPS, good, 0, 0);
    }

    function _liar(uint256 forkAt) internal {
        liar = _trace(STEPS, bad, forkAt, keccak256("lie"));
    }

    /// @dev A proposal by `operator` of `out` with trace `zs`, challenged by `watcher` with `theirs`.
    function _challenged(bytes memory out, bytes32[] memory zs, bytes32[] memory theirs) internal returns (uint256 id) {
        id = _request(publicModel, address(0), 0);
        vm.prank(operator);
        oracle.propose(id, out, _root(zs));
        vm.prank(watcher);
        oracle.challenge{value: CHALLENGER_BOND}(id, theirs.length == 0 ? bytes32(0) : _root(theirs));
    }

    /// @dev Opens and bisects to the final segment; returns it.
    function _bisect(uint256 id, bytes memory out, bytes32[] memory p, bytes32[] memory c)
        internal
        returns (uint256 lo, uint256 hi)
    {
        vm.prank(operator);
        game.openDispute(id, _input(), out, _opening(p));
        vm.prank(watcher);
        game.challengerOpen(id, _opening(c));
        while (true) {
            DisputeGame.Dispute memory d = game.disputeOf(id);
            if (d.phase == DisputeGame.Phase.AwaitingProof) return (d.lo, d.hi);
            uint256 mid = (uint256(d.lo) + d.hi) / 2;
            vm.prank(operator);
            game.proposerBisect(id, p[mid], _proof(p, mid));
            vm.prank(watcher);
            game.challengerBisect(id, c[mid], _proof(c, mid));
        }
    }

    // ------------------------------------------------------------------ scenarios

    function test_wrongProposal_challengerWinsAndProvesCorrectOutput_succeeds() public {
        _liar(3);
        uint256 id = _challenged(bad, liar, honest);
        (uint256 lo, uint256 hi) = _bisect(id, bad, liar, honest);
        assertEq(lo, 2);
        assertEq(hi, 3);
        // The liar cannot prove z_2 -> its z_3: the verifier rejects.
        vm.prank(operator);
        game.proveSegment(id, _slice(liar, 2, 3), "ok");
        assertEq(uint256(oracle.requestOf(id).status), uint256(InferenceOracle.Status.Requested), "reopened");
        uint256 burned = uint256(PROPOSER_BOND) * BURN_BPS / 10_000;
        assertEq(oracle.accountOf(watcher).credit, CHALLENGER_BOND + PROPOSER_BOND - burned);
        assertEq(oracle.accountOf(treasury).credit, burned);
        assertEq(oracle.accountOf(operator).lockedBond, 0);
        assertEq(oracle.accountOf(operator).freeBond, 10 ether - PROPOSER_BOND);
        _assertSolvent();

        // The challenger gives the consumer the correct output with a whole-inference proof.
        verifier.accept(0, STEPS, honest[0], honest[STEPS]);
        vm.prank(watcher);
        game.proveOutput(id, _input(), good, honest, "ok");
        (bool fin, bytes32 h, address by) = oracle.resultOf(id);
        assertTrue(fin);
        assertEq(h, keccak256(good));
        assertEq(by, watcher);
        assertEq(oracle.accountOf(watcher).credit, CHALLENGER_BOND + PROPOSER_BOND - burned + OPERATOR_FEE);
        _assertSolvent();
    }

    function test_honestProposal_proposerWins_succeeds() public {
        _liar(4);
        uint256 id = _challenged(good, honest, liar);
        (uint256 lo, uint256 hi) = _bisect(id, good, honest, liar);
        assertEq(lo, 3);
        assertEq(hi, 4);
        verifier.accept(3, 4, honest[3], honest[4]);
        vm.prank(operator);
        game.proveSegment(id, _slice(honest, 3, 4), "ok");
        assertEq(uint256(oracle.requestOf(id).status), uint256(InferenceOracle.Status.Confirmed));
        uint256 burned = uint256(CHALLENGER_BOND) * BURN_BPS / 10_000;
        assertEq(oracle.accountOf(operator).credit, CHALLENGER_BOND - burned);
        assertEq(oracle.accountOf(operator).lockedBond, PROPOSER_BOND, "locked until settled");
        // Won disputes settle at once, without waiting for the window.
        oracle.settle(id, good);
        assertTrue(oracle.isFinalized(id));
        assertEq(oracle.accountOf(operator).lockedBond, 0);
        assertEq(oracle.accountOf(watcher).credit, 0);
        _assertSolvent();
    }

    function testFuzz_bisection_endsAtFirstDivergence_succeeds(uint256 forkAt) public {
        forkAt = bound(forkAt, 1, STEPS - 1);
        _liar(forkAt);
        uint256 id = _challenged(bad, liar, honest);
        (uint256 lo, uint256 hi) = _bisect(id, bad, liar, honest);
        assertEq(hi, forkAt, "hi is the first divergent step");
        assertEq(lo, forkAt - 1);
        DisputeGame.Dispute memory d = game.disputeOf(id);
        assertEq(d.zLo, honest[lo], "agreed start");
        assertEq(d.zHi, liar[hi], "the proposer's disputed end");
    }

    function test_wrongOutputOnly_challengerWins_succeeds() public {
        // The proposer's trace is the honest one up to its last step, where it claims `bad`.
        _liar(STEPS);
        uint256 id = _challenged(bad, liar, honest);
        (uint256 lo, uint256 hi) = _bisect(id, bad, liar, honest);
        assertEq(hi, STEPS);
        assertEq(lo, STEPS - 1);
        vm.warp(block.timestamp + PROOF_WINDOW);
        game.timeout(id);
        assertEq(uint256(oracle.requestOf(id).status), uint256(InferenceOracle.Status.Requested));
        _assertSolvent();
    }

    function test_privateModel_directWholeProof_succeeds() public {
        vm.prank(user);
        uint256 id = oracle.request{value: _fee()}(privateModel, _input(), bytes32(0), address(0), 0, "");
        bytes32[] memory zs = _trace(2, good, 0, 0);
        vm.prank(operator);
        oracle.propose(id, good, _root(zs));
        vm.prank(watcher);
        oracle.challenge{value: CHALLENGER_BOND}(id, bytes32(0)); // blind: no trace of its own
        vm.prank(operator);
        game.openDispute(id, _input(), good, _opening(zs));
        DisputeGame.Dispute memory d = game.disputeOf(id);
        assertEq(uint256(d.phase), uint256(DisputeGame.Phase.AwaitingProof));
        assertEq(d.lo, 0);
        assertEq(d.hi, 2);
        verifier.accept(0, 2, zs[0], zs[2]);
        vm.prank(operator);
        game.proveSegment(id, zs, "ok");
        assertEq(uint256(oracle.requestOf(id).status), uint256(InferenceOracle.Status.Confirmed));
        _assertSolvent();
    }

    function test_privateInput_boundToItsCommitment_succeeds() public {
        bytes32[] memory zs = _trace(STEPS, good, 0, 0);
        vm.prank(user);
        uint256 id = oracle.request{value: _fee()}(publicModel, "", zs[0], address(0), 0, "");
        vm.prank(operator);
        oracle.propose(id, good, _root(zs));
        vm.prank(watcher);
        oracle.challenge{value: CHALLENGER_BOND}(id, _root(honest));
        vm.prank(operator);
        game.openDispute(id, "", good, _opening(zs));
        assertEq(uint256(game.disputeOf(id).phase), uint256(DisputeGame.Phase.AwaitingChallengerOpen));
    }

    // ------------------------------------------------------------------ timeouts

    function test_timeout_proposerNeverOpens_succeeds() public {
        _liar(3);
        uint256 id = _challenged(bad, liar, honest);
        vm.expectRevert(
            abi.encodeWithSelector(
                DisputeGame.DisputeGameNotExpired.selector, id, Timestamp.wrap(uint64(block.timestamp + CLOCK))
            )
        );
        game.timeout(id);
        vm.warp(block.timestamp + CLOCK);
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(
                DisputeGame.DisputeGameClockExpired.selector, id, Timestamp.wrap(uint64(block.timestamp))
            )
        );
        game.openDispute(id, _input(), bad, _opening(liar));
        game.timeout(id);
        assertEq(uint256(oracle.requestOf(id).status), uint256(InferenceOracle.Status.Requested));
        _assertSolvent();
    }

    /// @dev A challenger that walks away forfeits its bond, but proves nothing about the proposal:
    ///      it goes back to `Proposed` with the rest of its window (here all of it: it was
    ///      challenged at once), not to `Confirmed`.
    function test_timeout_challengerStops_succeeds() public {
        _liar(3);
        uint256 id = _challenged(good, honest, liar);
        vm.warp(block.timestamp + 100);
        vm.prank(operator);
        game.openDispute(id, _input(), good, _opening(honest));
        vm.warp(block.timestamp + CLOCK);
        game.timeout(id);
        assertEq(uint256(oracle.requestOf(id).status), uint256(InferenceOracle.Status.Proposed));
        uint256 left = Timestamp.unwrap(oracle.proposalOf(id).deadline) - block.timestamp;
        assertEq(left, WINDOW, "the window's remainder: it was challenged at once");
        uint256 burned = uint256(CHALLENGER_BOND) * BURN_BPS / 10_000;
        assertEq(oracle.accountOf(operator).credit, CHALLENGER_BOND - burned, "the challenger's bond, less the burn");
        assertEq(oracle.challengeOf(id).challenger, address(0));
        _assertSolvent();
        // Not final before the window's remainder has passed, then settled as any proposal.
        vm.expectRevert();
        oracle.settle(id, good);
        vm.warp(block.timestamp + left);
        oracle.settle(id, good);
        assertTrue(oracle.isFinalized(id));
        _assertSolvent();
    }

    /// @dev The attack: a liar proposes, challenges its own proposal from a sock puppet with a junk
    ///      root, opens the dispute and lets the puppet's clock run out. Before, the timeout
    ///      confirmed the lie with no proof and honest challenges reverted; now the proposal stands
    ///      challengeable again, an honest watcher challenges it, and the liar loses its bond.
    function test_selfChallenge_puppetTimesOut_lieNotConfirmed_succeeds() public {
        _liar(3);
        address puppet = address(0x5157);
        actors.push(puppet);
        vm.deal(puppet, 10 ether);
        uint256 id = _request(publicModel, address(0), 0);
        vm.prank(operator);
        oracle.propose(id, bad, _root(liar));
        vm.prank(puppet);
        oracle.challenge{value: CHALLENGER_BOND}(id, keccak256("junk"));
        vm.prank(operator);
        game.openDispute(id, _input(), bad, _opening(liar));
        vm.warp(block.timestamp + CLOCK);
        game.timeout(id);
        assertEq(uint256(oracle.requestOf(id).status), uint256(InferenceOracle.Status.Proposed), "not confirmed");
        // The honest watcher still has the window the puppet interrupted.
        vm.warp(block.timestamp + WINDOW - 1);
        vm.prank(watcher);
        oracle.challenge{value: CHALLENGER_BOND}(id, _root(honest));
        _bisect(id, bad, liar, honest);
        vm.warp(block.timestamp + PROOF_WINDOW);
        game.timeout(id);
        assertEq(uint256(oracle.requestOf(id).status), uint256(InferenceOracle.Status.Requested), "the lie lost");
        uint256 burned = uint256(PROPOSER_BOND) * BURN_BPS / 10_000;
        assertEq(oracle.accountOf(watcher).credit, CHALLENGER_BOND + PROPOSER_BOND - burned);
        // The liar's whole loss is its bond plus the puppet's burn share.
        _assertSolvent();
        verifier.accept(0, STEPS, honest[0], honest[STEPS]);
        game.proveOutput(id, _input(), good, honest, "ok");
        (, bytes32 h,) = oracle.resultOf(id);
        assertEq(h, keccak256(good), "the consumer gets the right output");
    }

    function test_timeout_clocksAccumulate_succeeds() public {
        _liar(3);
        uint256 id = _challenged(good, honest, liar);
        vm.warp(block.timestamp + CLOCK / 2);
        vm.prank(operator);
        game.openDispute(id, _input(), good, _opening(honest));
        vm.warp(block.timestamp + 10);
        vm.prank(watcher);
        game.challengerOpen(id, _opening(liar));
        // The proposer has CLOCK/2 left.
        (Timestamp at, bool proposerToMove) = game.deadlineOf(id);
        assertTrue(proposerToMove);
        assertEq(Timestamp.unwrap(at), block.timestamp + CLOCK / 2);
        vm.warp(block.timestamp + CLOCK / 2);
        game.timeout(id);
        assertEq(uint256(oracle.requestOf(id).status), uint256(InferenceOracle.Status.Requested));
    }

    function test_timeout_noDispute_reverts() public {
        uint256 id = _request(publicModel, address(0), 0);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeGameWrongPhase.selector, id, DisputeGame.Phase.None));
        game.timeout(id);
    }

    function testFuzz_dispute_endsWithinBothClocksAndProofWindow_succeeds(uint256 forkAt, uint256 delay) public {
        forkAt = bound(forkAt, 1, STEPS);
        delay = bound(delay, 0, CLOCK / 8);
        _liar(forkAt);
        uint256 id = _challenged(bad, liar, honest);
        uint256 start = block.timestamp;
        vm.warp(block.timestamp + delay);
        vm.prank(operator);
        game.openDispute(id, _input(), bad, _opening(liar));
        vm.warp(block.timestamp + delay);
        vm.prank(watcher);
        game.challengerOpen(id, _opening(honest));
        while (game.disputeOf(id).phase != DisputeGame.Phase.AwaitingProof) {
            DisputeGame.Dispute memory d = game.disputeOf(id);
            uint256 mid = (uint256(d.lo) + d.hi) / 2;
            vm.warp(block.timestamp + delay);
            vm.prank(operator);
            game.proposerBisect(id, liar[mid], _proof(liar, mid));
            vm.warp(block.timestamp + delay);
            vm.prank(watcher);
            game.challengerBisect(id, honest[mid], _proof(honest, mid));
        }
        (Timestamp at,) = game.deadlineOf(id);
        assertLe(Timestamp.unwrap(at), start + 2 * CLOCK + PROOF_WINDOW, "deadline past both clocks + proof window");
        vm.warp(Timestamp.unwrap(at));
        game.timeout(id);
        assertEq(uint256(oracle.requestOf(id).status), uint256(InferenceOracle.Status.Requested));
    }

    // ------------------------------------------------------------------ invalid moves

    function test_openDispute_wrongMover_reverts() public {
        uint256 id = _challenged(good, honest, honest);
        vm.prank(watcher);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeGameNotYourMove.selector, id, watcher));
        game.openDispute(id, _input(), good, _opening(honest));
    }

    function test_openDispute_badBindings_reverts() public {
        uint256 id = _challenged(good, honest, honest);
        vm.startPrank(operator);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeGameOutputMismatch.selector, id));
        game.openDispute(id, _input(), bad, _opening(honest));
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeGameInputMismatch.selector, id));
        game.openDispute(id, hex"00000000", good, _opening(honest));
        DisputeGame.Opening memory o = _opening(honest);
        o.z0 = keccak256("x");
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeGameBadInputCommitment.selector, id, honest[0], o.z0));
        game.openDispute(id, _input(), good, o);
        o = _opening(honest);
        o.zL = keccak256("y");
        vm.expectRevert(
            abi.encodeWithSelector(DisputeGame.DisputeGameBadOutputCommitment.selector, id, honest[STEPS], o.zL)
        );
        game.openDispute(id, _input(), good, o);
        o = _opening(honest);
        o.proof0[0] = keccak256("z");
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeGameBadMerkleProof.selector, id, 0));
        game.openDispute(id, _input(), good, o);
        vm.stopPrank();
    }

    function test_challengerOpen_invalid_reverts() public {
        _liar(3);
        uint256 id = _challenged(good, honest, liar);
        vm.prank(operator);
        game.openDispute(id, _input(), good, _opening(honest));
        vm.startPrank(watcher);
        // Its own trace's proofs only.
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeGameBadMerkleProof.selector, id, 0));
        game.challengerOpen(id, _opening(honest));
        vm.stopPrank();
        // A challenger whose trace starts elsewhere cannot move.
        bytes32[] memory offStart = _trace(STEPS, bad, 3, keccak256("lie"));
        offStart[0] = keccak256("not the input");
        uint256 id2 = _challenged(good, honest, offStart);
        vm.prank(operator);
        game.openDispute(id2, _input(), good, _opening(honest));
        vm.prank(watcher);
        vm.expectRevert(
            abi.encodeWithSelector(DisputeGame.DisputeGameStartDiffers.selector, id2, honest[0], offStart[0])
        );
        game.challengerOpen(id2, _opening(offStart));
        // A challenger with the proposer's own trace has nothing to dispute.
        uint256 id3 = _challenged(good, honest, honest);
        vm.prank(operator);
        game.openDispute(id3, _input(), good, _opening(honest));
        vm.prank(watcher);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeGameNoDisagreement.selector, id3));
        game.challengerOpen(id3, _opening(honest));
    }

    /// @dev A proposal of `good` with trace `p`, challenged with trace `c` (same z_L), both opened.
    function _openedWithSameEnd(bytes32[] memory p, bytes32[] memory c) internal returns (uint256 id) {
        id = _challenged(good, p, c);
        vm.prank(operator);
        game.openDispute(id, _input(), good, _opening(p));
        vm.prank(watcher);
        game.challengerOpen(id, _opening(c));
    }

    /// @dev The right output with a wrong step commitment inside: both ends agree, so the
    ///      proposer must prove its whole posted trace, which it cannot.
    function test_rightOutputWrongStep_wholeTraceProof_challengerWins_succeeds() public {
        bytes32[] memory midLie = _trace(STEPS, good, 2, keccak256("mid lie"));
        uint256 id = _openedWithSameEnd(midLie, honest);
        DisputeGame.Dispute memory d = game.disputeOf(id);
        assertEq(uint256(d.phase), uint256(DisputeGame.Phase.AwaitingProof));
        assertEq(d.lo, 0, "the whole trace");
        assertEq(d.hi, STEPS, "the whole trace");
        // A real proof exists only for the honest chain; it is not the trace the liar posted.
        verifier.acceptExactly(0, STEPS, honest);
        vm.startPrank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(DisputeGame.DisputeGameNotProposersTrace.selector, id, _root(midLie), _root(honest))
        );
        game.proveSegment(id, honest, "ok");
        // Its own trace does not verify: the challenger wins and the request reopens.
        game.proveSegment(id, midLie, "ok");
        vm.stopPrank();
        assertEq(uint256(oracle.requestOf(id).status), uint256(InferenceOracle.Status.Requested), "reopened");
        assertEq(oracle.accountOf(operator).lockedBond, 0, "the liar's bond is gone");
        _assertSolvent();
    }

    /// @dev An honest proposer challenged by a trace that differs only inside proves its whole
    ///      trace and wins.
    function test_sameEndOtherTrace_honestProposerProvesWholeTrace_succeeds() public {
        bytes32[] memory wrongMid = _trace(STEPS, good, 1, keccak256("wrong middle"));
        uint256 id = _openedWithSameEnd(honest, wrongMid);
        verifier.acceptExactly(0, STEPS, honest);
        vm.prank(operator);
        game.proveSegment(id, honest, "ok");
        assertEq(uint256(oracle.requestOf(id).status), uint256(InferenceOracle.Status.Confirmed));
        _assertSolvent();
    }

    function test_bisect_outOfTurn_reverts() public {
        _liar(3);
        uint256 id = _challenged(good, honest, liar);
        vm.prank(operator);
        game.openDispute(id, _input(), good, _opening(honest));
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(
                DisputeGame.DisputeGameWrongPhase.selector, id, DisputeGame.Phase.AwaitingChallengerOpen
            )
        );
        game.proposerBisect(id, honest[2], _proof(honest, 2));
        vm.prank(watcher);
        game.challengerOpen(id, _opening(liar));
        vm.prank(watcher);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeGameNotYourMove.selector, id, watcher));
        game.proposerBisect(id, liar[2], _proof(liar, 2));
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeGameBadMerkleProof.selector, id, 2));
        game.proposerBisect(id, honest[2], _proof(honest, 3));
    }

    function test_bisect_gas_succeeds() public {
        _liar(3);
        uint256 id = _challenged(good, honest, liar);
        vm.prank(operator);
        game.openDispute(id, _input(), good, _opening(honest));
        vm.prank(watcher);
        game.challengerOpen(id, _opening(liar));
        bytes32[] memory proof = _proof(honest, 2);
        bytes memory data = abi.encodeCall(DisputeGame.proposerBisect, (id, honest[2], proof));
        vm.prank(operator);
        uint256 g = gasleft();
        game.proposerBisect(id, honest[2], proof);
        uint256 used = g - gasleft() + 21_000 + 16 * data.length;
        vm.snapshotValue("bisect_proposer", used);
        assertLe(used, 90_000, "proposer bisection move");
        proof = _proof(liar, 2);
        data = abi.encodeCall(DisputeGame.challengerBisect, (id, liar[2], proof));
        vm.prank(watcher);
        g = gasleft();
        game.challengerBisect(id, liar[2], proof);
        used = g - gasleft() + 21_000 + 16 * data.length;
        vm.snapshotValue("bisect_challenger", used);
        assertLe(used, 90_000, "challenger bisection move");
    }

    function test_proveSegment_wrongSegment_reverts() public {
        _liar(3);
        uint256 id = _challenged(bad, liar, honest);
        _bisect(id, bad, liar, honest);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeGameBadSegment.selector, id, 2, 3, 2));
        game.proveSegment(id, _slice(honest, 2, 3), "ok"); // ends at the honest z_3, not its own
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeGameBadSegment.selector, id, 2, 3, 3));
        game.proveSegment(id, _slice(liar, 2, 4), "ok");
    }

    function test_proveSegment_verifierReverts_challengerWins_succeeds() public {
        _liar(3);
        uint256 id = _challenged(bad, liar, honest);
        _bisect(id, bad, liar, honest);
        verifier.accept(2, 3, liar[2], liar[3]);
        vm.prank(operator);
        game.proveSegment(id, _slice(liar, 2, 3), "revert");
        assertEq(uint256(oracle.requestOf(id).status), uint256(InferenceOracle.Status.Requested));
    }

    function test_proveSegment_verifierOutOfGas_reverts() public {
        _liar(3);
        uint256 id = _challenged(bad, liar, honest);
        _bisect(id, bad, liar, honest);
        verifier.accept(2, 3, liar[2], liar[3]);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeGameVerifierOutOfGas.selector, id));
        game.proveSegment{gas: 400_000}(id, _slice(liar, 2, 3), "burn");
        // Nothing was decided: the dispute still waits for the proof.
        assertEq(uint256(oracle.requestOf(id).status), uint256(InferenceOracle.Status.Challenged));
    }

    function test_proveSegment_afterWindow_reverts() public {
        _liar(3);
        uint256 id = _challenged(good, honest, liar);
        _bisect(id, good, honest, liar);
        vm.warp(block.timestamp + PROOF_WINDOW);
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(
                DisputeGame.DisputeGameClockExpired.selector, id, Timestamp.wrap(uint64(block.timestamp))
            )
        );
        game.proveSegment(id, _slice(honest, 2, 3), "ok");
    }

    /// @dev A `proveOutput` proof is made for the request id bound to its sender: copied from the
    ///      mempool by another account, it is rejected (before, anyone could front-run it and take
    ///      the operator fee).
    function test_proveOutput_boundToSender_reverts() public {
        _liar(3);
        uint256 id = _challenged(bad, liar, honest);
        vm.warp(block.timestamp + CLOCK);
        game.timeout(id);
        verifier.accept(0, STEPS, honest[0], honest[STEPS]);
        verifier.requireRequestId(game.proverBoundId(id, watcher));
        assertTrue(game.proverBoundId(id, watcher) != game.proverBoundId(id, user));
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeGameInvalidProof.selector, id));
        game.proveOutput(id, _input(), good, honest, "ok");
        vm.prank(watcher);
        game.proveOutput(id, _input(), good, honest, "ok");
        (,, address by) = oracle.resultOf(id);
        assertEq(by, watcher);
    }

    function test_proveOutput_invalid_reverts() public {
        uint256 id = _request(publicModel, address(0), 0);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeGameInvalidProof.selector, id));
        game.proveOutput(id, _input(), good, honest, "ok"); // the verifier was not told to accept
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeGameBadSegment.selector, id, 0, STEPS, 2));
        game.proveOutput(id, _input(), good, _slice(honest, 0, 1), "ok");
        vm.expectRevert(
            abi.encodeWithSelector(
                DisputeGame.DisputeGameBadOutputCommitment.selector,
                id,
                verifier.outputCommitment(0, bad),
                honest[STEPS]
            )
        );
        game.proveOutput(id, _input(), bad, honest, "ok");
        vm.prank(operator);
        oracle.propose(id, good, _root(honest));
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeGameWrongPhase.selector, id, DisputeGame.Phase.None));
        game.proveOutput(id, _input(), good, honest, "ok");
    }
}
