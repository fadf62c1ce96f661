// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Poseidon
/// @notice The Poseidon sponge of Verdict's commitments over BN254's scalar field: nova-snark
///         0.76's neptune port, `Strength::Standard`, arity 8 (width 9), 8 full and 57 partial
///         rounds, in neptune's optimized static form. Spec: circuits/COMMITMENTS.md.
/// @dev The 1,260 constants (40,320 bytes) are too large for contract code, so they live in two
///      data contracts (see `DataContract`) and are passed in memory, big-endian words in this
///      order: 129 compressed round constants, the MDS matrix M (row major), the pre-sparse
///      matrix P (row major), then per partial round w_hat (9) followed by v_rest (8).
///      `verdict_circuits::PoseidonParams::to_words` writes them; tests compare with Rust vectors.
library Poseidon {
    /// @notice The constants blob has the wrong size.
    error PoseidonBadConstants(uint256 length);

    uint256 internal constant P = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;
    uint256 internal constant WORDS = 1260;
    uint256 internal constant OFF_M = 129;
    uint256 internal constant OFF_PSM = 210;
    uint256 internal constant OFF_SM = 291;

    /// @notice The sponge's initial capacity element for [Absorb(n), Squeeze(1)], domain 0: the
    ///         neptune IO-pattern hash, x·(n + 2^31) + x^2 mod 2^128 with x = 2^128 - 159.
    function tag(uint256 n) internal pure returns (uint256) {
        unchecked {
            uint256 x = (1 << 128) - 159;
            return (x * (n + (1 << 31)) + x * x) & type(uint128).max;
        }
    }

    /// @notice Hash of `elements` (each < P): state [tag, 0…]; each group of up to 8 is added into
    ///         the rate and permuted; the output is state[1].
    function hash(uint256[] memory elements, bytes memory c) internal pure returns (uint256) {
        // INVARIANT: the permutation reads exactly the exported constants.
        if (c.length != WORDS * 32) revert PoseidonBadConstants(c.length);
        uint256[9] memory s;
        s[0] = tag(elements.length);
        uint256 n = elements.length;
        if (n == 0) permute(s, c);
        for (uint256 i; i < n; i += 8) {
            uint256 end = i + 8 < n ? i + 8 : n;
            for (uint256 j = i; j < end; ++j) {
                s[1 + j - i] = addmod(s[1 + j - i], elements[j], P);
            }
            permute(s, c);
        }
        return s[1];
    }

    /// @notice The permutation, in place.
    function permute(uint256[9] memory s, bytes memory c) internal pure {
        assembly ("memory-safe") {
            function sbox(x) -> y {
                let x2 := mulmod(x, x, P)
                y := mulmod(mulmod(x2, x2, P), x, P)
            }
            // S-box on every element, plus the next 9 round constants unless `last`; returns the
            // next constant's address.
            function fullRound(st, k, last) -> next {
                next := k
                for { let i := 0 } lt(i, 9) { i := add(i, 1) } {
                    let a := add(st, shl(5, i))
                    let y := sbox(mload(a))
                    if iszero(last) {
                        y := addmod(y, mload(next), P)
                        next := add(next, 32)
                    }
                    mstore(a, y)
                }
            }
            // t_j = Σ_i A[i][j] s_i (the pre-sparse matrix).
            function mulColumns(st, t, a) {
                for { let j := 0 } lt(j, 9) { j := add(j, 1) } {
                    let acc := 0
                    for { let i := 0 } lt(i, 9) { i := add(i, 1) } {
                        acc := addmod(
                            acc,
                            mulmod(mload(add(a, shl(5, add(mul(i, 9), j)))), mload(add(st, shl(5, i))), P),
                            P
                        )
                    }
                    mstore(add(t, shl(5, j)), acc)
                }
            }
            // t_i = Σ_j A[i][j] s_j (the MDS matrix).
            function mulRows(st, t, a) {
                for { let i := 0 } lt(i, 9) { i := add(i, 1) } {
                    let acc := 0
                    for { let j := 0 } lt(j, 9) { j := add(j, 1) } {
                        acc := addmod(
                            acc,
                            mulmod(mload(add(a, shl(5, add(mul(i, 9), j)))), mload(add(st, shl(5, j))), P),
                            P
                        )
                    }
                    mstore(add(t, shl(5, i)), acc)
                }
            }
            // t_0 = Σ_i w_hat[i] s_i; t_j = s_j + v_rest[j-1] s_0.
            function mulSparse(st, t, w) {
                let s0 := mload(st)
                let acc := 0
                for { let i := 0 } lt(i, 9) { i := add(i, 1) } {
                    acc := addmod(acc, mulmod(mload(add(w, shl(5, i))), mload(add(st, shl(5, i))), P), P)
                }
                mstore(t, acc)
                for { let j := 1 } lt(j, 9) { j := add(j, 1) } {
                    mstore(
                        add(t, shl(5, j)),
                        addmod(mload(add(st, shl(5, j))), mulmod(mload(add(w, shl(5, add(8, j)))), s0, P), P)
                    )
                }
            }
            let base := add(c, 32)
            let t := mload(0x40) // scratch (9 words, not allocated: nothing else runs meanwhile)
            let k := base
            for { let i := 0 } lt(i, 9) { i := add(i, 1) } {
                let a := add(s, shl(5, i))
                mstore(a, addmod(mload(a), mload(k), P))
                k := add(k, 32)
            }
            for { let round := 0 } lt(round, 65) { round := add(round, 1) } {
                switch or(lt(round, 4), gt(round, 60))
                case 1 { k := fullRound(s, k, eq(round, 64)) }
                default {
                    mstore(s, addmod(sbox(mload(s)), mload(k), P))
                    k := add(k, 32)
                }
                switch eq(round, 3)
                case 1 { mulColumns(s, t, add(base, shl(5, OFF_PSM))) }
                default {
                    switch and(gt(round, 3), lt(round, 61))
                    case 1 { mulSparse(s, t, add(base, shl(5, add(OFF_SM, mul(sub(round, 4), 17))))) }
                    default { mulRows(s, t, add(base, shl(5, OFF_M))) }
                }
                for { let i := 0 } lt(i, 9) { i := add(i, 1) } {
                    mstore(add(s, shl(5, i)), mload(add(t, shl(5, i))))
                }
            }
        }
    }
}
