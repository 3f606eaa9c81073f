// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Operand} from "../OneStepIO.sol";

/// @title IOneStep: what the dispute game needs from the one-step verifier (docs/dispute.md, "The one-step").
/// @notice Implemented by the OneStep router (contracts/src/OneStep.sol), by every op family (OpFamily) and, for
/// the game's own tests, by contracts/src/test/MockOneStep.sol. Operand is OneStepIO.sol's.
interface IOneStep {
    /// Flat output element j of the instruction instrBytes (abi.encode(opcode, operands, params)) run at
    /// token `position` on operands whose tensor roots are operandRoots; reverts on an invalid witness.
    function element(
        bytes calldata instrBytes,
        uint256 position,
        bytes32[] calldata operandRoots,
        Operand[] calldata operands,
        uint256 j
    ) external view returns (int256);

    /// The output shape of instrBytes at `position` given its operands' shapes (engine Op.shape).
    function outShape(bytes calldata instrBytes, uint256 position, uint256[][] calldata operandShapes)
        external
        view
        returns (uint256[] memory);

    /// The root of the instruction's carried state before the first token, for a model of this context
    /// (engine Op.empty_state committed: an all-zero i32 tensor); 0 for an op without carried state.
    function emptyStateRoot(bytes calldata instrBytes, uint256 context) external view returns (bytes32);
}

/// @title IOpFamily: one op family's verifier (OpFamily), as the OneStep router sees it.
interface IOpFamily is IOneStep {
    /// The number of operands of an op of this family (its Python element() unpacks exactly these); 0 for an
    /// opcode the family does not implement.
    function arity(uint256 opcode) external view returns (uint256);
}
