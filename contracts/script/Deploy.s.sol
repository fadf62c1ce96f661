// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ModelRegistry} from "../sol/ModelRegistry.sol";
import {InferenceOracle} from "../sol/InferenceOracle.sol";
import {DisputeGame} from "../sol/DisputeGame.sol";
import {Duration} from "../sol/lib/Types.sol";
import {NovaVerifier} from "../sol/NovaVerifier.sol";
import {StepCommitments} from "../sol/StepCommitments.sol";

interface VmScript {
    function startBroadcast() external;
    function stopBroadcast() external;
    function envOr(string calldata name, uint256 defaultValue) external view returns (uint256);
    function envOr(string calldata name, address defaultValue) external view returns (address);
    function envOr(string calldata name, string calldata defaultValue) external view returns (string memory);
    function writeJson(string calldata json, string calldata path) external;
    function toString(address value) external pure returns (string memory);
    function toString(uint256 value) external pure returns (string memory);
    function readFile(string calldata path) external view returns (string memory);
    function parseBytes(string calldata s) external pure returns (bytes memory);
    function trim(string calldata s) external pure returns (string memory);
}

/// @notice Deploys the protocol core (registry, Nova verifier with its Poseidon commitments,
///         oracle, dispute game) and writes the addresses to `VERDICT_DEPLOYMENT` (default
///         `deployments/local.json`) for the services. Register a model with the verifier's
///         address and its key's digest: `fraud-prover export-verifier`, then `publishKey`.
/// @dev Parameters come from the environment (VERDICT_PROPOSER_BOND, VERDICT_CHALLENGER_BOND,
///      VERDICT_LIVENESS_WINDOW, VERDICT_OPERATOR_FEE, VERDICT_BURN_BPS, VERDICT_MAX_CALLBACK_GAS,
///      VERDICT_REQUEST_TIMEOUT, VERDICT_TREASURY, VERDICT_CONFIG_DELAY, VERDICT_MAX_SEGMENT,
///      VERDICT_CLOCK, VERDICT_PROOF_WINDOW); the defaults are short test windows for a local
///      chain. The deployed liveness window is the shortest the owner can ever set.
contract Deploy {
    VmScript internal constant vm = VmScript(address(uint160(uint256(keccak256("hevm cheat code")))));

    function run() external {
        vm.startBroadcast();
        ModelRegistry registry = new ModelRegistry();
        bytes memory poseidon = vm.parseBytes(vm.trim(vm.readFile("data/poseidon_t9.hex")));
        NovaVerifier verifier = new NovaVerifier(registry, new StepCommitments(poseidon));
        InferenceOracle.Config memory config = InferenceOracle.Config({
            livenessWindow: Duration.wrap(uint64(vm.envOr("VERDICT_LIVENESS_WINDOW", uint256(30)))),
            operatorFee: uint96(vm.envOr("VERDICT_OPERATOR_FEE", uint256(0.001 ether))),
            burnBps: uint16(vm.envOr("VERDICT_BURN_BPS", uint256(2_000))),
            maxCallbackGas: uint32(vm.envOr("VERDICT_MAX_CALLBACK_GAS", uint256(500_000))),
            requestTimeout: Duration.wrap(uint64(vm.envOr("VERDICT_REQUEST_TIMEOUT", uint256(600)))),
            treasury: vm.envOr("VERDICT_TREASURY", msg.sender)
        });
        InferenceOracle oracle = new InferenceOracle(
            registry,
            uint96(vm.envOr("VERDICT_PROPOSER_BOND", uint256(1 ether))),
            uint96(vm.envOr("VERDICT_CHALLENGER_BOND", uint256(0.5 ether))),
            Duration.wrap(uint64(vm.envOr("VERDICT_CONFIG_DELAY", uint256(1 days)))),
            config
        );
        DisputeGame game = new DisputeGame(
            oracle,
            uint16(vm.envOr("VERDICT_MAX_SEGMENT", uint256(1))),
            Duration.wrap(uint64(vm.envOr("VERDICT_CLOCK", uint256(120)))),
            Duration.wrap(uint64(vm.envOr("VERDICT_PROOF_WINDOW", uint256(300))))
        );
        oracle.setDisputeGame(address(game));
        vm.stopBroadcast();

        string memory json = string.concat(
            "{\"registry\":\"",
            vm.toString(address(registry)),
            "\",\"oracle\":\"",
            vm.toString(address(oracle)),
            "\",\"dispute_game\":\"",
            vm.toString(address(game)),
            "\",\"verifier\":\"",
            vm.toString(address(verifier)),
            "\",\"chain_id\":",
            vm.toString(block.chainid),
            "}"
        );
        vm.writeJson(json, vm.envOr("VERDICT_DEPLOYMENT", string("deployments/local.json")));
    }
}
