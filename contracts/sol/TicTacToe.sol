// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {InferenceOracle} from "./InferenceOracle.sol";
import {IInferenceConsumer} from "./interfaces/IInferenceConsumer.sol";
import {Output} from "./lib/Output.sol";

/// @title TicTacToe
/// @notice Tic-tac-toe against an NPC whose moves come from the oracle's NPC-policy model. The
///         player is X and moves first; after each player move the game requests the NPC's move
///         (the player pays the oracle fee) and applies it in the callback.
/// @dev The model scores the 9 cells. Rule for illegal moves: occupied cells are masked, so the
///      NPC plays the free cell with the highest score (lowest index on ties). A final result
///      therefore always yields a legal move and a game never gets stuck on the model's answer.
///      Model input: 9 int8 values from the NPC's view: +127 NPC, -127 player, 0 empty.
contract TicTacToe is IInferenceConsumer {
    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice No such game.
    error TicTacToeUnknownGame(uint256 gameId);
    /// @notice Only the game's player may move.
    error TicTacToeNotPlayer(uint256 gameId, address caller);
    /// @notice It is not the player's turn (the NPC is thinking, or the game is over).
    error TicTacToeNotYourTurn(uint256 gameId, State state);
    /// @notice The cell is taken or does not exist.
    error TicTacToeBadCell(uint256 gameId, uint256 cell);
    /// @notice Only the oracle delivers moves.
    error TicTacToeNotOracle(address caller);
    /// @notice Refunding the unneeded fee failed.
    error TicTacToeRefundFailed(address player, uint256 amount);
    /// @notice The request is not an NPC move this game waits for.
    error TicTacToeUnknownRequest(uint256 requestId);

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A game started.
    event GameStarted(uint256 indexed gameId, address indexed player);
    /// @notice A move was made (`npc` false for the player).
    event Moved(uint256 indexed gameId, bool npc, uint8 cell);
    /// @notice The NPC's move was requested.
    event NpcThinking(uint256 indexed gameId, uint256 indexed requestId);
    /// @notice The game ended.
    event GameOver(uint256 indexed gameId, State result);

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @notice Where a game stands.
    enum State {
        None,
        PlayerToMove,
        NpcToMove,
        PlayerWon,
        NpcWon,
        Draw
    }

    /// @notice A game: cells are 0 empty, 1 player (X), 2 NPC (O).
    struct Game {
        address player;
        State state;
        uint8[9] board;
        uint256 pendingRequest;
    }

    /// @notice The oracle.
    InferenceOracle public immutable oracle;
    /// @notice The NPC-policy model.
    uint256 public immutable modelId;
    /// @notice Gas for `onInferenceResult`.
    uint32 public constant CALLBACK_GAS = 150_000;

    /// @notice The number of games (the last id).
    uint256 public gameCount;
    mapping(uint256 => Game) internal _games;
    mapping(uint256 => uint256) internal _gameOfRequest;

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    constructor(InferenceOracle oracle_, uint256 modelId_) {
        oracle = oracle_;
        modelId = modelId_;
    }

    /*//////////////////////////////////////////////////////////////
                               EXTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @notice Starts a game; the caller is X and moves first.
    function newGame() external returns (uint256 gameId) {
        gameId = ++gameCount;
        Game storage g = _games[gameId];
        g.player = msg.sender;
        g.state = State.PlayerToMove;
        emit GameStarted(gameId, msg.sender);
    }

    /// @notice Plays `cell` (0..8, row-major) and, unless the game is over, requests the NPC's
    ///         answer; the value sent pays the oracle fee (`oracle.estimateFee(modelId)`).
    function play(uint256 gameId, uint8 cell) external payable returns (uint256 requestId) {
        Game storage g = _games[gameId];
        // INVARIANT: only existing games are played.
        if (g.player == address(0)) revert TicTacToeUnknownGame(gameId);
        // INVARIANT: only the player plays X.
        if (msg.sender != g.player) revert TicTacToeNotPlayer(gameId, msg.sender);
        // INVARIANT: moves alternate and stop at the end.
        if (g.state != State.PlayerToMove) revert TicTacToeNotYourTurn(gameId, g.state);
        // INVARIANT: a move takes a free cell on the board.
        if (cell >= 9 || g.board[cell] != 0) revert TicTacToeBadCell(gameId, cell);
        g.board[cell] = 1;
        emit Moved(gameId, false, cell);
        if (_finish(gameId, g)) {
            // A finished game needs no NPC move: refund the fee.
            if (msg.value > 0) {
                (bool ok,) = msg.sender.call{value: msg.value}("");
                // INVARIANT: the game keeps no ether.
                if (!ok) revert TicTacToeRefundFailed(msg.sender, msg.value);
            }
            return 0;
        }
        g.state = State.NpcToMove;
        requestId =
            oracle.request{value: msg.value}(modelId, boardInput(gameId), bytes32(0), address(this), CALLBACK_GAS, "");
        g.pendingRequest = requestId;
        _gameOfRequest[requestId] = gameId;
        emit NpcThinking(gameId, requestId);
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceResult(uint256 requestId, bytes calldata output, bytes calldata) external {
        // INVARIANT: NPC moves come from final oracle results only.
        if (msg.sender != address(oracle)) revert TicTacToeNotOracle(msg.sender);
        uint256 gameId = _gameOfRequest[requestId];
        Game storage g = _games[gameId];
        // INVARIANT: each request answers the move its game waits for, once.
        if (gameId == 0 || g.state != State.NpcToMove || g.pendingRequest != requestId) {
            revert TicTacToeUnknownRequest(requestId);
        }
        delete _gameOfRequest[requestId];
        g.pendingRequest = 0;
        uint8 cell = npcMove(g.board, output);
        g.board[cell] = 2;
        emit Moved(gameId, true, cell);
        if (!_finish(gameId, g)) g.state = State.PlayerToMove;
    }

    /*//////////////////////////////////////////////////////////////
                               INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev Ends the game if someone won or the board is full.
    function _finish(uint256 gameId, Game storage g) internal returns (bool) {
        uint8 w = winner(g.board);
        State result;
        if (w == 1) result = State.PlayerWon;
        else if (w == 2) result = State.NpcWon;
        else if (_full(g.board)) result = State.Draw;
        else return false;
        g.state = result;
        emit GameOver(gameId, result);
        return true;
    }

    function _full(uint8[9] memory b) internal pure returns (bool) {
        for (uint256 i; i < 9; ++i) {
            if (b[i] == 0) return false;
        }
        return true;
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice The free cell with the highest score in `output` (lowest index on ties).
    function npcMove(uint8[9] memory board, bytes calldata output) public pure returns (uint8 best) {
        bool found;
        int32 bestScore;
        for (uint8 i; i < 9; ++i) {
            if (board[i] != 0) continue;
            int32 s = Output.valueAt(output, i);
            if (!found || s > bestScore) {
                (best, bestScore, found) = (i, s, true);
            }
        }
    }

    /// @notice 1 or 2 for a line of the player's or the NPC's marks, else 0.
    function winner(uint8[9] memory b) public pure returns (uint8) {
        uint24[8] memory lines =
            [uint24(0x000102), 0x030405, 0x060708, 0x000306, 0x010407, 0x020508, 0x000408, 0x020406];
        for (uint256 i; i < 8; ++i) {
            uint8 x = b[uint8(lines[i] >> 16)];
            if (x != 0 && x == b[uint8(lines[i] >> 8)] && x == b[uint8(lines[i])]) return x;
        }
        return 0;
    }

    /// @notice The model input for a game's board: +127 NPC, -127 player, 0 empty.
    function boardInput(uint256 gameId) public view returns (bytes memory input) {
        uint8[9] storage b = _games[gameId].board;
        input = new bytes(9);
        for (uint256 i; i < 9; ++i) {
            input[i] = b[i] == 2 ? bytes1(0x7f) : b[i] == 1 ? bytes1(0x81) : bytes1(0);
        }
    }

    /// @notice A game.
    function gameOf(uint256 gameId) external view returns (Game memory) {
        return _games[gameId];
    }
}
