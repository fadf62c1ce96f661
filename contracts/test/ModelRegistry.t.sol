// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {ModelRegistry} from "../sol/ModelRegistry.sol";

contract ModelRegistryTest is Fixture {
    function test_register_succeeds() public {
        vm.prank(user);
        uint256 id =
            registry.register(keccak256("m"), keccak256("vk"), address(verifier), 3, 16, 1, false, 5, "ipfs://w");
        ModelRegistry.Model memory m = registry.model(id);
        assertEq(id, 3);
        assertEq(m.owner, user);
        assertEq(m.commitment, keccak256("m"));
        assertEq(m.vkDigest, keccak256("vk"));
        assertEq(m.verifier, address(verifier));
        assertEq(m.steps, 3);
        assertEq(m.inputLen, 16);
        assertEq(m.outputLen, 1);
        assertEq(m.fee, 5);
        assertEq(address(registry.verifierOf(id)), address(verifier));
        assertEq(registry.modelCount(), 3);
    }

    function test_register_zeroCommitment_reverts() public {
        vm.expectRevert(ModelRegistry.ModelRegistryZeroCommitment.selector);
        registry.register(bytes32(0), keccak256("vk"), address(verifier), 3, 16, 1, false, 5, "");
        vm.expectRevert(ModelRegistry.ModelRegistryZeroCommitment.selector);
        registry.register(keccak256("m"), bytes32(0), address(verifier), 3, 16, 1, false, 5, "");
    }

    function test_register_verifierWithoutCode_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.ModelRegistryBadVerifier.selector, user));
        registry.register(keccak256("m"), keccak256("vk"), user, 3, 16, 1, false, 5, "");
    }

    function test_register_badShape_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.ModelRegistryBadShape.selector, 0, 16, 1));
        registry.register(keccak256("m"), keccak256("vk"), address(verifier), 0, 16, 1, false, 5, "");
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.ModelRegistryBadShape.selector, 70_000, 16, 1));
        registry.register(keccak256("m"), keccak256("vk"), address(verifier), 70_000, 16, 1, false, 5, "");
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.ModelRegistryBadShape.selector, 3, 0, 1));
        registry.register(keccak256("m"), keccak256("vk"), address(verifier), 3, 0, 1, false, 5, "");
    }

    function test_setFee_setUri_succeeds() public {
        vm.startPrank(modelOwner);
        registry.setFee(publicModel, 77);
        registry.setUri(publicModel, "https://weights");
        vm.stopPrank();
        assertEq(registry.model(publicModel).fee, 77);
        assertEq(keccak256(bytes(registry.model(publicModel).uri)), keccak256("https://weights"));
        assertEq(registry.model(publicModel).commitment, keccak256("m1"), "the commitment never changes");
    }

    function test_setFee_notOwner_reverts() public {
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.ModelRegistryNotOwner.selector, publicModel, user));
        registry.setFee(publicModel, 1);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.ModelRegistryNotOwner.selector, publicModel, user));
        registry.setUri(publicModel, "x");
    }

    function test_setFee_unknownModel_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.ModelRegistryUnknownModel.selector, 9));
        registry.setFee(9, 1);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.ModelRegistryUnknownModel.selector, 9));
        registry.model(9);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.ModelRegistryUnknownModel.selector, 9));
        registry.verifierOf(9);
    }

    function test_retire_openRequestsFinish_succeeds() public {
        uint256 id = _request(publicModel, address(0), 0);
        vm.prank(modelOwner);
        registry.retire(publicModel);
        assertTrue(registry.model(publicModel).retired);
        vm.prank(operator);
        oracle.propose(id, _output(1, 2), keccak256("r"));
        vm.warp(block.timestamp + WINDOW);
        oracle.settle(id, _output(1, 2));
        assertTrue(oracle.isFinalized(id));
    }

    function test_retire_twice_reverts() public {
        vm.startPrank(modelOwner);
        registry.retire(publicModel);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.ModelRegistryRetired.selector, publicModel));
        registry.retire(publicModel);
        vm.stopPrank();
    }
}
