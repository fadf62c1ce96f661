// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {InferenceOracle} from "../sol/InferenceOracle.sol";
import {AiPriceFeed} from "../sol/AiPriceFeed.sol";
import {TicTacToe} from "../sol/TicTacToe.sol";
import {Output} from "../sol/lib/Output.sol";

contract ConsumersTest is Fixture {
    AiPriceFeed internal feed;
    TicTacToe internal ttt;
    uint256 internal priceModel;
    uint256 internal npcModel;

    function setUp() public override {
        super.setUp();
        vm.startPrank(modelOwner);
        priceModel =
            registry.register(keccak256("p"), keccak256("vkp"), address(verifier), 3, 4, 1, false, MODEL_FEE, "");
        npcModel = registry.register(keccak256("t"), keccak256("vkt"), address(verifier), 2, 9, 9, false, MODEL_FEE, "");
        vm.stopPrank();
        // One output unit is 0.0001 (in percent); 8 decimals: answer = acc * 10^4.
        feed = new AiPriceFeed(oracle, priceModel, 8, 10_000, 1, 200_000, user, "SYN next-period return (%)");
        ttt = new TicTacToe(oracle, npcModel);
    }

    function _one(int32 v) internal pure returns (bytes memory) {
        return abi.encodePacked(v);
    }

    function _round(int32 v) internal returns (uint256 id) {
        vm.prank(user);
        id = feed.requestRound{value: _fee()}(_input());
        vm.prank(operator);
        oracle.propose(id, _one(v), keccak256("root"));
    }

    function test_feed_roundsAreFinalResultsOnly_succeeds() public {
        uint256 id = _round(12_345);
        // Proposed, not final: visible through proposedAnswer, never through latestRoundData.
        (int256 proposed, InferenceOracle.Status status) = feed.proposedAnswer(id, _one(12_345));
        assertEq(proposed, 123_450_000);
        assertEq(uint256(status), uint256(InferenceOracle.Status.Proposed));
        vm.expectRevert(abi.encodeWithSelector(AiPriceFeed.AiPriceFeedNoRound.selector, 0));
        feed.latestRoundData();
        vm.expectRevert(abi.encodeWithSelector(AiPriceFeed.AiPriceFeedNotProposed.selector, id));
        feed.proposedAnswer(id, _one(1));
        vm.warp(block.timestamp + WINDOW);
        oracle.settle(id, _one(12_345));
        (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredIn) =
            feed.latestRoundData();
        assertEq(roundId, 1);
        assertEq(answer, 123_450_000);
        assertEq(startedAt, block.timestamp - WINDOW);
        assertEq(updatedAt, block.timestamp);
        assertEq(answeredIn, 1);
        assertEq(feed.decimals(), 8);
        assertEq(feed.version(), 1);
        assertEq(keccak256(bytes(feed.description())), keccak256("SYN next-period return (%)"));
        uint256 id2 = _round(-500);
        vm.warp(block.timestamp + WINDOW);
        oracle.settle(id2, _one(-500));
        (roundId, answer,,,) = feed.latestRoundData();
        assertEq(roundId, 2);
        assertEq(answer, -5_000_000);
        (, answer,,,) = feed.getRoundData(1);
        assertEq(answer, 123_450_000, "a finalized round never changes");
    }

    function test_feed_overturnedRoundCarriesCorrectedValue_succeeds() public {
        uint256 id = _round(99_999); // a lie
        bytes32[] memory lie = _trace(3, _one(99_999), 1, keccak256("x"));
        bytes32[] memory truth = _trace(3, _one(42), 0, 0);
        vm.prank(watcher);
        oracle.challenge{value: CHALLENGER_BOND}(id, _root(truth));
        vm.warp(block.timestamp + CLOCK); // the liar never answers
        game.timeout(id);
        verifier.accept(0, 3, truth[0], truth[3]);
        vm.prank(watcher);
        game.proveOutput(id, _input(), _one(42), truth, "ok");
        (uint80 roundId, int256 answer,,,) = feed.latestRoundData();
        assertEq(roundId, 1);
        assertEq(answer, 420_000, "the corrected value, never the lie");
        lie; // the lie's trace is never revealed: the proposer timed out
        _assertSolvent();
    }

    /// @dev Anyone else picking a round's input would pick the feed's next price.
    function test_feed_requestRound_notUpdater_reverts() public {
        vm.deal(watcher, 1 ether);
        vm.prank(watcher);
        vm.expectRevert(abi.encodeWithSelector(AiPriceFeed.AiPriceFeedNotUpdater.selector, watcher, user));
        feed.requestRound{value: _fee()}(_input());
    }

    /// @dev An old request held up by a dispute becomes final after a newer one: it makes no round,
    ///      so the latest round never goes back in time (and its `startedAt` is its request's time).
    function test_feed_lateResultOfAnOlderRequest_makesNoRound_succeeds() public {
        uint256 old = _round(99_999); // a lie, disputed
        bytes32[] memory truth = _trace(3, _one(42), 0, 0);
        vm.prank(watcher);
        oracle.challenge{value: CHALLENGER_BOND}(old, _root(truth));
        vm.warp(block.timestamp + 10);
        uint256 requestedAt = block.timestamp;
        uint256 fresh = _round(7);
        vm.warp(block.timestamp + WINDOW);
        oracle.settle(fresh, _one(7));
        vm.warp(block.timestamp + CLOCK); // the liar never answers
        game.timeout(old);
        verifier.accept(0, 3, truth[0], truth[3]);
        vm.prank(watcher);
        game.proveOutput(old, _input(), _one(42), truth, "ok");
        assertTrue(oracle.isFinalized(old));
        (uint80 roundId, int256 answer, uint256 startedAt,,) = feed.latestRoundData();
        assertEq(roundId, 1, "the late result made no round");
        assertEq(answer, 70_000, "the newer request's answer stays the latest");
        assertEq(startedAt, requestedAt);
        _assertSolvent();
    }

    function test_feed_onlyOracle_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(AiPriceFeed.AiPriceFeedNotOracle.selector, address(this)));
        feed.onInferenceResult(1, _one(1), "");
        vm.prank(address(oracle));
        vm.expectRevert(abi.encodeWithSelector(AiPriceFeed.AiPriceFeedUnknownRequest.selector, 77));
        feed.onInferenceResult(77, _one(1), "");
    }

    // ------------------------------------------------------------------ tic-tac-toe

    function _scores(int32[9] memory s) internal pure returns (bytes memory) {
        int32[] memory v = new int32[](9);
        for (uint256 i; i < 9; ++i) {
            v[i] = s[i];
        }
        return Output.encode(v);
    }

    function _npc(uint256 requestId, bytes memory out) internal {
        vm.prank(operator);
        oracle.propose(requestId, out, keccak256("root"));
        vm.warp(block.timestamp + WINDOW);
        oracle.settle(requestId, out);
    }

    function test_ticTacToe_gameWithMaskedIllegalMove_succeeds() public {
        vm.startPrank(user);
        uint256 gameId = ttt.newGame();
        uint256 r1 = ttt.play{value: _fee()}(gameId, 4);
        vm.stopPrank();
        assertEq(ttt.boardInput(gameId), hex"000000008100000000");
        // The model's top score is the occupied centre: masked, the NPC takes the best free cell (0).
        _npc(r1, _scores([int32(50), 1, 2, 3, 900, 5, 6, 7, 8]));
        TicTacToe.Game memory g = ttt.gameOf(gameId);
        assertEq(g.board[0], 2);
        assertEq(uint256(g.state), uint256(TicTacToe.State.PlayerToMove));
        vm.prank(user);
        uint256 r2 = ttt.play{value: _fee()}(gameId, 8);
        _npc(r2, _scores([int32(0), 0, 0, 0, 0, 0, 0, 0, 0])); // all tied: lowest free index (1)
        assertEq(ttt.gameOf(gameId).board[1], 2);
        vm.prank(user);
        uint256 r3 = ttt.play{value: _fee()}(gameId, 2);
        _npc(r3, _scores([int32(0), 0, 0, 0, 0, 0, 0, 0, 100])); // 8 taken: best free is 3
        vm.prank(user);
        uint256 r4 = ttt.play{value: _fee()}(gameId, 6); // X holds 2, 4, 6: a diagonal
        assertEq(r4, 0, "no NPC move after the game ends");
        assertEq(uint256(ttt.gameOf(gameId).state), uint256(TicTacToe.State.PlayerWon));
        vm.prank(user);
        vm.expectRevert(
            abi.encodeWithSelector(TicTacToe.TicTacToeNotYourTurn.selector, gameId, TicTacToe.State.PlayerWon)
        );
        ttt.play(gameId, 7);
        assertEq(address(ttt).balance, 0, "the unneeded fee was refunded");
        _assertSolvent();
    }

    function test_ticTacToe_invalidMoves_reverts() public {
        vm.prank(user);
        uint256 gameId = ttt.newGame();
        vm.prank(watcher);
        vm.expectRevert(abi.encodeWithSelector(TicTacToe.TicTacToeNotPlayer.selector, gameId, watcher));
        ttt.play(gameId, 0);
        vm.startPrank(user);
        vm.expectRevert(abi.encodeWithSelector(TicTacToe.TicTacToeBadCell.selector, gameId, 9));
        ttt.play(gameId, 9);
        ttt.play{value: _fee()}(gameId, 0);
        vm.expectRevert(
            abi.encodeWithSelector(TicTacToe.TicTacToeNotYourTurn.selector, gameId, TicTacToe.State.NpcToMove)
        );
        ttt.play(gameId, 1);
        vm.expectRevert(abi.encodeWithSelector(TicTacToe.TicTacToeUnknownGame.selector, 5));
        ttt.play(5, 1);
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(TicTacToe.TicTacToeNotOracle.selector, address(this)));
        ttt.onInferenceResult(1, "", "");
    }

    function test_ticTacToe_unknownRequest_reverts() public {
        vm.prank(address(oracle));
        vm.expectRevert(abi.encodeWithSelector(TicTacToe.TicTacToeUnknownRequest.selector, 3));
        ttt.onInferenceResult(3, "", "");
    }

    function test_ticTacToe_refundRefused_reverts() public {
        RefusingPlayer p = new RefusingPlayer(ttt);
        vm.deal(address(p), 1 ether);
        uint256 gameId = p.start();
        // Player X: 0, 1, then 2 wins. The NPC plays 3 and 4 (scores favour them).
        _npc(p.play(gameId, 0, _fee()), _scores([int32(0), 0, 0, 9, 0, 0, 0, 0, 0]));
        _npc(p.play(gameId, 1, _fee()), _scores([int32(0), 0, 0, 0, 9, 0, 0, 0, 0]));
        vm.expectRevert(abi.encodeWithSelector(TicTacToe.TicTacToeRefundFailed.selector, address(p), _fee()));
        p.play(gameId, 2, _fee());
        // Without a fee the winning move goes through.
        p.play(gameId, 2, 0);
        assertEq(uint256(ttt.gameOf(gameId).state), uint256(TicTacToe.State.PlayerWon));
    }

    function test_output_badLengthOrIndex_reverts() public {
        OutputHarness h = new OutputHarness();
        vm.expectRevert(abi.encodeWithSelector(Output.OutputBadLength.selector, 5));
        h.valueAt(hex"0000000001", 0);
        vm.expectRevert(abi.encodeWithSelector(Output.OutputIndexOutOfRange.selector, 1, 1));
        h.valueAt(hex"00000001", 1);
    }

    function test_output_decoding_succeeds() public pure {
        int32[] memory v = new int32[](3);
        (v[0], v[1], v[2]) = (int32(-1), type(int32).max, type(int32).min);
        bytes memory out = Output.encode(v);
        assertEq(int256(Output.valueAt(out, 0)), -1);
        assertEq(int256(Output.valueAt(out, 1)), type(int32).max);
        assertEq(int256(Output.valueAt(out, 2)), type(int32).min);
        assertEq(Output.count(out), 3);
    }
}

/// @dev A player contract that refuses ether.
contract RefusingPlayer {
    TicTacToe internal immutable ttt;

    constructor(TicTacToe ttt_) {
        ttt = ttt_;
    }

    function start() external returns (uint256) {
        return ttt.newGame();
    }

    function play(uint256 gameId, uint8 cell, uint256 fee) external returns (uint256) {
        return ttt.play{value: fee}(gameId, cell);
    }
}

/// @dev Exposes the Output library.
contract OutputHarness {
    function valueAt(bytes memory output, uint256 i) external pure returns (int32) {
        return Output.valueAt(output, i);
    }
}
