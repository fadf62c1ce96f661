// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IInferenceVerifier} from "./interfaces/IInferenceVerifier.sol";
import {ModelRegistry} from "./ModelRegistry.sol";
import {StepCommitments} from "./StepCommitments.sol";
import {DataContract} from "./lib/DataContract.sol";
import {TraceMerkle} from "./TraceMerkle.sol";

/// @title NovaVerifier
/// @notice Verifies Verdict's segment proofs on-chain: it replays the Keccak transcript of the
///         folds exactly as `verdict_circuits::folding` does, re-computes each fold with the BN254
///         precompiles, derandomizes, then verifies nova-snark 0.76's MicroSpartan
///         (`spartan::ppsnark`) proof and its HyperKZG evaluation argument (one pairing check).
///         Spec: circuits/PROOF_FORMAT.md (flat proof bytes, verifying-key blob, transcript).
/// @dev One deployment serves every model registered with it. A model's verifying key is a
///      1120-byte blob (`fraud-prover export-verifier`), published once as a data contract; the
///      registry stores its keccak256 as the model's `vkDigest`, so the key a proof is checked
///      against is the one the model owner registered. Every rejection reverts with a reason.
contract NovaVerifier is IInferenceVerifier {
    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice The key blob is not 1120 bytes of supported sizes and valid points.
    error NovaVerifierBadKey();
    /// @notice No key with the model's registered `vkDigest` has been published.
    error NovaVerifierUnknownKey(bytes32 vkDigest);
    /// @notice The segment is not a non-empty range within the model's steps.
    error NovaVerifierBadSegment(uint256 from, uint256 to, uint256 steps);
    /// @notice A segment [from, to) needs to - from + 1 step commitments.
    error NovaVerifierBadStepCount(uint256 expected, uint256 found);
    /// @notice The proof's length does not match the key and the segment.
    error NovaVerifierBadProofLength(uint256 expected, uint256 found);
    /// @notice A scalar (of the proof, a step commitment or the model commitment) is not below the
    ///         scalar field's modulus; `at` is its byte offset in the proof, or the step index.
    error NovaVerifierNotCanonical(uint256 at);
    /// @notice A point of the proof has a coordinate not below the base field's modulus, or is not
    ///         on the curve; `at` is its byte offset in the proof.
    error NovaVerifierBadPoint(uint256 at);
    /// @notice The outer sum-check's final claim is wrong.
    error NovaVerifierOuterSumcheck();
    /// @notice The inner sum-check's final claim is wrong.
    error NovaVerifierInnerSumcheck();
    /// @notice HyperKZG's evaluations are inconsistent at row `row`.
    error NovaVerifierEvaluations(uint256 row);
    /// @notice HyperKZG's pairing check failed.
    error NovaVerifierPairing();
    /// @notice A precompile call failed (cannot happen for validated inputs).
    error NovaVerifierPrecompile();
    /// @notice The tile commitments of the segment starting at `from` are not the model's.
    error NovaVerifierBadTile(uint256 from);
    /// @notice A challenged proof's support check failed: a step's commitment made after its
    ///         challenge reaches into the prefix committed before it (`verdict_circuits::challenged`).
    error NovaVerifierSupport();

    /// @notice A key blob was published.
    event KeyPublished(bytes32 indexed vkDigest, address pointer);

    /*//////////////////////////////////////////////////////////////
                               CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @dev The BN254 scalar field's modulus.
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @dev The BN254 base field's modulus.
    uint256 internal constant P = 21888242871839275222246405745257275088696311157297823662689037894645226208583;
    /// @dev 2^256 mod R: a challenge is (hi · 2^256 + lo) mod R.
    uint256 internal constant R256 = 0x0e0a77c19a07df2f666ea36f7879462e36fc76959f60cd29ac96341c4ffffffb;
    /// @dev Bytes of the key blob: 35 words.
    uint256 internal constant KEY_BYTES = 1120;
    /// @dev Bytes of a step (its witness and cross-term commitments; a challenged step's prefix
    ///      commitment comes first, 64 more), and of the fixed fold part (the random instance, its
    ///      cross term, r_W and r_E).
    uint256 internal constant STEP_BYTES = 128;
    uint256 internal constant FOLD_BYTES = 416;

    /// @notice The registry of the models this verifier serves.
    ModelRegistry public immutable registry;
    /// @notice Computes z_0 and z_L from inputs and outputs.
    StepCommitments public immutable commitments;
    /// @notice Published key blobs by keccak256: the data contract holding each.
    mapping(bytes32 => address) public keyOf;
    /// @notice Keys of the tile circuit (`publishTileKey`).
    mapping(bytes32 => bool) public isTileKey;

    /// @dev A verifying key (the blob, decoded). Points are (x, y); G2 points in EIP-197 order.
    struct Key {
        uint256 outer; // log2 of the padded constraint count: outer sum-check rounds
        uint256 inner; // log2 of MicroSpartan's N: inner rounds, HyperKZG variables
        uint256 logVars; // log2 of the padded variable count
        uint256 digest; // nova-snark's digest of MicroSpartan's verifying key
        uint256[2] g; // G1 generator of the commitment key
        uint256[4] h; // G2 generator
        uint256[4] tauH; // tau · H
        uint256[14] s; // val_A, val_B, val_C, row, ts_row, col, ts_col
        uint256[2] blind; // the blinding generator (derandomization)
        uint256 prefix; // challenged steps: the prefix committed before the challenge (0: plain)
        uint256[4] tauS; // challenged steps: tau^prefix · H (zero for plain steps)
    }

    /// @dev The support check's two points (challenged steps): e(s, H) = e(Q, tau^prefix · H).
    struct Support {
        uint256[2] s; // Σ r_j · C2_j
        uint256 q; // calldata offset of Q
    }

    /// @dev A relaxed R1CS instance.
    /// @dev What a segment proof claims: the context and each step's last public input.
    struct Claim {
        uint256 model;
        uint256 requestId;
        uint256 from;
        uint256[] last; // the model commitment, or the tile commitment of a tiled model
    }

    struct Instance {
        uint256[2] w;
        uint256[2] e;
        uint256 u;
        uint256[4] x;
    }

    /// @dev The Keccak transcript (nova-snark's `Keccak256Transcript` with `evm`): a 64-byte state
    ///      hi ‖ lo, a round counter, and the bytes absorbed since the last squeeze at [start, ptr).
    struct Transcript {
        uint256 hi;
        uint256 lo;
        uint256 round;
        uint256 start;
        uint256 ptr;
    }

    /// @dev MicroSpartan's verifier state between its phases.
    struct Spartan {
        uint256 at; // calldata offset of the snark
        uint256 claims; // calldata offset of the 4 outer claims (Az, Bz, Cz, E)
        uint256 evals; // calldata offset of the 15 evaluations
        uint256 kzg; // calldata offset of HyperKZG's argument
        uint256 factor; // Π (1 - r_pad)
        uint256 c;
        uint256 gamma;
        uint256 r;
        uint256 coeff; // s: the claims' batching challenge
        uint256[] rOuter; // r_pad ‖ r_outer
        uint256[] rho;
        uint256[] rInner; // the inner sum-check's point
        uint256[5] io; // the folded instance's (u, X)
        Support support; // checked with HyperKZG's pairing (challenged steps)
    }

    constructor(ModelRegistry registry_, StepCommitments commitments_) {
        registry = registry_;
        commitments = commitments_;
    }

    /*//////////////////////////////////////////////////////////////
                                EXTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @notice Publishes a key blob (`fraud-prover export-verifier`); anyone may, once per blob.
    ///         A model registered with `vkDigest = keccak256(vk)` is then verified under it.
    function publishKey(bytes calldata vk) external returns (bytes32 vkDigest) {
        vkDigest = _publish(vk);
    }

    /// @notice Publishes the key blob of the tile circuit (`verdict_circuits::tiled`), one key for
    ///         every tiled model. Proofs under it take each step's last public input, the tile
    ///         commitment T_t, from the proof's tile paths, checked against the model's registered
    ///         tiled commitment. Anyone may; marking a key of another circuit as a tile key only
    ///         makes proofs under it fail.
    function publishTileKey(bytes calldata vk) external returns (bytes32 vkDigest) {
        vkDigest = _publish(vk);
        isTileKey[vkDigest] = true;
    }

    /// @inheritdoc IInferenceVerifier
    function inputCommitment(uint256, bytes calldata input) external view returns (bytes32) {
        return commitments.commitment(0, input, 8);
    }

    /// @inheritdoc IInferenceVerifier
    function outputCommitment(uint256 modelId, bytes calldata output) external view returns (bytes32) {
        return commitments.commitment(registry.model(modelId).steps, output, 32);
    }

    /// @inheritdoc IInferenceVerifier
    /// @dev Returns true or reverts with the reason for rejection.
    function verifySegment(
        uint256 modelId,
        uint256 requestId,
        uint256 from,
        uint256 to,
        bytes32[] calldata steps,
        bytes calldata proof
    ) external view returns (bool) {
        (Key memory k, Claim memory c, uint256 at) = _prepare(modelId, from, to, steps, proof);
        c.requestId = requestId;
        (Instance memory u, uint256 snark, Support memory support) = _fold(k, at, c, steps);
        _spartan(k, u, snark, support);
        return true;
    }

    /*//////////////////////////////////////////////////////////////
                           KEYS AND VALIDATION
    //////////////////////////////////////////////////////////////*/

    /// @dev The model's key and commitment, and for a model under the tile key the depth of its
    ///      tile tree (0 otherwise), after checking the segment and its step commitments.
    function _model(uint256 modelId, uint256 from, uint256 to, bytes32[] calldata steps)
        internal
        view
        returns (Key memory k, uint256 model, uint256 depth)
    {
        ModelRegistry.Model memory m = registry.model(modelId);
        // INVARIANT: a segment is a non-empty range of the model's steps, with one commitment at
        // each end of each step.
        if (from >= to || to > m.steps) revert NovaVerifierBadSegment(from, to, m.steps);
        if (steps.length != to - from + 1) revert NovaVerifierBadStepCount(to - from + 1, steps.length);
        // INVARIANT: the model and step commitments are scalars (the circuit's public IO).
        model = uint256(m.commitment);
        if (model >= R) revert NovaVerifierNotCanonical(type(uint256).max);
        for (uint256 i; i < steps.length; ++i) {
            if (uint256(steps[i]) >= R) revert NovaVerifierNotCanonical(i);
        }
        k = _key(m.vkDigest);
        // The tree over [M, T_0, …, T_{L-1}] has at least two leaves: depth ≥ 1.
        if (isTileKey[m.vkDigest]) depth = TraceMerkle.depth(uint256(m.steps) + 1);
    }

    /// @dev The key, the model commitment, each step's last public input and the proof's
    ///      calldata offset, after every check of the claims and of the proof's encoding.
    function _prepare(uint256 modelId, uint256 from, uint256 to, bytes32[] calldata steps, bytes calldata proof)
        internal
        view
        returns (Key memory k, Claim memory c, uint256 at)
    {
        uint256 depth;
        (k, c.model, depth) = _model(modelId, from, to, steps);
        (c.from, c.last) = (from, new uint256[](to - from));
        at = _proof(k, to - from, proof, depth == 0 ? 0 : 32 * (to - from + _rangeSiblings(from + 1, to, depth)));
        if (depth == 0) {
            for (uint256 j; j < c.last.length; ++j) {
                c.last[j] = c.model;
            }
        } else {
            _tiles(c, depth, at + _head(k, c.last.length) + FOLD_BYTES + _snarkBytes(k));
        }
    }

    /// @dev Siblings of a range proof of the leaves lo..=hi (`verdict_circuits::range_proof_len`):
    ///      at each level, the left neighbour if the range starts at an odd index, then the right
    ///      one if it ends at an even index.
    function _rangeSiblings(uint256 lo, uint256 hi, uint256 depth) internal pure returns (uint256 n) {
        for (uint256 level; level < depth; ++level) {
            if (lo & 1 == 1) (n, lo) = (n + 1, lo - 1);
            if (hi & 1 == 0) (n, hi) = (n + 1, hi + 1);
            (lo, hi) = (lo >> 1, hi >> 1);
        }
    }

    /// @dev The tile commitments T_from..T_{to-1} at calldata offset `at`, followed by one range
    ///      proof of the leaves from + 1 ..= to of the tree over [M, T_0, …] whose root, reduced
    ///      modulo R, must be the registered commitment (`verdict_circuits::tiled`).
    function _tiles(Claim memory c, uint256 depth, uint256 at) internal pure {
        uint256[] memory last = c.last;
        uint256 from = c.from;
        uint256 bad = type(uint256).max;
        uint256 root;
        assembly ("memory-safe") {
            // `TraceMerkle.leaf` and `TraceMerkle.node`, with h as scratch for the 65 bytes. (The
            // walk in Solidity calling them cost 8–13k more a proof, 1.1k more an extra tile.)
            function hash(h, tag, a, b) -> v {
                mstore8(h, tag)
                mstore(add(h, 1), a)
                mstore(add(h, 33), b)
                v := keccak256(h, 65)
            }
            let n := mload(last)
            // A level's nodes sit at slots b..b+n of `nodes` (b = 1, or 0 with a left sibling),
            // and each pass writes its parents from slot 1: slot 1 + i reads slots b + 2i and
            // b + 2i + 1, neither below it.
            let nodes := mload(0x40)
            let h := add(nodes, mul(32, add(n, 3)))
            let lo := add(from, 1)
            let hi := add(from, n)
            for { let j := 0 } lt(j, n) { j := add(j, 1) } {
                let tile := calldataload(add(at, mul(32, j)))
                // INVARIANT: a tile commitment is a scalar (the circuit's public IO).
                if iszero(lt(tile, R)) {
                    bad := add(at, mul(32, j))
                    break
                }
                mstore(add(last, mul(32, add(j, 1))), tile)
                mstore(add(nodes, mul(32, add(j, 1))), hash(h, 0, add(lo, j), tile))
            }
            let s := add(at, mul(32, n))
            for { let level := 0 } lt(level, depth) { level := add(level, 1) } {
                let b := 1
                if and(lo, 1) {
                    mstore(nodes, calldataload(s))
                    s := add(s, 32)
                    n := add(n, 1)
                    lo := sub(lo, 1)
                    b := 0
                }
                if iszero(and(hi, 1)) {
                    mstore(add(nodes, mul(32, add(b, n))), calldataload(s))
                    s := add(s, 32)
                    n := add(n, 1)
                    hi := add(hi, 1)
                }
                n := shr(1, n)
                for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                    let l := add(nodes, mul(32, add(b, mul(2, i))))
                    mstore(add(nodes, mul(32, add(1, i))), hash(h, 1, mload(l), mload(add(l, 32))))
                }
                lo := shr(1, lo)
                hi := shr(1, hi)
            }
            root := mload(add(nodes, 32))
        }
        if (bad != type(uint256).max) revert NovaVerifierNotCanonical(bad);
        // INVARIANT: the segment's tile commitments are the model's, at their own positions.
        if (root % R != c.model) revert NovaVerifierBadTile(c.from);
    }

    function _publish(bytes calldata vk) internal returns (bytes32 vkDigest) {
        _checkKey(vk);
        vkDigest = keccak256(vk);
        if (keyOf[vkDigest] != address(0)) return vkDigest;
        address pointer = DataContract.write(vk);
        keyOf[vkDigest] = pointer;
        emit KeyPublished(vkDigest, pointer);
    }

    /// @dev The proof's calldata offset, after checking its length and every value in it.
    function _proof(Key memory k, uint256 steps, bytes calldata proof, uint256 paths)
        internal
        pure
        returns (uint256 at)
    {
        uint256 expected = _head(k, steps) + FOLD_BYTES + _snarkBytes(k) + paths;
        if (proof.length != expected) revert NovaVerifierBadProofLength(expected, proof.length);
        assembly ("memory-safe") {
            at := proof.offset
        }
        // INVARIANT: every value read from the proof is canonical, every point on the curve.
        _checkProof(k, at, steps);
    }

    function _checkKey(bytes calldata vk) internal view {
        if (vk.length != KEY_BYTES) revert NovaVerifierBadKey();
        Key memory k = abi.decode(vk, (Key));
        // INVARIANT: sizes the verifier handles (MicroSpartan pads N ≥ 2 · vars ≥ 2 · constraints;
        // the public IO polynomial needs 2^4 variables).
        if (k.outer == 0 || k.inner <= k.outer || k.logVars < 4 || k.logVars + 1 > k.inner || k.inner > 40) {
            revert NovaVerifierBadKey();
        }
        if (k.digest >= R || !_onCurve(k.g[0], k.g[1]) || !_onCurve(k.blind[0], k.blind[1])) {
            revert NovaVerifierBadKey();
        }
        // INVARIANT: a plain key has no prefix and no tau^prefix; a challenged key's prefix is a
        // proper part of the witness and its tau^prefix · H a G2 point (checked below).
        bool challenged = k.prefix != 0;
        bool noTauS = (k.tauS[0] | k.tauS[1] | k.tauS[2] | k.tauS[3]) == 0;
        if (challenged == noTauS || k.prefix >= 2 ** k.logVars) revert NovaVerifierBadKey();
        for (uint256 i; i < 14; i += 2) {
            if (!_onCurve(k.s[i], k.s[i + 1])) revert NovaVerifierBadKey();
        }
        // INVARIANT: H and tau·H are G2 points of the right subgroup, neither the identity: the
        // pairing precompile refuses any that is not (EIP-197), here paired with the G1 identity.
        if ((k.h[0] | k.h[1] | k.h[2] | k.h[3]) == 0 || (k.tauH[0] | k.tauH[1] | k.tauH[2] | k.tauH[3]) == 0) {
            revert NovaVerifierBadKey();
        }
        // A refused point makes the precompile take all the gas it is given: give it what three
        // pairs cost (EIP-1108: 45,000 + 3 · 34,000) and some.
        uint256[2] memory zero;
        (bool ok, bool one) = _threePairs(k, zero, zero, zero, challenged ? 3 : 2, 200_000);
        if (!ok || !one) revert NovaVerifierBadKey();
    }

    function _key(bytes32 vkDigest) internal view returns (Key memory) {
        address pointer = keyOf[vkDigest];
        if (pointer == address(0)) revert NovaVerifierUnknownKey(vkDigest);
        bytes memory blob = new bytes(KEY_BYTES);
        DataContract.readInto(pointer, blob, 0);
        return abi.decode(blob, (Key));
    }

    /// @dev Bytes of the proof before the fixed fold part: the steps, and for challenged steps
    ///      each step's prefix commitment and the support check's Q.
    function _head(Key memory k, uint256 steps) internal pure returns (uint256) {
        return k.prefix == 0 ? steps * STEP_BYTES : steps * (STEP_BYTES + 64) + 64;
    }

    /// @dev Bytes of MicroSpartan's part: 6 commitments, the outer sum-check, 4 claims, the inner
    ///      sum-check, 15 evaluations, HyperKZG's inner - 1 + 3 commitments and inner rows of 3.
    function _snarkBytes(Key memory k) internal pure returns (uint256) {
        return 384 + 96 * k.outer + 128 + 96 * k.inner + 480 + 64 * (k.inner + 2) + 96 * k.inner;
    }

    function _onCurve(uint256 x, uint256 y) internal pure returns (bool) {
        if (x >= P || y >= P) return false;
        if (x == 0 && y == 0) return true; // the identity
        return mulmod(y, y, P) == addmod(mulmod(mulmod(x, x, P), x, P), 3, P);
    }

    /// @dev Reverts unless the `count` points at `at` are on the curve (or the identity (0, 0)).
    function _points(uint256 at, uint256 count, uint256 base) internal pure {
        uint256 bad = type(uint256).max;
        assembly ("memory-safe") {
            for { let o := at } lt(o, add(at, mul(64, count))) { o := add(o, 64) } {
                let x := calldataload(o)
                let y := calldataload(add(o, 32))
                let ok := and(lt(x, P), lt(y, P))
                if and(ok, iszero(iszero(or(x, y)))) {
                    ok := eq(mulmod(y, y, P), addmod(mulmod(mulmod(x, x, P), x, P), 3, P))
                }
                if iszero(ok) {
                    bad := o
                    break
                }
            }
        }
        if (bad != type(uint256).max) revert NovaVerifierBadPoint(bad - base);
    }

    /// @dev Reverts unless the `count` scalars at `at` are below R.
    function _scalars(uint256 at, uint256 count, uint256 base) internal pure {
        uint256 bad = type(uint256).max;
        assembly ("memory-safe") {
            for { let o := at } lt(o, add(at, mul(32, count))) { o := add(o, 32) } {
                if iszero(lt(calldataload(o), R)) {
                    bad := o
                    break
                }
            }
        }
        if (bad != type(uint256).max) revert NovaVerifierNotCanonical(bad - base);
    }

    /// @dev Walks the flat layout (PROOF_FORMAT.md) and checks every point and scalar.
    function _checkProof(Key memory k, uint256 base, uint256 steps) internal pure {
        uint256 at = base;
        uint256 head = _head(k, steps);
        _points(at, head / 64 + 2, base); // step commitments (and Q), random W and E
        at += head + 128;
        _scalars(at, 5, base); // random X and u
        at += 160;
        _points(at, 1, base); // random cross term
        at += 64;
        _scalars(at, 2, base); // r_W, r_E
        at += 64;
        _points(at, 6, base);
        at += 384;
        uint256 scalars = 3 * k.outer + 4 + 3 * k.inner + 15;
        _scalars(at, scalars, base);
        at += 32 * scalars;
        _points(at, k.inner + 2, base);
        at += 64 * (k.inner + 2);
        _scalars(at, 3 * k.inner, base);
    }

    /*//////////////////////////////////////////////////////////////
                                 FOLDS
    //////////////////////////////////////////////////////////////*/

    /// @dev Replays the folds of `folding::VerifierKeys::verify` (or, under a challenged key,
    ///      `challenged::ChallengedVerifierKeys::verify`, with its support check) and derandomizes.
    ///      Step j's public IO is [from + j, z_j, z_{j+1}, last[j]]: the model commitment, or the
    ///      tile commitment of a tiled model; a challenged step's first input is its challenge.
    function _fold(Key memory k, uint256 at, Claim memory c, bytes32[] calldata steps)
        internal
        view
        returns (Instance memory u, uint256 snark, Support memory sup)
    {
        Transcript memory t = _transcript("VerdictFold", 11, k.inner);
        _label(t, "vk", 2);
        _scalar(t, k.digest);
        _label(t, "ctx", 3);
        _scalar(t, c.model);
        _scalar(t, c.requestId >> 128);
        _scalar(t, c.requestId & type(uint128).max);
        _scalar(t, c.from);
        _scalar(t, c.from + steps.length - 1);
        bool challenged = k.prefix != 0;
        if (challenged) {
            _label(t, "s", 1);
            _scalar(t, k.prefix);
        }
        // Σ r_j · C2_j: what the support check pairs.
        uint256[2] memory support;
        _steps(t, u, support, at, c, steps, challenged);
        uint256 o = at + _head(k, steps.length - 1);
        // The support check runs with HyperKZG's pairing (`_pairing`).
        (sup.s, sup.q) = (support, o - 64);
        // The random instance R: W, E, X[4], u at `o`; its cross term at o + 288; r_W, r_E after.
        _label(t, "U", 1);
        _instance(t, u);
        _label(t, "R", 1);
        _pointAt(t, o);
        _pointAt(t, o + 64);
        _scalar(t, _cd(o + 256));
        for (uint256 i; i < 4; ++i) {
            _scalar(t, _cd(o + 128 + 32 * i));
        }
        _label(t, "T", 1);
        _pointAt(t, o + 288);
        uint256 rr = _squeeze(t, "r", 1);
        for (uint256 i; i < 4; ++i) {
            u.x[i] = addmod(u.x[i], mulmod(rr, _cd(o + 128 + 32 * i), R), R);
        }
        u.u = addmod(u.u, mulmod(rr, _cd(o + 256), R), R);
        _mulAddAt(u.w, o, rr);
        _mulAddAt(u.e, o + 288, rr);
        _mulAddAt(u.e, o + 64, mulmod(rr, rr, R));
        // Derandomize: comm - r · h.
        _mulAdd(u.w, k.blind, (R - _cd(o + 352)) % R);
        _mulAdd(u.e, k.blind, (R - _cd(o + 384)) % R);
        snark = o + FOLD_BYTES;
    }

    /// @dev The steps' folds of `_fold` (the per-step part of the extra-tile cost: no memory is
    ///      allocated a step). Per step j at calldata offset o, with public IO x = [from + j, z_j,
    ///      z_{j+1}, last[j]]: a challenged step absorbs "C1" and its prefix commitment C1 (at o),
    ///      squeezes its challenge "a" into x[0], and its witness commitment is W = C1 + C2 (C2 at
    ///      o + 64); then "u", W and x, "T" and the cross term T, and squeezes r: U ← U + r · (W, T,
    ///      x, 1), and Σ r · C2 for the support check. The running instance U is not absorbed (what
    ///      came before fixes it: `folding.rs`).
    function _steps(
        Transcript memory t,
        Instance memory u,
        uint256[2] memory support,
        uint256 at,
        Claim memory c,
        bytes32[] calldata steps,
        bool challenged
    ) internal view {
        // The step's frame: x (4 words), W (2), 128 bytes of scratch for the precompiles, the
        // segment's first step and its last public inputs (`c.last`), and the step's r.
        uint256[13] memory f;
        (f[10], f[11]) = (c.from, _pointer(c.last));
        uint256 stride = challenged ? STEP_BYTES + 64 : STEP_BYTES;
        for (uint256 j; j + 1 < steps.length; ++j) {
            uint256 o = at + stride * j;
            assembly ("memory-safe") {
                mstore(f, add(mload(add(f, 320)), j))
                mstore(add(f, 32), calldataload(add(steps.offset, shl(5, j))))
                mstore(add(f, 64), calldataload(add(steps.offset, shl(5, add(j, 1)))))
                mstore(add(f, 96), mload(add(mload(add(f, 352)), shl(5, add(j, 1)))))
            }
            if (challenged) {
                _label(t, "C1", 2);
                _pointAt(t, o);
                f[0] = _squeeze(t, "a", 1);
            }
            _absorbStep(t, f, o, challenged);
            f[12] = _squeeze(t, "r", 1);
            _foldStep(u, support, f, challenged ? o + 64 : o, challenged);
        }
    }

    function _pointer(uint256[] memory a) internal pure returns (uint256 p) {
        assembly ("memory-safe") {
            p := a
        }
    }

    /// @dev A step's "u" ‖ W ‖ x ‖ "T" ‖ T into the transcript, with W into the frame `f` (C1 + C2
    ///      for a challenged step: one ecAdd).
    function _absorbStep(Transcript memory t, uint256[13] memory f, uint256 o, bool challenged) internal view {
        bool ok;
        assembly ("memory-safe") {
            function point(p, x, y) -> q {
                mstore(p, x)
                mstore(add(p, 32), y)
                mstore8(add(p, 64), iszero(or(x, y)))
                q := add(p, 65)
            }
            let w := add(f, 128)
            calldatacopy(w, o, 64)
            ok := 1
            if challenged {
                calldatacopy(add(w, 64), add(o, 64), 64)
                ok := staticcall(gas(), 0x06, w, 128, w, 64)
                o := add(o, 64)
            }
            let p := mload(add(t, 128))
            mstore(p, "u")
            p := point(add(p, 1), mload(w), mload(add(w, 32)))
            mcopy(p, f, 128)
            mstore(add(p, 128), "T")
            mstore(add(t, 128), point(add(p, 129), calldataload(add(o, 64)), calldataload(add(o, 96))))
        }
        if (!ok) revert NovaVerifierPrecompile();
    }

    /// @dev U ← U + r · (W, T, x, 1) for the step whose W, x and r are in the frame `f` and whose
    ///      C2 (challenged) and T are at calldata offset `o` and `o + 64`; support ← support + r · C2.
    function _foldStep(Instance memory u, uint256[2] memory support, uint256[13] memory f, uint256 o, bool challenged)
        internal
        view
    {
        bool ok;
        uint256 r = f[12];
        assembly ("memory-safe") {
            // acc ← acc + s · (the point at m), with m's 128 bytes as scratch.
            function mulAdd(acc, m, sc) -> good {
                mstore(add(m, 64), sc)
                good := staticcall(gas(), 0x07, m, 96, add(m, 64), 64)
                mstore(m, mload(acc))
                mstore(add(m, 32), mload(add(acc, 32)))
                good := and(good, staticcall(gas(), 0x06, m, 128, acc, 64))
            }
            let ux := mload(add(u, 96))
            for { let i := 0 } lt(i, 128) { i := add(i, 32) } {
                mstore(add(ux, i), addmod(mload(add(ux, i)), mulmod(r, mload(add(f, i)), R), R))
            }
            mstore(add(u, 64), addmod(mload(add(u, 64)), r, R))
            let m := add(f, 192)
            mcopy(m, add(f, 128), 64)
            ok := mulAdd(mload(u), m, r)
            if challenged {
                calldatacopy(m, o, 64)
                ok := and(ok, mulAdd(support, m, r))
            }
            calldatacopy(m, add(o, 64), 64)
            ok := and(ok, mulAdd(mload(add(u, 32)), m, r))
        }
        if (!ok) revert NovaVerifierPrecompile();
    }

    /*//////////////////////////////////////////////////////////////
                              MICROSPARTAN
    //////////////////////////////////////////////////////////////*/

    /// @dev `ppsnark::RelaxedR1CSSNARK::verify` (nova-snark 0.76, spartan/ppsnark.rs).
    function _spartan(Key memory k, Instance memory u, uint256 at, Support memory support) internal view {
        Transcript memory t = _transcript("RelaxedR1CSSNARK", 16, k.inner);
        _label(t, "vk", 2);
        _scalar(t, k.digest);
        _label(t, "U", 1);
        _instance(t, u);
        Spartan memory s;
        s.at = at;
        s.claims = at + 384 + 96 * k.outer;
        s.evals = s.claims + 128 + 96 * k.inner;
        s.kzg = s.evals + 480;
        s.io = [u.u, u.x[0], u.x[1], u.x[2], u.x[3]];
        s.support = support;
        _outer(k, u, t, s);
        _innerClaims(k, t, s);
        (uint256[2] memory comm, uint256 y) = _batch(k, u, t, s);
        _hyperKzg(k, t, s, comm, y);
    }

    /// @dev The outer sum-check and its final claim; then r_pad and the transcript up to ρ.
    function _outer(Key memory k, Instance memory u, Transcript memory t, Spartan memory s) internal pure {
        uint256[] memory tau = new uint256[](k.outer);
        for (uint256 i; i < k.outer; ++i) {
            tau[i] = _squeeze(t, "t", 1);
        }
        (uint256 e, uint256[] memory rx) = _sumcheck(t, 0, s.at + 384, k.outer);
        uint256 c = s.claims;
        uint256 inner =
            addmod(mulmod(_cd(c), _cd(c + 32), R), R - addmod(mulmod(u.u, _cd(c + 64), R), _cd(c + 96), R), R);
        if (e != mulmod(_eq(tau, rx), inner, R)) revert NovaVerifierOuterSumcheck();
        _label(t, "e", 1);
        _copy(t, c, 128);
        uint256 pad = k.inner - k.outer;
        s.rOuter = new uint256[](k.inner);
        s.factor = 1;
        for (uint256 i; i < pad; ++i) {
            uint256 r = _squeeze(t, "p", 1);
            s.rOuter[i] = r;
            s.factor = mulmod(s.factor, R + 1 - r, R);
        }
        for (uint256 i; i < k.outer; ++i) {
            s.rOuter[pad + i] = rx[i];
        }
        _label(t, "e", 1);
        _pointAt(t, s.at);
        _pointAt(t, s.at + 64);
        s.c = _squeeze(t, "c", 1);
        s.gamma = _squeeze(t, "g", 1);
        s.r = _squeeze(t, "r", 1);
        _label(t, "l", 1);
        for (uint256 i = 2; i < 6; ++i) {
            _pointAt(t, s.at + 64 * i);
        }
        s.rho = new uint256[](k.inner);
        for (uint256 i; i < k.inner; ++i) {
            s.rho[i] = _squeeze(t, "r", 1);
        }
        s.coeff = _squeeze(t, "r", 1);
    }

    /// @dev The inner batched sum-check (9 claims) and its final claim.
    function _innerClaims(Key memory k, Transcript memory t, Spartan memory s) internal pure {
        uint256[9] memory co = _powers9(s.coeff);
        uint256 c = s.claims;
        uint256 abc =
            addmod(addmod(_cd(c), mulmod(s.c, _cd(c + 32), R), R), mulmod(mulmod(s.c, s.c, R), _cd(c + 64), R), R);
        uint256 claim =
            addmod(mulmod(co[6], mulmod(s.factor, abc, R), R), mulmod(co[7], mulmod(s.factor, _cd(c + 96), R), R), R);
        uint256 e;
        (e, s.rInner) = _sumcheck(t, claim, c + 128, k.inner);
        if (e != _innerExpected(k, s, co)) revert NovaVerifierInnerSumcheck();
    }

    /// @dev Evaluation `i` of the 15 in the proof's order: E, L_row, L_col, val_A, val_B, val_C,
    ///      W, t⁻¹_row, row, w⁻¹_row, ts_row, t⁻¹_col, col, w⁻¹_col, ts_col.
    function _ev(Spartan memory s, uint256 i) internal pure returns (uint256) {
        return _cd(s.evals + 32 * i);
    }

    /// @dev The final claim the inner sum-check must end in (ppsnark.rs, "claim_sc_inner_batched_expected").
    function _innerExpected(Key memory k, Spartan memory s, uint256[9] memory co) internal pure returns (uint256) {
        (uint256 eqLo, uint256 eqHi, uint256 maskLo) = _outerEq(k, s);
        uint256 eqOuter = mulmod(eqLo, eqHi, R);
        uint256 total = _memoryClaims(s, co, _identity(s.rInner), eqOuter, _evalZ(k, s));
        // ABC: L_row · L_col · (val_A + c·val_B + c²·val_C).
        uint256 abc =
            addmod(addmod(_ev(s, 3), mulmod(s.c, _ev(s, 4), R), R), mulmod(mulmod(s.c, s.c, R), _ev(s, 5), R), R);
        total = addmod(total, mulmod(co[6], mulmod(mulmod(_ev(s, 1), _ev(s, 2), R), abc, R), R), R);
        total = addmod(total, mulmod(co[7], mulmod(eqOuter, _ev(s, 0), R), R), R);
        // The witness bound: the masked eq (eq_lo − mask_lo) · eq_hi.
        uint256 masked = mulmod(addmod(eqLo, R - maskLo, R), eqHi, R);
        return addmod(total, mulmod(co[8], mulmod(masked, _ev(s, 6), R), R), R);
    }

    /// @dev eq(r_outer_full, x) split at ν − log(vars): (eq_lo, eq_hi, Π_lo (1 − r)(1 − x)).
    function _outerEq(Key memory k, Spartan memory s)
        internal
        pure
        returns (uint256 eqLo, uint256 eqHi, uint256 maskLo)
    {
        uint256 split = k.inner - k.logVars;
        uint256 n = k.inner;
        uint256[] memory ro = s.rOuter;
        uint256[] memory ri = s.rInner;
        assembly ("memory-safe") {
            eqLo := 1
            eqHi := 1
            maskLo := 1
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let a := mload(add(ro, mul(32, add(i, 1))))
                let b := mload(add(ri, mul(32, add(i, 1))))
                let zero := mulmod(sub(add(R, 1), a), sub(add(R, 1), b), R)
                let term := addmod(mulmod(a, b, R), zero, R)
                switch lt(i, split)
                case 1 {
                    eqLo := mulmod(eqLo, term, R)
                    maskLo := mulmod(maskLo, zero, R)
                }
                default { eqHi := mulmod(eqHi, term, R) }
            }
        }
    }

    /// @dev The identity polynomial: Σ 2^(ν−1−i) · x_i.
    function _identity(uint256[] memory x) internal pure returns (uint256 id) {
        assembly ("memory-safe") {
            let end := add(x, mul(32, mload(x)))
            for { let p := add(x, 32) } iszero(gt(p, end)) { p := add(p, 32) } {
                id := addmod(addmod(id, id, R), mload(p), R)
            }
        }
    }

    /// @dev Z at the inner point: W's evaluation plus the public IO (u, X) as a sparse polynomial.
    function _evalZ(Key memory k, Spartan memory s) internal pure returns (uint256) {
        uint256[] memory x = s.rInner;
        uint256 nu = k.inner;
        uint256 l = nu - k.logVars - 1;
        uint256 unpad = 1;
        for (uint256 i; i < l; ++i) {
            unpad = mulmod(unpad, R + 1 - x[i], R);
        }
        // The IO (u, X0..X3) sits at indices 0..4 of the last 3 variables; every higher variable
        // of the unpadded point is 0 there.
        uint256 common = 1;
        for (uint256 i = nu - k.logVars; i < nu - 3; ++i) {
            common = mulmod(common, R + 1 - x[i], R);
        }
        uint256 evalX = mulmod(common, _ioSum(s, x[nu - 3], x[nu - 2], x[nu - 1]), R);
        return addmod(_ev(s, 6), mulmod(mulmod(unpad, x[l], R), evalX, R), R);
    }

    /// @dev Σ_j io_j · eq((a, b, c), j) over the 5 IO values (u, X0, X1, X2, X3) at j = 0..4.
    function _ioSum(Spartan memory s, uint256 a, uint256 b, uint256 c) internal pure returns (uint256 sum) {
        uint256 na = R + 1 - a;
        uint256 nb = R + 1 - b;
        uint256 nc = R + 1 - c;
        uint256[5] memory io = s.io;
        sum = mulmod(mulmod(na, nb, R), addmod(mulmod(nc, io[0], R), mulmod(c, io[1], R), R), R);
        sum = addmod(sum, mulmod(mulmod(na, b, R), addmod(mulmod(nc, io[2], R), mulmod(c, io[3], R), R), R), R);
        sum = addmod(sum, mulmod(mulmod(a, nb, R), mulmod(nc, io[4], R), R), R);
    }

    /// @dev The memory-check claims (coefficients 0 to 5).
    function _memoryClaims(Spartan memory s, uint256[9] memory co, uint256 id, uint256 eqOuter, uint256 evalZ)
        internal
        pure
        returns (uint256 total)
    {
        // t_row, w_row, t_col, w_col: each (address + γ·value + r).
        uint256[4] memory m = [
            addmod(addmod(id, mulmod(s.gamma, eqOuter, R), R), s.r, R),
            addmod(addmod(_ev(s, 8), mulmod(s.gamma, _ev(s, 1), R), R), s.r, R),
            addmod(addmod(id, mulmod(s.gamma, evalZ, R), R), s.r, R),
            addmod(addmod(_ev(s, 12), mulmod(s.gamma, _ev(s, 2), R), R), s.r, R)
        ];
        uint256 inner = mulmod(co[2], addmod(mulmod(_ev(s, 7), m[0], R), R - _ev(s, 10), R), R);
        inner = addmod(inner, mulmod(co[3], addmod(mulmod(_ev(s, 9), m[1], R), R - 1, R), R), R);
        inner = addmod(inner, mulmod(co[4], addmod(mulmod(_ev(s, 11), m[2], R), R - _ev(s, 14), R), R), R);
        inner = addmod(inner, mulmod(co[5], addmod(mulmod(_ev(s, 13), m[3], R), R - 1, R), R), R);
        total = mulmod(_eq(s.rho, s.rInner), inner, R);
        total = addmod(total, mulmod(co[0], addmod(_ev(s, 7), R - _ev(s, 9), R), R), R);
        total = addmod(total, mulmod(co[1], addmod(_ev(s, 11), R - _ev(s, 13), R), R), R);
    }

    /// @dev Absorbs the 15 evaluations and batches them and their commitments with the powers of
    ///      a fresh challenge c′ (`PolyEvalInstance::batch`): returns (C, e).
    function _batch(Key memory k, Instance memory u, Transcript memory t, Spartan memory s)
        internal
        view
        returns (uint256[2] memory comm, uint256 e)
    {
        // Transcript and batch order: W, E, L_row, L_col, val_A, val_B, val_C, t⁻¹_row, row,
        // w⁻¹_row, ts_row, t⁻¹_col, col, w⁻¹_col, ts_col; as indices of the proof's order:
        uint8[15] memory order = [6, 0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14];
        _label(t, "e", 1);
        for (uint256 i; i < 15; ++i) {
            _scalar(t, _ev(s, order[i]));
        }
        uint256 c = _squeeze(t, "c", 1);
        // Commitments: U's (0, 1), the proof's (2, 3, 7, 9, 11, 13), the key's (4, 5, 6, 8, 10, 12, 14).
        comm = [u.w[0], u.w[1]];
        uint256 power = 1;
        e = _ev(s, 6);
        uint256 key;
        uint256 own;
        for (uint256 i = 1; i < 15; ++i) {
            power = mulmod(power, c, R);
            e = addmod(e, mulmod(power, _ev(s, order[i]), R), R);
            if (i == 1) {
                _mulAdd(comm, u.e, power);
            } else if (i == 2 || i == 3 || i == 7 || i == 9 || i == 11 || i == 13) {
                _mulAddAt(comm, s.at + 64 * own, power);
                ++own;
            } else {
                _mulAdd(comm, [k.s[2 * key], k.s[2 * key + 1]], power);
                ++key;
            }
        }
    }

    /// @dev `hyperkzg::EvaluationEngine::verify` of (C, x = the inner point, y).
    function _hyperKzg(Key memory k, Transcript memory t, Spartan memory s, uint256[2] memory comm, uint256 y)
        internal
        view
    {
        uint256 nu = k.inner;
        uint256 rows = s.kzg + 64 * (nu + 2); // v: nu rows of (ypos, yneg, Y)
        _label(t, "c", 1);
        for (uint256 j; j + 1 < nu; ++j) {
            _pointAt(t, s.kzg + 64 * j);
        }
        uint256 r = _squeeze(t, "c", 1);
        uint256 bad = _kzgRows(s.rInner, rows, r, y);
        if (bad != type(uint256).max) revert NovaVerifierEvaluations(bad);
        _label(t, "v", 1);
        _copy(t, rows, 96 * nu);
        uint256 q = _squeeze(t, "r", 1);
        uint256 w = s.kzg + 64 * (nu - 1);
        _label(t, "W", 1);
        for (uint256 j; j < 3; ++j) {
            _pointAt(t, w + 64 * j);
        }
        uint256 d0 = _squeeze(t, "d", 1);
        _pairing(k, s.support, _kzgLeft(k, s, comm, r, q, d0), _kzgRight(w, d0));
    }

    /// @dev HyperKZG's row checks: 2r·Y_{i+1} = r(1 − x_{ν−i−1})(ypos_i + yneg_i) + x_{ν−i−1}(ypos_i − yneg_i),
    ///      with Y_ν = y. Returns the first failing row, or type(uint256).max.
    function _kzgRows(uint256[] memory x, uint256 rows, uint256 r, uint256 y) internal pure returns (uint256 bad) {
        bad = type(uint256).max;
        assembly ("memory-safe") {
            let nu := mload(x)
            let twoR := addmod(r, r, R)
            for { let i := 0 } lt(i, nu) { i := add(i, 1) } {
                let o := add(rows, mul(96, i))
                let next := y
                if lt(add(i, 1), nu) { next := calldataload(add(o, 160)) }
                let xi := mload(add(x, mul(32, sub(nu, i))))
                let ypos := calldataload(o)
                let yneg := calldataload(add(o, 32))
                let rhs :=
                    addmod(
                        mulmod(mulmod(r, sub(add(R, 1), xi), R), addmod(ypos, yneg, R), R),
                        mulmod(xi, addmod(ypos, sub(R, yneg), R), R),
                        R
                    )
                if iszero(eq(mulmod(twoR, next, R), rhs)) {
                    bad := i
                    break
                }
            }
        }
    }

    /// @dev L = Σ (1 + d0 + d1)·q^j·[C, com_0, …] + r·w0 − r·d0·w1 + r²·d1·w2 − (B0 + d0·B1 + d1·B2)·G,
    ///      with B_i = Σ_j q^j·v[j][i].
    function _kzgLeft(Key memory k, Spartan memory s, uint256[2] memory comm, uint256 r, uint256 q, uint256 d0)
        internal
        view
        returns (uint256[2] memory left)
    {
        uint256 nu = k.inner;
        uint256 d1 = mulmod(d0, d0, R);
        uint256 qp = addmod(addmod(1, d0, R), d1, R);
        _mulAdd(left, comm, qp);
        for (uint256 j = 1; j < nu; ++j) {
            qp = mulmod(qp, q, R);
            _mulAddAt(left, s.kzg + 64 * (j - 1), qp);
        }
        uint256 w = s.kzg + 64 * (nu - 1);
        _mulAddAt(left, w, r);
        _mulAddAt(left, w + 64, mulmod(R - r, d0, R));
        _mulAddAt(left, w + 128, mulmod(mulmod(r, r, R), d1, R));
        uint256 b = _kzgB(s.kzg + 64 * (nu + 2), nu, q, d0, d1);
        _mulAdd(left, k.g, (R - b) % R);
    }

    /// @dev B_0 + d0·B_1 + d1·B_2 with B_i = Σ_j q^j·v[j][i] (Horner from the last row).
    function _kzgB(uint256 rows, uint256 nu, uint256 q, uint256 d0, uint256 d1) internal pure returns (uint256 b) {
        assembly ("memory-safe") {
            let b0 := 0
            let b1 := 0
            let b2 := 0
            for { let j := nu } gt(j, 0) { j := sub(j, 1) } {
                let o := add(rows, mul(96, sub(j, 1)))
                b0 := addmod(mulmod(b0, q, R), calldataload(o), R)
                b1 := addmod(mulmod(b1, q, R), calldataload(add(o, 32)), R)
                b2 := addmod(mulmod(b2, q, R), calldataload(add(o, 64)), R)
            }
            b := addmod(addmod(b0, mulmod(d0, b1, R), R), mulmod(d1, b2, R), R)
        }
    }

    /// @dev R = w0 + d0·w1 + d0²·w2.
    function _kzgRight(uint256 w, uint256 d0) internal view returns (uint256[2] memory right) {
        right = _cdPoint(w);
        _mulAddAt(right, w + 64, d0);
        _mulAddAt(right, w + 128, mulmod(d0, d0, R));
    }

    /// @dev e(L, H) = e(R, τH): HyperKZG's check. Under a challenged key, with the support check
    ///      e(S, H) = e(Q, τ^prefix · H) (S = Σ r_j C2_j) in the same precompile call:
    ///      e(L + ρS, H) · e(−R, τH) · e(−ρQ, τ^prefix · H) = 1, with ρ = keccak(L, R, S, Q) mod r
    ///      drawn after all four are fixed, holds for at most one ρ unless both checks do. A failure
    ///      is then told apart by the support check alone.
    function _pairing(Key memory k, Support memory sup, uint256[2] memory left, uint256[2] memory right) internal view {
        if (k.prefix == 0) {
            if (!_pairs(k, left, right, k.tauH)) revert NovaVerifierPairing();
            return;
        }
        uint256[2] memory q = _cdPoint(sup.q);
        uint256 rho = uint256(keccak256(abi.encode(left, right, sup.s, q))) % R;
        uint256[2] memory l = [left[0], left[1]];
        _mulAdd(l, sup.s, rho);
        uint256[2] memory rq;
        _mulAdd(rq, q, rho);
        (bool ok, bool one) = _threePairs(k, l, right, rq, 3, gasleft());
        if (!ok) revert NovaVerifierPrecompile();
        if (one) return;
        if (!_pairs(k, sup.s, q, k.tauS)) revert NovaVerifierSupport();
        revert NovaVerifierPairing();
    }

    /// @dev e(a, H) · e(−b, τH) · e(−c, τ^prefix · H) = 1, of its first `pairs` pairs (2 or 3), in
    ///      one pairing precompile call given `gasLimit`: whether the call succeeded, and whether
    ///      the product is 1.
    function _threePairs(
        Key memory k,
        uint256[2] memory a,
        uint256[2] memory b,
        uint256[2] memory c,
        uint256 pairs,
        uint256 gasLimit
    ) internal view returns (bool ok, bool one) {
        uint256[18] memory input = [
            a[0],
            a[1],
            k.h[0],
            k.h[1],
            k.h[2],
            k.h[3],
            b[0],
            b[1] == 0 ? 0 : P - b[1],
            k.tauH[0],
            k.tauH[1],
            k.tauH[2],
            k.tauH[3],
            c[0],
            c[1] == 0 ? 0 : P - c[1],
            k.tauS[0],
            k.tauS[1],
            k.tauS[2],
            k.tauS[3]
        ];
        uint256[1] memory out;
        assembly ("memory-safe") {
            ok := staticcall(gasLimit, 0x08, input, mul(192, pairs), out, 32)
        }
        one = out[0] == 1;
    }

    /// @dev Whether e(a, H) = e(b, g2), as e(a, H) · e(−b, g2) = 1 (one pairing precompile call).
    function _pairs(Key memory k, uint256[2] memory a, uint256[2] memory b, uint256[4] memory g2)
        internal
        view
        returns (bool)
    {
        uint256[12] memory input = [
            a[0], a[1], k.h[0], k.h[1], k.h[2], k.h[3], b[0], b[1] == 0 ? 0 : P - b[1], g2[0], g2[1], g2[2], g2[3]
        ];
        uint256[1] memory out;
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x08, input, 384, out, 32)
        }
        if (!ok) revert NovaVerifierPrecompile();
        return out[0] == 1;
    }

    /*//////////////////////////////////////////////////////////////
                          SUM-CHECK AND FIELD
    //////////////////////////////////////////////////////////////*/

    /// @dev Verifies `rounds` rounds of a degree-3 sum-check starting at `claim`; each round's
    ///      polynomial comes as [c0, c2, c3] (the linear term follows from the running claim).
    function _sumcheck(Transcript memory t, uint256 claim, uint256 at, uint256 rounds)
        internal
        pure
        returns (uint256 e, uint256[] memory r)
    {
        e = claim;
        r = new uint256[](rounds);
        for (uint256 i; i < rounds; ++i) {
            uint256 o = at + 96 * i;
            _label(t, "p", 1);
            _copy(t, o, 96);
            uint256 x = _squeeze(t, "c", 1);
            r[i] = x;
            assembly ("memory-safe") {
                let c0 := calldataload(o)
                let c2 := calldataload(add(o, 32))
                let c3 := calldataload(add(o, 64))
                // The linear term from the running claim: c1 = e − 2·c0 − c2 − c3.
                let c1 := addmod(e, sub(R, addmod(addmod(c0, c0, R), addmod(c2, c3, R), R)), R)
                e := addmod(c0, mulmod(x, addmod(c1, mulmod(x, addmod(c2, mulmod(x, c3, R), R), R), R), R), R)
            }
        }
    }

    /// @dev eq(a, b) = Π (a_i·b_i + (1 - a_i)(1 - b_i)).
    ///      `a` and `b` have the same length (the callers' invariant).
    function _eq(uint256[] memory a, uint256[] memory b) internal pure returns (uint256 acc) {
        assembly ("memory-safe") {
            acc := 1
            let end := add(a, mul(32, mload(a)))
            for {
                let p := add(a, 32)
                let q := add(b, 32)
            } iszero(gt(p, end)) {
                p := add(p, 32)
                q := add(q, 32)
            } {
                let x := mload(p)
                let y := mload(q)
                // x·y + (1 − x)(1 − y), with 1 − v as R + 1 − v (v < R).
                let term := addmod(mulmod(x, y, R), mulmod(sub(add(R, 1), x), sub(add(R, 1), y), R), R)
                acc := mulmod(acc, term, R)
            }
        }
    }

    function _powers9(uint256 s) internal pure returns (uint256[9] memory p) {
        p[0] = 1;
        for (uint256 i = 1; i < 9; ++i) {
            p[i] = mulmod(p[i - 1], s, R);
        }
    }

    function _cd(uint256 at) internal pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := calldataload(at)
        }
    }

    function _cdPoint(uint256 at) internal pure returns (uint256[2] memory p) {
        p[0] = _cd(at);
        p[1] = _cd(at + 32);
    }

    /*//////////////////////////////////////////////////////////////
                               TRANSCRIPT
    //////////////////////////////////////////////////////////////*/

    /// @dev `Keccak256Transcript::new(label)`: state = keccak("NoTR" ‖ label ‖ 1) ‖ keccak(… ‖ 0),
    ///      with a buffer large enough for the largest absorb (HyperKZG's evaluations).
    function _transcript(bytes32 label, uint256 len, uint256 inner) internal pure returns (Transcript memory t) {
        bytes memory buf = new bytes(512 + 96 * inner + 65 * inner);
        assembly ("memory-safe") {
            let start := add(buf, 32)
            mstore(start, "NoTR")
            mstore(add(start, 4), label)
            let end := add(add(start, 4), len)
            mstore8(end, 0)
            mstore(add(t, 32), keccak256(start, add(len, 5)))
            mstore8(end, 1)
            mstore(t, keccak256(start, add(len, 5)))
            mstore(add(t, 96), start)
            mstore(add(t, 128), start)
        }
    }

    function _label(Transcript memory t, bytes32 label, uint256 len) internal pure {
        assembly ("memory-safe") {
            let p := mload(add(t, 128))
            mstore(p, label)
            mstore(add(t, 128), add(p, len))
        }
    }

    function _scalar(Transcript memory t, uint256 x) internal pure {
        assembly ("memory-safe") {
            let p := mload(add(t, 128))
            mstore(p, x)
            mstore(add(t, 128), add(p, 32))
        }
    }

    /// @dev A commitment: x ‖ y ‖ infinity flag (1 for the identity (0, 0)).
    function _point(Transcript memory t, uint256 x, uint256 y) internal pure {
        assembly ("memory-safe") {
            let p := mload(add(t, 128))
            mstore(p, x)
            mstore(add(p, 32), y)
            mstore8(add(p, 64), iszero(or(x, y)))
            mstore(add(t, 128), add(p, 65))
        }
    }

    function _pointAt(Transcript memory t, uint256 at) internal pure {
        _point(t, _cd(at), _cd(at + 32));
    }

    /// @dev `len` bytes of calldata at `at` (scalars, already big-endian).
    function _copy(Transcript memory t, uint256 at, uint256 len) internal pure {
        assembly ("memory-safe") {
            let p := mload(add(t, 128))
            calldatacopy(p, at, len)
            mstore(add(t, 128), add(p, len))
        }
    }

    /// @dev A relaxed instance: W ‖ E ‖ u ‖ X.
    function _instance(Transcript memory t, Instance memory u) internal pure {
        _point(t, u.w[0], u.w[1]);
        _point(t, u.e[0], u.e[1]);
        _scalar(t, u.u);
        for (uint256 i; i < 4; ++i) {
            _scalar(t, u.x[i]);
        }
    }

    /// @dev `squeeze(label)`: keccak(buffer ‖ "NoDS" ‖ round (8 bytes, big-endian) ‖ hi ‖ lo ‖ label
    ///      ‖ b) for b = 0 (lo) and 1 (hi); the challenge is (hi · 2^256 + lo) mod R.
    function _squeeze(Transcript memory t, bytes32 label, uint256 len) internal pure returns (uint256 c) {
        assembly ("memory-safe") {
            let p := mload(add(t, 128))
            let start := mload(add(t, 96))
            mstore(p, "NoDS")
            mstore(add(p, 4), shl(192, mload(add(t, 64))))
            mstore(add(p, 12), mload(t))
            mstore(add(p, 44), mload(add(t, 32)))
            mstore(add(p, 76), label)
            let end := add(add(p, 76), len)
            mstore8(end, 0)
            let lo := keccak256(start, sub(add(end, 1), start))
            mstore8(end, 1)
            let hi := keccak256(start, sub(add(end, 1), start))
            mstore(t, hi)
            mstore(add(t, 32), lo)
            mstore(add(t, 64), add(mload(add(t, 64)), 1))
            mstore(add(t, 128), start)
            c := addmod(mulmod(hi, R256, R), lo, R)
        }
    }

    /*//////////////////////////////////////////////////////////////
                                 CURVE
    //////////////////////////////////////////////////////////////*/

    /// @dev acc ← acc + s · (the point at calldata offset `at`), in place.
    function _mulAddAt(uint256[2] memory acc, uint256 at, uint256 s) internal view {
        uint256 m;
        assembly ("memory-safe") {
            m := mload(0x40)
            calldatacopy(m, at, 64)
        }
        _mulAddScratch(acc, m, s);
    }

    /// @dev acc ← acc + s · p, in place.
    function _mulAdd(uint256[2] memory acc, uint256[2] memory p, uint256 s) internal view {
        uint256 m;
        assembly ("memory-safe") {
            m := mload(0x40)
            mstore(m, mload(p))
            mstore(add(m, 32), mload(add(p, 32)))
        }
        _mulAddScratch(acc, m, s);
    }

    /// @dev acc ← acc + s · (the point at scratch memory `m`, free memory not yet allocated):
    ///      ecMul in place, then ecAdd into acc.
    function _mulAddScratch(uint256[2] memory acc, uint256 m, uint256 s) internal view {
        bool ok;
        assembly ("memory-safe") {
            mstore(add(m, 64), s)
            ok := staticcall(gas(), 0x07, m, 96, add(m, 64), 64)
            mstore(m, mload(acc))
            mstore(add(m, 32), mload(add(acc, 32)))
            ok := and(ok, staticcall(gas(), 0x06, m, 128, acc, 64))
        }
        if (!ok) revert NovaVerifierPrecompile();
    }
}
