// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TraceMerkle} from "../../sol/TraceMerkle.sol";

/// @dev Builds whole trace trees in memory, independently of `TraceMerkle.verify`'s proof walk.
library Trees {
    function levels(bytes32[] memory zs) internal pure returns (bytes32[][] memory out) {
        uint256 d = TraceMerkle.depth(zs.length);
        out = new bytes32[][](d + 1);
        out[0] = new bytes32[](uint256(1) << d);
        for (uint256 i; i < zs.length; ++i) {
            out[0][i] = TraceMerkle.leaf(i, zs[i]);
        }
        for (uint256 l = 1; l <= d; ++l) {
            out[l] = new bytes32[](out[l - 1].length / 2);
            for (uint256 i; i < out[l].length; ++i) {
                out[l][i] = TraceMerkle.node(out[l - 1][2 * i], out[l - 1][2 * i + 1]);
            }
        }
    }

    function root(bytes32[] memory zs) internal pure returns (bytes32) {
        bytes32[][] memory l = levels(zs);
        return l[l.length - 1][0];
    }

    function proof(bytes32[] memory zs, uint256 index) internal pure returns (bytes32[] memory p) {
        bytes32[][] memory l = levels(zs);
        p = new bytes32[](l.length - 1);
        for (uint256 i; i < p.length; ++i) {
            p[i] = l[i][index ^ 1];
            index >>= 1;
        }
    }
}
