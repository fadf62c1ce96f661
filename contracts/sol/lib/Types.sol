// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice A length of time in seconds (liveness windows, chess clocks, proof windows).
type Duration is uint64;

/// @notice A point in time: a block timestamp in seconds.
type Timestamp is uint64;

using {plus, passed} for Timestamp global;

/// @notice `t + d`.
function plus(Timestamp t, Duration d) pure returns (Timestamp) {
    return Timestamp.wrap(Timestamp.unwrap(t) + Duration.unwrap(d));
}

/// @notice Whether the current block time is at or after `t`.
function passed(Timestamp t) view returns (bool) {
    return block.timestamp >= Timestamp.unwrap(t);
}

/// @notice The current block time.
function now_() view returns (Timestamp) {
    return Timestamp.wrap(uint64(block.timestamp));
}
