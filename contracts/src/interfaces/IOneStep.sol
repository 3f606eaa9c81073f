// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title IOneStep: what the dispute game needs from the one-step verifier (docs/dispute.md, "The one-step").
/// @notice Implemented by contracts/src/OneStep.sol and, for the game's own tests, by
/// contracts/src/test/MockOneStep.sol. The Operand tuple is OneStep.sol's (same ABI).
interface IOneStep {
    /// One operand of the disputed step: its tensor header (dtype, shape, merkleRoot) with
    /// tensorRoot(header) == the step's operand root, and the leaves element j reads (indices strictly
    /// increasing, 256 bytes each, concatenated) with one multiproof for all of them.
    struct Operand {
        uint8 dtype;
        uint256[] shape;
        bytes32 merkleRoot;
        uint256[] indices;
        bytes leaves;
        bytes32[] proof;
    }

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
