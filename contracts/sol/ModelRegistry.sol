// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IInferenceVerifier} from "./interfaces/IInferenceVerifier.sol";

/// @title ModelRegistry
/// @notice Models that Verdict serves: who owns them, what they commit to, how their proofs are
///         checked, and what a request costs. The commitment never changes; fee and URI may.
contract ModelRegistry {
    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice No model has this id.
    error ModelRegistryUnknownModel(uint256 modelId);
    /// @notice Only the model's owner may do this.
    error ModelRegistryNotOwner(uint256 modelId, address caller);
    /// @notice The model is retired already.
    error ModelRegistryRetired(uint256 modelId);
    /// @notice A model commits to something: the commitment and the vk digest must be non-zero.
    error ModelRegistryZeroCommitment();
    /// @notice The verifier must be a contract.
    error ModelRegistryBadVerifier(address verifier);
    /// @notice A model has 1..65535 steps and a non-empty input and output.
    error ModelRegistryBadShape(uint256 steps, uint256 inputLen, uint256 outputLen);

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A model was registered.
    event ModelRegistered(
        uint256 indexed modelId,
        address indexed owner,
        bytes32 commitment,
        bytes32 vkDigest,
        address verifier,
        uint32 steps,
        bool isPrivate,
        uint96 fee,
        string uri
    );
    /// @notice The fee changed.
    event ModelFeeUpdated(uint256 indexed modelId, uint96 fee);
    /// @notice The URI of public weights changed.
    event ModelUriUpdated(uint256 indexed modelId, string uri);
    /// @notice The model takes no new requests; open ones finish.
    event ModelRetired(uint256 indexed modelId);

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @notice A registered model.
    struct Model {
        address owner;
        uint96 fee;
        bytes32 commitment;
        bytes32 vkDigest;
        address verifier;
        uint32 steps;
        uint16 inputLen;
        uint16 outputLen;
        bool isPrivate;
        bool retired;
        string uri;
    }

    /// @notice Models by id; ids start at 1.
    mapping(uint256 => Model) internal _models;
    /// @notice The number of models registered (the last id).
    uint256 public modelCount;

    /*//////////////////////////////////////////////////////////////
                               EXTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @notice Registers a model owned by the caller.
    /// @param commitment The model commitment (architecture, quantization, weights).
    /// @param vkDigest The digest of the verifying key its proofs are made against.
    /// @param verifier The contract that checks its proofs.
    /// @param steps L, the number of steps of a trace.
    /// @param inputLen int8 input values.
    /// @param outputLen int32 output values.
    /// @param isPrivate Whether the weights are private (then the proposer proves whole inferences).
    /// @param fee Paid to the owner for each finalized request.
    /// @param uri Where public weights can be fetched (empty for private models).
    function register(
        bytes32 commitment,
        bytes32 vkDigest,
        address verifier,
        uint32 steps,
        uint16 inputLen,
        uint16 outputLen,
        bool isPrivate,
        uint96 fee,
        string calldata uri
    ) external returns (uint256 modelId) {
        // INVARIANT: a model commits to its weights and its verifying key.
        if (commitment == bytes32(0) || vkDigest == bytes32(0)) revert ModelRegistryZeroCommitment();
        // INVARIANT: proofs are checked by code, never by an account that could answer anything.
        if (verifier.code.length == 0) revert ModelRegistryBadVerifier(verifier);
        // INVARIANT: a trace has 1..65535 steps, an input and an output.
        if (steps == 0 || steps > type(uint16).max || inputLen == 0 || outputLen == 0) {
            revert ModelRegistryBadShape(steps, inputLen, outputLen);
        }
        modelId = ++modelCount;
        _models[modelId] = Model({
            owner: msg.sender,
            fee: fee,
            commitment: commitment,
            vkDigest: vkDigest,
            verifier: verifier,
            steps: steps,
            inputLen: inputLen,
            outputLen: outputLen,
            isPrivate: isPrivate,
            retired: false,
            uri: uri
        });
        emit ModelRegistered(modelId, msg.sender, commitment, vkDigest, verifier, steps, isPrivate, fee, uri);
    }

    /// @notice Sets the fee of a model (owner only).
    function setFee(uint256 modelId, uint96 fee) external {
        _owned(modelId).fee = fee;
        emit ModelFeeUpdated(modelId, fee);
    }

    /// @notice Sets the URI of a model's public weights (owner only).
    function setUri(uint256 modelId, string calldata uri) external {
        _owned(modelId).uri = uri;
        emit ModelUriUpdated(modelId, uri);
    }

    /// @notice Retires a model: new requests are refused, open ones finish (owner only).
    function retire(uint256 modelId) external {
        Model storage m = _owned(modelId);
        // INVARIANT: retiring is a one-way step.
        if (m.retired) revert ModelRegistryRetired(modelId);
        m.retired = true;
        emit ModelRetired(modelId);
    }

    /*//////////////////////////////////////////////////////////////
                               INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _owned(uint256 modelId) internal view returns (Model storage m) {
        m = _models[modelId];
        // INVARIANT: only registered models exist.
        if (m.owner == address(0)) revert ModelRegistryUnknownModel(modelId);
        // INVARIANT: only the owner changes a model.
        if (m.owner != msg.sender) revert ModelRegistryNotOwner(modelId, msg.sender);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice A registered model; reverts for unknown ids.
    function model(uint256 modelId) external view returns (Model memory m) {
        m = _models[modelId];
        // INVARIANT: only registered models exist.
        if (m.owner == address(0)) revert ModelRegistryUnknownModel(modelId);
    }

    /// @notice The verifier of a model's proofs; reverts for unknown ids.
    function verifierOf(uint256 modelId) external view returns (IInferenceVerifier) {
        address v = _models[modelId].verifier;
        // INVARIANT: only registered models exist.
        if (v == address(0)) revert ModelRegistryUnknownModel(modelId);
        return IInferenceVerifier(v);
    }
}
