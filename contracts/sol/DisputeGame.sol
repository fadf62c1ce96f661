// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {InferenceOracle} from "./InferenceOracle.sol";
import {ModelRegistry} from "./ModelRegistry.sol";
import {TraceMerkle} from "./TraceMerkle.sol";
import {IInferenceVerifier} from "./interfaces/IInferenceVerifier.sol";
import {Duration, Timestamp, now_} from "./lib/Types.sol";

/// @title DisputeGame
/// @notice Decides challenged proposals of the InferenceOracle. The proposer first opens its
///         trace's endpoints (z_0 bound to the request's input, z_L to the proposed output); the
///         challenger opens its own; then the two bisect z_0..z_L with chess clocks, each move
///         revealing a midpoint with a Merkle proof against the mover's own trace root, down to a
///         segment [lo, hi) of at most `maxSegment` steps on whose first commitment both agree
///         and on whose last they differ. The proposer must then prove that segment with the
///         model's verifier within `proofWindow`. Private models, blind challenges and models of
///         at most `maxSegment` steps go straight to a proof of the whole inference, and so does
///         a challenger that agrees on z_L but not on the trace root (the right output with a
///         wrong step commitment inside: bisection needs a disputed end). A whole-trace proof's
///         commitments must be exactly the proposer's trace (their Merkle root is its posted
///         root), so a wrong commitment anywhere in it cannot be proven. A proposer whose clock
///         runs out, or whose proof fails, loses. A challenger whose clock runs out forfeits its
///         bond, but the proposal is not confirmed by that: it stands challengeable again for the
///         rest of its window (`InferenceOracle.dismissChallenge`), so only a proof confirms a
///         challenged proposal. Holds no funds.
/// @dev The phase is an explicit state machine; `None` is invalid (for a challenged request it
///      reads as `AwaitingProposerOpen`, so that a challenge costs the challenger no game storage).
///      Transitions:
///        AwaitingProposerOpen  --openDispute-->        AwaitingChallengerOpen | AwaitingProof
///        AwaitingChallengerOpen --challengerOpen-->    AwaitingProposerMid | AwaitingProof (same z_L)
///        AwaitingProposerMid   --proposerBisect-->     AwaitingChallengerMid
///        AwaitingChallengerMid --challengerBisect-->   AwaitingProposerMid | AwaitingProof
///        AwaitingProof         --proveSegment-->       (resolved)
///        any awaiting phase    --timeout-->            proposer to move: resolved for the challenger;
///                                                      challenger to move: challenge dismissed
contract DisputeGame {
    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice The dispute is not in the phase this move needs.
    error DisputeGameWrongPhase(uint256 requestId, Phase actual);
    /// @notice Only the side to move may move.
    error DisputeGameNotYourMove(uint256 requestId, address caller);
    /// @notice The mover's clock (or the proof window) has run out.
    error DisputeGameClockExpired(uint256 requestId, Timestamp expiredAt);
    /// @notice Nobody's time has run out yet.
    error DisputeGameNotExpired(uint256 requestId, Timestamp expiresAt);
    /// @notice A revealed commitment is not in the mover's trace.
    error DisputeGameBadMerkleProof(uint256 requestId, uint256 index);
    /// @notice The input does not match the request.
    error DisputeGameInputMismatch(uint256 requestId);
    /// @notice The output does not match the proposal.
    error DisputeGameOutputMismatch(uint256 requestId);
    /// @notice z_0 is not the commitment of the request's input.
    error DisputeGameBadInputCommitment(uint256 requestId, bytes32 expected, bytes32 revealed);
    /// @notice z_L is not the commitment of the output.
    error DisputeGameBadOutputCommitment(uint256 requestId, bytes32 expected, bytes32 revealed);
    /// @notice The challenger's z_0 differs from the (input-bound) agreed one.
    error DisputeGameStartDiffers(uint256 requestId, bytes32 agreed, bytes32 revealed);
    /// @notice The challenger's trace root equals the proposer's: there is nothing to dispute.
    error DisputeGameNoDisagreement(uint256 requestId);
    /// @notice A whole-trace proof's commitments are not the proposer's posted trace.
    error DisputeGameNotProposersTrace(uint256 requestId, bytes32 posted, bytes32 given);
    /// @notice The step commitments do not span the segment or do not match its ends.
    error DisputeGameBadSegment(uint256 requestId, uint256 from, uint256 to, uint256 given);
    /// @notice The whole-inference proof was not accepted.
    error DisputeGameInvalidProof(uint256 requestId);
    /// @notice The verifier ran out of gas (it reverted without a reason): too little gas was sent
    ///         to decide. Nothing changed; send the proof again with more gas.
    error DisputeGameVerifierOutOfGas(uint256 requestId);

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice The proposer opened its endpoints; `next` is the new phase.
    event DisputeOpened(uint256 indexed requestId, bytes32 z0, bytes32 zL, Phase next);
    /// @notice A bisection move revealed `z` at step `index`; `next` is the new phase.
    event Moved(uint256 indexed requestId, address indexed mover, uint256 index, bytes32 z, Phase next);
    /// @notice The bisection reached the segment [lo, hi) that the proposer must prove.
    event SegmentReady(uint256 indexed requestId, uint256 lo, uint256 hi, bytes32 zLo, bytes32 zHi);
    /// @notice The dispute ended.
    event DisputeEnded(uint256 indexed requestId, bool proposerWon, EndReason reason);
    /// @notice A whole-inference proof answered an open request.
    event OutputProven(uint256 indexed requestId, address indexed prover);

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @notice The phases of a dispute (mirrored by the watchtower's and oracle's state machines).
    enum Phase {
        None,
        AwaitingProposerOpen,
        AwaitingChallengerOpen,
        AwaitingProposerMid,
        AwaitingChallengerMid,
        AwaitingProof
    }

    /// @notice Why a dispute ended.
    enum EndReason {
        ProofAccepted,
        ProofRejected,
        ProposerTimedOut,
        ChallengerTimedOut
    }

    /// @notice The endpoints z_0 and z_L of a trace, each with its Merkle proof.
    struct Opening {
        bytes32 z0;
        bytes32[] proof0;
        bytes32 zL;
        bytes32[] proofL;
    }

    /// @notice A dispute's state (slot 0 packed).
    struct Dispute {
        Phase phase;
        uint16 steps;
        uint16 lo;
        uint16 hi;
        Timestamp lastMove;
        Duration proposerUsed;
        Duration challengerUsed;
        bytes32 zLo;
        bytes32 zHi;
        bytes32 zMid;
    }

    /// @notice The oracle whose challenged requests this game decides.
    InferenceOracle public immutable oracle;
    /// @notice The model registry.
    ModelRegistry public immutable registry;
    /// @notice K: bisection stops at segments of at most this many steps.
    uint16 public immutable maxSegment;
    /// @notice Each side's time budget for its moves.
    Duration public immutable clock;
    /// @notice The time the proposer has to submit the segment proof.
    Duration public immutable proofWindow;

    mapping(uint256 => Dispute) internal _disputes;

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    constructor(InferenceOracle oracle_, uint16 maxSegment_, Duration clock_, Duration proofWindow_) {
        oracle = oracle_;
        registry = oracle_.registry();
        maxSegment = maxSegment_ == 0 ? 1 : maxSegment_;
        clock = clock_;
        proofWindow = proofWindow_;
    }

    /*//////////////////////////////////////////////////////////////
                               EXTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @notice The proposer opens the dispute: reveals z_0 and z_L of its trace, bound to the
    ///         request's input and to its proposed output.
    /// @param input The request's input (empty for a private input).
    /// @param output The proposed output.
    function openDispute(uint256 requestId, bytes calldata input, bytes calldata output, Opening calldata o) external {
        InferenceOracle.DisputeContext memory c = oracle.disputeContext(requestId);
        Dispute storage d = _disputes[requestId];
        Phase phase = _phase(d, c);
        // INVARIANT: the proposer opens once, first.
        if (phase != Phase.AwaitingProposerOpen) revert DisputeGameWrongPhase(requestId, phase);
        // INVARIANT: only the proposer answers for its proposal.
        if (msg.sender != c.proposer) revert DisputeGameNotYourMove(requestId, msg.sender);
        d.lastMove = c.challengedAt;
        _spend(requestId, d, true);
        // INVARIANT: the output is the proposed one.
        if (keccak256(output) != c.outputHash) revert DisputeGameOutputMismatch(requestId);
        ModelRegistry.Model memory m = registry.model(c.modelId);
        _checkEnds(requestId, c, IInferenceVerifier(m.verifier), input, output, o.z0, o.zL);
        _checkStep(requestId, c.proposerRoot, m.steps, 0, o.z0, o.proof0);
        _checkStep(requestId, c.proposerRoot, m.steps, m.steps, o.zL, o.proofL);
        d.steps = uint16(m.steps);
        d.lo = 0;
        d.hi = uint16(m.steps);
        d.zLo = o.z0;
        d.zHi = o.zL;
        // Pre-warm the midpoint slot (overwritten before it is read), so that bisection moves
        // rewrite a non-zero slot instead of paying for a fresh one.
        d.zMid = o.zL;
        bool direct = m.isPrivate || m.steps <= maxSegment || c.challengerRoot == bytes32(0);
        d.phase = direct ? Phase.AwaitingProof : Phase.AwaitingChallengerOpen;
        emit DisputeOpened(requestId, o.z0, o.zL, d.phase);
        if (direct) emit SegmentReady(requestId, 0, m.steps, o.z0, o.zL);
    }

    /// @notice The challenger opens its trace's endpoints: its z_0 must equal the agreed,
    ///         input-bound z_0. A z_L that differs from the proposer's starts the bisection; the
    ///         same z_L (with another trace root) asks the proposer to prove its whole trace.
    function challengerOpen(uint256 requestId, Opening calldata o) external {
        InferenceOracle.DisputeContext memory c = oracle.disputeContext(requestId);
        Dispute storage d = _disputes[requestId];
        _expect(requestId, d, c, Phase.AwaitingChallengerOpen, c.challenger);
        _spend(requestId, d, false);
        uint256 steps = d.hi;
        _checkStep(requestId, c.challengerRoot, steps, 0, o.z0, o.proof0);
        _checkStep(requestId, c.challengerRoot, steps, steps, o.zL, o.proofL);
        // INVARIANT: both traces start at the same, input-bound commitment.
        if (o.z0 != d.zLo) revert DisputeGameStartDiffers(requestId, d.zLo, o.z0);
        if (o.zL == d.zHi) {
            // INVARIANT: a dispute needs a disagreement; with the same end it is inside the trace,
            // where bisection cannot find it (both ends agree), so the whole trace is proven.
            if (c.challengerRoot == c.proposerRoot) revert DisputeGameNoDisagreement(requestId);
            d.phase = Phase.AwaitingProof;
            emit Moved(requestId, msg.sender, steps, o.zL, Phase.AwaitingProof);
            emit SegmentReady(requestId, 0, steps, d.zLo, d.zHi);
            return;
        }
        d.phase = Phase.AwaitingProposerMid;
        emit Moved(requestId, msg.sender, steps, o.zL, Phase.AwaitingProposerMid);
    }

    /// @notice The proposer reveals its commitment at the midpoint of [lo, hi].
    function proposerBisect(uint256 requestId, bytes32 zMid, bytes32[] calldata proof) external {
        InferenceOracle.DisputeContext memory c = oracle.disputeContext(requestId);
        Dispute storage d = _disputes[requestId];
        _expect(requestId, d, c, Phase.AwaitingProposerMid, c.proposer);
        _spend(requestId, d, true);
        uint256 mid = (uint256(d.lo) + d.hi) / 2;
        _checkStep(requestId, c.proposerRoot, d.steps, mid, zMid, proof);
        d.zMid = zMid;
        d.phase = Phase.AwaitingChallengerMid;
        emit Moved(requestId, msg.sender, mid, zMid, Phase.AwaitingChallengerMid);
    }

    /// @notice The challenger reveals its commitment at the midpoint: agreement moves `lo` up,
    ///         disagreement moves `hi` down.
    function challengerBisect(uint256 requestId, bytes32 zMid, bytes32[] calldata proof) external {
        InferenceOracle.DisputeContext memory c = oracle.disputeContext(requestId);
        Dispute storage d = _disputes[requestId];
        _expect(requestId, d, c, Phase.AwaitingChallengerMid, c.challenger);
        _spend(requestId, d, false);
        uint16 mid = uint16((uint256(d.lo) + d.hi) / 2);
        _checkStep(requestId, c.challengerRoot, d.steps, mid, zMid, proof);
        bytes32 proposerMid = d.zMid;
        if (zMid == proposerMid) {
            d.lo = mid;
            d.zLo = proposerMid;
        } else {
            d.hi = mid;
            d.zHi = proposerMid;
        }
        Phase next = d.hi - d.lo <= maxSegment ? Phase.AwaitingProof : Phase.AwaitingProposerMid;
        d.phase = next;
        emit Moved(requestId, msg.sender, mid, zMid, next);
        if (next == Phase.AwaitingProof) emit SegmentReady(requestId, d.lo, d.hi, d.zLo, d.zHi);
    }

    /// @notice The proposer proves the final segment: `steps` are z_lo..z_hi of its trace.
    ///         Acceptance resolves for the proposer; rejection (or a verifier revert) for the challenger.
    function proveSegment(uint256 requestId, bytes32[] calldata steps, bytes calldata proof) external {
        InferenceOracle.DisputeContext memory c = oracle.disputeContext(requestId);
        Dispute storage d = _disputes[requestId];
        _expect(requestId, d, c, Phase.AwaitingProof, c.proposer);
        Timestamp deadline = d.lastMove.plus(proofWindow);
        // INVARIANT: the proof comes within its window.
        if (deadline.passed()) revert DisputeGameClockExpired(requestId, deadline);
        uint256 lo = d.lo;
        uint256 hi = d.hi;
        // INVARIANT: the proof is about exactly the disputed segment and its agreed ends.
        if (steps.length != hi - lo + 1 || steps[0] != d.zLo || steps[steps.length - 1] != d.zHi) {
            revert DisputeGameBadSegment(requestId, lo, hi, steps.length);
        }
        if (lo == 0 && hi == d.steps) {
            bytes32 given = TraceMerkle.root(steps);
            // INVARIANT: a whole-trace proof proves the proposer's posted trace, every commitment
            // of it (a bisected segment's inner commitments need no binding: its ends decide).
            if (given != c.proposerRoot) revert DisputeGameNotProposersTrace(requestId, c.proposerRoot, given);
        }
        bool accepted = _tryVerify(c.modelId, requestId, lo, hi, steps, proof);
        _end(requestId, accepted, accepted ? EndReason.ProofAccepted : EndReason.ProofRejected);
    }

    /// @notice Ends a dispute whose side to move has run out of time. Anyone may call.
    function timeout(uint256 requestId) external {
        InferenceOracle.DisputeContext memory c = oracle.disputeContext(requestId);
        Dispute storage d = _disputes[requestId];
        Phase phase = _phase(d, c);
        // INVARIANT: only live disputes time out.
        if (phase == Phase.None) revert DisputeGameWrongPhase(requestId, phase);
        if (phase == Phase.AwaitingProposerOpen) d.lastMove = c.challengedAt;
        (Timestamp expiresAt, bool proposerToMove) = _expiry(d, phase);
        // INVARIANT: a dispute is decided by time only once the mover's time is up.
        if (!expiresAt.passed()) revert DisputeGameNotExpired(requestId, expiresAt);
        _end(requestId, !proposerToMove, proposerToMove ? EndReason.ProposerTimedOut : EndReason.ChallengerTimedOut);
    }

    /// @notice Answers an open request (no live proposal) with a proof of the whole inference:
    ///         `steps` are z_0..z_L. The result is final at once; the prover earns the operator fee.
    ///         This is how a challenger who won gives the consumer the correct output. The proof
    ///         is bound to its sender: it is made for the request id `proverBoundId(requestId,
    ///         msg.sender)`, so a proof seen in the mempool is worthless to anyone else.
    function proveOutput(
        uint256 requestId,
        bytes calldata input,
        bytes calldata output,
        bytes32[] calldata steps,
        bytes calldata proof
    ) external {
        InferenceOracle.DisputeContext memory c = oracle.disputeContext(requestId);
        // INVARIANT: only requests without a live proposal take a proven output.
        if (c.status != InferenceOracle.Status.Requested) revert DisputeGameWrongPhase(requestId, Phase.None);
        _checkWhole(requestId, proverBoundId(requestId, msg.sender), c, input, output, steps, proof);
        emit OutputProven(requestId, msg.sender);
        oracle.finalizeProven(requestId, output, msg.sender);
    }

    /*//////////////////////////////////////////////////////////////
                               INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev A verifier that reverts has not accepted.
    function _tryVerify(
        uint256 modelId,
        uint256 requestId,
        uint256 lo,
        uint256 hi,
        bytes32[] calldata steps,
        bytes calldata proof
    ) internal view returns (bool) {
        try registry.verifierOf(modelId).verifySegment(modelId, requestId, lo, hi, steps, proof) returns (bool ok) {
            return ok;
        } catch (bytes memory reason) {
            // INVARIANT: running out of gas is not a verdict: a proof sent with too little gas (an
            // `eth_estimateGas` that found the cheaper catch path, or a griefing relayer) must not
            // make the prover lose. Verifiers reject with a reason.
            if (reason.length == 0) revert DisputeGameVerifierOutOfGas(requestId);
            return false;
        }
    }

    function _checkWhole(
        uint256 requestId,
        uint256 transcriptId,
        InferenceOracle.DisputeContext memory c,
        bytes calldata input,
        bytes calldata output,
        bytes32[] calldata steps,
        bytes calldata proof
    ) internal view {
        ModelRegistry.Model memory m = registry.model(c.modelId);
        IInferenceVerifier verifier = IInferenceVerifier(m.verifier);
        uint256 last = m.steps;
        // INVARIANT: the proof covers the whole trace.
        if (steps.length != last + 1) revert DisputeGameBadSegment(requestId, 0, last, steps.length);
        _checkEnds(requestId, c, verifier, input, output, steps[0], steps[last]);
        // INVARIANT: a proven output is proven.
        if (!verifier.verifySegment(c.modelId, transcriptId, 0, last, steps, proof)) {
            revert DisputeGameInvalidProof(requestId);
        }
    }

    function _phase(Dispute storage d, InferenceOracle.DisputeContext memory c) internal view returns (Phase) {
        if (c.status != InferenceOracle.Status.Challenged) return Phase.None;
        Phase p = d.phase;
        return p == Phase.None ? Phase.AwaitingProposerOpen : p;
    }

    function _expect(
        uint256 requestId,
        Dispute storage d,
        InferenceOracle.DisputeContext memory c,
        Phase expected,
        address mover
    ) internal view {
        Phase phase = _phase(d, c);
        // INVARIANT: moves follow the transition table.
        if (phase != expected) revert DisputeGameWrongPhase(requestId, phase);
        // INVARIANT: each side moves only in its own turn.
        if (msg.sender != mover) revert DisputeGameNotYourMove(requestId, msg.sender);
    }

    /// @dev Charges the time since the last move to the mover's clock; reverts once it is spent.
    function _spend(uint256 requestId, Dispute storage d, bool proposer) internal {
        uint64 before = Duration.unwrap(proposer ? d.proposerUsed : d.challengerUsed);
        uint64 used = before + (uint64(block.timestamp) - Timestamp.unwrap(d.lastMove));
        // INVARIANT: a side cannot move once its clock has run out.
        if (used >= Duration.unwrap(clock)) {
            revert DisputeGameClockExpired(requestId, d.lastMove.plus(Duration.wrap(Duration.unwrap(clock) - before)));
        }
        if (proposer) d.proposerUsed = Duration.wrap(used);
        else d.challengerUsed = Duration.wrap(used);
        d.lastMove = now_();
    }

    function _expiry(Dispute memory d, Phase phase) internal view returns (Timestamp expiresAt, bool proposerToMove) {
        if (phase == Phase.AwaitingProof) return (d.lastMove.plus(proofWindow), true);
        proposerToMove = phase == Phase.AwaitingProposerOpen || phase == Phase.AwaitingProposerMid;
        uint64 used = Duration.unwrap(proposerToMove ? d.proposerUsed : d.challengerUsed);
        expiresAt = d.lastMove.plus(Duration.wrap(Duration.unwrap(clock) - used));
    }

    function _end(uint256 requestId, bool proposerWon, EndReason reason) internal {
        delete _disputes[requestId];
        emit DisputeEnded(requestId, proposerWon, reason);
        // A challenger that walks away proves nothing about the proposal: it goes back to its
        // window (the challenger may be the proposer's own sock puppet).
        if (reason == EndReason.ChallengerTimedOut) oracle.dismissChallenge(requestId);
        else oracle.resolveDispute(requestId, proposerWon);
    }

    /// @dev z0 must commit to the request's input and zL to `output`.
    function _checkEnds(
        uint256 requestId,
        InferenceOracle.DisputeContext memory c,
        IInferenceVerifier verifier,
        bytes calldata input,
        bytes calldata output,
        bytes32 z0,
        bytes32 zL
    ) internal view {
        bytes32 expected0 = _inputCommitment(requestId, c, verifier, input);
        // INVARIANT: the trace starts at the request's input.
        if (z0 != expected0) revert DisputeGameBadInputCommitment(requestId, expected0, z0);
        bytes32 expectedL = verifier.outputCommitment(c.modelId, output);
        // INVARIANT: the trace ends at the claimed output.
        if (zL != expectedL) revert DisputeGameBadOutputCommitment(requestId, expectedL, zL);
    }

    function _inputCommitment(
        uint256 requestId,
        InferenceOracle.DisputeContext memory c,
        IInferenceVerifier verifier,
        bytes calldata input
    ) internal view returns (bytes32) {
        if (c.privateInput) return c.input;
        // INVARIANT: the input is the request's.
        if (keccak256(input) != c.input) revert DisputeGameInputMismatch(requestId);
        return verifier.inputCommitment(c.modelId, input);
    }

    function _checkStep(
        uint256 requestId,
        bytes32 root,
        uint256 steps,
        uint256 index,
        bytes32 z,
        bytes32[] calldata proof
    ) internal pure {
        // INVARIANT: every revealed commitment is the mover's own, at that index.
        if (!TraceMerkle.verify(root, steps + 1, index, z, proof)) revert DisputeGameBadMerkleProof(requestId, index);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice The request id a `proveOutput` proof by `prover` is made for:
    ///         `uint256(keccak256(abi.encode(requestId, prover)))`.
    function proverBoundId(uint256 requestId, address prover) public pure returns (uint256) {
        return uint256(keccak256(abi.encode(requestId, prover)));
    }

    /// @notice The dispute of `requestId`, with its effective phase.
    function disputeOf(uint256 requestId) external view returns (Dispute memory d) {
        d = _disputes[requestId];
        d.phase = _phase(_disputes[requestId], oracle.disputeContext(requestId));
    }

    /// @notice When the side to move runs out of time, and whether that side is the proposer.
    function deadlineOf(uint256 requestId) external view returns (Timestamp expiresAt, bool proposerToMove) {
        InferenceOracle.DisputeContext memory c = oracle.disputeContext(requestId);
        Dispute memory d = _disputes[requestId];
        Phase phase = _phase(_disputes[requestId], c);
        // INVARIANT: only live disputes have deadlines.
        if (phase == Phase.None) revert DisputeGameWrongPhase(requestId, phase);
        if (phase == Phase.AwaitingProposerOpen) d.lastMove = c.challengedAt;
        return _expiry(d, phase);
    }
}
