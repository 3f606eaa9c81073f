// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IOneStep, IOpFamily} from "./interfaces/IOneStep.sol";
import {Operand} from "./OneStepIO.sol";

/// @title OneStep: the one-step verifier the dispute game calls, routing each call to its op family's contract.
/// @notice The table opcode -> family contract is fixed at deployment (the constructor; prover/chain/deploy.py
/// builds it from the op table in engine/ops): a registered model's template names opcodes, so what judges its
/// steps can never change under it. Each family (an OpFamily) checks the witness and recomputes the element; this
/// contract forwards the call data unchanged and returns (or reverts with) the family's answer verbatim.
contract OneStep is IOneStep {
    mapping(uint256 => address) internal familyOf;
    uint256[] internal opcodeList;

    error UnknownOpcode(uint256 opcode);
    error BadFamily(uint256 opcode, address family);
    error BadTable();

    event FamilySet(uint256 indexed opcode, address family);

    /// Route each opcode to its family: families[i] must be a contract whose arity(ops[i]) is not 0; each
    /// opcode once.
    constructor(uint256[] memory ops, address[] memory families) {
        if (ops.length != families.length || ops.length == 0) revert BadTable();
        for (uint256 i = 0; i < ops.length; ++i) {
            uint256 op = ops[i];
            address f = families[i];
            if (familyOf[op] != address(0) || f.code.length == 0 || IOpFamily(f).arity(op) == 0) {
                revert BadFamily(op, f);
            }
            familyOf[op] = f;
            opcodeList.push(op);
            emit FamilySet(op, f);
        }
    }

    /// The family contract of an opcode (address(0) if none).
    function family(uint256 opcode) external view returns (address) {
        return familyOf[opcode];
    }

    /// Every routed opcode, in table order.
    function opcodes() external view returns (uint256[] memory) {
        return opcodeList;
    }

    /// The op's operand count (its family's arity); 0 for an opcode this verifier does not know.
    function arity(uint256 opcode) external view returns (uint256) {
        address f = familyOf[opcode];
        return f == address(0) ? 0 : IOpFamily(f).arity(opcode);
    }

    /// @inheritdoc IOneStep
    function element(bytes calldata instrBytes, uint256, bytes32[] calldata, Operand[] calldata, uint256)
        external
        view
        returns (int256)
    {
        _forward(_route(instrBytes));
    }

    /// @inheritdoc IOneStep
    function outShape(bytes calldata instrBytes, uint256, uint256[][] calldata)
        external
        view
        returns (uint256[] memory)
    {
        _forward(_route(instrBytes));
    }

    /// @inheritdoc IOneStep
    function emptyStateRoot(bytes calldata instrBytes, uint256) external view returns (bytes32) {
        address f = familyOf[_opcode(instrBytes)];
        if (f == address(0)) return bytes32(0);
        _forward(f);
    }

    /// The first word of instrBytes (abi.encode(uint256 opcode, ...)); an unknown opcode for shorter bytes.
    function _opcode(bytes calldata instrBytes) internal pure returns (uint256 op) {
        if (instrBytes.length < 32) revert UnknownOpcode(0);
        op = uint256(bytes32(instrBytes[:32]));
    }

    /// The family of the instruction's opcode; UnknownOpcode if there is none.
    function _route(bytes calldata instrBytes) internal view returns (address f) {
        uint256 op = _opcode(instrBytes);
        f = familyOf[op];
        if (f == address(0)) revert UnknownOpcode(op);
    }

    /// staticcall f with this call's data; return its return data, or revert with its revert data.
    function _forward(address f) internal view {
        assembly ("memory-safe") {
            let p := mload(0x40)
            calldatacopy(p, 0, calldatasize())
            let ok := staticcall(gas(), f, p, calldatasize(), 0, 0)
            returndatacopy(p, 0, returndatasize())
            if iszero(ok) { revert(p, returndatasize()) }
            return(p, returndatasize())
        }
    }
}
