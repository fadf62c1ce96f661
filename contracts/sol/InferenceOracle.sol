// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ModelRegistry} from "./ModelRegistry.sol";
import {IInferenceConsumer} from "./interfaces/IInferenceConsumer.sol";
import {Duration, Timestamp, now_} from "./lib/Types.sol";

/// @title InferenceOracle
/// @notice The optimistic inference oracle: consumers `request` an inference and pay its fee;
///         a bonded operator `propose`s the output and the root of its execution trace; anyone
///         may `challenge` within the liveness window with a bond, which hands the request to
///         the dispute game; otherwise anyone may `settle` it after the window, which makes the
///         result final and calls the consumer back with a bounded amount of gas.
/// @dev Holds every wei of the protocol: operator bonds (free and locked), challenger bonds of
///      open challenges, fees of open requests and unclaimed credits, and nothing else (the
///      solvency invariant, checked by the tests against independently kept books; no running
///      totals are stored, to keep the hot paths cheap). Payouts are pulled with `claim`.
///      No proposal becomes final without a proof or a full liveness window in which anyone could
///      have challenged it: a challenger that runs out of clock forfeits its bond and the proposal
///      goes back to `Proposed` with the part of its window the challenge interrupted, so a
///      proposer cannot make a lie final by challenging it itself and walking away.
contract InferenceOracle {
    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice The request is not in the state this call needs.
    error InferenceOracleWrongStatus(uint256 requestId, Status actual);
    /// @notice The model does not take new requests.
    error InferenceOracleModelRetired(uint256 modelId);
    /// @notice The value sent is not the fee.
    error InferenceOracleWrongFee(uint256 expected, uint256 paid);
    /// @notice The input is neither `inputLen` bytes (public) nor empty with a commitment (private).
    error InferenceOracleBadInput(uint256 length, uint256 expectedLength, bytes32 commitment);
    /// @notice The callback gas limit is above the cap.
    error InferenceOracleCallbackGasTooHigh(uint256 requested, uint256 cap);
    /// @notice The output is not `outputLen` int32 values.
    error InferenceOracleBadOutput(uint256 length, uint256 expectedLength);
    /// @notice The output differs from the proposed one.
    error InferenceOracleOutputMismatch(uint256 requestId, bytes32 proposed, bytes32 given);
    /// @notice A trace root must be non-zero.
    error InferenceOracleZeroTraceRoot();
    /// @notice The operator's free bond does not cover the proposer bond.
    error InferenceOracleInsufficientBond(address operator, uint256 free, uint256 required);
    /// @notice The value sent is not the challenger bond.
    error InferenceOracleWrongBond(uint256 expected, uint256 paid);
    /// @notice The liveness window has closed.
    error InferenceOracleWindowClosed(uint256 requestId, Timestamp deadline);
    /// @notice The liveness window (or the request timeout) has not passed yet.
    error InferenceOracleTooEarly(uint256 requestId, Timestamp notBefore);
    /// @notice Only the requester may cancel.
    error InferenceOracleNotRequester(uint256 requestId, address caller);
    /// @notice Only the dispute game may resolve disputes and record proven results.
    error InferenceOracleNotDisputeGame(address caller);
    /// @notice Only the owner may change parameters.
    error InferenceOracleNotOwner(address caller);
    /// @notice The dispute game is set once.
    error InferenceOracleGameAlreadySet(address game);
    /// @notice A parameter is out of range.
    error InferenceOracleBadConfig();
    /// @notice No parameter change is queued.
    error InferenceOracleNoPendingConfig();
    /// @notice The queued parameter change is not due yet.
    error InferenceOracleConfigNotDue(Timestamp effectiveAt);
    /// @notice A proposer cannot challenge its own proposal.
    error InferenceOracleSelfChallenge(uint256 requestId, address proposer);
    /// @notice An input value is -128, outside the symmetric int8 range [-127, 127] that the
    ///         circuits prove (so a lie about such an input could never be disputed).
    error InferenceOracleInputOutOfRange(uint256 index);
    /// @notice The account has nothing to claim.
    error InferenceOracleNothingToClaim(address account);
    /// @notice The amount exceeds the free bond.
    error InferenceOracleWithdrawTooLarge(uint256 requested, uint256 free);
    /// @notice A balance would exceed its storage width.
    error InferenceOracleAmountTooLarge(uint256 amount);
    /// @notice Sending ether failed.
    error InferenceOracleTransferFailed(address to, uint256 amount);
    /// @notice Not enough gas was left to give the callback its limit.
    error InferenceOracleInsufficientGas(uint256 available, uint256 required);
    /// @notice The arrays of a batch call differ in length.
    error InferenceOracleLengthMismatch();
    /// @notice A guarded function was re-entered.
    error InferenceOracleReentrancy();

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A request was made.
    event RequestCreated(
        uint256 indexed requestId,
        uint256 indexed modelId,
        address indexed requester,
        bytes input,
        bytes32 inputCommitment,
        address callback,
        uint32 callbackGasLimit,
        uint256 fee
    );
    /// @notice An operator proposed a result.
    event Proposed(
        uint256 indexed requestId, address indexed proposer, bytes output, bytes32 traceRoot, Timestamp deadline
    );
    /// @notice A proposal was challenged; the dispute game takes over.
    event Challenged(uint256 indexed requestId, address indexed challenger, bytes32 traceRoot);
    /// @notice The dispute ended; `winner` got `reward` of the loser's bond, the treasury `burned`.
    event DisputeResolved(
        uint256 indexed requestId, address indexed winner, address indexed loser, uint256 reward, uint256 burned
    );
    /// @notice The proposal lost its dispute: the request takes new proposals or a proven result.
    event RequestReopened(uint256 indexed requestId);
    /// @notice The challenger ran out of clock: it forfeited its bond (the proposer got `reward`,
    ///         the treasury `burned`), and the proposal stands again, challengeable until `deadline`
    ///         (the part of its liveness window the challenge interrupted).
    event ChallengeDismissed(
        uint256 indexed requestId, address indexed challenger, uint256 reward, uint256 burned, Timestamp deadline
    );
    /// @notice The result is final.
    event Finalized(uint256 indexed requestId, address indexed operator, bytes output, bool proven);
    /// @notice The consumer's callback reverted or ran out of gas; settlement went on.
    event CallbackFailed(uint256 indexed requestId, address indexed callback);
    /// @notice The requester cancelled an unanswered request; its fee is credited back.
    event RequestCancelled(uint256 indexed requestId);
    /// @notice Bond deposited.
    event BondDeposited(address indexed operator, uint256 amount);
    /// @notice Bond withdrawn.
    event BondWithdrawn(address indexed operator, uint256 amount);
    /// @notice Credit paid out.
    event Claimed(address indexed account, uint256 amount);
    /// @notice Parameters changed.
    event ConfigUpdated(Config config);
    /// @notice A parameter change was queued; anyone may apply it from `effectiveAt` on.
    event ConfigQueued(Config config, Timestamp effectiveAt);
    /// @notice The dispute game was set.
    event DisputeGameSet(address game);
    /// @notice Ownership moved.
    event OwnerTransferred(address indexed previousOwner, address indexed newOwner);

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @notice Where a request is in its lifecycle. `None` is never a valid request.
    enum Status {
        None,
        Requested,
        Proposed,
        Challenged,
        Confirmed,
        Finalized,
        Cancelled
    }

    /// @notice A request (packed in five slots plus the callback data).
    struct Request {
        address requester;
        uint64 modelId;
        uint32 callbackGasLimit;
        address callback;
        Timestamp createdAt;
        Status status;
        bool privateInput;
        uint16 outputLen;
        address modelOwner;
        uint96 modelFee;
        uint96 operatorFee;
        /// The request timeout in force when it was made (a later change does not apply).
        Duration timeout;
        /// keccak256(input) for public inputs, the input commitment z_0 for private ones.
        bytes32 input;
        bytes callbackData;
    }

    /// @notice One request of `requestMany`: the arguments of `request`.
    struct NewRequest {
        uint256 modelId;
        bytes input;
        bytes32 inputCommitment;
        address callback;
        uint32 callbackGasLimit;
        bytes callbackData;
    }

    /// @notice A proposal (and, once final, the result).
    struct Proposal {
        address proposer;
        /// The end of the liveness window (fixed when proposed).
        Timestamp deadline;
        bytes32 traceRoot;
        bytes32 outputHash;
    }

    /// @notice A challenge.
    struct Challenge {
        address challenger;
        Timestamp challengedAt;
        /// The burn share in force when the challenge was made (the loser's bond is split by it).
        uint16 burnBps;
        bytes32 traceRoot;
    }

    /// @notice What the dispute game reads about a request.
    struct DisputeContext {
        Status status;
        uint64 modelId;
        address proposer;
        address challenger;
        Timestamp challengedAt;
        bytes32 proposerRoot;
        bytes32 challengerRoot;
        bytes32 input;
        bool privateInput;
        bytes32 outputHash;
    }

    /// @notice An account's balances, in one slot.
    struct Account {
        uint80 freeBond;
        uint80 lockedBond;
        uint80 credit;
    }

    /// @notice Parameters governable by the owner, within bounds and behind `configDelay`. (The
    ///         bond sizes are immutable: a locked bond is always released at the size it was
    ///         locked at.) What a request or dispute depends on is fixed when it starts: the fees
    ///         and the timeout at `request`, the window at `propose`, the burn share at `challenge`.
    struct Config {
        Duration livenessWindow;
        uint96 operatorFee;
        uint16 burnBps;
        uint32 maxCallbackGas;
        Duration requestTimeout;
        address treasury;
    }

    /// @notice The model registry.
    ModelRegistry public immutable registry;
    /// @notice The bond a proposal locks.
    uint96 public immutable proposerBond;
    /// @notice The bond a challenge takes.
    uint96 public immutable challengerBond;
    /// @notice How long a parameter change waits before it can apply (so that operators and
    ///         watchers see it coming).
    Duration public immutable configDelay;
    /// @notice The shortest liveness window the owner may set: the one deployed with.
    Duration public immutable minLivenessWindow;
    /// @notice The longest liveness window, and the longest request timeout.
    uint64 public constant MAX_WINDOW = 30 days;
    /// @notice The most callback gas the owner may allow.
    uint32 public constant MAX_CALLBACK_GAS = 5_000_000;
    /// @notice The parameters.
    Config public config;
    /// @notice A queued parameter change.
    Config public pendingConfig;
    /// @notice When `pendingConfig` may apply (zero: nothing queued).
    Timestamp public pendingConfigAt;
    /// @notice The owner (parameters only; never funds).
    address public owner;
    /// @notice The dispute game, the only caller of `resolveDispute` and `finalizeProven`.
    address public disputeGame;
    /// @notice The number of requests (the last id).
    uint256 public requestCount;

    mapping(uint256 => Request) internal _requests;
    mapping(uint256 => Proposal) internal _proposals;
    mapping(uint256 => Challenge) internal _challenges;
    mapping(address => Account) internal _accounts;

    bool transient _locked;

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    constructor(
        ModelRegistry registry_,
        uint96 proposerBond_,
        uint96 challengerBond_,
        Duration configDelay_,
        Config memory config_
    ) {
        // INVARIANT: proposals and challenges are always backed by something, and parameter
        // changes are never immediate.
        if (proposerBond_ == 0 || challengerBond_ == 0 || Duration.unwrap(configDelay_) == 0) {
            revert InferenceOracleBadConfig();
        }
        registry = registry_;
        proposerBond = proposerBond_;
        challengerBond = challengerBond_;
        configDelay = configDelay_;
        minLivenessWindow = config_.livenessWindow;
        owner = msg.sender;
        _setConfig(config_);
        emit OwnerTransferred(address(0), msg.sender);
    }

    modifier nonReentrant() {
        // INVARIANT: no function that moves funds runs inside another.
        if (_locked) revert InferenceOracleReentrancy();
        _locked = true;
        _;
        _locked = false;
    }

    modifier onlyOwner() {
        // INVARIANT: only the owner governs parameters.
        if (msg.sender != owner) revert InferenceOracleNotOwner(msg.sender);
        _;
    }

    modifier onlyGame() {
        // INVARIANT: disputes are decided by the game alone.
        if (msg.sender != disputeGame) revert InferenceOracleNotDisputeGame(msg.sender);
        _;
    }

    /*//////////////////////////////////////////////////////////////
                               EXTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @notice Requests an inference of `modelId`.
    /// @param input The int8 input (one byte a value), or empty for a private input.
    /// @param inputCommitment Zero for a public input; z_0 for a private input.
    /// @param callback The consumer called with the final result (zero for none).
    /// @param callbackGasLimit The gas the callback gets, at most `config.maxCallbackGas`.
    /// @param callbackData Opaque bytes handed back to the callback.
    function request(
        uint256 modelId,
        bytes calldata input,
        bytes32 inputCommitment,
        address callback,
        uint32 callbackGasLimit,
        bytes calldata callbackData
    ) external payable returns (uint256 requestId) {
        uint256 fee;
        (requestId, fee) = _request(modelId, input, inputCommitment, callback, callbackGasLimit, callbackData);
        // INVARIANT: the fee is paid exactly, so no wei is left unaccounted.
        if (msg.value != fee) revert InferenceOracleWrongFee(fee, msg.value);
    }

    /// @notice Makes each of `requests` as `request` would, in order, in one transaction (an
    ///         operator's API batches its clients' requests): their ids are consecutive from
    ///         `firstId`, and the value sent is the sum of their fees. Any refused element reverts
    ///         the whole batch.
    function requestMany(NewRequest[] calldata requests) external payable returns (uint256 firstId) {
        uint256 total;
        firstId = requestCount + 1;
        for (uint256 i; i < requests.length; ++i) {
            NewRequest calldata q = requests[i];
            (, uint256 fee) =
                _request(q.modelId, q.input, q.inputCommitment, q.callback, q.callbackGasLimit, q.callbackData);
            total += fee;
        }
        // INVARIANT: the fees are paid exactly, so no wei is left unaccounted.
        if (msg.value != total) revert InferenceOracleWrongFee(total, msg.value);
    }

    /// @notice Adds to the caller's free bond.
    function depositBond() external payable {
        Account storage a = _accounts[msg.sender];
        a.freeBond = _u80(uint256(a.freeBond) + msg.value);
        emit BondDeposited(msg.sender, msg.value);
    }

    /// @notice Withdraws free (not locked) bond.
    function withdrawBond(uint256 amount) external nonReentrant {
        Account storage a = _accounts[msg.sender];
        // INVARIANT: a bond locked by an open proposal cannot leave.
        if (amount > a.freeBond) revert InferenceOracleWithdrawTooLarge(amount, a.freeBond);
        a.freeBond -= uint80(amount);
        emit BondWithdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    /// @notice Proposes the result of request `requestId`, locking the proposer bond.
    /// @param output The output: `outputLen` big-endian int32 values.
    /// @param traceRoot The Merkle root over the step commitments z_0..z_L.
    function propose(uint256 requestId, bytes calldata output, bytes32 traceRoot) external {
        _propose(requestId, output, traceRoot);
    }

    /// @notice Proposes each request of `requestIds` as `propose` would, in one transaction (an
    ///         operator answering many requests of one block). Any refused element reverts the
    ///         whole batch.
    function proposeMany(uint256[] calldata requestIds, bytes[] calldata outputs, bytes32[] calldata traceRoots)
        external
    {
        // INVARIANT: every proposal of a batch names its output and its trace root.
        if (outputs.length != requestIds.length || traceRoots.length != requestIds.length) {
            revert InferenceOracleLengthMismatch();
        }
        for (uint256 i; i < requestIds.length; ++i) {
            _propose(requestIds[i], outputs[i], traceRoots[i]);
        }
    }

    /// @notice Challenges the proposal of `requestId` within its liveness window.
    /// @param traceRoot The challenger's own trace root (zero for a blind challenge of a private model).
    function challenge(uint256 requestId, bytes32 traceRoot) external payable {
        Request storage r = _requests[requestId];
        // INVARIANT: only a live, unchallenged proposal can be challenged.
        if (r.status != Status.Proposed) revert InferenceOracleWrongStatus(requestId, r.status);
        Timestamp deadline = _proposals[requestId].deadline;
        // INVARIANT: the window closes for good.
        if (deadline.passed()) revert InferenceOracleWindowClosed(requestId, deadline);
        // INVARIANT: every challenge is backed by exactly the challenger bond.
        if (msg.value != challengerBond) revert InferenceOracleWrongBond(challengerBond, msg.value);
        address proposer = _proposals[requestId].proposer;
        // INVARIANT: a dispute has two sides. (A sock-puppet challenger gains nothing either: a
        // challenger that walks away forfeits its bond and the proposal stands challengeable again.)
        if (msg.sender == proposer) revert InferenceOracleSelfChallenge(requestId, proposer);
        r.status = Status.Challenged;
        _challenges[requestId] = Challenge(msg.sender, now_(), config.burnBps, traceRoot);
        emit Challenged(requestId, msg.sender, traceRoot);
    }

    /// @notice Makes an unchallenged proposal final after its window, or a proposal that won its
    ///         dispute at once; pays fees and calls the consumer back. Anyone may call.
    /// @param output The proposed output (as emitted in `Proposed`).
    function settle(uint256 requestId, bytes calldata output) external nonReentrant {
        Request storage r = _requests[requestId];
        Status s = r.status;
        Proposal storage p = _proposals[requestId];
        if (s == Status.Proposed) {
            Timestamp deadline = p.deadline;
            // INVARIANT: an unchallenged proposal is final only after its full window.
            if (!deadline.passed()) revert InferenceOracleTooEarly(requestId, deadline);
        } else if (s != Status.Confirmed) {
            // INVARIANT: only proposals that stood unchallenged or won their dispute settle.
            revert InferenceOracleWrongStatus(requestId, s);
        }
        bytes32 h = keccak256(output);
        // INVARIANT: the consumer gets exactly the proposed output.
        if (h != p.outputHash) revert InferenceOracleOutputMismatch(requestId, p.outputHash, h);
        address proposer = p.proposer;
        Account storage a = _accounts[proposer];
        uint80 bond = uint80(proposerBond);
        a.lockedBond -= bond;
        a.freeBond += bond;
        _finalize(requestId, r, proposer, output, false);
    }

    /// @notice Cancels a request nobody answered within `config.requestTimeout`; the fee is
    ///         credited back to the requester.
    function cancel(uint256 requestId) external {
        Request storage r = _requests[requestId];
        // INVARIANT: only unanswered requests can be cancelled.
        if (r.status != Status.Requested) revert InferenceOracleWrongStatus(requestId, r.status);
        // INVARIANT: only the requester cancels.
        if (msg.sender != r.requester) revert InferenceOracleNotRequester(requestId, msg.sender);
        Timestamp notBefore = r.createdAt.plus(r.timeout);
        // INVARIANT: operators get the full timeout to answer.
        if (!notBefore.passed()) revert InferenceOracleTooEarly(requestId, notBefore);
        r.status = Status.Cancelled;
        uint256 fee = uint256(r.modelFee) + r.operatorFee;
        _credit(msg.sender, fee);
        emit RequestCancelled(requestId);
    }

    /// @notice Pays out the caller's credit.
    function claim() external nonReentrant {
        Account storage a = _accounts[msg.sender];
        uint256 amount = a.credit;
        // INVARIANT: claims pay something.
        if (amount == 0) revert InferenceOracleNothingToClaim(msg.sender);
        a.credit = 0;
        emit Claimed(msg.sender, amount);
        _send(msg.sender, amount);
    }

    /// @notice Ends the dispute of `requestId` (dispute game only) by its proof: accepted
    ///         (`proposerWon`) or not made in time, rejected. The winner gets its bond back plus
    ///         the loser's bond less the burn share, which goes to the treasury. A proposer wins
    ///         only by a proof: a challenger that runs out of clock is `dismissChallenge`d.
    function resolveDispute(uint256 requestId, bool proposerWon) external onlyGame {
        Request storage r = _requests[requestId];
        // INVARIANT: only a challenged request has a dispute to resolve.
        if (r.status != Status.Challenged) revert InferenceOracleWrongStatus(requestId, r.status);
        address proposer = _proposals[requestId].proposer;
        Challenge storage ch = _challenges[requestId];
        address challenger = ch.challenger;
        uint256 burnBps = ch.burnBps;
        uint256 pBond = proposerBond;
        uint256 cBond = challengerBond;
        if (proposerWon) {
            uint256 burned = cBond * burnBps / 10_000;
            // The proposer's bond stays locked until `settle`, which unlocks it.
            _credit(proposer, cBond - burned);
            _credit(config.treasury, burned);
            r.status = Status.Confirmed;
            emit DisputeResolved(requestId, proposer, challenger, cBond - burned, burned);
        } else {
            uint256 burned = pBond * burnBps / 10_000;
            _accounts[proposer].lockedBond -= uint80(pBond);
            _credit(challenger, cBond + pBond - burned);
            _credit(config.treasury, burned);
            delete _proposals[requestId];
            delete _challenges[requestId];
            r.status = Status.Requested;
            emit DisputeResolved(requestId, challenger, proposer, pBond - burned, burned);
            emit RequestReopened(requestId);
        }
    }

    /// @notice Ends the dispute of `requestId` whose challenger ran out of clock (dispute game
    ///         only): the challenger forfeits its bond (to the proposer, less the burn share), and
    ///         the proposal stands again in `Proposed`, challengeable for the rest of its liveness
    ///         window (as much as was left when it was challenged). It is not confirmed: nothing
    ///         was proven, and the challenger may have been the proposer's own.
    function dismissChallenge(uint256 requestId) external onlyGame {
        Request storage r = _requests[requestId];
        // INVARIANT: only a challenged request has a challenge to dismiss.
        if (r.status != Status.Challenged) revert InferenceOracleWrongStatus(requestId, r.status);
        Proposal storage p = _proposals[requestId];
        Challenge storage ch = _challenges[requestId];
        address challenger = ch.challenger;
        uint256 cBond = challengerBond;
        uint256 burned = cBond * ch.burnBps / 10_000;
        Timestamp deadline =
            now_().plus(Duration.wrap(Timestamp.unwrap(p.deadline) - Timestamp.unwrap(ch.challengedAt)));
        p.deadline = deadline;
        delete _challenges[requestId];
        r.status = Status.Proposed;
        _credit(p.proposer, cBond - burned);
        _credit(config.treasury, burned);
        emit DisputeResolved(requestId, p.proposer, challenger, cBond - burned, burned);
        emit ChallengeDismissed(requestId, challenger, cBond - burned, burned, deadline);
    }

    /// @notice Records a proven result of an open request (dispute game only, after it checked
    ///         a whole-inference proof); final at once, the operator fee goes to the prover.
    function finalizeProven(uint256 requestId, bytes calldata output, address prover) external onlyGame nonReentrant {
        Request storage r = _requests[requestId];
        // INVARIANT: a proven result answers a request that has no live proposal.
        if (r.status != Status.Requested) revert InferenceOracleWrongStatus(requestId, r.status);
        // INVARIANT: outputs have the model's shape.
        if (output.length != uint256(r.outputLen) * 4) revert InferenceOracleBadOutput(output.length, r.outputLen * 4);
        _proposals[requestId] = Proposal(prover, now_(), bytes32(0), keccak256(output));
        _finalize(requestId, r, prover, output, true);
    }

    /// @notice Sets the dispute game, once (owner only).
    function setDisputeGame(address game) external onlyOwner {
        // INVARIANT: the arbiter of disputes never changes under open disputes.
        if (disputeGame != address(0)) revert InferenceOracleGameAlreadySet(disputeGame);
        disputeGame = game;
        emit DisputeGameSet(game);
    }

    /// @notice Queues a parameter change (owner only), which anyone may apply with `applyConfig`
    ///         once `configDelay` has passed; a new call replaces a queued change. Requests,
    ///         proposals and challenges already made keep what they started with.
    function setConfig(Config calldata config_) external onlyOwner {
        _checkConfig(config_);
        Timestamp due = now_().plus(configDelay);
        pendingConfig = config_;
        pendingConfigAt = due;
        emit ConfigQueued(config_, due);
    }

    /// @notice Applies the queued parameter change once it is due. Anyone may call.
    function applyConfig() external {
        Timestamp due = pendingConfigAt;
        // INVARIANT: only a queued change applies.
        if (Timestamp.unwrap(due) == 0) revert InferenceOracleNoPendingConfig();
        // INVARIANT: a change applies only after its delay.
        if (!due.passed()) revert InferenceOracleConfigNotDue(due);
        Config memory c = pendingConfig;
        delete pendingConfig;
        pendingConfigAt = Timestamp.wrap(0);
        _setConfig(c);
    }

    /// @notice Hands the owner role on (owner only).
    function transferOwnership(address newOwner) external onlyOwner {
        emit OwnerTransferred(owner, newOwner);
        owner = newOwner;
    }

    /*//////////////////////////////////////////////////////////////
                               INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev `request` without the payment check: records the request and returns its id and fee.
    function _request(
        uint256 modelId,
        bytes calldata input,
        bytes32 inputCommitment,
        address callback,
        uint32 callbackGasLimit,
        bytes calldata callbackData
    ) internal returns (uint256 requestId, uint256 fee) {
        ModelRegistry.Model memory m = registry.model(modelId);
        // INVARIANT: retired models finish open requests but take no new ones.
        if (m.retired) revert InferenceOracleModelRetired(modelId);
        fee = uint256(m.fee) + config.operatorFee;
        bool privateInput = input.length == 0;
        // INVARIANT: an input is either the full int8 vector or a commitment, never both or neither.
        if (privateInput ? inputCommitment == bytes32(0) : (input.length != m.inputLen || inputCommitment != 0)) {
            revert InferenceOracleBadInput(input.length, m.inputLen, inputCommitment);
        }
        // INVARIANT: a consumer cannot ask for more callback gas than the cap.
        if (callbackGasLimit > config.maxCallbackGas) {
            revert InferenceOracleCallbackGasTooHigh(callbackGasLimit, config.maxCallbackGas);
        }
        // INVARIANT: every accepted input is provable, so a lie about it can always be disputed.
        uint256 bad = _minusOneTwentyEightAt(input);
        if (bad != type(uint256).max) revert InferenceOracleInputOutOfRange(bad);
        requestId = ++requestCount;
        _requests[requestId] = Request({
            requester: msg.sender,
            modelId: uint64(modelId),
            callbackGasLimit: callbackGasLimit,
            callback: callback,
            createdAt: now_(),
            status: Status.Requested,
            privateInput: privateInput,
            outputLen: m.outputLen,
            modelOwner: m.owner,
            modelFee: m.fee,
            operatorFee: config.operatorFee,
            timeout: config.requestTimeout,
            input: privateInput ? inputCommitment : keccak256(input),
            callbackData: callbackData
        });
        emit RequestCreated(requestId, modelId, msg.sender, input, inputCommitment, callback, callbackGasLimit, fee);
    }

    /// @dev `propose` of one request.
    function _propose(uint256 requestId, bytes calldata output, bytes32 traceRoot) internal {
        Request storage r = _requests[requestId];
        // INVARIANT: one live proposal a request.
        if (r.status != Status.Requested) revert InferenceOracleWrongStatus(requestId, r.status);
        // INVARIANT: outputs have the model's shape.
        if (output.length != uint256(r.outputLen) * 4) revert InferenceOracleBadOutput(output.length, r.outputLen * 4);
        // INVARIANT: a proposal commits to a trace.
        if (traceRoot == bytes32(0)) revert InferenceOracleZeroTraceRoot();
        uint96 bond = proposerBond;
        Account storage a = _accounts[msg.sender];
        // INVARIANT: every proposal is backed by a locked bond.
        if (a.freeBond < bond) revert InferenceOracleInsufficientBond(msg.sender, a.freeBond, bond);
        a.freeBond -= uint80(bond);
        a.lockedBond += uint80(bond);
        r.status = Status.Proposed;
        Timestamp deadline = now_().plus(config.livenessWindow);
        _proposals[requestId] = Proposal(msg.sender, deadline, traceRoot, keccak256(output));
        emit Proposed(requestId, msg.sender, output, traceRoot, deadline);
    }

    function _finalize(uint256 requestId, Request storage r, address operator, bytes calldata output, bool proven)
        internal
    {
        r.status = Status.Finalized;
        uint256 modelFee = r.modelFee;
        uint256 operatorFee = r.operatorFee;
        _credit(r.modelOwner, modelFee);
        _credit(operator, operatorFee);
        emit Finalized(requestId, operator, output, proven);
        address callback = r.callback;
        if (callback == address(0)) return;
        uint256 gasLimit = r.callbackGasLimit;
        bytes memory data = abi.encodeCall(IInferenceConsumer.onInferenceResult, (requestId, output, r.callbackData));
        // INVARIANT: the callback gets its full gas limit, so a settler cannot make it fail by
        // sending too little gas (EIP-150 forwards at most 63/64).
        uint256 required = gasLimit + gasLimit / 63 + 10_000;
        if (gasleft() < required) revert InferenceOracleInsufficientGas(gasleft(), required);
        bool ok;
        assembly ("memory-safe") {
            // No return data is copied: a callback cannot grief with a huge return.
            ok := call(gasLimit, callback, 0, add(data, 32), mload(data), 0, 0)
        }
        if (!ok) emit CallbackFailed(requestId, callback);
    }

    function _credit(address account, uint256 amount) internal {
        if (amount == 0) return;
        Account storage a = _accounts[account];
        a.credit = _u80(uint256(a.credit) + amount);
    }

    function _send(address to, uint256 amount) internal {
        (bool ok,) = to.call{value: amount}("");
        // INVARIANT: a payout either arrives or the whole call reverts.
        if (!ok) revert InferenceOracleTransferFailed(to, amount);
    }

    function _u80(uint256 amount) internal pure returns (uint80) {
        // INVARIANT: balances fit their packed slots.
        if (amount > type(uint80).max) revert InferenceOracleAmountTooLarge(amount);
        return uint80(amount);
    }

    function _setConfig(Config memory c) internal {
        _checkConfig(c);
        config = c;
        emit ConfigUpdated(c);
    }

    function _checkConfig(Config memory c) internal view {
        uint64 window = Duration.unwrap(c.livenessWindow);
        uint64 timeout = Duration.unwrap(c.requestTimeout);
        // INVARIANT: the burn share is a share and not zero (so that challenging yourself never
        // pays); the window is never shorter than the deployed one (lies must not settle before
        // anyone can challenge) nor absurdly long; a timeout exists and cannot overflow a
        // timestamp; callbacks fit a block; a treasury receives burns.
        if (
            c.burnBps == 0 || c.burnBps > 10_000 || window == 0 || window < Duration.unwrap(minLivenessWindow)
                || window > MAX_WINDOW || timeout == 0 || timeout > MAX_WINDOW || c.maxCallbackGas > MAX_CALLBACK_GAS
                || c.treasury == address(0)
        ) revert InferenceOracleBadConfig();
    }

    /// @dev The index of the first byte 0x80 (int8 -128) of `input`, or `type(uint256).max`. A
    ///      word at a time: a byte of `word ^ 0x80..80` is zero exactly where `word` has 0x80, and
    ///      the classic zero-byte test finds one; bytes past the end are masked to zero, which never
    ///      match. Only the revert path looks at single bytes.
    function _minusOneTwentyEightAt(bytes calldata input) internal pure returns (uint256 index) {
        bool found;
        uint256 first;
        assembly ("memory-safe") {
            let ones := 0x0101010101010101010101010101010101010101010101010101010101010101
            let highs := shl(7, ones)
            let end := add(input.offset, input.length)
            for { let at := input.offset } lt(at, end) { at := add(at, 32) } {
                let word := calldataload(at)
                let left := sub(end, at)
                if lt(left, 32) { word := and(word, not(shr(mul(8, left), not(0)))) }
                let v := xor(word, highs)
                if and(and(sub(v, ones), not(v)), highs) {
                    found := 1
                    first := sub(at, input.offset)
                    break
                }
            }
        }
        if (!found) return type(uint256).max;
        for (index = first; input[index] != 0x80; ++index) {}
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice The fee `request` takes for `modelId`.
    function estimateFee(uint256 modelId) external view returns (uint256) {
        return uint256(registry.model(modelId).fee) + config.operatorFee;
    }

    /// @notice A request.
    function requestOf(uint256 requestId) external view returns (Request memory) {
        return _requests[requestId];
    }

    /// @notice The live proposal of a request, or its result once final.
    function proposalOf(uint256 requestId) external view returns (Proposal memory) {
        return _proposals[requestId];
    }

    /// @notice The live challenge of a request.
    function challengeOf(uint256 requestId) external view returns (Challenge memory) {
        return _challenges[requestId];
    }

    /// @notice An account's balances.
    function accountOf(address account) external view returns (Account memory) {
        return _accounts[account];
    }

    /// @notice Whether the request's result is final.
    function isFinalized(uint256 requestId) external view returns (bool) {
        return _requests[requestId].status == Status.Finalized;
    }

    /// @notice The result: whether final, keccak256 of the output, and who answered it.
    function resultOf(uint256 requestId) external view returns (bool finalized, bytes32 outputHash, address operator) {
        Proposal storage p = _proposals[requestId];
        return (_requests[requestId].status == Status.Finalized, p.outputHash, p.proposer);
    }

    /// @notice What the dispute game needs about a challenged request, in one call.
    function disputeContext(uint256 requestId) external view returns (DisputeContext memory c) {
        Request storage r = _requests[requestId];
        Proposal storage p = _proposals[requestId];
        Challenge storage ch = _challenges[requestId];
        c = DisputeContext({
            status: r.status,
            modelId: r.modelId,
            proposer: p.proposer,
            challenger: ch.challenger,
            challengedAt: ch.challengedAt,
            proposerRoot: p.traceRoot,
            challengerRoot: ch.traceRoot,
            input: r.input,
            privateInput: r.privateInput,
            outputHash: p.outputHash
        });
    }
}
