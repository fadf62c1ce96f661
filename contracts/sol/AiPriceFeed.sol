// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {InferenceOracle} from "./InferenceOracle.sol";
import {AggregatorV3Interface} from "./interfaces/AggregatorV3Interface.sol";
import {IInferenceConsumer} from "./interfaces/IInferenceConsumer.sol";
import {Output} from "./lib/Output.sol";

/// @title AiPriceFeed
/// @notice An `AggregatorV3Interface` feed whose rounds are the finalized results of one
///         registered model. A round exists only once its request is final, so
///         `latestRoundData` never shows a proposed value, and a round whose proposal was
///         overturned carries the corrected (proven) value. Proposed values are readable through
///         `proposedAnswer`, never through the aggregator views. Only the feed's `updater` (the
///         party that chooses its inputs, e.g. the operator's scheduled feed reading a market
///         data source) may request rounds. Rounds follow the order of their requests: a result
///         that becomes final after a newer request's (an old request held up by a dispute) makes
///         no round, so `latestRoundData` never goes back in time; `startedAt` is the request's
///         time, the age of the input, and `updatedAt` the time it became final.
/// @dev answer = output[0] * scaleNumerator / scaleDenominator, with `decimals` decimals.
contract AiPriceFeed is AggregatorV3Interface, IInferenceConsumer {
    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice Only the oracle delivers results.
    error AiPriceFeedNotOracle(address caller);
    /// @notice The request was not made by this feed, or was delivered already.
    error AiPriceFeedUnknownRequest(uint256 requestId);
    /// @notice No such round.
    error AiPriceFeedNoRound(uint80 roundId);
    /// @notice Only the updater requests rounds.
    error AiPriceFeedNotUpdater(address caller, address updater);
    /// @notice The output is not the live proposal of that request.
    error AiPriceFeedNotProposed(uint256 requestId);

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Chainlink's event for a new answer.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    /// @notice A round was requested from the oracle.
    event RoundRequested(uint256 indexed requestId, address indexed by);
    /// @notice A result became final after a newer request's round: it makes no round.
    event StaleResult(uint256 indexed requestId, int256 answer, uint256 latestRequestId);

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @notice A finalized round.
    struct Round {
        int256 answer;
        uint64 startedAt;
        uint64 updatedAt;
        uint256 requestId;
    }

    /// @notice The oracle.
    InferenceOracle public immutable oracle;
    /// @notice The model whose results are the rounds.
    uint256 public immutable modelId;
    /// @notice Answer scaling.
    int256 public immutable scaleNumerator;
    /// @notice Answer scaling.
    int256 public immutable scaleDenominator;
    /// @notice Gas for `onInferenceResult`.
    uint32 public immutable callbackGasLimit;
    /// @notice The only account that may request rounds (it chooses the feed's inputs).
    address public immutable updater;
    uint8 internal immutable _decimals;
    string internal _description;

    /// @notice The latest round id (rounds start at 1).
    uint80 public latestRound;
    mapping(uint80 => Round) internal _rounds;
    /// @notice Request time of requests not yet final, by request id.
    mapping(uint256 => uint64) public pendingSince;

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    constructor(
        InferenceOracle oracle_,
        uint256 modelId_,
        uint8 decimals_,
        int256 scaleNumerator_,
        int256 scaleDenominator_,
        uint32 callbackGasLimit_,
        address updater_,
        string memory description_
    ) {
        updater = updater_;
        oracle = oracle_;
        modelId = modelId_;
        _decimals = decimals_;
        scaleNumerator = scaleNumerator_;
        scaleDenominator = scaleDenominator_ == 0 ? int256(1) : scaleDenominator_;
        callbackGasLimit = callbackGasLimit_;
        _description = description_;
    }

    /*//////////////////////////////////////////////////////////////
                               EXTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @notice Asks the oracle for a new round on `input` (int8 values); the value sent pays the fee.
    function requestRound(bytes calldata input) external payable returns (uint256 requestId) {
        // INVARIANT: nobody but the updater picks the feed's inputs, so nobody else picks its price.
        if (msg.sender != updater) revert AiPriceFeedNotUpdater(msg.sender, updater);
        requestId = oracle.request{value: msg.value}(modelId, input, bytes32(0), address(this), callbackGasLimit, "");
        pendingSince[requestId] = uint64(block.timestamp);
        emit RoundRequested(requestId, msg.sender);
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceResult(uint256 requestId, bytes calldata output, bytes calldata) external {
        // INVARIANT: rounds come from final oracle results only.
        if (msg.sender != address(oracle)) revert AiPriceFeedNotOracle(msg.sender);
        uint64 startedAt = pendingSince[requestId];
        // INVARIANT: each request makes at most one round.
        if (startedAt == 0) revert AiPriceFeedUnknownRequest(requestId);
        delete pendingSince[requestId];
        int256 answer = toAnswer(output);
        uint256 latestRequest = _rounds[latestRound].requestId;
        // Rounds follow their requests' order: an older request's late result is not the news.
        if (requestId < latestRequest) {
            emit StaleResult(requestId, answer, latestRequest);
            return;
        }
        uint80 roundId = ++latestRound;
        _rounds[roundId] = Round(answer, startedAt, uint64(block.timestamp), requestId);
        emit AnswerUpdated(answer, roundId, block.timestamp);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice The answer a model output stands for.
    function toAnswer(bytes calldata output) public view returns (int256) {
        return int256(Output.valueAt(output, 0)) * scaleNumerator / scaleDenominator;
    }

    /// @notice The answer of a proposed (not yet final) result: `output` as emitted in the
    ///         oracle's `Proposed` event. Reverts unless it is the live proposal of `requestId`.
    function proposedAnswer(uint256 requestId, bytes calldata output)
        external
        view
        returns (int256 answer, InferenceOracle.Status status)
    {
        status = oracle.requestOf(requestId).status;
        bool live = status == InferenceOracle.Status.Proposed || status == InferenceOracle.Status.Challenged
            || status == InferenceOracle.Status.Confirmed;
        // INVARIANT: only a live proposal's output is shown, and never as a round.
        if (!live || oracle.proposalOf(requestId).outputHash != keccak256(output)) {
            revert AiPriceFeedNotProposed(requestId);
        }
        answer = toAnswer(output);
    }

    /// @inheritdoc AggregatorV3Interface
    function decimals() external view returns (uint8) {
        return _decimals;
    }

    /// @inheritdoc AggregatorV3Interface
    function description() external view returns (string memory) {
        return _description;
    }

    /// @inheritdoc AggregatorV3Interface
    function version() external pure returns (uint256) {
        return 1;
    }

    /// @inheritdoc AggregatorV3Interface
    function getRoundData(uint80 roundId) public view returns (uint80, int256, uint256, uint256, uint80) {
        Round storage r = _rounds[roundId];
        // INVARIANT: only finalized rounds exist.
        if (r.updatedAt == 0) revert AiPriceFeedNoRound(roundId);
        return (roundId, r.answer, r.startedAt, r.updatedAt, roundId);
    }

    /// @inheritdoc AggregatorV3Interface
    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return getRoundData(latestRound);
    }
}
