// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title DataContract
/// @notice Stores read-only bytes as the code of a contract (cheaper to read than storage) and
///         reads them back. The code starts with a STOP byte, so calling it does nothing.
library DataContract {
    /// @notice Deploying the data failed.
    error DataContractDeployFailed();
    /// @notice The data does not fit one contract (24,575 bytes after the STOP byte).
    error DataContractTooLarge(uint256 length);

    /// @notice Deploys `data` and returns the address holding it.
    function write(bytes memory data) internal returns (address pointer) {
        // INVARIANT: one contract's code is at most 24,576 bytes (EIP-170).
        if (data.length > 24_575) revert DataContractTooLarge(data.length);
        // Init code: PUSH2 len, DUP1, PUSH1 0x0a, RETURNDATASIZE, CODECOPY, RETURNDATASIZE, RETURN;
        // the runtime (0x00 ‖ data) follows it.
        bytes memory init = abi.encodePacked(hex"61", uint16(data.length + 1), hex"80600a3d393df300", data);
        assembly ("memory-safe") {
            pointer := create(0, add(init, 32), mload(init))
        }
        // INVARIANT: a failed deployment never yields an address that reads as data.
        if (pointer == address(0)) revert DataContractDeployFailed();
    }

    /// @notice Appends the data stored at `pointer` to `out` at byte offset `at`; returns the new offset.
    function readInto(address pointer, bytes memory out, uint256 at) internal view returns (uint256) {
        uint256 size = pointer.code.length - 1;
        assembly ("memory-safe") {
            extcodecopy(pointer, add(add(out, 32), at), 1, size)
        }
        return at + size;
    }
}
